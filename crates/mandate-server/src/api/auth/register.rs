//! Public sign-up (`ALLOW_PUBLIC_REGISTRATION=true`): an account that owns a new workspace of
//! its own. Off by default: people then join by invitation.
//!
//! An address that already has an account answers 409, which tells the caller the address is
//! registered; sign-up is limited to 10 per hour per IP so this cannot be used to test many
//! addresses. Sign-in never reveals it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mandate_store::people::sessions::SessionState;
use mandate_store::people::setup;
use mandate_store::people::users::{NewUser, normalize_email};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use super::{user_json, with_cookie, workspace_json};
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::sign_in::{Start, start_session};
use crate::auth::{ClientIp, csrf, limits, passwords};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    email: String,
    password: String,
    display_name: Option<String>,
    workspace_name: Option<String>,
}

pub async fn register(
    State(app): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    if !app.config.auth.allow_public_registration {
        return Err(ApiError::forbidden("public registration is off")
            .with_hint("ask an admin of your workspace for an invitation"));
    }
    csrf::check_credentials_post(&app.config, &headers)?;
    let now = OffsetDateTime::now_utc();
    limits::check(&app.db, limits::REGISTER_PER_IP, &ip.0.to_string(), now).await?;
    let email = normalize_email(&req.email)?;
    passwords::check_new(&req.password, &email)?;
    let hash = app.passwords.hash(&req.password).await?;
    let new = NewUser::new(&email, req.display_name.as_deref(), hash)?;
    let workspace_name = req
        .workspace_name
        .clone()
        .unwrap_or_else(|| format!("{}'s workspace", new.display_name));
    let (user, workspace) = setup::register(&app.db, new, &workspace_name, now).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(Actor::User(user.id), actions::ACCOUNT_REGISTERED)
                .workspace(workspace.id)
                .target("user", user.id.to_string())
                .source_ip(ip.0)
                .outcome(Outcome::Success),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let started = start_session(
        &app,
        Start {
            user_id: user.id,
            workspace_id: Some(workspace.id),
            state: SessionState::Active,
            mfa_at: None,
            ip,
            headers: &headers,
            now,
        },
    )
    .await?;
    Ok(with_cookie(
        StatusCode::CREATED,
        Some(started.cookie),
        json!({
            "user": user_json(&user),
            "workspace": workspace_json(&workspace),
            "role": "owner",
            "auditId": audit_id,
        }),
    ))
}
