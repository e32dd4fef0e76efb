//! A crash under load: `mandate serve` is killed with SIGKILL (no shutdown, no flush) while an
//! agent's requests stream through the gateway. Afterwards every request the upstream received
//! has its allowed decision record (the rule: no audited action reaches a provider before its
//! decision record is committed), and `mandate audit verify` still finds the chain intact. On
//! SQLite and PostgreSQL.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mandate_store::audit::{self, AuditFilter};
use mandate_testkit::upstream::Upstream;
use mandate_testkit::{TempDir, pg, server};
use serde_json::json;

use super::{KEY, bin, call, open_db, owner_token, serve_for_setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigkill_under_load_loses_no_decision_record() {
    let dir = TempDir::new("crash-sqlite");
    let url = format!("sqlite://{}", dir.path().join("mandate.db").display());
    sigkill_under_load(&dir, url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigkill_under_load_loses_no_decision_record() {
    let dir = TempDir::new("crash-postgres");
    sigkill_under_load(&dir, pg::fresh_database()).await;
}

async fn sigkill_under_load(dir: &TempDir, url: String) {
    let upstream = Upstream::start().await;
    let ca = upstream.ca_file().to_str().unwrap().to_string();
    let (mut srv, base) = serve_for_setup(
        dir.path(),
        &url,
        &[
            ("EGRESS_CA_FILE", ca.as_str()),
            ("SSRF_ALLOWLIST", "127.0.0.1/32"),
        ],
    );

    // An owner, a personal access token, a connection to the upstream, an agent.
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let person = (None, Some(owner_token(&http, &base).await));
    let (connection, _) = call(
        &http,
        &base,
        &person,
        post.clone(),
        "/v1/connections",
        json!({"provider": "generic_bearer", "label": "Upstream",
               "secret": "crash-upstream-secret-123456", "apiHosts": ["127.0.0.1"]}),
    )
    .await;
    let connection = connection["id"].as_str().unwrap().to_string();
    let (agent, _) = call(
        &http,
        &base,
        &person,
        post.clone(),
        "/v1/agents",
        json!({"name": "crash agent"}),
    )
    .await;
    let agent_id = agent["id"].as_str().unwrap().to_string();
    call(
        &http,
        &base,
        &person,
        post.clone(),
        "/v1/policies",
        json!({
        "agentId": agent_id, "connectionId": connection,
        "document": {"allowedModels": ["B"], "stepUpApproval": "never",
                     "allowlists": [{"baseUrl": upstream.base(), "methods": ["GET"]}]}}),
    )
    .await;

    // The agent host enrolls and takes a token with the CLI, as it would in production.
    let creds = dir.path().join("host").join("agent.json");
    let no_env: [(&str, &str); 0] = [];
    let enrolled = server::run_with_stdin(
        bin(),
        dir.path(),
        &[
            "agent",
            "enroll",
            "--server",
            &base,
            "--bootstrap-secret",
            "-",
            "--credentials",
            creds.to_str().unwrap(),
        ],
        &no_env,
        Some(&format!("{}\n", agent["bootstrapSecret"].as_str().unwrap())),
    );
    assert!(enrolled.status.success(), "{}", enrolled.stderr);
    let printed = server::run_in(
        bin(),
        dir.path(),
        &["agent", "token", "--credentials", creds.to_str().unwrap()],
        &no_env,
    );
    assert!(printed.status.success(), "{}", printed.stderr);
    let token = printed.stdout.trim().to_string();

    // Eight agents' worth of requests, each to its own path, until the server is gone.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..8 {
        let (http, base, token, connection, target, stop) = (
            http.clone(),
            base.clone(),
            token.clone(),
            connection.clone(),
            upstream.base(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut answered = 0u32;
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let sent = http
                    .post(format!("{base}/v1/vault/execute"))
                    .bearer_auth(&token)
                    .json(
                        &json!({"model": "B", "connectionId": connection, "method": "GET",
                                  "url": format!("{target}/echo/w{worker}-{n}")}),
                    )
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => answered += 1,
                    Ok(r) => panic!("unexpected answer {}", r.status()),
                    Err(_) => break, // the server is gone
                }
            }
            answered
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    srv.signal("KILL");
    let status = srv.wait_exit(Duration::from_secs(10)).expect("killed");
    assert!(!status.success(), "killed, not stopped: {status:?}");
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for worker in load {
        answered += worker.await.unwrap();
    }

    let received: Vec<String> = upstream.received().into_iter().map(|r| r.path).collect();
    assert!(
        received.len() >= 50 && answered >= 50,
        "the server was under load when killed: {} received, {answered} answered",
        received.len()
    );
    let db = open_db(&url, dir.path()).await;
    let decisions = audit::oldest_first(
        &db,
        &AuditFilter {
            action: Some("vault.execute.decision".into()),
            decision: Some("allowed".into()),
            ..AuditFilter::default()
        },
        0,
        1_000_000,
    )
    .await
    .unwrap();
    let recorded: HashSet<String> = decisions
        .into_iter()
        .filter_map(|row| row.entry.path)
        .collect();
    let missing: Vec<&String> = received.iter().filter(|p| !recorded.contains(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} requests reached the upstream without a decision record: {missing:?}",
        missing.len(),
        received.len()
    );
    db.close().await;

    let verified = server::run(
        bin(),
        &["audit", "verify"],
        &[("DATABASE_URL", url.as_str()), ("ENCRYPTION_KEY", KEY)],
    );
    assert!(
        verified.status.success() && verified.stdout.contains("intact"),
        "{}\n{}",
        verified.stdout,
        verified.stderr
    );
}
