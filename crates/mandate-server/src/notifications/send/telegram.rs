//! Telegram: the Bot API's `sendMessage` (on api.telegram.org, or a self-hosted Bot API server
//! named by the channel's `apiBaseUrl`).

use mandate_egress::reqwest::Method;
use mandate_store::notifications::channels::Channel;
use mandate_store::notifications::deliveries::Delivery;
use serde_json::json;
use url::Url;

use super::status_ok;
use crate::notifications::channel_config::Secrets;
use crate::notifications::events::text_of;
use crate::state::AppState;

pub async fn send(
    app: &AppState,
    channel: &Channel,
    secrets: &Secrets,
    delivery: &Delivery,
) -> Result<(), String> {
    let token = secrets
        .telegram_bot_token
        .as_deref()
        .ok_or("the channel has no bot token")?;
    let base = channel.settings["apiBaseUrl"]
        .as_str()
        .unwrap_or("https://api.telegram.org");
    let chat = channel.settings["chatId"]
        .as_str()
        .ok_or("the channel has no chat id")?;
    // The bot token is part of the path: errors name the host only.
    let url = Url::parse(&format!("{base}/bot{token}/sendMessage"))
        .map_err(|_| "the Bot API URL is not valid".to_string())?;
    let host = url.host_str().unwrap_or_default().to_string();
    let payload: serde_json::Value =
        serde_json::from_str(&delivery.payload).map_err(|e| e.to_string())?;
    let (_, text) = text_of(&payload);
    let request = app
        .egress
        .request(Method::POST, url)
        .map_err(|_| format!("the Bot API at {host} may not be called"))?
        .json(&json!({ "chat_id": chat, "text": text, "disable_web_page_preview": true }));
    let response = app
        .egress
        .send(request)
        .await
        .map_err(|_| format!("the Bot API at {host} could not be reached"))?;
    status_ok(response.status())
}
