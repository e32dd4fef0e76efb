//! Signing keys, stored with their private half sealed by the vault. This module keeps the rows
//! and the rules: one current key (a partial unique index), rotation in one transaction.

use time::OffsetDateTime;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    /// Envelope text (sealed by the vault under the system scope).
    pub private_key: String,
    /// The public JWK, as JSON text.
    pub public_jwk: String,
    /// `current`, `previous` or `retired`.
    pub state: String,
    pub created_at: OffsetDateTime,
    pub retire_after: Option<OffsetDateTime>,
}

/// The new current key and the current one it replaces (which stays published until
/// `retire_after`), in one transaction. With no current key yet, this just inserts.
pub async fn rotate(
    db: &Db,
    new_current: &SigningKeyRow,
    retire_after: OffsetDateTime,
) -> Result<(), StoreError> {
    // The async block keeps `?` inside it, so a constraint violation reaches the match below.
    let result: Result<(), sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE signing_keys SET state = 'previous', retire_after = $1 WHERE state = 'current'")
            .bind(to_db_precision(retire_after))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, state, created_at, retire_after) \
             VALUES ($1, $2, $3, $4, 'current', $5, NULL)")
            .bind(&new_current.kid)
            .bind(&new_current.alg)
            .bind(&new_current.private_key)
            .bind(&new_current.public_jwk)
            .bind(to_db_precision(new_current.created_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
    .await);
    match result {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
            "a signing key with that kid exists, or another replica rotated at the same moment",
        )),
        other => Ok(other?),
    }
}

/// The current key and the previous ones still published, current first.
pub async fn published(db: &Db, now: OffsetDateTime) -> Result<Vec<SigningKeyRow>, StoreError> {
    let rows = on_pool!(db, pool => sqlx::query_as::<_, SigningKeyRow>(
        "SELECT kid, alg, private_key, public_jwk, state, created_at, retire_after FROM signing_keys \
         WHERE state = 'current' OR (state = 'previous' AND retire_after > $1) \
         ORDER BY CASE state WHEN 'current' THEN 0 ELSE 1 END, created_at DESC")
        .bind(to_db_precision(now))
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}

/// The public JWK of every key ever stored, retired ones too (old signatures, such as audit
/// checkpoints, stay checkable).
pub async fn all_public_jwks(db: &Db) -> Result<Vec<String>, StoreError> {
    let rows = on_pool!(db, pool => sqlx::query_scalar::<_, String>(
        "SELECT public_jwk FROM signing_keys ORDER BY created_at")
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}

/// Mark previous keys past their `retire_after` as retired; returns how many.
pub async fn retire_expired(db: &Db, now: OffsetDateTime) -> Result<u64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE signing_keys SET state = 'retired' WHERE state = 'previous' AND retire_after <= $1")
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(n)
}
