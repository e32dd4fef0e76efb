//! Policy rows: each binds one agent to one connection. The document is the agent API
//! contract's policy shape, checked by the server before it reaches the store; here it is text.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::people::conflict_on_unique;
use crate::{Db, StoreError, on_pool, to_db_precision};

pub struct NewPolicy<'a> {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub agent_id: Uuid,
    pub connection_id: &'a str,
    pub document: &'a str,
    pub created_by: Option<Uuid>,
}

/// Bind the agent to the connection. Conflict when a policy already binds them.
pub async fn create(db: &Db, p: &NewPolicy<'_>, now: OffsetDateTime) -> Result<(), StoreError> {
    let result = on_pool!(db, pool => sqlx::query(
        "INSERT INTO policies (id, workspace_id, agent_id, connection_id, document, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)")
        .bind(p.id)
        .bind(p.workspace_id)
        .bind(p.agent_id)
        .bind(p.connection_id)
        .bind(p.document)
        .bind(p.created_by)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|_| ()));
    result
        .map_err(|e| conflict_on_unique(e, "a policy already binds this agent to this connection"))
}
