//! The keys that sign the tokens Mandate issues, and the JWKS that publishes them.
//!
//! Where the current key comes from (see docs/configuration.md, "Signing keys"): JWT_PRIVATE_KEY
//! when set; otherwise, in production, a key generated once and stored sealed; in development, a
//! throwaway key in memory. Rotation makes a new current key and keeps the former one published
//! for [`PREVIOUS_KEY_GRACE`], longer than any token Mandate signs lives. Every replica reloads
//! the keys when the change bus says so, and once a minute in case a notice was missed.

mod routes;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use mandate_crypto::signing::{SigningAlg, SigningError, SigningKey, jwks};
use mandate_store::change_bus::{Change, ChangeBus, ChangeEvent, Topic};
use mandate_store::signing_keys::{self, SigningKeyRow};
use mandate_store::workspaces::SYSTEM;
use mandate_store::{Db, StoreError};
use secrecy::ExposeSecret;
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::{Config, ConfigError, RunMode};
use crate::vault::{Vault, VaultError};

pub use routes::routes;

/// How long a replaced key stays in the JWKS.
pub const PREVIOUS_KEY_GRACE: time::Duration = time::Duration::days(1);
const RELOAD_EVERY: Duration = Duration::from_secs(60);
const KIND: &str = "signing_key";

#[derive(Debug, thiserror::Error)]
pub enum SigningKeysError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid}: {source}")]
    Key { kid: String, source: SigningError },
}

#[derive(Clone)]
pub struct SigningKeys {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    vault: Vault,
    /// Development without JWT_PRIVATE_KEY: nothing is stored.
    ephemeral: bool,
    current: RwLock<Arc<SigningKey>>,
    jwks: RwLock<Value>,
}

