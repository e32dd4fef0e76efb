//! Compiled policies, per replica, keyed by the (agent, connection) they bind, so the gateway
//! decides without reading the policy row. The change bus drops an entry when its policy is
//! changed or deleted on any replica, and everything on a resync (the bus reconnected and may
//! have missed notices). "No policy" is never cached: a new binding works at once.
//!
//! The window of staleness is the bus latency: a change committed on one replica is in force on
//! another once its notice arrives (milliseconds on PostgreSQL; at once on SQLite).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use mandate_policy::CompiledPolicy;
use mandate_store::change_bus::{ChangeBus, ChangeEvent, Topic};
use mandate_store::policies::Policy;
use uuid::Uuid;

/// A policy ready to use: which row it came from, and its compiled form.
#[derive(Debug)]
pub struct Loaded {
    pub id: Uuid,
    pub version: i32,
    pub compiled: CompiledPolicy,
}

type Key = (Uuid, String);

#[derive(Default)]
pub struct PolicyCache {
    entries: RwLock<HashMap<Key, Arc<Loaded>>>,
}

impl PolicyCache {
    pub fn get(&self, agent_id: Uuid, connection_id: &str) -> Option<Arc<Loaded>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(agent_id, connection_id.to_string()))
            .cloned()
    }

    /// Compile `row` and keep it. A row that no longer compiles (stored by an older release
    /// with laxer checks) is an error for the caller, never a silent allow.
    pub fn insert(&self, row: &Policy) -> Result<Arc<Loaded>, mandate_policy::PolicyError> {
        let compiled = CompiledPolicy::compile(mandate_policy::parse_json(&row.document)?)?;
        let loaded = Arc::new(Loaded {
            id: row.id,
            version: row.version,
            compiled,
        });
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((row.agent_id, row.connection_id.clone()), loaded.clone());
        Ok(loaded)
    }

    /// Drop the entry of policy `id`.
    pub fn forget(&self, id: Uuid) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, loaded| loaded.id != id);
    }

    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Follow policy changes from every replica.
    pub fn spawn_invalidation(self: &Arc<Self>, bus: &ChangeBus) {
        let cache = Arc::downgrade(self);
        let mut changes = bus.subscribe();
        tokio::spawn(async move {
            while let Some(event) = changes.recv().await {
                let Some(cache) = cache.upgrade() else { return };
                match event {
                    ChangeEvent::Changed(c) if c.topic == Topic::Policy => {
                        match c.id.as_deref().map(Uuid::parse_str) {
                            Some(Ok(id)) => cache.forget(id),
                            _ => cache.clear(),
                        }
                    }
                    ChangeEvent::Changed(c) if c.topic == Topic::Unknown => cache.clear(),
                    ChangeEvent::Changed(_) => {}
                    ChangeEvent::Resync => cache.clear(),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn row(id: u128, agent: u128, connection: &str, version: i32) -> Policy {
        Policy {
            id: Uuid::from_u128(id),
            workspace_id: Uuid::from_u128(1),
            agent_id: Uuid::from_u128(agent),
            connection_id: connection.into(),
            document: r#"{"allowlists": [{"baseUrl": "https://x.io"}]}"#.into(),
            version,
            created_by: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn entries_go_by_policy_id_or_all_at_once() {
        let cache = PolicyCache::default();
        cache.insert(&row(10, 1, "c1", 1)).unwrap();
        cache.insert(&row(11, 1, "c2", 3)).unwrap();
        assert_eq!(cache.get(Uuid::from_u128(1), "c2").unwrap().version, 3);
        cache.forget(Uuid::from_u128(10));
        assert!(cache.get(Uuid::from_u128(1), "c1").is_none());
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert!(cache.is_empty());
        let mut bad = row(12, 1, "c3", 1);
        bad.document =
            r#"{"rules": {"request": [{"match": {"urlPattern": "("}, "action": "deny"}]}}"#.into();
        assert!(cache.insert(&bad).is_err());
    }
}
