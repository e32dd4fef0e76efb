use axum::Json;
use axum::extract::State;
use mandate_store::StoreError;
use mandate_store::people::memberships;
use mandate_store::workspaces;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::auth::{time_json, workspace_json};
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

pub async fn show(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let workspace = workspaces::get(&app.db, principal.workspace_id)
        .await?
        .ok_or(StoreError::NotFound("workspace"))?;
    let mut body = workspace_json(&workspace);
    body["role"] = json!(principal.role.as_str());
    Ok(Json(body))
}

/// The caller's workspaces. A personal access token sees only its own workspace.
pub async fn list_mine(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let pat = principal.session_id().is_none();
    let items: Vec<Value> = memberships::workspaces_of(&app.db, principal.user_id)
        .await?
        .into_iter()
        .filter(|(w, _)| !pat || w.id == principal.workspace_id)
        .map(|(w, role)| {
            json!({
                "id": w.id,
                "name": w.name,
                "createdAt": time_json(w.created_at),
                "role": role.as_str(),
                "current": w.id == principal.workspace_id,
            })
        })
        .collect();
    Ok(Json(json!({ "workspaces": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    name: String,
}

pub async fn rename(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<Rename>,
) -> Result<Json<Value>, ApiError> {
    let workspace = workspaces::rename(&app.db, principal.workspace_id, &req.name).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::WORKSPACE_RENAMED)
                .workspace(workspace.id)
                .target("workspace", workspace.id.to_string())
                .outcome(Outcome::Success)
                .details(json!({ "name": workspace.name })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut body = workspace_json(&workspace);
    body["auditId"] = json!(audit_id);
    Ok(Json(body))
}
