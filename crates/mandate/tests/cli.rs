//! The `mandate` binary as an operator runs it: real processes, real PostgreSQL (throwaway
//! clusters from mandate-testkit), real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::path::Path;
use std::time::Duration;

use mandate_server::config::settings::SETTINGS;
use mandate_testkit::pg::{self, PgCluster};
use mandate_testkit::server::{self, ServerProcess};

const BIN: &str = env!("CARGO_BIN_EXE_mandate");
const KEY: &str = "3f1a9c0e5b7d2f4e6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a2c4e6b8d0f";

fn bin() -> &'static Path {
    Path::new(BIN)
}

async fn health(addr: std::net::SocketAddr) -> (u16, String) {
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

#[test]
fn help_explains_every_command_and_variable() {
    let out = server::run(bin(), &["--help"], &[]);
    assert!(out.status.success());
    for word in ["serve", "migrate", "keys", "--config", "MANDATE_CONFIG"] {
        assert!(out.stdout.contains(word), "--help lacks {word}");
    }
    for setting in SETTINGS {
        assert!(
            out.stdout.contains(setting.env),
            "--help lacks {}",
            setting.env
        );
    }
    let serve = server::run(bin(), &["serve", "--help"], &[]);
    assert!(
        serve.stdout.contains("SHUTDOWN_GRACE_SECONDS") && serve.stdout.contains("DATABASE_URL")
    );
}

#[tokio::test]
async fn serves_health_on_the_embedded_defaults() {
    let server = ServerProcess::spawn(bin(), &[("MANDATE_PORT", "0")]);
    let addr = server.wait_listening();
    assert_eq!(health(addr).await, (200, r#"{"status":"ok"}"#.to_string()));
    let data = server.workdir().join("mandate-data");
    assert!(
        data.join("mandate.db").exists(),
        "SQLite file under ./mandate-data"
    );
    assert!(data.join("dev-encryption-key").exists());
    server.wait_for_event(
        "DEVELOPMENT KEY GENERATED: a new encryption key was written next to the data. Anyone who can read it can decrypt every stored secret. Production needs ENCRYPTION_KEY.",
        |_| true,
        Duration::from_secs(1),
    );
    let ready = server.wait_for_event("database ready", |_| true, Duration::from_secs(1));
    assert_eq!(ready["fields"]["backend"], "sqlite");
    assert!(!server.output().contains(KEY));
}

/// Each bad value stops the start with one `mandate: ...` line that names it, exit status 2 for
/// configuration and 1 for what fails at start, never a panic.
#[test]
fn bad_configuration_stops_the_start_with_one_clear_line() {
    let dir = mandate_testkit::TempDir::new("badcfg");
    let toml = dir.path().join("mandate.toml");
    std::fs::write(&toml, "port = 8080\nprot = 1\n").unwrap();
    let toml = toml.to_str().unwrap().to_string();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let zero_key = "0".repeat(64);

    // (environment, arguments, exit status, what the error line says)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, i32, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("MANDATE_PORT", "80a")],
            vec!["serve"],
            2,
            "mandate: configuration error: MANDATE_PORT: `80a` is not a port number",
        ),
        (
            vec![("MANDATE_PORT", "99999")],
            vec!["serve"],
            2,
            "mandate: configuration error: MANDATE_PORT: `99999`",
        ),
        (
            vec![("MANDATE_CONFIG", "/nonexistent/mandate.toml")],
            vec!["serve"],
            2,
            "mandate: configuration error: MANDATE_CONFIG (/nonexistent/mandate.toml): cannot read the file",
        ),
        (
            vec![],
            vec!["--config", &toml, "serve"],
            2,
            "is not a known setting",
        ),
        (
            vec![("ENCRYPTION_KEY_FILE", "/nonexistent/kek")],
            vec!["serve"],
            2,
            "mandate: configuration error: ENCRYPTION_KEY_FILE (/nonexistent/kek): cannot read the file",
        ),
        (
            vec![("ENCRYPTION_KEY", "abc123")],
            vec!["serve"],
            2,
            "mandate: configuration error: ENCRYPTION_KEY: must be 64 hexadecimal characters",
        ),
        (
            vec![("RUST_LOG", "info,[[[")],
            vec!["serve"],
            2,
            "mandate: configuration error: RUST_LOG:",
        ),
        (
            vec![("DATABASE_URL", "mysql://root:pw@db/mandate")],
            vec!["serve"],
            1,
            "mandate: cannot start: DATABASE_URL: unsupported scheme `mysql`",
        ),
        (
            vec![(
                "DATABASE_URL",
                "postgres://svc:topsecret@127.0.0.1:1/mandate",
            )],
            vec!["serve"],
            1,
            "mandate: cannot start: cannot connect to the database at postgres://svc:***@127.0.0.1:1/mandate",
        ),
        (
            vec![(
                "DATABASE_URL",
                "postgres://svc:topsecret@127.0.0.1:1/mandate",
            )],
            vec!["migrate"],
            1,
            "mandate: cannot migrate: cannot connect to the database at postgres://svc:***@127.0.0.1:1/mandate",
        ),
        (
            vec![("MANDATE_PORT", &taken_port)],
            vec!["serve"],
            1,
            "(MANDATE_HOST/MANDATE_PORT): Address already in use",
        ),
        (
            vec![("MANDATE_ENV", "production")],
            vec!["serve"],
            2,
            "mandate: configuration error: production mode (MANDATE_ENV=production): ENCRYPTION_KEY is missing",
        ),
        (
            vec![
                ("MANDATE_ENV", "production"),
                ("ENCRYPTION_KEY", &zero_key),
                ("PUBLIC_URL", "https://m.example.com"),
            ],
            vec!["serve"],
            2,
            "ENCRYPTION_KEY is a placeholder",
        ),
    ];
    for (env, args, code, expected) in cases {
        let mut env = env;
        env.push(("LOG_FORMAT", "json"));
        env.push(("DATABASE_CONNECT_TIMEOUT_SECONDS", "1"));
        let out = server::run(bin(), &args, &env);
        let error_lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("mandate: "))
            .collect();
        assert_eq!(out.status.code(), Some(code), "{env:?}: {}", out.stderr);
        assert_eq!(
            error_lines.len(),
            1,
            "{env:?}: one error line, got: {}",
            out.stderr
        );
        assert!(
            error_lines[0].contains(expected),
            "{env:?}: {:?} does not contain {expected:?}",
            error_lines[0]
        );
        let everything = format!("{}{}", out.stdout, out.stderr);
        assert!(
            !everything.contains("panicked") && !everything.contains("backtrace"),
            "{everything}"
        );
        assert!(
            !everything.contains("topsecret"),
            "a password was printed: {everything}"
        );
        // Anything else on stderr is a JSON log line, not a stray message.
        for line in out.stderr.lines().filter(|l| !l.starts_with("mandate: ")) {
            assert!(
                serde_json::from_str::<serde_json::Value>(line).is_ok(),
                "stray line: {line}"
            );
        }
    }
    drop(taken);
}

