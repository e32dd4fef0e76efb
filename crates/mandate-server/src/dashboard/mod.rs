//! The dashboard: a static page and one script that work against the JSON API with the session
//! cookie (so every rule of the API holds for it too), embedded in the binary.
//!
//! - `/`, `/approvals`: pending approvals and permission requests, updated live from
//!   `GET /v1/events`;
//! - `/approvals/{id}/review`: the confirmation page notifications link to. Opening it changes
//!   nothing (link previews are harmless); deciding needs a signed-in person with the `approve`
//!   permission and a click, which sends the API's own POST (CSRF-checked by origin).
//!
//! The strict content security policy of every response applies: no inline script or style.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/approvals", get(page))
        .route("/approvals/{approvalId}/review", get(page))
        .route("/ui/app.js", get(script))
        .route("/ui/app.css", get(style))
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        INDEX,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
}
