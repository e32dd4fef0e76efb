//! Who belongs to which workspace, with which role. A workspace always keeps at least one
//! owner: role changes and removals lock the workspace row first (a no-op UPDATE, which both
//! dialects treat as a row/write lock), so two concurrent demotions cannot both pass the check.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::people::Role;
use crate::workspaces::{SYSTEM, Workspace};
use crate::{Db, StoreError, on_pool, to_db_precision};

/// A member as listed: the account's public fields and the role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: OffsetDateTime,
}

type MemberRow = (Uuid, String, String, String, OffsetDateTime);

fn member(row: MemberRow) -> Result<Member, StoreError> {
    Ok(Member {
        user_id: row.0,
        email: row.1,
        display_name: row.2,
        role: Role::parse(&row.3).map_err(|_| StoreError::Corrupt(format!("role `{}`", row.3)))?,
        joined_at: row.4,
    })
}

const MEMBER_SELECT: &str = "SELECT u.id, u.email, u.display_name, m.role, m.created_at \
     FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1";

pub async fn role_of(
    db: &Db,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Role>, StoreError> {
    let role = on_pool!(db, pool => sqlx::query_scalar::<_, String>(
        "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
    role.map(|r| Role::parse(&r).map_err(|_| StoreError::Corrupt(format!("role `{r}`"))))
        .transpose()
}

/// The members of a workspace, oldest first.
pub async fn list(db: &Db, workspace_id: Uuid) -> Result<Vec<Member>, StoreError> {
    let sql = format!("{MEMBER_SELECT} ORDER BY m.created_at, u.id");
    let rows = on_pool!(db, pool => sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(member).collect()
}

pub async fn get(db: &Db, workspace_id: Uuid, user_id: Uuid) -> Result<Option<Member>, StoreError> {
    let sql = format!("{MEMBER_SELECT} AND m.user_id = $2");
    let row = on_pool!(db, pool => sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
    row.map(member).transpose()
}

/// The workspaces a user belongs to, with the role in each, oldest membership first.
pub async fn workspaces_of(db: &Db, user_id: Uuid) -> Result<Vec<(Workspace, Role)>, StoreError> {
    let rows = on_pool!(db, pool => sqlx::query_as::<_, (Uuid, String, OffsetDateTime, String)>(
        "SELECT w.id, w.name, w.created_at, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
         WHERE m.user_id = $1 AND w.id <> $2 ORDER BY m.created_at, w.id")
        .bind(user_id)
        .bind(SYSTEM)
        .fetch_all(pool)
        .await)?;
    rows.into_iter()
        .map(|(id, name, created_at, role)| {
            let role =
                Role::parse(&role).map_err(|_| StoreError::Corrupt(format!("role `{role}`")))?;
            Ok((
                Workspace {
                    id,
                    name,
                    created_at,
                },
                role,
            ))
        })
        .collect()
}

/// Add `user_id` to a workspace. Conflict when already a member.
pub async fn add(
    db: &Db,
    workspace_id: Uuid,
    user_id: Uuid,
    role: Role,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
        .bind(workspace_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|_| ()))
    .map_err(|e| super::conflict_on_unique(e, "already a member of this workspace"))?;
    Ok(())
}

/// What a role change or removal did to the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Changed {
    pub previous: Role,
}

/// Give a member another role. NotFound when not a member; Conflict when it would leave the
/// workspace without an owner.
pub async fn set_role(
    db: &Db,
    workspace_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<Changed, StoreError> {
    change(db, workspace_id, user_id, Some(role)).await
}

/// Remove a member (NotFound, or Conflict for the last owner, as for [`set_role`]).
pub async fn remove(db: &Db, workspace_id: Uuid, user_id: Uuid) -> Result<Changed, StoreError> {
    change(db, workspace_id, user_id, None).await
}

async fn change(
    db: &Db,
    workspace_id: Uuid,
    user_id: Uuid,
    new_role: Option<Role>,
) -> Result<Changed, StoreError> {
    let outcome: Result<Result<Changed, StoreError>, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE workspaces SET name = name WHERE id = $1")
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?;
        let previous = sqlx::query_scalar::<_, String>(
            "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(workspace_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(previous) = previous else {
            return Ok(Err(StoreError::NotFound("member")));
        };
        let previous = match Role::parse(&previous) {
            Ok(r) => r,
            Err(_) => return Ok(Err(StoreError::Corrupt(format!("role `{previous}`")))),
        };
        match new_role {
            Some(role) => sqlx::query("UPDATE memberships SET role = $3 WHERE workspace_id = $1 AND user_id = $2")
                .bind(workspace_id)
                .bind(user_id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?,
            None => sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
                .bind(workspace_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?,
        };
        let owners = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'")
            .bind(workspace_id)
            .fetch_one(&mut *tx)
            .await?;
        if owners == 0 {
            tx.rollback().await?;
            return Ok(Err(StoreError::Conflict("a workspace must keep at least one owner")));
        }
        tx.commit().await?;
        Ok(Ok(Changed { previous }))
    }
    .await);
    outcome?
}
