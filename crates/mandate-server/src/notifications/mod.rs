//! Notifications: what happened that a person should know, sent to the workspace's channels
//! (signed webhooks, Slack, Telegram, email).
//!
//! [`notify`] queues one delivery per channel that subscribed to the event, in the background
//! right after it (a row in `notification_deliveries`: once queued, a restart loses nothing; a
//! crash in the milliseconds before can); every replica's [`worker`] sends due
//! deliveries, retrying with the backoff of `NOTIFICATION_RETRY_SECONDS`, and records the last
//! failure as `failed` (audited). Notices never carry secrets or request bodies; links open
//! confirmation pages, never act on GET.

pub mod channel_config;
pub mod events;
pub mod notices;
mod send;
pub mod signature;
pub mod thresholds;
pub mod worker;

use mandate_store::StoreError;
use mandate_store::notifications::channels::{self, Channel};
use mandate_store::notifications::deliveries::{self, Delivery};
use time::OffsetDateTime;
use uuid::Uuid;

pub use events::{EventType, Notice};

use crate::state::AppState;

/// Queue `notice` for the workspace's channels, in the background (a caller on a request path
/// does not wait for it; a failure is logged).
pub fn notify(app: &AppState, notice: Notice) {
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = enqueue(&app, &notice).await {
            tracing::warn!(error = %e, event = notice.event.as_str(), "queueing a notification failed");
        }
    });
}

/// Queue `notice` for every enabled channel of its workspace subscribed to its event.
pub async fn enqueue(app: &AppState, notice: &Notice) -> Result<Vec<Uuid>, StoreError> {
    let all = channels::list(&app.db, notice.workspace_id).await?;
    let subscribed: Vec<&Channel> = all
        .iter()
        .filter(|c| c.enabled && c.events.iter().any(|e| e == notice.event.as_str()))
        .collect();
    enqueue_for(app, notice, &subscribed).await
}

/// Queue `notice` for exactly `channels`.
pub async fn enqueue_for(
    app: &AppState,
    notice: &Notice,
    channels: &[&Channel],
) -> Result<Vec<Uuid>, StoreError> {
    let now = OffsetDateTime::now_utc();
    let payload = notice.payload(now).to_string();
    let mut ids = Vec::with_capacity(channels.len());
    for channel in channels {
        let delivery = Delivery {
            id: Uuid::now_v7(),
            workspace_id: notice.workspace_id,
            channel_id: channel.id.clone(),
            event: notice.event.as_str().to_string(),
            payload: payload.clone(),
            state: "pending".into(),
            attempts: 0,
            next_attempt_at: Some(now),
            last_error: None,
            created_at: now,
            finished_at: None,
        };
        deliveries::enqueue(&app.db, &delivery).await?;
        ids.push(delivery.id);
    }
    Ok(ids)
}

/// Where people reach this server (for links in notices): PUBLIC_URL, else the listen address.
pub fn public_base(app: &AppState) -> String {
    match &app.config.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_string(),
        None => format!("http://{}", app.config.listen),
    }
}
