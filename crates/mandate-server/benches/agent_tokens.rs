//! Agent token exchanges per second, end to end over HTTP: `POST /v1/agents/token` with an ES256
//! client assertion, against an in-process server on SQLite and on PostgreSQL (a throwaway
//! cluster with fsync and synchronous commit on, as in production).
//!
//! `cargo bench -p mandate-server --bench agent_tokens` (EXCHANGES=... to change the count,
//! CLIENTS=... the concurrency). Every exchange does what production does: the per-IP rate limit
//! (each request comes from its own X-Forwarded-For address, as many agents would, so the limit
//! counts without refusing), the agent and key lookups, the signature and claim checks, the `jti`
//! and token insert in one transaction, and the durable audit record. Assertions are signed
//! before the clock starts (signing is the agent's cost, not the server's); the HTTP client runs
//! on the same 2 cores as the server and the database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: failing loudly is the point

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::Instant;

use mandate_crypto::signing::{SigningAlg, SigningKey};
use mandate_crypto::tokens::{self, TokenKind};
use mandate_server::config::Config;
use mandate_server::serve::Server;
use mandate_store::agents::bootstrap::{self, NewSecret};
use mandate_store::agents::keys::NewKey;
use mandate_store::agents::{self, NewAgent};
use mandate_store::people::setup;
use mandate_store::people::users::NewUser;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::sync::Mutex;

