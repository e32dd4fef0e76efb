//! Members and roles. Nobody grants a role above their own, only owners change or remove an
//! owner, and the last owner stays (the store enforces it under a lock). A role change or a
//! removal ends the person's sessions, so the new role holds from their next sign-in and no
//! open session keeps the old one.

use axum::Json;
use axum::extract::{Path, State};
use mandate_store::StoreError;
use mandate_store::people::Role;
use mandate_store::people::memberships::{self, Member};
use mandate_store::people::sessions;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::auth::time_json;
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

fn member_json(m: &Member) -> Value {
    json!({
        "userId": m.user_id,
        "email": m.email,
        "displayName": m.display_name,
        "role": m.role.as_str(),
        "joinedAt": time_json(m.joined_at),
    })
}

pub async fn list(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let members = memberships::list(&app.db, principal.workspace_id).await?;
    Ok(Json(json!({
        "members": members.iter().map(member_json).collect::<Vec<_>>(),
    })))
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("member not found"))
}

async fn member(app: &AppState, principal: &Principal, raw: &str) -> Result<Member, ApiError> {
    let id = parse_id(raw)?;
    Ok(memberships::get(&app.db, principal.workspace_id, id)
        .await?
        .ok_or(StoreError::NotFound("member"))?)
}

pub async fn show(
    State(app): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(member_json(
        &member(&app, &principal, &user_id).await?,
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    role: String,
}

/// Who may touch this member at all.
fn may_manage(principal: &Principal, target: &Member) -> Result<(), ApiError> {
    if target.role == Role::Owner && principal.role != Role::Owner {
        return Err(ApiError::forbidden(
            "only an owner can change or remove an owner",
        ));
    }
    Ok(())
}

pub async fn change_role(
    State(app): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<ChangeRole>,
) -> Result<Json<Value>, ApiError> {
    let target = member(&app, &principal, &user_id).await?;
    let role = Role::parse(&req.role)?;
    may_manage(&principal, &target)?;
    if role > principal.role {
        return Err(ApiError::forbidden(format!(
            "you cannot grant a role above your own ({})",
            principal.role
        )));
    }
    let changed =
        memberships::set_role(&app.db, principal.workspace_id, target.user_id, role).await?;
    let keep = (target.user_id == principal.user_id)
        .then(|| principal.session_id())
        .flatten();
    let ended = sessions::delete_for_user(&app.db, target.user_id, keep).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::MEMBER_ROLE_CHANGED)
                .workspace(principal.workspace_id)
                .target("user", target.user_id.to_string())
                .outcome(Outcome::Success)
                .details(json!({
                    "from": changed.previous.as_str(),
                    "to": role.as_str(),
                    "sessionsEnded": ended,
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({
        "userId": target.user_id,
        "role": role.as_str(),
        "previousRole": changed.previous.as_str(),
        "auditId": audit_id,
    })))
}

pub async fn remove(
    State(app): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let target = member(&app, &principal, &user_id).await?;
    may_manage(&principal, &target)?;
    let changed = memberships::remove(&app.db, principal.workspace_id, target.user_id).await?;
    let keep = (target.user_id == principal.user_id)
        .then(|| principal.session_id())
        .flatten();
    let ended = sessions::delete_for_user(&app.db, target.user_id, keep).await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::MEMBER_REMOVED)
                .workspace(principal.workspace_id)
                .target("user", target.user_id.to_string())
                .outcome(Outcome::Success)
                .details(json!({ "role": changed.previous.as_str(), "sessionsEnded": ended })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        json!({ "userId": target.user_id, "auditId": audit_id }),
    ))
}
