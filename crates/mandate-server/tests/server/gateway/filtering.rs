//! Response rules and body handling: fields stripped or kept, PII redacted in JSON, text, SSE
//! and NDJSON streams, binary bodies described or downloaded, size caps answered with 413 (or an
//! error event in a stream), the outgoing body redacted by a `redact` rule, and a request to see
//! the unfiltered answer turned into an approval.

use serde_json::json;

use super::Gw;
use crate::people::{Backend, people_suite};

people_suite!(
    response_rules_strip_and_redact,
    streams_are_filtered_line_by_line,
    binary_bodies_and_size_caps,
    redact_rules_scrub_the_outgoing_body,
);

fn filtering_policy() -> serde_json::Value {
    json!({
        "stepUpApproval": "never",
        "allowlists": [{"baseUrl": "{upstream}"}],
        "rules": {"response": [
            {"label": "profile", "match": {"urlPattern": "^/profile$"},
             "filter": {"denyFields": ["iban", "plan.billingEmail", "repos[*].owner"],
                        "redact": [{"type": "contact"}, {"type": "financial"}, {"type": "secrets"}, {"type": "ip_address"}]}},
            {"label": "everything else", "match": {"urlPattern": "^/(text|sse|ndjson)$"},
             "filter": {"redact": [{"type": "email", "replacement": "<email>"}]}}
        ]}
    })
}

async fn response_rules_strip_and_redact(backend: Backend) {
    let w = Gw::start(backend, filtering_policy()).await;
    let (s, v, _) = w.get("/profile").await;
    assert_eq!(s, 200, "{v}");
    let body = &v["body"];
    assert_eq!(body["login"], "octo");
    assert!(body.get("iban").is_none(), "{body}");
    assert!(
        body["plan"].get("billingEmail").is_none() && body["plan"]["seats"] == 5,
        "{body}"
    );
    assert!(body["repos"][0].get("owner").is_none(), "{body}");
    assert_eq!(body["email"], "[REDACTED:email]");
    assert_eq!(body["phone"], "[REDACTED:phone]");
    assert_eq!(body["card"], "[REDACTED:credit_card]");
    assert_eq!(body["lastIp"], "[REDACTED:ip_address]");
    assert_eq!(body["apiKey"], "[REDACTED:api_key]");
    assert_eq!(
        body["bio"],
        "Write to [REDACTED:email] or call [REDACTED:phone]"
    );
    assert_eq!(v["piiRedacted"], true);
    let redactions = v["redactions"].as_array().unwrap();
    assert!(
        redactions.contains(&json!({"type": "email", "field": "bio", "count": 1})),
        "{redactions:?}"
    );
    let text = v.to_string();
    for leaked in [
        "octo.cat@example.com",
        "4111 1111",
        "DE8937",
        "billing@example.com",
        "sk-proj-",
    ] {
        assert!(!text.contains(leaked), "{leaked} leaked: {text}");
    }

    let (s, v, _) = w.get("/text").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["body"], "contact <email> today");

    // Asking to see it unfiltered needs a person's approval.
    let (s, v, _) = w
        .execute(json!({"method": "GET", "url": "{upstream}/profile", "bypassPiiRedaction": true}))
        .await;
    assert_eq!(s, 202, "{v}");
    // ... but not where no response rule applies.
    let (s, v, _) = w
        .execute(json!({"method": "GET", "url": "{upstream}/echo/x", "bypassPiiRedaction": true}))
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn streams_are_filtered_line_by_line(backend: Backend) {
    let w = Gw::start(backend, filtering_policy()).await;
    let (s, v, headers) = w
        .execute(json!({"method": "GET", "url": "{upstream}/sse", "stream": true}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(headers["content-type"], "text/event-stream");
    assert!(headers.get("x-mandate-audit-id").is_some());
    let text = v.as_str().unwrap();
    assert!(text.contains("data: {\"msg\":\"hello <email>\"}"), "{text}");
    assert!(text.contains("data: plain <email>"), "{text}");
    assert!(text.contains("event: done"), "{text}");
    assert!(!text.contains("@example.com"), "{text}");

    let (s, v, _) = w
        .execute(json!({"method": "GET", "url": "{upstream}/ndjson", "stream": true}))
        .await;
    assert_eq!(s, 200, "{v}");
    let text = v.as_str().unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            json!({"n": 1, "email": "<email>"}),
            json!({"n": 2, "email": "<email>"})
        ]
    );

    // Unfiltered routes stream untouched.
    let (s, v, _) = w
        .execute(json!({"method": "GET", "url": "{upstream}/echo/s", "stream": true}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["path"], "/echo/s");
}

async fn binary_bodies_and_size_caps(backend: Backend) {
    let w = Gw::start(
        backend,
        json!({"stepUpApproval": "never", "allowlists": [{"baseUrl": "{upstream}"}],
               "rateLimits": {"maxRequestsPerHour": 100, "maxResponseSizeBytes": 4096}}),
    )
    .await;
    let (s, v, _) = w.get("/binary").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["body"]["_binaryContent"], true);
    assert_eq!(v["body"]["contentType"], "image/png");
    assert_eq!(v["body"]["sizeBytes"], 8);
    // download: the raw bytes with the provider's type.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/vault/execute", w.instance.base))
        .bearer_auth(&w.token)
        .header("x-forwarded-for", "10.99.0.1")
        .json(&w.fill(json!({"connectionId": w.connection, "method": "GET", "url": "{upstream}/binary", "download": true})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &[0x89, b'P', b'N', b'G', 0, 1, 2, 3]
    );

    let (s, v, _) = w.get("/big?bytes=1000").await;
    assert_eq!(s, 200, "{v}");
    let (s, v, _) = w.get("/big?bytes=10000").await;
    assert_eq!(s, 413, "{v}");
    assert!(v["error"].as_str().unwrap().contains("4096"), "{v}");
    // A stream whose announced length is past the cap is refused before it starts.
    let (s, v, _) = w
        .execute(json!({"method": "GET", "url": "{upstream}/big?bytes=100000", "stream": true}))
        .await;
    assert_eq!(s, 413, "{v}");
}

async fn redact_rules_scrub_the_outgoing_body(backend: Backend) {
    let w = Gw::start(
        backend,
        json!({"stepUpApproval": "never", "allowlists": [{"baseUrl": "{upstream}"}],
               "rules": {"request": [
                   {"label": "scrub prompts", "match": {"methods": ["POST"], "pii": {"types": ["contact"]}},
                    "action": "redact", "redactConfig": {"types": ["contact"], "fields": ["messages[*].content"]}}
               ]}}),
    )
    .await;
    let (s, v, _) = w
        .execute(json!({"method": "POST", "url": "{upstream}/echo/chat",
            "body": {"to": "keep@example.com", "messages": [{"role": "user", "content": "mail me at jane@example.com"}]}}))
        .await;
    assert_eq!(s, 200, "{v}");
    let sent = &w.upstream.received()[0];
    let sent: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        sent["messages"][0]["content"],
        "mail me at [REDACTED:email]"
    );
    assert_eq!(
        sent["to"], "keep@example.com",
        "fields outside redactConfig.fields stay"
    );
}
