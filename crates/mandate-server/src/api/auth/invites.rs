//! Accepting an invitation: signed in as the invited address (joins with the existing
//! account), or not signed in with a new password (creates the account and signs it in).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mandate_crypto::tokens::{self, TokenHash, TokenKind};
use mandate_store::StoreError;
use mandate_store::people::invites::{self, Acceptor};
use mandate_store::people::sessions::SessionState;
use mandate_store::people::users::{self, NewUser};
use mandate_store::workspaces;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use super::{with_cookie, workspace_json};
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::principal::current_session;
use crate::auth::sign_in::{Start, start_session};
use crate::auth::{ClientIp, csrf, limits, passwords};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptRequest {
    token: String,
    password: Option<String>,
    display_name: Option<String>,
}

fn gone() -> ApiError {
    ApiError::not_found("invitation not found, used, revoked or expired")
        .with_hint("ask for a new invitation")
}

pub async fn accept(
    State(app): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AcceptRequest>,
) -> Result<Response, ApiError> {
    csrf::check_credentials_post(&app.config, &headers)?;
    let now = OffsetDateTime::now_utc();
    limits::check(
        &app.db,
        limits::INVITE_ACCEPT_PER_IP,
        &ip.0.to_string(),
        now,
    )
    .await?;
    let token = req.token.trim();
    if tokens::inspect(token) != Ok(TokenKind::Invite) {
        return Err(gone());
    }
    let invite = invites::by_token_hash(&app.db, &TokenHash::of(token).0)
        .await?
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now)
        .ok_or_else(gone)?;
    let session = current_session(&app, &axum::http::Method::POST, &headers, now)
        .await?
        .filter(|s| s.session.state == SessionState::Active);
    let (acceptor, new_account) = match session {
        Some(current) => {
            let user = users::by_id(&app.db, current.session.user_id)
                .await?
                .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
            if user.email != invite.email {
                return Err(
                    ApiError::forbidden("this invitation is for another email address")
                        .with_hint("sign out, or sign in with the invited address"),
                );
            }
            (Acceptor::Existing(user.id), false)
        }
        None => {
            if users::by_email(&app.db, &invite.email).await?.is_some() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "an account with this email exists; sign in, then accept",
                ));
            }
            let password = req.password.as_deref().ok_or_else(|| {
                ApiError::bad_request("`password` is required to create the account")
            })?;
            passwords::check_new(password, &invite.email)?;
            let hash = app.passwords.hash(password).await?;
            let new = NewUser::new(&invite.email, req.display_name.as_deref(), hash)?;
            (Acceptor::New(new), true)
        }
    };
    let user_id = invites::accept(&app.db, &invite, acceptor, now).await?;
    let workspace = workspaces::get(&app.db, invite.workspace_id)
        .await?
        .ok_or(StoreError::NotFound("workspace"))?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(Actor::User(user_id), actions::INVITE_ACCEPTED)
                .workspace(invite.workspace_id)
                .target("invite", invite.id.to_string())
                .source_ip(ip.0)
                .outcome(Outcome::Success)
                .details(json!({ "role": invite.role.as_str(), "newAccount": new_account })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let cookie = if new_account {
        let started = start_session(
            &app,
            Start {
                user_id,
                workspace_id: Some(invite.workspace_id),
                state: SessionState::Active,
                mfa_at: None,
                ip,
                headers: &headers,
                now,
            },
        )
        .await?;
        Some(started.cookie)
    } else {
        None
    };
    Ok(with_cookie(
        StatusCode::OK,
        cookie,
        json!({
            "workspace": workspace_json(&workspace),
            "role": invite.role.as_str(),
            "userId": user_id,
            "auditId": audit_id,
        }),
    ))
}
