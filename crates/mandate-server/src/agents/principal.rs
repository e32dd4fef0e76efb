//! The agent behind an agent route: its access token (`Authorization: Bearer`, `X-API-Key` or
//! `X-Goog-Api-Key`, as the contract allows) is looked up by hash with its agent and key, from
//! the per-replica [`token_cache`](super::token_cache) or the database. Disabling the agent or
//! revoking the key ends the token at once on the replica that did it and as soon as the change
//! bus delivers elsewhere (a minute at most). People's credentials are refused here, as agent
//! tokens are refused on management routes.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mandate_crypto::tokens::{self, TokenHash, TokenKind};
use mandate_store::agents::{self, AgentStatus, tokens as agent_tokens};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::principal::{self, TOUCH_EVERY};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentPrincipal {
    pub agent_id: Uuid,
    pub workspace_id: Uuid,
    /// The key whose assertion got the token.
    pub kid: String,
}

impl AgentPrincipal {
    pub fn actor(&self) -> Actor {
        Actor::Agent(self.agent_id)
    }
}

/// The layer in front of agent-only routes.
pub async fn require_agent(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match authenticate(&state, req.headers(), OffsetDateTime::now_utc()).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AgentPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AgentPrincipal>()
            .cloned()
            .ok_or_else(|| {
                ApiError::internal(&"a handler that needs an agent is not behind `require_agent`")
            })
    }
}

fn presented(headers: &HeaderMap) -> Option<&str> {
    principal::bearer(headers).or_else(|| principal::api_key(headers).map(str::trim))
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized("invalid or expired agent token")
        .with_hint("get a new one: POST /v1/agents/token with a fresh client assertion")
}

pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<AgentPrincipal, ApiError> {
    let Some(token) = presented(headers) else {
        return Err(
            ApiError::unauthorized("this route needs an agent access token")
                .with_hint("send `Authorization: Bearer <token>` from POST /v1/agents/token"),
        );
    };
    match tokens::inspect(token) {
        Ok(TokenKind::AgentAccess) => {}
        Ok(_) => {
            return Err(ApiError::forbidden("only agents can call this route")
                .with_hint("people and scripts use the management API"));
        }
        Err(_) if token.matches('.').count() == 2 => {
            return Err(ApiError::forbidden("only agents can call this route")
                .with_hint("people and scripts use the management API"));
        }
        Err(_) => {
            record_rejection(state, None, "malformed token").await;
            return Err(invalid_token());
        }
    }
    let hash = TokenHash::of(token).0;
    let (owner, read_at) = match state.agent_tokens.get(&hash) {
        Some(owner) => (Some(owner), None),
        None => {
            let read_at = state.agent_tokens.generation();
            let owner = agent_tokens::by_token_hash(&state.db, &hash).await?;
            (owner, Some(read_at))
        }
    };
    let Some(owner) = owner else {
        record_rejection(state, None, "unknown token").await;
        return Err(invalid_token());
    };
    let reason = if owner.expires_at <= now {
        Some("expired token")
    } else if owner.key_revoked {
        Some("key revoked")
    } else if owner.agent_status != AgentStatus::Active {
        Some("agent disabled")
    } else {
        None
    };
    if let Some(reason) = reason {
        record_rejection(state, Some((owner.agent_id, owner.workspace_id)), reason).await;
        return Err(invalid_token());
    }
    let mut owner = owner;
    if owner.last_seen_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        agents::touch(&state.db, owner.agent_id, now).await?;
        owner.last_seen_at = Some(now);
        state
            .agent_tokens
            .update(&hash, |o| o.last_seen_at = Some(now));
    }
    if let Some(read_at) = read_at {
        state.agent_tokens.put(hash, owner.clone(), read_at);
    }
    Ok(AgentPrincipal {
        agent_id: owner.agent_id,
        workspace_id: owner.workspace_id,
        kid: owner.kid,
    })
}

async fn record_rejection(state: &AppState, agent: Option<(Uuid, Uuid)>, reason: &'static str) {
    let mut event = AuditEvent::new(Actor::System("server"), actions::AGENT_TOKEN_REJECTED)
        .outcome(Outcome::Failure)
        .details(json!({ "reason": reason }));
    if let Some((agent_id, workspace_id)) = agent {
        event = event.workspace(workspace_id).agent(agent_id);
        crate::notifications::thresholds::agent_auth_failed(state, workspace_id, agent_id);
    }
    if let Err(e) = state.audit.record_buffered(event).await {
        tracing::error!(error = %e, "recording a rejected agent token failed");
    }
}