#[tokio::test]
async fn production_starts_with_real_secrets_and_sends_hsts() {
    let server = ServerProcess::spawn(
        bin(),
        &[
            ("MANDATE_PORT", "0"),
            ("MANDATE_ENV", "production"),
            ("ENCRYPTION_KEY", KEY),
            ("PUBLIC_URL", "https://mandate.example.com"),
        ],
    );
    let addr = server.wait_listening();
    let r = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    assert!(
        !server
            .workdir()
            .join("mandate-data/dev-encryption-key")
            .exists()
    );
    assert_eq!(server.count_events("running in DEVELOPMENT mode: secrets are generated and checks relaxed; set MANDATE_ENV=production for real use", |_| true), 0);
    assert!(!server.output().contains(KEY));
}

#[tokio::test]
async fn sigterm_and_sigint_stop_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut server = ServerProcess::spawn(bin(), &[("MANDATE_PORT", "0")]);
        let addr = server.wait_listening();
        assert_eq!(health(addr).await.0, 200);
        server.signal(signal);
        let status = server
            .wait_exit(Duration::from_secs(20))
            .expect("exited after the signal");
        assert!(status.success(), "exit status {status:?} after SIG{signal}");
        server.wait_for_event("stopped", |_| true, Duration::from_secs(1));
    }
}

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let dir = mandate_testkit::TempDir::new("migrate");
    let first = server::run_in(bin(), dir.path(), &["migrate"], &[]);
    assert!(first.status.success(), "{}", first.stderr);
    let all = mandate_store::embedded_migrations(mandate_store::Backend::Sqlite);
    let expected = format!(
        "database schema at version {} ({} migration(s) applied now)",
        all.last().unwrap().0,
        all.len()
    );
    assert!(first.stdout.contains(&expected), "{}", first.stdout);

    let again = server::run_in(bin(), dir.path(), &["migrate"], &[]);
    assert!(
        again.stdout.contains("(0 migration(s) applied now)"),
        "{}",
        again.stdout
    );
    assert!(dir.path().join("mandate-data/mandate.db").exists());
}

