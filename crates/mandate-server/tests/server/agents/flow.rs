//! The agent's life: enroll, exchange, call, replay refused on two replicas, rotate, revoke,
//! disable, delete.

use mandate_crypto::signing::{SigningAlg, SigningKey};
use reqwest::Method;
use serde_json::json;

use super::*;
use crate::people::{Backend, people_suite};

people_suite!(
    enroll_exchange_call_and_replay_on_two_replicas,
    a_bootstrap_secret_works_once_even_on_two_replicas_at_once,
    rotation_revocation_disabling_and_deletion_end_tokens,
    a_replica_with_a_stale_key_cache_issues_nothing,
);

async fn me(base: &str, token: &str) -> (u16, serde_json::Value) {
    let (s, v, _) =
        agent_request(base, Method::GET, "/v1/agents/me", Some(token), None, None).await;
    (s, v)
}

async fn enroll_exchange_call_and_replay_on_two_replicas(backend: Backend) {
    let instance = start(backend).await;
    let replica = instance.replica().await;
    let mut owner = instance.owner("owner@example.com").await;
    let agent = enrolled_agent(&instance, &mut owner, "mail bot", SigningAlg::Es256).await;

    // Both replicas are the audience (without PUBLIC_URL each answers to its own address), so
    // what refuses the replay on the second one is the jti alone.
    let both = json!([
        format!("{}/v1/agents/token", instance.base),
        format!("{}/v1/agents/token", replica.base),
    ]);
    let assertion = agent.assertion_with(|c| c["aud"] = both.clone());
    let (s, v, headers) = token_json(&instance.base, &assertion).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 7200);
    assert_eq!(headers["cache-control"], "no-store");
    let token = v["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("mandate_at_"));
    let (s, v) = me(&instance.base, &token).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["agentId"], agent.id.as_str());
    assert_eq!(v["status"], "active");
    assert_eq!(v["currentKid"], "mail-bot-key-1");
    // The same token on the other replica, and in the other headers the contract allows.
    let (s, _) = me(&replica.base, &token).await;
    assert_eq!(s, 200);
    for header in ["x-api-key", "x-goog-api-key"] {
        let r = reqwest::Client::new()
            .get(format!("{}/v1/agents/me", instance.base))
            .header(header, &token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{header}");
    }

    // Replayed: refused here and on the other replica.
    for base in [&instance.base, &replica.base] {
        let (s, v, _) = token_json(base, &assertion).await;
        assert_eq!(s, 401, "{v}");
        assert_eq!(v["error"], "invalid_client");
        assert!(v.get("reason").is_none());
    }
    // The same assertion sent to both replicas at the same moment: one token.
    let fresh = agent.assertion_with(|c| c["aud"] = both.clone());
    let (a, b) = tokio::join!(
        token_json(&instance.base, &fresh),
        token_json(&replica.base, &fresh)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 401]);
    let reasons = audit_reasons(&mut owner, "agent.assertion.refused", &agent.id, 3).await;
    assert!(reasons.iter().all(|r| r == "replayed_jti"), "{reasons:?}");

    // Form-encoded, as OAuth clients send it; the RFC 7523 grant name too.
    let form_assertion = agent.assertion();
    let (s, v, _) = token_form(
        &instance.base,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &form_assertion),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // The management view shows the key and when the agent was last seen.
    let (s, v) = owner.get(&format!("/v1/agents/{}", agent.id)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    assert_eq!(v["keys"][0]["alg"], "ES256");
    assert!(v["lastSeenAt"].is_string());
    assert!(v["bootstrapSecretExpiresAt"].is_null());
    assert!(v.get("bootstrapSecret").is_none());
    let (s, v) = owner.get("/v1/agents").await;
    assert_eq!(s, 200);
    assert_eq!(v["agents"].as_array().unwrap().len(), 1);
    replica.stop().await;
    instance.stop().await;
}

