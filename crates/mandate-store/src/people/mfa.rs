//! Second factors: one TOTP authenticator per user (secret sealed by the vault) and ten
//! single-use backup codes (SHA-256 hashes). Using a code is a compare-and-set, so a code (or a
//! TOTP step) works once even when presented twice at the same moment on two replicas.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpCredential {
    pub user_id: Uuid,
    /// Envelope text; the vault binds it to kind `totp_secret`, row = user id, system workspace.
    pub sealed_secret: String,
    pub confirmed_at: Option<OffsetDateTime>,
    pub last_used_step: i64,
}

pub async fn totp(db: &Db, user_id: Uuid) -> Result<Option<TotpCredential>, StoreError> {
    let row = on_pool!(db, pool => sqlx::query_as::<_, (String, Option<OffsetDateTime>, i64)>(
        "SELECT sealed_secret, confirmed_at, last_used_step FROM totp_credentials WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(
        |(sealed_secret, confirmed_at, last_used_step)| TotpCredential {
            user_id,
            sealed_secret,
            confirmed_at,
            last_used_step,
        },
    ))
}

/// Store a new, unconfirmed secret (replacing an unconfirmed one). Conflict when the user has a
/// confirmed authenticator: it must be removed first.
pub async fn begin_totp(
    db: &Db,
    user_id: Uuid,
    sealed_secret: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "INSERT INTO totp_credentials (id, user_id, sealed_secret, confirmed_at, last_used_step, created_at) \
         VALUES ($1, $2, $3, NULL, 0, $4) \
         ON CONFLICT (id) DO UPDATE SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at \
         WHERE totp_credentials.confirmed_at IS NULL")
        .bind(user_id.to_string())
        .bind(user_id)
        .bind(sealed_secret)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::Conflict(
            "an authenticator is already set up; remove it first",
        ));
    }
    Ok(())
}

/// Use TOTP `step`: only a step newer than the last one used is accepted. `confirm` also
/// finishes an enrolment (otherwise only confirmed authenticators count). True when accepted.
pub async fn use_totp_step(
    db: &Db,
    user_id: Uuid,
    step: i64,
    confirm: Option<OffsetDateTime>,
) -> Result<bool, StoreError> {
    let n = match confirm {
        Some(now) => on_pool!(db, pool => sqlx::query(
            "UPDATE totp_credentials SET last_used_step = $2, confirmed_at = COALESCE(confirmed_at, $3) \
             WHERE user_id = $1 AND last_used_step < $2")
            .bind(user_id)
            .bind(step)
            .bind(to_db_precision(now))
            .execute(pool)
            .await
            .map(|d| d.rows_affected()))?,
        None => on_pool!(db, pool => sqlx::query(
            "UPDATE totp_credentials SET last_used_step = $2 \
             WHERE user_id = $1 AND last_used_step < $2 AND confirmed_at IS NOT NULL")
            .bind(user_id)
            .bind(step)
            .execute(pool)
            .await
            .map(|d| d.rows_affected()))?,
    };
    Ok(n == 1)
}

/// Remove the authenticator, and the backup codes unless a passkey remains; true when there was
/// one.
pub async fn remove_totp(db: &Db, user_id: Uuid) -> Result<bool, StoreError> {
    let n: Result<u64, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let n = sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM backup_codes WHERE user_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }
    .await);
    Ok(n? > 0)
}

/// Replace every backup code of the user with these hashes, in one transaction.
pub async fn replace_backup_codes(
    db: &Db,
    user_id: Uuid,
    hashes: &[[u8; 32]],
) -> Result<(), StoreError> {
    let done: Result<(), sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for hash in hashes {
            sqlx::query("INSERT INTO backup_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)")
                .bind(user_id)
                .bind(hash.as_slice())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
    .await);
    Ok(done?)
}

/// Spend a backup code; true when it was there and unused.
pub async fn use_backup_code(
    db: &Db,
    user_id: Uuid,
    hash: &[u8; 32],
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE backup_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
        .bind(user_id)
        .bind(hash.as_slice())
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n == 1)
}

pub async fn backup_codes_left(db: &Db, user_id: Uuid) -> Result<i64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .fetch_one(pool)
        .await)?;
    Ok(n)
}
