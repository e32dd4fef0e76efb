//! `mandate policy check` on YAML and JSON files (the server's validation, offline, errors naming
//! the field) and `mandate policy apply` against a real `mandate serve`: created, then replaced
//! on the version it read, an invalid document refused before anything is sent.

use mandate_testkit::{TempDir, server};
use serde_json::json;

use super::{bin, call, owner_token, serve_for_setup};

const VALID_YAML: &str = r#"
# Read-only access to the issues API; writes need a person's approval.
allowedModels: [B]
stepUpApproval: risk_based
allowlists:
  - baseUrl: https://127.0.0.1
    methods: [GET, POST]
    pathPatterns: ["/repos/**"]
rateLimits:
  maxRequestsPerHour: 500
rules:
  request:
    - label: no admin paths
      match: { urlPattern: "^/repos/[^/]+/admin" }
      action: deny
  response:
    - label: no emails
      match: { urlPattern: "^/repos/" }
      filter: { redact: [{ type: email }] }
"#;

fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn check_names_the_field_at_fault() {
    let dir = TempDir::new("policy-check");
    let none: [(&str, &str); 0] = [];
    let valid = write(&dir, "valid.yaml", VALID_YAML);
    let json_doc = write(
        &dir,
        "valid.json",
        &json!({"allowedModels": ["B"], "allowlists": [{"baseUrl": "https://api.example.com"}]})
            .to_string(),
    );
    let out = server::run(bin(), &["policy", "check", &valid, &json_doc], &none);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("{valid}: valid")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("{json_doc}: valid")),
        "{}",
        out.stdout
    );

    let bad_regex = write(
        &dir,
        "bad-regex.yaml",
        &VALID_YAML.replace("^/repos/[^/]+/admin", "^/repos/(unclosed"),
    );
    let unknown = write(
        &dir,
        "unknown.yml",
        &VALID_YAML.replace("stepUpApproval", "stepUp"),
    );
    let broken = write(&dir, "broken.yaml", "allowedModels: [B\nallowlists: {");
    let out = server::run(
        bin(),
        &["policy", "check", &valid, &bad_regex, &unknown, &broken],
        &none,
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("{valid}: valid")),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains(&format!(
            "{bad_regex}: document.rules.request[0].match.urlPattern"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{unknown}: document")) && out.stderr.contains("stepUp"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{broken}: not valid YAML")),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_then_replaces_the_binding() {
    let dir = TempDir::new("policy-apply");
    let url = format!("sqlite://{}", dir.path().join("mandate.db").display());
    let (_srv, base) = serve_for_setup(dir.path(), &url, &[]);
    let http = reqwest::Client::new();
    let token = owner_token(&http, &base).await;
    let person = (None, Some(token.clone()));
    let (connection, _) = call(
        &http,
        &base,
        &person,
        reqwest::Method::POST,
        "/v1/connections",
        json!({"provider": "generic_bearer", "label": "Local", "secret": "policy-cli-secret-123456",
               "apiHosts": ["127.0.0.1"]}),
    )
    .await;
    let (agent, _) = call(
        &http,
        &base,
        &person,
        reqwest::Method::POST,
        "/v1/agents",
        json!({"name": "policy agent"}),
    )
    .await;
    let (connection, agent) = (
        connection["id"].as_str().unwrap().to_string(),
        agent["id"].as_str().unwrap().to_string(),
    );
    let file = write(&dir, "policy.yaml", VALID_YAML);
    let apply = |file: &str| {
        server::run(
            bin(),
            &[
                "policy",
                "apply",
                file,
                "--server",
                &base,
                "--agent",
                &agent,
                "--connection",
                &connection,
            ],
            &[("MANDATE_TOKEN", token.as_str())],
        )
    };

    let created = apply(&file);
    assert!(created.status.success(), "{}", created.stderr);
    assert!(
        created.stdout.starts_with("created policy "),
        "{}",
        created.stdout
    );
    assert!(created.stdout.contains("(version 1)"), "{}", created.stdout);
    assert!(!created.stdout.contains(&token) && !created.stderr.contains(&token));

    let changed = write(&dir, "policy-2.yaml", &VALID_YAML.replace("500", "50"));
    let updated = apply(&changed);
    assert!(updated.status.success(), "{}", updated.stderr);
    assert!(
        updated.stdout.starts_with("updated policy "),
        "{}",
        updated.stdout
    );
    assert!(updated.stdout.contains("(version 2)"), "{}", updated.stdout);

    let invalid = write(&dir, "invalid.yaml", &VALID_YAML.replace("[B]", "[]"));
    let refused = apply(&invalid);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("document.allowedModels"),
        "{}",
        refused.stderr
    );

    let (listed, _) = call(
        &http,
        &base,
        &person,
        reqwest::Method::GET,
        &format!("/v1/policies?agentId={agent}"),
        serde_json::Value::Null,
    )
    .await;
    let policies = listed["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "{listed}");
    assert_eq!(policies[0]["version"], 2);
    assert_eq!(
        policies[0]["document"]["rateLimits"]["maxRequestsPerHour"],
        50
    );
}
