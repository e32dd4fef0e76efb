//! Policies: what an agent may do with a connection (the agent API contract's document, checked
//! and compiled by `mandate-policy`).
//!
//! - [`service`]: create, change (optimistic versions) and delete, audited with before/after
//!   hashes, announced on the change bus.
//! - [`cache`]: compiled policies per replica, keyed by (agent, connection), dropped by the bus.
//! - [`load`]: the policy binding an agent to a connection, from the cache or the database.

pub mod cache;
pub mod service;
pub mod templates;

use std::sync::Arc;

use mandate_store::policies;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;
use cache::Loaded;

/// The compiled policy binding `agent_id` to `connection_id`, or None when none does.
pub async fn load(
    app: &AppState,
    agent_id: Uuid,
    connection_id: &str,
) -> Result<Option<Arc<Loaded>>, ApiError> {
    if let Some(hit) = app.policies.get(agent_id, connection_id) {
        return Ok(Some(hit));
    }
    let Some(row) = policies::binding(&app.db, agent_id, connection_id).await? else {
        return Ok(None);
    };
    app.policies.insert(&row).map(Some).map_err(|e| {
        ApiError::internal(&format!(
            "stored policy {} does not compile any more: {e}",
            row.id
        ))
    })
}
