//! Connection rows. The credential arrives here already sealed by the vault, bound to the row id
//! (which the caller chooses for that reason); rows never hold it in the clear. Revoking deletes
//! the ciphertext and keeps the row (what it was, who made it) for the record.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

/// The stored state. `expiring` is not stored: it is derived when a connection is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    Active,
    /// The provider refused the refresh token (`invalid_grant`): a person must consent again.
    NeedsReauth,
    Revoked,
    /// Refreshing failed for another reason (provider down, app deleted); retried on next use.
    Error,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Active => "active",
            ConnectionState::NeedsReauth => "needs_reauth",
            ConnectionState::Revoked => "revoked",
            ConnectionState::Error => "error",
        }
    }

    fn parse(s: &str) -> Result<ConnectionState, StoreError> {
        Ok(match s {
            "active" => ConnectionState::Active,
            "needs_reauth" => ConnectionState::NeedsReauth,
            "revoked" => ConnectionState::Revoked,
            "error" => ConnectionState::Error,
            other => return Err(StoreError::Corrupt(format!("connections.state `{other}`"))),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub workspace_id: Uuid,
    pub provider: String,
    pub service: Option<String>,
    pub label: String,
    pub oauth_app_id: Option<String>,
    pub state: ConnectionState,
    pub scopes: Vec<String>,
    /// Generic providers: the hosts the credential may be sent to.
    pub api_hosts: Vec<String>,
    /// The sealed credential; None once revoked.
    pub sealed_credential: Option<String>,
    pub has_refresh_token: bool,
    pub access_expires_at: Option<OffsetDateTime>,
    pub last_refreshed_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A row as read (17 columns: past the tuple sizes sqlx decodes).
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: String,
    workspace_id: Uuid,
    provider: String,
    service: Option<String>,
    label: String,
    oauth_app_id: Option<String>,
    state: String,
    scopes: String,
    api_hosts: String,
    credential: Option<String>,
    has_refresh_token: bool,
    access_expires_at: Option<OffsetDateTime>,
    last_refreshed_at: Option<OffsetDateTime>,
    last_error: Option<String>,
    created_by: Option<Uuid>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

pub(crate) const COLUMNS: &str = "id, workspace_id, provider, service, label, oauth_app_id, state, scopes, api_hosts, credential, has_refresh_token, access_expires_at, last_refreshed_at, last_error, created_by, created_at, updated_at";

fn json_list(text: &str, field: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("connections.{field}")))
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn from_row(r: Row) -> Result<Connection, StoreError> {
    Ok(Connection {
        state: ConnectionState::parse(&r.state)?,
        scopes: json_list(&r.scopes, "scopes")?,
        api_hosts: json_list(&r.api_hosts, "api_hosts")?,
        id: r.id,
        workspace_id: r.workspace_id,
        provider: r.provider,
        service: r.service,
        label: r.label,
        oauth_app_id: r.oauth_app_id,
        sealed_credential: r.credential,
        has_refresh_token: r.has_refresh_token,
        access_expires_at: r.access_expires_at,
        last_refreshed_at: r.last_refreshed_at,
        last_error: r.last_error,
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

pub fn validate_label(label: &str) -> Result<String, StoreError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            field: "label",
            reason: "must be 1 to 100 characters without control characters".into(),
        });
    }
    Ok(label.to_string())
}

/// Insert `c` (its id chosen by the caller, who sealed the credential for it).
pub async fn create(db: &Db, c: &Connection) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO connections (id, workspace_id, provider, service, label, oauth_app_id, state, scopes, api_hosts, credential, has_refresh_token, access_expires_at, last_refreshed_at, last_error, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)")
        .bind(&c.id)
        .bind(c.workspace_id)
        .bind(&c.provider)
        .bind(&c.service)
        .bind(&c.label)
        .bind(&c.oauth_app_id)
        .bind(c.state.as_str())
        .bind(to_json(&c.scopes))
        .bind(to_json(&c.api_hosts))
        .bind(&c.sealed_credential)
        .bind(c.has_refresh_token)
        .bind(c.access_expires_at.map(to_db_precision))
        .bind(c.last_refreshed_at.map(to_db_precision))
        .bind(&c.last_error)
        .bind(c.created_by)
        .bind(to_db_precision(c.created_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn get(db: &Db, workspace_id: Uuid, id: &str) -> Result<Option<Connection>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM connections WHERE id = $1 AND workspace_id = $2");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

/// Every connection of the workspace, newest first.
pub async fn list(db: &Db, workspace_id: Uuid) -> Result<Vec<Connection>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 ORDER BY created_at DESC, id"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(from_row).collect()
}

/// The connections an agent has a policy for.
pub async fn list_for_agent(db: &Db, agent_id: Uuid) -> Result<Vec<Connection>, StoreError> {
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM connections c JOIN policies p ON p.connection_id = c.id \
         WHERE p.agent_id = $1 AND p.workspace_id = c.workspace_id ORDER BY c.created_at DESC, c.id"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(agent_id)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(from_row).collect()
}

/// A new credential for an existing connection (re-consent): state back to active.
pub struct Reconnected<'a> {
    pub sealed_credential: &'a str,
    pub has_refresh_token: bool,
    pub access_expires_at: Option<OffsetDateTime>,
    pub scopes: &'a [String],
    pub oauth_app_id: &'a str,
}

pub async fn reconnect(
    db: &Db,
    workspace_id: Uuid,
    id: &str,
    new: Reconnected<'_>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = to_db_precision(now);
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE connections SET credential = $3, has_refresh_token = $4, access_expires_at = $5, scopes = $6, oauth_app_id = $7, \
         state = 'active', last_error = NULL, last_refreshed_at = $8, updated_at = $8 \
         WHERE id = $1 AND workspace_id = $2 AND state <> 'revoked'")
        .bind(id)
        .bind(workspace_id)
        .bind(new.sealed_credential)
        .bind(new.has_refresh_token)
        .bind(new.access_expires_at.map(to_db_precision))
        .bind(to_json(new.scopes))
        .bind(new.oauth_app_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound("connection"));
    }
    Ok(())
}

/// Revoke: delete the ciphertext, keep the row. Returns the row as it was (with its
/// credential, so the caller can revoke at the provider), or None when it was already revoked
/// (a concurrent revocation won).
pub async fn revoke(
    db: &Db,
    workspace_id: Uuid,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<Connection>, StoreError> {
    let now = to_db_precision(now);
    let outcome: Result<Result<Row, StoreError>, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        // The write first (SQLite takes its lock at once); it also tells whether there is one.
        let n = sqlx::query("UPDATE connections SET updated_at = updated_at WHERE id = $1 AND workspace_id = $2")
            .bind(id)
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(Err(StoreError::NotFound("connection")));
        }
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE id = $1");
        let row = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE connections SET state = 'revoked', credential = NULL, has_refresh_token = $2, access_expires_at = NULL, last_error = NULL, updated_at = $3 \
             WHERE id = $1")
            .bind(id)
            .bind(false)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(row))
    }.await);
    let before = from_row(outcome??)?;
    if before.state == ConnectionState::Revoked {
        return Ok(None);
    }
    Ok(Some(before))
}
