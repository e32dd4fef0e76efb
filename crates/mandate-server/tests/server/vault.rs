//! The vault service over a real database: every test runs on SQLite and on PostgreSQL.

use mandate_crypto::Key256;
use mandate_crypto::envelope::EnvelopeError;
use mandate_crypto::kek::{EnvKek, Kek, KekError};
use mandate_server::vault::{Vault, VaultError};
use mandate_store::{Db, data_keys, workspaces};
use time::OffsetDateTime;
use uuid::Uuid;

backend_suite!(
    seal_and_open_with_one_data_key_per_workspace,
    a_secret_opens_only_for_its_record,
    a_new_process_opens_what_an_old_one_sealed,
    changing_the_kek_without_the_previous_one_is_refused_by_name,
    changing_the_kek_with_the_previous_one_rewraps_every_data_key,
    concurrent_first_seals_share_one_data_key,
    the_cache_is_bounded_and_evicted_keys_still_open,
    rotating_a_data_key_reencrypts_every_record_and_retires_the_old_key,
    an_interrupted_data_key_rotation_resumes_with_the_same_new_key,
);

fn env_kek(current: &Key256, previous: Option<&Key256>) -> Kek {
    Kek::Env(EnvKek::new(current, previous).unwrap())
}

fn vault(db: &Db, kek: &Key256) -> Vault {
    Vault::new(db.clone(), env_kek(kek, None), 64)
}

async fn workspace(db: &Db, name: &str) -> Uuid {
    workspaces::create(db, name, OffsetDateTime::now_utc())
        .await
        .unwrap()
        .id
}

const KIND: &str = "connection.credentials";

async fn seal_and_open_with_one_data_key_per_workspace(db: &Db) {
    let kek = Key256::generate().unwrap();
    let v = vault(db, &kek);
    let (acme, globex) = (workspace(db, "Acme").await, workspace(db, "Globex").await);
    let a = v.seal(acme, KIND, "row-1", b"sk-acme").await.unwrap();
    let b = v.seal(globex, KIND, "row-1", b"sk-globex").await.unwrap();
    assert!(!a.contains("sk-acme"));
    assert_eq!(
        v.open(acme, KIND, "row-1", &a).await.unwrap().as_slice(),
        b"sk-acme"
    );
    assert_eq!(
        v.open(globex, KIND, "row-1", &b).await.unwrap().as_slice(),
        b"sk-globex"
    );
    let dek_a = data_keys::active(db, acme).await.unwrap().unwrap();
    let dek_b = data_keys::active(db, globex).await.unwrap().unwrap();
    assert_ne!(dek_a.kid, dek_b.kid);
    assert!(a.contains(&dek_a.kid));
    // The stored wrapping is not the key: it is an envelope under the KEK.
    assert!(dek_a.wrapped.starts_with(r#"{"v":1,"alg":"A256GCM""#));
    // A second secret in the same workspace reuses the data key.
    let a2 = v.seal(acme, KIND, "row-2", b"another").await.unwrap();
    assert!(a2.contains(&dek_a.kid));
    assert_eq!(data_keys::list(db).await.unwrap().len(), 2);
}

async fn a_secret_opens_only_for_its_record(db: &Db) {
    let v = vault(db, &Key256::generate().unwrap());
    let (acme, globex) = (workspace(db, "Acme").await, workspace(db, "Globex").await);
    let sealed = v.seal(acme, KIND, "row-1", b"secret").await.unwrap();
    let tampered =
        |r: Result<_, VaultError>| matches!(r, Err(VaultError::Envelope(EnvelopeError::Tampered)));
    assert!(tampered(v.open(acme, KIND, "row-2", &sealed).await));
    assert!(tampered(
        v.open(acme, "user.totp_seed", "row-1", &sealed).await
    ));
    // Another workspace does not even hold that data key.
    assert!(matches!(
        v.open(globex, KIND, "row-1", &sealed).await,
        Err(VaultError::UnknownDataKey { .. })
    ));
}

async fn a_new_process_opens_what_an_old_one_sealed(db: &Db) {
    let kek = Key256::generate().unwrap();
    let ws = workspace(db, "Acme").await;
    let sealed = vault(db, &kek)
        .seal(ws, KIND, "row-1", b"persisted")
        .await
        .unwrap();
    let fresh = vault(db, &kek);
    assert_eq!(fresh.cached_keys(), 0);
    assert_eq!(
        fresh
            .open(ws, KIND, "row-1", &sealed)
            .await
            .unwrap()
            .as_slice(),
        b"persisted"
    );
    assert_eq!(fresh.cached_keys(), 1);
}

async fn changing_the_kek_without_the_previous_one_is_refused_by_name(db: &Db) {
    let old = Key256::generate().unwrap();
    let ws = workspace(db, "Acme").await;
    let sealed = vault(db, &old)
        .seal(ws, KIND, "row-1", b"secret")
        .await
        .unwrap();

    let new_only = vault(db, &Key256::generate().unwrap());
    let refusal = new_only
        .check_every_dek_is_reachable()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refusal.contains("ENCRYPTION_KEY_PREVIOUS") && refusal.contains("1 data key(s)"),
        "{refusal}"
    );
    assert!(matches!(
        new_only.open(ws, KIND, "row-1", &sealed).await,
        Err(VaultError::Kek(KekError::UnknownKek { .. }))
    ));
}

async fn changing_the_kek_with_the_previous_one_rewraps_every_data_key(db: &Db) {
    let (old, new) = (Key256::generate().unwrap(), Key256::generate().unwrap());
    let mut sealed = Vec::new();
    let before = vault(db, &old);
    for name in ["A", "B", "C"] {
        let ws = workspace(db, name).await;
        sealed.push((
            ws,
            before.seal(ws, KIND, "row", name.as_bytes()).await.unwrap(),
        ));
    }

    // Two replicas restart with the new key and the previous one, and re-wrap at once.
    let replica_1 = Vault::new(db.clone(), env_kek(&new, Some(&old)), 64);
    let replica_2 = Vault::new(db.clone(), env_kek(&new, Some(&old)), 64);
    replica_1.check_every_dek_is_reachable().await.unwrap();
    let (r1, r2) = tokio::join!(replica_1.rewrap_to_current(), replica_2.rewrap_to_current());
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(
        r1.rewrapped + r2.rewrapped,
        3,
        "each data key re-wrapped exactly once"
    );

    // Now the previous key can go: everything opens with the new key alone.
    let after = vault(db, &new);
    after.check_every_dek_is_reachable().await.unwrap();
    for (ws, text) in &sealed {
        assert!(after.open(*ws, KIND, "row", text).await.is_ok());
    }
    let counts = data_keys::count_by_kek(db).await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].1, 3);
}

