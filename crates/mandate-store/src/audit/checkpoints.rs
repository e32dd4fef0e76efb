//! Signed checkpoints over the chain. Several replicas may sign the same position; the first
//! insert wins and the others are dropped, which is harmless since they sign the same link.

use time::OffsetDateTime;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct CheckpointRow {
    /// The last position the checkpoint covers.
    pub seq: i64,
    pub link: String,
    /// The signing key's id.
    pub kid: String,
    /// The compact JWT.
    pub token: String,
    pub created_at: OffsetDateTime,
}

/// Store a checkpoint; false when one for that position exists already.
pub async fn insert_checkpoint(db: &Db, row: &CheckpointRow) -> Result<bool, StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "INSERT INTO audit_checkpoints (seq, link, kid, token, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (seq) DO NOTHING")
        .bind(row.seq)
        .bind(&row.link)
        .bind(&row.kid)
        .bind(&row.token)
        .bind(to_db_precision(row.created_at))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(n == 1)
}

/// Up to `limit` checkpoints after position `after`, oldest first.
pub async fn checkpoints(
    db: &Db,
    after: i64,
    limit: i64,
) -> Result<Vec<CheckpointRow>, StoreError> {
    let rows = on_pool!(db, pool => sqlx::query_as::<_, CheckpointRow>(
        "SELECT seq, link, kid, token, created_at FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}

/// The checkpoint at the highest position.
pub async fn latest_checkpoint(db: &Db) -> Result<Option<CheckpointRow>, StoreError> {
    let row = on_pool!(db, pool => sqlx::query_as::<_, CheckpointRow>(
        "SELECT seq, link, kid, token, created_at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
        .fetch_optional(pool)
        .await)?;
    Ok(row)
}
