//! The chain's HMAC keys: generated once (the first replica to start wins), sealed by the vault
//! under the system workspace, and never the same key as any data key.

use mandate_crypto::Key256;
use mandate_store::Db;
use mandate_store::audit::{self, AuditKeyRow};
use mandate_store::workspaces::SYSTEM;
use time::OffsetDateTime;

use super::{AuditError, ChainKeys};
use crate::vault::Vault;

/// The id of the first key. Later keys would take the next number.
pub const FIRST_KEY_ID: &str = "ak1";
const KIND: &str = "audit_key";

/// What [`load_or_create`] found.
pub struct LoadedKeys {
    pub keys: ChainKeys,
    /// This call generated the first key (the caller audits that).
    pub created: bool,
}

/// Every stored key, opened; None when none was ever made (the log is then empty too).
pub async fn load(db: &Db, vault: &Vault) -> Result<Option<ChainKeys>, AuditError> {
    let rows = audit::keys(db).await?;
    open_all(vault, rows).await
}

/// Every stored key, opened; the first one is generated when there is none.
pub async fn load_or_create(db: &Db, vault: &Vault) -> Result<LoadedKeys, AuditError> {
    let mut rows = audit::keys(db).await?;
    let mut created = false;
    if rows.is_empty() {
        let key = Key256::generate().map_err(|e| AuditError::Key(e.to_string()))?;
        let sealed = vault
            .seal(SYSTEM, KIND, FIRST_KEY_ID, key.as_bytes())
            .await?;
        created = audit::insert_key_if_absent(
            db,
            &AuditKeyRow {
                id: FIRST_KEY_ID.into(),
                sealed_key: sealed,
                created_at: OffsetDateTime::now_utc(),
            },
        )
        .await?;
        rows = audit::keys(db).await?;
    }
    let keys = open_all(vault, rows)
        .await?
        .ok_or_else(|| AuditError::Key("no audit key stored".into()))?;
    Ok(LoadedKeys { keys, created })
}

async fn open_all(vault: &Vault, rows: Vec<AuditKeyRow>) -> Result<Option<ChainKeys>, AuditError> {
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let bytes = vault.open(SYSTEM, KIND, &row.id, &row.sealed_key).await?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AuditError::Key(format!("stored audit key {} is not 32 bytes", row.id)))?;
        keys.push((row.id, Key256::from_bytes(bytes)));
    }
    Ok(ChainKeys::new(keys))
}
