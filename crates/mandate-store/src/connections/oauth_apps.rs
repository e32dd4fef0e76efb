//! OAuth apps: per workspace, the client registered at a provider. The client secret arrives
//! here already sealed by the vault (bound to the row id, which the caller chooses for that
//! reason); rows never hold it in the clear.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::people::conflict_on_unique;
use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthApp {
    pub id: String,
    pub workspace_id: Uuid,
    pub provider: String,
    pub name: String,
    pub client_id: String,
    /// The sealed envelope, if the client has a secret.
    pub sealed_client_secret: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
    /// Generic providers: the hosts the admin entered.
    pub api_hosts: Vec<String>,
    pub created_by: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

type Row = (
    String,
    Uuid,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<Uuid>,
    OffsetDateTime,
    OffsetDateTime,
);

const COLUMNS: &str = "id, workspace_id, provider, name, client_id, client_secret, authorize_url, token_url, revoke_url, api_hosts, created_by, created_at, updated_at";
const NAME_TAKEN: &str = "an OAuth app with this name exists in this workspace";

fn from_row(r: Row) -> Result<OAuthApp, StoreError> {
    Ok(OAuthApp {
        id: r.0,
        workspace_id: r.1,
        provider: r.2,
        name: r.3,
        client_id: r.4,
        sealed_client_secret: r.5,
        authorize_url: r.6,
        token_url: r.7,
        revoke_url: r.8,
        api_hosts: serde_json::from_str(&r.9)
            .map_err(|_| StoreError::Corrupt("oauth_apps.api_hosts".into()))?,
        created_by: r.10,
        created_at: r.11,
        updated_at: r.12,
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

pub fn validate_client_id(client_id: &str) -> Result<String, StoreError> {
    let client_id = client_id.trim();
    if client_id.is_empty() || client_id.len() > 500 || client_id.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            field: "clientId",
            reason: "must be 1 to 500 characters without control characters".into(),
        });
    }
    Ok(client_id.to_string())
}

/// Insert `app` (its id chosen by the caller, who sealed the secret for it).
pub async fn create(db: &Db, app: &OAuthApp) -> Result<(), StoreError> {
    let hosts = serde_json::to_string(&app.api_hosts).unwrap_or_else(|_| "[]".into());
    let result = on_pool!(db, pool => sqlx::query(
        "INSERT INTO oauth_apps (id, workspace_id, provider, name, client_id, client_secret, authorize_url, token_url, revoke_url, api_hosts, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)")
        .bind(&app.id)
        .bind(app.workspace_id)
        .bind(&app.provider)
        .bind(&app.name)
        .bind(&app.client_id)
        .bind(&app.sealed_client_secret)
        .bind(&app.authorize_url)
        .bind(&app.token_url)
        .bind(&app.revoke_url)
        .bind(&hosts)
        .bind(app.created_by)
        .bind(to_db_precision(app.created_at))
        .execute(pool)
        .await
        .map(|_| ()));
    result.map_err(|e| conflict_on_unique(e, NAME_TAKEN))
}

pub async fn get(db: &Db, workspace_id: Uuid, id: &str) -> Result<Option<OAuthApp>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM oauth_apps WHERE id = $1 AND workspace_id = $2");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

pub async fn list(db: &Db, workspace_id: Uuid) -> Result<Vec<OAuthApp>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM oauth_apps WHERE workspace_id = $1 ORDER BY name, id");
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(from_row).collect()
}

/// Write every changeable field of `app` (name, client id and secret, endpoints, hosts).
pub async fn update(db: &Db, app: &OAuthApp, now: OffsetDateTime) -> Result<(), StoreError> {
    let hosts = serde_json::to_string(&app.api_hosts).unwrap_or_else(|_| "[]".into());
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE oauth_apps SET name = $3, client_id = $4, client_secret = $5, authorize_url = $6, token_url = $7, revoke_url = $8, api_hosts = $9, updated_at = $10 \
         WHERE id = $1 AND workspace_id = $2")
        .bind(&app.id)
        .bind(app.workspace_id)
        .bind(&app.name)
        .bind(&app.client_id)
        .bind(&app.sealed_client_secret)
        .bind(&app.authorize_url)
        .bind(&app.token_url)
        .bind(&app.revoke_url)
        .bind(&hosts)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()));
    match n {
        Ok(0) => Err(StoreError::NotFound("OAuth app")),
        Ok(_) => Ok(()),
        Err(e) => Err(conflict_on_unique(e, NAME_TAKEN)),
    }
}

pub async fn delete(db: &Db, workspace_id: Uuid, id: &str) -> Result<(), StoreError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM oauth_apps WHERE id = $1 AND workspace_id = $2")
        .bind(id)
        .bind(workspace_id)
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound("OAuth app"));
    }
    Ok(())
}
