//! `mandate audit verify` against a log tampered with directly in the database (triggers
//! disabled, as a database owner could), on SQLite and PostgreSQL; `mandate audit export`; key
//! operations recorded; and no secret value anywhere in the log, its exports or the output.

use mandate_crypto::Key256;
use mandate_crypto::kek::{EnvKek, Kek};
use mandate_crypto::signing::{SigningAlg, SigningKey, jwks};
use mandate_server::audit::{self, Actor, AuditEvent, Decision, RequestSummary};
use mandate_server::vault::Vault;
use mandate_store::{Backend, Db};
use mandate_testkit::{TempDir, pg, server};
use uuid::Uuid;

use super::{KEY, bin};

/// A log of 20 records (the key-created record and 19 decisions) and a checkpoint over all of
/// it, signed by a key whose JWKS is written to `<dir>/jwks.json`.
async fn seed(db: &Db, dir: &TempDir) {
    let vault = Vault::new(
        db.clone(),
        Kek::Env(EnvKek::new(&Key256::from_hex(KEY).unwrap(), None).unwrap()),
        8,
    );
    let log = audit::open(db, &vault, Actor::System("test"))
        .await
        .unwrap();
    for n in 0..19 {
        log.record(
            AuditEvent::new(Actor::Agent(Uuid::from_u128(7)), "vault.execute.decision")
                .decision(Decision::Allowed, Some("rule"))
                .request(RequestSummary {
                    method: "GET".into(),
                    host: "api.github.com".into(),
                    path: format!("/repos/{n}"),
                    status: None,
                    duration_ms: None,
                }),
        )
        .await
        .unwrap();
    }
    log.close().await;
    let key = SigningKey::generate(SigningAlg::Es256, "checkpoint-key").unwrap();
    audit::checkpoint::sign_checkpoint(db, &key, "https://mandate.test")
        .await
        .unwrap()
        .unwrap();
    std::fs::write(dir.path().join("jwks.json"), jwks([&key]).to_string()).unwrap();
}

async fn exec(db: &Db, sql: &str) {
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        mandate_store::on_pool!(db, pool => sqlx::query(sqlx::AssertSqlSafe(statement)).execute(pool).await.map(|_| ()))
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// What a database owner can do: switch the append-only triggers off.
async fn disable_triggers(db: &Db) {
    match db.backend() {
        Backend::Sqlite => {
            exec(
                db,
                "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete",
            )
            .await
        }
        Backend::Postgres => exec(db, "ALTER TABLE audit_events DISABLE TRIGGER USER").await,
    }
}

/// Each way of tampering and the verdict that must name it.
fn cases(backend: Backend) -> Vec<(&'static str, String, &'static str)> {
    let new_id = match backend {
        Backend::Sqlite => "randomblob(16)",
        Backend::Postgres => "gen_random_uuid()",
    };
    let columns = "id, occurred_at, workspace_id, actor_kind, actor_id, action, target_kind, target_id, \
        agent_id, connection_id, decision, rule, outcome, method, host, path, status, duration_ms, \
        source_ip, correlation_id, details, key_id, link";
    let copy_of_3 = columns.replacen("id,", &format!("{new_id},"), 1);
    vec![
        ("intact", String::new(), "audit log intact: 20 records, 1 signed checkpoint(s) verified"),
        (
            "modified",
            "UPDATE audit_events SET path = '/repos/other' WHERE seq = 7".into(),
            "the record at position 7 was modified",
        ),
        (
            "decision flipped",
            "UPDATE audit_events SET decision = 'denied' WHERE seq = 12".into(),
            "the record at position 12 was modified",
        ),
        (
            "removed",
            "DELETE FROM audit_events WHERE seq = 7".into(),
            "the record at position 7 was removed",
        ),
        (
            "removed and renumbered",
            "DELETE FROM audit_events WHERE seq = 7; UPDATE audit_events SET seq = seq + 1000 WHERE seq > 7; \
             UPDATE audit_events SET seq = seq - 1001 WHERE seq > 1000"
                .into(),
            "1 record(s) were removed before position 7 and the later ones renumbered",
        ),
        (
            "inserted",
            format!(
                "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 7; \
                 UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000; \
                 INSERT INTO audit_events (seq, {columns}) SELECT 7, {copy_of_3} FROM audit_events WHERE seq = 3"
            ),
            "a record was inserted at position 7",
        ),
        (
            "reordered",
            "UPDATE audit_events SET seq = 1000 WHERE seq = 7; UPDATE audit_events SET seq = 7 WHERE seq = 8; \
             UPDATE audit_events SET seq = 8 WHERE seq = 1000"
                .into(),
            "records were reordered: the record stored at position 8 belongs at position 7",
        ),
        (
            "end cut off",
            "DELETE FROM audit_events WHERE seq > 17".into(),
            "a signed checkpoint covers position 20 but the log ends at 17",
        ),
    ]
}

async fn tampering_is_found(backend: Backend) {
    for (name, sql, verdict) in cases(backend) {
        let dir = TempDir::new("audit-tamper");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("m.db").display()),
            Backend::Postgres => pg::fresh_database(),
        };
        let db = super::open_db(&url, dir.path()).await;
        seed(&db, &dir).await;
        if !sql.is_empty() {
            disable_triggers(&db).await;
            exec(&db, &sql).await;
        }
        db.close().await;
        let jwks = dir.path().join("jwks.json");
        let out = server::run(
            bin(),
            &["audit", "verify", "--jwks", jwks.to_str().unwrap()],
            &[("DATABASE_URL", &url), ("ENCRYPTION_KEY", KEY)],
        );
        assert!(
            out.stdout.contains(verdict),
            "{backend} {name}: {}\n{}",
            out.stdout,
            out.stderr
        );
        assert_eq!(
            out.status.success(),
            name == "intact",
            "{backend} {name}: exit {:?}",
            out.status
        );
    }
}

