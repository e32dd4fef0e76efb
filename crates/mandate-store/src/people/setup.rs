//! First-run setup: the first owner and workspace, created exactly once. The `instance_setup`
//! table holds one row at most (primary key `singleton = 1`), inserted in the same transaction
//! as the owner, so of any number of concurrent attempts, on any number of replicas, one commits
//! and the others roll back with [`StoreError::Conflict`].

use time::OffsetDateTime;
use uuid::Uuid;

use crate::people::conflict_on_unique;
use crate::people::users::{NewUser, User};
use crate::workspaces::{self, Workspace};
use crate::{Db, StoreError, on_pool, to_db_precision};

/// Insert a user row inside a transaction (`$tx` is `&mut *tx`).
macro_rules! insert_user {
    ($tx:expr, $user:expr) => {
        sqlx::query(
            "INSERT INTO users (id, email, display_name, password_hash, password_changed_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($user.id)
        .bind(&$user.email)
        .bind(&$user.display_name)
        .bind(&$user.password_hash)
        .bind($user.password_changed_at)
        .bind($user.created_at)
        .execute($tx)
        .await
    };
}
pub(crate) use insert_user;

/// Insert a workspace row and the owner's membership inside a transaction.
macro_rules! insert_workspace_with_owner {
    ($tx:expr, $workspace:expr, $owner:expr) => {
        async {
            sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
                .bind($workspace.id)
                .bind(&$workspace.name)
                .bind($workspace.created_at)
                .execute(&mut *$tx)
                .await?;
            sqlx::query(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind($workspace.id)
            .bind($owner)
            .bind(crate::people::Role::Owner.as_str())
            .bind($workspace.created_at)
            .execute(&mut *$tx)
            .await
        }
        .await
    };
}

pub async fn is_done(db: &Db) -> Result<bool, StoreError> {
    let n = on_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM instance_setup")
        .fetch_one(pool)
        .await)?;
    Ok(n > 0)
}

/// The workspace created at setup: its admins administer the instance.
pub async fn instance_workspace(db: &Db) -> Result<Option<Uuid>, StoreError> {
    let id = on_pool!(db, pool => sqlx::query_scalar::<_, Uuid>("SELECT workspace_id FROM instance_setup")
        .fetch_optional(pool)
        .await)?;
    Ok(id)
}

/// Remember a generated setup token (its hash) so any replica accepts it.
pub async fn insert_token(
    db: &Db,
    hash: &[u8; 32],
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3) ON CONFLICT (token_hash) DO NOTHING")
        .bind(hash.as_slice())
        .bind(to_db_precision(now))
        .bind(to_db_precision(expires_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn token_is_valid(
    db: &Db,
    hash: &[u8; 32],
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2")
        .bind(hash.as_slice())
        .bind(to_db_precision(now))
        .fetch_one(pool)
        .await)?;
    Ok(n > 0)
}

/// Create the first owner, their workspace and the setup marker in one transaction, and
/// forget every setup token. A second call (or a concurrent one that loses) fails with
/// `Conflict("setup is already done")` and changes nothing.
pub async fn complete(
    db: &Db,
    owner: NewUser,
    workspace_name: &str,
    now: OffsetDateTime,
) -> Result<(User, Workspace), StoreError> {
    let user = owner.into_user(now);
    let workspace = Workspace {
        id: Uuid::now_v7(),
        name: workspaces::validate_name(workspace_name)?,
        created_at: to_db_precision(now),
    };
    let result: Result<(), sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        // The marker first: a losing attempt stops here, before writing anything else.
        sqlx::query("INSERT INTO instance_setup (singleton, owner_id, workspace_id, completed_at) VALUES (1, $1, $2, $3)")
            .bind(user.id)
            .bind(workspace.id)
            .bind(user.created_at)
            .execute(&mut *tx)
            .await?;
        insert_user!(&mut *tx, user)?;
        insert_workspace_with_owner!(tx, workspace, user.id)?;
        sqlx::query("DELETE FROM setup_tokens").execute(&mut *tx).await?;
        tx.commit().await
    }
    .await);
    result.map_err(|e| conflict_on_unique(e, "setup is already done"))?;
    Ok((user, workspace))
}

/// Create an account that owns a new workspace of its own (public registration).
pub async fn register(
    db: &Db,
    new: NewUser,
    workspace_name: &str,
    now: OffsetDateTime,
) -> Result<(User, Workspace), StoreError> {
    let user = new.into_user(now);
    let workspace = Workspace {
        id: Uuid::now_v7(),
        name: workspaces::validate_name(workspace_name)?,
        created_at: to_db_precision(now),
    };
    let result: Result<(), sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        insert_user!(&mut *tx, user)?;
        insert_workspace_with_owner!(tx, workspace, user.id)?;
        tx.commit().await
    }
    .await);
    result.map_err(|e| conflict_on_unique(e, "an account with this email exists"))?;
    Ok((user, workspace))
}

/// Forget setup tokens past their expiry.
pub async fn delete_expired_tokens(db: &Db, now: OffsetDateTime) -> Result<u64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM setup_tokens WHERE expires_at <= $1")
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n)
}
