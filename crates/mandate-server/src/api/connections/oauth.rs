//! The OAuth connect flow's routes: start (answers the provider's authorization URL), the
//! callback the provider sends the browser to, and re-consent for an existing connection.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::accounts::connection_json;
use crate::auth::Principal;
use crate::connections::connect::{self, CALLBACK_PATH, Callback, StartOAuth};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

/// The callback URL providers must have registered: `PUBLIC_URL` + the path; without
/// `PUBLIC_URL` (development) the request's host over http.
fn redirect_uri(app: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    match &app.config.public_url {
        Some(url) => Ok(format!(
            "{}{CALLBACK_PATH}",
            url.as_str().trim_end_matches('/')
        )),
        None => headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|host| format!("http://{host}{CALLBACK_PATH}"))
            .ok_or_else(|| ApiError::bad_request("no Host header; set PUBLIC_URL")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    oauth_app_id: String,
    service: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    label: Option<String>,
}

/// Start a flow and answer where to send the browser.
async fn start_flow(
    app: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    req: StartOAuth,
) -> Result<Json<Value>, ApiError> {
    let redirect = redirect_uri(app, headers)?;
    let url = connect::start_oauth(app, principal, redirect.clone(), req).await?;
    Ok(Json(json!({
        "authorizationUrl": url.as_str(),
        "redirectUri": redirect,
        "expiresInSeconds": connect::FLOW_LIFETIME.whole_seconds(),
        "hint": "open authorizationUrl in this browser session; the provider sends it back to redirectUri",
    })))
}

pub async fn start(
    State(app): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StartRequest>,
) -> Result<Json<Value>, ApiError> {
    start_flow(
        &app,
        &principal,
        &headers,
        StartOAuth {
            oauth_app_id: req.oauth_app_id,
            service: req.service,
            extra_scopes: req.scopes,
            label: req.label,
            reconnect: None,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconnectRequest {
    oauth_app_id: String,
}

pub async fn reconnect(
    State(app): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReconnectRequest>,
) -> Result<Json<Value>, ApiError> {
    start_flow(
        &app,
        &principal,
        &headers,
        StartOAuth {
            oauth_app_id: req.oauth_app_id,
            service: None,
            extra_scopes: Vec::new(),
            label: None,
            reconnect: Some(id),
        },
    )
    .await
}

/// Parameters of the provider's redirect (RFC 6749 4.1.2 and 4.1.2.1); others are ignored.
#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub async fn callback(
    State(app): State<AppState>,
    principal: Principal,
    Query(q): Query<CallbackQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (c, audit_id) = connect::finish_oauth(
        &app,
        &principal,
        Callback {
            state: q.state,
            code: q.code,
            error: q.error,
            error_description: q.error_description,
        },
    )
    .await?;
    let mut body = connection_json(&c, false);
    body["auditId"] = json!(audit_id);
    Ok((StatusCode::OK, Json(body)))
}
