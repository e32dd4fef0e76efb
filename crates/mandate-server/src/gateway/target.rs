//! Which connection an execute request is for (`connectionId`, or `service` among the agent's
//! bound connections), and the policy that binds the agent to it. Unknown connection 404, no
//! policy 403, revoked or needing re-authorization 409, as the contract lists them.

use std::sync::Arc;

use axum::http::StatusCode;
use mandate_store::connections::{Connection, ConnectionState, accounts};
use mandate_store::policies;

use super::request::ExecuteRequest;
use crate::agents::principal::AgentPrincipal;
use crate::error::ApiError;
use crate::policies::cache::Loaded;
use crate::state::AppState;

pub struct Target {
    pub connection: Connection,
    pub policy: Arc<Loaded>,
}

pub async fn resolve(
    app: &AppState,
    agent: &AgentPrincipal,
    req: &ExecuteRequest,
) -> Result<Target, ApiError> {
    let connection = match (&req.connection_id, &req.service) {
        (Some(id), _) => crate::connections::cache::get(app, agent.workspace_id, id)
            .await?
            .ok_or_else(|| {
                ApiError::not_found("connection not found")
                    .with_hint("GET /v1/connections lists the connections you may use")
            })?,
        (None, Some(service)) => by_service(app, agent, service).await?,
        (None, None) => {
            return Err(
                ApiError::bad_request("`connectionId` or `service` is required")
                    .with_hint("GET /v1/connections lists the connections you may use"),
            );
        }
    };
    let policy = crate::policies::load(app, agent.agent_id, &connection.id)
        .await?
        .ok_or_else(|| {
            ApiError::forbidden("no policy lets this agent use the connection").with_hint(
                "ask a person for access: POST /v1/agent-permission-requests with the action you need",
            )
        })?;
    match connection.state {
        ConnectionState::Revoked => Err(ApiError::new(
            StatusCode::CONFLICT,
            "the connection was revoked",
        )
        .with_hint("a person must connect the account again")),
        ConnectionState::NeedsReauth => Err(ApiError::new(
            StatusCode::CONFLICT,
            "the connection needs to be re-authorized",
        )
        .with_hint("a person must connect the account again; retry afterwards")),
        ConnectionState::Active | ConnectionState::Error => Ok(Target { connection, policy }),
    }
}

/// The one bound connection whose service (or provider) is `service`.
async fn by_service(
    app: &AppState,
    agent: &AgentPrincipal,
    service: &str,
) -> Result<Connection, ApiError> {
    let mut found = Vec::new();
    for p in policies::list(&app.db, agent.workspace_id, Some(agent.agent_id), None).await? {
        if let Some(c) = accounts::get(&app.db, agent.workspace_id, &p.connection_id).await?
            && (c.service.as_deref() == Some(service) || c.provider == service)
        {
            found.push(c);
        }
    }
    match found.len() {
        0 => Err(ApiError::not_found(format!(
            "no connection for service `{service}` is bound to this agent"
        ))
        .with_hint("GET /v1/connections lists the connections you may use")),
        1 => Ok(found.remove(0)),
        n => Err(ApiError::bad_request(format!(
            "{n} connections for service `{service}` are bound to this agent"
        ))
        .with_hint("name one with `connectionId` (GET /v1/connections lists them)")),
    }
}
