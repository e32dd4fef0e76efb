//! Agents' access tokens this replica looked up recently, so an agent route (the gateway's hot
//! path) does not read the database on every request. Only tokens that were valid when read are
//! kept (a [`ReplicaCache`] keyed by the token's hash), and an entry goes:
//! - when its agent changes (disabled, deleted, a key revoked, re-enrolled): at once on this
//!   replica ([`changed`]), and on the others through the change bus (topic `agent`);
//! - all at once when the bus reconnects (events may have been lost) or when the cache is full;
//! - after [`MAX_AGE`] in any case, a bound on staleness should a change not be announced.
//!
//! The expiry time is checked on every use.

use std::sync::Arc;
use std::time::Duration;

use mandate_store::agents::tokens::TokenOwner;
use mandate_store::change_bus::{Change, ChangeBus, Topic};
use uuid::Uuid;

use crate::replica_cache::ReplicaCache;
use crate::state::AppState;

/// How long an entry is trusted without a look at the database.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Entries kept before the cache starts over.
const MAX_ENTRIES: usize = 50_000;

pub type AgentTokenCache = ReplicaCache<[u8; 32], TokenOwner>;

pub fn new_cache() -> Arc<AgentTokenCache> {
    Arc::new(ReplicaCache::new(MAX_AGE, MAX_ENTRIES))
}

/// Drop entries as the change bus announces agent changes from any replica.
pub fn spawn_invalidation(cache: &Arc<AgentTokenCache>, bus: &ChangeBus) {
    cache.spawn_invalidation(bus, |cache, c| {
        if c.topic == Topic::Agent {
            match c.id.as_deref().map(Uuid::parse_str) {
                Some(Ok(id)) => cache.forget_where(|o| o.agent_id == id),
                _ => cache.clear(),
            }
        }
    });
}

/// The agent changed in a way that may end its tokens or keys: forget it in this replica's
/// caches now and tell the other replicas.
pub async fn changed(state: &AppState, workspace_id: Uuid, agent_id: Uuid) {
    state.agent_keys.forget(agent_id);
    state.agent_tokens.forget_where(|o| o.agent_id == agent_id);
    let change = Change::new(Topic::Agent)
        .in_workspace(workspace_id)
        .with_id(agent_id.to_string());
    if let Err(e) = state.bus.publish(&change).await {
        tracing::warn!(error = %e, agent = %agent_id,
            "announcing an agent change failed; other replicas drop its tokens within a minute");
    }
}
