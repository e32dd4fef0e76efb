//! Who is calling: a person through their browser session, a short-lived JWT minted from that
//! session, or a personal access token. Every credential acts with the lower of its own role
//! and the person's current role in the workspace, read on every request, so a demotion or a
//! removal takes effect at once.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use mandate_crypto::jwt_verify::verify_jwt;
use mandate_crypto::tokens::{self, TokenHash, TokenKind};
use mandate_store::people::sessions::{self, Session, SessionState};
use mandate_store::people::{Role, memberships, pats};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{cookies, csrf, jwt};
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::error::ApiError;
use crate::state::AppState;

/// How recent a second factor must be for a step-up operation.
pub const STEP_UP_WINDOW: Duration = Duration::minutes(5);
/// Sessions, tokens and agents record their last use at most this often (it is shown, not
/// enforced more precisely than this).
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Session {
        session_id: Uuid,
        mfa_at: Option<OffsetDateTime>,
    },
    Jwt {
        session_id: Uuid,
        mfa_at: Option<OffsetDateTime>,
    },
    PersonalAccessToken {
        token_id: Uuid,
        read_only: bool,
    },
}

impl Credential {
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Session { .. } => "session",
            Credential::Jwt { .. } => "jwt",
            Credential::PersonalAccessToken { .. } => "personal_access_token",
        }
    }
}

/// An authenticated person acting in one workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub role: Role,
    pub credential: Credential,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor::User(self.user_id)
    }

    /// The browser session behind the credential (none for a personal access token).
    pub fn session_id(&self) -> Option<Uuid> {
        match self.credential {
            Credential::Session { session_id, .. } | Credential::Jwt { session_id, .. } => {
                Some(session_id)
            }
            Credential::PersonalAccessToken { .. } => None,
        }
    }

    /// True when a second factor was given within [`STEP_UP_WINDOW`].
    pub fn has_fresh_second_factor(&self, now: OffsetDateTime) -> bool {
        match self.credential {
            Credential::Session { mfa_at, .. } | Credential::Jwt { mfa_at, .. } => {
                mfa_at.is_some_and(|at| now - at <= STEP_UP_WINDOW)
            }
            Credential::PersonalAccessToken { .. } => false,
        }
    }
}

/// Handlers behind the authorization layer take the principal it found.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::internal(&"a handler that needs a principal is not behind `authorize`")
        })
    }
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized("invalid or expired token")
        .with_hint("sign in again or create a new token")
}

fn not_signed_in() -> ApiError {
    ApiError::unauthorized("sign in first").with_hint("POST /api/auth/login")
}

pub fn mfa_pending() -> ApiError {
    ApiError::unauthorized("finish signing in with your second factor")
        .with_hint("POST /api/auth/mfa with a code from your authenticator or a backup code")
}

/// Authenticate a `/v1` request: `Authorization: Bearer` (a personal access token or a JWT),
/// otherwise the session cookie.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<Principal, ApiError> {
    if let Some(token) = presented_token(headers)? {
        return match authenticate_token(state, token, now).await {
            Ok(principal) => Ok(principal),
            Err(Rejected::Forbidden(e)) => Err(e),
            Err(Rejected::Invalid(reason)) => {
                record_rejection(state, reason).await;
                Err(invalid_token())
            }
        };
    }
    let session = current_session(state, method, headers, now)
        .await?
        .ok_or_else(not_signed_in)?;
    if session.session.state != SessionState::Active {
        return Err(mfa_pending());
    }
    let workspace_id = session.session.workspace_id.ok_or_else(no_workspace)?;
    let role = memberships::role_of(&state.db, workspace_id, session.session.user_id)
        .await?
        .ok_or_else(no_workspace)?;
    Ok(Principal {
        user_id: session.session.user_id,
        workspace_id,
        role,
        credential: Credential::Session {
            session_id: session.session.id,
            mfa_at: session.session.mfa_at,
        },
    })
}

fn no_workspace() -> ApiError {
    ApiError::forbidden("you are not a member of this workspace")
        .with_hint("choose a workspace with PUT /api/auth/session/workspace")
}

/// The token of `Authorization: Bearer <token>`, trimmed.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The value of `X-API-Key` or `X-Goog-Api-Key` (where LLM SDKs put their key), as sent.
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    ["x-api-key", "x-goog-api-key"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
}

/// The bearer token, if the request has one. Agent tokens are refused outright: agents use
/// their own routes.
fn presented_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let bearer = bearer(headers);
    let api_key = api_key(headers);
    for token in bearer.iter().chain(api_key.iter()) {
        if matches!(
            tokens::inspect(token),
            Ok(TokenKind::AgentAccess | TokenKind::BootstrapSecret)
        ) {
            return Err(ApiError::forbidden(
                "agent tokens cannot call management routes",
            ));
        }
    }
    if headers.contains_key(header::AUTHORIZATION) && bearer.is_none() {
        return Err(ApiError::unauthorized(
            "unsupported Authorization scheme; send `Bearer <token>`",
        ));
    }
    Ok(bearer)
}

