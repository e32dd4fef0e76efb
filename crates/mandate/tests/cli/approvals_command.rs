//! `mandate approvals ls|approve|deny` against a real `mandate serve`: requests listed, decided
//! once, the decision audited; a second decision and a missing token are clear errors.

use mandate_store::approvals::{self, Approval, ApprovalState};
use mandate_testkit::{TempDir, server};
use serde_json::json;

use super::{bin, call, open_db, owner_token, serve_for_setup};

fn pending(workspace: uuid::Uuid, agent: uuid::Uuid, connection: &str, path: &str) -> Approval {
    let now = time::OffsetDateTime::now_utc();
    Approval {
        id: uuid::Uuid::now_v7(),
        workspace_id: workspace,
        agent_id: agent,
        connection_id: connection.to_string(),
        policy_id: None,
        method: "POST".into(),
        host: "api.example.com".into(),
        path: path.into(),
        fingerprint: "0".repeat(64),
        body_preview: None,
        rule: "stepUpApproval".into(),
        reason: "writes need approval".into(),
        state: ApprovalState::Pending,
        created_at: now,
        expires_at: now + time::Duration::minutes(15),
        decided_by: None,
        decided_at: None,
        decision_reason: None,
        executed_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_approve_and_deny_from_a_shell() {
    let dir = TempDir::new("approvals-cli");
    let url = format!("sqlite://{}", dir.path().join("mandate.db").display());
    let (_srv, base) = serve_for_setup(dir.path(), &url, &[]);
    let http = reqwest::Client::new();
    let token = owner_token(&http, &base).await;
    let person = (None, Some(token.clone()));
    let (connection, _) = call(&http, &base, &person, reqwest::Method::POST, "/v1/connections",
        json!({"provider": "generic_bearer", "label": "Local", "secret": "approvals-cli-secret-1234",
               "apiHosts": ["api.example.com"]})).await;
    let (agent, _) = call(
        &http,
        &base,
        &person,
        reqwest::Method::POST,
        "/v1/agents",
        json!({"name": "asking agent"}),
    )
    .await;
    let workspace: uuid::Uuid = agent["workspaceId"].as_str().unwrap().parse().unwrap();
    let agent_id: uuid::Uuid = agent["id"].as_str().unwrap().parse().unwrap();
    let connection = connection["id"].as_str().unwrap();
    let db = open_db(&url, dir.path()).await;
    let first = pending(workspace, agent_id, connection, "/items/1");
    let second = pending(workspace, agent_id, connection, "/items/2");
    approvals::create(&db, &first).await.unwrap();
    approvals::create(&db, &second).await.unwrap();
    db.close().await;

    let env = [
        ("MANDATE_SERVER", base.as_str()),
        ("MANDATE_TOKEN", token.as_str()),
    ];
    let run = |args: &[&str]| server::run(bin(), args, &env);
    let (a, b) = (first.id.to_string(), second.id.to_string());

    let listed = run(&["approvals", "ls"]);
    assert!(listed.status.success(), "{}", listed.stderr);
    assert!(
        listed.stdout.contains(&a) && listed.stdout.contains(&b),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.contains("POST api.example.com/items/1"),
        "{}",
        listed.stdout
    );

    let approved = run(&["approvals", "approve", &a, "--reason", "looks right"]);
    assert!(approved.status.success(), "{}", approved.stderr);
    assert!(
        approved
            .stdout
            .contains(&format!("{a}: approved; audit record ")),
        "{}",
        approved.stdout
    );
    let denied = run(&["approvals", "deny", &b]);
    assert!(denied.status.success(), "{}", denied.stderr);
    assert!(
        denied.stdout.contains(&format!("{b}: denied")),
        "{}",
        denied.stdout
    );

    let again = run(&["approvals", "deny", &a]);
    assert_eq!(again.status.code(), Some(1), "{}", again.stdout);
    assert!(
        again.stderr.contains("409") && again.stderr.contains("approved"),
        "{}",
        again.stderr
    );
    let only_approved = run(&["approvals", "ls", "--state", "approved", "--json"]);
    assert!(only_approved.status.success(), "{}", only_approved.stderr);
    let v: serde_json::Value = serde_json::from_str(&only_approved.stdout).unwrap();
    let ids: Vec<&str> = v["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()]);
    assert_eq!(v["approvals"][0]["decisionReason"], "looks right");
    let none_pending = run(&["approvals", "ls"]);
    assert!(
        none_pending
            .stdout
            .contains("no approval requests (pending)"),
        "{}",
        none_pending.stdout
    );

    let no_token = server::run(
        bin(),
        &["approvals", "ls", "--server", &base, "--token", " "],
        &[("MANDATE_TOKEN", "")],
    );
    assert_eq!(no_token.status.code(), Some(2), "{}", no_token.stderr);
    assert!(
        no_token.stderr.contains("personal access token"),
        "{}",
        no_token.stderr
    );
    assert!(!listed.stdout.contains(&token) && !approved.stderr.contains(&token));
}
