//! Pasted secrets checked with a validation call; revocation (at the provider, ciphertext
//! deleted, step-up needed); agents see only the connections a policy binds them to.

use mandate_crypto::signing::SigningAlg;
use mandate_server::connections::access::{AccessError, credential_for_use};
use serde_json::json;

use super::{World, audit_dump, connect, sealed_credential};
use crate::agents::{agent_request, enrolled_agent};
use crate::people::{Backend, people_suite};

people_suite!(
    pasted_secrets_are_validated_before_they_are_stored,
    revoking_calls_the_provider_and_deletes_the_ciphertext,
    agents_see_only_the_connections_they_are_bound_to,
);

const API_KEY: &str = "sk-test-7a2b9c4d";

async fn delete(client: &mut crate::people::Client, id: &str) -> (u16, serde_json::Value) {
    let (s, v, _) = client
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/connections/{id}"),
            None,
        )
        .await;
    (s, v)
}

async fn pasted_secrets_are_validated_before_they_are_stored(backend: Backend) {
    let mut w = World::start(backend).await;
    let paste = |status_url: String| {
        json!({ "provider": "generic_bearer", "label": "Internal API", "secret": API_KEY,
                "apiHosts": ["127.0.0.1"], "validateUrl": status_url })
    };
    let userinfo = format!("{}/userinfo", w.peer.base);

    w.peer.set(json!({ "userinfoStatus": 401 })).await;
    let (s, v) = w
        .owner
        .post("/v1/connections", paste(userinfo.clone()))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("refused the secret (HTTP 401)"),
        "{v}"
    );
    let (_, listed) = w.owner.get("/v1/connections").await;
    assert_eq!(listed["connections"].as_array().unwrap().len(), 0);

    w.peer.set(json!({ "userinfoStatus": 200 })).await;
    let (s, c) = w
        .owner
        .post("/v1/connections", paste(userinfo.clone()))
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["state"], "active");
    assert!(!c.to_string().contains(API_KEY));
    // The key went to the validation call as the catalog says (bearer).
    let calls = w.peer.events("userinfo");
    assert_eq!(
        calls.last().unwrap()["authorization"],
        format!("Bearer {API_KEY}")
    );
    let id = c["id"].as_str().unwrap();
    let used = credential_for_use(&w.instance.state, w.workspace, id)
        .await
        .unwrap();
    assert_eq!(used.credential.api_token(), Some(API_KEY));
    assert!(
        !sealed_credential(&w.instance, id)
            .await
            .unwrap()
            .contains(API_KEY)
    );

    for (body, says) in [
        (
            json!({ "provider": "generic_bearer", "secret": API_KEY }),
            "apiHosts",
        ),
        (
            json!({ "provider": "generic_bearer", "secret": API_KEY, "apiHosts": ["127.0.0.1"], "validateUrl": "https://elsewhere.example/x" }),
            "validateUrl",
        ),
        (
            json!({ "provider": "generic_oauth2", "secret": API_KEY }),
            "OAuth",
        ),
        (
            json!({ "provider": "generic_basic", "secret": API_KEY, "apiHosts": ["api.example.com"] }),
            "username",
        ),
        (json!({ "provider": "openai", "secret": "" }), "secret"),
        (
            json!({ "provider": "openai", "secret": API_KEY, "apiHosts": ["evil.example"] }),
            "generic",
        ),
        (
            json!({ "provider": "nope", "secret": API_KEY }),
            "no provider",
        ),
    ] {
        let (s, v) = w.owner.post("/v1/connections", body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{body}: {v}");
    }
    // A provider whose validation host cannot be reached from here (no internet): 502, nothing stored.
    let (s, v) = w
        .owner
        .post(
            "/v1/connections",
            json!({ "provider": "openai", "secret": API_KEY }),
        )
        .await;
    assert_eq!(s, 502, "{v}");
    let (_, listed) = w.owner.get("/v1/connections").await;
    assert_eq!(listed["connections"].as_array().unwrap().len(), 1);
    let (text, _) = audit_dump(&w.instance).await;
    assert!(!text.contains(API_KEY));
}

async fn revoking_calls_the_provider_and_deletes_the_ciphertext(backend: Backend) {
    let mut w = World::start(backend).await;
    let (s, c) = connect(&mut w.owner, json!({ "oauthAppId": w.app_id })).await;
    assert_eq!(s, 200, "{c}");
    let id = c["id"].as_str().unwrap().to_string();

    // Deleting a connection needs a fresh second factor.
    let (s, v) = delete(&mut w.owner, &id).await;
    assert_eq!(s, 403, "{v}");
    w.owner.enrol_totp().await;
    w.owner.step_up().await;
    let (s, v) = delete(&mut w.owner, &id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "revoked");
    assert!(v["auditId"].is_string());
    assert_eq!(w.peer.events("revoke").len(), 1);
    assert_eq!(sealed_credential(&w.instance, &id).await, None);
    assert!(matches!(
        credential_for_use(&w.instance.state, w.workspace, &id).await,
        Err(AccessError::Revoked)
    ));
    let (s, _) = delete(&mut w.owner, &id).await;
    assert_eq!(s, 409);
    let (text, _) = audit_dump(&w.instance).await;
    assert!(
        text.contains("connection.revoked") && text.contains(r#""providerRevocation":"revoked""#),
        "{text}"
    );
}

async fn agents_see_only_the_connections_they_are_bound_to(backend: Backend) {
    let mut w = World::start(backend).await;
    let (_, bound) = connect(
        &mut w.owner,
        json!({ "oauthAppId": w.app_id, "label": "Bound" }),
    )
    .await;
    let (_, other) = connect(
        &mut w.owner,
        json!({ "oauthAppId": w.app_id, "label": "Other" }),
    )
    .await;
    let agent = enrolled_agent(&w.instance, &mut w.owner, "mail bot", SigningAlg::Es256).await;
    let token = agent.token().await;

    let (s, v, _) = agent_request(
        &w.instance.base,
        reqwest::Method::GET,
        "/v1/connections",
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["connections"].as_array().unwrap().len(), 0);

    mandate_store::policies::create(
        &w.instance.state.db,
        &mandate_store::policies::NewPolicy {
            id: uuid::Uuid::now_v7(),
            workspace_id: w.workspace,
            agent_id: agent.id.parse().unwrap(),
            connection_id: bound["id"].as_str().unwrap(),
            document: r#"{"allowedModels":["B"]}"#,
            created_by: None,
        },
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let (s, v, _) = agent_request(
        &w.instance.base,
        reqwest::Method::GET,
        "/v1/connections",
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let listed = v["connections"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], bound["id"]);
    assert_eq!(listed[0]["state"], "active");
    assert!(listed[0].get("createdBy").is_none() && listed[0].get("oauthAppId").is_none());
    assert_ne!(listed[0]["id"], other["id"]);
    // The rest of the connection routes stay closed to agents.
    let (s, _, _) = agent_request(
        &w.instance.base,
        reqwest::Method::GET,
        &format!("/v1/connections/{}", bound["id"].as_str().unwrap()),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(s, 403);
    // People still see all of them.
    let (_, v) = w.owner.get("/v1/connections").await;
    assert_eq!(v["connections"].as_array().unwrap().len(), 2);
}
