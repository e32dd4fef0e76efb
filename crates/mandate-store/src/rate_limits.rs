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

/// Forget windows that started before `before`.
pub async fn delete_before(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM rate_limit_windows WHERE window_start < $1")
        .bind(to_db_precision(before))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n)
}
