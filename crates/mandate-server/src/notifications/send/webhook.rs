//! Outbound webhooks (signed as Standard Webhooks describes) and Slack incoming webhooks.

use mandate_egress::reqwest::Method;
use mandate_store::notifications::channels::Channel;
use mandate_store::notifications::deliveries::Delivery;
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use super::{notice_text, post_json_to_secret_url, status_ok};
use crate::notifications::channel_config::Secrets;
use crate::notifications::signature;
use crate::state::AppState;

/// The message id receivers use to drop duplicates: the same for every attempt of a delivery.
pub fn message_id(delivery: &Delivery) -> String {
    format!("msg_{}", delivery.id.simple())
}

pub async fn send(
    app: &AppState,
    channel: &Channel,
    secrets: &Secrets,
    delivery: &Delivery,
) -> Result<(), String> {
    let url = channel.settings["url"]
        .as_str()
        .and_then(|u| Url::parse(u).ok())
        .ok_or("the channel has no valid url")?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let id = message_id(delivery);
    let keys = secrets.signing_at(now);
    if keys.is_empty() {
        return Err("the channel has no signing secret in force".into());
    }
    let signature = signature::sign(&keys, &id, now, delivery.payload.as_bytes())?;
    let request = app
        .egress
        .request(Method::POST, url)
        .map_err(|e| e.to_string())?
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone());
    let response = app.egress.send(request).await.map_err(|e| e.to_string())?;
    status_ok(response.status())
}

pub async fn send_slack(
    app: &AppState,
    secrets: &Secrets,
    delivery: &Delivery,
) -> Result<(), String> {
    let url = secrets
        .slack_webhook_url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .ok_or("the channel has no valid Slack webhook URL")?;
    let (_, text) = notice_text(delivery)?;
    let body = json!({ "text": slack_escaped(&text) });
    post_json_to_secret_url(app, url, "the Slack webhook", &body).await
}

/// Slack reads `<...>` in a message as links and mentions (`<!channel>`, `<https://x|label>`)
/// and `&` as the start of an entity. Parts of a notice come from agents (a permission request's
/// reason, a request's path), so the three are escaped as Slack's formatting rules ask: the
/// text shows as written and can neither ping a channel nor disguise a link.
fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn slack_text_cannot_mention_or_link() {
        assert_eq!(
            super::slack_escaped("<!channel> see <https://evil.example|your bank> & more"),
            "&lt;!channel&gt; see &lt;https://evil.example|your bank&gt; &amp; more"
        );
    }
}
