//! The session itself: what it is, ending it (here or everywhere), switching its workspace, and
//! minting short-lived JWTs from it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use mandate_store::StoreError;
use mandate_store::people::sessions::{self, SessionState};
use mandate_store::people::{memberships, mfa, passkeys, users};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{time_json, user_json, with_cookie};
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::jwt::{self, UserClaims};
use crate::auth::principal::STEP_UP_WINDOW;
use crate::auth::{ActiveSession, ClientIp, CurrentSession, cookies, second_factor};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

pub async fn show(
    State(app): State<AppState>,
    CurrentSession { session }: CurrentSession,
) -> Result<Json<Value>, ApiError> {
    let user = users::by_id(&app.db, session.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    let state = match session.state {
        SessionState::Active => "active",
        SessionState::MfaPending => "mfa_pending",
    };
    if session.state == SessionState::MfaPending {
        // Before the second factor, nothing about the account beyond its own address.
        let methods = second_factor::enrolled(&app.db, user.id).await?.names();
        return Ok(Json(json!({
            "state": state,
            "user": { "email": user.email },
            "mfaMethods": methods,
            "expiresAt": time_json(session.expires_at),
        })));
    }
    let workspaces: Vec<Value> = memberships::workspaces_of(&app.db, user.id)
        .await?
        .into_iter()
        .map(|(w, role)| json!({ "id": w.id, "name": w.name, "role": role.as_str() }))
        .collect();
    let current = session
        .workspace_id
        .and_then(|id| workspaces.iter().find(|w| w["id"] == json!(id)).cloned());
    let enrolled = second_factor::enrolled(&app.db, user.id).await?;
    let step_up_until = session
        .mfa_at
        .map(|at| at + STEP_UP_WINDOW)
        .filter(|until| *until > OffsetDateTime::now_utc());
    Ok(Json(json!({
        "state": state,
        "user": user_json(&user),
        "workspace": current,
        "workspaces": workspaces,
        "mfa": {
            "totp": enrolled.totp,
            "passkeys": passkeys::count(&app.db, user.id).await?,
            "backupCodesLeft": mfa::backup_codes_left(&app.db, user.id).await?,
        },
        "stepUpUntil": step_up_until.map(time_json),
        "createdAt": time_json(session.created_at),
        "expiresAt": time_json(session.expires_at),
        "idleTimeoutSeconds": app.config.auth.session_idle_timeout.as_secs(),
    })))
}

pub async fn logout(
    State(app): State<AppState>,
    ip: ClientIp,
    CurrentSession { session }: CurrentSession,
) -> Result<Response, ApiError> {
    sessions::delete(&app.db, session.id).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(Actor::User(session.user_id), actions::LOGGED_OUT)
                .target("session", session.id.to_string())
                .source_ip(ip.0)
                .outcome(Outcome::Success),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(with_cookie(
        StatusCode::OK,
        cookies::clear(&app.config),
        json!({ "auditId": audit_id }),
    ))
}

pub async fn logout_everywhere(
    State(app): State<AppState>,
    ip: ClientIp,
    ActiveSession { session }: ActiveSession,
) -> Result<Response, ApiError> {
    let ended = sessions::delete_for_user(&app.db, session.user_id, None).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(Actor::User(session.user_id), actions::LOGGED_OUT_EVERYWHERE)
                .target("user", session.user_id.to_string())
                .source_ip(ip.0)
                .outcome(Outcome::Success)
                .details(json!({ "sessionsEnded": ended })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(with_cookie(
        StatusCode::OK,
        cookies::clear(&app.config),
        json!({ "sessionsEnded": ended, "auditId": audit_id }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchWorkspace {
    workspace_id: Uuid,
}

pub async fn switch_workspace(
    State(app): State<AppState>,
    ActiveSession { session }: ActiveSession,
    ApiJson(req): ApiJson<SwitchWorkspace>,
) -> Result<Json<Value>, ApiError> {
    let role = memberships::role_of(&app.db, req.workspace_id, session.user_id)
        .await?
        .ok_or(StoreError::NotFound("workspace"))?;
    sessions::set_workspace(&app.db, session.id, req.workspace_id).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(
                Actor::User(session.user_id),
                actions::SESSION_WORKSPACE_CHANGED,
            )
            .workspace(req.workspace_id)
            .target("session", session.id.to_string())
            .outcome(Outcome::Success),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({
        "workspaceId": req.workspace_id,
        "role": role.as_str(),
        "auditId": audit_id,
    })))
}

/// `POST /api/auth/token`: a JWT for scripts, valid 5 minutes, for the session's workspace.
pub async fn issue_jwt(
    State(app): State<AppState>,
    ActiveSession { session }: ActiveSession,
) -> Result<Response, ApiError> {
    let workspace_id = session
        .workspace_id
        .ok_or_else(|| ApiError::forbidden("you are not a member of any workspace"))?;
    let role = memberships::role_of(&app.db, workspace_id, session.user_id)
        .await?
        .ok_or_else(|| ApiError::forbidden("you are not a member of this workspace"))?;
    let claims = UserClaims {
        user_id: session.user_id,
        workspace_id,
        role,
        session_id: session.id,
    };
    let now = OffsetDateTime::now_utc();
    let key = app.signing.current();
    let token = key
        .sign_jwt(&claims.to_json(&jwt::issuer(&app.config), now))
        .map_err(|e| ApiError::internal(&e))?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(Actor::User(session.user_id), actions::JWT_ISSUED)
                .workspace(workspace_id)
                .target("session", session.id.to_string())
                .outcome(Outcome::Success)
                .details(json!({ "kid": key.kid(), "role": role.as_str() })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(with_cookie(
        StatusCode::OK,
        None,
        json!({
            "accessToken": token,
            "tokenType": "Bearer",
            "expiresIn": jwt::LIFETIME_SECONDS,
            "auditId": audit_id,
        }),
    ))
}
