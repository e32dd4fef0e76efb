//! The audit log's rows: events appended at the end of one chain, signed checkpoints over that
//! chain, and the sealed keys the chain's links are computed with. The store keeps rows and
//! order; what a link is (the HMAC and the canonical encoding) is the server's `audit` module.

mod append;
mod append_sqlite;
mod checkpoints;
mod keys;
mod query;

use time::OffsetDateTime;
use uuid::Uuid;

pub use append::{ChainHead, append, append_after, head};
pub use append_sqlite::SqliteAppender;
pub use checkpoints::{CheckpointRow, checkpoints, insert_checkpoint, latest_checkpoint};
pub use keys::{AuditKeyRow, insert_key_if_absent, keys};
pub use query::{AuditFilter, count, newest_first, oldest_first, stored_ids};

/// One event as written; the chain position and link are added by [`append`].
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    /// Public id (UUIDv7), returned to callers as `auditId`.
    pub id: Uuid,
    pub occurred_at: OffsetDateTime,
    /// None for instance-wide events (key operations, failed logins with no workspace).
    pub workspace_id: Option<Uuid>,
    /// `user`, `agent` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    /// Dotted name, e.g. `keys.kek.rotated`, `vault.execute.decision`.
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    /// The agent and connection the event concerns, for filtering.
    pub agent_id: Option<String>,
    pub connection_id: Option<String>,
    /// `allowed`, `denied` or `approval_required`, and the rule that decided.
    pub decision: Option<String>,
    pub rule: Option<String>,
    /// `success`, `failure` or `error`.
    pub outcome: Option<String>,
    /// Request summary of an execution: never bodies, never secret values.
    pub method: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub status: Option<i32>,
    pub duration_ms: Option<i64>,
    pub source_ip: Option<String>,
    pub correlation_id: Option<String>,
    /// Further non-secret facts, a JSON object as text (kept byte for byte: the link covers it).
    pub details: Option<String>,
}

impl Default for AuditEntry {
    /// Every optional field empty; callers set id, time, actor and action.
    fn default() -> Self {
        AuditEntry {
            id: Uuid::nil(),
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            workspace_id: None,
            actor_kind: String::new(),
            actor_id: None,
            action: String::new(),
            target_kind: None,
            target_id: None,
            agent_id: None,
            connection_id: None,
            decision: None,
            rule: None,
            outcome: None,
            method: None,
            host: None,
            path: None,
            status: None,
            duration_ms: None,
            source_ip: None,
            correlation_id: None,
            details: None,
        }
    }
}

/// A stored event: its position in the chain and its link.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    #[sqlx(flatten)]
    pub entry: AuditEntry,
    pub key_id: String,
    /// Lower-case hex of the 32-byte HMAC.
    pub link: String,
}

/// Every column of `audit_events`, in the order [`AuditRow`] reads them.
pub(crate) const COLUMNS: &str = "seq, id, occurred_at, workspace_id, actor_kind, actor_id, action, \
    target_kind, target_id, agent_id, connection_id, decision, rule, outcome, method, host, path, \
    status, duration_ms, source_ip, correlation_id, details, key_id, link";
