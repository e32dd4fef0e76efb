//! Requests per hour per policy: one fixed hourly window per policy.
//!
//! - PostgreSQL (any number of replicas): an atomic upsert per request in `rate_limit_windows`,
//!   so the limit holds across replicas.
//! - SQLite (one process by construction; its change bus is in-process too): counted in memory
//!   under a lock, which is atomic for the only replica. A window starts from the count stored in
//!   the database, and the total is written behind every second and at shutdown, so a restart
//!   does not reset the hour. Why not the upsert: SQLite has a single writer, and a counter write
//!   per request competes with the audit writer for it; the loser sleeps in SQLite's busy handler
//!   for a millisecond or more, which was most of the gateway's latency under load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use mandate_policy::CompiledPolicy;
use mandate_store::rate_limits::{self, Hits};
use mandate_store::{Db, StoreError};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

const WINDOW: Duration = Duration::hours(1);
/// How often counts kept in memory are written to the database.
const WRITE_BEHIND_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Count this request against the policy's hourly limit; 429 past it.
pub async fn take(
    app: &AppState,
    workspace_id: Uuid,
    policy_id: Uuid,
    policy: &CompiledPolicy,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let Some(limits) = policy.rate_limits() else {
        return Ok(());
    };
    let hits = app
        .policy_limits
        .hit(&format!("policy:{policy_id}"), now)
        .await?;
    if hits.count > i64::from(limits.max_requests_per_hour) {
        crate::notifications::thresholds::policy_rate_limited(
            app,
            workspace_id,
            policy_id,
            limits.max_requests_per_hour,
            hits.count,
        );
        let wait = (hits.window_ends - now).whole_seconds().max(1) as u64;
        return Err(ApiError::too_many(
            format!(
                "rate limited: the policy allows {} requests per hour",
                limits.max_requests_per_hour
            ),
            wait,
        )
        .with_hint(format!("retry after {wait} seconds")));
    }
    Ok(())
}

/// The hourly counters of policies, shared (PostgreSQL) or kept by this process (SQLite).
#[derive(Clone)]
pub struct PolicyLimits {
    db: Db,
    local: Option<Arc<LocalCounts>>,
}

#[derive(Default)]
struct LocalCounts {
    windows: Mutex<HashMap<String, Window>>,
}

struct Window {
    start: OffsetDateTime,
    count: i64,
    /// The total the database holds.
    written: i64,
}

impl PolicyLimits {
    /// Counters for `db`; on SQLite also the task that writes them behind (it ends when the last
    /// handle is dropped).
    pub fn new(db: Db) -> PolicyLimits {
        let local = match db.backend() {
            mandate_store::Backend::Postgres => None,
            mandate_store::Backend::Sqlite => {
                let counts = Arc::new(LocalCounts::default());
                spawn_write_behind(db.clone(), Arc::downgrade(&counts));
                Some(counts)
            }
        };
        PolicyLimits { db, local }
    }

    /// Count one request on `bucket` in the window that contains `now`.
    pub async fn hit(&self, bucket: &str, now: OffsetDateTime) -> Result<Hits, StoreError> {
        let Some(local) = &self.local else {
            return rate_limits::hit(&self.db, bucket, WINDOW, now).await;
        };
        let (start, ends) = rate_limits::window_of(WINDOW, now)?;
        if let Some(hits) = local.add(bucket, start, None) {
            return Ok(hits);
        }
        // First request of this window in this process: continue from what is stored.
        let stored = rate_limits::count(&self.db, bucket, WINDOW, now).await?;
        let seeded = Window {
            start,
            count: stored.count,
            written: stored.count,
        };
        Ok(local.add(bucket, start, Some(seeded)).unwrap_or(Hits {
            count: stored.count + 1,
            window_ends: ends,
        }))
    }

    /// Write every count kept in memory to the database (shutdown calls it).
    pub async fn flush(&self) -> Result<(), StoreError> {
        match &self.local {
            Some(local) => {
                local
                    .write_behind(&self.db, OffsetDateTime::now_utc())
                    .await
            }
            None => Ok(()),
        }
    }
}

impl LocalCounts {
    /// Add one to `bucket`'s window starting at `start`. Without a current window there, use
    /// `seed` (None: nothing to count on yet, the caller reads the stored count first).
    fn add(&self, bucket: &str, start: OffsetDateTime, seed: Option<Window>) -> Option<Hits> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let current = windows.get(bucket).is_some_and(|w| w.start == start);
        if !current {
            windows.insert(bucket.to_string(), seed?);
        }
        let window = windows.get_mut(bucket)?;
        window.count += 1;
        Some(Hits {
            count: window.count,
            window_ends: window.start + WINDOW,
        })
    }

    async fn write_behind(&self, db: &Db, now: OffsetDateTime) -> Result<(), StoreError> {
        let due: Vec<(String, OffsetDateTime, i64)> = {
            let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            windows.retain(|_, w| w.start + WINDOW > now || w.count > w.written);
            windows
                .iter()
                .filter(|(_, w)| w.count > w.written)
                .map(|(bucket, w)| (bucket.clone(), w.start, w.count))
                .collect()
        };
        for (bucket, start, count) in due {
            rate_limits::raise(db, &bucket, start, count).await?;
            let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(w) = windows.get_mut(&bucket).filter(|w| w.start == start) {
                w.written = w.written.max(count);
            }
        }
        Ok(())
    }
}

fn spawn_write_behind(db: Db, counts: Weak<LocalCounts>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(WRITE_BEHIND_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(counts) = counts.upgrade() else {
                return;
            };
            if let Err(e) = counts.write_behind(&db, OffsetDateTime::now_utc()).await {
                tracing::warn!(error = %e, "writing rate-limit counts behind failed; retrying");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn counts_continue_from_the_seed_and_restart_each_window() {
        let counts = LocalCounts::default();
        let hour = at(1_800_000_000); // a whole hour
        assert!(counts.add("p", hour, None).is_none(), "no window yet");
        let seed = Window {
            start: hour,
            count: 41,
            written: 41,
        };
        assert_eq!(counts.add("p", hour, Some(seed)).unwrap().count, 42);
        assert_eq!(counts.add("p", hour, None).unwrap().count, 43);
        let next = hour + WINDOW;
        assert!(
            counts.add("p", next, None).is_none(),
            "the next hour starts from the stored count, not from this one"
        );
    }
}