async fn run(label: &str, url: String, dir: &std::path::Path, load: Load) {
    let Load {
        exchanges,
        clients,
        agents: agent_count,
    } = load;
    let vars: HashMap<String, OsString> = [
        ("MANDATE_PORT", "0"),
        ("MANDATE_DATA_DIR", dir.join(label).to_str().unwrap()),
        ("DATABASE_URL", url.as_str()),
        ("TRUST_FORWARDED_FOR", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), OsString::from(v)))
    .chain(
        std::env::var_os("DATABASE_MAX_CONNECTIONS")
            .map(|v| ("DATABASE_MAX_CONNECTIONS".to_string(), v)),
    )
    .collect();
    let config = Config::load(&|name| vars.get(name).cloned(), None).unwrap();
    let server = Server::start(config).await.unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let db = server.state().db.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    // AGENTS agents (a fleet, as in production: one agent does not exchange thousands of
    // tokens a second), each with its own ES256 key, enrolled through the store.
    let now = OffsetDateTime::now_utc();
    let owner = NewUser::new("bench@example.com", None, "$argon2id$stand-in".into()).unwrap();
    let (owner, workspace) = setup::complete(&db, owner, "Bench", now).await.unwrap();
    let mut fleet = Vec::new();
    for a in 0..agent_count {
        let secret = tokens::issue(TokenKind::BootstrapSecret).unwrap();
        let agent = agents::create(
            &db,
            NewAgent {
                workspace_id: workspace.id,
                name: &format!("bench-{a}"),
                description: "",
                owner_id: owner.id,
                now,
            },
            NewSecret {
                token_hash: &secret.hash.0,
                created_by: owner.id,
                expires_at: now + Duration::hours(1),
            },
        )
        .await
        .unwrap();
        let key = SigningKey::generate(SigningAlg::Es256, "bench-key").unwrap();
        let jwk = key.public_jwk().to_string();
        bootstrap::enroll(
            &db,
            &secret.hash.0,
            NewKey {
                kid: "bench-key",
                alg: "ES256",
                thumbprint: &key.thumbprint(),
                public_jwk: &jwk,
            },
            now,
        )
        .await
        .unwrap()
        .unwrap();
        fleet.push((agent.id, key));
    }

    let sign = |n: usize| {
        let (agent_id, key) = &fleet[n % fleet.len()];
        let iat = OffsetDateTime::now_utc().unix_timestamp();
        key.sign_jwt(&json!({
            "iss": agent_id, "sub": agent_id, "aud": format!("{base}/v1/agents/token"),
            "iat": iat, "exp": iat + 60, "jti": format!("bench-{n}"),
        }))
        .unwrap()
    };
    // Warm-up (connections, caches, prepared statements), then the measured run.
    let warm: Vec<String> = (0..200).map(|n| sign(exchanges + n)).collect();
    let measured: Vec<String> = (0..exchanges).map(sign).collect();
    for (round, assertions) in [("warm-up", warm), ("measured", measured)] {
        let count = assertions.len();
        let queue = Arc::new(Mutex::new(assertions.into_iter().enumerate()));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let queue = queue.clone();
            let http = reqwest::Client::new();
            let url = format!("{base}/v1/agents/token");
            let offset = if round == "warm-up" { 1 << 20 } else { 0 };
            tasks.push(tokio::spawn(async move {
                loop {
                    let Some((n, assertion)) = queue.lock().await.next() else { break };
                    let ip = n + offset;
                    let r = http
                        .post(&url)
                        .header("x-forwarded-for", format!("10.{}.{}.{}", (ip >> 16) & 255, (ip >> 8) & 255, ip & 255))
                        .json(&json!({
                            "grant_type": "client_assertion",
                            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                            "client_assertion": assertion,
                        }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                    r.bytes().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64();
        if round == "measured" {
            println!(
                "{label:<10} {count} exchanges, {clients} clients, {agent_count} agents: {:>7.0} exchanges/s ({:.2} ms mean latency)",
                count as f64 / elapsed,
                elapsed * 1000.0 * clients as f64 / count as f64
            );
        }
    }
    if which_wrk() {
        let assertions: Vec<String> = (0..WRK_ASSERTIONS)
            .map(|n| sign(exchanges + 1_000 + n))
            .collect();
        wrk(label, &base, dir, &assertions, clients, agent_count);
    }
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

/// Enough single-use assertions for a 10-second wrk run at well over the target.
const WRK_ASSERTIONS: usize = 60_000;
const WRK_SCRIPT: &str = r#"
local assertions = {}
local n = 0
init = function(args)
  for line in io.lines(args[1]) do assertions[#assertions + 1] = line end
end
request = function()
  n = n + 1
  -- Past the end the last one repeats and is refused as a replay: counted as non-2xx.
  local a = assertions[n] or assertions[#assertions]
  local ip = n + 4000000
  local body = '{"grant_type":"client_assertion","client_assertion_type":"urn:ietf:params:oauth:client-assertion-type:jwt-bearer","client_assertion":"' .. a .. '"}'
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.floor(ip / 65536) % 256, math.floor(ip / 256) % 256, ip % 256)
  return wrk.format("POST", "/v1/agents/token", headers, body)
end
"#;

fn which_wrk() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok()
}

/// The same exchanges driven by wrk (C, one thread): the server's figure without a Rust
/// client sharing the cores.
fn wrk(
    label: &str,
    base: &str,
    dir: &std::path::Path,
    assertions: &[String],
    clients: usize,
    agents: usize,
) {
    let file = dir.join(format!("{label}-assertions.txt"));
    std::fs::write(&file, assertions.join("\n")).unwrap();
    let script = dir.join("token.lua");
    std::fs::write(&script, WRK_SCRIPT).unwrap();
    let out = std::process::Command::new("wrk")
        .args(["-t1", &format!("-c{clients}"), "-d10s", "--latency", "-s"])
        .arg(&script)
        .arg(format!("{base}/v1/agents/token"))
        .arg("--")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let pick = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.trim().to_string())
            .unwrap_or_default()
    };
    println!(
        "{label:<10} wrk, {clients} connections, {agents} agents: {} | {} | p50 {} | p99 {}",
        pick("Requests/sec"),
        {
            let refused = pick("Non-2xx");
            if refused.is_empty() {
                "every answer 200".to_string()
            } else {
                refused
            }
        },
        pick("50%"),
        pick("99%"),
    );
}

#[derive(Clone, Copy)]
struct Load {
    exchanges: usize,
    clients: usize,
    agents: usize,
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let load = Load {
        exchanges: env("EXCHANGES", 20_000),
        clients: env("CLIENTS", 64),
        agents: env("AGENTS", 64),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = mandate_testkit::TempDir::new("agent-token-bench");
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        run("sqlite", sqlite, dir.path(), load).await;
        let cluster = mandate_testkit::pg::PgCluster::start_durable();
        run("postgres", cluster.create_database(), dir.path(), load).await;
    });
}
