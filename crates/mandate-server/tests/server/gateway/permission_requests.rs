//! Permission requests end to end: the agent discovers an action template, asks for it with a
//! reason and polls; a person grants it (binding another connection, with the template's document
//! edited before saving), after which the agent's requests there run as the new policy says; a
//! second request is refused. Both ways audited.

use serde_json::{Value, json};

use super::{Gw, audit_rows, open_policy};
use crate::agents::agent_request;
use crate::people::{Backend, people_suite};

people_suite!(an_agent_asks_and_a_person_grants_or_refuses);

async fn as_agent(
    w: &Gw,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (s, v, _) = agent_request(&w.instance.base, method, path, Some(&w.token), body, None).await;
    (s, v)
}

async fn an_agent_asks_and_a_person_grants_or_refuses(backend: Backend) {
    let mut w = Gw::start(backend, open_policy()).await;
    use reqwest::Method;

    let (s, services) = as_agent(&w, Method::GET, "/v1/capabilities/services", None).await;
    assert_eq!(s, 200, "{services}");
    let generic = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "generic_bearer")
        .unwrap();
    assert_eq!(generic["actions"][0]["id"], "generic-read", "{generic}");
    let (s, me) = as_agent(&w, Method::GET, "/v1/capabilities/me", None).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["activeConnections"].as_array().unwrap().len(), 1, "{me}");
    assert!(
        me["availableActions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "generic-read")
    );

    // Asking: refused inputs first.
    for (body, status) in [
        (json!({"actionTemplateId": "nope", "reason": "x"}), 404),
        (
            json!({"actionTemplateId": "generic-read", "reason": " "}),
            400,
        ),
        (
            json!({"actionTemplateId": "generic-read", "reason": "x".repeat(501)}),
            400,
        ),
        (json!({"actionTemplateId": "generic-read"}), 400),
    ] {
        let (s, v) = as_agent(
            &w,
            Method::POST,
            "/v1/agent-permission-requests",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, status, "{body}: {v}");
    }
    let ask = json!({"actionTemplateId": "generic-read", "reason": "to read the weekly reports"});
    let (s, asked) = as_agent(
        &w,
        Method::POST,
        "/v1/agent-permission-requests",
        Some(ask.clone()),
    )
    .await;
    assert_eq!(
        (s, asked["state"].as_str()),
        (201, Some("pending")),
        "{asked}"
    );
    let id = asked["id"].as_str().unwrap().to_string();
    let (s, v) = as_agent(
        &w,
        Method::POST,
        "/v1/agent-permission-requests",
        Some(ask.clone()),
    )
    .await;
    assert_eq!(s, 409, "already pending: {v}");
    let (_, me) = as_agent(&w, Method::GET, "/v1/capabilities/me", None).await;
    assert_eq!(me["pendingRequests"][0]["id"], id.as_str(), "{me}");
    let (s, v) = as_agent(
        &w,
        Method::POST,
        &format!("/v1/agent-permission-requests/{id}/grant"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 403, "an agent cannot grant itself: {v}");

    // People see it beside approvals.
    let (s, pending) = w
        .owner
        .get("/v1/agent-permission-requests?state=pending")
        .await;
    assert_eq!(s, 200, "{pending}");
    assert_eq!(
        pending["requests"][0]["reason"],
        "to read the weekly reports"
    );

    // Granting binds another connection, of the template's provider, with an edited document.
    let (s, other) = w
        .owner
        .post(
            "/v1/connections",
            json!({"provider": "generic_bearer", "label": "Reports", "secret": "reports-secret-1",
                                        "apiHosts": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(s, 201, "{other}");
    let (s, key) = w
        .owner
        .post(
            "/v1/connections",
            json!({"provider": "generic_api_key", "secret": "k", "apiHosts": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(s, 201, "{key}");
    let grant = format!("/v1/agent-permission-requests/{id}/grant");
    let (s, v) = w
        .owner
        .post(&grant, json!({"connectionId": key["id"]}))
        .await;
    assert_eq!(s, 400, "the wrong provider: {v}");
    // A grant whose policy cannot be created (the agent is already bound to that connection)
    // leaves the request pending, not granted without a policy.
    let (s, v) = w
        .owner
        .post(&grant, json!({"connectionId": w.connection}))
        .await;
    assert_eq!(s, 409, "{v}");
    let (_, still) = w
        .owner
        .get(&format!("/v1/agent-permission-requests/{id}"))
        .await;
    assert_eq!(
        (still["state"].as_str(), &still["decidedBy"]),
        (Some("pending"), &Value::Null),
        "{still}"
    );
    let edited = w.fill(json!({"allowedModels": ["B"], "stepUpApproval": "never",
                               "allowlists": [{"baseUrl": "{upstream}", "methods": ["GET"]}]}));
    let (s, granted) = w
        .owner
        .post(
            &grant,
            json!({"connectionId": other["id"], "document": edited, "reason": "reports only"}),
        )
        .await;
    assert_eq!(
        (s, granted["state"].as_str()),
        (200, Some("granted")),
        "{granted}"
    );
    let policy = granted["policyId"].as_str().unwrap().to_string();
    let (s, v) = w
        .owner
        .post(&grant, json!({"connectionId": other["id"]}))
        .await;
    assert_eq!(s, 409, "decided once: {v}");
    let (s, polled) = as_agent(
        &w,
        Method::GET,
        &format!("/v1/agent-permission-requests/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (s, polled["state"].as_str()),
        (200, Some("granted")),
        "{polled}"
    );
    assert!(polled.get("decidedBy").is_none(), "{polled}");
    let (s, p) = w.owner.get(&format!("/v1/policies/{policy}")).await;
    assert_eq!((s, &p["connectionId"]), (200, &other["id"]), "{p}");

    // The new policy is in force on the bound connection: reads run, writes are refused.
    let on_reports = |method: &str| {
        w.fill(
            json!({"connectionId": other["id"], "method": method, "url": "{upstream}/echo/report"}),
        )
    };
    let (s, v, _) = w.execute(on_reports("GET")).await;
    assert_eq!(s, 200, "{v}");
    let (s, v, _) = w.execute(on_reports("POST")).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = as_agent(&w, Method::POST, "/v1/agent-permission-requests", Some(ask)).await;
    assert_eq!(s, 409, "already granted: {v}");

    // A refusal, with its reason, reaches the agent.
    let (s, asked) = as_agent(
        &w,
        Method::POST,
        "/v1/agent-permission-requests",
        Some(json!({"actionTemplateId": "github-read", "reason": "to triage issues"})),
    )
    .await;
    assert_eq!(s, 201, "{asked}");
    let second = asked["id"].as_str().unwrap().to_string();
    let refuse = format!("/v1/agent-permission-requests/{second}/refuse");
    let (s, v) = w
        .owner
        .post(&refuse, json!({"reason": "not this quarter"}))
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("refused")), "{v}");
    let (s, v) = w.owner.post(&refuse, json!({})).await;
    assert_eq!(s, 409, "{v}");
    let (_, polled) = as_agent(
        &w,
        Method::GET,
        &format!("/v1/agent-permission-requests/{second}"),
        None,
    )
    .await;
    assert_eq!(
        (polled["state"].as_str(), polled["decisionReason"].as_str()),
        (Some("refused"), Some("not this quarter"))
    );

    let rows = audit_rows(&w.instance).await;
    let actions: Vec<&str> = rows
        .iter()
        .map(|(a, ..)| a.as_str())
        .filter(|a| a.starts_with("permission_request."))
        .collect();
    assert_eq!(
        actions,
        [
            "permission_request.created",
            "permission_request.granted",
            "permission_request.created",
            "permission_request.refused"
        ]
    );
}
