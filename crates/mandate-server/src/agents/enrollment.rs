//! `POST /v1/agents/bootstrap`: an agent presents its bootstrap secret and public key. The
//! secret is consumed by one conditional UPDATE in the transaction that makes the key the
//! agent's only active key (earlier keys and their tokens are revoked: re-enrolling replaces).

use std::net::IpAddr;

use mandate_crypto::agent_auth::AgentPublicKey;
use mandate_crypto::tokens::{self, TokenHash, TokenKind};
use mandate_store::agents::Agent;
use mandate_store::agents::bootstrap::{self, EnrollRefused};
use mandate_store::agents::keys::NewKey;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::error::ApiError;
use crate::state::AppState;

pub struct Enrolled {
    pub agent: Agent,
    pub audit_id: uuid::Uuid,
}

pub async fn enroll(
    state: &AppState,
    secret: &str,
    public_key: &Value,
    ip: IpAddr,
) -> Result<Enrolled, ApiError> {
    let key = AgentPublicKey::from_jwk(public_key).map_err(|e| {
        ApiError::bad_request(e.to_string()).with_hint(
            "send the public JWK of an ES256 (EC P-256) or EdDSA (Ed25519) key pair you generated",
        )
    })?;
    if tokens::inspect(secret) != Ok(TokenKind::BootstrapSecret) {
        record_refusal(state, "not a bootstrap secret", ip).await;
        return Err(invalid_secret());
    }
    let jwk = key.jwk.to_string();
    let outcome = bootstrap::enroll(
        &state.db,
        &TokenHash::of(secret).0,
        NewKey {
            kid: &key.kid,
            alg: key.alg.as_str(),
            thumbprint: &key.thumbprint,
            public_jwk: &jwk,
        },
        OffsetDateTime::now_utc(),
    )
    .await?;
    let agent = match outcome {
        Ok(agent) => agent,
        Err(EnrollRefused::InvalidSecret) => {
            record_refusal(state, "unknown, used or expired bootstrap secret", ip).await;
            return Err(invalid_secret());
        }
        Err(EnrollRefused::Disabled) => {
            record_refusal(state, "agent disabled", ip).await;
            return Err(ApiError::forbidden("this agent is disabled")
                .with_hint("ask an admin to enable it; the bootstrap secret was not used"));
        }
    };
    // Re-enrollment revoked the earlier keys.
    super::token_cache::changed(state, agent.workspace_id, agent.id).await;
    let audit_id = state
        .audit
        .record(
            AuditEvent::new(Actor::Agent(agent.id), actions::AGENT_ENROLLED)
                .workspace(agent.workspace_id)
                .agent(agent.id)
                .target("agent", agent.id.to_string())
                .outcome(Outcome::Success)
                .source_ip(ip)
                .details(json!({
                    "kid": key.kid,
                    "alg": key.alg.as_str(),
                    "thumbprint": key.thumbprint,
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Enrolled { agent, audit_id })
}

/// Audit a refused enrollment (buffered: refusals can come in floods).
async fn record_refusal(state: &AppState, reason: &'static str, ip: IpAddr) {
    let event = AuditEvent::new(Actor::System("server"), actions::AGENT_ENROLL_REFUSED)
        .outcome(Outcome::Failure)
        .source_ip(ip)
        .details(json!({ "reason": reason }));
    if let Err(e) = state.audit.record_buffered(event).await {
        tracing::error!(error = %e, "recording a refused enrollment failed");
    }
}

fn invalid_secret() -> ApiError {
    ApiError::unauthorized("invalid or expired bootstrap secret").with_hint(
        "bootstrap secrets work once and expire; ask an admin for a new one (POST /v1/agents/{id}/bootstrap-secret)",
    )
}
