//! The vault service: encrypts and decrypts stored secrets for every other service.
//!
//! `seal(workspace, kind, row_id, plaintext)` gives the envelope text to store in that record;
//! `open(...)` with the same record gives the plaintext back. Under the hood each workspace has
//! one active data key (DEK), created on first use, stored wrapped by the KEK, and kept
//! unwrapped in a bounded cache, so after the first use the request path never calls the KEK
//! provider (a KMS, possibly remote).

mod dek_cache;
mod dek_rotation;
mod provider;
pub mod status;

use std::sync::Arc;

use mandate_crypto::Key256;
use mandate_crypto::envelope::{self, DataKey, Envelope, EnvelopeError, RecordBinding};
use mandate_crypto::kek::{Kek, KekError, WrapContext, WrappedDek};
use mandate_store::data_keys::{self, DataKeyRow, DekState};
use mandate_store::{Db, StoreError};
use uuid::Uuid;
use zeroize::Zeroizing;

pub use dek_cache::DekCache;
pub use dek_rotation::DekRotation;
pub use provider::{ProviderError, kek_from_config, previous_key_setting, unreachable_hint};
pub use status::{DEK_ROTATION_DAYS, KEK_ROTATION_DAYS, KekUsage, KeyStatus, OverdueDataKey};

/// How many unwrapped data keys stay in memory.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("data key {kid} of workspace {workspace_id} not found")]
    UnknownDataKey { workspace_id: Uuid, kid: String },
    /// The envelope opened, but what it held is not what its kind should hold.
    #[error("a sealed {0} does not hold what it should")]
    Corrupt(&'static str),
}

/// What [`Vault::rewrap_to_current`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RewrapReport {
    pub rewrapped: usize,
    /// Already re-wrapped by someone else meanwhile.
    pub skipped: usize,
}

#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    kek: Kek,
    cache: DekCache,
    /// Data key rotations running in this process: workspace -> (re-encrypted, total).
    rotations: dek_rotation::Running,
}

impl Vault {
    pub fn new(db: Db, kek: Kek, cache_capacity: usize) -> Vault {
        Vault {
            inner: Arc::new(Inner {
                db,
                kek,
                cache: DekCache::new(cache_capacity),
                rotations: dek_rotation::Running::default(),
            }),
        }
    }

