//! The workspace's data keys (`GET /v1/keys`) and their rotation (`POST /v1/keys/rotate-dek`,
//! owner with a fresh second factor). A rotation runs in the background: the answer is 202 and
//! `GET /v1/keys` shows its progress. The counts come from the database (records still sealed
//! with a retiring key), so any replica shows the same; the live counter is this replica's.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use mandate_store::data_keys::{self, DekState};
use mandate_store::sealed_columns;
use serde_json::{Value, json};

use crate::api::auth::time_json;
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", get(status))
        .route("/v1/keys/rotate-dek", post(rotate_dek))
}

async fn status(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let ws = principal.workspace_id;
    // Before the keys: a rotation that is not running here any more has written everything
    // (its keys and its audit record), so the list read next is its end state. Read after the
    // keys, a rotation finishing in between showed the old key with `inProgress: false`.
    let running = app.vault.rotation_progress(ws);
    let keys: Vec<_> = data_keys::list(&app.db)
        .await?
        .into_iter()
        .filter(|k| k.workspace_id == ws && k.state != DekState::Retired)
        .collect();
    let mut items = Vec::new();
    let mut remaining = 0i64;
    for key in &keys {
        let mut records = 0;
        for column in sealed_columns::ALL {
            records += column.count_sealed_with(&app.db, ws, &key.kid).await?;
        }
        if key.state == DekState::Retiring {
            remaining += records;
        }
        items.push(json!({
            "kid": key.kid,
            "state": key.state.as_str(),
            "createdAt": time_json(key.created_at),
            "kekId": key.kek_id,
            "records": records,
        }));
    }
    Ok(Json(json!({
        "dataKeys": items,
        "rotation": {
            "inProgress": running.is_some() || keys.iter().any(|k| k.state == DekState::Retiring),
            "runningHere": running.is_some(),
            "reencrypted": running.map(|(done, _)| done),
            "total": running.map(|(_, total)| total),
            "recordsOnRetiringKeys": remaining,
        },
    })))
}

async fn rotate_dek(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ws = principal.workspace_id;
    if !app.vault.claim_rotation(ws) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "a rotation of this workspace's data key is already running",
        )
        .with_hint("follow it with GET /v1/keys"));
    }
    let audit_id = match app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::DEK_ROTATION_STARTED)
                .workspace(ws)
                .outcome(Outcome::Success),
        )
        .await
    {
        Ok(id) => id,
        Err(e) => {
            app.vault.release_rotation(ws);
            return Err(ApiError::internal(&e));
        }
    };
    let user = principal.user_id;
    tokio::spawn(async move {
        let vault = app.vault.clone();
        let result = app
            .vault
            .rotate_dek(ws, Some(&app.bus), |done, total| {
                vault.report_rotation(ws, done, total)
            })
            .await;
        let event = match result {
            Ok(report) => AuditEvent::new(Actor::User(user), actions::DEK_ROTATED)
                .workspace(ws)
                .target("data_key", report.new_kid.as_str())
                .outcome(Outcome::Success)
                .details(json!({ "reencrypted": report.reencrypted, "retired": report.retired })),
            Err(e) => {
                tracing::error!(error = %e, workspace_id = %ws, "data key rotation failed; start it again to resume");
                AuditEvent::new(Actor::User(user), actions::KEY_OPERATION_FAILED)
                    .workspace(ws)
                    .outcome(Outcome::Error)
                    .details(json!({ "operation": "rotate-dek", "error": e.to_string() }))
            }
        };
        if let Err(e) = app.audit.record(event).await {
            tracing::error!(error = %e, "recording the data key rotation failed");
        }
        // Only now: whoever sees the rotation end (GET /v1/keys) finds its outcome recorded.
        app.vault.release_rotation(ws);
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "started", "auditId": audit_id })),
    ))
}
