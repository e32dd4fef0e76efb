//! Telegram: the Bot API's `sendMessage` (on api.telegram.org, or a self-hosted Bot API server
//! named by the channel's `apiBaseUrl`).

use mandate_store::notifications::channels::Channel;
use mandate_store::notifications::deliveries::Delivery;
use serde_json::json;
use url::Url;

use super::{notice_text, post_json_to_secret_url};
use crate::notifications::channel_config::Secrets;
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
    let (_, text) = notice_text(delivery)?;
    let body = json!({ "chat_id": chat, "text": text, "disable_web_page_preview": true });
    post_json_to_secret_url(app, url, "the Bot API", &body).await
}
