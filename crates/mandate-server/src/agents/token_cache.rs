//! Agents' access tokens this replica looked up recently, so an agent route (the gateway's hot
//! path) does not read the database on every request. Only tokens that were valid when read are
//! kept, and an entry goes:
//! - when its agent changes (disabled, deleted, a key revoked, re-enrolled): at once on this
//!   replica ([`changed`]), and on the others through the change bus (topic `agent`);
//! - all at once when the bus reconnects (events may have been lost) or when the cache is full;
//! - after [`MAX_AGE`] in any case, a bound on staleness should a change not be announced.
//!
//! The expiry time is checked on every use. A lookup that raced with a change is not kept: every
//! drop bumps a generation, and [`AgentTokenCache::put`] refuses an entry read before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mandate_store::agents::tokens::TokenOwner;
use mandate_store::change_bus::{Change, ChangeBus, ChangeEvent, Topic};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::state::AppState;

/// How long an entry is trusted without a look at the database.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Entries kept before the cache starts over.
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
pub struct AgentTokenCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    generation: AtomicU64,
}

struct Entry {
    owner: TokenOwner,
    at: Instant,
}

impl AgentTokenCache {
    /// The owner of the token with hash `hash`, if cached and younger than [`MAX_AGE`].
    pub fn get(&self, hash: &[u8; 32]) -> Option<TokenOwner> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(hash)
            .filter(|e| e.at.elapsed() < MAX_AGE)
            .map(|e| e.owner.clone())
    }

    /// Take this before reading the database; hand it to [`AgentTokenCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keep `owner`, read when the generation was `read_at`, unless something was dropped since.
    pub fn put(&self, hash: [u8; 32], owner: TokenOwner, read_at: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != read_at {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            hash,
            Entry {
                owner,
                at: Instant::now(),
            },
        );
    }

    /// The agent was seen at `now` (its last-seen stamp was written).
    pub fn seen(&self, hash: &[u8; 32], now: OffsetDateTime) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = entries.get_mut(hash) {
            e.owner.last_seen_at = Some(now);
        }
    }

    /// Drop every token of `agent_id`.
    pub fn forget_agent(&self, agent_id: Uuid) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, e| e.owner.agent_id != agent_id);
    }

    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Drop entries as the change bus announces agent changes from any replica.
    pub fn spawn_invalidation(self: &Arc<Self>, bus: &ChangeBus) {
        let cache = Arc::downgrade(self);
        let mut changes = bus.subscribe();
        tokio::spawn(async move {
            while let Some(event) = changes.recv().await {
                let Some(cache) = cache.upgrade() else { return };
                match event {
                    ChangeEvent::Changed(c) if c.topic == Topic::Agent => {
                        match c.id.as_deref().map(Uuid::parse_str) {
                            Some(Ok(id)) => cache.forget_agent(id),
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

/// The agent changed in a way that may end its tokens or keys: forget it in this replica's
/// caches now and tell the other replicas.
pub async fn changed(state: &AppState, workspace_id: Uuid, agent_id: Uuid) {
    state.agent_keys.forget(agent_id);
    state.agent_tokens.forget_agent(agent_id);
    let change = Change::new(Topic::Agent)
        .in_workspace(workspace_id)
        .with_id(agent_id.to_string());
    if let Err(e) = state.bus.publish(&change).await {
        tracing::warn!(error = %e, agent = %agent_id,
            "announcing an agent change failed; other replicas drop its tokens within a minute");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mandate_store::agents::AgentStatus;

    fn owner(agent: u128) -> TokenOwner {
        TokenOwner {
            agent_id: Uuid::from_u128(agent),
            workspace_id: Uuid::from_u128(9),
            agent_status: AgentStatus::Active,
            kid: "k".into(),
            key_revoked: false,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            last_seen_at: None,
        }
    }

    #[test]
    fn a_change_drops_the_agents_tokens_and_refuses_reads_from_before_it() {
        let cache = AgentTokenCache::default();
        let read_at = cache.generation();
        cache.put([1; 32], owner(1), read_at);
        cache.put([2; 32], owner(1), read_at);
        cache.put([3; 32], owner(2), read_at);
        assert_eq!(cache.get(&[1; 32]).unwrap().agent_id, Uuid::from_u128(1));

        let racing = cache.generation();
        cache.forget_agent(Uuid::from_u128(1));
        assert!(cache.get(&[1; 32]).is_none());
        assert!(cache.get(&[2; 32]).is_none());
        assert!(cache.get(&[3; 32]).is_some(), "other agents stay");
        cache.put([1; 32], owner(1), racing);
        assert!(
            cache.get(&[1; 32]).is_none(),
            "read before the change: not kept"
        );

        cache.put([1; 32], owner(1), cache.generation());
        cache.seen(&[1; 32], OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            cache.get(&[1; 32]).unwrap().last_seen_at,
            Some(OffsetDateTime::UNIX_EPOCH)
        );
        cache.clear();
        assert!(cache.get(&[1; 32]).is_none() && cache.get(&[3; 32]).is_none());
    }
}
