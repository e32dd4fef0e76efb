//! `GET /.well-known/jwks.json`: the public keys that verify Mandate's tokens.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    // Verifiers cache it; a rotation keeps the former key published far longer than this.
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(state.signing.jwks()),
    )
}
