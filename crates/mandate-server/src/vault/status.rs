//! What `mandate keys status` shows, and `mandate keys rotate-kek`.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use mandate_crypto::kek::KekError;
use mandate_store::data_keys::{self, DekState};

use super::{RewrapReport, Vault, VaultError};

/// Data keys older than this are due for rotation.
pub const DEK_ROTATION_DAYS: i64 = 90;
/// Key encryption keys older than this are due for rotation.
pub const KEK_ROTATION_DAYS: i64 = 365;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    pub provider: &'static str,
    pub current_kek: String,
    /// Days since the current KEK was first used (when known).
    pub current_kek_age_days: Option<i64>,
    /// Every KEK id this process can unwrap with, current first.
    pub held_keks: Vec<String>,
    pub by_kek: Vec<KekUsage>,
    pub data_keys: usize,
    /// Active data keys older than the rotation schedule.
    pub overdue: Vec<OverdueDataKey>,
    /// Sealed records per data key (records not yet re-encrypted after a rotation show here).
    pub records_per_data_key: Vec<(String, DekState, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekUsage {
    pub kek_id: String,
    pub data_keys: i64,
    pub current: bool,
    /// False: no configured key opens these data keys.
    pub held: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueDataKey {
    pub kid: String,
    pub workspace_id: Uuid,
    pub age_days: i64,
}

/// The active data keys older than the rotation schedule.
pub fn overdue_data_keys(
    all: &[data_keys::DataKeyRow],
    now: OffsetDateTime,
) -> Vec<OverdueDataKey> {
    all.iter()
        .filter(|k| {
            k.state == DekState::Active && now - k.created_at > Duration::days(DEK_ROTATION_DAYS)
        })
        .map(|k| OverdueDataKey {
            kid: k.kid.clone(),
            workspace_id: k.workspace_id,
            age_days: (now - k.created_at).whole_days(),
        })
        .collect()
}

impl Vault {
    pub async fn status(&self, now: OffsetDateTime) -> Result<KeyStatus, VaultError> {
        self.kek().refresh().await?;
        let current_kek = self.kek().current_id();
        let held_keks = self.kek().held_ids();
        let by_kek = data_keys::count_by_kek(self.db())
            .await?
            .into_iter()
            .map(|(kek_id, data_keys)| KekUsage {
                current: kek_id == current_kek,
                held: held_keks.contains(&kek_id),
                kek_id,
                data_keys,
            })
            .collect();
        let all = data_keys::list(self.db()).await?;
        let mut records_per_data_key = Vec::new();
        for key in &all {
            let mut records = 0;
            for column in mandate_store::sealed_columns::ALL {
                records += column
                    .count_sealed_with(self.db(), key.workspace_id, &key.kid)
                    .await?;
            }
            records_per_data_key.push((key.kid.clone(), key.state, records));
        }
        let current_kek_age_days = data_keys::kek_first_seen(self.db(), &current_kek)
            .await?
            .map(|seen| (now - seen).whole_days());
        let overdue = overdue_data_keys(&all, now);
        Ok(KeyStatus {
            provider: self.kek().provider(),
            current_kek,
            current_kek_age_days,
            held_keks,
            by_kek,
            data_keys: all.len(),
            overdue,
            records_per_data_key,
        })
    }

    /// Move every data key under a new KEK: rotate at the provider where it can (Transit, KMS),
    /// otherwise use the new key the configuration already holds next to the previous one (env,
    /// age); then re-wrap. Safe to run again after a crash.
    pub async fn rotate_kek(&self) -> Result<RewrapReport, VaultError> {
        let rotated = self.kek().rotate_at_provider().await?;
        if !rotated && self.kek().held_ids().len() < 2 {
            return Err(VaultError::Kek(KekError::Provider {
                provider: self.kek().provider(),
                reason: match self.kek().provider() {
                    "age" => "put the new KEK file in AGE_KEK_FILE and the old one in AGE_KEK_FILE_PREVIOUS, then run this again",
                    _ => "put the new key in ENCRYPTION_KEY and the old one in ENCRYPTION_KEY_PREVIOUS, then run this again",
                }
                .to_string(),
            }));
        }
        let report = self.rewrap_to_current().await?;
        self.record_current_kek().await?;
        Ok(report)
    }
}
