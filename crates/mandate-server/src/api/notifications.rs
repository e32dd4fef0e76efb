//! Notification channels of the workspace (admins): create, list, show, change (name, events,
//! enabled), delete, rotate a webhook's signing secret, send a test, and read the delivery log.
//! Secrets are sealed by the vault and never shown again, except a webhook's new signing secret
//! once, in the answer that made it.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use mandate_store::notifications::channels::{self, Channel};
use mandate_store::notifications::deliveries;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::auth::time_json;
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::notifications::channel_config::{self, ChannelInput, Secrets, SigningSecret};
use crate::notifications::worker::{SECRET_KIND, open_secrets};
use crate::notifications::{EventType, Notice, enqueue_for, signature};
use crate::state::AppState;

const MAX_CHANNELS: usize = 50;
const DEFAULT_OVERLAP_HOURS: i64 = 24;
const MAX_OVERLAP_HOURS: i64 = 168;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/notification-channels", get(list).post(create))
        .route(
            "/v1/notification-channels/{channelId}",
            get(show).patch(update).delete(remove),
        )
        .route(
            "/v1/notification-channels/{channelId}/rotate-secret",
            post(rotate_secret),
        )
        .route("/v1/notification-channels/{channelId}/test", post(test))
        .route(
            "/v1/notification-channels/{channelId}/deliveries",
            get(deliveries_of),
        )
}

fn channel_json(c: &Channel) -> Value {
    json!({
        "id": c.id,
        "kind": c.kind,
        "name": c.name,
        "events": c.events,
        "enabled": c.enabled,
        "settings": c.settings,
        "createdAt": time_json(c.created_at),
        "updatedAt": time_json(c.updated_at),
    })
}

/// `events` as given, checked; all of them when absent.
fn event_list(events: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let Some(events) = events else {
        return Ok(EventType::SUBSCRIBABLE
            .iter()
            .map(|e| e.as_str().to_string())
            .collect());
    };
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if EventType::parse(&e).is_none() {
            let known: Vec<&str> = EventType::SUBSCRIBABLE.iter().map(|e| e.as_str()).collect();
            return Err(ApiError::bad_request(format!(
                "unknown event `{e}`; known: {}",
                known.join(", ")
            )));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("`name` is 1 to 100 characters"));
    }
    Ok(name.to_string())
}

async fn seal(app: &AppState, ws: Uuid, id: &str, secrets: &Secrets) -> Result<String, ApiError> {
    let plain =
        zeroize::Zeroizing::new(serde_json::to_vec(secrets).map_err(|e| ApiError::internal(&e))?);
    app.vault
        .seal(ws, SECRET_KIND, id, &plain)
        .await
        .map_err(|e| ApiError::internal(&e))
}

async fn load(app: &AppState, ws: Uuid, id: &str) -> Result<Channel, ApiError> {
    channels::get(&app.db, ws, id)
        .await?
        .ok_or_else(|| ApiError::not_found("notification channel not found"))
}

async fn audit(
    app: &AppState,
    principal: &Principal,
    action: &'static str,
    channel: &Channel,
    details: Value,
) -> Result<Uuid, ApiError> {
    app.audit
        .record(
            AuditEvent::new(principal.actor(), action)
                .workspace(principal.workspace_id)
                .target("notification_channel", channel.id.clone())
                .outcome(Outcome::Success)
                .details(details),
        )
        .await
        .map_err(|e| ApiError::internal(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    kind: String,
    name: String,
    events: Option<Vec<String>>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(flatten)]
    settings: ChannelInput,
}

fn yes() -> bool {
    true
}

async fn create(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<Create>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ws = principal.workspace_id;
    let name = check_name(&req.name)?;
    let events = event_list(req.events)?;
    let checked = channel_config::check(&app.egress, &req.kind, &req.settings)?;
    if channels::list(&app.db, ws).await?.len() >= MAX_CHANNELS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a workspace has at most {MAX_CHANNELS} notification channels"),
        ));
    }
    let id = Uuid::now_v7().to_string();
    let now = mandate_store::to_db_precision(OffsetDateTime::now_utc());
    let channel = Channel {
        sealed_secret: seal(&app, ws, &id, &checked.secrets).await?,
        id,
        workspace_id: ws,
        kind: req.kind,
        name,
        events,
        enabled: req.enabled,
        settings: checked.settings,
        created_by: Some(principal.user_id),
        created_at: now,
        updated_at: now,
    };
    channels::create(&app.db, &channel).await?;
    let audit_id = audit(
        &app,
        &principal,
        actions::NOTIFICATION_CHANNEL_CREATED,
        &channel,
        json!({"kind": channel.kind, "name": channel.name, "events": channel.events}),
    )
    .await?;
    let mut body = channel_json(&channel);
    body["auditId"] = json!(audit_id);
    if let Some(secret) = &checked.show_once {
        body["signingSecret"] = json!(secret.as_str());
    }
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list(State(app): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let rows = channels::list(&app.db, principal.workspace_id).await?;
    Ok(Json(json!({
        "channels": rows.iter().map(channel_json).collect::<Vec<_>>(),
        "events": EventType::SUBSCRIBABLE.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
    })))
}