impl SigningKeys {
    pub async fn start(
        config: &Config,
        db: &Db,
        vault: &Vault,
    ) -> Result<SigningKeys, SigningKeysError> {
        let now = OffsetDateTime::now_utc();
        let (current, ephemeral) = match (&config.jwt.private_key_pem, config.mode) {
            (Some(pem), _) => {
                let key = SigningKey::from_pem("pending", pem.expose_secret())
                    .map_err(|e| ConfigError::new("JWT_PRIVATE_KEY", e.to_string()))?;
                let kid = config.jwt.kid.clone().unwrap_or_else(|| key.thumbprint());
                let key = key.with_kid(kid);
                let stored = signing_keys::published(db, now).await?;
                // A kid names one key forever: verifiers cache the JWKS by kid.
                let public = key.public_jwk().to_string();
                if stored
                    .iter()
                    .any(|row| row.kid == key.kid() && row.public_jwk != public)
                {
                    return Err(ConfigError::new(
                        "JWT_KID",
                        format!(
                            "`{}` already names another signing key; give the new key a new JWT_KID \
                             (or leave it unset to use the key's thumbprint)",
                            key.kid()
                        ),
                    )
                    .into());
                }
                if stored.first().map(|row| row.kid.as_str()) != Some(key.kid()) {
                    match install(db, vault, &key, now).await {
                        Ok(()) => tracing::info!(
                            kid = key.kid(),
                            alg = key.alg().as_str(),
                            "signing key from JWT_PRIVATE_KEY is now current"
                        ),
                        // Another replica installed the same key at the same moment: fine.
                        Err(SigningKeysError::Store(StoreError::Conflict(_)))
                            if signing_keys::published(db, now)
                                .await?
                                .first()
                                .map(|r| r.kid.as_str())
                                == Some(key.kid()) => {}
                        Err(e) => return Err(e),
                    }
                }
                (key, false)
            }
            (None, RunMode::Production) => (
                load_or_generate(db, vault, config.jwt.algorithm, now).await?,
                false,
            ),
            (None, RunMode::Development) => {
                let key = generate(config.jwt.algorithm)?;
                tracing::warn!(
                    kid = key.kid(),
                    "DEVELOPMENT SIGNING KEY: a throwaway key signs tokens; they stop verifying at restart. Production stores its key."
                );
                (key, true)
            }
        };
        let keys = SigningKeys {
            inner: Arc::new(Inner {
                db: db.clone(),
                vault: vault.clone(),
                ephemeral,
                jwks: RwLock::new(jwks([&current])),
                current: RwLock::new(Arc::new(current)),
            }),
        };
        keys.reload().await?;
        Ok(keys)
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> Arc<SigningKey> {
        match self.inner.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// `{"keys": [...]}`: the current key and the previous ones still in their grace period.
    pub fn jwks(&self) -> Value {
        match self.inner.jwks.read() {
            Ok(jwks) => jwks.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Read the stored keys again (after a rotation elsewhere).
    pub async fn reload(&self) -> Result<(), SigningKeysError> {
        if self.inner.ephemeral {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc();
        signing_keys::retire_expired(&self.inner.db, now).await?;
        let rows = signing_keys::published(&self.inner.db, now).await?;
        let Some(current_row) = rows.first() else {
            return Ok(());
        };
        if current_row.kid != self.current().kid() {
            let key = unseal(&self.inner.vault, current_row).await?;
            if let Ok(mut slot) = self.inner.current.write() {
                *slot = Arc::new(key);
            }
        }
        let published: Vec<Value> = rows
            .iter()
            .filter_map(|row| serde_json::from_str(&row.public_jwk).ok())
            .collect();
        if let Ok(mut slot) = self.inner.jwks.write() {
            *slot = serde_json::json!({ "keys": published });
        }
        Ok(())
    }

    /// Generate a new current key; the former one stays published for the grace period. Tells
    /// every replica through the change bus.
    pub async fn rotate(
        &self,
        alg: SigningAlg,
        bus: Option<&ChangeBus>,
    ) -> Result<String, SigningKeysError> {
        let key = generate(alg)?;
        install(
            &self.inner.db,
            &self.inner.vault,
            &key,
            OffsetDateTime::now_utc(),
        )
        .await?;
        self.reload().await?;
        if let Some(bus) = bus {
            bus.publish(&Change::new(Topic::SigningKey).with_id(key.kid()))
                .await?;
        }
        tracing::info!(kid = key.kid(), alg = alg.as_str(), "signing key rotated");
        Ok(key.kid().to_string())
    }

    /// Keep the keys fresh: on change-bus notices and once a minute.
    pub fn spawn_refresh(&self, bus: &ChangeBus) {
        if self.inner.ephemeral {
            return;
        }
        let keys = self.clone();
        let mut changes = bus.subscribe();
        tokio::spawn(async move {
            loop {
                // A signing-key notice, a resync or a minute: reload. The bus gone: stop.
                let woke = tokio::time::timeout(RELOAD_EVERY, async {
                    loop {
                        match changes.recv().await {
                            Some(ChangeEvent::Changed(c)) if c.topic != Topic::SigningKey => {
                                continue;
                            }
                            Some(_) => return true,
                            None => return false,
                        }
                    }
                })
                .await;
                if woke == Ok(false) {
                    return;
                }
                if let Err(e) = keys.reload().await {
                    tracing::warn!(error = %e, "reloading signing keys failed; keeping the ones in memory");
                }
            }
        });
    }
}

fn generate(alg: SigningAlg) -> Result<SigningKey, SigningKeysError> {
    let key = SigningKey::generate(alg, "pending").map_err(|source| SigningKeysError::Key {
        kid: "new".into(),
        source,
    })?;
    let kid = key.thumbprint();
    Ok(key.with_kid(kid))
}

/// The stored current key, or a new one (the first replica to start wins; the others load it).
async fn load_or_generate(
    db: &Db,
    vault: &Vault,
    alg: SigningAlg,
    now: OffsetDateTime,
) -> Result<SigningKey, SigningKeysError> {
    if let Some(row) = signing_keys::published(db, now).await?.first() {
        return unseal(vault, row).await;
    }
    let key = generate(alg)?;
    match install(db, vault, &key, now).await {
        Ok(()) => {
            tracing::info!(
                kid = key.kid(),
                alg = alg.as_str(),
                "signing key generated and stored"
            );
            Ok(key)
        }
        Err(SigningKeysError::Store(StoreError::Conflict(_))) => {
            let row = signing_keys::published(db, now)
                .await?
                .into_iter()
                .next()
                .ok_or(StoreError::NotFound("signing key"))?;
            unseal(vault, &row).await
        }
        Err(e) => Err(e),
    }
}

/// Seal and store `key` as the current key.
async fn install(
    db: &Db,
    vault: &Vault,
    key: &SigningKey,
    now: OffsetDateTime,
) -> Result<(), SigningKeysError> {
    let der = key.to_pkcs8_der().map_err(|source| SigningKeysError::Key {
        kid: key.kid().into(),
        source,
    })?;
    let sealed = vault.seal(SYSTEM, KIND, key.kid(), &der).await?;
    let row = SigningKeyRow {
        kid: key.kid().to_string(),
        alg: key.alg().as_str().to_string(),
        private_key: sealed,
        public_jwk: key.public_jwk().to_string(),
        state: "current".into(),
        created_at: now,
        retire_after: None,
    };
    signing_keys::rotate(db, &row, now + PREVIOUS_KEY_GRACE).await?;
    Ok(())
}

async fn unseal(vault: &Vault, row: &SigningKeyRow) -> Result<SigningKey, SigningKeysError> {
    let der = vault.open(SYSTEM, KIND, &row.kid, &row.private_key).await?;
    SigningKey::from_pkcs8_der(row.kid.clone(), &der).map_err(|source| SigningKeysError::Key {
        kid: row.kid.clone(),
        source,
    })
}
