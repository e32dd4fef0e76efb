//! Fixed-window rate limits shared by every replica: one upsert per hit on
//! (bucket, window start) returns the window's count, so two replicas never double a limit.

use time::{Duration, OffsetDateTime};

use crate::{Db, StoreError, on_pool, to_db_precision};

/// The count in the current window, with the window's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hits {
    pub count: i64,
    pub window_ends: OffsetDateTime,
}

/// The window of length `window` that contains `now`: its start and end.
pub fn window_of(
    window: Duration,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), StoreError> {
    let length = window.whole_seconds().max(1);
    let start_unix = now.unix_timestamp().div_euclid(length) * length;
    let start = OffsetDateTime::from_unix_timestamp(start_unix)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((start, start + Duration::seconds(length)))
}

/// Count one hit on `bucket` in the window of length `window` that contains `now`.
pub async fn hit(
    db: &Db,
    bucket: &str,
    window: Duration,
    now: OffsetDateTime,
) -> Result<Hits, StoreError> {
    let (start, window_ends) = window_of(window, now)?;
    let count = on_pool!(db, pool => sqlx::query_scalar::<_, i32>(
        "INSERT INTO rate_limit_windows (bucket, window_start, hits) VALUES ($1, $2, 1) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_windows.hits + 1 \
         RETURNING hits")
        .bind(bucket)
        .bind(to_db_precision(start))
        .fetch_one(pool)
        .await)?;
    Ok(Hits {
        count: i64::from(count),
        window_ends,
    })
}

/// The count already recorded for `bucket` in the window of length `window` that contains `now`
/// (0 when none). Counters kept in memory start from it after a restart.
pub async fn count(
    db: &Db,
    bucket: &str,
    window: Duration,
    now: OffsetDateTime,
) -> Result<Hits, StoreError> {
    let (start, window_ends) = window_of(window, now)?;
    let count = on_pool!(db, pool => sqlx::query_scalar::<_, i32>(
        "SELECT hits FROM rate_limit_windows WHERE bucket = $1 AND window_start = $2")
        .bind(bucket)
        .bind(to_db_precision(start))
        .fetch_optional(pool)
        .await)?;
    Ok(Hits {
        count: i64::from(count.unwrap_or(0)),
        window_ends,
    })
}

/// Record that `bucket` reached `hits` in the window starting at `window_start`; a lower figure
/// never replaces a higher one (a counter kept in memory writes its total behind).
pub async fn raise(
    db: &Db,
    bucket: &str,
    window_start: OffsetDateTime,
    hits: i64,
) -> Result<(), StoreError> {
    let hits = i32::try_from(hits).unwrap_or(i32::MAX);
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO rate_limit_windows (bucket, window_start, hits) VALUES ($1, $2, $3) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = excluded.hits \
         WHERE excluded.hits > rate_limit_windows.hits")
        .bind(bucket)
        .bind(to_db_precision(window_start))
        .bind(hits)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Buckets with this prefix count notices sent (windows up to a day long); they are kept
/// for [`delete_before`]'s `notice_before`, not its `before`.
pub const NOTICE_PREFIX: &str = "notify:";

/// Forget windows that started before `before`, and notice windows before `notice_before`.
pub async fn delete_before(
    db: &Db,
    before: OffsetDateTime,
    notice_before: OffsetDateTime,
) -> Result<u64, StoreError> {
    // substr() rather than LIKE: no wildcard in the prefix to escape, the same in both dialects.
    let n = on_pool!(db, pool => sqlx::query(
        "DELETE FROM rate_limit_windows WHERE window_start < $1 AND substr(bucket, 1, length($3)) <> $3 \
         OR window_start < $2 AND substr(bucket, 1, length($3)) = $3")
        .bind(to_db_precision(before))
        .bind(to_db_precision(notice_before))
        .bind(NOTICE_PREFIX)
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n)
}
