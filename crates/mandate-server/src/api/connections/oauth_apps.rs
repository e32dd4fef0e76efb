//! `/v1/oauth-apps`: the OAuth clients a workspace registered at providers, for its connect
//! flows. Admins manage them; everyone in the workspace can see them, never their secrets (the
//! answer says only whether there is one). The secret is sealed by the vault, bound to the row,
//! before it is stored. A catalog provider brings its endpoints; a generic one takes the
//! admin's, checked like the catalog's.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use mandate_store::connections::oauth_apps::{self, OAuthApp};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::api::auth::time_json;
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::connections::catalog::{AuthScheme, Provider, check_endpoint, is_host};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

use crate::connections::credential::CLIENT_SECRET_KIND as SECRET_KIND;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/oauth-apps", get(list).post(create))
        .route(
            "/v1/oauth-apps/{appId}",
            get(show).patch(update).delete(remove),
        )
}

fn app_json(app: &OAuthApp) -> Value {
    json!({
        "id": app.id,
        "provider": app.provider,
        "name": app.name,
        "clientId": app.client_id,
        "hasClientSecret": app.sealed_client_secret.is_some(),
        "authorizeUrl": app.authorize_url,
        "tokenUrl": app.token_url,
        "revokeUrl": app.revoke_url,
        "apiHosts": app.api_hosts,
        "createdBy": app.created_by,
        "createdAt": time_json(app.created_at),
        "updatedAt": time_json(app.updated_at),
    })
}

async fn list(State(app): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let apps = oauth_apps::list(&app.db, principal.workspace_id).await?;
    Ok(Json(
        json!({ "oauthApps": apps.iter().map(app_json).collect::<Vec<_>>() }),
    ))
}

async fn load(app: &AppState, principal: &Principal, id: &str) -> Result<OAuthApp, ApiError> {
    oauth_apps::get(&app.db, principal.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("OAuth app not found"))
}

async fn show(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(app_json(&load(&app, &principal, &id).await?)))
}

/// The catalog's OAuth 2.0 provider named `id`.
fn oauth_provider<'a>(app: &'a AppState, id: &str) -> Result<&'a Provider, ApiError> {
    match app.catalog.get(id) {
        Some(p) if p.auth == AuthScheme::Oauth2 => Ok(p),
        Some(_) => Err(ApiError::bad_request(format!(
            "`provider`: {id} takes a pasted secret, not an OAuth app"
        ))),
        None => Err(ApiError::bad_request(format!(
            "`provider`: no provider `{id}` in the catalog"
        ))),
    }
}

/// Endpoints and hosts: required for a generic provider, refused for a catalog one.
fn check_generic_fields(provider: &Provider, app: &OAuthApp) -> Result<(), ApiError> {
    let fields = [
        ("authorizeUrl", &app.authorize_url),
        ("tokenUrl", &app.token_url),
        ("revokeUrl", &app.revoke_url),
    ];
    if !provider.generic {
        if fields.iter().any(|(_, v)| v.is_some()) || !app.api_hosts.is_empty() {
            return Err(ApiError::bad_request(format!(
                "`{}` brings its own endpoints and hosts; set them only for a generic provider",
                provider.id
            )));
        }
        return Ok(());
    }
    for (field, value) in fields {
        match value {
            Some(url) => {
                check_endpoint(url)
                    .map_err(|reason| ApiError::bad_request(format!("`{field}` {reason}")))?;
            }
            None if field != "revokeUrl" => {
                return Err(ApiError::bad_request(format!(
                    "`{field}` is required for a generic provider"
                )));
            }
            None => {}
        }
    }
    if app.api_hosts.is_empty() {
        return Err(ApiError::bad_request(
            "`apiHosts` must list the hosts the credential may be sent to",
        ));
    }
    if let Some(bad) = app.api_hosts.iter().find(|h| !is_host(h)) {
        return Err(ApiError::bad_request(format!(
            "`apiHosts`: `{bad}` is not a lower-case host name (no scheme, port, path or wildcard)"
        )));
    }
    Ok(())
}

