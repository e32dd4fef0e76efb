//! Model B decisions and what reaches the upstream: allowed with the credential injected and the
//! agent's own credentials and hop-by-hop headers held back, denied by the allowlist and by a
//! rule, approval asked and redeemed once, hourly limits, time windows, hosts outside the
//! connection, and SSRF (a redirect to the metadata address is returned, not followed).

use serde_json::json;

use super::{Gw, UPSTREAM_SECRET, audit_rows, open_policy};
use crate::people::{Backend, people_suite};

people_suite!(
    allowed_requests_carry_the_credential_and_nothing_of_the_agent,
    the_allowlist_and_rules_deny_with_the_contract_codes,
    approval_is_asked_and_an_approved_request_runs_once,
    hourly_limits_and_time_windows_hold,
    the_credential_never_leaves_its_hosts,
);

async fn allowed_requests_carry_the_credential_and_nothing_of_the_agent(backend: Backend) {
    let w = Gw::start(backend, open_policy()).await;
    let (s, v, _) = w
        .execute(json!({
            "model": "B", "method": "POST", "url": "{upstream}/echo/items?x=1",
            "query": {"page": 2},
            "headers": {"Authorization": "Bearer agent-own", "Cookie": "sid=agent", "X-API-Key": "agent-key",
                        "Proxy-Authorization": "Basic eA==", "Connection": "x-hop", "X-Hop": "1",
                        "Accept-Encoding": "gzip", "X-Request-Tag": "kept", "Content-Type": "application/json"},
            "body": {"title": "hello"}
        }))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["model"], "B");
    assert_eq!(v["status"], 200);
    assert!(v["auditId"].as_str().is_some(), "{v}");
    // The reply: the upstream's JSON, its headers without Set-Cookie.
    assert_eq!(v["body"]["method"], "POST");
    assert_eq!(v["body"]["query"], "x=1&page=2");
    assert_eq!(v["body"]["body"], "{\"title\":\"hello\"}");
    assert_eq!(v["headers"]["x-upstream"], "echo");
    assert!(v["headers"].get("set-cookie").is_none(), "{v}");

    let received = w.upstream.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {UPSTREAM_SECRET}").as_str())
    );
    for gone in [
        "cookie",
        "x-api-key",
        "proxy-authorization",
        "x-hop",
        "accept-encoding",
    ] {
        assert!(r.header(gone).is_none(), "{gone} reached the upstream");
    }
    assert_eq!(r.header("x-request-tag"), Some("kept"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    // The agent never sees the credential, even when the provider reflects it.
    assert!(!v.to_string().contains(UPSTREAM_SECRET), "{v}");
    assert_eq!(
        v["body"]["headers"]["authorization"],
        "Bearer [REDACTED:credential]"
    );
    assert!(
        v["redactions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "credential"),
        "{v}"
    );

    // Decision (durable, allowed) then outcome, tied together; no secret in either.
    let rows = audit_rows(&w.instance).await;
    let decision = rows
        .iter()
        .find(|r| r.0 == "vault.execute.decision")
        .unwrap();
    assert_eq!(decision.1.as_deref(), Some("allowed"));
    assert_eq!(decision.2.as_deref(), Some("stepUpApproval"));
    let outcome = rows
        .iter()
        .find(|r| r.0 == "vault.execute.outcome")
        .unwrap();
    assert!(
        outcome
            .3
            .as_deref()
            .unwrap()
            .contains(v["auditId"].as_str().unwrap())
    );
    let all = format!("{rows:?}");
    assert!(!all.contains(UPSTREAM_SECRET) && !all.contains("agent-own") && !all.contains("hello"));
}

async fn the_allowlist_and_rules_deny_with_the_contract_codes(backend: Backend) {
    let w = Gw::start(
        backend,
        json!({
            "stepUpApproval": "never",
            "allowlists": [{"baseUrl": "{upstream}", "methods": ["GET", "POST"], "pathPatterns": ["/echo/*", "/status/*"]}],
            "rateLimits": {"maxRequestsPerHour": 100, "maxPayloadSizeBytes": 64},
            "rules": {"request": [
                {"label": "no admin", "match": {"urlPattern": "/echo/admin$"}, "action": "deny"},
                {"label": "no secrets in bodies", "match": {"body": [{"path": "$body", "op": "contains", "value": "password"}]}, "action": "deny"}
            ]}
        }),
    )
    .await;
    let cases = [
        (
            json!({"method": "DELETE", "url": "{upstream}/echo/a"}),
            403,
            "allowlist",
        ),
        (
            json!({"method": "GET", "url": "{upstream}/profile"}),
            403,
            "allowlist",
        ),
        (
            json!({"method": "GET", "url": "{upstream}/echo/admin"}),
            403,
            "no admin",
        ),
        (
            json!({"method": "POST", "url": "{upstream}/echo/a", "body": {"password": "x"}}),
            403,
            "no secrets",
        ),
        (
            json!({"method": "POST", "url": "{upstream}/echo/a", "body": {"text": "x".repeat(100)}}),
            413,
            "bytes",
        ),
        (
            json!({"method": "GET", "url": "{upstream}/echo/a%2F..%2Fadmin"}),
            400,
            "encoded",
        ),
        (
            json!({"method": "TRACE", "url": "{upstream}/echo/a"}),
            400,
            "method",
        ),
        (json!({"method": "GET"}), 400, "url"),
    ];
    for (body, status, needle) in cases {
        let (s, v, _) = w.execute(body.clone()).await;
        assert_eq!(s, status, "{body}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains(needle)
                || v["error"].as_str().unwrap().contains("denied"),
            "{body}: {v}"
        );
        assert!(v["hint"].as_str().is_some(), "{v}");
    }
    assert!(
        w.upstream.received().is_empty(),
        "a denied request reached the upstream"
    );
    let (s, v, _) = w.get("/echo/fine").await;
    assert_eq!(s, 200, "{v}");
    // A provider error is the provider's status inside a 200.
    let (s, v, _) = w.get("/status/503").await;
    assert_eq!((s, v["status"].as_u64()), (200, Some(503)), "{v}");

    let rows = audit_rows(&w.instance).await;
    let denials: Vec<_> = rows
        .iter()
        .filter(|r| r.0 == "vault.execute.decision" && r.1.as_deref() == Some("denied"))
        .map(|r| r.2.clone().unwrap_or_default())
        .collect();
    for rule in [
        "allowlists",
        "no admin",
        "no secrets in bodies",
        "rateLimits.maxPayloadSizeBytes",
    ] {
        assert!(
            denials.iter().any(|d| d == rule),
            "{rule} not in {denials:?}"
        );
    }

    // Unknown connection 404, a connection without policy 403, no token 401.
    let (s, v, _) = w
        .execute(json!({"connectionId": "nope", "method": "GET", "url": "{upstream}/echo/a"}))
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, _, _) = crate::agents::agent_request(
        &w.instance.base,
        reqwest::Method::POST,
        "/v1/vault/execute",
        None,
        Some(json!({"connectionId": w.connection, "method": "GET", "url": "https://x.io"})),
        None,
    )
    .await;
    assert_eq!(s, 401);
}

async fn approval_is_asked_and_an_approved_request_runs_once(backend: Backend) {
    let mut w = Gw::start(
        backend,
        json!({"stepUpApproval": "risk_based", "allowlists": [{"baseUrl": "{upstream}"}],
               "rules": {"request": [{"label": "deletes need a yes", "match": {"methods": ["DELETE"]}, "action": "require_approval"}]}}),
    )
    .await;
    // Reads pass under risk_based; writes wait.
    let (s, v, _) = w.get("/echo/read").await;
    assert_eq!(s, 200, "{v}");
    let write = json!({"method": "POST", "url": "{upstream}/echo/write", "body": {"n": 1, "email": "x@y.io"}});
    let (s, asked, _) = w.execute(write.clone()).await;
    assert_eq!(s, 202, "{asked}");
    assert_eq!(asked["approvalRequired"], true);
    assert!(
        asked["expiresAt"].as_str().is_some() && asked["hint"].as_str().is_some(),
        "{asked}"
    );
    let id = asked["approvalRequestId"].as_str().unwrap().to_string();
    let (s, by_rule, _) = w
        .execute(json!({"method": "DELETE", "url": "{upstream}/echo/x"}))
        .await;
    assert_eq!(
        (s, by_rule["ruleLabel"].as_str()),
        (202, Some("deletes need a yes")),
        "{by_rule}"
    );
    assert_eq!(
        w.upstream.received().len(),
        1,
        "only the read reached the upstream"
    );

    // The stored request: redacted preview, fingerprint; no body in the clear.
    let db = &w.instance.state.db;
    let stored = mandate_store::approvals::get(db, w.agent_workspace().await, id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored.state,
        mandate_store::approvals::ApprovalState::Pending
    );
    assert!(
        stored
            .body_preview
            .as_deref()
            .unwrap()
            .contains("[REDACTED:email]"),
        "{stored:?}"
    );

    let mut redeem = write.clone();
    redeem["approvalId"] = json!(id);
    let (s, v, _) = w.execute(redeem.clone()).await;
    assert_eq!(s, 409, "pending: {v}");
    let (s, v, _) = w.execute(json!({"method": "POST", "url": "{upstream}/echo/write", "approvalId": uuid::Uuid::now_v7()})).await;
    assert_eq!(s, 404, "unknown: {v}");

    // The agent polls its approval; a person decides through the API.
    let poll = |id: String| {
        let (base, token) = (w.instance.base.clone(), w.token.clone());
        async move {
            crate::agents::agent_request(
                &base,
                reqwest::Method::GET,
                &format!("/v1/approvals/{id}"),
                Some(&token),
                None,
                None,
            )
            .await
        }
    };
    let (s, v, _) = poll(id.clone()).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("pending")), "{v}");
    let (s, v, _) = crate::agents::agent_request(
        &w.instance.base,
        reqwest::Method::GET,
        "/v1/approvals?state=pending",
        Some(&w.token),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["approvals"].as_array().unwrap().len(),
        2,
        "the write and the delete: {v}"
    );
    let (s, v, _) = crate::agents::agent_request(
        &w.instance.base,
        reqwest::Method::POST,
        &format!("/v1/approvals/{id}/approve"),
        Some(&w.token),
        Some(json!({})),
        None,
    )
    .await;
    assert_eq!(s, 403, "an agent cannot approve its own request: {v}");
    let (s, v) = w
        .owner
        .post(
            &format!("/v1/approvals/{id}/approve"),
            json!({"reason": "ok, once"}),
        )
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");
    assert!(
        v["auditId"].is_string() && v["decidedBy"].is_string(),
        "{v}"
    );
    let (s, v) = w
        .owner
        .post(&format!("/v1/approvals/{id}/deny"), json!({}))
        .await;
    assert_eq!(s, 409, "decided once: {v}");
    let (s, v, _) = poll(id.clone()).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");
    assert_eq!(v["decisionReason"], "ok, once");
    assert!(
        v.get("decidedBy").is_none(),
        "agents do not see who decided: {v}"
    );
    // The delete is refused; the agent learns it by polling and cannot run it.
    let delete_id = by_rule["approvalRequestId"].as_str().unwrap().to_string();
    let (s, v) = w
        .owner
        .post(
            &format!("/v1/approvals/{delete_id}/deny"),
            json!({"reason": "no"}),
        )
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("denied")), "{v}");
    let (s, v, _) = w
        .execute(json!({"method": "DELETE", "url": "{upstream}/echo/x", "approvalId": delete_id}))
        .await;
    assert_eq!(s, 409, "denied: {v}");
    let rows = audit_rows(&w.instance).await;
    let asked = rows
        .iter()
        .filter(|(action, decision, ..)| {
            action == "vault.execute.decision" && decision.as_deref() == Some("approval_required")
        })
        .count();
    let decided: Vec<&str> = rows
        .iter()
        .filter(|(action, ..)| action.starts_with("approval."))
        .map(|(action, ..)| action.as_str())
        .collect();
    assert_eq!(
        (asked, decided),
        (2, vec!["approval.approved", "approval.denied"])
    );

    // A request nobody decided in time reads as expired everywhere, and can no longer be decided.
    let (s, late, _) = w
        .execute(json!({"method": "DELETE", "url": "{upstream}/echo/late"}))
        .await;
    assert_eq!(s, 202, "{late}");
    let late_id = late["approvalRequestId"].as_str().unwrap().to_string();
    let past = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    mandate_store::on_pool!(db, pool => sqlx::query("UPDATE approval_requests SET expires_at = $1 WHERE id = $2")
        .bind(past)
        .bind(uuid::Uuid::parse_str(&late_id).unwrap())
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, expired) = w.owner.get("/v1/approvals?state=expired").await;
    assert_eq!(ids(&expired), vec![late_id.as_str()], "{expired}");
    let (_, pending) = w.owner.get("/v1/approvals?state=pending").await;
    assert!(ids(&pending).is_empty(), "{pending}");
    let (_, denied) = w.owner.get("/v1/approvals?state=denied&limit=10").await;
    assert_eq!(ids(&denied), vec![delete_id.as_str()], "{denied}");
    let (s, v) = w
        .owner
        .post(&format!("/v1/approvals/{late_id}/approve"), json!({}))
        .await;
    assert_eq!(s, 410, "expired: {v}");
    let (s, v) = w.owner.get("/v1/approvals?state=later").await;
    assert_eq!(s, 400, "{v}");
    let mut changed = redeem.clone();
    changed["body"] = json!({"n": 2});
    let (s, v, _) = w.execute(changed).await;
    assert_eq!(s, 409, "a changed request: {v}");
    let (s, v, _) = w.execute(redeem.clone()).await;
    assert_eq!(s, 200, "approved: {v}");
    let (s, v, _) = w.execute(redeem.clone()).await;
    assert_eq!(s, 409, "a second use: {v}");
    assert!(v["error"].as_str().unwrap().contains("already used"), "{v}");
    assert_eq!(
        w.upstream.received().len(),
        2,
        "the approved write ran exactly once"
    );
}

