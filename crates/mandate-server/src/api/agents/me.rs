//! An agent's own view (`GET /v1/agents/me`) and revoking one of its keys after a rotation
//! (`DELETE /v1/agents/keys/{kid}`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mandate_store::agents::{self, keys};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::agents::agent_json;
use crate::agents::principal::AgentPrincipal;
use crate::agents::token_cache;
use crate::audit::{AuditEvent, Outcome, actions};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn show(
    State(state): State<AppState>,
    agent: AgentPrincipal,
) -> Result<Json<Value>, ApiError> {
    let row = agents::get(&state.db, agent.workspace_id, agent.agent_id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent not found"))?;
    let keys = keys::list(&state.db, agent.agent_id).await?;
    let mut body = agent_json(&row, &keys);
    body["currentKid"] = json!(agent.kid);
    Ok(Json(body))
}

pub async fn revoke_key(
    State(state): State<AppState>,
    agent: AgentPrincipal,
    Path(kid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let active = keys::active(&state.db, agent.agent_id).await?;
    if !active.iter().any(|k| k.kid == kid) {
        return Err(ApiError::not_found("no active key with this kid"));
    }
    if active.len() == 1 {
        return Err(ApiError::new(StatusCode::CONFLICT, "this is the agent's only key")
            .with_hint("add a new key first (POST /v1/agents/keys), or ask an admin for a new bootstrap secret"));
    }
    let key = keys::revoke(&state.db, agent.agent_id, &kid, OffsetDateTime::now_utc()).await?;
    token_cache::changed(&state, agent.workspace_id, agent.agent_id).await;
    let audit_id = state
        .audit
        .record(
            AuditEvent::new(agent.actor(), actions::AGENT_KEY_REVOKED)
                .workspace(agent.workspace_id)
                .agent(agent.agent_id)
                .target("agent_key", key.kid.clone())
                .outcome(Outcome::Success),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        json!({ "kid": key.kid, "revoked": true, "auditId": audit_id }),
    ))
}
