//! Sending one delivery on one channel. Every sender answers `Err(reason)` with a reason that
//! is safe to store and show: no secret, no URL that is itself a secret (Slack's webhook URL,
//! Telegram's bot path).

mod email;
mod telegram;
mod webhook;

use mandate_store::notifications::channels::Channel;
use mandate_store::notifications::deliveries::Delivery;

use super::channel_config::Secrets;
use crate::state::AppState;

/// Send `delivery` on `channel` once.
pub async fn deliver(
    app: &AppState,
    channel: &Channel,
    secrets: &Secrets,
    delivery: &Delivery,
) -> Result<(), String> {
    match channel.kind.as_str() {
        "webhook" => webhook::send(app, channel, secrets, delivery).await,
        "slack" => webhook::send_slack(app, secrets, delivery).await,
        "telegram" => telegram::send(app, channel, secrets, delivery).await,
        "email" => email::send(app, channel, secrets, delivery).await,
        other => Err(format!("unknown channel kind `{other}`")),
    }
}

/// The stored notice as people read it: (title, text).
fn notice_text(delivery: &Delivery) -> Result<(String, String), String> {
    let payload: serde_json::Value =
        serde_json::from_str(&delivery.payload).map_err(|e| e.to_string())?;
    Ok(super::events::text_of(&payload))
}

/// POST `body` as JSON to `url`, whose path holds a secret (Slack's webhook URL, Telegram's bot
/// token): a failure names `what` and the host, never the URL.
async fn post_json_to_secret_url(
    app: &AppState,
    url: url::Url,
    what: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default().to_string();
    let request = app
        .egress
        .request(mandate_egress::reqwest::Method::POST, url)
        .map_err(|_| format!("{what} at {host} may not be called"))?
        .json(body);
    let response = app
        .egress
        .send(request)
        .await
        .map_err(|_| format!("{what} at {host} could not be reached"))?;
    status_ok(response.status())
}

/// `Ok` for a 2xx answer, else the status as the reason.
fn status_ok(status: mandate_egress::reqwest::StatusCode) -> Result<(), String> {
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {}", status.as_u16()))
    }
}
