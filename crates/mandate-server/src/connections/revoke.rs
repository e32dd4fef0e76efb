//! Revoking a connection: the ciphertext is deleted at once (the row stays, state `revoked`,
//! for the record), then the provider is asked to revoke the token where it has an endpoint
//! (RFC 7009; the refresh token, which ends the access tokens made from it). What the provider
//! said is audited; a provider that cannot be reached does not keep the connection alive here.

use mandate_store::connections::{Connection, accounts};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::access::{announce, oauth_client};
use super::credential::Credential;
use crate::audit::{Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Revoke and answer the audit record id.
pub async fn revoke(app: &AppState, principal: &Principal, id: &str) -> Result<Uuid, ApiError> {
    let Some(before) = accounts::revoke(
        &app.db,
        principal.workspace_id,
        id,
        OffsetDateTime::now_utc(),
    )
    .await?
    else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "the connection is already revoked",
        ));
    };
    // At once, before the provider call: no replica may use a cached copy from here on.
    announce(app, before.workspace_id, &before.id).await;
    let at_provider = revoke_at_provider(app, &before).await;
    let event = super::audit_event(principal.actor(), actions::CONNECTION_REVOKED, &before)
        .outcome(Outcome::Success)
        .details(json!({ "provider": before.provider, "label": before.label, "providerRevocation": at_provider }));
    let audit_id = app
        .audit
        .record(event)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(audit_id)
}

/// What happened at the provider, in words for the audit record.
async fn revoke_at_provider(app: &AppState, c: &Connection) -> String {
    let Some(sealed) = &c.sealed_credential else {
        return "nothing to revoke".into();
    };
    if c.oauth_app_id.is_none() {
        return "not supported (pasted secret: revoke it in the provider's console)".into();
    }
    let credential = match Credential::open(&app.vault, c.workspace_id, &c.id, sealed).await {
        Ok(credential) => credential,
        Err(e) => {
            tracing::error!(error = %e, "opening a credential to revoke it");
            return "failed: the credential could not be opened".into();
        }
    };
    let Credential::Oauth {
        access_token,
        refresh_token,
    } = &credential
    else {
        return "not supported".into();
    };
    let client = match oauth_client(app, c).await {
        Ok(client) => client,
        Err(message) => return format!("failed: {message}"),
    };
    let (token, hint) = match refresh_token {
        Some(rt) => (rt.as_str(), "refresh_token"),
        None => (access_token.as_str(), "access_token"),
    };
    match client.revoke(&app.egress, token, hint).await {
        Ok(true) => "revoked".into(),
        Ok(false) => "not supported (the provider has no revocation endpoint)".into(),
        Err(e) => format!("failed: {e}"),
    }
}
