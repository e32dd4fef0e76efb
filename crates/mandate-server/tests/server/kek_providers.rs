//! One suite, four key encryption key providers against their real peers: `env`, `age` (files
//! from the age CLI), `vault-transit` (an OpenBao dev server) and `aws-kms` (a moto server). Each
//! provider is built the way `mandate serve` builds it, from configuration variables, and goes
//! through the same round trip and the same rotation:
//!
//! 1. seal secrets in two workspaces; they open, and only for their own record;
//! 2. rotate the KEK the provider's way (new key + previous; Transit key rotation; KMS on-demand
//!    rotation), restart, re-wrap: every data key ends under the current KEK id;
//! 3. restart once more with the old KEK retired: everything still opens, and new data keys use
//!    the current KEK.
//!
//! Azure Key Vault has no real peer that can run on this machine: `azure_kv_from_recorded_exchanges`
//! builds that provider from configuration against recorded exchanges (the replay server of
//! mandate-testkit, with the recording of mandate-crypto's azure_kv test) and runs the round trip.

use std::collections::HashMap;
use std::ffi::OsString;

use mandate_crypto::Key256;
use mandate_crypto::kek::Kek;
use mandate_server::config::Config;
use mandate_server::vault::{Vault, VaultError, kek_from_config};
use mandate_store::{Db, DbOptions, data_keys, workspaces};
use mandate_testkit::bao::BaoDev;
use mandate_testkit::moto::{self, MotoServer};
use mandate_testkit::{TempDir, sqlite::TempSqlite};
use time::OffsetDateTime;

/// How a provider is configured before, during and after a rotation.
trait Provider {
    fn before(&self) -> Vec<(String, String)>;
    /// Rotate on the provider's side and return the configuration to restart with.
    fn rotate(&mut self) -> Vec<(String, String)>;
    /// The configuration once the old KEK is retired.
    fn retire_old(&mut self) -> Vec<(String, String)>;
}

async fn kek(vars: &[(String, String)]) -> Kek {
    let map: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| (k.clone(), OsString::from(v)))
        .collect();
    let config = Config::load(&|name| map.get(name).cloned(), None).unwrap();
    let kek = kek_from_config(&config).await.unwrap();
    kek.self_test().await.unwrap();
    kek
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const KIND: &str = "connection.credentials";

