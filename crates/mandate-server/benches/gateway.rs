//! Model B's added latency: the same GET sent at a fixed rate straight to an HTTPS upstream and
//! through `POST /v1/vault/execute`, measured by `oha` (`cargo install oha`; `OHA=/path/to/oha`
//! when not on PATH) with latency correction, on SQLite and on PostgreSQL, durable audit on
//! (SQLite WAL with synchronous=FULL; PostgreSQL with fsync and synchronous commit).
//!
//! `cargo bench -p mandate-server --bench gateway` (RATE=1000, SECONDS=20, BACKENDS=sqlite,postgres).
//! The server runs in this process on 127.0.0.1 (the release build of the same code `mandate
//! serve` runs); the upstream is `mandate_testkit::upstream`; oha is a separate process. The
//! policy is a realistic one: an allowlist entry, five request rules, an hourly limit (counted in
//! the database on every request) and a response rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark

use std::collections::HashMap;
use std::ffi::OsString;
use std::process::Command;

use mandate_crypto::signing::{SigningAlg, SigningKey};
use mandate_server::config::Config;
use mandate_server::serve::Server;
use mandate_testkit::TempDir;
use mandate_testkit::upstream::Upstream;
use serde_json::{Value, json};

const SETUP_TOKEN: &str = "bench-setup-token-0123456789abcdef0123456789";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

struct Api {
    base: String,
    http: reqwest::Client,
    bearer: Option<String>,
    cookie: Option<String>,
}

impl Api {
    async fn call(&mut self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("origin", &self.base)
            .json(&body);
        if let Some(b) = &self.bearer {
            req = req.bearer_auth(b);
        }
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let response = req.send().await.unwrap();
        if let Some(set) = response.headers().get("set-cookie") {
            self.cookie = Some(set.to_str().unwrap().split(';').next().unwrap().to_string());
        }
        let status = response.status();
        let v: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }
}

