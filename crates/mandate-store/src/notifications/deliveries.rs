//! The delivery queue: one row per (event, channel). Every replica's worker takes due rows
//! with a lease (one conditional UPDATE per row, so two replicas never send the same attempt),
//! then records the outcome: delivered, retry at a later time, or finally failed.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub channel_id: String,
    pub event: String,
    /// The event as sent (JSON).
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made so far.
    pub attempts: i32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    workspace_id: Uuid,
    channel_id: String,
    event: String,
    payload: String,
    state: String,
    attempts: i32,
    next_attempt_at: Option<OffsetDateTime>,
    last_error: Option<String>,
    created_at: OffsetDateTime,
    finished_at: Option<OffsetDateTime>,
}

impl From<Row> for Delivery {
    fn from(r: Row) -> Delivery {
        Delivery {
            id: r.id,
            workspace_id: r.workspace_id,
            channel_id: r.channel_id,
            event: r.event,
            payload: r.payload,
            state: r.state,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

const COLUMNS: &str = "id, workspace_id, channel_id, event, payload, state, attempts, next_attempt_at, last_error, created_at, finished_at";

/// Queue `d` (pending, due at `next_attempt_at`).
pub async fn enqueue(db: &Db, d: &Delivery) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO notification_deliveries (id, workspace_id, channel_id, event, payload, state, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)")
        .bind(d.id)
        .bind(d.workspace_id)
        .bind(&d.channel_id)
        .bind(&d.event)
        .bind(&d.payload)
        .bind(d.next_attempt_at.map(to_db_precision))
        .bind(to_db_precision(d.created_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Take up to `limit` due deliveries for `lease`: nobody else takes them until it runs out
/// (a replica that dies mid-send leaves them to the others after the lease).
pub async fn claim_due(
    db: &Db,
    now: OffsetDateTime,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let now = to_db_precision(now);
    let candidates = on_pool!(db, pool => sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM notification_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until <= $1) ORDER BY next_attempt_at LIMIT $2")
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    let sql = format!(
        "UPDATE notification_deliveries SET locked_until = $1 WHERE id = $2 AND state = 'pending' \
         AND (locked_until IS NULL OR locked_until <= $3) RETURNING {COLUMNS}"
    );
    let mut taken = Vec::with_capacity(candidates.len());
    for id in candidates {
        let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(now + lease)
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        taken.extend(row.map(Delivery::from));
    }
    Ok(taken)
}

/// What became of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again at this time.
    Retry {
        at: OffsetDateTime,
        error: String,
    },
    /// No attempt left.
    Failed {
        error: String,
    },
}

/// Record the outcome of attempt number `attempts` and release the lease.
pub async fn finish_attempt(
    db: &Db,
    id: Uuid,
    attempts: i32,
    outcome: &Outcome,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = to_db_precision(now);
    let (state, next, error, finished) = match outcome {
        Outcome::Delivered => ("delivered", None, None, Some(now)),
        Outcome::Retry { at, error } => ("pending", Some(to_db_precision(*at)), Some(error), None),
        Outcome::Failed { error } => ("failed", None, Some(error), Some(now)),
    };
    on_pool!(db, pool => sqlx::query(
        "UPDATE notification_deliveries SET state = $1, attempts = $2, next_attempt_at = $3, \
         last_error = COALESCE($4, last_error), finished_at = $5, locked_until = NULL WHERE id = $6")
        .bind(state)
        .bind(attempts)
        .bind(next)
        .bind(error)
        .bind(finished)
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The channel's deliveries, newest first.
pub async fn list(
    db: &Db,
    workspace_id: Uuid,
    channel_id: &str,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notification_deliveries WHERE workspace_id = $1 AND channel_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .bind(channel_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(Delivery::from).collect())
}

/// Forget finished deliveries older than `before` (the cleanup job).
pub async fn delete_finished_before(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "DELETE FROM notification_deliveries WHERE state <> 'pending' AND finished_at < $1")
        .bind(to_db_precision(before))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n)
}