async fn show(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let channel = load(&app, principal.workspace_id, &id).await?;
    let mut body = channel_json(&channel);
    if channel.kind == "webhook" {
        // When the previous secret stops being valid (after a rotation), never the secrets.
        let secrets = open_secrets(&app, &channel)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let until = secrets.signing.iter().filter_map(|s| s.valid_until).max();
        body["previousSecretValidUntil"] = json!(
            until.and_then(|t| { OffsetDateTime::from_unix_timestamp(t).ok().map(time_json) })
        );
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    name: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

async fn update(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Update>,
) -> Result<Json<Value>, ApiError> {
    let mut channel = load(&app, principal.workspace_id, &id).await?;
    if req.name.is_none() && req.events.is_none() && req.enabled.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give name, events or enabled (other settings need a new channel)",
        ));
    }
    if let Some(name) = &req.name {
        channel.name = check_name(name)?;
    }
    if req.events.is_some() {
        channel.events = event_list(req.events)?;
    }
    if let Some(enabled) = req.enabled {
        channel.enabled = enabled;
    }
    channel.updated_at = mandate_store::to_db_precision(OffsetDateTime::now_utc());
    if !channels::update(&app.db, &channel).await? {
        return Err(ApiError::not_found("notification channel not found"));
    }
    let audit_id = audit(
        &app,
        &principal,
        actions::NOTIFICATION_CHANNEL_UPDATED,
        &channel,
        json!({"name": channel.name, "events": channel.events, "enabled": channel.enabled}),
    )
    .await?;
    let mut body = channel_json(&channel);
    body["auditId"] = json!(audit_id);
    Ok(Json(body))
}

async fn remove(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let channel = load(&app, principal.workspace_id, &id).await?;
    if !channels::delete(&app.db, principal.workspace_id, &id).await? {
        return Err(ApiError::not_found("notification channel not found"));
    }
    let audit_id = audit(
        &app,
        &principal,
        actions::NOTIFICATION_CHANNEL_DELETED,
        &channel,
        json!({"kind": channel.kind, "name": channel.name}),
    )
    .await?;
    Ok(Json(json!({"deleted": true, "auditId": audit_id})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Rotate {
    previous_valid_for_hours: Option<i64>,
}

/// A new signing secret; the current one stays valid for the overlap (default 24 h, 0 ends it
/// at once), so receivers can switch without dropping messages. Older ones end now.
async fn rotate_secret(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Rotate>,
) -> Result<Json<Value>, ApiError> {
    let mut channel = load(&app, principal.workspace_id, &id).await?;
    if channel.kind != "webhook" {
        return Err(ApiError::bad_request(
            "only webhook channels have a signing secret",
        ));
    }
    let hours = req
        .previous_valid_for_hours
        .unwrap_or(DEFAULT_OVERLAP_HOURS);
    if !(0..=MAX_OVERLAP_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(format!(
            "`previousValidForHours` is 0 to {MAX_OVERLAP_HOURS}"
        )));
    }
    let old = open_secrets(&app, &channel)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let now = OffsetDateTime::now_utc();
    let until = now + time::Duration::hours(hours);
    let fresh = signature::new_secret().map_err(|e| ApiError::internal(&e))?;
    let mut secrets = Secrets::default();
    secrets.signing.push(SigningSecret {
        secret: fresh.to_string(),
        valid_until: None,
    });
    if hours > 0
        && let Some(current) = old.signing.iter().find(|s| s.valid_until.is_none())
    {
        secrets.signing.push(SigningSecret {
            secret: current.secret.clone(),
            valid_until: Some(until.unix_timestamp()),
        });
    }
    channel.sealed_secret = seal(&app, channel.workspace_id, &channel.id, &secrets).await?;
    channel.updated_at = mandate_store::to_db_precision(now);
    if !channels::update(&app.db, &channel).await? {
        return Err(ApiError::not_found("notification channel not found"));
    }
    let previous_until = (hours > 0).then(|| time_json(until));
    let audit_id = audit(
        &app,
        &principal,
        actions::NOTIFICATION_SECRET_ROTATED,
        &channel,
        json!({"previousValidUntil": previous_until}),
    )
    .await?;
    Ok(Json(json!({
        "id": channel.id,
        "signingSecret": fresh.as_str(),
        "previousSecretValidUntil": previous_until,
        "auditId": audit_id,
    })))
}

/// Queue a test notice for this channel (subscribed to it or not): 202 with the delivery's id,
/// whose outcome the delivery log shows. A disabled channel sends nothing (409).
async fn test(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(_): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let channel = load(&app, principal.workspace_id, &id).await?;
    if !channel.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the channel is disabled; enable it first",
        ));
    }
    let notice = Notice::new(
        EventType::Test,
        principal.workspace_id,
        format!("Test notification for channel {}", channel.name),
    )
    .line("If you can read this, the channel works.")
    .data(json!({"channelId": channel.id}));
    let ids = enqueue_for(&app, &notice, &[&channel]).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"deliveryId": ids.first(), "channelId": channel.id})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    limit: Option<i64>,
}

async fn deliveries_of(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    q: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = crate::http::json::query(q)?;
    let limit = crate::http::json::page_limit(q.limit, 50, 200)?;
    let channel = load(&app, principal.workspace_id, &id).await?;
    let rows = deliveries::list(&app.db, principal.workspace_id, &channel.id, limit).await?;
    Ok(Json(json!({
        "deliveries": rows.iter().map(|d| json!({
            "id": d.id,
            "event": d.event,
            "state": d.state,
            "attempts": d.attempts,
            "nextAttemptAt": d.next_attempt_at.map(time_json),
            "lastError": d.last_error,
            "createdAt": time_json(d.created_at),
            "finishedAt": d.finished_at.map(time_json),
        })).collect::<Vec<_>>()
    })))
}
