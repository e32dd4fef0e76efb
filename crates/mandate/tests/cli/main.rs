//! The `mandate` binary as an operator runs it: real processes, real PostgreSQL (throwaway
//! clusters from mandate-testkit), real OpenBao, moto and age, real HTTP. One test binary (link
//! time on 2 cores), one module per topic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

mod admin_command;
mod agent_command;
mod approvals_command;
mod audit_command;
mod commands;
mod crash;
mod key_providers;
mod keys_command;
mod policy_command;
mod replicas;
mod startup;

use std::path::Path;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_mandate");
pub const KEY: &str = "3f1a9c0e5b7d2f4e6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a2c4e6b8d0f";

pub fn bin() -> &'static Path {
    Path::new(BIN)
}

/// Status and body of `GET /health`.
pub async fn health(addr: std::net::SocketAddr) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Borrow an owned environment list as the `(&str, &str)` pairs the harness takes.
pub fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The database at `url` (SQLite files live in `dir`), migrated.
pub async fn open_db(url: &str, dir: &Path) -> mandate_store::Db {
    let db = mandate_store::Db::connect(&mandate_store::DbOptions::new(Some(url.to_string()), dir))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db
}

/// A new workspace; returns its id.
pub async fn new_workspace(db: &mandate_store::Db, name: &str) -> uuid::Uuid {
    mandate_store::workspaces::create(db, name, time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .id
}

/// The setup token `serve` is started with (`SETUP_TOKEN`) in tests that set up over HTTP.
pub const SETUP_TOKEN: &str = "cli-test-setup-token-0123456789abcdef0123456";

/// `method path` with a JSON body, with a session cookie (`auth.0`) or bearer token (`auth.1`);
/// the answer and the session cookie it set. Fails the test unless the answer is a success.
pub async fn call(
    http: &reqwest::Client,
    base: &str,
    auth: &(Option<String>, Option<String>),
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> (serde_json::Value, Option<String>) {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .header("origin", base)
        .json(&body);
    if let Some(cookie) = &auth.0 {
        req = req.header("cookie", cookie);
    }
    if let Some(token) = &auth.1 {
        req = req.bearer_auth(token);
    }
    let response = req.send().await.unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    let status = response.status();
    let v: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    (v, cookie)
}

/// `mandate serve` on `url` (data under `dir`), waiting for first-run setup with
/// [`SETUP_TOKEN`], cheap password hashing, on a free port, plus `extra` settings; and its base URL.
pub fn serve_for_setup(
    dir: &Path,
    url: &str,
    extra: &[(&str, &str)],
) -> (mandate_testkit::server::ServerProcess, String) {
    let data = dir.join("data");
    let mut envs = vec![
        ("MANDATE_DATA_DIR", data.to_str().unwrap()),
        ("DATABASE_URL", url),
        ("ENCRYPTION_KEY", KEY),
        ("MANDATE_PORT", "0"),
        ("SETUP_TOKEN", SETUP_TOKEN),
        ("PASSWORD_HASH_MEMORY_KIB", "1024"),
        ("PASSWORD_HASH_ITERATIONS", "1"),
    ];
    envs.extend_from_slice(extra);
    let srv = mandate_testkit::server::ServerProcess::spawn(bin(), &envs);
    let base = format!("http://{}", srv.wait_listening());
    (srv, base)
}

/// First-run setup over HTTP with [`SETUP_TOKEN`], then a personal access token with write
/// access for the owner.
pub async fn owner_token(http: &reqwest::Client, base: &str) -> String {
    let (_, cookie) = call(
        http,
        base,
        &(None, None),
        reqwest::Method::POST,
        "/api/setup",
        serde_json::json!({"setupToken": SETUP_TOKEN, "email": "owner@example.com",
               "password": "correct horse battery staple", "workspaceName": "Acme"}),
    )
    .await;
    let (pat, _) = call(
        http,
        base,
        &(cookie, None),
        reqwest::Method::POST,
        "/v1/tokens",
        serde_json::json!({"name": "cli test", "access": "write", "expiresInDays": 1}),
    )
    .await;
    pat["token"].as_str().unwrap().to_string()
}