/// Owner, connection, enrolled agent, policy: the agent's access token and the connection id.
async fn provision(base: &str, upstream: &Upstream) -> (String, String) {
    let mut api = Api {
        base: base.to_string(),
        http: reqwest::Client::new(),
        bearer: None,
        cookie: None,
    };
    api.call(
        reqwest::Method::POST,
        "/api/setup",
        json!({"setupToken": SETUP_TOKEN, "email": "bench@example.com",
        "password": "correct horse battery staple", "workspaceName": "Bench"}),
    )
    .await;
    let pat = api
        .call(
            reqwest::Method::POST,
            "/v1/tokens",
            json!({"name": "bench", "access": "write", "expiresInDays": 1}),
        )
        .await;
    api.bearer = Some(pat["token"].as_str().unwrap().to_string());
    api.cookie = None;
    let connection = api
        .call(
            reqwest::Method::POST,
            "/v1/connections",
            json!({"provider": "generic_bearer", "label": "Upstream",
            "secret": "bench-upstream-secret-123456", "apiHosts": ["127.0.0.1"]}),
        )
        .await;
    let agent = api
        .call(
            reqwest::Method::POST,
            "/v1/agents",
            json!({"name": "bench agent"}),
        )
        .await;
    let key = SigningKey::generate(SigningAlg::Es256, "bench-key").unwrap();
    api.bearer = None;
    let enrolled = api
        .call(
            reqwest::Method::POST,
            "/v1/agents/bootstrap",
            json!({"bootstrapSecret": agent["bootstrapSecret"], "publicKey": key.public_jwk()}),
        )
        .await;
    let id = enrolled["agentId"].as_str().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let assertion = key
        .sign_jwt(&json!({"iss": id, "sub": id, "aud": format!("{base}/v1/agents/token"), "iat": now, "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string()}))
        .unwrap();
    let token = api
        .call(reqwest::Method::POST, "/v1/agents/token", json!({"grant_type": "client_assertion",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": assertion}))
        .await;
    api.bearer = Some(pat["token"].as_str().unwrap().to_string());
    let up = upstream.base();
    api.call(reqwest::Method::POST, "/v1/policies", json!({"agentId": id, "connectionId": connection["id"], "document": {
        "allowedModels": ["B"], "stepUpApproval": "risk_based",
        "allowlists": [{"baseUrl": up, "methods": ["GET", "POST"], "pathPatterns": ["/echo/**", "/profile"]}],
        "rateLimits": {"maxRequestsPerHour": 10_000_000, "maxResponseSizeBytes": 1_000_000},
        "rules": {"request": [
            {"label": "no deletes", "match": {"methods": ["DELETE"]}, "action": "deny"},
            {"label": "admin", "match": {"urlPattern": "^/echo/admin"}, "action": "deny"},
            {"label": "bulk", "match": {"queryPattern": "bulk=1"}, "action": "require_approval"},
            {"label": "cards", "match": {"methods": ["POST"], "pii": {"types": ["financial"]}}, "action": "deny"},
            {"label": "reads", "match": {"methods": ["GET"], "urlPattern": "^/echo/"}, "action": "allow"}
        ], "response": [{"label": "no cookies in bodies", "match": {"urlPattern": "^/profile$"}, "filter": {"denyFields": ["email"]}}]}
    }})).await;
    (
        token["access_token"].as_str().unwrap().to_string(),
        connection["id"].as_str().unwrap().to_string(),
    )
}

/// Run oha and return (p50, p99, success rate, requests/s) in milliseconds.
fn oha(args: &[String]) -> (f64, f64, f64, f64) {
    let oha = env_or("OHA", "oha");
    let out = Command::new(&oha)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {oha}: {e} (cargo install oha)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &v["latencyPercentiles"];
    let codes = &v["statusCodeDistribution"];
    assert!(
        codes.as_object().unwrap().keys().all(|k| k == "200"),
        "non-200 answers: {codes}"
    );
    (
        p["p50"].as_f64().unwrap() * 1000.0,
        p["p99"].as_f64().unwrap() * 1000.0,
        v["summary"]["successRate"].as_f64().unwrap(),
        v["summary"]["requestsPerSec"].as_f64().unwrap(),
    )
}

fn load_args(rate: &str, seconds: &str) -> Vec<String> {
    [
        "--no-tui",
        "--output-format",
        "json",
        "--latency-correction",
        "-q",
        rate,
        "-z",
        &format!("{seconds}s"),
        "-c",
        "16",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn run(backend: &str, database_url: String, dir: &TempDir) {
    let rate = env_or("RATE", "1000");
    let seconds = env_or("SECONDS", "20");
    let upstream = Upstream::start().await;
    let vars: HashMap<String, OsString> = [
        ("MANDATE_PORT", "0".to_string()),
        (
            "MANDATE_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("DATABASE_URL", database_url),
        ("SETUP_TOKEN", SETUP_TOKEN.to_string()),
        ("PASSWORD_HASH_MEMORY_KIB", "1024".to_string()),
        ("PASSWORD_HASH_ITERATIONS", "1".to_string()),
        ("EGRESS_CA_FILE", upstream.ca_file().display().to_string()),
        ("SSRF_ALLOWLIST", "127.0.0.1/32".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), OsString::from(v)))
    .collect();
    let config = Config::load(&|name| vars.get(name).cloned(), None).unwrap();
    let server = Server::start(config).await.unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let state = server.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let (token, connection) = provision(&base, &upstream).await;
    let target = format!("{}/echo/items", upstream.base());

    // oha blocks: run it off the runtime so the server keeps serving.
    let mut direct = load_args(&rate, &seconds);
    direct.extend(["--insecure".to_string(), target.clone()]);
    let direct = tokio::task::spawn_blocking(move || oha(&direct))
        .await
        .unwrap();
    let mut via = load_args(&rate, &seconds);
    via.extend([
        "-m".into(),
        "POST".into(),
        "-H".into(),
        format!("authorization: Bearer {token}"),
        "-H".into(),
        "content-type: application/json".into(),
        "-d".into(),
        json!({"model": "B", "connectionId": connection, "method": "GET", "url": target})
            .to_string(),
        format!("{base}/v1/vault/execute"),
    ]);
    let via = tokio::task::spawn_blocking(move || oha(&via))
        .await
        .unwrap();
    state.audit.flush().await.unwrap();
    println!(
        "{backend:<9} rate {rate}/s {seconds}s | direct p50 {:.3} ms p99 {:.3} ms | via Mandate p50 {:.3} ms p99 {:.3} ms ({:.1}/s, success {:.3}) | added p50 {:.3} ms p99 {:.3} ms",
        direct.0,
        direct.1,
        via.0,
        via.1,
        via.3,
        via.2,
        via.0 - direct.0,
        via.1 - direct.1
    );
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

fn main() {
    let backends = env_or("BACKENDS", "sqlite,postgres");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for backend in backends.split(',') {
        let dir = TempDir::new("bench-gateway");
        match backend {
            "sqlite" => {
                let url = format!("sqlite://{}", dir.path().join("mandate.db").display());
                runtime.block_on(run("sqlite", url, &dir));
            }
            "postgres" => {
                let cluster = mandate_testkit::pg::PgCluster::start_durable();
                let url = cluster.create_database();
                runtime.block_on(run("postgres", url, &dir));
                drop(cluster);
            }
            other => panic!("unknown backend {other}"),
        }
    }
}
