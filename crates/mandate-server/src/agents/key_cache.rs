//! Agents' active public keys, cached per replica for the token exchange, so an exchange reads
//! nothing before its one write. The cache is only a hint: the write that records the `jti` and
//! the token re-checks in the database that the agent is active and the key not revoked
//! (`tokens::exchange`), so a stale entry can never buy a token. Entries are dropped when this
//! replica changes the agent, when that write finds the agent changed, and after five minutes;
//! only active agents are cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mandate_store::agents::keys::{self, AgentKey};
use mandate_store::agents::{Agent, AgentStatus};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::principal::TOUCH_EVERY;
use crate::error::ApiError;
use crate::state::AppState;

const MAX_ENTRIES: usize = 10_000;
const MAX_AGE: Duration = Duration::from_secs(300);

/// An agent with its active keys (public JWKs parsed once).
pub struct AgentKeys {
    pub agent: Agent,
    pub keys: Vec<(AgentKey, Value)>,
    loaded: Instant,
    /// When this replica last recorded the agent's use.
    touched: Mutex<Option<OffsetDateTime>>,
}

impl AgentKeys {
    fn new(agent: Agent, keys: Vec<AgentKey>) -> AgentKeys {
        let touched = Mutex::new(agent.last_seen_at);
        let keys = keys
            .into_iter()
            .filter_map(|k| {
                let jwk = serde_json::from_str(&k.public_jwk).ok()?;
                Some((k, jwk))
            })
            .collect();
        AgentKeys {
            agent,
            keys,
            loaded: Instant::now(),
            touched,
        }
    }

    /// True (and remembered) when the agent's use should be written now.
    pub fn take_touch(&self, now: OffsetDateTime) -> bool {
        let Ok(mut touched) = self.touched.lock() else {
            return true;
        };
        if touched.is_some_and(|at| now - at < TOUCH_EVERY) {
            return false;
        }
        *touched = Some(now);
        true
    }
}

#[derive(Default)]
pub struct AgentKeyCache {
    entries: Mutex<HashMap<Uuid, Arc<AgentKeys>>>,
}

impl AgentKeyCache {
    fn get(&self, id: Uuid) -> Option<Arc<AgentKeys>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(&id)
            .filter(|e| e.loaded.elapsed() < MAX_AGE)
            .cloned()
    }

    fn put(&self, entry: Arc<AgentKeys>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                // Bounded: start over rather than track recency.
                entries.clear();
            }
            entries.insert(entry.agent.id, entry);
        }
    }

    /// Drop what this replica knows of the agent (it changed).
    pub fn forget(&self, id: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&id);
        }
    }
}

/// Where an entry came from: a cached one may be stale and is worth one reload when it fails.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Database,
}

/// The cached agent, if this replica has a fresh entry (no I/O).
pub fn cached(state: &AppState, id: Uuid) -> Option<Arc<AgentKeys>> {
    state.agent_keys.get(id)
}

/// The agent and its active keys from the database, cached when the agent is active. None: no
/// such agent.
pub async fn read(state: &AppState, id: Uuid) -> Result<Option<Arc<AgentKeys>>, ApiError> {
    let Some((agent, keys)) = keys::agent_with_active_keys(&state.db, id).await? else {
        state.agent_keys.forget(id);
        return Ok(None);
    };
    let entry = Arc::new(AgentKeys::new(agent, keys));
    if entry.agent.status == AgentStatus::Active {
        state.agent_keys.put(entry.clone());
    } else {
        state.agent_keys.forget(id);
    }
    Ok(Some(entry))
}