    pub fn kek(&self) -> &Kek {
        &self.inner.kek
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Forget the cached active key of a workspace (its key was rotated, here or elsewhere).
    pub fn forget_active(&self, workspace_id: Uuid) {
        self.inner.cache.forget_active(workspace_id);
    }

    /// Follow data key rotations made by other processes: forget the cached active key of a
    /// workspace on its notice, and everything on a resync.
    pub fn spawn_cache_invalidation(&self, bus: &mandate_store::change_bus::ChangeBus) {
        use mandate_store::change_bus::{ChangeEvent, Topic};
        let vault = self.clone();
        let mut changes = bus.subscribe();
        tokio::spawn(async move {
            while let Some(event) = changes.recv().await {
                match event {
                    ChangeEvent::Changed(c) if c.topic == Topic::DataKey => {
                        if let Some(ws) = c.workspace_id {
                            vault.forget_active(ws);
                        }
                    }
                    ChangeEvent::Changed(_) => {}
                    ChangeEvent::Resync => vault.inner.cache.clear(),
                }
            }
        });
    }

    /// The database this vault keeps its keys in.
    pub fn db_handle(&self) -> Db {
        self.inner.db.clone()
    }

    pub fn cached_keys(&self) -> usize {
        self.inner.cache.len()
    }

    /// Encrypt `plaintext` for the record (`kind`, `row_id`) of `workspace_id`.
    pub async fn seal(
        &self,
        workspace_id: Uuid,
        kind: &str,
        row_id: &str,
        plaintext: &[u8],
    ) -> Result<String, VaultError> {
        let key = self.active_key(workspace_id).await?;
        let ws = workspace_id.to_string();
        let binding = RecordBinding {
            kind,
            row_id,
            workspace_id: &ws,
        };
        Ok(envelope::seal(&key, binding, plaintext)?.to_string())
    }

    /// Decrypt what `seal` gave for exactly this record.
    pub async fn open(
        &self,
        workspace_id: Uuid,
        kind: &str,
        row_id: &str,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let envelope = Envelope::parse(sealed)?;
        let key = self.key(workspace_id, envelope.kid()).await?;
        let ws = workspace_id.to_string();
        let binding = RecordBinding {
            kind,
            row_id,
            workspace_id: &ws,
        };
        Ok(envelope.open(&key, binding)?)
    }

    /// Record the current KEK as in use (for its age in `keys status`).
    pub async fn record_current_kek(&self) -> Result<(), VaultError> {
        let kek = &self.inner.kek;
        data_keys::record_kek(
            &self.inner.db,
            &kek.current_id(),
            kek.provider(),
            time::OffsetDateTime::now_utc(),
        )
        .await?;
        Ok(())
    }

    /// Refuse to run when a data key is wrapped by a KEK this process does not hold: every
    /// record under it would be unreadable. Names the KEK and the fix.
    pub async fn check_every_dek_is_reachable(&self) -> Result<(), VaultError> {
        self.inner.kek.refresh().await?;
        let held = self.inner.kek.held_ids();

        for (kek_id, count) in data_keys::count_by_kek(&self.inner.db).await? {
            if !held.contains(&kek_id) {
                return Err(VaultError::Kek(KekError::Provider {
                    provider: self.inner.kek.provider(),
                    reason: format!(
                        "{count} data key(s) are wrapped by key encryption key {kek_id}, which is not configured; {}",
                        unreachable_hint(self.inner.kek.provider())
                    ),
                }));
            }
        }
        Ok(())
    }

    /// Re-wrap under the current KEK every data key still wrapped by another one the process
    /// holds (ENCRYPTION_KEY_PREVIOUS). Resumable: each key is switched by a compare-and-set, so
    /// a crash or a second replica doing the same leaves every key wrapped by one of the two.
    pub async fn rewrap_to_current(&self) -> Result<RewrapReport, VaultError> {
        self.inner.kek.refresh().await?;
        let current = self.inner.kek.current_id();

        let mut report = RewrapReport::default();
        for old in self
            .inner
            .kek
            .held_ids()
            .into_iter()
            .filter(|id| *id != current)
        {
            for row in data_keys::wrapped_by(&self.inner.db, &old).await? {
                let material = self.unwrap_material(&row).await?;
                let ws = row.workspace_id.to_string();
                let context = WrapContext {
                    workspace_id: &ws,
                    dek_kid: &row.kid,
                };
                let rewrapped = self.inner.kek.wrap(&material, context).await?;
                if data_keys::rewrap(
                    &self.inner.db,
                    &row.kid,
                    &old,
                    &rewrapped.kek_id,
                    &rewrapped.wrapped,
                )
                .await?
                {
                    report.rewrapped += 1;
                } else {
                    report.skipped += 1;
                }
            }
        }
        Ok(report)
    }

    /// The workspace's active data key, created on first use.
    async fn active_key(&self, workspace_id: Uuid) -> Result<Arc<DataKey>, VaultError> {
        if let Some(key) = self.inner.cache.active(workspace_id) {
            return Ok(key);
        }
        let row = match data_keys::active(&self.inner.db, workspace_id).await? {
            Some(row) => row,
            None => match self.create_active(workspace_id).await {
                Ok(row) => row,
                // Another request or replica created it first: use theirs.
                Err(VaultError::Store(StoreError::Conflict(_))) => {
                    data_keys::active(&self.inner.db, workspace_id)
                        .await?
                        .ok_or(StoreError::NotFound("active data key"))?
                }
                Err(e) => return Err(e),
            },
        };
        let key = self.unwrap_row(&row).await?;
        self.inner.cache.insert(workspace_id, key.clone(), true);
        Ok(key)
    }

    /// The data key `kid` of the workspace, from the cache or unwrapped from its row.
    async fn key(&self, workspace_id: Uuid, kid: &str) -> Result<Arc<DataKey>, VaultError> {
        if let Some(key) = self.inner.cache.get(workspace_id, kid) {
            return Ok(key);
        }
        let row = data_keys::get(&self.inner.db, workspace_id, kid)
            .await?
            .ok_or_else(|| VaultError::UnknownDataKey {
                workspace_id,
                kid: kid.to_string(),
            })?;
        let key = self.unwrap_row(&row).await?;
        self.inner
            .cache
            .insert(workspace_id, key.clone(), row.state == DekState::Active);
        Ok(key)
    }

    async fn create_active(&self, workspace_id: Uuid) -> Result<DataKeyRow, VaultError> {
        let row = self.new_data_key_row(workspace_id).await?;
        data_keys::insert_active(&self.inner.db, &row).await?;
        tracing::info!(workspace_id = %workspace_id, kid = %row.kid, kek_id = %row.kek_id, "data key created");
        Ok(row)
    }

    async fn unwrap_row(&self, row: &DataKeyRow) -> Result<Arc<DataKey>, VaultError> {
        let material = self.unwrap_material(row).await?;
        Ok(Arc::new(DataKey::new(row.kid.clone(), &material)?))
    }

    /// The raw key of a stored data key, unwrapped by the KEK with the row's context.
    async fn unwrap_material(&self, row: &DataKeyRow) -> Result<Key256, VaultError> {
        let ws = row.workspace_id.to_string();
        let wrapped = WrappedDek {
            kek_id: row.kek_id.clone(),
            wrapped: row.wrapped.clone(),
        };
        let context = WrapContext {
            workspace_id: &ws,
            dek_kid: &row.kid,
        };
        Ok(self.inner.kek.unwrap(&wrapped, context).await?)
    }
}
