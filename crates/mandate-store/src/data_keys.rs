//! Data keys (DEK), stored wrapped. The vault decides what to wrap and when; this module only
//! keeps the rows, and the database keeps the rule of one active key per workspace.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DekState {
    Active,
    Retiring,
    Retired,
}

impl DekState {
    pub fn as_str(self) -> &'static str {
        match self {
            DekState::Active => "active",
            DekState::Retiring => "retiring",
            DekState::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Result<DekState, StoreError> {
        match s {
            "active" => Ok(DekState::Active),
            "retiring" => Ok(DekState::Retiring),
            "retired" => Ok(DekState::Retired),
            other => Err(StoreError::Corrupt(format!("data key state `{other}`"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataKeyRow {
    pub kid: String,
    pub workspace_id: Uuid,
    pub kek_id: String,
    pub wrapped: String,
    pub state: DekState,
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct Raw {
    kid: String,
    workspace_id: Uuid,
    kek_id: String,
    wrapped: String,
    state: String,
    created_at: OffsetDateTime,
}

impl TryFrom<Raw> for DataKeyRow {
    type Error = StoreError;
    fn try_from(r: Raw) -> Result<DataKeyRow, StoreError> {
        Ok(DataKeyRow {
            kid: r.kid,
            workspace_id: r.workspace_id,
            kek_id: r.kek_id,
            wrapped: r.wrapped,
            state: DekState::parse(&r.state)?,
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str = "kid, workspace_id, kek_id, wrapped, state, created_at";

/// Insert a new active key. Fails with [`StoreError::Conflict`] when the workspace already has
/// one (another replica won the race): read that one instead.
pub async fn insert_active(db: &Db, row: &DataKeyRow) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO data_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, 'active', $5)");
    let result = on_pool!(db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&row.kid)
        .bind(row.workspace_id)
        .bind(&row.kek_id)
        .bind(&row.wrapped)
        .bind(to_db_precision(row.created_at))
        .execute(pool)
        .await
        .map(|_| ()));
    match result {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
            "the workspace already has an active data key",
        )),
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
            Err(StoreError::NotFound("workspace"))
        }
        other => Ok(other?),
    }
}

pub async fn active(db: &Db, workspace_id: Uuid) -> Result<Option<DataKeyRow>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM data_keys WHERE workspace_id = $1 AND state = 'active'");
    let raw = on_pool!(db, pool => sqlx::query_as::<_, Raw>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?;
    raw.map(DataKeyRow::try_from).transpose()
}

/// The key `kid` of `workspace_id` (a kid of another workspace is not found).
pub async fn get(db: &Db, workspace_id: Uuid, kid: &str) -> Result<Option<DataKeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM data_keys WHERE workspace_id = $1 AND kid = $2");
    let raw = on_pool!(db, pool => sqlx::query_as::<_, Raw>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .bind(kid)
        .fetch_optional(pool)
        .await)?;
    raw.map(DataKeyRow::try_from).transpose()
}

/// Every key, oldest first (for status and rotation).
pub async fn list(db: &Db) -> Result<Vec<DataKeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM data_keys ORDER BY created_at, kid");
    let raw = on_pool!(db, pool => sqlx::query_as::<_, Raw>(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(pool)
        .await)?;
    raw.into_iter().map(DataKeyRow::try_from).collect()
}

/// How many data keys each KEK wraps.
pub async fn count_by_kek(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = on_pool!(db, pool => sqlx::query_as::<_, (String, i64)>(
        "SELECT kek_id, COUNT(*) FROM data_keys GROUP BY kek_id ORDER BY kek_id")
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}

/// Every key wrapped by `kek_id`.
pub async fn wrapped_by(db: &Db, kek_id: &str) -> Result<Vec<DataKeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM data_keys WHERE kek_id = $1 ORDER BY created_at, kid");
    let raw = on_pool!(db, pool => sqlx::query_as::<_, Raw>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(kek_id)
        .fetch_all(pool)
        .await)?;
    raw.into_iter().map(DataKeyRow::try_from).collect()
}

/// Replace the wrapping of `kid`, but only if it is still wrapped by `old_kek_id` (so two
/// replicas re-wrapping at once cannot overwrite each other). True when this call changed it.
pub async fn rewrap(
    db: &Db,
    kid: &str,
    old_kek_id: &str,
    new_kek_id: &str,
    new_wrapped: &str,
) -> Result<bool, StoreError> {
    let changed = on_pool!(db, pool => sqlx::query(
        "UPDATE data_keys SET kek_id = $3, wrapped = $4 WHERE kid = $1 AND kek_id = $2")
        .bind(kid)
        .bind(old_kek_id)
        .bind(new_kek_id)
        .bind(new_wrapped)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(changed == 1)
}

/// Make `new_active` the workspace's active key and the current one `retiring`, in one
/// transaction. Returns the kid it replaced (None when the workspace had no key yet).
pub async fn replace_active(
    db: &Db,
    new_active: &DataKeyRow,
) -> Result<Option<String>, StoreError> {
    let sql = format!("INSERT INTO data_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, 'active', $5)");
    let result: Result<Option<String>, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let old: Option<String> = sqlx::query_scalar(
            "UPDATE data_keys SET state = 'retiring' WHERE workspace_id = $1 AND state = 'active' RETURNING kid")
            .bind(new_active.workspace_id)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(&new_active.kid)
            .bind(new_active.workspace_id)
            .bind(&new_active.kek_id)
            .bind(&new_active.wrapped)
            .bind(to_db_precision(new_active.created_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(old)
    }
    .await);
    match result {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
            "another rotation of this workspace's data key ran at the same moment",
        )),
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
            Err(StoreError::NotFound("workspace"))
        }
        other => Ok(other?),
    }
}

/// Set the state of `kid` (e.g. `retired` once no record uses it).
pub async fn set_state(db: &Db, kid: &str, state: DekState) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query("UPDATE data_keys SET state = $2 WHERE kid = $1")
        .bind(kid)
        .bind(state.as_str())
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Remember that `kek_id` is in use (the first call wins; later ones change nothing).
pub async fn record_kek(
    db: &Db,
    kek_id: &str,
    provider: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO key_encryption_keys (kek_id, provider, first_seen) VALUES ($1, $2, $3) ON CONFLICT (kek_id) DO NOTHING")
        .bind(kek_id)
        .bind(provider)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// When `kek_id` was first used, if it was recorded.
pub async fn kek_first_seen(db: &Db, kek_id: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    let seen = on_pool!(db, pool => sqlx::query_scalar::<_, OffsetDateTime>(
        "SELECT first_seen FROM key_encryption_keys WHERE kek_id = $1")
        .bind(kek_id)
        .fetch_optional(pool)
        .await)?;
    Ok(seen)
}
