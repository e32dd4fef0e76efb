//! The per-connection refresh lock: one refresh at a time per connection across every replica.
//!
//! - PostgreSQL: a transaction holding `SELECT ... FOR UPDATE` on the connection's row. Other
//!   replicas wait on the row; when the holder commits they read the refreshed token and need
//!   no refresh of their own. The new access and (rotated) refresh token are written in that
//!   same transaction. A replica that dies mid-refresh loses its connection, and the row lock
//!   goes with it.
//! - SQLite: one process owns the file, so the server's per-connection mutex is the lock; a
//!   write transaction held across the provider call would stall every other writer.
//!
//! The caller holds its in-process mutex around the whole thing on both backends, so a replica
//! never has more than one database connection waiting for the same row.

use sqlx::Postgres;
use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::{COLUMNS, Connection, Row, from_row};
use crate::{Db, StoreError, on_pool, to_db_precision};

/// The connection, read under the lock.
pub struct RefreshLock {
    pub connection: Connection,
    tx: Option<sqlx::Transaction<'static, Postgres>>,
}

/// What a successful refresh writes.
pub struct Refreshed<'a> {
    pub sealed_credential: &'a str,
    pub has_refresh_token: bool,
    pub access_expires_at: Option<OffsetDateTime>,
    /// None keeps the granted scopes as they were.
    pub scopes: Option<&'a [String]>,
}

/// Lock the connection for refreshing and read it. NotFound when it is not in the workspace.
pub async fn lock(db: &Db, workspace_id: Uuid, id: &str) -> Result<RefreshLock, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM connections WHERE id = $1 AND workspace_id = $2");
    match db {
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let locked = format!("{sql} FOR UPDATE");
            let row = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(locked.as_str()))
                .bind(id)
                .bind(workspace_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound("connection"))?;
            Ok(RefreshLock {
                connection: from_row(row)?,
                tx: Some(tx),
            })
        }
        Db::Sqlite(pool) => {
            let row = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(workspace_id)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("connection"))?;
            Ok(RefreshLock {
                connection: from_row(row)?,
                tx: None,
            })
        }
    }
}

const WRITE_REFRESHED: &str = "UPDATE connections SET credential = $2, has_refresh_token = $3, access_expires_at = $4, \
     scopes = COALESCE($5, scopes), state = 'active', last_error = NULL, last_refreshed_at = $6, updated_at = $6 \
     WHERE id = $1 AND state <> 'revoked'";

const WRITE_FAILED: &str = "UPDATE connections SET state = $2, last_error = $3, updated_at = $4 WHERE id = $1 AND state <> 'revoked'";

impl RefreshLock {
    /// Store the refreshed credential and release the lock. False when the connection was
    /// revoked meanwhile (nothing is written).
    pub async fn finish(
        self,
        db: &Db,
        new: Refreshed<'_>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = to_db_precision(now);
        let scopes = new
            .scopes
            .map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into()));
        let id = self.connection.id;
        let n = match self.tx {
            Some(mut tx) => {
                let n = sqlx::query(WRITE_REFRESHED)
                    .bind(&id)
                    .bind(new.sealed_credential)
                    .bind(new.has_refresh_token)
                    .bind(new.access_expires_at.map(to_db_precision))
                    .bind(&scopes)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                n
            }
            None => on_pool!(db, pool => sqlx::query(WRITE_REFRESHED)
                .bind(&id)
                .bind(new.sealed_credential)
                .bind(new.has_refresh_token)
                .bind(new.access_expires_at.map(to_db_precision))
                .bind(&scopes)
                .bind(now)
                .execute(pool)
                .await
                .map(|d| d.rows_affected()))?,
        };
        Ok(n == 1)
    }

    /// Record a failed refresh (state and a message without secrets) and release the lock.
    pub async fn fail(
        self,
        db: &Db,
        state: super::ConnectionState,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = to_db_precision(now);
        let id = self.connection.id;
        match self.tx {
            Some(mut tx) => {
                sqlx::query(WRITE_FAILED)
                    .bind(&id)
                    .bind(state.as_str())
                    .bind(message)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            None => on_pool!(db, pool => sqlx::query(WRITE_FAILED)
                .bind(&id)
                .bind(state.as_str())
                .bind(message)
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ()))?,
        }
        Ok(())
    }

    /// Release without writing (another replica had refreshed already).
    pub async fn release(self) -> Result<(), StoreError> {
        if let Some(tx) = self.tx {
            tx.rollback().await?;
        }
        Ok(())
    }
}
