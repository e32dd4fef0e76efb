//! Model A, token vending, against the OAuth peer (npm oauth2-mock-server): the current access
//! token, refreshed first when it is about to expire, with at most an hour in `expiresIn`;
//! never a refresh token; refused where the policy allows only model B and for long-lived
//! secrets.

use mandate_crypto::signing::SigningAlg;
use serde_json::{Value, json};

use crate::agents::{agent_request, enrolled_agent};
use crate::connections::{World, audit_dump, connect};
use crate::gateway::UPSTREAM_SECRET;
use crate::people::{Backend, people_suite};

people_suite!(model_a_vends_a_short_lived_token_and_nothing_more);

async fn vend(base: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (s, v, _) = agent_request(
        base,
        reqwest::Method::POST,
        path,
        Some(token),
        Some(body),
        None,
    )
    .await;
    (s, v)
}

async fn model_a_vends_a_short_lived_token_and_nothing_more(backend: Backend) {
    let mut w = World::start(backend).await;
    // Expires in 30 s: within the refresh margin, so vending refreshes first.
    w.peer.set(json!({ "expiresIn": 30 })).await;
    let (s, c) = connect(&mut w.owner, json!({ "oauthAppId": w.app_id })).await;
    assert_eq!(s, 200, "{c}");
    w.peer.set(json!({ "expiresIn": 7200 })).await;
    let connection = c["id"].as_str().unwrap().to_string();
    let agent = enrolled_agent(
        &w.instance,
        &mut w.owner,
        "vending agent",
        SigningAlg::Es256,
    )
    .await;
    let token = agent.token().await;
    let (s, p) = w
        .owner
        .post("/v1/policies", json!({"agentId": agent.id, "connectionId": connection,
            "document": {"allowedModels": ["A", "B"], "allowlists": [{"baseUrl": "https://api.example.com"}]}}))
        .await;
    assert_eq!(s, 201, "{p}");

    let base = w.instance.base.clone();
    let (s, v) = vend(
        &base,
        &token,
        "/v1/vault/execute",
        json!({"model": "A", "connectionId": connection}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["model"], "A");
    assert_eq!(v["tokenType"], "Bearer");
    let expires_in = v["expiresIn"].as_i64().unwrap();
    assert!((3000..=3600).contains(&expires_in), "{v}");
    assert_eq!(
        w.peer.token_requests("refresh_token").len(),
        1,
        "refreshed before vending"
    );
    let vended = v["accessToken"].as_str().unwrap().to_string();
    assert!(!v.to_string().contains("refresh"), "{v}");
    let (s, again) = vend(
        &base,
        &token,
        "/v1/vault/token",
        json!({"connectionId": connection}),
    )
    .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        again["accessToken"],
        vended.as_str(),
        "fresh now: the same token"
    );

    let (text, actions) = audit_dump(&w.instance).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "vault.token.vended")
            .count(),
        2
    );
    assert!(
        !text.contains(&vended),
        "the vended token is in the audit log"
    );

    // Only model B allowed: refused.
    let (_, shown) = w
        .owner
        .get(&format!("/v1/policies/{}", p["id"].as_str().unwrap()))
        .await;
    let (s, v, _) = w
        .owner
        .send(
            reqwest::Method::PUT,
            &format!("/v1/policies/{}", p["id"].as_str().unwrap()),
            Some(json!({"version": shown["version"], "document": {"allowedModels": ["B"], "allowlists": [{"baseUrl": "https://api.example.com"}]}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = vend(
        &base,
        &token,
        "/v1/vault/token",
        json!({"connectionId": connection}),
    )
    .await;
    assert_eq!(s, 403, "{v}");

    // A pasted long-lived secret is never handed out.
    let (s, pasted) = w
        .owner
        .post("/v1/connections", json!({"provider": "generic_bearer", "label": "Key", "secret": UPSTREAM_SECRET, "apiHosts": ["api.example.com"]}))
        .await;
    assert_eq!(s, 201, "{pasted}");
    let (s, v) = w
        .owner
        .post(
            "/v1/policies",
            json!({"agentId": agent.id, "connectionId": pasted["id"],
            "document": {"allowedModels": ["A"]}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = vend(
        &base,
        &token,
        "/v1/vault/token",
        json!({"connectionId": pasted["id"]}),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert!(!v.to_string().contains(UPSTREAM_SECRET));
}