async fn seal_secret(
    app: &AppState,
    workspace_id: Uuid,
    row_id: &str,
    secret: &str,
) -> Result<String, ApiError> {
    if secret.is_empty() || secret.len() > 2000 || secret.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "`clientSecret` must be 1 to 2000 characters without control characters",
        ));
    }
    app.vault
        .seal(workspace_id, SECRET_KIND, row_id, secret.as_bytes())
        .await
        .map_err(|e| ApiError::internal(&e))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateApp {
    provider: String,
    name: String,
    client_id: String,
    client_secret: Option<Zeroizing<String>>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    revoke_url: Option<String>,
    #[serde(default)]
    api_hosts: Vec<String>,
}

async fn create(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateApp>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let provider = oauth_provider(&app, &req.provider)?;
    // At the stored precision, so the row answered is the row stored.
    let now = mandate_store::to_db_precision(OffsetDateTime::now_utc());
    let id = Uuid::now_v7().to_string();
    let mut row = OAuthApp {
        id: id.clone(),
        workspace_id: principal.workspace_id,
        provider: provider.id.clone(),
        name: oauth_apps::validate_name(&req.name)?,
        client_id: oauth_apps::validate_client_id(&req.client_id)?,
        sealed_client_secret: None,
        authorize_url: req.authorize_url,
        token_url: req.token_url,
        revoke_url: req.revoke_url,
        api_hosts: req.api_hosts,
        created_by: Some(principal.user_id),
        created_at: now,
        updated_at: now,
    };
    check_generic_fields(provider, &row)?;
    if let Some(secret) = &req.client_secret {
        row.sealed_client_secret =
            Some(seal_secret(&app, principal.workspace_id, &id, secret).await?);
    }
    oauth_apps::create(&app.db, &row).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::OAUTH_APP_CREATED)
                .workspace(principal.workspace_id)
                .target("oauth_app", id.clone())
                .outcome(Outcome::Success)
                .details(json!({
                    "provider": row.provider,
                    "name": row.name,
                    "hasClientSecret": row.sealed_client_secret.is_some(),
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut body = app_json(&row);
    body["auditId"] = json!(audit_id);
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateApp {
    name: Option<String>,
    client_id: Option<String>,
    /// A new secret; `null` removes it (a public client).
    #[serde(default, with = "double_option")]
    client_secret: Option<Option<Zeroizing<String>>>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    revoke_url: Option<String>,
    api_hosts: Option<Vec<String>>,
}

/// `absent` → None, `null` → Some(None), a value → Some(Some(v)).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn update(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateApp>,
) -> Result<Json<Value>, ApiError> {
    let mut row = load(&app, &principal, &id).await?;
    let provider = oauth_provider(&app, &row.provider)?;
    let mut changed = Vec::new();
    if let Some(name) = &req.name {
        row.name = oauth_apps::validate_name(name)?;
        changed.push("name");
    }
    if let Some(client_id) = &req.client_id {
        row.client_id = oauth_apps::validate_client_id(client_id)?;
        changed.push("clientId");
    }
    for (field, value, slot) in [
        ("authorizeUrl", req.authorize_url, &mut row.authorize_url),
        ("tokenUrl", req.token_url, &mut row.token_url),
        ("revokeUrl", req.revoke_url, &mut row.revoke_url),
    ] {
        if let Some(url) = value {
            *slot = Some(url);
            changed.push(field);
        }
    }
    if let Some(hosts) = req.api_hosts {
        row.api_hosts = hosts;
        changed.push("apiHosts");
    }
    check_generic_fields(provider, &row)?;
    match &req.client_secret {
        Some(Some(secret)) => {
            row.sealed_client_secret =
                Some(seal_secret(&app, principal.workspace_id, &row.id, secret).await?);
            changed.push("clientSecret");
        }
        Some(None) => {
            row.sealed_client_secret = None;
            changed.push("clientSecret");
        }
        None => {}
    }
    row.updated_at = mandate_store::to_db_precision(OffsetDateTime::now_utc());
    oauth_apps::update(&app.db, &row, row.updated_at).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::OAUTH_APP_UPDATED)
                .workspace(principal.workspace_id)
                .target("oauth_app", row.id.clone())
                .outcome(Outcome::Success)
                .details(json!({ "changed": changed })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut body = app_json(&row);
    body["auditId"] = json!(audit_id);
    Ok(Json(body))
}

async fn remove(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    oauth_apps::delete(&app.db, principal.workspace_id, &id).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::OAUTH_APP_DELETED)
                .workspace(principal.workspace_id)
                .target("oauth_app", id.clone())
                .outcome(Outcome::Success),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        json!({ "id": id, "deleted": true, "auditId": audit_id }),
    ))
}
