//! `/v1/policies`: bind an agent to a connection with a policy document, read, change (with the
//! version read, so concurrent edits do not overwrite each other), delete, and dry-run a request
//! against a policy (`/test`), which explains which rule decided and why.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use mandate_policy::{Body, Model, Request};
use mandate_store::policies::{self, Policy};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::auth::time_json;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::gateway::request::{ExecuteRequest, prepare};
use crate::http::json::ApiJson;
use crate::policies::service;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/policies", get(list).post(create))
        .route(
            "/v1/policies/{policyId}",
            get(show).put(update).delete(remove),
        )
        .route("/v1/policies/{policyId}/test", post(dry_run))
}

pub fn policy_json(p: &Policy) -> Value {
    let document: Value = serde_json::from_str(&p.document).unwrap_or(Value::Null);
    json!({
        "id": p.id,
        "agentId": p.agent_id,
        "connectionId": p.connection_id,
        "version": p.version,
        "document": document,
        "documentHash": service::stored_hash(&p.document),
        "createdBy": p.created_by,
        "createdAt": time_json(p.created_at),
        "updatedAt": time_json(p.updated_at),
    })
}

fn with_audit(p: &Policy, audit_id: Uuid) -> Value {
    let mut v = policy_json(p);
    v["auditId"] = json!(audit_id);
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    agent_id: Option<Uuid>,
    connection_id: Option<String>,
}

async fn list(
    State(app): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let rows = policies::list(
        &app.db,
        principal.workspace_id,
        q.agent_id,
        q.connection_id.as_deref(),
    )
    .await?;
    Ok(Json(
        json!({"policies": rows.iter().map(policy_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePolicy {
    agent_id: Uuid,
    connection_id: String,
    document: Value,
}

async fn create(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreatePolicy>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let (row, audit_id) = service::create(
        &app,
        &principal,
        req.agent_id,
        &req.connection_id,
        req.document,
    )
    .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(with_audit(&row, audit_id)),
    ))
}

fn policy_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("policy not found"))
}

async fn show(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = policies::get(&app.db, principal.workspace_id, policy_id(&id)?).await?;
    Ok(Json(policy_json(&row)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// The version the change was made on (409 when it is not the stored one any more).
    version: i32,
    document: Value,
}

async fn update(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdatePolicy>,
) -> Result<Json<Value>, ApiError> {
    let (row, audit_id) =
        service::update(&app, &principal, policy_id(&id)?, req.version, req.document).await?;
    Ok(Json(with_audit(&row, audit_id)))
}

async fn remove(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (row, audit_id) = service::delete(&app, &principal, policy_id(&id)?).await?;
    Ok(Json(
        json!({"deleted": true, "id": row.id, "auditId": audit_id}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    #[serde(flatten)]
    request: ExecuteRequest,
    /// Decide as if at this instant (RFC 3339), to try time windows.
    at: Option<String>,
}

/// What the gateway would decide for this request under this policy: nothing is sent, counted
/// or recorded.
async fn dry_run(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DryRun>,
) -> Result<Json<Value>, ApiError> {
    let row = policies::get(&app.db, principal.workspace_id, policy_id(&id)?).await?;
    let loaded = app.policies.insert(&row).map_err(|e| {
        ApiError::internal(&format!("stored policy {} does not compile: {e}", row.id))
    })?;
    let model = req.request.model()?;
    let at = match &req.at {
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ApiError::bad_request("`at` must be an RFC 3339 time"))?,
        None => OffsetDateTime::now_utc(),
    };
    let placeholder =
        url::Url::parse("https://model-a.invalid/").map_err(|e| ApiError::internal(&e))?;
    let prepared = match model {
        Model::B => Some(prepare(&req.request)?),
        Model::A => None,
    };
    let body: Option<&Body> = prepared.as_ref().and_then(|p| p.body.as_ref());
    let view = Request {
        model,
        method: prepared.as_ref().map_or("GET", |p| p.method.as_str()),
        url: prepared.as_ref().map_or(&placeholder, |p| &p.url),
        body,
        body_bytes: prepared.as_ref().map_or(0, |p| p.body_bytes.len() as u64),
        unix_seconds: at.unix_timestamp(),
    };
    let decision = loaded.compiled.decide(&view);
    let connection = mandate_store::connections::accounts::get(
        &app.db,
        principal.workspace_id,
        &row.connection_id,
    )
    .await?;
    let host_allowed = match (&prepared, &connection) {
        (Some(p), Some(c)) => {
            let host = p.url.host_str().unwrap_or_default();
            Some(
                crate::connections::allowed_hosts(&app.catalog, c)
                    .iter()
                    .any(|h| h == host),
            )
        }
        _ => None,
    };
    let ssrf = prepared
        .as_ref()
        .map(|p| app.egress.check_url(&p.url).err().map(|e| e.to_string()));
    Ok(Json(json!({
        "policyId": row.id,
        "policyVersion": row.version,
        "decision": decision,
        "hostAllowed": host_allowed,
        "ssrfRefusal": ssrf.flatten(),
        "responseRules": prepared.as_ref().map(|_| loaded.compiled.filters_response(&view)),
        "rateLimits": loaded.compiled.rate_limits(),
    })))
}
