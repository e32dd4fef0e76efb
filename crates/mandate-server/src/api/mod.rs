//! The HTTP API, one folder per domain. Handlers stay thin: they parse, call a service, and map
//! the result.
//!
//! - `/health`, `/.well-known/jwks.json`: public; `/`, `/approvals...`, `/ui/*`: the dashboard's
//!   page and assets (`crate::dashboard`), which work through this API.
//! - `/api/...` ([`auth`]): sign-in, sessions and accounts, cookie-based.
//! - `/v1/agents/bootstrap|token|keys|me`, `/v1/vault/execute|token`, `GET /v1/capabilities/me`,
//!   `POST /v1/agent-permission-requests`: the agent routes ([`agents`], [`vault`],
//!   [`permission_requests`]), for agents only.
//! - `GET /v1/connections`, `GET /v1/approvals[/{id}]`, `GET /v1/capabilities/services`,
//!   `GET /v1/agent-permission-requests[/{id}]`: people and agents alike
//!   ([`crate::auth::caller`]).
//! - `GET /v1/events` ([`events`]): the workspace's server-sent events, for people.
//! - `/v1/...`: the management API; every route sits behind [`crate::auth::authorize`], which
//!   applies the permission table in `auth/permissions.rs`.

mod agents;
mod approvals;
mod audit;
pub(crate) mod auth;
mod connections;
mod events;
mod health;
mod keys;
mod notifications;
mod permission_requests;
mod policies;
mod system;
mod tokens;
mod vault;
mod workspaces;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;

use crate::state::AppState;

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .merge(crate::dashboard::routes())
        .merge(crate::signing::routes())
        .merge(auth::routes())
        .merge(agents::agent_routes(state))
        .merge(management().route_layer(from_fn_with_state(
            state.clone(),
            crate::auth::authorize::authorize,
        )))
        .merge(
            connections::shared_routes()
                .merge(approvals::shared_routes())
                .merge(permission_requests::shared_routes())
                .route_layer(from_fn_with_state(
                    state.clone(),
                    crate::auth::caller::person_or_agent,
                )),
        )
}

/// Every `/v1` management route. Each one needs a row in `auth::permissions::ROUTES`.
fn management() -> Router<AppState> {
    Router::new()
        .merge(workspaces::routes())
        .merge(agents::manage::routes())
        .merge(connections::routes())
        .merge(tokens::routes())
        .merge(audit::routes())
        .merge(keys::routes())
        .merge(policies::routes())
        .merge(approvals::routes())
        .merge(events::routes())
        .merge(notifications::routes())
        .merge(permission_requests::routes())
        .merge(system::routes())
}
