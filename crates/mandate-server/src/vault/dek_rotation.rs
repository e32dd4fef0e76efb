//! Rotating a workspace's data key: a new active key, then every record sealed with the old one
//! re-sealed with the new one, then the old key retired.
//!
//! Resumable: a workspace whose former key is still `retiring` continues where it stopped
//! instead of making yet another key. Each record is replaced by a compare-and-set, so a writer
//! changing it meanwhile wins and nothing is lost. The old key is only marked `retired` (never
//! deleted): a record a replica sealed with its cached old key just before learning of the
//! rotation still opens, and the next run re-seals it.

use mandate_crypto::kek::WrapContext;
use mandate_store::change_bus::{Change, ChangeBus, Topic};
use mandate_store::data_keys::{self, DataKeyRow, DekState};
use mandate_store::sealed_columns;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Vault, VaultError};

const BATCH: i64 = 100;

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DekRotation {
    /// The active key after the rotation.
    pub new_kid: String,
    /// Keys this run finished and retired.
    pub retired: Vec<String>,
    pub reencrypted: usize,
}

impl Vault {
    /// Rotate the data key of `workspace_id`. `progress(done, total)` is called as records are
    /// re-encrypted.
    pub async fn rotate_dek(
        &self,
        workspace_id: Uuid,
        bus: Option<&ChangeBus>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<DekRotation, VaultError> {
        let keys: Vec<DataKeyRow> = data_keys::list(self.db())
            .await?
            .into_iter()
            .filter(|k| k.workspace_id == workspace_id)
            .collect();
        let mut retiring: Vec<String> = keys
            .iter()
            .filter(|k| k.state == DekState::Retiring)
            .map(|k| k.kid.clone())
            .collect();
        let new_kid = match (
            retiring.is_empty(),
            keys.iter().find(|k| k.state == DekState::Active),
        ) {
            // An earlier run stopped midway: finish it with the key it made.
            (false, Some(active)) => active.kid.clone(),
            _ => {
                let row = self.new_data_key_row(workspace_id).await?;
                if let Some(old) = data_keys::replace_active(self.db(), &row).await? {
                    retiring.push(old);
                }
                tracing::info!(workspace_id = %workspace_id, kid = %row.kid, "data key rotated");
                row.kid
            }
        };
        self.forget_active(workspace_id);
        if let Some(bus) = bus {
            bus.publish(&Change::new(Topic::DataKey).in_workspace(workspace_id))
                .await?;
        }

        let mut report = DekRotation {
            new_kid,
            ..DekRotation::default()
        };
        for old in &retiring {
            let mut total = 0usize;
            for column in sealed_columns::ALL {
                total += usize::try_from(
                    column
                        .count_sealed_with(self.db(), workspace_id, old)
                        .await?,
                )
                .unwrap_or(0);
            }
            let mut done = 0usize;
            progress(done, total);
            for column in sealed_columns::ALL {
                loop {
                    let rows = column
                        .sealed_with(self.db(), workspace_id, old, BATCH)
                        .await?;
                    if rows.is_empty() {
                        break;
                    }
                    for (id, envelope) in rows {
                        let plaintext =
                            self.open(workspace_id, column.kind, &id, &envelope).await?;
                        let resealed = self
                            .seal(workspace_id, column.kind, &id, &plaintext)
                            .await?;
                        // Lost a race with a writer: their value is newer and sealed with the new key.
                        column.replace(self.db(), &id, &envelope, &resealed).await?;
                        done += 1;
                        progress(done, total.max(done));
                    }
                }
            }
            data_keys::set_state(self.db(), old, DekState::Retired).await?;
            report.retired.push(old.clone());
            report.reencrypted += done;
        }
        Ok(report)
    }

    pub(super) async fn new_data_key_row(
        &self,
        workspace_id: Uuid,
    ) -> Result<DataKeyRow, VaultError> {
        let kid = format!("dek-{}", Uuid::now_v7().simple());
        let ws = workspace_id.to_string();
        let (_material, wrapped) = self
            .kek()
            .generate_dek(WrapContext {
                workspace_id: &ws,
                dek_kid: &kid,
            })
            .await?;
        Ok(DataKeyRow {
            kid,
            workspace_id,
            kek_id: wrapped.kek_id,
            wrapped: wrapped.wrapped,
            state: DekState::Active,
            created_at: OffsetDateTime::now_utc(),
        })
    }
}

/// Rotations running in this process, with their progress, for `GET /v1/keys`.
#[derive(Default)]
pub(super) struct Running(std::sync::Mutex<std::collections::HashMap<Uuid, (usize, usize)>>);

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, (usize, usize)>> {
        // A panic while holding it cannot leave the map inconsistent: keep going.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Vault {
    /// Claim the rotation of `workspace_id` in this process; false when one is running here.
    pub fn claim_rotation(&self, workspace_id: Uuid) -> bool {
        let mut running = self.inner.rotations.lock();
        if running.contains_key(&workspace_id) {
            return false;
        }
        running.insert(workspace_id, (0, 0));
        true
    }

    pub fn report_rotation(&self, workspace_id: Uuid, done: usize, total: usize) {
        self.inner
            .rotations
            .lock()
            .insert(workspace_id, (done, total));
    }

    pub fn release_rotation(&self, workspace_id: Uuid) {
        self.inner.rotations.lock().remove(&workspace_id);
    }

    /// (re-encrypted, total) of a rotation running in this process.
    pub fn rotation_progress(&self, workspace_id: Uuid) -> Option<(usize, usize)> {
        self.inner.rotations.lock().get(&workspace_id).copied()
    }
}
