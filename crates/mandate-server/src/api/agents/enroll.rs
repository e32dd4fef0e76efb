//! The unauthenticated agent routes: enrollment with a bootstrap secret, the token exchange
//! (JSON or form-encoded, as RFC 6749 clients send it), and adding a key. Each is rate-limited
//! per IP in the database, so replicas share the limit.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::agents::{self, audience, enrollment, key_rotation, token_exchange};
use crate::auth::{ClientIp, limits};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapRequest {
    bootstrap_secret: String,
    public_key: Value,
}

pub async fn bootstrap(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<BootstrapRequest>,
) -> Result<Json<Value>, ApiError> {
    limits::check(
        &state.db,
        limits::AGENT_ENROLL_PER_IP,
        &ip.to_string(),
        OffsetDateTime::now_utc(),
    )
    .await?;
    let enrolled = enrollment::enroll(&state, &req.bootstrap_secret, &req.public_key, ip).await?;
    Ok(Json(json!({
        "agentId": enrolled.agent.id,
        "name": enrolled.agent.name,
        "status": enrolled.agent.status.as_str(),
        "workspaceId": enrolled.agent.workspace_id,
        "auditId": enrolled.audit_id,
    })))
}

/// The token request's fields, from JSON or a form.
struct TokenRequest {
    grant_type: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

fn invalid_request(hint: &str) -> ApiError {
    ApiError::bad_request("invalid_request").with_hint(hint)
}

fn parse_token_request(headers: &HeaderMap, body: &Bytes) -> Result<TokenRequest, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut req = TokenRequest {
            grant_type: None,
            client_assertion_type: None,
            client_assertion: None,
        };
        for (name, value) in url::form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "grant_type" => &mut req.grant_type,
                "client_assertion_type" => &mut req.client_assertion_type,
                "client_assertion" => &mut req.client_assertion,
                _ => continue,
            };
            if slot.is_some() {
                return Err(invalid_request("each parameter may appear once"));
            }
            *slot = Some(value.into_owned());
        }
        return Ok(req);
    }
    if !(content_type.is_empty() || content_type.starts_with("application/json")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected application/json or application/x-www-form-urlencoded",
        ));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| invalid_request("the body is not valid JSON"))?;
    let field = |name: &str| -> Result<Option<String>, ApiError> {
        match value.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid_request(
                "grant_type, client_assertion_type and client_assertion are strings",
            )),
        }
    };
    if !value.is_object() {
        return Err(invalid_request("the body must be a JSON object"));
    }
    Ok(TokenRequest {
        grant_type: field("grant_type")?,
        client_assertion_type: field("client_assertion_type")?,
        client_assertion: field("client_assertion")?,
    })
}

/// The assertion of a well-formed token request.
fn assertion_of(req: TokenRequest) -> Result<String, ApiError> {
    match req.grant_type.as_deref() {
        // The contract's name, and RFC 7523's client authentication with client_credentials.
        Some("client_assertion" | "client_credentials") => {}
        _ => {
            return Err(ApiError::bad_request("unsupported_grant_type")
                .with_hint("grant_type must be `client_assertion`"));
        }
    }
    if req.client_assertion_type.as_deref() != Some(JWT_BEARER) {
        return Err(invalid_request(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    req.client_assertion
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid_request("client_assertion is required"))
}

pub async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The limit is counted by the exchange (see there); a malformed request counts here.
    let assertion = match parse_token_request(&headers, &body).and_then(assertion_of) {
        Ok(assertion) => assertion,
        Err(e) => {
            let now = OffsetDateTime::now_utc();
            limits::check(&state.db, limits::AGENT_TOKEN_PER_IP, &ip.to_string(), now).await?;
            return Err(e);
        }
    };
    let audiences = audience::accepted(&state.config, &headers, token_exchange::ENDPOINT);
    let issued = token_exchange::exchange(&state, &assertion, &audiences, ip).await?;
    let mut response = Json(json!({
        "access_token": issued.token.secret.as_str(),
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    }))
    .into_response();
    // RFC 6749 5.1: token responses are not cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddKeyRequest {
    /// Signed by a current key, with `cnf.jkt` = the new key's thumbprint.
    #[serde(alias = "client_assertion")]
    client_assertion: String,
    public_key: Value,
}

pub async fn add_key(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AddKeyRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    limits::check(
        &state.db,
        limits::AGENT_TOKEN_PER_IP,
        &ip.to_string(),
        OffsetDateTime::now_utc(),
    )
    .await?;
    let audiences = audience::accepted(&state.config, &headers, key_rotation::ENDPOINT);
    let added = key_rotation::add_key(
        &state,
        &req.client_assertion,
        &req.public_key,
        &audiences,
        ip,
    )
    .await?;
    let mut body = agents::key_json(&added.key);
    body["agentId"] = json!(added.agent.id);
    body["auditId"] = json!(added.audit_id);
    Ok((StatusCode::CREATED, Json(body)))
}
