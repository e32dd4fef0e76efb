//! Starting a browser session once a password (and, when the person has one, a second factor)
//! checked out. A new session token each time: a session is never upgraded in place from
//! "password given" to "signed in", so a token seen before the second factor is worth nothing
//! after it.

use axum::http::{HeaderMap, HeaderValue, header};
use mandate_crypto::tokens::{self, TokenKind};
use mandate_store::people::memberships;
use mandate_store::people::sessions::{self, NewSession, Session, SessionState};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::client_ip::ClientIp;
use super::cookies;
use crate::error::ApiError;
use crate::state::AppState;

pub struct Started {
    pub session: Session,
    /// The `Set-Cookie` header value.
    pub cookie: HeaderValue,
}

pub struct Start<'a> {
    pub user_id: Uuid,
    /// None: the person's first workspace.
    pub workspace_id: Option<Uuid>,
    pub state: SessionState,
    pub mfa_at: Option<OffsetDateTime>,
    pub ip: ClientIp,
    pub headers: &'a HeaderMap,
    pub now: OffsetDateTime,
}

pub async fn start_session(app: &AppState, start: Start<'_>) -> Result<Started, ApiError> {
    let workspace_id = match start.workspace_id {
        Some(id) => Some(id),
        None => memberships::workspaces_of(&app.db, start.user_id)
            .await?
            .first()
            .map(|(w, _)| w.id),
    };
    let token = tokens::issue(TokenKind::Session).map_err(|e| ApiError::internal(&e))?;
    let max_age =
        Duration::try_from(app.config.auth.session_max_age).unwrap_or(Duration::hours(12));
    // A session waiting for its second factor lives only a few minutes.
    let lifetime = match start.state {
        SessionState::MfaPending => Duration::minutes(10),
        SessionState::Active => max_age,
    };
    let user_agent = start
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    let session = sessions::create(
        &app.db,
        NewSession {
            token_hash: &token.hash.0,
            user_id: start.user_id,
            workspace_id,
            state: start.state,
            now: start.now,
            expires_at: start.now + lifetime,
            mfa_at: start.mfa_at,
            source_ip: Some(start.ip.0.to_string()),
            user_agent,
        },
    )
    .await?;
    let cookie = cookies::set(&app.config, &token.secret, lifetime.whole_seconds())
        .ok_or_else(|| ApiError::internal(&"session cookie is not a valid header"))?;
    Ok(Started { session, cookie })
}
