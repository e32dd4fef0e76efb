//! Creating, changing and deleting policies: the document is validated (errors name the field
//! as `document.<path>`), its allowlist may only name hosts the connection's credential may go to,
//! the row is written with optimistic versioning, the change is audited with SHA-256 hashes of
//! the canonical documents before and after, and every replica drops its compiled copy.

use mandate_crypto::digest::sha256_hex;
use mandate_policy::{CompiledPolicy, PolicyDocument};
use mandate_store::change_bus::{Change, Topic};
use mandate_store::connections::{ConnectionState, accounts};
use mandate_store::policies::{self, NewPolicy, Policy};
use serde_json::{Value, json};
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use crate::audit::{AuditEvent, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// A checked document: its canonical JSON (what is stored and hashed) and its hash.
pub struct Checked {
    pub canonical: String,
    pub hash: String,
}

/// Validate a document for a binding to `connection_id` in the caller's workspace.
pub async fn check(
    app: &AppState,
    workspace_id: Uuid,
    connection_id: &str,
    document: Value,
) -> Result<Checked, ApiError> {
    let doc = mandate_policy::from_value(document).map_err(invalid)?;
    let compiled = CompiledPolicy::compile(doc).map_err(invalid)?;
    let connection = accounts::get(&app.db, workspace_id, connection_id)
        .await?
        .ok_or_else(|| ApiError::not_found("connection not found"))?;
    if connection.state == ConnectionState::Revoked {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "the connection is revoked",
        )
        .with_hint("connect the account again and bind the new connection"));
    }
    let hosts = crate::connections::allowed_hosts(&app.catalog, &connection);
    for (i, entry) in compiled.document().allowlists.iter().enumerate() {
        let host = Url::parse(&entry.base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        if !hosts.contains(&host) {
            return Err(ApiError::bad_request(format!(
                "document.allowlists[{i}].baseUrl: `{host}` is not a host this connection's credential may be sent to ({})",
                hosts.join(", ")
            ))
            .with_hint("allow only the provider's API hosts"));
        }
    }
    Ok(canonical(compiled.document()))
}

fn canonical(doc: &PolicyDocument) -> Checked {
    let canonical = serde_json::to_string(doc).unwrap_or_default();
    let hash = sha256_hex(&[canonical.as_bytes()]);
    Checked { canonical, hash }
}

/// The hash of a stored document (re-canonicalised; a row that no longer parses hashes as is).
pub fn stored_hash(document: &str) -> String {
    match mandate_policy::parse_json(document) {
        Ok(doc) => canonical(&doc).hash,
        Err(_) => sha256_hex(&[document.as_bytes()]),
    }
}

fn invalid(e: mandate_policy::PolicyError) -> ApiError {
    let field = if e.field == "document" {
        e.field
    } else {
        format!("document.{}", e.field)
    };
    ApiError::bad_request(format!("{field}: {}", e.message)).with_hint(
        "fix the named field; the policy document is described in the agent API contract",
    )
}

fn audit(principal: &Principal, action: &'static str, p: &Policy) -> AuditEvent {
    AuditEvent::new(principal.actor(), action)
        .workspace(p.workspace_id)
        .target("policy", p.id.to_string())
        .agent(p.agent_id)
}

async fn announce(app: &AppState, p: &Policy) {
    let change = Change::new(Topic::Policy)
        .in_workspace(p.workspace_id)
        .with_id(p.id.to_string());
    app.policies.forget(p.id);
    if let Err(e) = app.bus.publish(&change).await {
        tracing::warn!(error = %e, "announcing a policy change failed");
    }
}

pub async fn create(
    app: &AppState,
    principal: &Principal,
    agent_id: Uuid,
    connection_id: &str,
    document: Value,
) -> Result<(Policy, Uuid), ApiError> {
    mandate_store::agents::get(&app.db, principal.workspace_id, agent_id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent not found"))?;
    let checked = check(app, principal.workspace_id, connection_id, document).await?;
    let id = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    policies::create(
        &app.db,
        &NewPolicy {
            id,
            workspace_id: principal.workspace_id,
            agent_id,
            connection_id,
            document: &checked.canonical,
            created_by: Some(principal.user_id),
        },
        now,
    )
    .await?;
    let row = policies::get(&app.db, principal.workspace_id, id).await?;
    let audit_id = app
        .audit
        .record(
            audit(principal, actions::POLICY_CREATED, &row).details(json!({
                "connectionId": row.connection_id,
                "version": row.version,
                "afterHash": checked.hash,
            })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    announce(app, &row).await;
    Ok((row, audit_id))
}

pub async fn update(
    app: &AppState,
    principal: &Principal,
    id: Uuid,
    expected_version: i32,
    document: Value,
) -> Result<(Policy, Uuid), ApiError> {
    let before = policies::get(&app.db, principal.workspace_id, id).await?;
    let checked = check(app, principal.workspace_id, &before.connection_id, document).await?;
    let version = policies::update(
        &app.db,
        principal.workspace_id,
        id,
        expected_version,
        &checked.canonical,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let row = policies::get(&app.db, principal.workspace_id, id).await?;
    let audit_id = app
        .audit
        .record(
            audit(principal, actions::POLICY_UPDATED, &row).details(json!({
                "connectionId": row.connection_id,
                "version": version,
                "beforeHash": stored_hash(&before.document),
                "afterHash": checked.hash,
            })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    announce(app, &row).await;
    Ok((row, audit_id))
}

pub async fn delete(
    app: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<(Policy, Uuid), ApiError> {
    let row = policies::delete(&app.db, principal.workspace_id, id).await?;
    let audit_id = app
        .audit
        .record(
            audit(principal, actions::POLICY_DELETED, &row).details(json!({
                "connectionId": row.connection_id,
                "version": row.version,
                "beforeHash": stored_hash(&row.document),
            })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    announce(app, &row).await;
    Ok((row, audit_id))
}
