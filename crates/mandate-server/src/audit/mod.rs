//! The audit log: every execution, approval, connection change, policy change, key operation and
//! authentication failure, appended to one tamper-evident chain.
//!
//! - [`event`]: what a record says ([`AuditEvent`]); [`actions`]: the action names.
//! - [`chain`]: the keyed hash chain ([`ChainKeys`]); [`keys`]: its sealed HMAC keys.
//! - [`writer`]: the group-commit writer task ([`AuditLog`]), durable before an action.
//! - [`checkpoint`]: periodic checkpoints signed with the signing key.
//! - [`verify`]: `mandate audit verify`; [`export`]: CSV and JSON exports; [`filter`]: filters
//!   as people type them.
//!
//! The scheme, and why one serialized chain: docs/architecture.md, "Audit log".

pub mod actions;
pub mod activity;
pub mod chain;
pub mod checkpoint;
pub mod event;
pub mod export;
pub mod filter;
pub mod keys;
pub mod verify;
pub mod writer;

use mandate_store::{Db, StoreError};

use crate::vault::{Vault, VaultError};

pub use chain::ChainKeys;
pub use event::{Actor, AuditEvent, Decision, Outcome, RequestSummary};
pub use writer::AuditLog;

/// Open the chain keys (generating the first one on first use, which is itself recorded, with
/// `actor` as the actor) and start the writer task.
pub async fn open(db: &Db, vault: &Vault, actor: Actor) -> Result<AuditLog, AuditError> {
    let loaded = keys::load_or_create(db, vault).await?;
    let log = AuditLog::start(db.clone(), loaded.keys);
    if loaded.created {
        log.record(
            AuditEvent::new(actor, actions::AUDIT_KEY_CREATED)
                .target("audit_key", keys::FIRST_KEY_ID)
                .outcome(Outcome::Success),
        )
        .await?;
    }
    Ok(log)
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("audit key: {0}")]
    Key(String),
    #[error("the audit record could not be written: {0}")]
    WriteFailed(String),
    #[error("the audit log is closed")]
    Closed,
}
