//! The HTTP API, one module (later one folder) per domain. Handlers stay thin: they parse,
//! call a service, and map the result.

mod health;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .merge(crate::signing::routes())
}
