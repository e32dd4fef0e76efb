//! `/v1/policies`: binding, validation that names the field, versions that refuse lost updates,
//! audit records with before/after hashes, the dry-run, and compiled policies dropped on every
//! replica when a policy changes elsewhere.

use serde_json::json;

use super::{Gw, audit_rows, open_policy};
use crate::people::{Backend, Client, PASSWORD, people_suite};

people_suite!(
    policies_are_versioned_and_audited,
    invalid_documents_name_the_field,
    the_dry_run_explains_without_acting,
);

async fn policies_are_versioned_and_audited(backend: Backend) {
    let mut w = Gw::start(backend, open_policy()).await;
    let (s, again) = w.create_policy(open_policy()).await;
    assert_eq!(s, 409, "one policy per agent and connection: {again}");

    let (s, shown) = w.owner.get(&format!("/v1/policies/{}", w.policy)).await;
    assert_eq!(s, 200, "{shown}");
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["document"]["stepUpApproval"], "never");
    let first_hash = shown["documentHash"].as_str().unwrap().to_string();
    let (s, listed) = w
        .owner
        .get(&format!("/v1/policies?agentId={}", w.agent.id))
        .await;
    assert_eq!(
        (s, listed["policies"].as_array().unwrap().len()),
        (200, 1),
        "{listed}"
    );

    let path = format!("/v1/policies/{}", w.policy);
    let stricter =
        w.fill(json!({"stepUpApproval": "always", "allowlists": [{"baseUrl": "{upstream}"}]}));
    let (s, v, _) = w
        .owner
        .send(
            reqwest::Method::PUT,
            &path,
            Some(json!({"version": 1, "document": stricter})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"], 2);
    assert!(v["auditId"].as_str().is_some());
    let (s, v, _) = w
        .owner
        .send(
            reqwest::Method::PUT,
            &path,
            Some(json!({"version": 1, "document": stricter})),
        )
        .await;
    assert_eq!(s, 409, "a stale version must not overwrite: {v}");

    // The change is in force at once on this replica: a read now needs approval.
    let (s, v, _) = w.get("/echo/x").await;
    assert_eq!(s, 202, "{v}");

    let rows = audit_rows(&w.instance).await;
    let updated = rows.iter().find(|r| r.0 == "policy.updated").unwrap();
    let details: serde_json::Value = serde_json::from_str(updated.3.as_deref().unwrap()).unwrap();
    assert_eq!(details["beforeHash"], first_hash.as_str());
    assert_ne!(details["afterHash"], details["beforeHash"]);
    assert_eq!(details["version"], 2);
    assert!(rows.iter().any(|r| r.0 == "policy.created"));

    let (s, v, _) = w.owner.send(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v, _) = w.get("/echo/x").await;
    assert_eq!(s, 403, "no policy, no access: {v}");
    let (s, _) = w.owner.get(&path).await;
    assert_eq!(s, 404);
    assert!(
        audit_rows(&w.instance)
            .await
            .iter()
            .any(|r| r.0 == "policy.deleted")
    );
}

async fn invalid_documents_name_the_field(backend: Backend) {
    let mut w = Gw::start(backend, open_policy()).await;
    let path = format!("/v1/policies/{}", w.policy);
    let cases = [
        (
            json!({"rules": {"request": [{"match": {"urlPattern": "(["}, "action": "deny"}]}}),
            "document.rules.request[0].match.urlPattern",
        ),
        (
            json!({"allowlists": [{"baseUrl": "https://api.github.com"}]}),
            "document.allowlists[0].baseUrl",
        ),
        (
            json!({"timeWindows": [{"dayOfWeek": 9, "startHour": 0, "endHour": 24, "timezone": "UTC"}]}),
            "document.timeWindows[0].dayOfWeek",
        ),
        (
            json!({"rules": {"response": [{"filter": {"allowFields": ["a"], "denyFields": ["b"]}}]}}),
            "document.rules.response[0].filter",
        ),
        (
            json!({"stepUpApproval": "sometimes"}),
            "document.stepUpApproval",
        ),
        (json!("not an object"), "document"),
    ];
    for (doc, field) in cases {
        let (s, v, _) = w
            .owner
            .send(
                reqwest::Method::PUT,
                &path,
                Some(json!({"version": 1, "document": w.fill(doc.clone())})),
            )
            .await;
        assert_eq!(s, 400, "{doc}: {v}");
        assert!(
            v["error"].as_str().unwrap().starts_with(field),
            "{doc}: {v}"
        );
    }
    let (s, v) = w
        .owner
        .post(
            "/v1/policies",
            json!({"agentId": uuid::Uuid::now_v7(), "connectionId": w.connection, "document": {}}),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = w
        .owner
        .post(
            "/v1/policies",
            json!({"agentId": w.agent.id, "connectionId": "missing", "document": {}}),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    // Nothing was half-written: still version 1.
    let (_, shown) = w.owner.get(&path).await;
    assert_eq!(shown["version"], 1);
}

async fn the_dry_run_explains_without_acting(backend: Backend) {
    let mut w = Gw::start(
        backend,
        json!({"stepUpApproval": "risk_based", "allowlists": [{"baseUrl": "{upstream}", "pathPatterns": ["/echo/**"]}],
               "timeWindows": [{"dayOfWeek": 1, "startHour": 9, "endHour": 17, "timezone": "Europe/Paris"}],
               "rules": {"request": [{"label": "posts to inbox", "match": {"methods": ["POST"], "urlPattern": "/inbox$"}, "action": "allow"}]}}),
    )
    .await;
    let test = format!("/v1/policies/{}/test", w.policy);
    // Monday 2026-12-07 10:00 in Paris.
    let monday = "2026-12-07T09:00:00Z";
    let (s, v) = w
        .owner
        .post(
            &test,
            w.fill(json!({"method": "POST", "url": "{upstream}/echo/inbox", "at": monday})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["decision"]["outcome"], "allow");
    assert_eq!(v["decision"]["ruleLabel"], "posts to inbox");
    assert_eq!(v["hostAllowed"], true);
    let (_, v) = w
        .owner
        .post(
            &test,
            w.fill(json!({"method": "POST", "url": "{upstream}/echo/other", "at": monday})),
        )
        .await;
    assert_eq!(v["decision"]["outcome"], "require_approval");
    assert_eq!(v["decision"]["stage"], "stepUpApproval");
    let (_, v) = w
        .owner
        .post(
            &test,
            w.fill(
                json!({"method": "GET", "url": "{upstream}/echo/x", "at": "2026-12-07T17:30:00Z"}),
            ),
        )
        .await;
    assert_eq!(
        (
            v["decision"]["outcome"].as_str(),
            v["decision"]["stage"].as_str()
        ),
        (Some("deny"), Some("timeWindows")),
        "{v}"
    );
    let (_, v) = w
        .owner
        .post(
            &test,
            w.fill(json!({"method": "GET", "url": "{upstream}/profile", "at": monday})),
        )
        .await;
    assert_eq!(v["decision"]["stage"], "allowlists", "{v}");
    assert!(w.upstream.received().is_empty());
    assert!(
        !audit_rows(&w.instance)
            .await
            .iter()
            .any(|r| r.0.starts_with("vault."))
    );
    // A viewer-level read; agents are refused on management routes.
    let (s, _, _) = crate::agents::agent_request(
        &w.instance.base,
        reqwest::Method::POST,
        &test,
        Some(&w.token),
        Some(json!({})),
        None,
    )
    .await;
    assert_eq!(s, 403);
}

/// PostgreSQL only: SQLite runs one process, whose in-process bus has nobody else to tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_change_on_one_replica_is_in_force_on_the_other() {
    let w = Gw::start(Backend::Postgres, open_policy()).await;
    let (s, v, _) = w.get("/echo/cached").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(w.instance.state.policies.len(), 1, "compiled and cached");

    let replica = w.instance.replica().await;
    let mut owner2 = Client::new(&replica.base);
    let (s, v) = owner2.login("owner@example.com", PASSWORD).await;
    assert_eq!(s, 200, "{v}");
    let path = format!("/v1/policies/{}", w.policy);
    let deny_all = w.fill(json!({"stepUpApproval": "never", "allowlists": [{"baseUrl": "{upstream}", "pathPatterns": ["/nothing"]}]}));
    let (s, v, _) = owner2
        .send(
            reqwest::Method::PUT,
            &path,
            Some(json!({"version": 1, "document": deny_all})),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    let mut refused = false;
    for _ in 0..50 {
        let (s, _, _) = w.get("/echo/cached").await;
        if s == 403 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "replica 1 kept using the old policy");
    replica.stop().await;
}

/// PostgreSQL only (two replicas). Both replicas have the connection cached (each ran a request);
/// revoked through replica 1, it is refused there at once and on replica 2 as soon as the change
/// bus delivers, with the contract's 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_revoked_connection_stops_on_every_replica() {
    let mut w = Gw::start(Backend::Postgres, open_policy()).await;
    let replica = w.instance.replica().await;
    assert_eq!(w.get("/echo/one").await.0, 200);
    let (s, v, _) = execute_on(&w, &replica.base, "/echo/two").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(w.instance.state.connections.len(), 1, "cached");
    assert_eq!(replica.state.connections.len(), 1, "cached");

    w.owner.enrol_totp().await; // revoking needs a fresh second factor
    let (s, v, _) = w
        .owner
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/connections/{}", w.connection),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v, _) = w.get("/echo/three").await;
    assert_eq!(s, 409, "this replica, at once: {v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // Requests replica 2 let through before the bus delivered (usually none).
    let mut late = 0;
    loop {
        let (s, v, _) = execute_on(&w, &replica.base, "/echo/four").await;
        if s == 409 {
            break;
        }
        assert_eq!(s, 200, "{v}");
        late += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "replica 2 kept using the revoked connection"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        w.upstream.received().len(),
        2 + late,
        "nothing reached the provider after the revocation was known"
    );
    replica.stop().await;
}

/// `GET {upstream}{path}` through the gateway at `base` (another replica), as the agent.
async fn execute_on(
    w: &Gw,
    base: &str,
    path: &str,
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let body = w.fill(
        json!({"model": "B", "connectionId": w.connection, "method": "GET",
        "url": format!("{{upstream}}{path}")}),
    );
    crate::agents::agent_request(
        base,
        reqwest::Method::POST,
        "/v1/vault/execute",
        Some(&w.token),
        Some(body),
        None,
    )
    .await
}
