//! Bootstrap secrets: single-use and short-lived, they let an agent enroll its first key (or
//! replace its keys). Stored as hashes; consumed by one conditional UPDATE, so two replicas
//! receiving the same secret at once cannot both succeed.

use time::OffsetDateTime;
use uuid::Uuid;

use super::keys::{INSERT_KEY, KID_TAKEN, NewKey};
use super::{Agent, AgentStatus};
use crate::people::conflict_on_unique;
use crate::{Db, StoreError, on_pool, to_db_precision};

pub struct NewSecret<'a> {
    pub token_hash: &'a [u8; 32],
    pub created_by: Uuid,
    pub expires_at: OffsetDateTime,
}

pub(crate) const INSERT_SECRET: &str = "INSERT INTO agent_bootstrap_secrets (token_hash, agent_id, created_by, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5)";

/// A new bootstrap secret for an agent of this workspace; earlier unused ones stop working.
pub async fn issue(
    db: &Db,
    workspace_id: Uuid,
    agent_id: Uuid,
    secret: NewSecret<'_>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = to_db_precision(now);
    let outcome: Result<Result<(), StoreError>, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        // A write first, so SQLite takes its write lock at once (a read first could not be
        // upgraded while the audit writer commits); it also says whether the agent is here.
        let exists = sqlx::query("UPDATE agents SET status = status WHERE id = $1 AND workspace_id = $2")
            .bind(agent_id)
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if exists == 0 {
            return Ok(Err(StoreError::NotFound("agent")));
        }
        sqlx::query("DELETE FROM agent_bootstrap_secrets WHERE agent_id = $1 AND used_at IS NULL")
            .bind(agent_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(INSERT_SECRET)
            .bind(secret.token_hash.as_slice())
            .bind(agent_id)
            .bind(secret.created_by)
            .bind(now)
            .bind(to_db_precision(secret.expires_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }.await);
    outcome?
}

/// Why an enrollment did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum EnrollRefused {
    /// Unknown, already used or expired: one answer for all three.
    InvalidSecret,
    /// The agent is disabled (the secret is not consumed).
    Disabled,
}

/// Consume the secret and make `key` the agent's only active key, in one transaction: earlier
/// keys are revoked and their tokens deleted, and a pending agent becomes active.
pub async fn enroll(
    db: &Db,
    token_hash: &[u8; 32],
    key: NewKey<'_>,
    now: OffsetDateTime,
) -> Result<Result<Agent, EnrollRefused>, StoreError> {
    let now = to_db_precision(now);
    let key_id = Uuid::now_v7();
    let outcome: Result<Result<Result<Uuid, EnrollRefused>, StoreError>, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        // The claim comes first (it takes the write lock on SQLite): only one transaction
        // sees used_at unset. A refusal below rolls it back.
        let claimed = sqlx::query_scalar::<_, Uuid>(
            "UPDATE agent_bootstrap_secrets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING agent_id")
            .bind(token_hash.as_slice())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(agent_id) = claimed else {
            return Ok(Ok(Err(EnrollRefused::InvalidSecret)));
        };
        let status = sqlx::query_scalar::<_, String>("SELECT status FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_one(&mut *tx)
            .await?;
        if status == AgentStatus::Disabled.as_str() {
            return Ok(Ok(Err(EnrollRefused::Disabled)));
        }
        sqlx::query("UPDATE agent_keys SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL")
            .bind(agent_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM agent_tokens WHERE agent_id = $1")
            .bind(agent_id)
            .execute(&mut *tx)
            .await?;
        if let Err(e) = sqlx::query(INSERT_KEY)
            .bind(key_id)
            .bind(agent_id)
            .bind(key.kid)
            .bind(key.alg)
            .bind(key.thumbprint)
            .bind(key.public_jwk)
            .bind(now)
            .execute(&mut *tx)
            .await
        {
            return Ok(Err(conflict_on_unique(e, KID_TAKEN)));
        }
        sqlx::query("UPDATE agents SET status = 'active', last_seen_at = $2 WHERE id = $1")
            .bind(agent_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(Ok(agent_id)))
    }.await);
    let agent_id = match outcome?? {
        Ok(id) => id,
        Err(refused) => return Ok(Err(refused)),
    };
    let agent = super::by_id(db, agent_id)
        .await?
        .ok_or(StoreError::NotFound("agent"))?;
    Ok(Ok(agent))
}

/// When the agent's newest unused bootstrap secret expires, if it has one.
pub async fn pending_until(
    db: &Db,
    agent_id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let at = on_pool!(db, pool => sqlx::query_scalar::<_, OffsetDateTime>(
        "SELECT expires_at FROM agent_bootstrap_secrets WHERE agent_id = $1 AND used_at IS NULL AND expires_at > $2 \
         ORDER BY expires_at DESC LIMIT 1")
        .bind(agent_id)
        .bind(to_db_precision(now))
        .fetch_optional(pool)
        .await)?;
    Ok(at)
}

/// Forget secrets that expired or were used before `before`.
pub async fn delete_stale(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "DELETE FROM agent_bootstrap_secrets WHERE expires_at < $1 OR used_at < $1")
        .bind(to_db_precision(before))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n)
}