async fn run_suite(mut provider: impl Provider) {
    let file = TempSqlite::new();
    let db = Db::connect(&DbOptions::new(Some(file.url()), file.dir()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let now = OffsetDateTime::now_utc();
    let (a, b) = (
        workspaces::create(&db, "A", now).await.unwrap().id,
        workspaces::create(&db, "B", now).await.unwrap().id,
    );

    // 1. Round trip, bound to the record.
    let vault = Vault::new(db.clone(), kek(&provider.before()).await, 16);
    let sealed_a = vault.seal(a, KIND, "row-1", b"secret-a").await.unwrap();
    let sealed_b = vault.seal(b, KIND, "row-1", b"secret-b").await.unwrap();
    assert_eq!(
        vault
            .open(a, KIND, "row-1", &sealed_a)
            .await
            .unwrap()
            .as_slice(),
        b"secret-a"
    );
    assert_eq!(
        vault
            .open(b, KIND, "row-1", &sealed_b)
            .await
            .unwrap()
            .as_slice(),
        b"secret-b"
    );
    assert!(matches!(
        vault.open(a, KIND, "row-2", &sealed_a).await,
        Err(VaultError::Envelope(_))
    ));
    let fresh = Vault::new(db.clone(), kek(&provider.before()).await, 16);
    assert_eq!(
        fresh
            .open(b, KIND, "row-1", &sealed_b)
            .await
            .unwrap()
            .as_slice(),
        b"secret-b",
        "a new process unwraps through the provider"
    );

    // 2. Rotation and re-wrap.
    let rotated = Vault::new(db.clone(), kek(&provider.rotate()).await, 16);
    rotated.check_every_dek_is_reachable().await.unwrap();
    rotated.rewrap_to_current().await.unwrap();
    let current = rotated.kek().current_id();
    for row in data_keys::list(&db).await.unwrap() {
        assert_eq!(
            row.kek_id, current,
            "data key {} left under an old KEK",
            row.kid
        );
    }

    // 3. Old KEK retired.
    let after = Vault::new(db.clone(), kek(&provider.retire_old()).await, 16);
    after.check_every_dek_is_reachable().await.unwrap();
    assert_eq!(
        after
            .open(a, KIND, "row-1", &sealed_a)
            .await
            .unwrap()
            .as_slice(),
        b"secret-a"
    );
    assert_eq!(
        after
            .open(b, KIND, "row-1", &sealed_b)
            .await
            .unwrap()
            .as_slice(),
        b"secret-b"
    );
    let c = workspaces::create(&db, "C", now).await.unwrap().id;
    after.seal(c, KIND, "row-1", b"secret-c").await.unwrap();
    assert_eq!(
        data_keys::active(&db, c).await.unwrap().unwrap().kek_id,
        after.kek().current_id()
    );
}

struct Env {
    old: String,
    new: String,
}

impl Provider for Env {
    fn before(&self) -> Vec<(String, String)> {
        vars(&[("ENCRYPTION_KEY", &self.old)])
    }
    fn rotate(&mut self) -> Vec<(String, String)> {
        vars(&[
            ("ENCRYPTION_KEY", &self.new),
            ("ENCRYPTION_KEY_PREVIOUS", &self.old),
        ])
    }
    fn retire_old(&mut self) -> Vec<(String, String)> {
        vars(&[("ENCRYPTION_KEY", &self.new)])
    }
}

struct Age {
    dir: TempDir,
}

impl Age {
    fn new() -> Age {
        let dir = TempDir::new("age-suite");
        let (_, recipient) = mandate_testkit::age::keygen(dir.path(), "identity.txt");
        for name in ["old.age", "new.age"] {
            let hex = Key256::generate().unwrap().to_hex();
            mandate_testkit::age::encrypt(
                &["-a", "-r", &recipient],
                hex.as_bytes(),
                &dir.path().join(name),
            );
        }
        Age { dir }
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
    fn with(&self, kek: &str, previous: Option<&str>) -> Vec<(String, String)> {
        let mut v = vars(&[
            ("ENCRYPTION_KEY_MODE", "age"),
            ("AGE_IDENTITY_FILE", &self.path("identity.txt")),
            ("AGE_KEK_FILE", &self.path(kek)),
        ]);
        if let Some(previous) = previous {
            v.push(("AGE_KEK_FILE_PREVIOUS".into(), self.path(previous)));
        }
        v
    }
}

impl Provider for Age {
    fn before(&self) -> Vec<(String, String)> {
        self.with("old.age", None)
    }
    fn rotate(&mut self) -> Vec<(String, String)> {
        self.with("new.age", Some("old.age"))
    }
    fn retire_old(&mut self) -> Vec<(String, String)> {
        self.with("new.age", None)
    }
}

struct Transit {
    bao: BaoDev,
}

impl Transit {
    fn vars(&self) -> Vec<(String, String)> {
        vars(&[
            ("ENCRYPTION_KEY_MODE", "vault-transit"),
            ("VAULT_ADDR", &self.bao.addr),
            ("VAULT_TOKEN", &self.bao.root_token),
        ])
    }
}

impl Provider for Transit {
    fn before(&self) -> Vec<(String, String)> {
        self.vars()
    }
    fn rotate(&mut self) -> Vec<(String, String)> {
        self.bao
            .cli(&["write", "-f", "transit/keys/mandate/rotate"]);
        self.vars()
    }
    fn retire_old(&mut self) -> Vec<(String, String)> {
        self.bao.cli(&[
            "write",
            "transit/keys/mandate/config",
            "min_decryption_version=2",
        ]);
        self.vars()
    }
}

struct Kms {
    moto: MotoServer,
    arn: String,
}

impl Kms {
    fn vars(&self) -> Vec<(String, String)> {
        vars(&[
            ("ENCRYPTION_KEY_MODE", "aws-kms"),
            ("AWS_KMS_KEY_ID", &self.arn),
            ("AWS_REGION", moto::REGION),
            ("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY),
            ("AWS_ENDPOINT_URL", &self.moto.endpoint),
        ])
    }
}

impl Provider for Kms {
    fn before(&self) -> Vec<(String, String)> {
        self.vars()
    }
    /// KMS keeps the key id and all material versions: nothing to re-wrap.
    fn rotate(&mut self) -> Vec<(String, String)> {
        self.moto
            .boto3_kms(&format!("kms.rotate_key_on_demand(KeyId='{}')", self.arn));
        self.vars()
    }
    fn retire_old(&mut self) -> Vec<(String, String)> {
        self.vars()
    }
}

#[tokio::test]
async fn env() {
    let key = || Key256::generate().unwrap().to_hex().to_string();
    run_suite(Env {
        old: key(),
        new: key(),
    })
    .await;
}

#[tokio::test]
async fn age() {
    run_suite(Age::new()).await;
}

#[tokio::test]
async fn vault_transit() {
    let bao = BaoDev::start();
    bao.transit_key("mandate");
    run_suite(Transit { bao }).await;
}

#[tokio::test]
async fn aws_kms() {
    let moto = MotoServer::start();
    let arn = moto.create_key();
    run_suite(Kms { moto, arn }).await;
}

#[tokio::test]
async fn azure_kv_from_recorded_exchanges() {
    let recording: serde_json::Value = serde_json::from_str(include_str!(
        "../../../mandate-crypto/tests/fixtures/azure_kv_exchanges.json"
    ))
    .unwrap();
    let base =
        mandate_testkit::replay::serve(recording["exchanges"].as_array().unwrap().clone()).await;
    let vars = vars(&[
        ("ENCRYPTION_KEY_MODE", "azure-kv"),
        ("AZURE_KEY_VAULT_URI", &base),
        ("IDENTITY_ENDPOINT", &format!("{base}/msi/token")),
        ("IDENTITY_HEADER", "3f0b0c1c-identity-header"),
    ]);
    let provider = kek(&vars).await;
    assert_eq!(provider.provider(), "azure-kv");
    let file = TempSqlite::new();
    let db = Db::connect(&DbOptions::new(Some(file.url()), file.dir()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let ws = workspaces::create(&db, "A", OffsetDateTime::now_utc())
        .await
        .unwrap()
        .id;
    let vault = Vault::new(db.clone(), provider, 16);
    let sealed = vault.seal(ws, KIND, "row-1", b"secret").await.unwrap();
    let again = Vault::new(db, kek(&vars).await, 16);
    assert_eq!(
        again
            .open(ws, KIND, "row-1", &sealed)
            .await
            .unwrap()
            .as_slice(),
        b"secret"
    );
}
