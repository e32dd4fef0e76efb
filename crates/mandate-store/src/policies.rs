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

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Policy {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub agent_id: Uuid,
    pub connection_id: String,
    pub document: String,
    /// 1 at creation, +1 on every change.
    pub version: i32,
    pub created_by: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, workspace_id, agent_id, connection_id, document, version, created_by, created_at, updated_at";

pub async fn get(db: &Db, workspace_id: Uuid, id: Uuid) -> Result<Policy, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM policies WHERE id = $1 AND workspace_id = $2");
    on_pool!(db, pool => sqlx::query_as::<_, Policy>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?
    .ok_or(StoreError::NotFound("policy"))
}

/// The policy binding `agent_id` to `connection_id`, if any.
pub async fn binding(
    db: &Db,
    agent_id: Uuid,
    connection_id: &str,
) -> Result<Option<Policy>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM policies WHERE agent_id = $1 AND connection_id = $2");
    Ok(
        on_pool!(db, pool => sqlx::query_as::<_, Policy>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(agent_id)
        .bind(connection_id)
        .fetch_optional(pool)
        .await)?,
    )
}

/// A workspace's policies, optionally of one agent or one connection, oldest first.
pub async fn list(
    db: &Db,
    workspace_id: Uuid,
    agent_id: Option<Uuid>,
    connection_id: Option<&str>,
) -> Result<Vec<Policy>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM policies WHERE workspace_id = $1 \
         AND ($2 IS NULL OR agent_id = $2) AND ($3 IS NULL OR connection_id = $3) \
         ORDER BY created_at, id"
    );
    Ok(
        on_pool!(db, pool => sqlx::query_as::<_, Policy>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .bind(agent_id)
        .bind(connection_id)
        .fetch_all(pool)
        .await)?,
    )
}

/// Replace the document when the stored version is `expected_version`; the new version.
/// Conflict when someone changed it meanwhile (no lost update).
pub async fn update(
    db: &Db,
    workspace_id: Uuid,
    id: Uuid,
    expected_version: i32,
    document: &str,
    now: OffsetDateTime,
) -> Result<i32, StoreError> {
    let updated = on_pool!(db, pool => sqlx::query_scalar::<_, i32>(
        "UPDATE policies SET document = $1, version = version + 1, updated_at = $2 \
         WHERE id = $3 AND workspace_id = $4 AND version = $5 RETURNING version")
        .bind(document)
        .bind(to_db_precision(now))
        .bind(id)
        .bind(workspace_id)
        .bind(expected_version)
        .fetch_optional(pool)
        .await)?;
    match updated {
        Some(v) => Ok(v),
        None => {
            get(db, workspace_id, id).await?;
            Err(StoreError::Conflict(
                "the policy changed since that version was read: read it again and re-apply the change",
            ))
        }
    }
}

/// Delete a policy (the agent loses the connection); the row as it was.
pub async fn delete(db: &Db, workspace_id: Uuid, id: Uuid) -> Result<Policy, StoreError> {
    let sql =
        format!("DELETE FROM policies WHERE id = $1 AND workspace_id = $2 RETURNING {COLUMNS}");
    on_pool!(db, pool => sqlx::query_as::<_, Policy>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?
    .ok_or(StoreError::NotFound("policy"))
}
