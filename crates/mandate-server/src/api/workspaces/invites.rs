//! Invitations: a single-use link with an expiry (`INVITE_TTL_HOURS`), for one address and one
//! role no higher than the inviter's. The link's secret is shown once, at creation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mandate_crypto::tokens::{self, TokenKind};
use mandate_store::people::Role;
use mandate_store::people::invites::{self, Invite, NewInvite};
use serde::Deserialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::api::auth::time_json;
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

fn invite_json(i: &Invite) -> Value {
    json!({
        "id": i.id,
        "email": i.email,
        "role": i.role.as_str(),
        "createdBy": i.created_by,
        "createdAt": time_json(i.created_at),
        "expiresAt": time_json(i.expires_at),
    })
}

pub async fn list(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let pending =
        invites::pending(&app.db, principal.workspace_id, OffsetDateTime::now_utc()).await?;
    Ok(Json(json!({
        "invites": pending.iter().map(invite_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    email: String,
    role: String,
}

pub async fn create(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateInvite>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let role = Role::parse(&req.role)?;
    if role > principal.role {
        return Err(ApiError::forbidden(format!(
            "you cannot invite with a role above your own ({})",
            principal.role
        )));
    }
    let now = OffsetDateTime::now_utc();
    let ttl = Duration::try_from(app.config.auth.invite_ttl).unwrap_or(Duration::hours(72));
    let token = tokens::issue(TokenKind::Invite).map_err(|e| ApiError::internal(&e))?;
    let invite = invites::create(
        &app.db,
        NewInvite {
            workspace_id: principal.workspace_id,
            email: &req.email,
            role,
            token_hash: &token.hash.0,
            created_by: principal.user_id,
            now,
            expires_at: now + ttl,
        },
    )
    .await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::INVITE_CREATED)
                .workspace(principal.workspace_id)
                .target("invite", invite.id.to_string())
                .outcome(Outcome::Success)
                .details(json!({ "email": invite.email, "role": role.as_str() })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let accept_url = app.config.public_url.as_ref().map(|u| {
        format!(
            "{}/invite#token={}",
            u.as_str().trim_end_matches('/'),
            token.secret.as_str()
        )
    });
    let mut body = invite_json(&invite);
    body["token"] = json!(token.secret.as_str());
    body["acceptUrl"] = json!(accept_url);
    body["auditId"] = json!(audit_id);
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn revoke(
    State(app): State<AppState>,
    principal: Principal,
    Path(invite_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&invite_id).map_err(|_| ApiError::not_found("invite not found"))?;
    invites::revoke(
        &app.db,
        principal.workspace_id,
        id,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::INVITE_REVOKED)
                .workspace(principal.workspace_id)
                .target("invite", id.to_string())
                .outcome(Outcome::Success),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({ "id": id, "auditId": audit_id })))
}
