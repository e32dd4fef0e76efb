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

/// `Ok` for a 2xx answer, else the status as the reason.
fn status_ok(status: mandate_egress::reqwest::StatusCode) -> Result<(), String> {
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {}", status.as_u16()))
    }
}
