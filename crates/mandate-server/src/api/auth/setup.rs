//! First-run setup: the first owner and workspace, once, with the setup token.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mandate_store::StoreError;
use mandate_store::people::sessions::SessionState;
use mandate_store::people::setup;
use mandate_store::people::users::NewUser;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use super::{user_json, with_cookie, workspace_json};
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::sign_in::{Start, start_session};
use crate::auth::{ClientIp, csrf, limits, passwords, setup_token};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

pub async fn status(
    State(app): State<AppState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let done = setup::is_done(&app.db).await?;
    Ok(axum::Json(json!({ "setupRequired": !done })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetupRequest {
    setup_token: String,
    email: String,
    password: String,
    display_name: Option<String>,
    workspace_name: String,
}

pub async fn complete(
    State(app): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SetupRequest>,
) -> Result<Response, ApiError> {
    csrf::check_credentials_post(&app.config, &headers)?;
    let now = OffsetDateTime::now_utc();
    limits::check(&app.db, limits::SETUP_PER_IP, &ip.0.to_string(), now).await?;
    if setup::is_done(&app.db).await? {
        return Err(StoreError::Conflict("setup is already done").into());
    }
    if !setup_token::is_valid(&app.config, &app.db, req.setup_token.trim(), now).await? {
        let event = AuditEvent::new(Actor::System("server"), actions::SETUP_REFUSED)
            .source_ip(ip.0)
            .outcome(Outcome::Failure)
            .details(json!({ "reason": "wrong or expired setup token" }));
        let _ = app.audit.record_buffered(event).await;
        return Err(ApiError::unauthorized("invalid or expired setup token")
            .with_hint("use SETUP_TOKEN or the token the server printed at start"));
    }
    let email = mandate_store::people::users::normalize_email(&req.email)?;
    passwords::check_new(&req.password, &email)?;
    let hash = app.passwords.hash(&req.password).await?;
    let owner = NewUser::new(&email, req.display_name.as_deref(), hash)?;
    let (user, workspace) = setup::complete(&app.db, owner, &req.workspace_name, now).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(Actor::User(user.id), actions::SETUP_COMPLETED)
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
