//! Slack, Telegram and email channels. Slack and Telegram cannot run here: their requests go to
//! the tests' HTTPS upstream (as a Slack incoming-webhook URL and as a self-hosted Bot API
//! base), which records them. Email goes to a real SMTP server (aiosmtpd).

use mandate_testkit::smtp::SmtpServer;
use serde_json::{Value, json};

use super::{gateway, received_at, wait_for};
use crate::people::{Backend, people_suite};

people_suite!(slack_telegram_and_email_tell_people_without_secrets);

const SLACK_PATH: &str = "/echo/slack/T000/B000/slack-url-secret-9f2c";
const BOT_TOKEN: &str = "123456:bot-token-secret-AAH7";

async fn slack_telegram_and_email_tell_people_without_secrets(backend: Backend) {
    let mut w = gateway(backend).await;
    let smtp = SmtpServer::start();
    let slack = json!({"kind": "slack", "name": "#approvals",
                       "webhookUrl": format!("{{upstream}}{SLACK_PATH}"), "events": ["approval.requested"]});
    let telegram = json!({"kind": "telegram", "name": "on-call", "botToken": BOT_TOKEN,
                          "chatId": "-100200300", "apiBaseUrl": "{upstream}/echo/tg",
                          "events": ["approval.requested"]});
    let email = json!({"kind": "email", "name": "security team", "smtpHost": "127.0.0.1",
                       "smtpPort": smtp.port, "smtpTls": "none", "from": "mandate@example.com",
                       "to": ["sec@example.com", "ops@example.com"], "events": ["approval.requested"]});
    for channel in [slack, telegram, email] {
        let (s, v) = w
            .owner
            .post("/v1/notification-channels", w.fill(channel))
            .await;
        assert_eq!(s, 201, "{v}");
        assert!(v.get("signingSecret").is_none(), "{v}");
    }
    let (_, listed) = w.owner.get("/v1/notification-channels").await;
    let text = listed.to_string();
    assert!(
        !text.contains("slack-url-secret") && !text.contains("bot-token-secret"),
        "secrets are never shown: {text}"
    );
    assert_eq!(listed["channels"][0]["settings"]["host"], "127.0.0.1");

    let (s, asked, _) = w
        .execute(json!({"method": "DELETE", "url": "{upstream}/echo/records/7"}))
        .await;
    assert_eq!(s, 202, "{asked}");
    let approval = asked["approvalRequestId"].as_str().unwrap().to_string();
    let review = format!("/approvals/{approval}/review");

    let slack = wait_for(10, "the Slack message", || async {
        received_at(&w, SLACK_PATH).pop()
    })
    .await;
    let message: Value = serde_json::from_slice(&slack.body).unwrap();
    let text = message["text"].as_str().unwrap();
    assert!(
        text.contains(
            "Approval requested: agent gateway agent wants DELETE 127.0.0.1/echo/records/7"
        ) && text.contains(&review),
        "{text}"
    );

    let tg = wait_for(10, "the Telegram message", || async {
        received_at(&w, "/echo/tg/").pop()
    })
    .await;
    assert_eq!(tg.path, format!("/echo/tg/bot{BOT_TOKEN}/sendMessage"));
    let message: Value = serde_json::from_slice(&tg.body).unwrap();
    assert_eq!(message["chat_id"], "-100200300");
    assert!(
        message["text"].as_str().unwrap().contains(&review),
        "{message}"
    );

    let mail = wait_for(10, "the email", || async { smtp.messages().pop() }).await;
    // The body is quoted-printable (long lines): undo its soft line breaks.
    let mail = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    assert!(
        mail.contains("X-Envelope-To: sec@example.com, ops@example.com"),
        "{mail}"
    );
    assert!(mail.contains("From: mandate@example.com"), "{mail}");
    assert!(
        mail.contains("Subject: [Mandate] Approval requested"),
        "{mail}"
    );
    assert!(mail.contains(&review), "{mail}");
    for sent in [
        String::from_utf8_lossy(&slack.body).to_string(),
        String::from_utf8_lossy(&tg.body).to_string(),
        mail,
    ] {
        assert!(
            !sent.contains("slack-url-secret") && !sent.contains("bot-token-secret"),
            "{sent}"
        );
    }
}