async fn hourly_limits_and_time_windows_hold(backend: Backend) {
    let mut w = Gw::start(
        backend,
        json!({"stepUpApproval": "never", "allowlists": [{"baseUrl": "{upstream}"}], "rateLimits": {"maxRequestsPerHour": 3}}),
    )
    .await;
    for _ in 0..3 {
        let (s, v, _) = w.get("/echo/n").await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v, headers) = w.get("/echo/n").await;
    assert_eq!(s, 429, "{v}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(v["retryAfter"].as_u64(), Some(retry));
    assert_eq!(w.upstream.received().len(), 3);

    // A window that is never now: every request is refused; one that is always now: allowed.
    let now = time::OffsetDateTime::now_utc();
    let today = now.weekday().number_days_from_sunday();
    let other_day = (today + 3) % 7;
    w.set_policy(json!({"stepUpApproval": "never", "allowlists": [{"baseUrl": "{upstream}"}],
        "timeWindows": [{"dayOfWeek": other_day, "startHour": 0, "endHour": 24, "timezone": "UTC"}]}))
        .await;
    let (s, v, _) = w.get("/echo/n").await;
    assert_eq!(s, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("time window"), "{v}");
    w.set_policy(
        json!({"stepUpApproval": "never", "allowlists": [{"baseUrl": "{upstream}"}],
        "timeWindows": [{"dayOfWeek": today, "startHour": 0, "endHour": 24, "timezone": "UTC"}]}),
    )
    .await;
    let (s, v, _) = w.get("/echo/n").await;
    assert_eq!(s, 200, "{v}");
}

async fn the_credential_never_leaves_its_hosts(backend: Backend) {
    let w = Gw::start(
        backend,
        json!({"stepUpApproval": "never", "allowlists": [{"baseUrl": "{upstream}"}]}),
    )
    .await;
    // localhost is the same machine but not a host of the connection.
    let port = w.upstream.addr.port();
    let (s, v, _) = w
        .execute(json!({"method": "GET", "url": format!("https://localhost:{port}/echo/a")}))
        .await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("may not be sent"),
        "{v}"
    );
    // A redirect is handed back, never followed (its target is the metadata address).
    let (s, v, _) = w.get("/redirect").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], 302);
    assert_eq!(
        v["headers"]["location"],
        "http://169.254.169.254/latest/meta-data/"
    );
    assert_eq!(w.upstream.received().len(), 1);
}

