//! The change bus: "X changed" events that every replica receives.
//!
//! Replicas keep caches (compiled policies, unwrapped keys, ...) and push live events; the bus
//! tells them when the database changed underneath. Events are hints, never data: a receiver
//! re-reads what it needs from the database.
//!
//! - PostgreSQL: `NOTIFY mandate_changes` with a small JSON payload; each replica has one
//!   dedicated `LISTEN` connection. NOTIFY sent inside a transaction is delivered on commit.
//!   When the listener loses its connection, notifications sent meanwhile are gone, so after
//!   reconnecting it emits [`ChangeEvent::Resync`]: "treat everything as changed".
//! - SQLite: one process owns the file, so the bus is an in-process broadcast.
//!
//! A subscriber that falls behind also gets `Resync` instead of silently missing events.
//!
//! A connection can also die silently (a NAT or firewall dropping its state sends no reset), and
//! a listener on it would wait forever. So every replica NOTIFYs a heartbeat every
//! [`Liveness::heartbeat_every`]; a listener that hears nothing for [`Liveness::silence_limit`]
//! drops its connection, reconnects and emits `Resync`.

mod postgres;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::{Db, StoreError};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "mandate_changes";

/// Events buffered per subscriber before it is told to resync.
const BUFFER: usize = 1024;

/// How the PostgreSQL listener makes sure it is still connected.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    /// How often this replica sends a heartbeat (None: never, for tests of the silence limit).
    pub heartbeat_every: Option<std::time::Duration>,
    /// Silence after which the listener reconnects.
    pub silence_limit: std::time::Duration,
}

impl Default for Liveness {
    fn default() -> Liveness {
        Liveness {
            heartbeat_every: Some(std::time::Duration::from_secs(30)),
            silence_limit: std::time::Duration::from_secs(90),
        }
    }
}

/// What kind of thing changed. A topic this release does not know (sent by a newer replica
/// during a rolling upgrade) is read as [`Topic::Unknown`] and handled as a resync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Workspace,
    SigningKey,
    /// A workspace's active data key changed (rotation).
    DataKey,
    /// A connection was created, changed state (refreshed, needs re-auth, failed) or revoked.
    Connection,
    /// A policy was created, changed or deleted: replicas drop its compiled copy.
    Policy,
    /// An approval request was created or changed state.
    Approval,
    /// An agent's permission request was made, granted or refused.
    PermissionRequest,
    /// An agent was changed, disabled or deleted, or a key of it revoked: replicas drop its
    /// cached access tokens and keys.
    Agent,
    /// A workspace had audit records (at most once a second per replica): live activity feeds
    /// read the newest. Caches ignore it.
    Activity,
    /// Liveness of the PostgreSQL listeners; never delivered to subscribers.
    Heartbeat,
    #[serde(other)]
    Unknown,
}

/// One "X changed" hint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub topic: Topic,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
    /// The id of the changed thing, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Change {
    pub fn new(topic: Topic) -> Change {
        Change {
            topic,
            workspace_id: None,
            id: None,
        }
    }

    pub fn in_workspace(mut self, workspace_id: Uuid) -> Change {
        self.workspace_id = Some(workspace_id);
        self
    }

    pub fn with_id(mut self, id: impl Into<String>) -> Change {
        self.id = Some(id.into());
        self
    }
}

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeEvent {
    Changed(Change),
    /// Events may have been lost: drop every cache and reload.
    Resync,
}

/// Handle to the bus of this process. Cheap to clone; the PostgreSQL listener task stops when
/// the last handle is dropped.
#[derive(Clone)]
pub struct ChangeBus {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    tx: broadcast::Sender<ChangeEvent>,
    /// The PostgreSQL listener and heartbeat tasks.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl ChangeBus {
    /// Start the bus. On PostgreSQL this returns once the listener is subscribed, so nothing
    /// published after `start` returns can be missed.
    pub async fn start(db: &Db) -> Result<ChangeBus, StoreError> {
        ChangeBus::start_with(db, Liveness::default()).await
    }

    /// [`ChangeBus::start`] with other liveness timing.
    pub async fn start_with(db: &Db, liveness: Liveness) -> Result<ChangeBus, StoreError> {
        let (tx, _) = broadcast::channel(BUFFER);
        let tasks = match db {
            Db::Sqlite(_) => Vec::new(),
            Db::Postgres(pool) => postgres::spawn(pool, tx.clone(), liveness).await?,
        };
        Ok(ChangeBus {
            inner: Arc::new(Inner {
                db: db.clone(),
                tx,
                tasks,
            }),
        })
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.inner.tx.subscribe(),
        }
    }

    /// Tell every replica (this one included) that `change` happened.
    pub async fn publish(&self, change: &Change) -> Result<(), StoreError> {
        match &self.inner.db {
            Db::Sqlite(_) => {
                // No receivers is not an error: nobody caches anything yet.
                let _ = self.inner.tx.send(ChangeEvent::Changed(change.clone()));
                Ok(())
            }
            Db::Postgres(pool) => {
                let payload = serde_json::to_string(change)
                    .map_err(|e| StoreError::ChangeBus(e.to_string()))?;
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(pool)
                    .await?;
                Ok(())
            }
        }
    }
}

/// A subscriber's end of the bus.
pub struct Subscription {
    rx: broadcast::Receiver<ChangeEvent>,
}

impl Subscription {
    /// The next event; `None` once the bus is gone. Lagging behind yields `Resync`.
    pub async fn recv(&mut self) -> Option<ChangeEvent> {
        match self.rx.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(ChangeEvent::Resync),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// Parse a notification payload; anything unreadable or unknown means "resync".
fn decode(payload: &str) -> ChangeEvent {
    match serde_json::from_str::<Change>(payload) {
        Ok(change) if change.topic != Topic::Unknown => ChangeEvent::Changed(change),
        _ => ChangeEvent::Resync,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let change = Change::new(Topic::Workspace)
            .in_workspace(Uuid::nil())
            .with_id("w1");
        let payload = serde_json::to_string(&change).unwrap();
        assert_eq!(decode(&payload), ChangeEvent::Changed(change));
    }

    #[test]
    fn unknown_or_broken_payload_means_resync() {
        assert_eq!(
            decode(r#"{"topic":"from_the_future"}"#),
            ChangeEvent::Resync
        );
        assert_eq!(decode("not json"), ChangeEvent::Resync);
    }
}
