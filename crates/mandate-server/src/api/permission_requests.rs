//! Permission requests and the capability discovery agents use to make them:
//! - `GET /v1/capabilities/services` (people and agents): the service catalog with the action
//!   templates of the policy library;
//! - `GET /v1/capabilities/me` (agents): their connections, pending requests and the actions
//!   they could ask for;
//! - `POST /v1/agent-permission-requests` (agents) `{"actionTemplateId", "reason"}`: 201; 409
//!   when one is already pending or granted;
//! - `GET /v1/agent-permission-requests[/{requestId}]` (people: the workspace's; agents: their
//!   own, which they poll);
//! - `POST .../{requestId}/grant` `{"connectionId", "document"?, "reason"?}` (manage policies):
//!   creates the policy from the template (or the edited document) binding the agent to the
//!   connection; `POST .../{requestId}/refuse` `{"reason"?}` (approve). Both audited.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use mandate_store::StoreError;
use mandate_store::change_bus::{Change, Topic};
use mandate_store::permission_requests::{self as requests, Decision, PermissionRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::agents::principal::AgentPrincipal;
use crate::api::auth::time_json;
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::http::json::{ApiJson, MAX_REASON, optional_reason, page_limit};
use crate::policies::templates::{self, ActionTemplate};
use crate::state::AppState;

/// Agents only (behind `agents::principal::require_agent`).
pub fn agent_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/capabilities/me", get(me))
        .route("/v1/agent-permission-requests", post(create))
}

/// People and agents (behind `auth::caller::person_or_agent`).
pub fn shared_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/capabilities/services", get(services))
        .route("/v1/agent-permission-requests", get(list))
        .route("/v1/agent-permission-requests/{requestId}", get(show))
}

/// People only (the management layer).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/agent-permission-requests/{requestId}/grant",
            post(grant),
        )
        .route(
            "/v1/agent-permission-requests/{requestId}/refuse",
            post(refuse),
        )
}

/// A request as the API shows it; agents do not see who decided.
pub fn request_json(r: &PermissionRequest, for_agent: bool) -> Value {
    let template = templates::get(&r.template_id);
    let mut v = json!({
        "id": r.id,
        "agentId": r.agent_id,
        "actionTemplateId": r.template_id,
        "actionName": template.map(|t| t.name.as_str()),
        "provider": template.map(|t| t.provider.as_str()),
        "reason": r.reason,
        "state": r.state,
        "createdAt": time_json(r.created_at),
        "decidedAt": r.decided_at.map(time_json),
        "decisionReason": r.decision_reason,
        "connectionId": r.connection_id,
        "policyId": r.policy_id,
    });
    if !for_agent {
        v["decidedBy"] = json!(r.decided_by);
    }
    v
}

