//! `GET /v1/audit` (filtered, newest first, cursor pages) and `GET /v1/audit/export` (CSV or
//! JSON, streamed a page at a time so any size takes constant memory). Both see only the
//! caller's workspace. An export is itself audited before the first byte leaves.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mandate_store::audit::{self as audit_store, AuditFilter};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::export::{Export, ExportFormat, row_json};
use crate::audit::filter::FilterText;
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit", get(list))
        .route("/v1/audit/export", get(export))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    since: Option<String>,
    until: Option<String>,
    actor: Option<String>,
    agent: Option<String>,
    connection: Option<String>,
    action: Option<String>,
    decision: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<i64>,
    limit: Option<i64>,
    format: Option<String>,
}

impl AuditQuery {
    fn filter(&self, principal: &Principal) -> Result<AuditFilter, ApiError> {
        let mut filter = FilterText {
            workspace: None,
            since: self.since.clone(),
            until: self.until.clone(),
            actor: self.actor.clone(),
            agent: self.agent.clone(),
            connection: self.connection.clone(),
            action: self.action.clone(),
            decision: self.decision.clone(),
        }
        .parse("")
        .map_err(ApiError::bad_request)?;
        filter.workspace_id = Some(principal.workspace_id);
        Ok(filter)
    }
}

async fn list(
    State(app): State<AppState>,
    principal: Principal,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = crate::http::json::query(q)?;
    if q.format.is_some() {
        return Err(ApiError::bad_request(
            "`format` belongs to /v1/audit/export",
        ));
    }
    let limit = crate::http::json::page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let filter = q.filter(&principal)?;
    // Read your writes: what this replica still has queued (outcome records) goes in first.
    app.audit
        .flush()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let rows = audit_store::newest_first(&app.db, &filter, q.cursor, limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(Json(json!({
        "records": rows.iter().map(row_json).collect::<Vec<_>>(),
        "nextCursor": next_cursor,
    })))
}

async fn export(
    State(app): State<AppState>,
    principal: Principal,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = crate::http::json::query(q)?;
    if q.cursor.is_some() || q.limit.is_some() {
        return Err(ApiError::bad_request(
            "an export has every matching record; `cursor` and `limit` belong to /v1/audit",
        ));
    }
    let format = match q.format.as_deref() {
        None => ExportFormat::Json,
        Some(f) => ExportFormat::parse(f)
            .ok_or_else(|| ApiError::bad_request("`format` must be `csv` or `json`"))?,
    };
    let filter = q.filter(&principal)?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::AUDIT_EXPORTED)
                .workspace(principal.workspace_id)
                .outcome(Outcome::Success)
                .details(json!({
                    "format": if format == ExportFormat::Csv { "csv" } else { "json" },
                    "since": q.since, "until": q.until, "actor": q.actor, "agent": q.agent,
                    "connection": q.connection, "action": q.action, "decision": q.decision,
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let export = Export::new(app.db.clone(), filter, format);
    let chunks = futures_util::stream::unfold(Some(export), |state| async move {
        let mut export = state?;
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), Some(export))),
            Ok(None) => None,
            Err(e) => {
                // Headers are gone already: cut the body short so the client sees an error
                // rather than a document that looks complete.
                tracing::error!(error = %e, "audit export failed part-way");
                Some((Err(std::io::Error::other("audit export failed")), None))
            }
        }
    });
    let extension = if format == ExportFormat::Csv {
        "csv"
    } else {
        "json"
    };
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"audit-{}.{extension}\"",
        principal.workspace_id
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&audit_id.to_string()) {
        headers.insert("x-audit-id", v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
