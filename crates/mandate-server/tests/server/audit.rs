//! The audit log in the server: the group-commit writer on both backends, behaviour when the
//! database goes away, and signed checkpoints that an outside verifier (PyJWT) checks with the
//! public JWKS alone.

use std::time::Duration;

use mandate_crypto::Key256;
use mandate_crypto::kek::{EnvKek, Kek};
use mandate_server::audit::verify::verify;
use mandate_server::audit::{
    self, Actor, AuditError, AuditEvent, Decision, Outcome, RequestSummary, actions,
};
use mandate_server::vault::Vault;
use mandate_store::Db;
use mandate_store::audit::{self as rows, AuditFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::signing::{Running, production, refs};

backend_suite!(
    concurrent_records_share_one_verified_chain,
    closing_writes_what_was_buffered_and_refuses_later_records,
);

fn vault(db: &Db) -> Vault {
    let key = Key256::from_hex("3f1a9c0e5b7d2f4e6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a2c4e6b8d0f")
        .unwrap();
    Vault::new(db.clone(), Kek::Env(EnvKek::new(&key, None).unwrap()), 8)
}

fn decision(agent: Uuid, n: usize) -> AuditEvent {
    AuditEvent::new(Actor::Agent(agent), "vault.execute.decision")
        .workspace(Uuid::nil())
        .connection(Uuid::from_u128(n as u128))
        .decision(Decision::Allowed, Some("read mail"))
        .request(RequestSummary {
            method: "GET".into(),
            host: "gmail.googleapis.com".into(),
            path: format!("/gmail/v1/users/me/messages/{n}"),
            status: None,
            duration_ms: None,
        })
        .source_ip("127.0.0.1".parse().unwrap())
        .correlation_id(format!("req-{n}"))
}

async fn verified(db: &Db, vault: &Vault) -> mandate_server::audit::verify::VerifyReport {
    let keys = audit::keys::load(db, vault).await.unwrap().unwrap();
    verify(db, &keys, &json!({"keys": []})).await.unwrap()
}

async fn concurrent_records_share_one_verified_chain(db: &Db) {
    let vault = vault(db);
    let log = audit::open(db, &vault, Actor::System("test"))
        .await
        .unwrap();
    let agent = Uuid::now_v7();
    let mut tasks = Vec::new();
    for t in 0..50 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..20 {
                let n = t * 20 + i;
                ids.push(log.record(decision(agent, n)).await.unwrap());
                // The outcome follows without waiting for its commit.
                log.record_buffered(
                    AuditEvent::new(Actor::Agent(agent), "vault.execute.outcome")
                        .outcome(Outcome::Success)
                        .details(json!({"n": n})),
                )
                .await
                .unwrap();
            }
            ids
        }));
    }
    let mut durable = Vec::new();
    for task in tasks {
        durable.extend(task.await.unwrap());
    }
    // Every id `record` returned is committed by the time it returned.
    assert_eq!(rows::stored_ids(db, &durable).await.unwrap().len(), 1_000);
    assert_eq!(log.close().await, 0);
    // 1 key-created record + 1,000 decisions + 1,000 outcomes, one chain.
    let report = verified(db, &vault).await;
    assert!(report.intact(), "{:?}", report.finding);
    assert_eq!(report.records, 2_001);
    let first = rows::oldest_first(db, &AuditFilter::default(), 0, 1)
        .await
        .unwrap();
    assert_eq!(first[0].entry.action, actions::AUDIT_KEY_CREATED);
    let agent_rows = rows::oldest_first(
        db,
        &AuditFilter {
            agent_id: Some(agent.to_string()),
            decision: Some("allowed".into()),
            ..Default::default()
        },
        0,
        5_000,
    )
    .await
    .unwrap();
    assert_eq!(agent_rows.len(), 1_000);
    assert_eq!(
        agent_rows[0].entry.host.as_deref(),
        Some("gmail.googleapis.com")
    );

    // A second process opening the log later reuses the key: no second key-created record.
    let again = audit::open(db, &vault, Actor::System("test"))
        .await
        .unwrap();
    again.record(decision(agent, 0)).await.unwrap();
    again.close().await;
    assert_eq!(verified(db, &vault).await.records, 2_002);
}

async fn closing_writes_what_was_buffered_and_refuses_later_records(db: &Db) {
    let vault = vault(db);
    let log = audit::open(db, &vault, Actor::System("test"))
        .await
        .unwrap();
    for n in 0..500 {
        log.record_buffered(decision(Uuid::nil(), n)).await.unwrap();
    }
    assert_eq!(log.close().await, 0);
    assert_eq!(rows::count(db).await.unwrap(), 501);
    assert!(matches!(
        log.record(decision(Uuid::nil(), 1)).await,
        Err(AuditError::Closed)
    ));
    assert!(verified(db, &vault).await.intact());
}