async fn services(State(app): State<AppState>) -> Json<Value> {
    let services: Vec<Value> = app
        .catalog
        .providers()
        .iter()
        .map(|p| {
            json!({
                "provider": p.id,
                "name": p.name,
                "services": p.services.iter().map(|s| json!({"id": s.id, "name": s.name})).collect::<Vec<_>>(),
                "actions": templates::all().iter().filter(|t| t.provider == p.id).map(ActionTemplate::json).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "services": services }))
}

async fn me(State(app): State<AppState>, agent: AgentPrincipal) -> Result<Json<Value>, ApiError> {
    let connections =
        mandate_store::connections::accounts::list_for_agent(&app.db, agent.agent_id).await?;
    let mine = requests::list(&app.db, agent.workspace_id, Some(agent.agent_id), None, 500).await?;
    let taken = |id: &str| {
        mine.iter()
            .any(|r| r.template_id == id && (r.state == "pending" || r.state == "granted"))
    };
    Ok(Json(json!({
        "activeConnections": connections.iter().map(|c| super::connections::connection_json(c, true)).collect::<Vec<_>>(),
        "pendingRequests": mine.iter().filter(|r| r.state == "pending").map(|r| request_json(r, true)).collect::<Vec<_>>(),
        "availableActions": templates::all().iter().filter(|t| !taken(&t.id)).map(ActionTemplate::json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Create {
    action_template_id: String,
    reason: String,
}

async fn announce(app: &AppState, r: &PermissionRequest) {
    let change = Change::new(Topic::PermissionRequest)
        .in_workspace(r.workspace_id)
        .with_id(r.id.to_string());
    if let Err(e) = app.bus.publish(&change).await {
        tracing::warn!(error = %e, "announcing a permission request failed");
    }
}

async fn create(
    State(app): State<AppState>,
    agent: AgentPrincipal,
    ApiJson(req): ApiJson<Create>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let template = templates::get(&req.action_template_id).ok_or_else(|| {
        ApiError::not_found("unknown actionTemplateId")
            .with_hint("GET /v1/capabilities/services lists the action templates")
    })?;
    let reason = optional_reason(Some(&req.reason))?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "`reason` says why the agent needs this (1 to {MAX_REASON} characters)"
        ))
    })?;
    let conflict = |m: &str| {
        ApiError::new(StatusCode::CONFLICT, m)
            .with_hint("poll GET /v1/agent-permission-requests/{id} for its outcome")
    };
    let granted = requests::list(
        &app.db,
        agent.workspace_id,
        Some(agent.agent_id),
        Some("granted"),
        500,
    )
    .await?;
    if granted
        .iter()
        .any(|r| r.template_id == template.id && r.policy_id.is_some())
    {
        return Err(conflict("this action was already granted to the agent"));
    }
    let request = PermissionRequest {
        id: Uuid::now_v7(),
        workspace_id: agent.workspace_id,
        agent_id: agent.agent_id,
        template_id: template.id.clone(),
        reason,
        state: "pending".into(),
        created_at: mandate_store::to_db_precision(OffsetDateTime::now_utc()),
        decided_by: None,
        decided_at: None,
        decision_reason: None,
        connection_id: None,
        policy_id: None,
    };
    match requests::create(&app.db, &request).await {
        Ok(()) => {}
        Err(StoreError::Conflict(m)) => return Err(conflict(m)),
        Err(e) => return Err(e.into()),
    }
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(Actor::Agent(agent.agent_id), actions::PERMISSION_REQUESTED)
                .workspace(agent.workspace_id)
                .agent(agent.agent_id)
                .target("permission_request", request.id.to_string())
                .outcome(Outcome::Success)
                .details(json!({"actionTemplateId": template.id, "reason": request.reason})),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    announce(&app, &request).await;
    crate::notifications::notices::permission_requested(&app, &request, &template.name);
    let mut body = request_json(&request, true);
    body["auditId"] = json!(audit_id);
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    limit: Option<i64>,
}

async fn list(
    State(app): State<AppState>,
    caller: Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = crate::http::json::query(q)?;
    if let Some(state) = q.state.as_deref()
        && !["pending", "granted", "refused"].contains(&state)
    {
        return Err(ApiError::bad_request(
            "`state` must be pending, granted or refused",
        ));
    }
    let limit = page_limit(q.limit, 50, 200)?;
    let (ws, agent) = (caller.workspace_id(), caller.agent_id());
    let rows = requests::list(&app.db, ws, agent, q.state.as_deref(), limit).await?;
    Ok(Json(json!({
        "requests": rows.iter().map(|r| request_json(r, agent.is_some())).collect::<Vec<_>>()
    })))
}

fn not_found() -> ApiError {
    ApiError::not_found("permission request not found")
}

async fn load(app: &AppState, ws: Uuid, raw: &str) -> Result<PermissionRequest, ApiError> {
    let id = Uuid::parse_str(raw).map_err(|_| not_found())?;
    match requests::get(&app.db, ws, id).await {
        Ok(r) => Ok(r),
        Err(StoreError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

async fn show(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (ws, agent) = (caller.workspace_id(), caller.agent_id());
    let r = load(&app, ws, &id).await?;
    if agent.is_some_and(|a| a != r.agent_id) {
        return Err(not_found());
    }
    Ok(Json(request_json(&r, agent.is_some())))
}

fn already_decided(r: &PermissionRequest) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("the permission request was already decided: {}", r.state),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Grant {
    connection_id: String,
    /// The template's document as edited by the person; the template's own when absent.
    document: Option<Value>,
    #[serde(default)]
    reason: String,
}

async fn grant(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Grant>,
) -> Result<Json<Value>, ApiError> {
    let ws = principal.workspace_id;
    let r = load(&app, ws, &id).await?;
    if r.state != "pending" {
        return Err(already_decided(&r));
    }
    let reason = optional_reason(Some(&req.reason))?;
    let template = templates::get(&r.template_id)
        .ok_or_else(|| ApiError::bad_request("the request's action template no longer exists"))?;
    let connection = mandate_store::connections::accounts::get(&app.db, ws, &req.connection_id)
        .await?
        .ok_or_else(|| ApiError::not_found("connection not found"))?;
    if connection.provider != template.provider
        || template
            .service
            .as_ref()
            .is_some_and(|s| connection.service.as_ref().is_some_and(|c| c != s))
    {
        return Err(ApiError::bad_request(format!(
            "`connectionId`: the action `{}` needs a {} connection, this one is {}",
            template.id, template.provider, connection.provider
        )));
    }
    let document = req
        .document
        .unwrap_or_else(|| template.document_for(connection.api_hosts.first().map(String::as_str)));
    // Check the document first (no side effect), then take the request (one conditional
    // UPDATE: a concurrent refusal or grant wins or loses as a whole), then create the policy
    // and record its id. Should the creation still fail (the agent got a policy on this
    // connection meanwhile), the request goes back to pending.
    crate::policies::service::check(&app, ws, &connection.id, document.clone()).await?;
    let decided = requests::decide(
        &app.db,
        ws,
        r.id,
        &Decision {
            granted: true,
            decided_by: principal.user_id,
            reason: reason.as_deref(),
            connection_id: Some(&connection.id),
            policy_id: None,
            now: OffsetDateTime::now_utc(),
        },
    )
    .await?;
    let Some(mut decided) = decided else {
        return Err(already_decided(&load(&app, ws, &id).await?));
    };
    let policy = match crate::policies::service::create(
        &app,
        &principal,
        r.agent_id,
        &connection.id,
        document,
    )
    .await
    {
        Ok((policy, _)) => policy,
        Err(e) => {
            requests::reopen(&app.db, ws, r.id).await?;
            return Err(e);
        }
    };
    requests::set_policy(&app.db, ws, r.id, policy.id).await?;
    decided.policy_id = Some(policy.id);
    finish(&app, &principal, &decided, actions::PERMISSION_GRANTED).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refuse {
    #[serde(default)]
    reason: String,
}

async fn refuse(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Refuse>,
) -> Result<Json<Value>, ApiError> {
    let ws = principal.workspace_id;
    let r = load(&app, ws, &id).await?;
    let reason = optional_reason(Some(&req.reason))?;
    let decided = requests::decide(
        &app.db,
        ws,
        r.id,
        &Decision {
            granted: false,
            decided_by: principal.user_id,
            reason: reason.as_deref(),
            connection_id: None,
            policy_id: None,
            now: OffsetDateTime::now_utc(),
        },
    )
    .await?;
    let Some(decided) = decided else {
        return Err(already_decided(&load(&app, ws, &id).await?));
    };
    finish(&app, &principal, &decided, actions::PERMISSION_REFUSED).await
}

async fn finish(
    app: &AppState,
    principal: &Principal,
    r: &PermissionRequest,
    action: &'static str,
) -> Result<Json<Value>, ApiError> {
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), action)
                .workspace(r.workspace_id)
                .agent(r.agent_id)
                .target("permission_request", r.id.to_string())
                .outcome(Outcome::Success)
                .details(json!({
                    "actionTemplateId": r.template_id,
                    "reason": r.decision_reason,
                    "connectionId": r.connection_id,
                    "policyId": r.policy_id,
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    announce(app, r).await;
    let mut body = request_json(r, false);
    body["auditId"] = json!(audit_id);
    Ok(Json(body))
}
