//! Invitations: an admin invites an email address with a role; the link carries a single-use
//! token (its hash stored) that expires. Accepting is one transaction: the invite is claimed by
//! a compare-and-set, so a link works once even when used twice at the same moment.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::people::setup::insert_user;
use crate::people::users::{NewUser, User};
use crate::people::{Role, conflict_on_unique};
use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub email: String,
    pub role: Role,
    pub created_by: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub accepted_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    Option<Uuid>,
    OffsetDateTime,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
);

fn from_row(r: Row) -> Result<Invite, StoreError> {
    Ok(Invite {
        id: r.0,
        workspace_id: r.1,
        email: r.2,
        role: Role::parse(&r.3).map_err(|_| StoreError::Corrupt(format!("role `{}`", r.3)))?,
        created_by: r.4,
        created_at: r.5,
        expires_at: r.6,
        accepted_at: r.7,
        revoked_at: r.8,
    })
}

const COLUMNS: &str =
    "id, workspace_id, email, role, created_by, created_at, expires_at, accepted_at, revoked_at";

pub struct NewInvite<'a> {
    pub workspace_id: Uuid,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a [u8; 32],
    pub created_by: Uuid,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

pub async fn create(db: &Db, new: NewInvite<'_>) -> Result<Invite, StoreError> {
    let invite = Invite {
        id: Uuid::now_v7(),
        workspace_id: new.workspace_id,
        email: super::users::normalize_email(new.email)?,
        role: new.role,
        created_by: Some(new.created_by),
        created_at: to_db_precision(new.now),
        expires_at: to_db_precision(new.expires_at),
        accepted_at: None,
        revoked_at: None,
    };
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO invites (id, workspace_id, email, role, token_hash, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(invite.id)
        .bind(invite.workspace_id)
        .bind(&invite.email)
        .bind(invite.role.as_str())
        .bind(new.token_hash.as_slice())
        .bind(invite.created_by)
        .bind(invite.created_at)
        .bind(invite.expires_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(invite)
}

/// Invites of a workspace not yet accepted, revoked or expired, newest first.
pub async fn pending(
    db: &Db,
    workspace_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<Invite>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invites WHERE workspace_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL \
         AND expires_at > $2 ORDER BY created_at DESC, id DESC"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .bind(to_db_precision(now))
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(from_row).collect()
}

pub async fn by_token_hash(db: &Db, hash: &[u8; 32]) -> Result<Option<Invite>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM invites WHERE token_hash = $1");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(hash.as_slice())
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

/// Revoke a pending invite of this workspace; NotFound for another workspace's or a used one.
pub async fn revoke(
    db: &Db,
    workspace_id: Uuid,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE invites SET revoked_at = $3 WHERE id = $1 AND workspace_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL")
        .bind(id)
        .bind(workspace_id)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound("invite"));
    }
    Ok(())
}

/// Who accepts: a new account, or an existing one (already authenticated by the caller).
pub enum Acceptor {
    New(NewUser),
    Existing(Uuid),
}

/// Claim the invite and make the member, in one transaction. Conflict when the invite was used,
/// revoked or expired meanwhile, or the person is already a member.
pub async fn accept(
    db: &Db,
    invite: &Invite,
    acceptor: Acceptor,
    now: OffsetDateTime,
) -> Result<Uuid, StoreError> {
    let now = to_db_precision(now);
    let (new_user, user_id): (Option<User>, Uuid) = match acceptor {
        Acceptor::New(new) => {
            let user = new.into_user(now);
            let id = user.id;
            (Some(user), id)
        }
        Acceptor::Existing(id) => (None, id),
    };
    let outcome: Result<Result<(), StoreError>, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE invites SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2")
            .bind(invite.id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed != 1 {
            return Ok(Err(StoreError::Conflict("this invitation was used, revoked or has expired")));
        }
        if let Some(user) = &new_user
            && let Err(e) = insert_user!(&mut *tx, user)
        {
            return Ok(Err(conflict_on_unique(e, "an account with this email exists; sign in to accept")));
        }
        sqlx::query("UPDATE invites SET accepted_by = $2 WHERE id = $1")
            .bind(invite.id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if let Err(e) = sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(invite.workspace_id)
            .bind(user_id)
            .bind(invite.role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
        {
            return Ok(Err(conflict_on_unique(e, "already a member of this workspace")));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }
    .await);
    outcome??;
    Ok(user_id)
}
