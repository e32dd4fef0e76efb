//! Agents' public keys. An agent has one or more active keys (more during a rotation); revoked
//! keys stay listed, and revoking a key deletes the access tokens it got.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::people::conflict_on_unique;
use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentKey {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub alg: String,
    pub thumbprint: String,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
);

const COLUMNS: &str =
    "id, agent_id, kid, alg, thumbprint, public_jwk, created_at, last_used_at, revoked_at";

fn from_row(r: Row) -> AgentKey {
    AgentKey {
        id: r.0,
        agent_id: r.1,
        kid: r.2,
        alg: r.3,
        thumbprint: r.4,
        public_jwk: r.5,
        created_at: r.6,
        last_used_at: r.7,
        revoked_at: r.8,
    }
}

/// A key to add.
#[derive(Clone, Copy, Debug)]
pub struct NewKey<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub thumbprint: &'a str,
    pub public_jwk: &'a str,
}

pub(crate) const INSERT_KEY: &str = "INSERT INTO agent_keys (id, agent_id, kid, alg, thumbprint, public_jwk, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const KID_TAKEN: &str = "the agent already has an active key with this kid";

/// Every key of the agent, newest first.
pub async fn list(db: &Db, agent_id: Uuid) -> Result<Vec<AgentKey>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM agent_keys WHERE agent_id = $1 ORDER BY created_at DESC, id DESC"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(agent_id)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The agent's keys that are not revoked.
pub async fn active(db: &Db, agent_id: Uuid) -> Result<Vec<AgentKey>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM agent_keys WHERE agent_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(agent_id)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The agent (any workspace) with its active keys, in one query: what an assertion check needs.
pub async fn agent_with_active_keys(
    db: &Db,
    agent_id: Uuid,
) -> Result<Option<(super::Agent, Vec<AgentKey>)>, StoreError> {
    let rows = on_pool!(db, pool => sqlx::query_as::<_, (
        Uuid, Uuid, String, String, Option<Uuid>, String, OffsetDateTime, Option<OffsetDateTime>,
        Option<Uuid>, Option<String>, Option<String>, Option<String>, Option<String>,
        Option<OffsetDateTime>, Option<OffsetDateTime>,
    )>(
        "SELECT a.id, a.workspace_id, a.name, a.description, a.owner_id, a.status, a.created_at, a.last_seen_at, \
                k.id, k.kid, k.alg, k.thumbprint, k.public_jwk, k.created_at, k.last_used_at \
         FROM agents a LEFT JOIN agent_keys k ON k.agent_id = a.id AND k.revoked_at IS NULL \
         WHERE a.id = $1 ORDER BY k.created_at DESC")
        .bind(agent_id)
        .fetch_all(pool)
        .await)?;
    let mut agent = None;
    let mut keys = Vec::new();
    for r in rows {
        if agent.is_none() {
            agent = Some(super::from_row((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7))?);
        }
        // LEFT JOIN: a pending agent comes back with NULL key columns.
        if let (
            Some(id),
            Some(kid),
            Some(alg),
            Some(thumbprint),
            Some(public_jwk),
            Some(created_at),
        ) = (r.8, r.9, r.10, r.11, r.12, r.13)
        {
            keys.push(AgentKey {
                id,
                agent_id,
                kid,
                alg,
                thumbprint,
                public_jwk,
                created_at,
                last_used_at: r.14,
                revoked_at: None,
            });
        }
    }
    Ok(agent.map(|a| (a, keys)))
}

/// Add a key to an enrolled agent (a rotation); Conflict when an active key has its kid.
pub async fn add(
    db: &Db,
    agent_id: Uuid,
    key: NewKey<'_>,
    now: OffsetDateTime,
) -> Result<AgentKey, StoreError> {
    let row = AgentKey {
        id: Uuid::now_v7(),
        agent_id,
        kid: key.kid.to_string(),
        alg: key.alg.to_string(),
        thumbprint: key.thumbprint.to_string(),
        public_jwk: key.public_jwk.to_string(),
        created_at: to_db_precision(now),
        last_used_at: None,
        revoked_at: None,
    };
    let result = on_pool!(db, pool => sqlx::query(INSERT_KEY)
        .bind(row.id)
        .bind(row.agent_id)
        .bind(&row.kid)
        .bind(&row.alg)
        .bind(&row.thumbprint)
        .bind(&row.public_jwk)
        .bind(row.created_at)
        .execute(pool)
        .await
        .map(|_| ()));
    result.map_err(|e| conflict_on_unique(e, KID_TAKEN))?;
    Ok(row)
}

/// Revoke one of the agent's active keys (by kid) and delete the tokens it got, in one
/// transaction. NotFound when the agent has no active key with this kid.
pub async fn revoke(
    db: &Db,
    agent_id: Uuid,
    kid: &str,
    now: OffsetDateTime,
) -> Result<AgentKey, StoreError> {
    let now = to_db_precision(now);
    let sql = format!(
        "UPDATE agent_keys SET revoked_at = $3 WHERE agent_id = $1 AND kid = $2 AND revoked_at IS NULL RETURNING {COLUMNS}"
    );
    let revoked: Result<Option<Row>, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let row = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(agent_id)
            .bind(kid)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = &row {
            sqlx::query("DELETE FROM agent_tokens WHERE key_id = $1")
                .bind(row.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(row)
    }.await);
    revoked?
        .map(from_row)
        .ok_or(StoreError::NotFound("active key"))
}
