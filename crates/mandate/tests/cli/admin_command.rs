//! `mandate admin create-owner` and the first-run setup token as an operator meets them, and
//! the secrets of sign-in never reaching the log or the audit table.

use mandate_testkit::TempDir;
use mandate_testkit::server::{self, ServerProcess};
use serde_json::{Value, json};

use super::{KEY, bin};

const PASSWORD: &str = "a long and secret passphrase";

async fn post(addr: std::net::SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn create_owner_works_once_and_the_password_stays_secret() {
    let dir = TempDir::new("admin");
    let data = dir.path().join("data");
    let envs = [
        ("MANDATE_DATA_DIR", data.to_str().unwrap()),
        ("ENCRYPTION_KEY", KEY),
        ("MANDATE_PORT", "0"),
    ];
    let args = [
        "admin",
        "create-owner",
        "--email",
        "Ops@Example.com",
        "--workspace",
        "Acme",
    ];
    let no_input = server::run_in(bin(), dir.path(), &args, &envs);
    assert_eq!(no_input.status.code(), Some(2), "{}", no_input.stderr);
    assert!(no_input.stderr.contains("stdin"), "{}", no_input.stderr);
    let weak = server::run_with_stdin(bin(), dir.path(), &args, &envs, Some("short\n"));
    assert_eq!(weak.status.code(), Some(2), "{}", weak.stderr);

    let made = server::run_with_stdin(
        bin(),
        dir.path(),
        &args,
        &envs,
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(made.status.success(), "{}", made.stderr);
    assert!(
        made.stdout.contains("owner ops@example.com created"),
        "{}",
        made.stdout
    );
    let again = server::run_with_stdin(
        bin(),
        dir.path(),
        &args,
        &envs,
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        again.stderr.contains("setup is already done"),
        "{}",
        again.stderr
    );

    // The server has nothing to set up, and the owner signs in with that password.
    let srv = ServerProcess::spawn(bin(), &envs);
    let addr = srv.wait_listening();
    let setup: Value = reqwest::get(format!("http://{addr}/api/setup"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(setup["setupRequired"], false);
    let (s, v) = post(
        addr,
        "/api/auth/login",
        json!({ "email": "ops@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = post(
        addr,
        "/api/auth/login",
        json!({ "email": "ops@example.com", "password": "wrong but long" }),
    )
    .await;
    assert_eq!(s, 401);
    srv.signal("TERM");
    let mut srv = srv;
    srv.wait_exit(std::time::Duration::from_secs(20)).unwrap();

    // No password in any output or audit record; the sign-ins are recorded.
    let output = format!(
        "{}{}{}{}",
        made.stdout,
        made.stderr,
        again.stderr,
        srv.output()
    );
    assert!(!output.contains(PASSWORD));
    let export = server::run_in(
        bin(),
        dir.path(),
        &["audit", "export", "--format", "json"],
        &envs,
    );
    assert!(export.status.success(), "{}", export.stderr);
    assert!(!export.stdout.contains(PASSWORD) && !export.stdout.contains("wrong but long"));
    for action in [
        "auth.setup.completed",
        "auth.login.succeeded",
        "auth.login.failed",
    ] {
        assert!(
            export.stdout.contains(action),
            "{action} missing from the audit export"
        );
    }
}

#[tokio::test]
async fn a_generated_setup_token_is_printed_once_and_never_logged() {
    let srv = ServerProcess::spawn(bin(), &[("ENCRYPTION_KEY", KEY), ("MANDATE_PORT", "0")]);
    let addr = srv.wait_listening();
    let output = srv.output();
    let token = output
        .split_whitespace()
        .find(|w| w.starts_with("mandate_setup_"))
        .expect("the setup token is printed")
        .to_string();
    // The JSON log lines (what gets shipped elsewhere) never carry it.
    for line in output.lines().filter(|l| l.starts_with('{')) {
        assert!(!line.contains(&token), "{line}");
    }
    let body = |t: &str| json!({ "setupToken": t, "email": "first@example.com", "password": PASSWORD, "workspaceName": "First" });
    let wrong = format!("{}x", &token[..token.len() - 1]);
    let (s, _) = post(addr, "/api/setup", body(&wrong)).await;
    assert_eq!(s, 401);
    let (s, v) = post(addr, "/api/setup", body(&token)).await;
    assert_eq!(s, 201, "{v}");
    let (s, _) = post(addr, "/api/setup", body(&token)).await;
    assert_eq!(s, 409, "setup happens once");
    assert!(!srv.output().contains(PASSWORD));
}
