//! Notices that need numbers: repeated agent authentication failures, sustained rate limiting,
//! and a data key due for rotation; each once per window.

use serde_json::{Value, json};

use super::{gateway, received_at, verify_with_standard_webhooks, wait_for};
use crate::agents::token_json;
use crate::people::Backend;

/// The payloads of the verified webhooks received so far, of type `kind`.
fn hooks_of(w: &crate::gateway::Gw, secret: &str, kind: &str) -> Vec<Value> {
    received_at(w, "/echo/alerts")
        .iter()
        .map(|r| verify_with_standard_webhooks(secret, r).expect("verifies"))
        .filter(|p| p["type"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failures_limits_and_old_keys_are_told_once_per_window() {
    let mut w = gateway(Backend::Sqlite).await;
    let (s, hook) = w
        .owner
        .post(
            "/v1/notification-channels",
            w.fill(json!({"kind": "webhook", "name": "alerts", "url": "{upstream}/echo/alerts",
                          "events": ["agent.auth_failures", "rate_limit.sustained", "key_rotation.due"]})),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let secret = hook["signingSecret"].as_str().unwrap().to_string();

    // Eleven assertions for the wrong audience: the tenth makes one notice, the eleventh none.
    for _ in 0..11 {
        let bad = w
            .agent
            .assertion_with(|c| c["aud"] = json!("https://elsewhere.example/"));
        let (s, v, _) = token_json(&w.instance.base, &bad).await;
        assert_eq!(s, 401, "{v}");
    }
    let notices = wait_for(10, "the auth failure notice", || async {
        let n = hooks_of(&w, &secret, "agent.auth_failures");
        (!n.is_empty()).then_some(n)
    })
    .await;
    assert_eq!(notices[0]["data"]["agentId"], w.agent.id.as_str());
    assert_eq!(notices[0]["data"]["failures"], 10);

    // A limit of 1 per hour: the 21st request is the 20th refused, and says so once.
    w.set_policy(
        json!({"stepUpApproval": "never", "allowlists": [{"baseUrl": "{upstream}"}],
                        "rateLimits": {"maxRequestsPerHour": 1}}),
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..22 {
        statuses.push(w.get(&format!("/echo/n{i}")).await.0);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        21,
        "{statuses:?}"
    );
    let limited = wait_for(10, "the rate limit notice", || async {
        let n = hooks_of(&w, &secret, "rate_limit.sustained");
        (!n.is_empty()).then_some(n)
    })
    .await;
    assert_eq!(limited[0]["data"]["policyId"], w.policy.as_str());

    // A data key past its rotation age: one notice a day, however often the check runs.
    let db = &w.instance.state.db;
    let old = time::OffsetDateTime::now_utc() - time::Duration::days(120);
    mandate_store::on_pool!(db, pool => sqlx::query("UPDATE data_keys SET created_at = $1 WHERE state = 'active'")
        .bind(old)
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
    for _ in 0..2 {
        mandate_server::notifications::thresholds::key_rotations_due(&w.instance.state).await;
    }
    let due = wait_for(10, "the key rotation notice", || async {
        let n = hooks_of(&w, &secret, "key_rotation.due");
        (!n.is_empty()).then_some(n)
    })
    .await;
    assert!(
        due[0]["data"]["ageDays"].as_i64().unwrap() >= 120,
        "{}",
        due[0]
    );

    // Nothing more came of the extra failure, refusal and check.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for kind in [
        "agent.auth_failures",
        "rate_limit.sustained",
        "key_rotation.due",
    ] {
        assert_eq!(hooks_of(&w, &secret, kind).len(), 1, "{kind}");
    }
}
