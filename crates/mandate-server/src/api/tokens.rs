//! Personal access tokens: for scripts, one workspace each, read-only or read-write, a role no
//! higher than the owner's (and never higher than the owner's current role when used), at most
//! 365 days. The secret is shown once; only its hash is stored. Creating one needs a signed-in
//! session (or its JWT): a token cannot mint tokens.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use mandate_crypto::tokens::{self, TokenKind};
use mandate_store::people::Role;
use mandate_store::people::pats::{self, NewPat, Pat};
use serde::Deserialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::api::auth::time_json;
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

pub const MAX_DAYS: i64 = 365;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tokens", get(list).post(create))
        .route("/v1/tokens/{tokenId}", delete(revoke))
}

fn pat_json(p: &Pat) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "role": p.role.as_str(),
        "access": if p.read_only { "read" } else { "write" },
        "createdAt": time_json(p.created_at),
        "expiresAt": time_json(p.expires_at),
        "lastUsedAt": p.last_used_at.map(time_json),
        "revokedAt": p.revoked_at.map(time_json),
    })
}

async fn list(State(app): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let tokens = pats::list(&app.db, principal.user_id, principal.workspace_id).await?;
    Ok(Json(json!({
        "tokens": tokens.iter().map(pat_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreatePat {
    name: String,
    /// `read` or `write`.
    access: String,
    /// Defaults to the creator's role.
    role: Option<String>,
    expires_in_days: i64,
}

async fn create(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreatePat>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if principal.session_id().is_none() {
        return Err(
            ApiError::forbidden("personal access tokens cannot create tokens")
                .with_hint("sign in to create one"),
        );
    }
    let read_only = match req.access.as_str() {
        "read" => true,
        "write" => false,
        _ => return Err(ApiError::bad_request("`access` must be `read` or `write`")),
    };
    if !(1..=MAX_DAYS).contains(&req.expires_in_days) {
        return Err(ApiError::bad_request(format!(
            "`expiresInDays` must be between 1 and {MAX_DAYS}"
        )));
    }
    let role = match req.role.as_deref() {
        Some(r) => Role::parse(r)?,
        None => principal.role,
    };
    if role > principal.role {
        return Err(ApiError::forbidden(format!(
            "a token cannot have a role above your own ({})",
            principal.role
        )));
    }
    let name = pats::validate_name(&req.name)?;
    let now = OffsetDateTime::now_utc();
    let token = tokens::issue(TokenKind::PersonalAccess).map_err(|e| ApiError::internal(&e))?;
    let pat = pats::create(
        &app.db,
        NewPat {
            user_id: principal.user_id,
            workspace_id: principal.workspace_id,
            name: &name,
            role,
            read_only,
            token_hash: &token.hash.0,
            now,
            expires_at: now + Duration::days(req.expires_in_days),
        },
    )
    .await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::PAT_CREATED)
                .workspace(principal.workspace_id)
                .target("personal_access_token", pat.id.to_string())
                .outcome(Outcome::Success)
                .details(json!({
                    "name": pat.name,
                    "role": role.as_str(),
                    "access": if read_only { "read" } else { "write" },
                    "expiresAt": time_json(pat.expires_at),
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut body = pat_json(&pat);
    body["token"] = json!(token.secret.as_str());
    body["auditId"] = json!(audit_id);
    Ok((StatusCode::CREATED, Json(body)))
}

async fn revoke(
    State(app): State<AppState>,
    principal: Principal,
    Path(token_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(&token_id).map_err(|_| ApiError::not_found("token not found"))?;
    pats::revoke(
        &app.db,
        principal.user_id,
        principal.workspace_id,
        id,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let audit_id = app
        .audit
        .record(
            AuditEvent::new(principal.actor(), actions::PAT_REVOKED)
                .workspace(principal.workspace_id)
                .target("personal_access_token", id.to_string())
                .outcome(Outcome::Success),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({ "id": id, "auditId": audit_id })))
}