impl Gw {
    pub async fn agent_workspace(&self) -> uuid::Uuid {
        mandate_store::agents::by_id(&self.instance.state.db, self.agent.id.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .workspace_id
    }
}

/// On SQLite the hourly counts live in memory and are written behind (at shutdown, and every
/// second): what was counted before a restart still counts after it.
#[tokio::test]
async fn sqlite_hourly_counts_survive_a_restart() {
    use mandate_server::gateway::rate_limit::PolicyLimits;
    let test_db = crate::sqlite_db().await;
    let now = time::OffsetDateTime::now_utc();
    let limits = PolicyLimits::new(test_db.db.clone());
    for n in 1..=3 {
        assert_eq!(limits.hit("policy:p", now).await.unwrap().count, n);
    }
    limits.flush().await.unwrap();
    drop(limits);
    let restarted = PolicyLimits::new(test_db.db.clone());
    assert_eq!(restarted.hit("policy:p", now).await.unwrap().count, 4);
    assert_eq!(
        restarted.hit("policy:other", now).await.unwrap().count,
        1,
        "buckets are separate"
    );
    // Without a flush: the background task writes it behind within a second or so.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let again = PolicyLimits::new(test_db.db.clone());
    assert_eq!(again.hit("policy:p", now).await.unwrap().count, 5);
}
