//! The chain's HMAC keys, sealed by the vault under the system workspace (kind `audit_key`).

use time::OffsetDateTime;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditKeyRow {
    pub id: String,
    /// Envelope text.
    pub sealed_key: String,
    pub created_at: OffsetDateTime,
}

/// Store a key under `row.id` unless one exists there already (the first replica wins);
/// true when this call stored it.
pub async fn insert_key_if_absent(db: &Db, row: &AuditKeyRow) -> Result<bool, StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "INSERT INTO audit_keys (id, sealed_key, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
        .bind(&row.id)
        .bind(&row.sealed_key)
        .bind(to_db_precision(row.created_at))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(n == 1)
}

/// Every key, oldest first.
pub async fn keys(db: &Db) -> Result<Vec<AuditKeyRow>, StoreError> {
    let rows = on_pool!(db, pool => sqlx::query_as::<_, AuditKeyRow>(
        "SELECT id, sealed_key, created_at FROM audit_keys ORDER BY created_at, id")
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}
