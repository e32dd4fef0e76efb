//! Connections the gateway read recently, so an execution does not read its connection from the
//! database every time. An entry is the row as stored: metadata and the *sealed* credential
//! (opened per request, never kept in the clear). An entry goes:
//! - when the connection changes (refreshed, failed, needs re-auth, reconnected, revoked): at once
//!   on this replica ([`super::access::announce`] drops it before telling the others) and on the
//!   others through the change bus (topic `connection`);
//! - all when a data key rotates (sealed values are re-encrypted), when the bus reconnects, or
//!   when the cache is full;
//! - after [`MAX_AGE`] in any case.

use std::sync::Arc;
use std::time::Duration;

use mandate_store::StoreError;
use mandate_store::change_bus::{ChangeBus, Topic};
use mandate_store::connections::{Connection, accounts};
use uuid::Uuid;

use crate::replica_cache::ReplicaCache;
use crate::state::AppState;

/// How long an entry is trusted without a look at the database.
pub const MAX_AGE: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 20_000;

pub type ConnectionCache = ReplicaCache<(Uuid, String), Connection>;

pub fn new_cache() -> Arc<ConnectionCache> {
    Arc::new(ReplicaCache::new(MAX_AGE, MAX_ENTRIES))
}

/// The connection `id` of `workspace_id`, from the cache or the database.
pub async fn get(
    app: &AppState,
    workspace_id: Uuid,
    id: &str,
) -> Result<Option<Connection>, StoreError> {
    let key = (workspace_id, id.to_string());
    if let Some(hit) = app.connections.get(&key) {
        return Ok(Some(hit));
    }
    let read_at = app.connections.generation();
    let row = accounts::get(&app.db, workspace_id, id).await?;
    if let Some(row) = &row {
        app.connections.put(key, row.clone(), read_at);
    }
    Ok(row)
}

/// Drop entries as the change bus announces changes from any replica.
pub fn spawn_invalidation(cache: &Arc<ConnectionCache>, bus: &ChangeBus) {
    cache.spawn_invalidation(bus, |cache, c| match (c.topic, &c.id) {
        (Topic::Connection, Some(id)) => cache.forget_where(|row| &row.id == id),
        (Topic::Connection | Topic::DataKey, _) => cache.clear(),
        _ => {}
    });
}