/// While PostgreSQL is down, a record that must be durable before its action is refused (the
/// action must not happen); buffered outcome records are kept and written once it is back.
#[tokio::test]
async fn postgres_outage_refuses_durable_records_and_keeps_buffered_ones() {
    let cluster = mandate_testkit::pg::PgCluster::start();
    let mut options = mandate_store::DbOptions::new(Some(cluster.create_database()), "unused");
    options.connect_timeout = Duration::from_secs(2);
    let db = Db::connect(&options).await.unwrap();
    db.migrate().await.unwrap();
    let vault = vault(&db);
    let log = audit::open(&db, &vault, Actor::System("test"))
        .await
        .unwrap();
    log.record(decision(Uuid::nil(), 0)).await.unwrap();

    cluster.stop();
    let buffered = log.record_buffered(decision(Uuid::nil(), 1)).await.unwrap();
    let refused = log.record(decision(Uuid::nil(), 2)).await;
    assert!(
        matches!(refused, Err(AuditError::WriteFailed(_))),
        "{refused:?}"
    );
    cluster.restart();
    tokio::time::timeout(Duration::from_secs(60), log.flush())
        .await
        .expect("flushed after the database came back")
        .unwrap();
    let mut written = false;
    for _ in 0..100 {
        if rows::stored_ids(&db, &[buffered])
            .await
            .is_ok_and(|v| v.len() == 1)
        {
            written = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(written, "the buffered record was written after the outage");
    assert_eq!(log.close().await, 0);
    let report = verified(&db, &vault).await;
    assert!(report.intact(), "{:?}", report.finding);
    assert_eq!(
        report.records, 3,
        "key created, decision 0, buffered 1; never the refused one"
    );
}

/// A checkpoint is a JWT from the current signing key: PyJWT verifies it with nothing but the
/// JWKS, and its claims name the chain position and link. Stopping the server signs one more
/// over everything written.
#[tokio::test]
async fn checkpoints_verify_with_the_public_jwks_alone() {
    let dir = mandate_testkit::TempDir::new("checkpoints");
    let env = production(&dir);
    let server = Running::start(&refs(&env)).await;
    let db = server.state.db.clone();
    for n in 0..10 {
        server
            .state
            .audit
            .record(decision(Uuid::nil(), n))
            .await
            .unwrap();
    }
    let checkpoint = audit::checkpoint::sign_checkpoint(
        &db,
        &server.state.signing.current(),
        "https://mandate.test",
    )
    .await
    .unwrap()
    .expect("a new checkpoint");
    assert_eq!(checkpoint.seq, 11);
    // Nothing new since: no second checkpoint for the same head.
    assert!(
        audit::checkpoint::sign_checkpoint(&db, &server.state.signing.current(), "x")
            .await
            .unwrap()
            .is_none()
    );

    let jwks = server.jwks().await;
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let out = crate::python3(
        PYJWT_CHECKPOINT,
        &[jwks_file.to_str().unwrap(), &checkpoint.token],
    )
    .await;
    let claims: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(claims["sub"], "audit-checkpoint");
    assert_eq!(claims["seq"], 11);
    assert_eq!(claims["link"], checkpoint.link);
    assert_eq!(claims["iss"], "https://mandate.test");

    server
        .state
        .audit
        .record(decision(Uuid::nil(), 99))
        .await
        .unwrap();
    let vault = server.state.vault.clone();
    server.stop().await;
    let db = super::connect(env[2].1.clone()).await;
    let latest = rows::latest_checkpoint(&db).await.unwrap().unwrap();
    assert_eq!(
        latest.seq, 12,
        "the closing checkpoint covers the last record"
    );
    let keys = audit::keys::load(&db, &vault).await.unwrap().unwrap();
    let report = verify(&db, &keys, &jwks).await.unwrap();
    assert!(report.intact(), "{:?}", report.finding);
    assert_eq!((report.records, report.checkpoints_verified), (12, 2));
}

/// Verify a JWT with a JWKS file only (no issuer key material besides the public JWKS).
const PYJWT_CHECKPOINT: &str = r#"
import json, sys, jwt
jwks = jwt.PyJWKSet.from_json(open(sys.argv[1]).read())
token = sys.argv[2]
kid = jwt.get_unverified_header(token)["kid"]
key = next(k for k in jwks.keys if k.key_id == kid)
print(json.dumps(jwt.decode(token, key, algorithms=["RS256", "ES256", "EdDSA"])))
"#;
