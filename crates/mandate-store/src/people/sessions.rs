//! Browser sessions, server-side: the cookie holds a random token, the row holds its hash.
//! Timeouts are the caller's policy: a row carries its absolute expiry and its last use.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// The password was right; only finishing the second factor is allowed.
    MfaPending,
    Active,
}

impl SessionState {
    fn as_str(self) -> &'static str {
        match self {
            SessionState::MfaPending => "mfa_pending",
            SessionState::Active => "active",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub state: SessionState,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub mfa_at: Option<OffsetDateTime>,
}

type Row = (
    Uuid,
    Uuid,
    Option<Uuid>,
    String,
    OffsetDateTime,
    OffsetDateTime,
    OffsetDateTime,
    Option<OffsetDateTime>,
);

fn from_row(r: Row) -> Session {
    Session {
        id: r.0,
        user_id: r.1,
        workspace_id: r.2,
        state: if r.3 == "active" {
            SessionState::Active
        } else {
            SessionState::MfaPending
        },
        created_at: r.4,
        last_seen_at: r.5,
        expires_at: r.6,
        mfa_at: r.7,
    }
}

const COLUMNS: &str =
    "id, user_id, workspace_id, state, created_at, last_seen_at, expires_at, mfa_at";

pub struct NewSession<'a> {
    pub token_hash: &'a [u8; 32],
    pub user_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub state: SessionState,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub mfa_at: Option<OffsetDateTime>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

pub async fn create(db: &Db, new: NewSession<'_>) -> Result<Session, StoreError> {
    let now = to_db_precision(new.now);
    let session = Session {
        id: Uuid::now_v7(),
        user_id: new.user_id,
        workspace_id: new.workspace_id,
        state: new.state,
        created_at: now,
        last_seen_at: now,
        expires_at: to_db_precision(new.expires_at),
        mfa_at: new.mfa_at.map(to_db_precision),
    };
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO sessions (id, token_hash, user_id, workspace_id, state, created_at, last_seen_at, expires_at, mfa_at, source_ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10)")
        .bind(session.id)
        .bind(new.token_hash.as_slice())
        .bind(session.user_id)
        .bind(session.workspace_id)
        .bind(session.state.as_str())
        .bind(now)
        .bind(session.expires_at)
        .bind(session.mfa_at)
        .bind(new.source_ip)
        .bind(new.user_agent)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(session)
}

pub async fn by_token_hash(db: &Db, hash: &[u8; 32]) -> Result<Option<Session>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE token_hash = $1");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(hash.as_slice())
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(from_row))
}

pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<Session>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id = $1");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(from_row))
}

/// Record a use (callers throttle this to about once a minute).
pub async fn touch(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2")
        .bind(id)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// A second factor was given: the session becomes active (if pending) and step-up is fresh.
/// False when the session is gone.
pub async fn record_mfa(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE sessions SET state = 'active', mfa_at = $2, last_seen_at = $2 WHERE id = $1")
        .bind(id)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n == 1)
}

pub async fn set_workspace(db: &Db, id: Uuid, workspace_id: Uuid) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query("UPDATE sessions SET workspace_id = $2 WHERE id = $1")
        .bind(id)
        .bind(workspace_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// End one session; true when it existed.
pub async fn delete(db: &Db, id: Uuid) -> Result<bool, StoreError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n == 1)
}

/// End every session of a user except `keep`; returns how many ended.
pub async fn delete_for_user(
    db: &Db,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(Uuid::nil()))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n)
}

/// Remove sessions past their absolute expiry or idle since before `idle_cutoff`.
pub async fn delete_expired(
    db: &Db,
    now: OffsetDateTime,
    idle_cutoff: OffsetDateTime,
) -> Result<u64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
        .bind(to_db_precision(now))
        .bind(to_db_precision(idle_cutoff))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n)
}

/// How many sessions a user has (for tests and the session page).
pub async fn count_for_user(db: &Db, user_id: Uuid) -> Result<i64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await)?;
    Ok(n)
}
