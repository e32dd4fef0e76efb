//! People's sign-in and account routes under `/api` (cookie sessions; the `/v1` management API
//! is in the other `api` folders, behind `auth::authorize`):
//!
//! - [`setup`]: `GET|POST /api/setup`, the first owner; [`register`]: public sign-up;
//!   [`invites`]: accepting an invitation.
//! - [`login`]: password, then second factor (also step-up); [`session`]: the session itself,
//!   logout, logout everywhere, switching workspace, JWTs for scripts.
//! - [`account`]: password change, authenticator, backup codes; [`passkeys`]: passkeys and
//!   their challenges.

mod account;
mod invites;
mod login;
mod passkeys;
mod register;
mod session;
mod setup;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use mandate_store::people::users::User;
use mandate_store::workspaces::Workspace;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/setup", get(setup::status).post(setup::complete))
        .route("/api/auth/register", post(register::register))
        .route("/api/auth/login", post(login::login))
        .route("/api/auth/mfa", post(login::second_factor))
        .route("/api/auth/logout", post(session::logout))
        .route("/api/auth/logout-all", post(session::logout_everywhere))
        .route("/api/auth/session", get(session::show))
        .route(
            "/api/auth/session/workspace",
            put(session::switch_workspace),
        )
        .route("/api/auth/token", post(session::issue_jwt))
        .route("/api/auth/password", put(account::change_password))
        .route("/api/auth/totp/setup", post(account::begin_totp))
        .route("/api/auth/totp/confirm", post(account::confirm_totp))
        .route("/api/auth/totp", delete(account::remove_totp))
        .route(
            "/api/auth/backup-codes",
            post(account::regenerate_backup_codes),
        )
        .route("/api/auth/passkeys", get(passkeys::list))
        .route(
            "/api/auth/passkeys/register/start",
            post(passkeys::start_registration),
        )
        .route(
            "/api/auth/passkeys/register/finish",
            post(passkeys::finish_registration),
        )
        .route("/api/auth/passkeys/{id}", delete(passkeys::remove))
        .route("/api/auth/passkeys/challenge", post(passkeys::challenge))
        .route("/api/auth/invites/accept", post(invites::accept))
}

pub fn time_json(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map_or(Value::Null, Value::String)
}

pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "displayName": user.display_name,
        "createdAt": time_json(user.created_at),
    })
}

pub fn workspace_json(workspace: &Workspace) -> Value {
    json!({
        "id": workspace.id,
        "name": workspace.name,
        "createdAt": time_json(workspace.created_at),
    })
}

/// A JSON answer that also sets (or clears) the session cookie.
pub fn with_cookie(status: StatusCode, cookie: Option<HeaderValue>, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    // Answers that carry session state are never cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
