//! Failed logins per account. `subject` names the account by its email (hashed by the caller),
//! known or not, so that a lockout looks the same for addresses that have no account.

use time::{Duration, OffsetDateTime};

use crate::{Db, StoreError, on_pool, to_db_precision};

/// The lockout rule: `max_failures` within `window` lock the subject for `lock_for`.
#[derive(Clone, Copy, Debug)]
pub struct LockoutRule {
    pub max_failures: i32,
    pub window: Duration,
    pub lock_for: Duration,
}

/// When the subject is locked, until when.
pub async fn locked_until(
    db: &Db,
    subject: &str,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let until = on_pool!(db, pool => sqlx::query_scalar::<_, Option<OffsetDateTime>>(
        "SELECT locked_until FROM login_lockouts WHERE subject = $1 AND locked_until > $2")
        .bind(subject)
        .bind(to_db_precision(now))
        .fetch_optional(pool)
        .await)?;
    Ok(until.flatten())
}

/// Count one failure; returns the lock's end when this failure locked the subject. Atomic: the
/// count is one upsert, so concurrent failures on several replicas all count.
pub async fn record_failure(
    db: &Db,
    subject: &str,
    now: OffsetDateTime,
    rule: LockoutRule,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let now = to_db_precision(now);
    let window_open_after = now - rule.window;
    let failures = on_pool!(db, pool => sqlx::query_scalar::<_, i32>(
        "INSERT INTO login_lockouts (subject, failures, window_start, locked_until) VALUES ($1, 1, $2, NULL) \
         ON CONFLICT (subject) DO UPDATE SET \
           failures = CASE WHEN login_lockouts.window_start <= $3 THEN 1 ELSE login_lockouts.failures + 1 END, \
           window_start = CASE WHEN login_lockouts.window_start <= $3 THEN $2 ELSE login_lockouts.window_start END \
         RETURNING failures")
        .bind(subject)
        .bind(now)
        .bind(window_open_after)
        .fetch_one(pool)
        .await)?;
    if failures < rule.max_failures {
        return Ok(None);
    }
    let until = now + rule.lock_for;
    // The count starts again once the lock has run out.
    on_pool!(db, pool => sqlx::query(
        "UPDATE login_lockouts SET locked_until = $2, failures = 0, window_start = $2 WHERE subject = $1")
        .bind(subject)
        .bind(until)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(Some(until))
}

/// A successful login clears the count.
pub async fn clear(db: &Db, subject: &str, now: OffsetDateTime) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query(
        "DELETE FROM login_lockouts WHERE subject = $1 AND (locked_until IS NULL OR locked_until <= $2)")
        .bind(subject)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Forget counts whose window and lock are both over.
pub async fn delete_stale(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let before = to_db_precision(before);
    let n = on_pool!(db, pool => sqlx::query(
        "DELETE FROM login_lockouts WHERE window_start < $1 AND (locked_until IS NULL OR locked_until < $1)")
        .bind(before)
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n)
}
