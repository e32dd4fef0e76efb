//! Using a connection: its credential, with OAuth access tokens refreshed before they expire
//! and after the provider refused one (401). The gateway (Model A and B) calls this.
//!
//! One refresh per connection at a time across every replica: a per-replica mutex per
//! connection, then the store's refresh lock (a `FOR UPDATE` row lock on PostgreSQL). Whoever
//! gets the lock re-reads the row first: when another replica refreshed meanwhile, its token
//! is used and the provider is not called again. The new access token and the (rotated, or
//! else kept) refresh token are written in the transaction that holds the lock.
//!
//! `invalid_grant` moves the connection to `needs_reauth` (audited, announced on the change
//! bus); other failures to `error`, retried on the next use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use mandate_store::change_bus::{Change, Topic};
use mandate_store::connections::refresh_lock::{self, RefreshLock, Refreshed};
use mandate_store::connections::{Connection, ConnectionState, accounts, oauth_apps};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::catalog::Provider;
use super::credential::{CLIENT_SECRET_KIND, Credential};
use super::oauth_client::{OAuthClient, TokenError};
use crate::audit::{Actor, Outcome, actions};
use crate::state::AppState;

/// Access tokens are refreshed this long before they expire.
pub const REFRESH_MARGIN: Duration = Duration::seconds(60);

/// A connection ready to use: its row and its opened credential.
pub struct Usable {
    pub connection: Connection,
    pub credential: Credential,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("connection not found")]
    NotFound,
    #[error("the connection was revoked")]
    Revoked,
    /// A person must connect the account again (the provider refused the refresh token, or the
    /// token expired and cannot be refreshed).
    #[error("the connection needs to be re-authorized: {0}")]
    NeedsReauth(String),
    /// Refreshing failed for another reason (provider unreachable, app deleted...).
    #[error("the connection's token could not be refreshed: {0}")]
    RefreshFailed(String),
    /// Mandate's own failure (database, vault); logged, never shown.
    #[error("{0}")]
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> AccessError {
    AccessError::Internal(e.to_string())
}

/// Per-replica mutexes, one per connection being refreshed (entries go when unused).
#[derive(Default)]
pub struct RefreshLocks {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl RefreshLocks {
    fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = map.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(id.to_string(), Arc::downgrade(&lock));
        lock
    }
}

fn expires_soon(c: &Connection, now: OffsetDateTime) -> bool {
    c.access_expires_at
        .is_some_and(|at| at <= now + REFRESH_MARGIN)
}

/// The connection's credential, refreshed first when its access token expires within
/// [`REFRESH_MARGIN`] (or the last refresh failed).
pub async fn credential_for_use(
    app: &AppState,
    workspace_id: Uuid,
    id: &str,
) -> Result<Usable, AccessError> {
    let connection = accounts::get(&app.db, workspace_id, id)
        .await
        .map_err(internal)?
        .ok_or(AccessError::NotFound)?;
    credential_for(app, connection).await
}

/// [`credential_for_use`] for a connection row the caller has just read.
pub async fn credential_for(app: &AppState, connection: Connection) -> Result<Usable, AccessError> {
    let now = OffsetDateTime::now_utc();
    match connection.state {
        ConnectionState::Revoked => return Err(AccessError::Revoked),
        ConnectionState::NeedsReauth => {
            return Err(AccessError::NeedsReauth(
                connection.last_error.unwrap_or_default(),
            ));
        }
        ConnectionState::Active if !expires_soon(&connection, now) => {
            let credential = open(app, &connection).await?;
            return Ok(Usable {
                connection,
                credential,
            });
        }
        ConnectionState::Active | ConnectionState::Error => {}
    }
    refresh_locked(app, connection.workspace_id, &connection.id, None).await
}

/// After the provider refused `rejected` (401): a new access token, unless another request
/// already replaced that one (then the current one).
pub async fn credential_after_rejection(
    app: &AppState,
    workspace_id: Uuid,
    id: &str,
    rejected: &str,
) -> Result<Usable, AccessError> {
    refresh_locked(app, workspace_id, id, Some(rejected)).await
}

async fn open(app: &AppState, c: &Connection) -> Result<Credential, AccessError> {
    let sealed = c.sealed_credential.as_deref().ok_or(AccessError::Revoked)?;
    Credential::open(&app.vault, c.workspace_id, &c.id, sealed)
        .await
        .map_err(internal)
}

