//! Notification channels end to end: webhooks checked by an independent Standard Webhooks
//! implementation (PyPI `standardwebhooks`), retries and final failure, secret rotation, Slack
//! and Telegram against the HTTPS upstream of the tests (no real Slack or Telegram can run
//! here: the upstream records what they would have received), and email to a real SMTP server
//! (PyPI `aiosmtpd`).

mod chat_and_mail;
mod thresholds;
mod webhooks;

use std::time::Duration;

use mandate_testkit::upstream::Received;
use serde_json::{Value, json};

use crate::gateway::Gw;
use crate::people::Backend;

/// Fast retries so a failing delivery runs out of attempts within seconds.
pub const FAST_RETRIES: (&str, &str) = ("NOTIFICATION_RETRY_SECONDS", "1,1");

/// A gateway set-up whose policy asks for approval of every request.
pub async fn gateway(backend: Backend) -> Gw {
    Gw::start_with(
        backend,
        json!({"stepUpApproval": "always", "allowlists": [{"baseUrl": "{upstream}"}]}),
        &[FAST_RETRIES],
    )
    .await
}

/// Poll `check` every 100 ms until it gives a value, for at most `secs` seconds.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The requests the upstream received under `prefix`.
pub fn received_at(gw: &Gw, prefix: &str) -> Vec<Received> {
    gw.upstream
        .received()
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .collect()
}

/// Verify a received webhook with the `standardwebhooks` package: the payload it accepts, or
/// the error it raises.
pub fn verify_with_standard_webhooks(secret: &str, r: &Received) -> Result<Value, String> {
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|h| (h.to_string(), json!(r.header(h).unwrap_or_default())))
            .collect();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, headers = sys.argv[1], json.loads(sys.argv[2])
body = sys.stdin.buffer.read()
try:
    print(json.dumps(Webhook(secret).verify(body, headers)))
except Exception as e:
    print("REFUSED: %s" % e)
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, secret, &Value::Object(headers).to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with standardwebhooks (scripts/test installs it)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&r.body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match text.strip_prefix("REFUSED: ") {
        Some(why) => Err(why.to_string()),
        None => Ok(serde_json::from_str(&text).unwrap()),
    }
}
