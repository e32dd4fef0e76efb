//! People manage agents: create (with a bootstrap secret shown once), list, show, rename,
//! disable or enable, delete, issue a new bootstrap secret, revoke a key. Reading needs
//! `read agents`, the rest `manage agents` (operators and above; see docs/security.md).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use mandate_crypto::tokens::{self, IssuedToken, TokenKind};
use mandate_store::agents::bootstrap::{self, NewSecret};
use mandate_store::agents::{self, AgentChanges, NewAgent, keys};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::agents::agent_json;
use crate::agents::token_cache;
use crate::api::auth::time_json;
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/agents", get(list).post(create))
        .route(
            "/v1/agents/{agentId}",
            get(show).patch(update).delete(remove),
        )
        .route(
            "/v1/agents/{agentId}/bootstrap-secret",
            post(new_bootstrap_secret),
        )
        .route("/v1/agents/{agentId}/keys/{kid}", delete(revoke_key))
}

fn agent_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("agent not found"))
}

async fn load(app: &AppState, workspace_id: Uuid, id: Uuid) -> Result<Value, ApiError> {
    let agent = agents::get(&app.db, workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent not found"))?;
    let keys = keys::list(&app.db, id).await?;
    let mut body = agent_json(&agent, &keys);
    body["bootstrapSecretExpiresAt"] =
        bootstrap::pending_until(&app.db, id, OffsetDateTime::now_utc())
            .await?
            .map_or(Value::Null, time_json);
    Ok(body)
}

async fn list(State(app): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let mut out = Vec::new();
    for agent in agents::list(&app.db, principal.workspace_id).await? {
        let keys = keys::list(&app.db, agent.id).await?;
        out.push(agent_json(&agent, &keys));
    }
    Ok(Json(json!({ "agents": out })))
}

async fn show(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        load(&app, principal.workspace_id, agent_id(&id)?).await?,
    ))
}

fn new_secret(app: &AppState) -> Result<(IssuedToken, OffsetDateTime), ApiError> {
    let secret = tokens::issue(TokenKind::BootstrapSecret).map_err(|e| ApiError::internal(&e))?;
    Ok((
        secret,
        OffsetDateTime::now_utc() + app.config.bootstrap_secret_ttl,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateAgent {
    name: String,
    #[serde(default)]
    description: String,
}

async fn create(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (secret, expires_at) = new_secret(&app)?;
    let agent = agents::create(
        &app.db,
        NewAgent {
            workspace_id: principal.workspace_id,
            name: &req.name,
            description: &req.description,
            owner_id: principal.user_id,
            now: OffsetDateTime::now_utc(),
        },
        NewSecret {
            token_hash: &secret.hash.0,
            created_by: principal.user_id,
            expires_at,
        },
    )
    .await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::AGENT_CREATED)
                .workspace(principal.workspace_id)
                .agent(agent.id)
                .target("agent", agent.id.to_string())
                .outcome(Outcome::Success)
                .details(json!({ "name": agent.name, "bootstrapSecretExpiresAt": time_json(expires_at) })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut body = agent_json(&agent, &[]);
    body["bootstrapSecret"] = json!(secret.secret.as_str());
    body["bootstrapSecretExpiresAt"] = time_json(expires_at);
    body["auditId"] = json!(audit_id);
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateAgent {
    name: Option<String>,
    description: Option<String>,
    /// `active` or `disabled`.
    status: Option<String>,
}

async fn update(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateAgent>,
) -> Result<Json<Value>, ApiError> {
    let id = agent_id(&id)?;
    let enabled = match req.status.as_deref() {
        None => None,
        Some("active") => Some(true),
        Some("disabled") => Some(false),
        Some(_) => {
            return Err(ApiError::bad_request(
                "`status` must be `active` or `disabled`",
            ));
        }
    };
    let before = agents::get(&app.db, principal.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent not found"))?;
    let after = agents::update(
        &app.db,
        principal.workspace_id,
        id,
        AgentChanges {
            name: req.name.as_deref(),
            description: req.description.as_deref(),
            enabled,
        },
    )
    .await?;
    token_cache::changed(&app, principal.workspace_id, id).await;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::AGENT_UPDATED)
                .workspace(principal.workspace_id)
                .agent(id)
                .target("agent", id.to_string())
                .outcome(Outcome::Success)
                .details(json!({
                    "name": { "before": before.name, "after": after.name },
                    "descriptionChanged": before.description != after.description,
                    "status": { "before": before.status.as_str(), "after": after.status.as_str() },
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut body = load(&app, principal.workspace_id, id).await?;
    body["auditId"] = json!(audit_id);
    Ok(Json(body))
}

async fn remove(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = agent_id(&id)?;
    agents::delete(&app.db, principal.workspace_id, id).await?;
    token_cache::changed(&app, principal.workspace_id, id).await;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::AGENT_DELETED)
                .workspace(principal.workspace_id)
                .agent(id)
                .target("agent", id.to_string())
                .outcome(Outcome::Success),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        json!({ "id": id, "deleted": true, "auditId": audit_id }),
    ))
}

async fn new_bootstrap_secret(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = agent_id(&id)?;
    let (secret, expires_at) = new_secret(&app)?;
    bootstrap::issue(
        &app.db,
        principal.workspace_id,
        id,
        NewSecret {
            token_hash: &secret.hash.0,
            created_by: principal.user_id,
            expires_at,
        },
        OffsetDateTime::now_utc(),
    )
    .await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::AGENT_BOOTSTRAP_ISSUED)
                .workspace(principal.workspace_id)
                .agent(id)
                .target("agent", id.to_string())
                .outcome(Outcome::Success)
                .details(json!({ "expiresAt": time_json(expires_at) })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "agentId": id,
            "bootstrapSecret": secret.secret.as_str(),
            "expiresAt": time_json(expires_at),
            "auditId": audit_id,
        })),
    ))
}

async fn revoke_key(
    State(app): State<AppState>,
    principal: Principal,
    Path((id, kid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = agent_id(&id)?;
    if agents::get(&app.db, principal.workspace_id, id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("agent not found"));
    }
    let key = keys::revoke(&app.db, id, &kid, OffsetDateTime::now_utc()).await?;
    token_cache::changed(&app, principal.workspace_id, id).await;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::AGENT_KEY_REVOKED)
                .workspace(principal.workspace_id)
                .agent(id)
                .target("agent_key", key.kid.clone())
                .outcome(Outcome::Success),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        json!({ "kid": key.kid, "revoked": true, "auditId": audit_id }),
    ))
}
