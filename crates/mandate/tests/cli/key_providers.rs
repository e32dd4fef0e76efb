//! Each key encryption key provider through the binary: env key change, OpenBao Transit,
//! AWS KMS (moto), age.

use std::time::Duration;

use mandate_testkit::server::{self, ServerProcess};

use super::{as_refs, bin};

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
    let db = super::open_db(&db_url, dir.path()).await;
    let ws = super::new_workspace(&db, "Acme").await;
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
        "data keys re-wrapped under the current key encryption key",
        |_| true,
        Duration::from_secs(20),
    );
    assert_eq!(done["fields"]["rewrapped"], 1);
    assert_eq!(
        done["fields"]["next_step"],
        "ENCRYPTION_KEY_PREVIOUS can be removed"
    );
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
    let db = super::open_db(&db_url, dir.path()).await;
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
    let db = super::open_db(&db_url, dir.path()).await;
    let ws = super::new_workspace(&db, "Acme").await;
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
        "data keys re-wrapped under the current key encryption key",
        |_| true,
        Duration::from_secs(20),
    );
    assert_eq!(done["fields"]["rewrapped"], 1);
    assert_eq!(
        done["fields"]["next_step"],
        "older key versions can be retired"
    );
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
    let port = mandate_testkit::free_port();
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
    let dir = mandate_testkit::TempDir::new("agekek");
    let d = dir.path();
    let keygen = |name: &str| mandate_testkit::age::keygen(d, name).1;
    let seal = |recipient: &str, hex: &str, out: &str| {
        mandate_testkit::age::encrypt(&["-r", recipient], hex.as_bytes(), &d.join(out));
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
    let db = super::open_db(&db_url, d).await;
    let ws = super::new_workspace(&db, "Acme").await;
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
        "data keys re-wrapped under the current key encryption key",
        |_| true,
        Duration::from_secs(20),
    );
    // The workspace's data key and the system workspace's (made at the first start to seal
    // the audit chain key).
    assert_eq!(done["fields"]["rewrapped"], 2);
    assert_eq!(
        done["fields"]["next_step"],
        "AGE_KEK_FILE_PREVIOUS can be removed"
    );
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
