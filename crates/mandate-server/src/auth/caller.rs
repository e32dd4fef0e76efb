//! Routes that the agent API contract shares between people and agents (`GET /v1/connections`):
//! a request carrying an agent access token goes through the agent check, any other through
//! the management layer and its permission table. The handler sees a [`Caller`] and answers
//! each in its own way (agents see only what they are bound to).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use mandate_crypto::tokens::{self, TokenKind};

use super::principal::{self, Principal};
use crate::agents::principal::AgentPrincipal;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Debug)]
pub enum Caller {
    Person(Principal),
    Agent(AgentPrincipal),
}

impl Caller {
    pub fn workspace_id(&self) -> uuid::Uuid {
        match self {
            Caller::Person(p) => p.workspace_id,
            Caller::Agent(a) => a.workspace_id,
        }
    }

    /// The agent calling, None for a person (who sees the whole workspace).
    pub fn agent_id(&self) -> Option<uuid::Uuid> {
        match self {
            Caller::Person(_) => None,
            Caller::Agent(a) => Some(a.agent_id),
        }
    }
}

fn carries_agent_token(headers: &HeaderMap) -> bool {
    principal::bearer(headers)
        .into_iter()
        .chain(principal::api_key(headers).map(str::trim))
        .any(|t| matches!(tokens::inspect(t), Ok(TokenKind::AgentAccess)))
}

pub async fn person_or_agent(state: State<AppState>, req: Request, next: Next) -> Response {
    if carries_agent_token(req.headers()) {
        crate::agents::principal::require_agent(state, req, next).await
    } else {
        super::authorize::authorize(state, req, next).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(agent) = parts.extensions.get::<AgentPrincipal>() {
            return Ok(Caller::Agent(agent.clone()));
        }
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller::Person)
            .ok_or_else(|| {
                ApiError::internal(&"a shared route is not behind `auth::caller::person_or_agent`")
            })
    }
}
