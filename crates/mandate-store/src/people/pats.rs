//! Personal access tokens: for scripts and the CLI. Shown once, stored as a hash, bound to one
//! workspace, with a role ceiling, read or read-write access, and an expiry.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::people::Role;
use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pat {
    pub id: Uuid,
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub role: Role,
    /// Read-only tokens may only call safe (GET) routes.
    pub read_only: bool,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

type Row = (
    Uuid,
    Uuid,
    Uuid,
    String,
    String,
    String,
    OffsetDateTime,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
);

fn from_row(r: Row) -> Result<Pat, StoreError> {
    Ok(Pat {
        id: r.0,
        user_id: r.1,
        workspace_id: r.2,
        name: r.3,
        role: Role::parse(&r.4).map_err(|_| StoreError::Corrupt(format!("role `{}`", r.4)))?,
        read_only: r.5 == "read",
        created_at: r.6,
        expires_at: r.7,
        last_used_at: r.8,
        revoked_at: r.9,
    })
}

const COLUMNS: &str = "id, user_id, workspace_id, name, role, access, created_at, expires_at, last_used_at, revoked_at";

pub struct NewPat<'a> {
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub name: &'a str,
    pub role: Role,
    pub read_only: bool,
    pub token_hash: &'a [u8; 32],
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

pub fn validate_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            field: "name",
            reason: "must be 1 to 100 characters without control characters".into(),
        });
    }
    Ok(name.to_string())
}

pub async fn create(db: &Db, new: NewPat<'_>) -> Result<Pat, StoreError> {
    let pat = Pat {
        id: Uuid::now_v7(),
        user_id: new.user_id,
        workspace_id: new.workspace_id,
        name: validate_name(new.name)?,
        role: new.role,
        read_only: new.read_only,
        created_at: to_db_precision(new.now),
        expires_at: to_db_precision(new.expires_at),
        last_used_at: None,
        revoked_at: None,
    };
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO personal_access_tokens (id, user_id, workspace_id, name, token_hash, role, access, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(pat.id)
        .bind(pat.user_id)
        .bind(pat.workspace_id)
        .bind(&pat.name)
        .bind(new.token_hash.as_slice())
        .bind(pat.role.as_str())
        .bind(if pat.read_only { "read" } else { "write" })
        .bind(pat.created_at)
        .bind(pat.expires_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(pat)
}

pub async fn by_token_hash(db: &Db, hash: &[u8; 32]) -> Result<Option<Pat>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM personal_access_tokens WHERE token_hash = $1");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(hash.as_slice())
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

/// A user's tokens in one workspace, newest first (revoked ones included, marked).
pub async fn list(db: &Db, user_id: Uuid, workspace_id: Uuid) -> Result<Vec<Pat>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM personal_access_tokens WHERE user_id = $1 AND workspace_id = $2 ORDER BY created_at DESC, id DESC"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(user_id)
        .bind(workspace_id)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(from_row).collect()
}

/// Revoke one of the user's own tokens in this workspace; NotFound otherwise.
pub async fn revoke(
    db: &Db,
    user_id: Uuid,
    workspace_id: Uuid,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE personal_access_tokens SET revoked_at = $4 WHERE id = $1 AND user_id = $2 AND workspace_id = $3 AND revoked_at IS NULL")
        .bind(id)
        .bind(user_id)
        .bind(workspace_id)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound("token"));
    }
    Ok(())
}

/// Record a use, at most once a minute per token.
pub async fn touch(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
    let now = to_db_precision(now);
    on_pool!(db, pool => sqlx::query(
        "UPDATE personal_access_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(id)
        .bind(now)
        .bind(now - time::Duration::minutes(1))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}