#[tokio::test]
async fn sqlite_tampering_is_found_and_named() {
    tampering_is_found(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_tampering_is_found_and_named() {
    tampering_is_found(Backend::Postgres).await;
}

/// Without the checkpoint key's JWKS, verify still compares the checkpoint's link and says the
/// signature could not be checked.
#[tokio::test]
async fn checkpoints_signed_by_unknown_keys_are_reported() {
    let dir = TempDir::new("audit-unknown-key");
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let db = super::open_db(&url, dir.path()).await;
    seed(&db, &dir).await;
    let out = server::run(
        bin(),
        &["audit", "verify"],
        &[("DATABASE_URL", &url), ("ENCRYPTION_KEY", KEY)],
    );
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("20 records, 0 signed checkpoint(s) verified; 1 checkpoint(s) signed by keys not stored here"), "{}", out.stdout);
    let bad = server::run(
        bin(),
        &["audit", "verify", "--jwks", "/nonexistent.json"],
        &[("DATABASE_URL", &url), ("ENCRYPTION_KEY", KEY)],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("invalid --jwks: /nonexistent.json"),
        "{}",
        bad.stderr
    );
}

/// Every key operation leaves a record, the log verifies with the production signing key's
/// checkpoints, and none of the secrets involved (the KEKs, the chain key, the signing key, and
/// stored provider tokens, API keys, passwords and bootstrap secrets) appears in the log, its
/// exports or anything the commands and the server printed.
#[tokio::test]
async fn key_operations_are_recorded_and_no_secret_reaches_the_log_exports_or_output() {
    use base64::Engine;
    use mandate_crypto::tokens::{TokenKind, issue};
    use mandate_store::workspaces::SYSTEM;

    let dir = TempDir::new("audit-secrets");
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let (old, new) = (Key256::generate().unwrap(), Key256::generate().unwrap());
    let (old_hex, new_hex) = (old.to_hex().to_string(), new.to_hex().to_string());
    let bootstrap = issue(TokenKind::BootstrapSecret).unwrap();
    let stored_secrets = [
        "ya29.a0-known-provider-access-token-value".to_string(),
        "sk-proj-known-api-key-0123456789abcdef".to_string(),
        "correct horse battery staple 42".to_string(),
        bootstrap.secret.to_string(),
    ];
    let db = super::open_db(&url, dir.path()).await;
    let vault = Vault::new(db.clone(), Kek::Env(EnvKek::new(&old, None).unwrap()), 8);
    let ws = super::new_workspace(&db, "acme").await;
    for (i, secret) in stored_secrets.iter().enumerate() {
        vault
            .seal(
                ws,
                "connection.credentials",
                &format!("row-{i}"),
                secret.as_bytes(),
            )
            .await
            .unwrap();
    }
    db.close().await;

    let production = |key: &str| -> Vec<(&'static str, String)> {
        vec![
            ("MANDATE_ENV", "production".into()),
            ("PUBLIC_URL", "https://mandate.test".into()),
            ("DATABASE_URL", url.clone()),
            ("ENCRYPTION_KEY", key.into()),
            ("LOG_FORMAT", "json".into()),
        ]
    };
    let mut printed = String::new();
    let mut run = |args: &[&str], env: &[(&'static str, String)]| {
        let out = server::run(bin(), args, &super::as_refs(env));
        assert!(out.status.success(), "{args:?}: {}", out.stderr);
        printed.push_str(&out.stdout);
        printed.push_str(&out.stderr);
        out.stdout
    };

    // A production start generates and stores the signing key; the chain key comes with it.
    let env = production(&old_hex);
    let mut serve = server::ServerProcess::spawn(bin(), &super::as_refs(&env));
    serve.wait_listening();
    run(&["keys", "rotate-signing"], &env);
    serve.signal("TERM");
    assert!(
        serve
            .wait_exit(std::time::Duration::from_secs(30))
            .is_some_and(|s| s.success())
    );
    let serve_output = serve.output();
    // The closing checkpoint is logged too: a copy outside the database.
    assert!(
        serve_output.contains("audit checkpoint signed"),
        "{serve_output}"
    );

    let mut rotate_env = production(&new_hex);
    rotate_env.push(("ENCRYPTION_KEY_PREVIOUS", old_hex.clone()));
    run(&["keys", "rotate-kek"], &rotate_env);
    let env = production(&new_hex);
    run(&["keys", "rotate-dek"], &env);
    let verdict = run(&["audit", "verify"], &env);
    assert!(verdict.starts_with("audit log intact: "), "{verdict}");
    assert!(
        verdict.contains("1 signed checkpoint(s) verified"),
        "{verdict}"
    );

    let csv = dir.path().join("audit.csv");
    let json = dir.path().join("audit.json");
    run(
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--output",
            csv.to_str().unwrap(),
        ],
        &env,
    );
    run(
        &[
            "audit",
            "export",
            "--format",
            "json",
            "--output",
            json.to_str().unwrap(),
        ],
        &env,
    );
    let csv = std::fs::read_to_string(&csv).unwrap();
    let json = std::fs::read_to_string(&json).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    for expected in [
        "audit.key.created",
        "keys.signing.rotated",
        "keys.kek.rotated",
        "keys.dek.rotated",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    assert_eq!(
        csv.lines().count(),
        rows.len() + 1,
        "a header and one line per record"
    );
    assert!(json.starts_with('[') && json.trim_end().ends_with(']'));

    // The key material itself, read back through the vault, must be nowhere either.
    let db = super::open_db(&url, dir.path()).await;
    let vault = Vault::new(db.clone(), Kek::Env(EnvKek::new(&new, None).unwrap()), 8);
    let chain_key = mandate_store::audit::keys(&db).await.unwrap().remove(0);
    let chain_key = vault
        .open(SYSTEM, "audit_key", &chain_key.id, &chain_key.sealed_key)
        .await
        .unwrap();
    let signing = mandate_store::signing_keys::published(&db, time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .remove(0);
    let signing_der = vault
        .open(SYSTEM, "signing_key", &signing.kid, &signing.private_key)
        .await
        .unwrap();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut secrets: Vec<String> = stored_secrets.to_vec();
    secrets.extend([old_hex.clone(), new_hex.clone(), hex(&chain_key)]);
    secrets.push(base64::engine::general_purpose::STANDARD.encode(&signing_der[..48]));
    let haystacks = [
        ("csv export", &csv),
        ("json export", &json),
        ("command output", &printed),
        ("server output", &serve_output),
    ];
    for secret in &secrets {
        for (name, text) in haystacks {
            for form in [secret.clone(), secret.to_uppercase()] {
                assert!(
                    !text.contains(&form),
                    "a secret value appears in the {name}"
                );
            }
        }
    }
}

/// The two SQL blocks of docs/operations.md, "The service role".
fn documented_grants() -> (String, String) {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/operations.md"
    ))
    .unwrap();
    let section = doc
        .split("### The service role")
        .nth(1)
        .expect("the section exists");
    let blocks: Vec<&str> = section
        .split("```sql")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .take(2)
        .collect();
    (blocks[0].to_string(), blocks[1].to_string())
}

/// The GRANTs the operator guide gives work as written: `migrate` as the owner, then `serve`'s
/// commands as the service role, which can append to and read the audit log but neither change
/// nor delete a row, nor switch the append-only triggers off.
#[tokio::test]
async fn postgres_documented_grants_leave_the_service_role_insert_and_select_only() {
    let cluster = pg::PgCluster::start();
    let (roles, grants) = documented_grants();
    let roles = roles
        .replacen("'...'", "'owner-password-for-tests'", 1)
        .replacen("'...'", "'app-password-for-tests'", 1);
    // One statement at a time, as an operator pasting them would (CREATE DATABASE cannot run in
    // the transaction psql wraps several statements in).
    for statement in roles.split(';').filter(|s| !s.trim().is_empty()) {
        cluster.psql("postgres", statement);
    }
    let base = format!("127.0.0.1:{}/mandate", cluster.port());
    let owner_url = format!("postgres://mandate_owner:owner-password-for-tests@{base}");
    let app_url = format!("postgres://mandate_app:app-password-for-tests@{base}");

    let env = |url: &str| {
        vec![
            ("DATABASE_URL", url.to_string()),
            ("ENCRYPTION_KEY", KEY.to_string()),
        ]
    };
    let out = server::run(bin(), &["migrate"], &super::as_refs(&env(&owner_url)));
    assert!(out.status.success(), "{}", out.stderr);
    let dir = TempDir::new("grants");
    let owner = super::open_db(&owner_url, dir.path()).await;
    exec(&owner, &grants).await;

    // The service role runs the commands: a rotation (writes rows, re-encrypts, appends audit
    // records), then verify.
    let out = server::run(
        bin(),
        &["keys", "rotate-dek"],
        &super::as_refs(&env(&app_url)),
    );
    assert!(out.status.success(), "{}", out.stderr);
    let out = server::run(bin(), &["audit", "verify"], &super::as_refs(&env(&app_url)));
    assert!(
        out.stdout.starts_with("audit log intact: "),
        "{}{}",
        out.stdout,
        out.stderr
    );

    let app = super::open_db(&app_url, dir.path()).await;
    for (sql, refusal) in [
        ("UPDATE audit_events SET action = 'x'", "permission denied"),
        ("DELETE FROM audit_events", "permission denied"),
        ("TRUNCATE audit_events", "permission denied"),
        ("DELETE FROM audit_checkpoints", "permission denied"),
        (
            "ALTER TABLE audit_events DISABLE TRIGGER USER",
            "must be owner",
        ),
        (
            "DROP TRIGGER audit_events_append_only ON audit_events",
            "must be owner",
        ),
    ] {
        let error =
            mandate_store::on_pool!(&app, pool => sqlx::query(sql).execute(pool).await.map(|_| ()))
                .expect_err(sql)
                .to_string();
        assert!(error.contains(refusal), "{sql}: {error}");
    }
}
