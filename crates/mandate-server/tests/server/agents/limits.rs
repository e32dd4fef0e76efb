//! Per-IP limits held across two replicas (enrollment 5 a minute, token exchange 30 a minute),
//! and the wall between the two kinds of routes: agent tokens get 403 on every management route,
//! people's credentials get nowhere on agent routes.

use mandate_crypto::signing::{SigningAlg, SigningKey};
use mandate_server::auth::permissions::{AGENT_ROUTES, ROUTES};
use reqwest::Method;
use serde_json::json;

use super::*;
use crate::people::{Backend, people_suite};

people_suite!(
    enrollment_and_token_limits_hold_across_replicas,
    the_token_limit_counts_good_exchanges_too,
    agent_tokens_are_refused_on_every_management_route,
);

/// The limits count in one-minute windows: start a burst early in a window so it fits in one.
async fn at_the_start_of_a_minute() {
    let second = time::OffsetDateTime::now_utc().second();
    if second > 40 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(61 - second))).await;
    }
}

async fn enrollment_and_token_limits_hold_across_replicas(backend: Backend) {
    let instance = start(backend).await;
    let replica = instance.replica().await;
    let key = SigningKey::generate(SigningAlg::Es256, "k").unwrap();
    at_the_start_of_a_minute().await;
    let bases = [instance.base.clone(), replica.base.clone()];
    for i in 0..6 {
        let (s, v, headers) = agent_request(
            &bases[i % 2],
            Method::POST,
            "/v1/agents/bootstrap",
            None,
            Some(json!({ "bootstrapSecret": "mandate_bs_wrong", "publicKey": key.public_jwk() })),
            Some("10.250.0.1"),
        )
        .await;
        if i < 5 {
            assert_eq!(s, 401, "attempt {i}: {v}");
        } else {
            assert_eq!(
                s, 429,
                "the sixth enrollment in a minute, on either replica: {v}"
            );
            assert!(headers.contains_key("retry-after"));
            assert!(v["retryAfter"].as_u64().unwrap() >= 1);
        }
    }
    for i in 0..31 {
        let (s, v, headers) = token_json_from(&bases[i % 2], "a.b.c", Some("10.250.0.2")).await;
        if i < 30 {
            assert_eq!(s, 400, "attempt {i}: {v}");
        } else {
            assert_eq!(s, 429, "the 31st exchange in a minute: {v}");
            assert!(headers.contains_key("retry-after"));
        }
    }
    replica.stop().await;
    instance.stop().await;
}

/// Good assertions of a cached agent are counted by the write itself (one statement on
/// PostgreSQL): the 31st in a minute from one address gets 429 and no token, on either replica.
async fn the_token_limit_counts_good_exchanges_too(backend: Backend) {
    let instance = start(backend).await;
    let replica = instance.replica().await;
    let mut owner = instance.owner("owner@example.com").await;
    let agent = enrolled_agent(&instance, &mut owner, "busy", SigningAlg::Es256).await;
    let both = json!([
        format!("{}/v1/agents/token", instance.base),
        format!("{}/v1/agents/token", replica.base),
    ]);
    // Both replicas cache the agent first (from other addresses).
    for base in [&instance.base, &replica.base] {
        let (s, v, _) = token_json(base, &agent.assertion_with(|c| c["aud"] = both.clone())).await;
        assert_eq!(s, 200, "{v}");
    }
    at_the_start_of_a_minute().await;
    let bases = [instance.base.clone(), replica.base.clone()];
    for i in 0..31 {
        let assertion = agent.assertion_with(|c| c["aud"] = both.clone());
        let (s, v, headers) = token_json_from(&bases[i % 2], &assertion, Some("10.250.0.3")).await;
        if i < 30 {
            assert_eq!(s, 200, "exchange {i}: {v}");
        } else {
            assert_eq!(s, 429, "the 31st good exchange in a minute: {v}");
            assert!(headers.contains_key("retry-after"));
            // Over the limit nothing was written: the same assertion works from elsewhere.
            let (s, v, _) = token_json(&bases[0], &assertion).await;
            assert_eq!(s, 200, "{v}");
        }
    }
    replica.stop().await;
    instance.stop().await;
}

async fn agent_tokens_are_refused_on_every_management_route(backend: Backend) {
    let instance = start(backend).await;
    let mut owner = instance.owner("owner@example.com").await;
    let agent = enrolled_agent(&instance, &mut owner, "boxed in", SigningAlg::Es256).await;
    let token = agent.token().await;
    let agent_path = |template: &str| {
        template
            .replace("{agentId}", &agent.id)
            .replace("{kid}", agent.key.kid())
            .split('/')
            .map(|p| {
                if p.starts_with('{') {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    p.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut checked = 0;
    for (method, template, _) in ROUTES {
        if AGENT_ROUTES
            .iter()
            .any(|(m, p)| m == method && p == template)
        {
            // Shared by the contract (`GET /v1/connections`): agents get their own view there
            // (tested in connections::pasted).
            checked += 1;
            continue;
        }
        let path = agent_path(template);
        let body = matches!(*method, Method::POST | Method::PATCH).then(|| json!({}));
        for header in ["authorization", "x-api-key"] {
            let mut req =
                reqwest::Client::new().request(method.clone(), format!("{}{path}", instance.base));
            req = if header == "authorization" {
                req.bearer_auth(&token)
            } else {
                req.header(header, &token)
            };
            if let Some(body) = &body {
                req = req.json(body);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(
                status, 403,
                "{method} {template} with an agent token in {header}: {v}"
            );
            assert_eq!(v["error"], "agent tokens cannot call management routes");
        }
        checked += 1;
    }
    assert_eq!(checked, ROUTES.len());
    // Nothing changed: the agent is still there with its key.
    let (s, v) = owner.get(&format!("/v1/agents/{}", agent.id)).await;
    assert_eq!(s, 200);
    assert!(v["keys"][0]["revokedAt"].is_null());

    // The other way round: people's credentials do not open agent routes.
    let (s, pat) = owner
        .post(
            "/v1/tokens",
            json!({ "name": "script", "access": "write", "expiresInDays": 1 }),
        )
        .await;
    assert_eq!(s, 201);
    for (method, template) in AGENT_ROUTES {
        if template.ends_with("/bootstrap")
            || template.ends_with("/token")
            || *template == "/v1/agents/keys"
        {
            continue; // no credential at all: the assertion or the secret is the proof
        }
        if ROUTES.iter().any(|(m, p, _)| m == method && p == template) {
            continue; // shared with people (`GET /v1/connections`)
        }
        let path = agent_path(template);
        let (s, v, _) = agent_request(
            &instance.base,
            method.clone(),
            &path,
            pat["token"].as_str(),
            None,
            None,
        )
        .await;
        assert_eq!(
            s, 403,
            "{method} {template} with a personal access token: {v}"
        );
        let (s, _, _) = owner.send(method.clone(), &path, None).await;
        assert_eq!(s, 401, "{method} {template} with a session cookie");
        let (s, _, _) =
            agent_request(&instance.base, method.clone(), &path, None, None, None).await;
        assert_eq!(s, 401, "{method} {template} without a token");
    }
    instance.stop().await;
}
