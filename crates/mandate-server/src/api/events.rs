//! `GET /v1/events`: the workspace's live events as server-sent events, for the dashboard.
//!
//! Fed by the change bus, so a change made on any replica reaches a browser connected to any
//! other. Bus messages are hints; each one is turned into an event by reading the current row
//! (approval, permission request, connection), so what a browser sees is what the API would show
//! it, never more. Events:
//! - `ready`: the stream is subscribed; anything changed after it arrives;
//! - `approval`, `permission_request`, `connection`: the thing as `GET` on it shows it;
//! - `policy`, `agent`: `{"id"}`, something to re-read;
//! - `activity`: `{"records": [...]}`, the workspace's audit records since the last ones sent
//!   (newest first, at most [`ACTIVITY_BATCH`]), about once a second while there are any;
//! - `resync`: events may have been lost (a replica's listener reconnected): reload everything.
//!
//! A stream ends after [`STREAM_LIFETIME`]; `EventSource` reconnects by itself, and that new
//! request is authenticated again, so a revoked session or a demotion stops the flow in bounded
//! time.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use mandate_store::audit::{self as audit_store, AuditFilter};
use mandate_store::change_bus::{Change, ChangeEvent, Subscription, Topic};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// How long one stream lasts before the browser reconnects (and is authenticated again).
pub const STREAM_LIFETIME: Duration = Duration::from_secs(300);
/// Comment lines keep idle streams open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Audit records sent per `activity` event at most (the audit API pages further back).
pub const ACTIVITY_BATCH: i64 = 50;
/// What `EventSource` waits before reconnecting.
const RETRY: Duration = Duration::from_secs(2);

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/events", get(events))
}

struct Feed {
    app: AppState,
    workspace: Uuid,
    sub: Subscription,
    ends_at: Instant,
    started: bool,
    /// The newest audit record sent (or present when the stream began).
    last_seq: i64,
}

async fn events(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    // Activity starts after the newest record there is now.
    let filter = AuditFilter {
        workspace_id: Some(principal.workspace_id),
        ..AuditFilter::default()
    };
    let last_seq = match audit_store::newest_first(&app.db, &filter, None, 1).await {
        Ok(rows) => rows.first().map_or(0, |r| r.seq),
        Err(e) => return Err(e.into()),
    };
    // Subscribed before answering, so nothing after `ready` can be missed.
    let feed = Feed {
        last_seq,
        sub: app.bus.subscribe(),
        app,
        workspace: principal.workspace_id,
        ends_at: Instant::now() + STREAM_LIFETIME,
        started: false,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        if !feed.started {
            feed.started = true;
            let ready = Event::default().event("ready").data("{}").retry(RETRY);
            return Some((Ok::<_, Infallible>(ready), feed));
        }
        loop {
            let next = tokio::time::timeout_at(feed.ends_at, feed.sub.recv()).await;
            let change = match next {
                Err(_) | Ok(None) => return None,
                Ok(Some(ChangeEvent::Resync)) => {
                    return Some((Ok(Event::default().event("resync").data("{}")), feed));
                }
                Ok(Some(ChangeEvent::Changed(change))) => change,
            };
            if change.workspace_id != Some(feed.workspace) {
                continue;
            }
            if change.topic == Topic::Activity {
                if let Some(event) = activity(&mut feed).await {
                    return Some((Ok(event), feed));
                }
                continue;
            }
            if let Some((name, data)) = render(&feed.app, feed.workspace, &change).await {
                let event = Event::default().event(name).data(data.to_string());
                return Some((Ok(event), feed));
            }
        }
    });
    // nginx and similar proxies buffer responses unless told not to.
    Ok((
        [("x-accel-buffering", "no")],
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)),
    ))
}

/// The workspace's audit records newer than the last sent, or None when there are none.
async fn activity(feed: &mut Feed) -> Option<Event> {
    let filter = AuditFilter {
        workspace_id: Some(feed.workspace),
        ..AuditFilter::default()
    };
    let rows = match audit_store::newest_first(&feed.app.db, &filter, None, ACTIVITY_BATCH).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "reading activity for a live event stream");
            return None;
        }
    };
    let fresh: Vec<Value> = rows
        .iter()
        .filter(|r| r.seq > feed.last_seq)
        .map(crate::audit::export::row_json)
        .collect();
    feed.last_seq = rows
        .first()
        .map_or(feed.last_seq, |r| r.seq.max(feed.last_seq));
    (!fresh.is_empty()).then(|| {
        Event::default()
            .event("activity")
            .data(json!({ "records": fresh }).to_string())
    })
}

/// The event for one change of the workspace, or None when it is not shown live (or is gone).
async fn render(app: &AppState, workspace: Uuid, change: &Change) -> Option<(&'static str, Value)> {
    let id = change.id.as_deref()?;
    let now = OffsetDateTime::now_utc();
    let read_failed = |what: &str, e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, what, "a live event could not be read; skipped");
    };
    match change.topic {
        Topic::Approval => {
            let id = Uuid::parse_str(id).ok()?;
            match mandate_store::approvals::get(&app.db, workspace, id).await {
                Ok(a) => Some(("approval", super::approvals::approval_json(&a, now, false))),
                Err(e) => {
                    read_failed("approval", &e);
                    None
                }
            }
        }
        Topic::PermissionRequest => {
            let id = Uuid::parse_str(id).ok()?;
            match mandate_store::permission_requests::get(&app.db, workspace, id).await {
                Ok(r) => Some((
                    "permission_request",
                    super::permission_requests::request_json(&r, false),
                )),
                Err(e) => {
                    read_failed("permission request", &e);
                    None
                }
            }
        }
        Topic::Connection => {
            match mandate_store::connections::accounts::get(&app.db, workspace, id).await {
                Ok(Some(c)) => Some(("connection", super::connections::connection_json(&c, false))),
                Ok(None) => Some(("connection", json!({"id": id, "state": "deleted"}))),
                Err(e) => {
                    read_failed("connection", &e);
                    None
                }
            }
        }
        Topic::Policy => Some(("policy", json!({ "id": id }))),
        Topic::Agent => Some(("agent", json!({ "id": id }))),
        _ => None,
    }
}
