//! OAuth connect flows in progress. A flow is created when a person starts connecting and
//! taken once by the callback: the `DELETE ... RETURNING` that takes it also checks the browser
//! session and the expiry, so a replayed, expired or foreign state finds nothing, on any
//! replica. The state value is stored as a hash; the PKCE verifier arrives sealed.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectFlow {
    pub id: String,
    pub state_hash: [u8; 32],
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub oauth_app_id: String,
    /// Set when re-consenting an existing connection.
    pub connection_id: Option<String>,
    pub service: Option<String>,
    pub label: String,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    /// The sealed PKCE code verifier.
    pub sealed_code_verifier: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

type Row = (
    String,
    Vec<u8>,
    Uuid,
    Uuid,
    Uuid,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    OffsetDateTime,
    OffsetDateTime,
);

const COLUMNS: &str = "id, state_hash, workspace_id, user_id, session_id, oauth_app_id, connection_id, service, label, scopes, redirect_uri, code_verifier, created_at, expires_at";

fn from_row(r: Row) -> Result<ConnectFlow, StoreError> {
    let corrupt = |field: &str| StoreError::Corrupt(format!("oauth_connect_flows.{field}"));
    Ok(ConnectFlow {
        id: r.0,
        state_hash: r.1.try_into().map_err(|_| corrupt("state_hash"))?,
        workspace_id: r.2,
        user_id: r.3,
        session_id: r.4,
        oauth_app_id: r.5,
        connection_id: r.6,
        service: r.7,
        label: r.8,
        scopes: serde_json::from_str(&r.9).map_err(|_| corrupt("scopes"))?,
        redirect_uri: r.10,
        sealed_code_verifier: r.11,
        created_at: r.12,
        expires_at: r.13,
    })
}

pub async fn create(db: &Db, flow: &ConnectFlow) -> Result<(), StoreError> {
    let scopes = serde_json::to_string(&flow.scopes).unwrap_or_else(|_| "[]".into());
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO oauth_connect_flows (id, state_hash, workspace_id, user_id, session_id, oauth_app_id, connection_id, service, label, scopes, redirect_uri, code_verifier, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
        .bind(&flow.id)
        .bind(flow.state_hash.as_slice())
        .bind(flow.workspace_id)
        .bind(flow.user_id)
        .bind(flow.session_id)
        .bind(&flow.oauth_app_id)
        .bind(&flow.connection_id)
        .bind(&flow.service)
        .bind(&flow.label)
        .bind(&scopes)
        .bind(&flow.redirect_uri)
        .bind(&flow.sealed_code_verifier)
        .bind(to_db_precision(flow.created_at))
        .bind(to_db_precision(flow.expires_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Take the flow with this state hash, once: only for the session that started it and before
/// it expires. None for an unknown, used, expired or foreign state.
pub async fn take(
    db: &Db,
    state_hash: &[u8; 32],
    session_id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<ConnectFlow>, StoreError> {
    let sql = format!(
        "DELETE FROM oauth_connect_flows WHERE state_hash = $1 AND session_id = $2 AND expires_at > $3 RETURNING {COLUMNS}"
    );
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(state_hash.as_slice())
        .bind(session_id)
        .bind(to_db_precision(now))
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

/// Remove flows that expired (the periodic cleanup).
pub async fn delete_expired(db: &Db, now: OffsetDateTime) -> Result<u64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM oauth_connect_flows WHERE expires_at <= $1")
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n)
}
