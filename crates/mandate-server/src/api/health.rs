//! `GET /health`: `{"status":"ok"}`, or `{"status":"degraded"}` with 503 when the database does
//! not answer. Nothing else: no version, no internals (it is unauthenticated).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// A load balancer's probe must get its answer well within its own timeout.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.db.ping(DB_PROBE_TIMEOUT).await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "degraded"})),
            )
        }
    }
}
