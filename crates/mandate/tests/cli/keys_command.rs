//! `mandate keys status` and `mandate keys rotate-kek`.

use mandate_testkit::server;

use super::bin;

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
    let db = super::open_db(&db_url, dir.path()).await;
    let vault = Vault::new(db.clone(), Kek::Env(EnvKek::new(&old, None).unwrap()), 8);
    for name in ["A", "B"] {
        let ws = super::new_workspace(&db, name).await;
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
        // The two workspaces' keys and the system workspace's, made when the refused run above
        // opened the audit log (its chain key is sealed there).
        rotated.stdout.contains("data keys re-wrapped: 3"),
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
        after.status.success() && after.stdout.contains(": 3 (current)"),
        "{}",
        after.stdout
    );
    // rotate-kek recorded the new KEK as in use (its age shows); records are counted per data key.
    assert!(
        after.stdout.contains("(in use for 0 days)"),
        "{}",
        after.stdout
    );
    assert!(
        after.stdout.contains("sealed records per data key:"),
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
    let tdb = super::open_db(&transit_db, dir.path()).await;
    let ws = super::new_workspace(&tdb, "T").await;
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
    // The workspace's key and the system workspace's (the audit chain key is sealed there).
    assert!(
        rotated.stdout.contains("data keys re-wrapped: 2"),
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

/// `mandate keys rotate-signing`: a new current key, the former one still published; refused
/// when the key comes from JWT_PRIVATE_KEY.
#[test]
fn keys_rotate_signing() {
    let dir = mandate_testkit::TempDir::new("rotsign");
    let db_url = format!("sqlite://{}", dir.path().join("mandate.db").display());
    let env = [
        ("DATABASE_URL", db_url.as_str()),
        ("MANDATE_ENV", "production"),
        ("PUBLIC_URL", "https://mandate.test"),
        ("ENCRYPTION_KEY", super::KEY),
    ];
    let first = server::run(
        bin(),
        &["keys", "rotate-signing", "--algorithm", "ES256"],
        &env,
    );
    assert!(first.status.success(), "{}", first.stderr);
    assert!(first.stdout.contains("(ES256)"), "{}", first.stdout);
    let status = server::run(bin(), &["keys", "status"], &env);
    assert!(status.status.success(), "{}", status.stderr);
    let signing: Vec<&str> = status
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("signing keys"))
        .skip(1)
        .collect();
    assert_eq!(
        signing.len(),
        2,
        "the generated key and the rotated one: {}",
        status.stdout
    );
    assert!(
        signing[0].contains("ES256 current: 0 days"),
        "{}",
        status.stdout
    );
    assert!(signing[1].contains("RS256 previous"), "{}", status.stdout);

    // rotate-dek re-encrypts both sealed signing keys and the audit chain key (system
    // workspace), with progress.
    let dek = server::run(bin(), &["keys", "rotate-dek"], &env);
    assert!(dek.status.success(), "{}", dek.stderr);
    assert!(
        dek.stdout
            .contains("workspace 00000000-0000-0000-0000-000000000000: data key dek-")
            && dek
                .stdout
                .contains("3 secret(s) re-encrypted; retired: dek-"),
        "{}",
        dek.stdout
    );
    assert!(dek.stderr.contains("re-encrypted 3/3"), "{}", dek.stderr);
    // The signing keys still load (a start unseals the current one) under the new data key.
    let after = server::run(bin(), &["keys", "rotate-signing"], &env);
    assert!(after.status.success(), "{}", after.stderr);
    let bad_ws = server::run(bin(), &["keys", "rotate-dek", "--workspace", "acme"], &env);
    let dev = server::run(
        bin(),
        &["keys", "rotate-signing"],
        &[("DATABASE_URL", db_url.as_str())],
    );
    assert_eq!(dev.status.code(), Some(2));
    assert!(
        dev.stderr.contains("throwaway signing key"),
        "{}",
        dev.stderr
    );
    assert_eq!(bad_ws.status.code(), Some(2));
    let bad = server::run(
        bin(),
        &["keys", "rotate-signing", "--algorithm", "HS256"],
        &env,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        bad.stderr
            .contains("`HS256` is not one of RS256, ES256, EdDSA"),
        "{}",
        bad.stderr
    );

    let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
    let mut configured = env.to_vec();
    configured.push(("JWT_PRIVATE_KEY", pem));
    let refused = server::run(bin(), &["keys", "rotate-signing"], &configured);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        refused.stderr.contains("JWT_PRIVATE_KEY"),
        "{}",
        refused.stderr
    );
}