/// Two `serve` processes on one PostgreSQL: both migrate at once, both receive every change
/// notification, and both treat a lost listener connection as "everything changed".
#[tokio::test]
async fn two_replicas_share_one_postgres_and_its_change_bus() {
    let url = pg::fresh_database();
    let env = [("MANDATE_PORT", "0"), ("DATABASE_URL", url.as_str())];
    let a = ServerProcess::spawn(bin(), &env);
    let b = ServerProcess::spawn(bin(), &env);
    let (addr_a, addr_b) = (a.wait_listening(), b.wait_listening());
    assert_eq!(health(addr_a).await.0, 200);
    assert_eq!(health(addr_b).await.0, 200);
    for replica in [&a, &b] {
        let ready = replica.wait_for_event("database ready", |_| true, Duration::from_secs(1));
        assert_eq!(ready["fields"]["backend"], "postgres");
    }

    let cluster = pg::shared();
    let database = url.rsplit('/').next().unwrap();
    cluster.psql(
        database,
        r#"SELECT pg_notify('mandate_changes', '{"topic":"workspace","id":"w-from-elsewhere"}')"#,
    );
    for replica in [&a, &b] {
        replica.wait_for_event(
            "change observed",
            |e| e["fields"]["id"] == "w-from-elsewhere",
            Duration::from_secs(10),
        );
    }

    let killed = cluster.psql(
        database,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = 'mandate-change-bus' AND datname = current_database()",
    );
    assert_eq!(killed, "2", "one listener per replica");
    for replica in [&a, &b] {
        replica.wait_for_event(
            "change bus resync: treating everything as changed",
            |_| true,
            Duration::from_secs(15),
        );
    }
    cluster.psql(
        database,
        r#"SELECT pg_notify('mandate_changes', '{"topic":"workspace","id":"after-reconnect"}')"#,
    );
    for replica in [&a, &b] {
        replica.wait_for_event(
            "change observed",
            |e| e["fields"]["id"] == "after-reconnect",
            Duration::from_secs(10),
        );
    }
}

