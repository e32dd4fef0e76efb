//! Connection routes: the workspace's OAuth apps ([`oauth_apps`]), connections ([`accounts`]:
//! list, show, paste a secret, revoke) and the OAuth connect flow ([`oauth`]).

mod accounts;
mod oauth;
mod oauth_apps;

pub use accounts::connection_json;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The management routes (behind `auth::authorize`).
pub fn routes() -> Router<AppState> {
    oauth_apps::routes()
        .route("/v1/connections", post(accounts::create))
        .route(
            "/v1/connections/{connectionId}",
            get(accounts::show).delete(accounts::remove),
        )
        .route("/v1/connections/oauth/start", post(oauth::start))
        .route("/v1/connections/oauth/callback", get(oauth::callback))
        .route(
            "/v1/connections/{connectionId}/reconnect",
            post(oauth::reconnect),
        )
}

/// `GET /v1/connections`, open to people and to agents (behind `auth::caller::person_or_agent`).
pub fn shared_routes() -> Router<AppState> {
    Router::new().route("/v1/connections", get(accounts::list))
}