async fn concurrent_first_seals_share_one_data_key(db: &Db) {
    let kek = Key256::generate().unwrap();
    let ws = workspace(db, "Acme").await;
    // Separate vaults, like separate replicas: no shared cache.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let v = vault(db, &kek);
            tokio::spawn(async move { v.seal(ws, KIND, &format!("row-{i}"), b"x").await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(data_keys::list(db).await.unwrap().len(), 1);
}

async fn the_cache_is_bounded_and_evicted_keys_still_open(db: &Db) {
    let kek = Key256::generate().unwrap();
    let v = Vault::new(db.clone(), env_kek(&kek, None), 2);
    let mut sealed = Vec::new();
    for i in 0..5 {
        let ws = workspace(db, &format!("W{i}")).await;
        sealed.push((ws, v.seal(ws, KIND, "row", b"s").await.unwrap()));
        assert!(v.cached_keys() <= 2);
    }
    for (ws, text) in &sealed {
        assert_eq!(
            v.open(*ws, KIND, "row", text).await.unwrap().as_slice(),
            b"s"
        );
        assert!(v.cached_keys() <= 2);
    }
}

/// Signing keys are the sealed records of the system workspace: seal `n` of them.
async fn seal_signing_rows(db: &Db, v: &Vault, n: usize) -> Vec<(String, Vec<u8>)> {
    use mandate_store::signing_keys::{self, SigningKeyRow};
    let mut out = Vec::new();
    for i in 0..n {
        let kid = format!("sk-{i}");
        let secret = format!("private key {i}").into_bytes();
        let sealed = v
            .seal(workspaces::SYSTEM, "signing_key", &kid, &secret)
            .await
            .unwrap();
        let row = SigningKeyRow {
            kid: kid.clone(),
            alg: "EdDSA".into(),
            private_key: sealed,
            public_jwk: "{}".into(),
            state: "current".into(),
            created_at: OffsetDateTime::now_utc(),
            retire_after: None,
        };
        signing_keys::rotate(db, &row, OffsetDateTime::now_utc())
            .await
            .unwrap();
        out.push((kid, secret));
    }
    out
}

async fn stored_private_key(db: &Db, kid: &str) -> String {
    mandate_store::on_pool!(db, pool => sqlx::query_scalar("SELECT private_key FROM signing_keys WHERE kid = $1")
        .bind(kid).fetch_one(pool).await).unwrap()
}

async fn rotating_a_data_key_reencrypts_every_record_and_retires_the_old_key(db: &Db) {
    use mandate_store::data_keys::DekState;
    let kek = Key256::generate().unwrap();
    let v = vault(db, &kek);
    let rows = seal_signing_rows(db, &v, 3).await;
    let old_kid = data_keys::active(db, workspaces::SYSTEM)
        .await
        .unwrap()
        .unwrap()
        .kid;

    let mut seen = Vec::new();
    let report = v
        .rotate_dek(workspaces::SYSTEM, None, |done, total| {
            seen.push((done, total))
        })
        .await
        .unwrap();
    assert_ne!(report.new_kid, old_kid);
    assert_eq!(report.retired, vec![old_kid.clone()]);
    assert_eq!(report.reencrypted, 3);
    assert_eq!(seen.first(), Some(&(0, 3)));
    assert_eq!(seen.last(), Some(&(3, 3)));

    let fresh = vault(db, &kek);
    for (kid, secret) in &rows {
        let stored = stored_private_key(db, kid).await;
        assert!(
            stored.contains(&report.new_kid),
            "{kid} still under the old key"
        );
        assert_eq!(
            fresh
                .open(workspaces::SYSTEM, "signing_key", kid, &stored)
                .await
                .unwrap()
                .as_slice(),
            secret.as_slice()
        );
    }
    let states: Vec<(String, DekState)> = data_keys::list(db)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.state))
        .collect();
    assert!(states.contains(&(old_kid, DekState::Retired)));
    assert!(states.contains(&(report.new_kid.clone(), DekState::Active)));
    // New secrets use the new key at once, in this process.
    let next = v
        .seal(workspaces::SYSTEM, "signing_key", "sk-new", b"x")
        .await
        .unwrap();
    assert!(next.contains(&report.new_kid));

    // A workspace that had no key yet just gets one.
    let ws = workspace(db, "Empty").await;
    let first = v.rotate_dek(ws, None, |_, _| {}).await.unwrap();
    assert!(first.retired.is_empty() && first.reencrypted == 0);
    assert_eq!(
        data_keys::active(db, ws).await.unwrap().unwrap().kid,
        first.new_kid
    );
}