/// `/health` reports the database: 503 `degraded` while PostgreSQL is down, `ok` once it is back.
#[tokio::test]
async fn health_degrades_while_postgres_is_down_and_recovers() {
    let cluster = PgCluster::start();
    let url = cluster.create_database();
    let server = ServerProcess::spawn(
        bin(),
        &[("MANDATE_PORT", "0"), ("DATABASE_URL", url.as_str())],
    );
    let addr = server.wait_listening();
    assert_eq!(health(addr).await, (200, r#"{"status":"ok"}"#.to_string()));

    cluster.stop();
    assert_eq!(
        health(addr).await,
        (503, r#"{"status":"degraded"}"#.to_string())
    );

    cluster.restart();
    let mut last = (0, String::new());
    for _ in 0..50 {
        last = health(addr).await;
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(last, (200, r#"{"status":"ok"}"#.to_string()));
}

/// The operator guide for changing ENCRYPTION_KEY: a restart with only the new key is refused
/// (naming ENCRYPTION_KEY_PREVIOUS); with both, the data keys are re-wrapped in the background;
/// after that the new key alone opens everything.
#[tokio::test]
async fn changing_the_encryption_key_follows_the_operator_guide() {
    use mandate_crypto::Key256;
    use mandate_crypto::kek::{EnvKek, Kek};
    use mandate_server::vault::Vault;

    let old = Key256::generate().unwrap();
    let new = Key256::generate().unwrap();
    let (old_hex, new_hex) = (old.to_hex().to_string(), new.to_hex().to_string());
    let dir = mandate_testkit::TempDir::new("rekey");
    let db_url = format!("sqlite://{}", dir.path().join("mandate.db").display());

    // Something sealed under the old key, as a running server would have done.
    let db = mandate_store::Db::connect(&mandate_store::DbOptions::new(
        Some(db_url.clone()),
        dir.path(),
    ))
    .await
    .unwrap();
    db.migrate().await.unwrap();
    let ws = mandate_store::workspaces::create(&db, "Acme", time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .id;
    let old_vault = Vault::new(db.clone(), Kek::Env(EnvKek::new(&old, None).unwrap()), 8);
    let sealed = old_vault
        .seal(ws, "connection.credentials", "row-1", b"sk-live")
        .await
        .unwrap();
    db.close().await;

    let refused = server::run(
        bin(),
        &["serve"],
        &[
            ("MANDATE_PORT", "0"),
            ("DATABASE_URL", &db_url),
            ("ENCRYPTION_KEY", &new_hex),
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    let line = refused
        .stderr
        .lines()
        .find(|l| l.starts_with("mandate: "))
        .unwrap();
    assert!(
        line.contains("ENCRYPTION_KEY_PREVIOUS") && line.contains("1 data key(s)"),
        "{line}"
    );

    let rotating = ServerProcess::spawn(
        bin(),
        &[
            ("MANDATE_PORT", "0"),
            ("DATABASE_URL", &db_url),
            ("ENCRYPTION_KEY", &new_hex),
            ("ENCRYPTION_KEY_PREVIOUS", &old_hex),
        ],
    );
    rotating.wait_listening();
    let done = rotating.wait_for_event(
        "data keys re-wrapped under the current key encryption key; ENCRYPTION_KEY_PREVIOUS can be removed",
        |_| true,
        Duration::from_secs(20),
    );
    assert_eq!(done["fields"]["rewrapped"], 1);
    assert!(!rotating.output().contains(&old_hex) && !rotating.output().contains(&new_hex));
    drop(rotating);

    let after = ServerProcess::spawn(
        bin(),
        &[
            ("MANDATE_PORT", "0"),
            ("DATABASE_URL", &db_url),
            ("ENCRYPTION_KEY", &new_hex),
        ],
    );
    after.wait_listening();
    let db = mandate_store::Db::connect(&mandate_store::DbOptions::new(Some(db_url), dir.path()))
        .await
        .unwrap();
    let new_vault = Vault::new(db, Kek::Env(EnvKek::new(&new, None).unwrap()), 8);
    let opened = new_vault
        .open(ws, "connection.credentials", "row-1", &sealed)
        .await
        .unwrap();
    assert_eq!(opened.as_slice(), b"sk-live");
}

/// ENCRYPTION_KEY_MODE=vault-transit against a real OpenBao dev server: the start checks the
/// provider, and after a Transit key rotation the data keys move to the new version.
#[tokio::test]
async fn vault_transit_mode_starts_and_follows_a_transit_key_rotation() {
    use mandate_crypto::kek::{Kek, TransitAuth, TransitConfig, TransitKek};
    use mandate_server::vault::Vault;

    let bao = mandate_testkit::bao::BaoDev::start();
    bao.transit_key("mandate");
    let dir = mandate_testkit::TempDir::new("transit");
    let db_url = format!("sqlite://{}", dir.path().join("mandate.db").display());

    // A secret sealed while the Transit key was at version 1.
    let db = mandate_store::Db::connect(&mandate_store::DbOptions::new(
        Some(db_url.clone()),
        dir.path(),
    ))
    .await
    .unwrap();
    db.migrate().await.unwrap();
    let ws = mandate_store::workspaces::create(&db, "Acme", time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .id;
    let transit = TransitKek::connect(TransitConfig {
        addr: bao.addr.clone(),
        mount: "transit".into(),
        key: "mandate".into(),
        auth: TransitAuth::Token(zeroize::Zeroizing::new(bao.root_token.clone())),
        namespace: None,
        ca_pem: None,
        timeout: Duration::from_secs(10),
    })
    .await
    .unwrap();
    let vault = Vault::new(db.clone(), Kek::VaultTransit(transit), 8);
    let sealed = vault
        .seal(ws, "connection.credentials", "row-1", b"xoxb-1")
        .await
        .unwrap();
    db.close().await;

    bao.cli(&["write", "-f", "transit/keys/mandate/rotate"]);
    let env = [
        ("MANDATE_PORT", "0"),
        ("DATABASE_URL", db_url.as_str()),
        ("ENCRYPTION_KEY_MODE", "vault-transit"),
        ("VAULT_ADDR", bao.addr.as_str()),
        ("VAULT_TOKEN", bao.root_token.as_str()),
    ];
    let server = ServerProcess::spawn(bin(), &env);
    server.wait_listening();
    let ready = server.wait_for_event("key encryption key ready", |_| true, Duration::from_secs(1));
    assert_eq!(ready["fields"]["provider"], "vault-transit");
    assert_eq!(ready["fields"]["kek_id"], "transit:transit/mandate:v2");
    let done = server.wait_for_event(
        "data keys re-wrapped under the current key encryption key; ENCRYPTION_KEY_PREVIOUS can be removed",
        |_| true,
        Duration::from_secs(20),
    );
    assert_eq!(done["fields"]["rewrapped"], 1);
    assert!(
        !server.output().contains(&bao.root_token),
        "the token was logged"
    );
    assert!(
        !server
            .workdir()
            .join("mandate-data/dev-encryption-key")
            .exists()
    );
    drop(server);
    assert_eq!(
        vault
            .open(ws, "connection.credentials", "row-1", &sealed)
            .await
            .unwrap()
            .as_slice(),
        b"xoxb-1"
    );

    // Provider down at start: one clear line, exit 1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down_addr = format!("http://127.0.0.1:{port}");
    let mut down_env = env.to_vec();
    down_env[3] = ("VAULT_ADDR", down_addr.as_str());
    let out = server::run(bin(), &["serve"], &down_env);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("mandate: "))
        .unwrap();
    assert!(
        line.contains("key provider vault-transit: cannot reach http://127.0.0.1:"),
        "{line}"
    );
}

/// ENCRYPTION_KEY_MODE=aws-kms against a real moto server: the start checks the key, the first
/// data key comes from GenerateDataKey, and a stopped KMS stops the start with one line.
#[tokio::test]
async fn aws_kms_mode_starts_against_moto_and_refuses_when_kms_is_down() {
    use mandate_testkit::moto::{ACCESS_KEY_ID, MotoServer, REGION, SECRET_ACCESS_KEY};

    let moto = MotoServer::start();
    let endpoint = moto.endpoint.clone();
    let arn = moto.create_key();
    moto.boto3_kms(&format!(
        "kms.create_alias(AliasName='alias/mandate', TargetKeyId='{arn}')"
    ));
    let env = [
        ("MANDATE_PORT", "0"),
        ("ENCRYPTION_KEY_MODE", "aws-kms"),
        ("AWS_KMS_KEY_ID", "alias/mandate"),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ];
    let server = ServerProcess::spawn(bin(), &env);
    server.wait_listening();
    let ready = server.wait_for_event("key encryption key ready", |_| true, Duration::from_secs(1));
    assert_eq!(ready["fields"]["provider"], "aws-kms");
    assert_eq!(ready["fields"]["kek_id"], format!("aws-kms:{arn}"));
    assert!(!server.output().contains(SECRET_ACCESS_KEY));
    assert!(
        !server
            .workdir()
            .join("mandate-data/dev-encryption-key")
            .exists()
    );
    drop(server);

    drop(moto);
    let out = server::run(bin(), &["serve"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("mandate: "))
        .unwrap();
    assert!(
        line.contains("key provider aws-kms: cannot reach http://127.0.0.1:"),
        "{line}"
    );
    assert!(!out.stderr.contains(SECRET_ACCESS_KEY));
}

/// ENCRYPTION_KEY_MODE=age with files made by the real `age` tools: start, a KEK change through
/// AGE_KEK_FILE_PREVIOUS with background re-wrap, then the new file alone; a wrong identity is
/// one clear line.
#[tokio::test]
async fn age_mode_opens_the_sealed_kek_and_follows_a_kek_change() {
    use std::process::Command;

    let dir = mandate_testkit::TempDir::new("agekek");
    let d = dir.path();
    let keygen = |name: &str| {
        let path = d.join(name);
        assert!(
            Command::new("age-keygen")
                .arg("-o")
                .arg(&path)
                .output()
                .unwrap()
                .status
                .success()
        );
        let text = std::fs::read_to_string(&path).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_string()
    };
    let seal = |recipient: &str, hex: &str, out: &str| {
        let mut child = Command::new("age")
            .args(["-r", recipient, "-o"])
            .arg(d.join(out))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(hex.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    };
    let recipient = keygen("identity.txt");
    let old = mandate_crypto::Key256::generate().unwrap();
    let new = mandate_crypto::Key256::generate().unwrap();
    seal(
        &recipient,
        &format!("{}\n", old.to_hex().as_str()),
        "old.age",
    );
    seal(
        &recipient,
        &format!("{}\n", new.to_hex().as_str()),
        "new.age",
    );
    let db_url = format!("sqlite://{}", d.join("mandate.db").display());
    let path = |name: &str| d.join(name).to_str().unwrap().to_string();
    let (identity, old_file, new_file) = (path("identity.txt"), path("old.age"), path("new.age"));

    // First run with the old KEK file creates a data key for a workspace.
    let db = mandate_store::Db::connect(&mandate_store::DbOptions::new(Some(db_url.clone()), d))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let ws = mandate_store::workspaces::create(&db, "Acme", time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .id;
    let base = [
        ("MANDATE_PORT", "0"),
        ("DATABASE_URL", db_url.as_str()),
        ("ENCRYPTION_KEY_MODE", "age"),
        ("AGE_IDENTITY_FILE", identity.as_str()),
    ];
    let with = |extra: &[(&'static str, &str)]| {
        let mut v: Vec<(&str, String)> = base.iter().map(|(k, v)| (*k, v.to_string())).collect();
        v.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        v
    };

    let first = with(&[("AGE_KEK_FILE", &old_file)]);
    let server = ServerProcess::spawn(bin(), &as_refs(&first));
    server.wait_listening();
    let ready = server.wait_for_event("key encryption key ready", |_| true, Duration::from_secs(1));
    assert_eq!(ready["fields"]["provider"], "age");
    assert!(
        ready["fields"]["kek_id"]
            .as_str()
            .unwrap()
            .starts_with("age-")
    );
    drop(server);
    let old_vault = mandate_server::vault::Vault::new(
        db.clone(),
        mandate_crypto::kek::Kek::Age(
            mandate_crypto::kek::EnvKek::with_prefix("age", &old, None).unwrap(),
        ),
        8,
    );
    let sealed = old_vault
        .seal(ws, "connection.credentials", "row-1", b"secret")
        .await
        .unwrap();

    let rotating = with(&[
        ("AGE_KEK_FILE", &new_file),
        ("AGE_KEK_FILE_PREVIOUS", &old_file),
    ]);
    let server = ServerProcess::spawn(bin(), &as_refs(&rotating));
    server.wait_listening();
    let done = server.wait_for_event(
        "data keys re-wrapped under the current key encryption key; ENCRYPTION_KEY_PREVIOUS can be removed",
        |_| true,
        Duration::from_secs(20),
    );
    assert_eq!(done["fields"]["rewrapped"], 1);
    assert!(!server.output().contains(new.to_hex().as_str()));
    drop(server);

    let after = with(&[("AGE_KEK_FILE", &new_file)]);
    let server = ServerProcess::spawn(bin(), &as_refs(&after));
    server.wait_listening();
    drop(server);
    let new_vault = mandate_server::vault::Vault::new(
        db.clone(),
        mandate_crypto::kek::Kek::Age(
            mandate_crypto::kek::EnvKek::with_prefix("age", &new, None).unwrap(),
        ),
        8,
    );
    assert_eq!(
        new_vault
            .open(ws, "connection.credentials", "row-1", &sealed)
            .await
            .unwrap()
            .as_slice(),
        b"secret"
    );

    keygen("stranger.txt");
    let stranger = path("stranger.txt");
    let mut wrong = with(&[("AGE_KEK_FILE", &new_file)]);
    wrong[3].1 = stranger;
    let out = server::run(bin(), &["serve"], &as_refs(&wrong));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("mandate: "))
        .unwrap();
    assert!(
        line.contains("AGE_KEK_FILE (")
            && line.contains("no identity in the identity file can open this age file"),
        "{line}"
    );
}

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `mandate keys status` and `mandate keys rotate-kek`, with env keys and with OpenBao Transit.
#[tokio::test]
async fn keys_status_and_rotate_kek() {
    use mandate_crypto::Key256;
    use mandate_crypto::kek::{EnvKek, Kek};
    use mandate_server::vault::Vault;

    let dir = mandate_testkit::TempDir::new("keys");
    let db_url = format!("sqlite://{}", dir.path().join("mandate.db").display());
    let (old, new) = (Key256::generate().unwrap(), Key256::generate().unwrap());
    let (old_hex, new_hex) = (old.to_hex().to_string(), new.to_hex().to_string());
    let db = mandate_store::Db::connect(&mandate_store::DbOptions::new(
        Some(db_url.clone()),
        dir.path(),
    ))
    .await
    .unwrap();
    db.migrate().await.unwrap();
    let vault = Vault::new(db.clone(), Kek::Env(EnvKek::new(&old, None).unwrap()), 8);
    for name in ["A", "B"] {
        let ws = mandate_store::workspaces::create(&db, name, time::OffsetDateTime::now_utc())
            .await
            .unwrap()
            .id;
        vault
            .seal(ws, "connection.credentials", "row", b"s")
            .await
            .unwrap();
    }

    let status = server::run(
        bin(),
        &["keys", "status"],
        &[("DATABASE_URL", &db_url), ("ENCRYPTION_KEY", &old_hex)],
    );
    assert!(status.status.success(), "{}", status.stderr);
    assert!(
        status.stdout.contains("key encryption key provider: env"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("data keys: 2"), "{}", status.stdout);
    assert!(status.stdout.contains(": 2 (current)"), "{}", status.stdout);
    assert!(
        status.stdout.contains("rotation schedule: none"),
        "{}",
        status.stdout
    );

    // Only the new key configured: the status says the data keys cannot be opened, exit 1.
    let lost = server::run(
        bin(),
        &["keys", "status"],
        &[("DATABASE_URL", &db_url), ("ENCRYPTION_KEY", &new_hex)],
    );
    assert_eq!(lost.status.code(), Some(1));
    assert!(lost.stdout.contains("NOT OPENABLE"), "{}", lost.stdout);

    // rotate-kek needs the previous key next to the new one for env.
    let refused = server::run(
        bin(),
        &["keys", "rotate-kek"],
        &[("DATABASE_URL", &db_url), ("ENCRYPTION_KEY", &old_hex)],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        refused.stderr.contains("ENCRYPTION_KEY_PREVIOUS"),
        "{}",
        refused.stderr
    );
    let rotating = [
        ("DATABASE_URL", db_url.as_str()),
        ("ENCRYPTION_KEY", new_hex.as_str()),
        ("ENCRYPTION_KEY_PREVIOUS", old_hex.as_str()),
    ];
    let rotated = server::run(bin(), &["keys", "rotate-kek"], &rotating);
    assert!(rotated.status.success(), "{}", rotated.stderr);
    assert!(
        rotated.stdout.contains("data keys re-wrapped: 2"),
        "{}",
        rotated.stdout
    );
    let again = server::run(bin(), &["keys", "rotate-kek"], &rotating);
    assert!(
        again.stdout.contains("data keys re-wrapped: 0"),
        "idempotent: {}",
        again.stdout
    );
    let after = server::run(
        bin(),
        &["keys", "status"],
        &[("DATABASE_URL", &db_url), ("ENCRYPTION_KEY", &new_hex)],
    );
    assert!(
        after.status.success() && after.stdout.contains(": 2 (current)"),
        "{}",
        after.stdout
    );
    for out in [&status, &lost, &refused, &rotated, &after] {
        assert!(!out.stdout.contains(&old_hex) && !out.stderr.contains(&new_hex));
    }

    // Transit: rotate-kek makes a new key version and moves the data keys to it.
    let bao = mandate_testkit::bao::BaoDev::start();
    bao.transit_key("mandate");
    let transit_db = format!("sqlite://{}", dir.path().join("transit.db").display());
    let env = [
        ("DATABASE_URL", transit_db.as_str()),
        ("ENCRYPTION_KEY_MODE", "vault-transit"),
        ("VAULT_ADDR", bao.addr.as_str()),
        ("VAULT_TOKEN", bao.root_token.as_str()),
    ];
    let tdb = mandate_store::Db::connect(&mandate_store::DbOptions::new(
        Some(transit_db.clone()),
        dir.path(),
    ))
    .await
    .unwrap();
    tdb.migrate().await.unwrap();
    let ws = mandate_store::workspaces::create(&tdb, "T", time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .id;
    let map: std::collections::HashMap<String, std::ffi::OsString> =
        env.iter().map(|(k, v)| (k.to_string(), v.into())).collect();
    let config = mandate_server::config::Config::load(&|n| map.get(n).cloned(), None).unwrap();
    let tvault = Vault::new(
        tdb.clone(),
        mandate_server::vault::kek_from_config(&config)
            .await
            .unwrap(),
        8,
    );
    let sealed = tvault
        .seal(ws, "connection.credentials", "row", b"t")
        .await
        .unwrap();
    let rotated = server::run(bin(), &["keys", "rotate-kek"], &env);
    assert!(rotated.status.success(), "{}", rotated.stderr);
    assert!(
        rotated
            .stdout
            .contains("key encryption key: transit:transit/mandate:v2"),
        "{}",
        rotated.stdout
    );
    assert!(
        rotated.stdout.contains("data keys re-wrapped: 1"),
        "{}",
        rotated.stdout
    );
    bao.cli(&[
        "write",
        "transit/keys/mandate/config",
        "min_decryption_version=2",
    ]);
    let fresh = Vault::new(
        tdb.clone(),
        mandate_server::vault::kek_from_config(&config)
            .await
            .unwrap(),
        8,
    );
    assert_eq!(
        fresh
            .open(ws, "connection.credentials", "row", &sealed)
            .await
            .unwrap()
            .as_slice(),
        b"t"
    );
}
