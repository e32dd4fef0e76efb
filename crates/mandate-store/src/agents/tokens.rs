//! Agent access tokens (hashes) and the client assertion ids (`jti`) already used. An exchange
//! records the `jti` and the new token in one transaction: the `jti` primary key refuses a
//! replayed assertion on every replica.

use time::OffsetDateTime;
use uuid::Uuid;

use super::AgentStatus;
use crate::{Db, StoreError, on_pool, to_db_precision};

pub struct Exchange<'a> {
    pub agent_id: Uuid,
    pub key_id: Uuid,
    pub jti: &'a str,
    /// Until when the `jti` must be remembered.
    pub jti_expires_at: OffsetDateTime,
    pub token_hash: &'a [u8; 32],
    pub expires_at: OffsetDateTime,
    pub now: OffsetDateTime,
    /// Also record the use on the key and the agent (the caller asks at most once a minute:
    /// two fewer writes on the hot path).
    pub touch: bool,
    /// A rate-limit hit not yet counted for this request: counted here, before anything is
    /// written, and nothing is written when it is over the limit.
    pub hit: Option<Hit<'a>>,
}

/// A rate-limit hit to count with the exchange.
#[derive(Clone, Copy, Debug)]
pub struct Hit<'a> {
    pub bucket: &'a str,
    pub window: time::Duration,
    pub max: i64,
}

/// The assertion's `jti` was used before.
#[derive(Debug, PartialEq, Eq)]
pub struct Replayed;

/// What an exchange did.
#[derive(Debug, PartialEq, Eq)]
pub enum Exchanged {
    /// The `jti` is recorded and the token stored.
    Issued,
    /// The `jti` was used before; nothing written.
    Replayed,
    /// The agent is not active (disabled or deleted) or the key is revoked, as of this write:
    /// nothing written. The caller's view of the agent was stale.
    NotActive,
    /// The rate limit's window is full (the hit was counted); nothing else written.
    RateLimited { window_ends: OffsetDateTime },
}

/// The condition every write re-checks, whatever the caller read before: the agent (parameter
/// `agent`, e.g. `$1`) is active and the key (`key`) not revoked.
fn still_active(agent: &str, key: &str) -> String {
    format!(
        "SELECT 1 FROM agents a JOIN agent_keys k ON k.agent_id = a.id \
         WHERE a.id = {agent} AND a.status = 'active' AND k.id = {key} AND k.revoked_at IS NULL"
    )
}

/// Record the `jti` and store the token, if the agent is still active and the key not revoked.
pub async fn exchange(db: &Db, x: Exchange<'_>) -> Result<Exchanged, StoreError> {
    if let (Db::Postgres(pool), false) = (db, x.touch) {
        return exchange_in_one_statement(pool, &x).await;
    }
    if let Some(hit) = x.hit {
        let hits = crate::rate_limits::hit(db, hit.bucket, hit.window, x.now).await?;
        if hits.count > hit.max {
            return Ok(Exchanged::RateLimited {
                window_ends: hits.window_ends,
            });
        }
    }
    let now = to_db_precision(x.now);
    let a_minute_ago = now - time::Duration::minutes(1);
    let token_sql = format!(
        "INSERT INTO agent_tokens (token_hash, agent_id, key_id, created_at, expires_at) \
         SELECT $4, $1, $5, $6, $7 WHERE EXISTS ({still_active})",
        still_active = still_active("$1", "$5"),
    );
    let outcome: Result<Exchanged, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let recorded = sqlx::query(
            "INSERT INTO agent_assertion_jtis (agent_id, jti, expires_at) VALUES ($1, $2, $3)")
            .bind(x.agent_id)
            .bind(x.jti)
            .bind(to_db_precision(x.jti_expires_at))
            .execute(&mut *tx)
            .await;
        match recorded {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(Exchanged::Replayed),
            other => other?,
        };
        let stored = sqlx::query(sqlx::AssertSqlSafe(token_sql.as_str()))
            .bind(x.agent_id)
            .bind(x.jti)
            .bind(to_db_precision(x.jti_expires_at))
            .bind(x.token_hash.as_slice())
            .bind(x.key_id)
            .bind(now)
            .bind(to_db_precision(x.expires_at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if stored == 0 {
            // Dropping the transaction rolls the jti back.
            return Ok(Exchanged::NotActive);
        }
        if x.touch {
            sqlx::query(
                "UPDATE agent_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)")
                .bind(x.key_id)
                .bind(now)
                .bind(a_minute_ago)
                .execute(&mut *tx)
                .await?;
            sqlx::query(super::TOUCH)
                .bind(x.agent_id)
                .bind(now)
                .bind(a_minute_ago)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Exchanged::Issued)
    }.await);
    Ok(outcome?)
}

