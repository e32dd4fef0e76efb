//! Webhook channels: Standard Webhooks signatures checked by the `standardwebhooks` package,
//! secret rotation with two valid secrets, retries and the final failure, and what the API
//! refuses.

use serde_json::{Value, json};

use super::{gateway, received_at, verify_with_standard_webhooks, wait_for};
use crate::gateway::{UPSTREAM_SECRET, audit_rows};
use crate::people::{Backend, people_suite};

people_suite!(
    webhooks_verify_independently_through_a_secret_rotation,
    a_failing_webhook_is_retried_then_recorded_as_failed,
);

async fn webhooks_verify_independently_through_a_secret_rotation(backend: Backend) {
    let mut w = gateway(backend).await;
    let (s, hook) = w
        .owner
        .post(
            "/v1/notification-channels",
            w.fill(
                json!({"kind": "webhook", "name": "ops hook", "url": "{upstream}/echo/hook",
                          "events": ["approval.requested", "approval.decided"]}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let first = hook["signingSecret"].as_str().unwrap().to_string();
    assert!(first.starts_with("whsec_"), "{hook}");
    let id = hook["id"].as_str().unwrap().to_string();
    let (s, shown) = w
        .owner
        .get(&format!("/v1/notification-channels/{id}"))
        .await;
    assert_eq!(s, 200);
    assert!(
        !shown.to_string().contains(&first[6..]),
        "shown once only: {shown}"
    );
    let (_, listed) = w.owner.get("/v1/notification-channels").await;
    assert!(!listed.to_string().contains(&first[6..]), "{listed}");

    // An agent's request waits for approval: the webhook says so.
    let (s, asked, _) = w
        .execute(json!({"method": "POST", "url": "{upstream}/echo/pay", "body": {"amount": 4711}}))
        .await;
    assert_eq!(s, 202, "{asked}");
    let approval = asked["approvalRequestId"].as_str().unwrap().to_string();
    let hooks = wait_for(10, "the approval.requested webhook", || async {
        let r = received_at(&w, "/echo/hook");
        (!r.is_empty()).then_some(r)
    })
    .await;
    let payload = verify_with_standard_webhooks(&first, &hooks[0]).expect("verifies");
    assert_eq!(payload["type"], "approval.requested", "{payload}");
    assert_eq!(payload["data"]["approvalId"], approval.as_str());
    assert_eq!(payload["data"]["path"], "/echo/pay");
    assert_eq!(payload["data"]["agentName"], "gateway agent");
    let review = payload["data"]["links"]["review"].as_str().unwrap();
    assert!(
        review.ends_with(&format!("/approvals/{approval}/review")),
        "{review}"
    );
    assert_eq!(
        payload["data"]["links"]["approve"],
        format!("{review}?intent=approve")
    );
    assert_eq!(
        payload["data"]["links"]["deny"],
        format!("{review}?intent=deny")
    );
    let raw = String::from_utf8_lossy(&hooks[0].body).to_string();
    assert!(
        !raw.contains("4711") && !raw.contains(UPSTREAM_SECRET),
        "no body, no credential: {raw}"
    );
    // The independent check refuses a wrong secret and a changed body.
    let other = "whsec_".to_string() + &"QUJD".repeat(8);
    assert!(verify_with_standard_webhooks(&other, &hooks[0]).is_err());
    let mut tampered = hooks[0].clone();
    tampered.body = raw.replace("/echo/pay", "/echo/PAY").into_bytes();
    assert!(verify_with_standard_webhooks(&first, &tampered).is_err());

    let (s, v) = w
        .owner
        .post(
            &format!("/v1/approvals/{approval}/approve"),
            json!({"reason": "fine"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let hooks = wait_for(10, "the approval.decided webhook", || async {
        let r = received_at(&w, "/echo/hook");
        (r.len() >= 2).then_some(r)
    })
    .await;
    let decided = verify_with_standard_webhooks(&first, &hooks[1]).expect("verifies");
    assert_eq!(
        (
            decided["type"].as_str(),
            decided["data"]["decision"].as_str()
        ),
        (Some("approval.decided"), Some("approved")),
        "{decided}"
    );

    // Rotation: for the overlap both secrets verify; then only the new one.
    let (s, rotated) = w
        .owner
        .post(
            &format!("/v1/notification-channels/{id}/rotate-secret"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let second = rotated["signingSecret"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert!(rotated["previousSecretValidUntil"].is_string(), "{rotated}");
    let (s, v) = w
        .owner
        .post(&format!("/v1/notification-channels/{id}/test"), json!({}))
        .await;
    assert_eq!(s, 202, "{v}");
    let hooks = wait_for(10, "the test webhook", || async {
        let r = received_at(&w, "/echo/hook");
        (r.len() >= 3).then_some(r)
    })
    .await;
    let signatures = hooks[2].header("webhook-signature").unwrap().to_string();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert_eq!(
        verify_with_standard_webhooks(&first, &hooks[2]).unwrap()["type"],
        "test"
    );
    assert_eq!(
        verify_with_standard_webhooks(&second, &hooks[2]).unwrap()["type"],
        "test"
    );

    let (s, v) = w
        .owner
        .post(
            &format!("/v1/notification-channels/{id}/rotate-secret"),
            json!({"previousValidForHours": 0}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let third = v["signingSecret"].as_str().unwrap().to_string();
    assert!(v["previousSecretValidUntil"].is_null(), "{v}");
    w.owner
        .post(&format!("/v1/notification-channels/{id}/test"), json!({}))
        .await;
    let hooks = wait_for(10, "the second test webhook", || async {
        let r = received_at(&w, "/echo/hook");
        (r.len() >= 4).then_some(r)
    })
    .await;
    assert!(
        verify_with_standard_webhooks(&second, &hooks[3]).is_err(),
        "the old secret ended"
    );
    assert!(verify_with_standard_webhooks(&first, &hooks[3]).is_err());
    verify_with_standard_webhooks(&third, &hooks[3]).expect("the new secret verifies");

    let (s, log) = w
        .owner
        .get(&format!("/v1/notification-channels/{id}/deliveries"))
        .await;
    assert_eq!(s, 200, "{log}");
    let states: Vec<(&str, i64)> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["state"].as_str().unwrap(),
                d["attempts"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(states, vec![("delivered", 1); 4], "{log}");
    let rows = audit_rows(&w.instance).await;
    let actions: Vec<&str> = rows
        .iter()
        .map(|(a, ..)| a.as_str())
        .filter(|a| a.starts_with("notification"))
        .collect();
    assert_eq!(
        actions,
        [
            "notification_channel.created",
            "notification_channel.secret_rotated",
            "notification_channel.secret_rotated"
        ]
    );
    for (_, _, _, details) in &rows {
        let d = details.as_deref().unwrap_or_default();
        assert!(!d.contains(&first[6..]) && !d.contains(&third[6..]), "{d}");
    }
}

async fn a_failing_webhook_is_retried_then_recorded_as_failed(backend: Backend) {
    let mut w = gateway(backend).await;
    let (s, hook) = w
        .owner
        .post(
            "/v1/notification-channels",
            w.fill(json!({"kind": "webhook", "name": "broken", "url": "{upstream}/status/503"})),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let id = hook["id"].as_str().unwrap().to_string();
    let (s, queued) = w
        .owner
        .post(&format!("/v1/notification-channels/{id}/test"), json!({}))
        .await;
    assert_eq!(s, 202, "{queued}");
    // NOTIFICATION_RETRY_SECONDS=1,1: the first attempt and two retries, then failed.
    let failed = wait_for(15, "the delivery to fail for good", || {
        let mut owner = w.owner.clone();
        let id = id.clone();
        async move {
            let (_, log) = owner
                .get(&format!("/v1/notification-channels/{id}/deliveries"))
                .await;
            let d = log["deliveries"][0].clone();
            (d["state"] == "failed").then_some(d)
        }
    })
    .await;
    assert_eq!(failed["id"], queued["deliveryId"]);
    assert_eq!(failed["attempts"], 3, "{failed}");
    assert!(
        failed["lastError"].as_str().unwrap().contains("503"),
        "{failed}"
    );
    let tries = received_at(&w, "/status/503");
    assert_eq!(tries.len(), 3, "three attempts reached the receiver");
    let ids: Vec<&str> = tries
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one message id for every attempt: {ids:?}"
    );
    let rows = audit_rows(&w.instance).await;
    let (_, _, _, details) = rows
        .iter()
        .find(|(a, ..)| a == "notification.failed")
        .expect("the final failure is audited");
    let details: Value = serde_json::from_str(details.as_deref().unwrap()).unwrap();
    assert_eq!(
        (details["attempts"].as_i64(), details["event"].as_str()),
        (Some(3), Some("test"))
    );

    // What the API refuses, each with its reason.
    let refused = [
        (json!({"kind": "pager", "name": "x"}), "kind"),
        (
            json!({"kind": "webhook", "name": "x", "url": "http://example.com/hook"}),
            "https",
        ),
        (
            json!({"kind": "webhook", "name": "x", "url": "https://10.0.0.1/hook"}),
            "forbidden address",
        ),
        (
            json!({"kind": "webhook", "name": "x", "url": "https://u:p@example.com/"}),
            "user name",
        ),
        (
            json!({"kind": "webhook", "name": "x", "url": "https://example.com/", "botToken": "1:a"}),
            "botToken",
        ),
        (
            json!({"kind": "webhook", "name": "x", "url": "https://example.com/", "events": ["approval.maybe"]}),
            "unknown event",
        ),
        (
            json!({"kind": "webhook", "name": "x", "url": "https://example.com/", "colour": "red"}),
            "colour",
        ),
        (
            json!({"kind": "webhook", "name": "", "url": "https://example.com/"}),
            "name",
        ),
        (
            json!({"kind": "email", "name": "x", "smtpHost": "mail.example.com", "smtpTls": "none",
                "smtpUsername": "u", "smtpPassword": "p", "from": "a@example.com", "to": ["b@example.com"]}),
            "without TLS",
        ),
        (
            json!({"kind": "email", "name": "x", "smtpHost": "mail.example.com", "from": "a@example.com", "to": ["not an address"]}),
            "mail address",
        ),
        (
            json!({"kind": "telegram", "name": "x", "botToken": "nocolon", "chatId": "1"}),
            "bot token",
        ),
    ];
    for (body, why) in refused {
        let (s, v) = w
            .owner
            .post("/v1/notification-channels", body.clone())
            .await;
        assert_eq!(s, 400, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(why), "{body}: {v}");
    }
    let (s, v, _) = w
        .owner
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/notification-channels/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!((s, v["enabled"].as_bool()), (200, Some(false)), "{v}");
    let (s, v) = w
        .owner
        .post(&format!("/v1/notification-channels/{id}/test"), json!({}))
        .await;
    assert_eq!(s, 409, "a disabled channel sends nothing: {v}");
    let (s, v) = w
        .owner
        .post(
            &format!("/v1/notification-channels/{id}/rotate-secret"),
            json!({"previousValidForHours": 1000}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
}