async fn an_interrupted_data_key_rotation_resumes_with_the_same_new_key(db: &Db) {
    use mandate_store::data_keys::{DataKeyRow, DekState};
    let kek = Key256::generate().unwrap();
    let v = vault(db, &kek);
    let rows = seal_signing_rows(db, &v, 2).await;
    let old = data_keys::active(db, workspaces::SYSTEM)
        .await
        .unwrap()
        .unwrap();

    // A run that made the new key and stopped before re-encrypting anything.
    let fresh_material = Key256::generate().unwrap();
    let kid = "dek-interrupted".to_string();
    let wrapped = v
        .kek()
        .wrap(
            &fresh_material,
            mandate_crypto::kek::WrapContext {
                workspace_id: &workspaces::SYSTEM.to_string(),
                dek_kid: &kid,
            },
        )
        .await
        .unwrap();
    let row = DataKeyRow {
        kid: kid.clone(),
        workspace_id: workspaces::SYSTEM,
        kek_id: wrapped.kek_id,
        wrapped: wrapped.wrapped,
        state: DekState::Active,
        created_at: OffsetDateTime::now_utc(),
    };
    assert_eq!(
        data_keys::replace_active(db, &row).await.unwrap(),
        Some(old.kid.clone())
    );

    let report = vault(db, &kek)
        .rotate_dek(workspaces::SYSTEM, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        report.new_kid, kid,
        "no third key: the interrupted rotation is finished"
    );
    assert_eq!(report.retired, vec![old.kid]);
    assert_eq!(report.reencrypted, 2);
    for (id, secret) in &rows {
        let stored = stored_private_key(db, id).await;
        assert!(stored.contains(&kid));
        assert_eq!(
            v.open(workspaces::SYSTEM, "signing_key", id, &stored)
                .await
                .unwrap()
                .as_slice(),
            secret.as_slice()
        );
    }
}