async fn a_bootstrap_secret_works_once_even_on_two_replicas_at_once(backend: Backend) {
    let instance = start(backend).await;
    let replica = instance.replica().await;
    let mut owner = instance.owner("owner@example.com").await;
    let (id, secret) = create_agent(&mut owner, "racer").await;
    let k1 = SigningKey::generate(SigningAlg::Es256, "k1").unwrap();
    let k2 = SigningKey::generate(SigningAlg::EdDsa, "k2").unwrap();
    let (a, b) = tokio::join!(
        bootstrap(&instance.base, &secret, &k1),
        bootstrap(&replica.base, &secret, &k2)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "{a:?} {b:?}");
    let (s, v) = bootstrap(&instance.base, &secret, &k1).await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"], "invalid or expired bootstrap secret");
    let (_, v) = owner.get(&format!("/v1/agents/{id}")).await;
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);

    // A key with its private part is refused, and the value is not echoed.
    let (s, new) = owner
        .post(&format!("/v1/agents/{id}/bootstrap-secret"), json!(null))
        .await;
    assert_eq!(s, 201, "{new}");
    let mut private = k1.public_jwk();
    private["d"] = json!("c2VjcmV0LXByaXZhdGUta2V5LW1hdGVyaWFs");
    let (s, v, _) = agent_request(
        &instance.base,
        Method::POST,
        "/v1/agents/bootstrap",
        None,
        Some(json!({ "bootstrapSecret": new["bootstrapSecret"], "publicKey": private })),
        None,
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(!v.to_string().contains("c2VjcmV0"), "{v}");
    for bad in [
        json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
        json!("not a key"),
    ] {
        let (s, _, _) = agent_request(
            &instance.base,
            Method::POST,
            "/v1/agents/bootstrap",
            None,
            Some(json!({ "bootstrapSecret": new["bootstrapSecret"], "publicKey": bad })),
            None,
        )
        .await;
        assert_eq!(s, 400);
    }
    // The refused attempts did not use the secret.
    let (s, v) = bootstrap(
        &instance.base,
        new["bootstrapSecret"].as_str().unwrap(),
        &k2,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    replica.stop().await;
    instance.stop().await;
}

async fn rotation_revocation_disabling_and_deletion_end_tokens(backend: Backend) {
    let instance = start(backend).await;
    let mut owner = instance.owner("owner@example.com").await;
    let agent = enrolled_agent(&instance, &mut owner, "rotator", SigningAlg::EdDsa).await;
    let old_token = agent.token().await;

    // Disabled: its token fails on the next request, and it gets no new one.
    let path = format!("/v1/agents/{}", agent.id);
    let (s, v, _) = owner
        .send(Method::PATCH, &path, Some(json!({"status": "disabled"})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "disabled");
    assert_eq!(me(&instance.base, &old_token).await.0, 401);
    let (s, _, _) = token_json(&instance.base, &agent.assertion()).await;
    assert_eq!(s, 401);
    let (s, v, _) = owner
        .send(Method::PATCH, &path, Some(json!({"status": "active"})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(me(&instance.base, &old_token).await.0, 200);

    // Rotation: a new key, proven by the current one and bound to the new key's thumbprint.
    let new_key = SigningKey::generate(SigningAlg::Es256, "rotator-key-2").unwrap();
    let add = |assertion: String, jwk: serde_json::Value| {
        let base = instance.base.clone();
        async move {
            agent_request(
                &base,
                Method::POST,
                "/v1/agents/keys",
                None,
                Some(json!({ "clientAssertion": assertion, "publicKey": jwk })),
                None,
            )
            .await
        }
    };
    let keys_aud = format!("{}/v1/agents/keys", instance.base);
    let unbound = agent.assertion_with(|c| c["aud"] = json!(keys_aud));
    let (s, v, _) = add(unbound, new_key.public_jwk()).await;
    assert_eq!(s, 401, "without cnf.jkt: {v}");
    let bound = agent.assertion_with(|c| {
        c["aud"] = json!(keys_aud);
        c["cnf"] = json!({ "jkt": new_key.thumbprint() });
    });
    let (s, v, _) = add(bound.clone(), new_key.public_jwk()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["kid"], "rotator-key-2");
    let (s, _, _) = add(bound, new_key.public_jwk()).await;
    assert_eq!(s, 401, "the rotation assertion works once");
    let rotated = AgentHost {
        id: agent.id.clone(),
        key: new_key,
        base: instance.base.clone(),
    };
    let new_token = rotated.token().await;
    // The agent revokes its old key: tokens the old key got end, the old key gets no new one.
    let (s, v, _) = agent_request(
        &instance.base,
        Method::DELETE,
        "/v1/agents/keys/rotator-key-1",
        Some(&new_token),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(me(&instance.base, &old_token).await.0, 401);
    assert_eq!(me(&instance.base, &new_token).await.0, 200);
    let (s, _, _) = token_json(&instance.base, &agent.assertion()).await;
    assert_eq!(s, 401);
    // Its last key it cannot revoke itself.
    let (s, v, _) = agent_request(
        &instance.base,
        Method::DELETE,
        "/v1/agents/keys/rotator-key-2",
        Some(&new_token),
        None,
        None,
    )
    .await;
    assert_eq!(s, 409, "{v}");
    // A person can (the agent is then locked out until re-bootstrapped).
    let (s, v, _) = owner
        .send(Method::DELETE, &format!("{path}/keys/rotator-key-2"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(me(&instance.base, &new_token).await.0, 401);

    // Re-bootstrap replaces the keys; deleting ends everything.
    let (s, v) = owner
        .post(&format!("{path}/bootstrap-secret"), json!(null))
        .await;
    assert_eq!(s, 201, "{v}");
    let third = SigningKey::generate(SigningAlg::Es256, "rotator-key-3").unwrap();
    let (s, v) = bootstrap(
        &instance.base,
        v["bootstrapSecret"].as_str().unwrap(),
        &third,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let host = AgentHost {
        id: agent.id.clone(),
        key: third,
        base: instance.base.clone(),
    };
    let token = host.token().await;
    let (s, _, _) = owner.send(Method::DELETE, &path, None).await;
    assert_eq!(s, 200);
    assert_eq!(me(&instance.base, &token).await.0, 401);
    let (s, v, _) = token_json(&instance.base, &host.assertion()).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
    instance.stop().await;
}

/// Replica 1 caches the agent's keys; the agent is changed through replica 2. The write on
/// replica 1 re-checks the database, so its stale cache buys nothing; a key added elsewhere is
/// found by one fresh read.
async fn a_replica_with_a_stale_key_cache_issues_nothing(backend: Backend) {
    let first = start(backend).await;
    let second = first.replica().await;
    let mut owner = second.owner("owner@example.com").await;
    let agent = enrolled_agent(&first, &mut owner, "cached", SigningAlg::Es256).await;
    let both = json!([
        format!("{}/v1/agents/token", first.base),
        format!("{}/v1/agents/token", second.base),
    ]);
    let assertion = || agent.assertion_with(|c| c["aud"] = both.clone());
    // Replica 1 now has the agent cached.
    let (s, v, _) = token_json(&first.base, &assertion()).await;
    assert_eq!(s, 200, "{v}");

    let path = format!("/v1/agents/{}", agent.id);
    let (s, _, _) = owner
        .send(Method::PATCH, &path, Some(json!({"status": "disabled"})))
        .await;
    assert_eq!(s, 200);
    let (s, v, _) = token_json(&first.base, &assertion()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (401, Some("invalid_client")),
        "{v}"
    );
    let reasons = audit_reasons(&mut owner, "agent.assertion.refused", &agent.id, 1).await;
    assert_eq!(reasons, ["agent_disabled"]);
    let (s, _, _) = owner
        .send(Method::PATCH, &path, Some(json!({"status": "active"})))
        .await;
    assert_eq!(s, 200);
    let (s, v, _) = token_json(&first.base, &assertion()).await;
    assert_eq!(s, 200, "enabled again: {v}");

    // The key revoked through replica 2 (after a rotation there): replica 1 refuses it.
    let new_key = SigningKey::generate(SigningAlg::EdDsa, "cached-key-2").unwrap();
    let bound = agent.assertion_with(|c| {
        c["aud"] = json!(format!("{}/v1/agents/keys", second.base));
        c["cnf"] = json!({ "jkt": new_key.thumbprint() });
    });
    let (s, v, _) = agent_request(
        &second.base,
        Method::POST,
        "/v1/agents/keys",
        None,
        Some(json!({ "clientAssertion": bound, "publicKey": new_key.public_jwk() })),
        None,
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, _, _) = owner
        .send(Method::DELETE, &format!("{path}/keys/cached-key-1"), None)
        .await;
    assert_eq!(s, 200);
    let (s, v, _) = token_json(&first.base, &assertion()).await;
    assert_eq!(s, 401, "the revoked key, cached on replica 1: {v}");
    let reasons = audit_reasons(&mut owner, "agent.assertion.refused", &agent.id, 2).await;
    // Replica 1 verified the signature with its cached copy of the key; the write said no.
    assert_eq!(reasons[0], "key_revoked", "{reasons:?}");
    // The key added on replica 2 works on replica 1.
    let rotated = AgentHost {
        id: agent.id.clone(),
        key: new_key,
        base: first.base.clone(),
    };
    let (s, v, _) = token_json(&first.base, &rotated.assertion()).await;
    assert_eq!(s, 200, "{v}");
    second.stop().await;
    first.stop().await;
}

/// Replica 1 has the agent's access token cached (it answered with it); the agent is disabled
/// through replica 2. The change bus tells replica 1, which refuses the token from then on
/// (the bus's delivery time, well under the cache's one-minute bound); enabled again, it works.
/// PostgreSQL only: SQLite runs one process, whose in-process bus has nobody else to tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_token_cached_on_one_replica_ends_when_another_disables_the_agent() {
    let first = start(Backend::Postgres).await;
    let second = first.replica().await;
    let mut owner = second.owner("owner@example.com").await;
    let agent = enrolled_agent(&first, &mut owner, "cached-token", SigningAlg::Es256).await;
    let token = agent.token().await;
    assert_eq!(me(&first.base, &token).await.0, 200);
    assert_eq!(me(&first.base, &token).await.0, 200, "now from the cache");

    let path = format!("/v1/agents/{}", agent.id);
    let (s, v, _) = owner
        .send(Method::PATCH, &path, Some(json!({"status": "disabled"})))
        .await;
    assert_eq!(s, 200, "{v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (s, v) = me(&first.base, &token).await;
        if s == 401 {
            break;
        }
        assert_eq!(s, 200, "{v}");
        assert!(
            std::time::Instant::now() < deadline,
            "replica 1 still accepts the disabled agent's token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(me(&second.base, &token).await.0, 401);
    let (s, v, _) = owner
        .send(Method::PATCH, &path, Some(json!({"status": "active"})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(me(&first.base, &token).await.0, 200, "enabled again");
    second.stop().await;
    first.stop().await;
}
