//! The dashboard in a real browser (headless Chromium driven by npm `playwright-core`, both
//! installed by scripts/test): the approve link of a notification opens a sign-in (password,
//! then a second factor), then the request's details (the body preview shown as text, never as
//! markup); viewing changes nothing; a click approves; the overview shows a new request and its
//! activity live, through the event stream; a permission request is granted with the
//! template's policy edited in the page.

use serde_json::{Value, json};

use super::Gw;
use crate::people::{Backend, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_review_link_signs_in_shows_and_approves_with_a_click() {
    let w = Gw::start(
        Backend::Sqlite,
        json!({"stepUpApproval": "always", "allowlists": [{"baseUrl": "{upstream}"}]}),
    )
    .await;
    let (s, asked, _) = w
        .execute(json!({"method": "POST", "url": "{upstream}/echo/publish",
                        "body": {"note": "<img src=x onerror=alert(1)><b>bold</b>", "to": "someone@example.com"}}))
        .await;
    assert_eq!(s, 202, "{asked}");
    let id = asked["approvalRequestId"].as_str().unwrap().to_string();
    let second = w.fill(
        json!({"connectionId": w.connection, "method": "DELETE", "url": "{upstream}/echo/old"}),
    );
    // A second connection of the same provider, for the permission request the page grants.
    let mut owner = w.owner.clone();
    // The owner has a second factor: the page asks for it after the password.
    owner.enrol_totp().await;
    let second_factor = owner.backup_codes.pop().unwrap();
    let (s, reports) = owner
        .post(
            "/v1/connections",
            json!({"provider": "generic_bearer", "label": "Reports", "secret": "reports-secret",
                   "apiHosts": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(s, 201, "{reports}");
    let grant_document = w.fill(json!({"allowedModels": ["B"], "stepUpApproval": "never",
        "allowlists": [{"baseUrl": "{upstream}/reports", "methods": ["GET"]}]}));
    let input = json!({
        "base": w.instance.base,
        "email": "owner@example.com",
        "password": PASSWORD,
        "reviewPath": format!("/approvals/{id}/review"),
        "approvalId": id,
        "agentToken": w.token,
        "secondRequest": second,
        "grantConnection": reports["id"],
        "secondFactor": second_factor,
        "grantDocument": grant_document,
    });
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/playwright-core")
            .exists(),
        "npm peers missing in {dir}: run scripts/test, which installs them"
    );
    let run = tokio::process::Command::new("node")
        .arg(format!("{dir}/dashboard_check.mjs"))
        .arg(input.to_string())
        .output()
        .await
        .expect("node (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "node: {stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert!(seen.get("failure").is_none(), "{seen}");
    assert_eq!(seen["stateShown"], "pending", "{seen}");
    assert_eq!(seen["askedSecondFactor"], true, "{seen}");
    assert_eq!(
        seen["stateAfterViewing"], "pending",
        "viewing decides nothing"
    );
    assert!(
        seen["intentShown"]
            .as_str()
            .unwrap()
            .contains("Nothing is decided yet"),
        "{seen}"
    );
    assert_eq!(seen["stateAfterClick"], "approved", "{seen}");
    let preview = seen["previewText"].as_str().unwrap();
    assert!(
        preview.contains("<b>bold</b>") && preview.contains("[REDACTED:email]"),
        "{preview}"
    );
    assert_eq!(
        seen["previewElements"], 0,
        "the preview is text, never markup"
    );
    assert!(
        seen["requestShown"]
            .as_str()
            .unwrap()
            .contains("POST 127.0.0.1/echo/publish"),
        "{seen}"
    );
    assert_eq!(
        (
            seen["secondStatus"].as_u64(),
            seen["liveAppeared"].as_bool()
        ),
        (Some(202), Some(true)),
        "{seen}"
    );
    assert_eq!(seen["activityShown"], true, "recent activity, live: {seen}");
    assert_eq!(seen["problems"], json!([]), "no script errors: {seen}");
    // The permission request: the template was offered for the chosen connection's host, and
    // the edited document was saved.
    assert_eq!(seen["requestStatus"], 201, "{seen}");
    assert!(
        seen["templateShown"]
            .as_str()
            .unwrap()
            .contains("https://127.0.0.1"),
        "{seen}"
    );
    let (s, request) = owner
        .get(&format!(
            "/v1/agent-permission-requests/{}",
            seen["requestId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (s, request["state"].as_str()),
        (200, Some("granted")),
        "{request}"
    );
    assert_eq!(request["connectionId"], reports["id"]);
    let (_, policy) = owner
        .get(&format!(
            "/v1/policies/{}",
            request["policyId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        policy["document"]["allowlists"][0]["baseUrl"], grant_document["allowlists"][0]["baseUrl"],
        "{policy}"
    );

    // The decision is the signed-in person's, audited with the reason typed in the page.
    let ws = w.agent_workspace().await;
    let stored = mandate_store::approvals::get(&w.instance.state.db, ws, id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.decision_reason.as_deref(), Some("looked fine"));
    assert!(stored.decided_by.is_some());
    let rows = super::audit_rows(&w.instance).await;
    assert!(rows.iter().any(|(a, ..)| a == "approval.approved"));
}