enum Rejected {
    /// Logged in the audit log with this reason; answered with one generic 401.
    Invalid(&'static str),
    Forbidden(ApiError),
}

impl From<ApiError> for Rejected {
    fn from(e: ApiError) -> Rejected {
        Rejected::Forbidden(e)
    }
}

impl From<mandate_store::StoreError> for Rejected {
    fn from(e: mandate_store::StoreError) -> Rejected {
        Rejected::Forbidden(e.into())
    }
}

async fn authenticate_token(
    state: &AppState,
    token: &str,
    now: OffsetDateTime,
) -> Result<Principal, Rejected> {
    if token.starts_with(TokenKind::PersonalAccess.prefix()) {
        return authenticate_pat(state, token, now).await;
    }
    if token.matches('.').count() == 2 {
        return authenticate_jwt(state, token, now).await;
    }
    Err(Rejected::Invalid("unknown token format"))
}

async fn authenticate_pat(
    state: &AppState,
    token: &str,
    now: OffsetDateTime,
) -> Result<Principal, Rejected> {
    if tokens::inspect(token) != Ok(TokenKind::PersonalAccess) {
        return Err(Rejected::Invalid("personal access token checksum"));
    }
    let pat = pats::by_token_hash(&state.db, &TokenHash::of(token).0)
        .await?
        .ok_or(Rejected::Invalid("unknown personal access token"))?;
    if pat.revoked_at.is_some() {
        return Err(Rejected::Invalid("revoked personal access token"));
    }
    if pat.expires_at <= now {
        return Err(Rejected::Invalid("expired personal access token"));
    }
    let current = memberships::role_of(&state.db, pat.workspace_id, pat.user_id)
        .await?
        .ok_or(Rejected::Invalid("token owner left the workspace"))?;
    if pat
        .last_used_at
        .is_none_or(|last| now - last >= TOUCH_EVERY)
    {
        pats::touch(&state.db, pat.id, now).await?;
    }
    Ok(Principal {
        user_id: pat.user_id,
        workspace_id: pat.workspace_id,
        role: pat.role.min(current),
        credential: Credential::PersonalAccessToken {
            token_id: pat.id,
            read_only: pat.read_only,
        },
    })
}

async fn authenticate_jwt(
    state: &AppState,
    token: &str,
    now: OffsetDateTime,
) -> Result<Principal, Rejected> {
    let verified = verify_jwt(token, &state.signing.jwks())
        .map_err(|_| Rejected::Invalid("JWT signature or format"))?;
    let claims = jwt::UserClaims::check(&verified.claims, &jwt::issuer(&state.config), now)
        .map_err(Rejected::Invalid)?;
    let session = sessions::by_id(&state.db, claims.session_id)
        .await?
        .ok_or(Rejected::Invalid("JWT session ended"))?;
    if session.user_id != claims.user_id
        || session.state != SessionState::Active
        || !is_alive(state, &session, now)
    {
        return Err(Rejected::Invalid("JWT session ended"));
    }
    let current = memberships::role_of(&state.db, claims.workspace_id, claims.user_id)
        .await?
        .ok_or(Rejected::Invalid("JWT subject left the workspace"))?;
    Ok(Principal {
        user_id: claims.user_id,
        workspace_id: claims.workspace_id,
        role: claims.role.min(current),
        credential: Credential::Jwt {
            session_id: session.id,
            mfa_at: session.mfa_at,
        },
    })
}

async fn record_rejection(state: &AppState, reason: &'static str) {
    let event = AuditEvent::new(Actor::System("server"), actions::AUTH_TOKEN_REJECTED)
        .outcome(Outcome::Failure)
        .details(serde_json::json!({ "reason": reason }));
    if let Err(e) = state.audit.record_buffered(event).await {
        tracing::error!(error = %e, "recording a rejected token failed");
    }
}

/// A session the request's cookie names, still within its timeouts.
#[derive(Clone, Debug)]
pub struct CurrentSession {
    pub session: Session,
}

/// Idle and absolute timeouts.
pub fn is_alive(state: &AppState, session: &Session, now: OffsetDateTime) -> bool {
    let idle =
        Duration::try_from(state.config.auth.session_idle_timeout).unwrap_or(Duration::minutes(30));
    session.expires_at > now && now - session.last_seen_at < idle
}

/// The cookie's session (any state), checked for CSRF on unsafe methods and touched.
pub async fn current_session(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<Option<CurrentSession>, ApiError> {
    let Some(token) = cookies::read(&state.config, headers) else {
        return Ok(None);
    };
    if tokens::inspect(token) != Ok(TokenKind::Session) {
        return Ok(None);
    }
    let Some(session) = sessions::by_token_hash(&state.db, &TokenHash::of(token).0).await? else {
        return Ok(None);
    };
    if !is_alive(state, &session, now) {
        sessions::delete(&state.db, session.id).await?;
        return Ok(None);
    }
    csrf::check_cookie_request(&state.config, method, headers)?;
    if now - session.last_seen_at >= TOUCH_EVERY {
        sessions::touch(&state.db, session.id, now).await?;
    }
    Ok(Some(CurrentSession { session }))
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        current_session(
            state,
            &parts.method,
            &parts.headers,
            OffsetDateTime::now_utc(),
        )
        .await?
        .ok_or_else(not_signed_in)
    }
}

/// A session that passed both factors (or the password, for an account without a second
/// factor).
#[derive(Clone, Debug)]
pub struct ActiveSession {
    pub session: Session,
}

impl FromRequestParts<AppState> for ActiveSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentSession { session } = CurrentSession::from_request_parts(parts, state).await?;
        if session.state != SessionState::Active {
            return Err(mfa_pending());
        }
        Ok(ActiveSession { session })
    }
}
