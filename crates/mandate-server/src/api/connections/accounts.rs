//! `/v1/connections`: list, show, paste a secret, revoke. Answers carry metadata and state,
//! never secret material. Agents may list the connections they are bound to (a policy), with
//! the same fields less who made them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mandate_store::connections::{Connection, ConnectionState, accounts};
use serde::Deserialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::api::auth::time_json;
use crate::auth::Principal;
use crate::auth::caller::Caller;
use crate::connections::connect::{self, Pasted};
use crate::connections::credential::Credential;
use crate::connections::revoke;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

/// An active connection without a refresh token whose access token ends within this is shown
/// as `expiring`.
const EXPIRING_WITHIN: Duration = Duration::days(1);

/// The state shown: the stored one, or `expiring`.
pub fn shown_state(c: &Connection, now: OffsetDateTime) -> &'static str {
    match c.state {
        ConnectionState::Active
            if !c.has_refresh_token
                && c.access_expires_at
                    .is_some_and(|at| at <= now + EXPIRING_WITHIN) =>
        {
            "expiring"
        }
        state => state.as_str(),
    }
}

fn hint(c: &Connection, state: &str) -> Option<String> {
    match state {
        "needs_reauth" | "expiring" if c.oauth_app_id.is_some() => Some(format!(
            "a person connects the account again: POST /v1/connections/{}/reconnect",
            c.id
        )),
        "needs_reauth" | "expiring" => Some("a person pastes a new secret".into()),
        "error" => Some("the next use retries the refresh; see lastError".into()),
        _ => None,
    }
}

pub fn connection_json(c: &Connection, for_agent: bool) -> Value {
    let state = shown_state(c, OffsetDateTime::now_utc());
    let mut v = json!({
        "id": c.id,
        "provider": c.provider,
        "service": c.service,
        "label": c.label,
        "state": state,
        "scopes": c.scopes,
        "accessExpiresAt": c.access_expires_at.map(time_json),
        "lastRefreshedAt": c.last_refreshed_at.map(time_json),
        "lastError": c.last_error,
        "createdAt": time_json(c.created_at),
        "updatedAt": time_json(c.updated_at),
    });
    if let Some(h) = hint(c, state) {
        v["hint"] = json!(h);
    }
    if !for_agent {
        v["oauthAppId"] = json!(c.oauth_app_id);
        v["hasRefreshToken"] = json!(c.has_refresh_token);
        v["apiHosts"] = json!(c.api_hosts);
        v["createdBy"] = json!(c.created_by);
    }
    v
}

pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let (rows, for_agent) = match &caller {
        Caller::Person(p) => (accounts::list(&app.db, p.workspace_id).await?, false),
        Caller::Agent(a) => (accounts::list_for_agent(&app.db, a.agent_id).await?, true),
    };
    Ok(Json(json!({
        "connections": rows.iter().map(|c| connection_json(c, for_agent)).collect::<Vec<_>>()
    })))
}

pub async fn show(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = accounts::get(&app.db, principal.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("connection not found"))?;
    Ok(Json(connection_json(&c, false)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasteRequest {
    provider: String,
    service: Option<String>,
    label: Option<String>,
    secret: Option<Zeroizing<String>>,
    username: Option<String>,
    password: Option<Zeroizing<String>>,
    #[serde(default)]
    api_hosts: Vec<String>,
    validate_url: Option<String>,
}

pub async fn create(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<PasteRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let credential = match (req.secret, req.username, req.password) {
        (Some(secret), None, None) => Credential::Secret {
            secret: secret.to_string(),
        },
        (None, Some(username), Some(password)) => Credential::Basic {
            username,
            password: password.to_string(),
        },
        _ => {
            return Err(ApiError::bad_request(
                "give either `secret`, or `username` and `password`",
            ));
        }
    };
    let (c, audit_id) = connect::create_pasted(
        &app,
        &principal,
        Pasted {
            provider: req.provider,
            service: req.service,
            label: req.label,
            credential,
            api_hosts: req.api_hosts,
            validate_url: req.validate_url,
        },
    )
    .await?;
    let mut body = connection_json(&c, false);
    body["auditId"] = json!(audit_id);
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn remove(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let audit_id = revoke::revoke(&app, &principal, &id).await?;
    let c = accounts::get(&app.db, principal.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("connection not found"))?;
    let mut body = connection_json(&c, false);
    body["auditId"] = json!(audit_id);
    Ok(Json(body))
}