/// The hot path on PostgreSQL, one statement (one round trip instead of up to six: the rate-limit
/// hit, BEGIN, two INSERTs, COMMIT; measured in BENCHMARKS.md): count the hit, then, if under the
/// limit and the agent and key are still active, record the `jti` (a replay inserts nothing) and
/// store the token. SQLite cannot put an INSERT in a CTE, and its transaction is in process.
async fn exchange_in_one_statement(
    pool: &sqlx::PgPool,
    x: &Exchange<'_>,
) -> Result<Exchanged, StoreError> {
    let (bucket, window_start, window_ends, max) = match x.hit {
        Some(hit) => {
            let (start, ends) = crate::rate_limits::window_of(hit.window, x.now)?;
            (Some(hit.bucket), start, ends, hit.max)
        }
        None => (None, x.now, x.now, i64::MAX),
    };
    // Without a hit to count, `hit` is one row of 0 (`$1` is NULL: the INSERT is skipped).
    let sql = format!(
        "WITH counted AS ({hit_sql}), \
         hit AS (SELECT hits FROM counted UNION ALL SELECT 0 WHERE $1::text IS NULL), \
         active AS ({still_active} AND (SELECT hits FROM hit) <= $10), \
         used AS (INSERT INTO agent_assertion_jtis (agent_id, jti, expires_at) SELECT $3, $4, $5 FROM active \
                  ON CONFLICT DO NOTHING RETURNING agent_id), \
         issued AS (INSERT INTO agent_tokens (token_hash, agent_id, key_id, created_at, expires_at) \
                    SELECT $6, agent_id, $7, $8, $9 FROM used RETURNING 1) \
         SELECT (SELECT hits FROM hit)::bigint, (SELECT COUNT(*) FROM active), (SELECT COUNT(*) FROM issued)",
        hit_sql = "INSERT INTO rate_limit_windows (bucket, window_start, hits) SELECT $1, $2, 1 WHERE $1::text IS NOT NULL \
                   ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_windows.hits + 1 RETURNING hits",
        still_active = still_active("$3", "$7"),
    );
    let (hits, active, issued): (i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(bucket)
        .bind(to_db_precision(window_start))
        .bind(x.agent_id)
        .bind(x.jti)
        .bind(to_db_precision(x.jti_expires_at))
        .bind(x.token_hash.as_slice())
        .bind(x.key_id)
        .bind(to_db_precision(x.now))
        .bind(to_db_precision(x.expires_at))
        .bind(max)
        .fetch_one(pool)
        .await?;
    Ok(if hits > max {
        Exchanged::RateLimited { window_ends }
    } else if issued == 1 {
        Exchanged::Issued
    } else if active == 1 {
        Exchanged::Replayed
    } else {
        Exchanged::NotActive
    })
}

/// Record a `jti` alone (an assertion that adds a key rather than getting a token).
pub async fn record_jti(
    db: &Db,
    agent_id: Uuid,
    jti: &str,
    expires_at: OffsetDateTime,
) -> Result<Result<(), Replayed>, StoreError> {
    let recorded = on_pool!(db, pool => sqlx::query(
        "INSERT INTO agent_assertion_jtis (agent_id, jti, expires_at) VALUES ($1, $2, $3)")
        .bind(agent_id)
        .bind(jti)
        .bind(to_db_precision(expires_at))
        .execute(pool)
        .await
        .map(|_| ()));
    match recorded {
        Ok(()) => Ok(Ok(())),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Err(Replayed)),
        Err(e) => Err(e.into()),
    }
}

/// What a presented access token stands for, read with its agent and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenOwner {
    pub agent_id: Uuid,
    pub workspace_id: Uuid,
    pub agent_status: AgentStatus,
    /// The kid of the key whose assertion got the token.
    pub kid: String,
    pub key_revoked: bool,
    pub expires_at: OffsetDateTime,
    pub last_seen_at: Option<OffsetDateTime>,
}

pub async fn by_token_hash(db: &Db, hash: &[u8; 32]) -> Result<Option<TokenOwner>, StoreError> {
    type Row = (
        Uuid,
        Uuid,
        String,
        String,
        Option<OffsetDateTime>,
        OffsetDateTime,
        Option<OffsetDateTime>,
    );
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(
        "SELECT t.agent_id, a.workspace_id, a.status, k.kid, k.revoked_at, t.expires_at, a.last_seen_at \
         FROM agent_tokens t JOIN agents a ON a.id = t.agent_id JOIN agent_keys k ON k.id = t.key_id \
         WHERE t.token_hash = $1")
        .bind(hash.as_slice())
        .fetch_optional(pool)
        .await)?;
    row.map(|r| {
        Ok(TokenOwner {
            agent_id: r.0,
            workspace_id: r.1,
            agent_status: AgentStatus::parse(&r.2)?,
            kid: r.3,
            key_revoked: r.4.is_some(),
            expires_at: r.5,
            last_seen_at: r.6,
        })
    })
    .transpose()
}

/// Forget expired tokens and `jti`s past their replay window.
pub async fn delete_expired(db: &Db, now: OffsetDateTime) -> Result<u64, StoreError> {
    let now = to_db_precision(now);
    let tokens = on_pool!(db, pool => sqlx::query("DELETE FROM agent_tokens WHERE expires_at < $1")
        .bind(now)
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    let jtis = on_pool!(db, pool => sqlx::query("DELETE FROM agent_assertion_jtis WHERE expires_at < $1")
        .bind(now)
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(tokens + jtis)
}

/// How many `jti`s are remembered (for tests and health).
pub async fn count_jtis(db: &Db) -> Result<i64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM agent_assertion_jtis")
        .fetch_one(pool)
        .await)?;
    Ok(n)
}