async fn refresh_locked(
    app: &AppState,
    workspace_id: Uuid,
    id: &str,
    rejected: Option<&str>,
) -> Result<Usable, AccessError> {
    let local = app.refresh_locks.get(id);
    let _local = local.lock().await;
    let lock = refresh_lock::lock(&app.db, workspace_id, id)
        .await
        .map_err(|e| match e {
            mandate_store::StoreError::NotFound(_) => AccessError::NotFound,
            other => internal(other),
        })?;
    let c = lock.connection.clone();
    let early = match c.state {
        ConnectionState::Revoked => Some(AccessError::Revoked),
        ConnectionState::NeedsReauth => Some(AccessError::NeedsReauth(
            c.last_error.clone().unwrap_or_default(),
        )),
        _ => None,
    };
    if let Some(e) = early {
        lock.release().await.map_err(internal)?;
        return Err(e);
    }
    let credential = match open(app, &c).await {
        Ok(credential) => credential,
        Err(e) => {
            lock.release().await.map_err(internal)?;
            return Err(e);
        }
    };
    let now = OffsetDateTime::now_utc();
    let needed = match rejected {
        Some(token) => credential.api_token() == Some(token),
        None => c.state == ConnectionState::Error || expires_soon(&c, now),
    };
    if !needed {
        // Someone (maybe another replica) refreshed while this request waited.
        lock.release().await.map_err(internal)?;
        return Ok(Usable {
            connection: c,
            credential,
        });
    }
    let Some(refresh_token) = credential
        .refresh_token()
        .map(|t| Zeroizing::new(t.to_string()))
    else {
        let message = "the access token expired or was refused, and there is no refresh token";
        fail(app, lock, ConnectionState::NeedsReauth, message).await?;
        return Err(AccessError::NeedsReauth(message.into()));
    };
    let client = match oauth_client(app, &c).await {
        Ok(client) => client,
        Err(message) => {
            fail(app, lock, ConnectionState::Error, &message).await?;
            return Err(AccessError::RefreshFailed(message));
        }
    };
    match client.refresh(&app.egress, &refresh_token).await {
        Ok(tokens) => {
            let rotated = tokens.refresh_token.is_some();
            let new = Credential::Oauth {
                access_token: tokens.access_token.to_string(),
                // The provider may omit a new refresh token: the old one stays good.
                refresh_token: Some(
                    tokens
                        .refresh_token
                        .as_deref()
                        .map_or_else(|| refresh_token.to_string(), String::clone),
                ),
            };
            let sealed = new
                .seal(&app.vault, workspace_id, id)
                .await
                .map_err(internal)?;
            let expires_at = tokens.expires_in.map(|s| now + Duration::seconds(s));
            let written = lock
                .finish(
                    &app.db,
                    Refreshed {
                        sealed_credential: &sealed,
                        has_refresh_token: true,
                        access_expires_at: expires_at,
                        scopes: tokens.scope.as_deref(),
                    },
                    now,
                )
                .await
                .map_err(internal)?;
            if !written {
                return Err(AccessError::Revoked);
            }
            record(
                app,
                &c,
                actions::CONNECTION_REFRESHED,
                Outcome::Success,
                json!({ "refreshTokenRotated": rotated, "expiresAt": expires_at.map(crate::api::auth::time_json) }),
            )
            .await;
            let mut connection = c;
            connection.state = ConnectionState::Active;
            connection.access_expires_at = expires_at;
            connection.last_error = None;
            Ok(Usable {
                connection,
                credential: new,
            })
        }
        Err(TokenError::InvalidGrant(description)) => {
            let message = format!(
                "the provider no longer accepts the refresh token (invalid_grant{}); connect the account again",
                description.map(|d| format!(": {d}")).unwrap_or_default()
            );
            fail(app, lock, ConnectionState::NeedsReauth, &message).await?;
            Err(AccessError::NeedsReauth(message))
        }
        Err(other) => {
            let message = other.to_string();
            fail(app, lock, ConnectionState::Error, &message).await?;
            Err(AccessError::RefreshFailed(message))
        }
    }
}

/// The OAuth client of the connection's app, with its secret opened.
pub async fn oauth_client(app: &AppState, c: &Connection) -> Result<OAuthClient, String> {
    let provider = app
        .catalog
        .get(&c.provider)
        .ok_or_else(|| format!("provider `{}` is no longer in the catalog", c.provider))?;
    let app_id = c
        .oauth_app_id
        .as_deref()
        .ok_or("the connection's OAuth app was deleted")?;
    let row = oauth_apps::get(&app.db, c.workspace_id, app_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading an OAuth app");
            "the OAuth app could not be read".to_string()
        })?
        .ok_or("the connection's OAuth app was deleted")?;
    client_for_app(app, provider, &row).await
}

/// The OAuth client of an app row, with its secret opened.
pub async fn client_for_app(
    app: &AppState,
    provider: &Provider,
    row: &oauth_apps::OAuthApp,
) -> Result<OAuthClient, String> {
    let secret = match &row.sealed_client_secret {
        Some(sealed) => {
            let bytes = app
                .vault
                .open(row.workspace_id, CLIENT_SECRET_KIND, &row.id, sealed)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "opening an OAuth client secret");
                    "the OAuth app's secret could not be opened".to_string()
                })?;
            Some(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
        }
        None => None,
    };
    OAuthClient::for_app(provider, row, secret)
}

async fn fail(
    app: &AppState,
    lock: RefreshLock,
    state: ConnectionState,
    message: &str,
) -> Result<(), AccessError> {
    let c = lock.connection.clone();
    lock.fail(&app.db, state, message, OffsetDateTime::now_utc())
        .await
        .map_err(internal)?;
    let action = match state {
        ConnectionState::NeedsReauth => {
            crate::notifications::notices::connection_needs_reauth(app, &c, message);
            actions::CONNECTION_NEEDS_REAUTH
        }
        _ => actions::CONNECTION_REFRESH_FAILED,
    };
    record(
        app,
        &c,
        action,
        Outcome::Failure,
        json!({ "reason": message }),
    )
    .await;
    Ok(())
}

/// Audit (durably: a state change nobody can later explain is worse than a slower refresh) and
/// announce on the change bus.
async fn record(
    app: &AppState,
    c: &Connection,
    action: &'static str,
    outcome: Outcome,
    details: serde_json::Value,
) {
    let event = super::audit_event(Actor::System("server"), action, c)
        .outcome(outcome)
        .details(details);
    if let Err(e) = app.audit.record(event).await {
        tracing::error!(error = %e, action, "auditing a connection change failed");
    }
    announce(app, c.workspace_id, &c.id).await;
}

/// Tell every replica (and, later, the dashboard's live events) that a connection changed; this
/// replica's cached copy goes first.
pub async fn announce(app: &AppState, workspace_id: Uuid, id: &str) {
    app.connections.forget_where(|c| c.id == id);
    let change = Change::new(Topic::Connection)
        .in_workspace(workspace_id)
        .with_id(id);
    if let Err(e) = app.bus.publish(&change).await {
        tracing::warn!(error = %e, "announcing a connection change failed");
    }
}
