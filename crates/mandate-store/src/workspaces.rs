//! Workspaces: the tenant boundary.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

pub const NAME_MAX_CHARS: usize = 100;

/// The system workspace (created by migration 0003): the scope of instance-wide secrets. The
/// functions below never return or change it.
pub const SYSTEM: Uuid = Uuid::nil();

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// A workspace name: trimmed, 1 to 100 characters, no control characters.
pub fn validate_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    let invalid = |reason: &str| StoreError::Invalid {
        field: "name",
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(invalid("must be at most 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("must not contain control characters"));
    }
    Ok(name.to_string())
}

pub async fn create(db: &Db, name: &str, now: OffsetDateTime) -> Result<Workspace, StoreError> {
    let workspace = Workspace {
        id: Uuid::now_v7(),
        name: validate_name(name)?,
        created_at: to_db_precision(now),
    };
    on_pool!(db, pool => sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(workspace.id)
        .bind(&workspace.name)
        .bind(workspace.created_at)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(workspace)
}

pub async fn get(db: &Db, id: Uuid) -> Result<Option<Workspace>, StoreError> {
    let found = on_pool!(db, pool => sqlx::query_as::<_, Workspace>(
        "SELECT id, name, created_at FROM workspaces WHERE id = $1 AND id <> $2")
        .bind(id)
        .bind(SYSTEM)
        .fetch_optional(pool)
        .await)?;
    Ok(found)
}

/// Every workspace, oldest first (ids are time-ordered UUIDv7).
pub async fn list(db: &Db) -> Result<Vec<Workspace>, StoreError> {
    let all = on_pool!(db, pool => sqlx::query_as::<_, Workspace>(
        "SELECT id, name, created_at FROM workspaces WHERE id <> $1 ORDER BY id")
        .bind(SYSTEM)
        .fetch_all(pool)
        .await)?;
    Ok(all)
}

pub async fn rename(db: &Db, id: Uuid, name: &str) -> Result<Workspace, StoreError> {
    let name = validate_name(name)?;
    let updated = on_pool!(db, pool => sqlx::query_as::<_, Workspace>(
        "UPDATE workspaces SET name = $2 WHERE id = $1 AND id <> $3 RETURNING id, name, created_at")
        .bind(id)
        .bind(&name)
        .bind(SYSTEM)
        .fetch_optional(pool)
        .await)?;
    updated.ok_or(StoreError::NotFound("workspace"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("  Acme  ").unwrap(), "Acme");
        assert!(validate_name("   ").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
        assert_eq!(
            validate_name(&"é".repeat(100)).unwrap().chars().count(),
            100
        );
        assert!(validate_name("a\nb").is_err());
    }
}
