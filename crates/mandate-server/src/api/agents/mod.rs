//! Agent routes. Two kinds, kept apart:
//!
//! - [`manage`]: people manage agents (`/v1/agents`, `/v1/agents/{agentId}`...), behind
//!   `auth::authorize` like every management route (agent tokens get 403 there).
//! - [`enroll`] and [`me`]: what agents call themselves, fixed by the agent API contract:
//!   enrollment, token exchange and key addition (no token; rate-limited per IP), and the
//!   agent's own view and key revocation (agent token, behind `agents::principal::require_agent`).

mod enroll;
pub(crate) mod manage;
mod me;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};

use crate::state::AppState;

/// The routes agents call; the authenticated ones need an agent access token.
pub fn agent_routes(state: &AppState) -> Router<AppState> {
    let authenticated = Router::new()
        .route("/v1/agents/me", get(me::show))
        .route("/v1/agents/keys/{kid}", delete(me::revoke_key))
        .route("/v1/vault/execute", post(super::vault::execute))
        .route("/v1/vault/token", post(super::vault::token))
        .merge(super::permission_requests::agent_routes())
        .route_layer(from_fn_with_state(
            state.clone(),
            crate::agents::principal::require_agent,
        ));
    Router::new()
        .route("/v1/agents/bootstrap", post(enroll::bootstrap))
        .route("/v1/agents/token", post(enroll::token))
        .route("/v1/agents/keys", post(enroll::add_key))
        .merge(authenticated)
}
