//! A workspace's notification channels. Settings that are not secret are a JSON object; the
//! secrets (signing secrets, Slack webhook URL, bot token, SMTP password) are one sealed
//! envelope the server opens only to send.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub workspace_id: Uuid,
    /// `webhook`, `slack`, `telegram` or `email`.
    pub kind: String,
    pub name: String,
    /// The event types sent to this channel.
    pub events: Vec<String>,
    pub enabled: bool,
    /// The settings that are not secret (a JSON object).
    pub settings: serde_json::Value,
    /// The sealed secrets (kind `notification_secret`, bound to the row).
    pub sealed_secret: String,
    pub created_by: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    workspace_id: Uuid,
    kind: String,
    name: String,
    events: String,
    enabled: bool,
    settings: String,
    secret: String,
    created_by: Option<Uuid>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, workspace_id, kind, name, events, enabled, settings, secret, created_by, created_at, updated_at";

fn from_row(r: Row) -> Result<Channel, StoreError> {
    let corrupt = |what: &str, e: serde_json::Error| {
        StoreError::Corrupt(format!("notification_channels.{what}: {e}"))
    };
    Ok(Channel {
        events: serde_json::from_str(&r.events).map_err(|e| corrupt("events", e))?,
        settings: serde_json::from_str(&r.settings).map_err(|e| corrupt("settings", e))?,
        id: r.id,
        workspace_id: r.workspace_id,
        kind: r.kind,
        name: r.name,
        enabled: r.enabled,
        sealed_secret: r.secret,
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn json_text(v: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub async fn create(db: &Db, c: &Channel) -> Result<(), StoreError> {
    let (events, settings) = (json_text(&c.events)?, json_text(&c.settings)?);
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO notification_channels (id, workspace_id, kind, name, events, enabled, settings, secret, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(&c.id)
        .bind(c.workspace_id)
        .bind(&c.kind)
        .bind(&c.name)
        .bind(&events)
        .bind(c.enabled)
        .bind(&settings)
        .bind(&c.sealed_secret)
        .bind(c.created_by)
        .bind(to_db_precision(c.created_at))
        .bind(to_db_precision(c.updated_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Replace what can change (name, events, enabled, settings, secret); false when it is gone.
pub async fn update(db: &Db, c: &Channel) -> Result<bool, StoreError> {
    let (events, settings) = (json_text(&c.events)?, json_text(&c.settings)?);
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE notification_channels SET name = $1, events = $2, enabled = $3, settings = $4, secret = $5, updated_at = $6 \
         WHERE id = $7 AND workspace_id = $8")
        .bind(&c.name)
        .bind(&events)
        .bind(c.enabled)
        .bind(&settings)
        .bind(&c.sealed_secret)
        .bind(to_db_precision(c.updated_at))
        .bind(&c.id)
        .bind(c.workspace_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

pub async fn get(db: &Db, workspace_id: Uuid, id: &str) -> Result<Option<Channel>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM notification_channels WHERE id = $1 AND workspace_id = $2");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

/// Every channel of the workspace, oldest first.
pub async fn list(db: &Db, workspace_id: Uuid) -> Result<Vec<Channel>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notification_channels WHERE workspace_id = $1 ORDER BY created_at, id"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(from_row).collect()
}

pub async fn delete(db: &Db, workspace_id: Uuid, id: &str) -> Result<bool, StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "DELETE FROM notification_channels WHERE id = $1 AND workspace_id = $2")
        .bind(id)
        .bind(workspace_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
