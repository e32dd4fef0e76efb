//! Audit log throughput: how many records per second the group-commit writer makes durable, and
//! how fast `verify` walks the chain, on SQLite and on PostgreSQL. PostgreSQL is a throwaway
//! cluster with fsync and synchronous commit on (as in production); SQLite runs in WAL mode with
//! synchronous=FULL (Mandate's setting).
//!
//! `cargo bench -p mandate-server --bench audit` (RECORDS=... to change the count). Two loads:
//! - durable: CALLERS concurrent callers, each awaiting `record` (the proxy's decision record)
//!   before sending the next, so every batch is as large as the number of waiting callers;
//! - buffered: one producer queueing as fast as it can (`record_buffered`), then `close`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: failing loudly is the point

use std::time::Instant;

use mandate_crypto::Key256;
use mandate_crypto::kek::{EnvKek, Kek};
use mandate_server::audit::verify::verify;
use mandate_server::audit::{self, Actor, AuditEvent, Decision, RequestSummary};
use mandate_server::vault::Vault;
use mandate_store::{Db, DbOptions};
use serde_json::json;
use uuid::Uuid;

const CALLERS: usize = 256;

fn event(n: usize) -> AuditEvent {
    AuditEvent::new(Actor::Agent(Uuid::from_u128(42)), "vault.execute.decision")
        .workspace(Uuid::from_u128(1))
        .connection(Uuid::from_u128(7))
        .decision(Decision::Allowed, Some("read-only GitHub"))
        .request(RequestSummary {
            method: "GET".into(),
            host: "api.github.com".into(),
            path: format!("/repos/acme/widgets/issues/{n}"),
            status: None,
            duration_ms: None,
        })
        .source_ip("10.0.0.7".parse().unwrap())
        .correlation_id(format!("req-{n}"))
}

async fn open(url: String, dir: &std::path::Path) -> (Db, Vault) {
    let mut options = DbOptions::new(Some(url), dir);
    options.max_connections = 8;
    let db = Db::connect(&options).await.unwrap();
    db.migrate().await.unwrap();
    let key = Key256::generate().unwrap();
    let vault = Vault::new(db.clone(), Kek::Env(EnvKek::new(&key, None).unwrap()), 8);
    (db, vault)
}

async fn run(label: &str, url: String, dir: &std::path::Path, records: usize) -> serde_json::Value {
    let (db, vault) = open(url, dir).await;
    let log = audit::open(&db, &vault, Actor::System("bench"))
        .await
        .unwrap();

    let per_caller = records / CALLERS;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CALLERS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_caller {
                log.record(event(c * per_caller + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let durable = (per_caller * CALLERS) as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for n in 0..records {
        log.record_buffered(event(n)).await.unwrap();
    }
    assert_eq!(log.close().await, 0);
    let buffered = records as f64 / started.elapsed().as_secs_f64();

    let keys = audit::keys::load(&db, &vault).await.unwrap().unwrap();
    let started = Instant::now();
    let report = verify(&db, &keys, &json!({"keys": []})).await.unwrap();
    let verify_rate = report.records as f64 / started.elapsed().as_secs_f64();
    assert!(report.intact());
    println!(
        "{label:<10} durable ({CALLERS} callers): {durable:>8.0} records/s | buffered: {buffered:>8.0} records/s | verify: {verify_rate:>8.0} records/s ({} records)",
        report.records
    );
    db.close().await;
    json!({"backend": label, "durable": durable, "buffered": buffered, "verify": verify_rate})
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let records: usize = std::env::var("RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = mandate_testkit::TempDir::new("audit-bench");
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        run("sqlite", sqlite, dir.path(), records).await;
        let cluster = mandate_testkit::pg::PgCluster::start_durable();
        run("postgres", cluster.create_database(), dir.path(), records).await;
    });
}
