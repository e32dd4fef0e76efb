//! The agent's execution routes: `POST /v1/vault/execute` (Model A or B, as the agent API
//! contract fixes it) and `POST /v1/vault/token` (Model A on its own route). Agent tokens only:
//! an agent is always the actor of an execution (people dry-run with
//! `POST /v1/policies/{policyId}/test`).

use axum::Extension;
use axum::extract::State;
use axum::response::Response;

use crate::agents::principal::AgentPrincipal;
use crate::auth::client_ip::ClientIp;
use crate::error::ApiError;
use crate::gateway::execute::{self, Caller};
use crate::gateway::request::ExecuteRequest;
use crate::http::json::ApiJson;
use crate::http::request_context::RequestId;
use crate::state::AppState;

pub async fn execute(
    State(app): State<AppState>,
    agent: AgentPrincipal,
    ClientIp(ip): ClientIp,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ApiJson(req): ApiJson<ExecuteRequest>,
) -> Result<Response, ApiError> {
    let caller = Caller {
        agent: &agent,
        ip,
        correlation: request_id,
    };
    execute::execute(&app, &caller, req).await
}

pub async fn token(
    State(app): State<AppState>,
    agent: AgentPrincipal,
    ClientIp(ip): ClientIp,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ApiJson(mut req): ApiJson<ExecuteRequest>,
) -> Result<Response, ApiError> {
    req.model = Some("A".into());
    let caller = Caller {
        agent: &agent,
        ip,
        correlation: request_id,
    };
    execute::execute(&app, &caller, req).await
}
