//! Every assertion the token endpoint must refuse, each with the answer the contract gives
//! (`invalid_client`, `"reason": "clock_skew"` for clock problems, 400 for malformed requests)
//! and the exact reason in the audit log.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mandate_crypto::signing::{SigningAlg, SigningKey};
use reqwest::Method;
use serde_json::{Value, json};

use super::*;
use crate::people::{Backend, people_suite};

people_suite!(every_bad_assertion_is_refused_and_audited_with_its_reason);

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn expect_invalid_client(base: &str, assertion: &str, clock_skew: bool, case: &str) {
    let (s, v, _) = token_json(base, assertion).await;
    assert_eq!(s, 401, "{case}: {v}");
    assert_eq!(v["error"], "invalid_client", "{case}");
    assert!(v["hint"].is_string(), "{case}");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    if clock_skew {
        assert_eq!(v["reason"], "clock_skew", "{case}");
        assert_eq!(keys.len(), 3, "{case}: {v}");
    } else {
        assert_eq!(
            keys.len(),
            2,
            "{case}: nothing says which check failed: {v}"
        );
    }
}

async fn every_bad_assertion_is_refused_and_audited_with_its_reason(backend: Backend) {
    let instance = start(backend).await;
    let mut owner = instance.owner("owner@example.com").await;
    let agent = enrolled_agent(&instance, &mut owner, "target", SigningAlg::Es256).await;
    let base = instance.base.as_str();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let kid = agent.key.kid().to_string();
    let claims = agent.claims();

    let mut expected = Vec::new();
    let mut case = |reason: &'static str| expected.push(reason);

    // alg: none, unsigned.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": kid})),
        b64(&claims)
    );
    expect_invalid_client(base, &none, false, "alg none").await;
    case("unsupported_alg");
    // HS256 keyed with the public key.
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "kid": kid})),
        b64(&claims)
    );
    let hmac_key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        agent.key.public_jwk().to_string().as_bytes(),
    );
    let tag = aws_lc_rs::hmac::sign(&hmac_key, input.as_bytes());
    let hs256 = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    expect_invalid_client(base, &hs256, false, "HS256 with the public key").await;
    case("unsupported_alg");
    // EdDSA under the ES256 key's kid.
    let ed = SigningKey::generate(SigningAlg::EdDsa, kid.clone()).unwrap();
    expect_invalid_client(
        base,
        &ed.sign_jwt(&agent.claims()).unwrap(),
        false,
        "other alg",
    )
    .await;
    case("alg_not_the_keys");
    // Another ES256 key under the same kid.
    let other = SigningKey::generate(SigningAlg::Es256, kid.clone()).unwrap();
    expect_invalid_client(
        base,
        &other.sign_jwt(&agent.claims()).unwrap(),
        false,
        "bad signature",
    )
    .await;
    case("bad_signature");
    let wrong_aud =
        agent.assertion_with(|c| c["aud"] = json!("https://elsewhere.example/v1/agents/token"));
    expect_invalid_client(base, &wrong_aud, false, "wrong aud").await;
    case("audience");
    let expired = agent.assertion_with(|c| {
        c["iat"] = json!(now - 200);
        c["exp"] = json!(now - 140);
    });
    expect_invalid_client(base, &expired, true, "expired").await;
    case("expired");
    let future = agent.assertion_with(|c| {
        c["iat"] = json!(now + 120);
        c["exp"] = json!(now + 150);
    });
    expect_invalid_client(base, &future, true, "iat in the future").await;
    case("iat_in_future");
    let long = agent.assertion_with(|c| c["exp"] = json!(now + 120));
    expect_invalid_client(base, &long, false, "lifetime over 60 s").await;
    case("lifetime_over_60s");
    let no_jti = agent.assertion_with(|c| {
        c.as_object_mut().unwrap().remove("jti");
    });
    expect_invalid_client(base, &no_jti, false, "missing jti").await;
    case("missing_jti");
    let once = agent.assertion();
    let (s, _, _) = token_json(base, &once).await;
    assert_eq!(s, 200);
    expect_invalid_client(base, &once, false, "replayed jti").await;
    case("replayed_jti");
    let renamed =
        SigningKey::from_pkcs8_der("not-enrolled", &agent.key.to_pkcs8_der().unwrap()).unwrap();
    expect_invalid_client(
        base,
        &renamed.sign_jwt(&agent.claims()).unwrap(),
        false,
        "unknown kid",
    )
    .await;
    case("unknown_kid");
    let iss = agent.assertion_with(|c| c["iss"] = json!(uuid::Uuid::new_v4().to_string()));
    expect_invalid_client(base, &iss, false, "iss is not sub").await;
    // (no agent to file that one under: it names none)

    // A disabled agent.
    let path = format!("/v1/agents/{}", agent.id);
    let (s, _, _) = owner
        .send(Method::PATCH, &path, Some(json!({"status": "disabled"})))
        .await;
    assert_eq!(s, 200);
    expect_invalid_client(base, &agent.assertion(), false, "disabled agent").await;
    case("agent_disabled");
    let (s, _, _) = owner
        .send(Method::PATCH, &path, Some(json!({"status": "active"})))
        .await;
    assert_eq!(s, 200);

    let mut reasons = audit_reasons(
        &mut owner,
        "agent.assertion.refused",
        &agent.id,
        expected.len(),
    )
    .await;
    reasons.sort();
    expected.sort();
    assert_eq!(reasons, expected);

    // Malformed requests: 400 before any cryptography.
    let big = agent.assertion_with(|c| c["pad"] = json!("x".repeat(9000)));
    let (s, v, _) = token_json(base, &big).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_request")),
        "over 8 KiB: {v}"
    );
    for bad in [
        "not-a-jwt",
        "!!!.e30.AA",
        "e30.bm90IGpzb24.AA",
        "e30.e30.***",
    ] {
        let (s, v, _) = token_json(base, bad).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}: {v}"
        );
    }
    let raw = |body: &'static str, content_type: &'static str| async move {
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/agents/token"))
            .header("content-type", content_type)
            .header("x-forwarded-for", "10.200.0.1")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };
    let (s, v) = raw("{not json", "application/json").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    let (s, v) = raw("[1]", "application/json").await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = raw("grant_type=password", "application/x-www-form-urlencoded").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("unsupported_grant_type")),
        "{v}"
    );
    let (s, v) = raw(
        "grant_type=client_assertion&client_assertion_type=saml&client_assertion=a.b.c",
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    let (s, v) = raw(
        "grant_type=client_assertion",
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = raw("x", "text/plain").await;
    assert_eq!(s, 415);

    // A deleted agent is as unknown as one that never was.
    let (s, _, _) = owner.send(Method::DELETE, &path, None).await;
    assert_eq!(s, 200);
    expect_invalid_client(base, &agent.assertion(), false, "deleted agent").await;
    instance.stop().await;
}
