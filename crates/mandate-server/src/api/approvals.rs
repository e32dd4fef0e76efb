//! Approval requests (made by the gateway when a policy says `require_approval`):
//! - `GET /v1/approvals` and `GET /v1/approvals/{approvalId}`, shared by people (the workspace's)
//!   and agents (their own, which they poll before re-submitting with `approvalId`);
//! - `POST /v1/approvals/{approvalId}/approve` and `/deny` `{"reason"?}`, people with the
//!   `approve` permission. One conditional UPDATE decides, so two people (or replicas) racing
//!   get one decision and the other a 409. The decider and the reason are audited.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use mandate_store::StoreError;
use mandate_store::approvals::{self, Approval, ApprovalState};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::auth::time_json;
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// Open to people and agents (behind `auth::caller::person_or_agent`).
pub fn shared_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/approvals", get(list))
        .route("/v1/approvals/{approvalId}", get(show))
}

/// People only (the management layer).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/approvals/{approvalId}/approve", post(approve))
        .route("/v1/approvals/{approvalId}/deny", post(deny))
}

/// An approval as the API shows it. Agents do not see who decided.
pub(crate) fn approval_json(a: &Approval, now: OffsetDateTime, for_agent: bool) -> Value {
    let mut v = json!({
        "id": a.id,
        "approvalRequestId": a.id,
        "state": a.state_at(now).as_str(),
        "agentId": a.agent_id,
        "connectionId": a.connection_id,
        "policyId": a.policy_id,
        "method": a.method,
        "host": a.host,
        "path": a.path,
        "bodyPreview": a.body_preview,
        "rule": a.rule,
        "reason": a.reason,
        "createdAt": time_json(a.created_at),
        "expiresAt": time_json(a.expires_at),
        "decidedAt": a.decided_at.map(time_json),
        "decisionReason": a.decision_reason,
        "executedAt": a.executed_at.map(time_json),
    });
    if !for_agent {
        v["decidedBy"] = json!(a.decided_by);
    }
    v
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
    let state = q
        .state
        .as_deref()
        .map(ApprovalState::parse)
        .transpose()
        .map_err(|_| {
            ApiError::bad_request("`state` must be pending, approved, denied, expired or executed")
        })?;
    let limit = crate::http::json::page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let (workspace, agent) = (caller.workspace_id(), caller.agent_id());
    let for_agent = agent.is_some();
    let now = OffsetDateTime::now_utc();
    let rows = approvals::list(&app.db, workspace, agent, state, now, limit).await?;
    Ok(Json(json!({
        "approvals": rows.iter().map(|a| approval_json(a, now, for_agent)).collect::<Vec<_>>()
    })))
}

fn approval_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("approval not found"))
}

async fn show(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = approval_id(&id)?;
    let (workspace, agent) = (caller.workspace_id(), caller.agent_id());
    let not_found = || ApiError::not_found("approval not found");
    let approval = match approvals::get(&app.db, workspace, id).await {
        Ok(a) => a,
        Err(StoreError::NotFound(_)) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    // An agent sees its own approvals only; others' do not exist for it.
    if agent.is_some_and(|agent| agent != approval.agent_id) {
        return Err(not_found());
    }
    let now = OffsetDateTime::now_utc();
    Ok(Json(approval_json(&approval, now, agent.is_some())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decide {
    reason: Option<String>,
}

async fn approve(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Decide>,
) -> Result<Json<Value>, ApiError> {
    decide(&app, &principal, &id, true, req).await
}

async fn deny(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Decide>,
) -> Result<Json<Value>, ApiError> {
    decide(&app, &principal, &id, false, req).await
}

async fn decide(
    app: &AppState,
    principal: &Principal,
    id: &str,
    approve: bool,
    req: Decide,
) -> Result<Json<Value>, ApiError> {
    let id = approval_id(id)?;
    let reason = crate::http::json::optional_reason(req.reason.as_deref())?;
    let reason = reason.as_deref();
    let now = OffsetDateTime::now_utc();
    let ws = principal.workspace_id;
    let decided =
        approvals::decide(&app.db, ws, id, approve, principal.user_id, reason, now).await?;
    let Some(approval) = decided else {
        return Err(why_not(app, ws, id, now).await);
    };
    let action = if approve {
        actions::APPROVAL_APPROVED
    } else {
        actions::APPROVAL_DENIED
    };
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), action)
                .workspace(ws)
                .agent(approval.agent_id)
                .target("approval", approval.id.to_string())
                .outcome(Outcome::Success)
                .details(json!({
                    "reason": reason,
                    "connectionId": approval.connection_id,
                    "method": approval.method,
                    "host": approval.host,
                    "path": approval.path,
                    "rule": approval.rule,
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    crate::gateway::approval::announce(app, &approval).await;
    crate::notifications::notices::approval_decided(app, &approval, approve);
    let mut body = approval_json(&approval, now, false);
    body["auditId"] = json!(audit_id);
    Ok(Json(body))
}

/// Why approval `id` could not be decided: unknown, already decided, or expired.
async fn why_not(app: &AppState, ws: Uuid, id: Uuid, now: OffsetDateTime) -> ApiError {
    let approval = match approvals::get(&app.db, ws, id).await {
        Ok(a) => a,
        Err(StoreError::NotFound(_)) => return ApiError::not_found("approval not found"),
        Err(e) => return e.into(),
    };
    match approval.state_at(now) {
        ApprovalState::Expired => ApiError::new(StatusCode::GONE, "the approval request expired")
            .with_hint("the agent can send its request again to ask anew"),
        state => ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "the approval request was already decided: {}",
                state.as_str()
            ),
        ),
    }
}
