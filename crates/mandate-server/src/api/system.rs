//! `GET /v1/system/health`: the details `/health` leaves out (database, key encryption key,
//! key ages, audit queue, versions). Instance-wide, so only admins of the workspace created at
//! setup see it: with public registration every sign-up is the admin of a workspace of its own.

use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use mandate_store::audit as audit_store;
use mandate_store::people::setup;
use mandate_store::signing_keys;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::api::auth::time_json;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/system/health", get(health))
}

async fn health(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    if setup::instance_workspace(&app.db).await? != Some(principal.workspace_id) {
        return Err(ApiError::forbidden(
            "system health is for admins of the instance's first workspace",
        ));
    }
    let now = OffsetDateTime::now_utc();
    let started = Instant::now();
    let database = match app.db.ping(Duration::from_secs(2)).await {
        Ok(()) => json!({
            "backend": app.db.backend().to_string(),
            "reachable": true,
            "latencyMs": started.elapsed().as_secs_f64() * 1000.0,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "system health: database ping failed");
            json!({ "backend": app.db.backend().to_string(), "reachable": false })
        }
    };
    let keys = app
        .vault
        .status(now)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let current = app.signing.current();
    let signing_created = signing_keys::published(&app.db, now)
        .await?
        .into_iter()
        .find(|row| row.kid == current.kid())
        .map(|row| row.created_at);
    let head = audit_store::head(&app.db).await?;
    let checkpoint = audit_store::latest_checkpoint(&app.db).await?;
    Ok(Json(json!({
        "status": if database["reachable"] == json!(true) { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "database": database,
        "keyEncryptionKey": {
            "provider": keys.provider,
            "currentId": keys.current_kek,
            "ageDays": keys.current_kek_age_days,
            "heldIds": keys.held_keks,
        },
        "dataKeys": {
            "count": keys.data_keys,
            "overdueForRotation": keys.overdue.len(),
        },
        "signingKey": {
            "kid": current.kid(),
            "alg": current.alg().as_str(),
            "ageDays": signing_created.map(|c| (now - c).whole_days()),
        },
        "audit": {
            "queueDepth": app.audit.queue_depth(),
            "lastPosition": head.map(|h| h.seq),
            "lastCheckpointAt": checkpoint.map(|c| time_json(c.created_at)),
        },
    })))
}
