//! Agents: software acting for a workspace. The agent rows themselves ([`Agent`]), their public
//! [`keys`], single-use [`bootstrap`] secrets that enroll the first key, and the [`tokens`]
//! (access tokens and used assertion ids). Rows only: the server checks assertions and hashes
//! tokens.

pub mod bootstrap;
pub mod keys;
pub mod tokens;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::people::conflict_on_unique;
use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    /// Created; no key enrolled yet.
    Pending,
    Active,
    /// Refused everywhere until enabled again.
    Disabled,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Pending => "pending",
            AgentStatus::Active => "active",
            AgentStatus::Disabled => "disabled",
        }
    }

    pub fn parse(text: &str) -> Result<AgentStatus, StoreError> {
        match text {
            "pending" => Ok(AgentStatus::Pending),
            "active" => Ok(AgentStatus::Active),
            "disabled" => Ok(AgentStatus::Disabled),
            other => Err(StoreError::Corrupt(format!("agent status `{other}`"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub description: String,
    pub owner_id: Option<Uuid>,
    pub status: AgentStatus,
    pub created_at: OffsetDateTime,
    pub last_seen_at: Option<OffsetDateTime>,
}

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    Option<Uuid>,
    String,
    OffsetDateTime,
    Option<OffsetDateTime>,
);

const COLUMNS: &str =
    "id, workspace_id, name, description, owner_id, status, created_at, last_seen_at";

fn from_row(r: Row) -> Result<Agent, StoreError> {
    Ok(Agent {
        id: r.0,
        workspace_id: r.1,
        name: r.2,
        description: r.3,
        owner_id: r.4,
        status: AgentStatus::parse(&r.5)?,
        created_at: r.6,
        last_seen_at: r.7,
    })
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

pub fn validate_description(description: &str) -> Result<String, StoreError> {
    let description = description.trim();
    if description.chars().count() > 1000
        || description
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(StoreError::Invalid {
            field: "description",
            reason: "must be at most 1000 characters without control characters".into(),
        });
    }
    Ok(description.to_string())
}

pub struct NewAgent<'a> {
    pub workspace_id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
    pub owner_id: Uuid,
    pub now: OffsetDateTime,
}

const NAME_TAKEN: &str = "an agent with this name exists in this workspace";

/// A new agent (pending) with its first bootstrap secret, in one transaction.
pub async fn create(
    db: &Db,
    new: NewAgent<'_>,
    secret: bootstrap::NewSecret<'_>,
) -> Result<Agent, StoreError> {
    let agent = Agent {
        id: Uuid::now_v7(),
        workspace_id: new.workspace_id,
        name: validate_name(new.name)?,
        description: validate_description(new.description)?,
        owner_id: Some(new.owner_id),
        status: AgentStatus::Pending,
        created_at: to_db_precision(new.now),
        last_seen_at: None,
    };
    let outcome: Result<Result<(), StoreError>, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        if let Err(e) = sqlx::query(
            "INSERT INTO agents (id, workspace_id, name, description, owner_id, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(agent.id)
            .bind(agent.workspace_id)
            .bind(&agent.name)
            .bind(&agent.description)
            .bind(agent.owner_id)
            .bind(agent.status.as_str())
            .bind(agent.created_at)
            .execute(&mut *tx)
            .await
        {
            return Ok(Err(conflict_on_unique(e, NAME_TAKEN)));
        }
        sqlx::query(bootstrap::INSERT_SECRET)
            .bind(secret.token_hash.as_slice())
            .bind(agent.id)
            .bind(secret.created_by)
            .bind(agent.created_at)
            .bind(to_db_precision(secret.expires_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }.await);
    outcome??;
    Ok(agent)
}

/// One agent of this workspace.
pub async fn get(db: &Db, workspace_id: Uuid, id: Uuid) -> Result<Option<Agent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM agents WHERE id = $1 AND workspace_id = $2");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

/// An agent by id alone: for its own authentication, before the workspace is known.
pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<Agent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM agents WHERE id = $1");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

/// The workspace's agents, by name.
pub async fn list(db: &Db, workspace_id: Uuid) -> Result<Vec<Agent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM agents WHERE workspace_id = $1 ORDER BY name, id");
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(from_row).collect()
}

/// What an update may change; `None` keeps the value.
#[derive(Default)]
pub struct AgentChanges<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    /// Only `true` (active, or pending when no key is enrolled) or `false` (disabled).
    pub enabled: Option<bool>,
}

/// Apply `changes`; the agent after them.
pub async fn update(
    db: &Db,
    workspace_id: Uuid,
    id: Uuid,
    changes: AgentChanges<'_>,
) -> Result<Agent, StoreError> {
    let name = changes.name.map(validate_name).transpose()?;
    let description = changes.description.map(validate_description).transpose()?;
    let outcome: Result<Result<(), StoreError>, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        if let Some(name) = &name
            && let Err(e) = sqlx::query("UPDATE agents SET name = $3 WHERE id = $1 AND workspace_id = $2")
                .bind(id)
                .bind(workspace_id)
                .bind(name)
                .execute(&mut *tx)
                .await
        {
            return Ok(Err(conflict_on_unique(e, NAME_TAKEN)));
        }
        if let Some(description) = &description {
            sqlx::query("UPDATE agents SET description = $3 WHERE id = $1 AND workspace_id = $2")
                .bind(id)
                .bind(workspace_id)
                .bind(description)
                .execute(&mut *tx)
                .await?;
        }
        match changes.enabled {
            Some(false) => {
                sqlx::query("UPDATE agents SET status = 'disabled' WHERE id = $1 AND workspace_id = $2")
                    .bind(id)
                    .bind(workspace_id)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(true) => {
                // Back to active when it has a key, else to pending.
                sqlx::query(
                    "UPDATE agents SET status = CASE WHEN EXISTS \
                     (SELECT 1 FROM agent_keys WHERE agent_id = $1 AND revoked_at IS NULL) \
                     THEN 'active' ELSE 'pending' END \
                     WHERE id = $1 AND workspace_id = $2 AND status = 'disabled'")
                    .bind(id)
                    .bind(workspace_id)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {}
        }
        tx.commit().await?;
        Ok(Ok(()))
    }.await);
    outcome??;
    get(db, workspace_id, id)
        .await?
        .ok_or(StoreError::NotFound("agent"))
}

/// Delete an agent with its keys, secrets and tokens. NotFound when it is not in this workspace.
pub async fn delete(db: &Db, workspace_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM agents WHERE id = $1 AND workspace_id = $2")
        .bind(id)
        .bind(workspace_id)
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound("agent"));
    }
    Ok(())
}

/// `$1` agent, `$2` now, `$3` a minute before: last seen, written at most once a minute.
pub(super) const TOUCH: &str = "UPDATE agents SET last_seen_at = $2 WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $3)";

/// Record that the agent was seen, at most once a minute.
pub async fn touch(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
    let now = to_db_precision(now);
    on_pool!(db, pool => sqlx::query(TOUCH)
        .bind(id)
        .bind(now)
        .bind(now - time::Duration::minutes(1))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}
