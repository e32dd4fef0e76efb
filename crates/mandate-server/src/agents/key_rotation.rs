//! `POST /v1/agents/keys`: an enrolled agent adds a key. The request carries the new public key
//! and a client assertion signed by a current key whose `cnf.jkt` claim is the new key's RFC 7638
//! thumbprint, so the assertion cannot be used to add any other key. The old key keeps working
//! until it is revoked (`DELETE /v1/agents/keys/{kid}`).

use std::net::IpAddr;

use mandate_crypto::agent_auth::AgentPublicKey;
use mandate_store::agents::Agent;
use mandate_store::agents::keys::{self, AgentKey, NewKey};
use mandate_store::agents::tokens as agent_tokens;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::assertion_check::{self, Refusal};
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::error::ApiError;
use crate::state::AppState;

pub const ENDPOINT: &str = "/v1/agents/keys";

pub struct Added {
    pub agent: Agent,
    pub key: AgentKey,
    pub audit_id: uuid::Uuid,
}

pub async fn add_key(
    state: &AppState,
    assertion: &str,
    public_key: &Value,
    audiences: &[String],
    ip: IpAddr,
) -> Result<Added, ApiError> {
    let new_key =
        AgentPublicKey::from_jwk(public_key).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let now = OffsetDateTime::now_utc();
    let authenticated =
        match assertion_check::check(state, assertion, audiences, now, true, &mut None).await? {
            Ok(a) => a,
            Err(refusal) => return Err(assertion_check::refuse(state, refusal, ENDPOINT, ip).await),
        };
    if authenticated.checked.claims["cnf"]["jkt"].as_str() != Some(new_key.thumbprint.as_str()) {
        let refusal = Refusal::invalid("cnf_jkt_not_the_new_key", Some(authenticated.agent));
        return Err(assertion_check::refuse(state, refusal, ENDPOINT, ip).await);
    }
    let jti_expires_at =
        OffsetDateTime::from_unix_timestamp(authenticated.checked.replay_window_ends)
            .map_err(|e| ApiError::internal(&e))?;
    let agent = authenticated.agent;
    if agent_tokens::record_jti(
        &state.db,
        agent.id,
        &authenticated.checked.jti,
        jti_expires_at,
    )
    .await?
    .is_err()
    {
        let refusal = Refusal::invalid("replayed_jti", Some(agent));
        return Err(assertion_check::refuse(state, refusal, ENDPOINT, ip).await);
    }
    let jwk = new_key.jwk.to_string();
    let key = keys::add(
        &state.db,
        agent.id,
        NewKey {
            kid: &new_key.kid,
            alg: new_key.alg.as_str(),
            thumbprint: &new_key.thumbprint,
            public_jwk: &jwk,
        },
        now,
    )
    .await?;
    state.agent_keys.forget(agent.id);
    let audit_id = state
        .audit
        .record(
            AuditEvent::new(Actor::Agent(agent.id), actions::AGENT_KEY_ADDED)
                .workspace(agent.workspace_id)
                .agent(agent.id)
                .target("agent_key", key.kid.clone())
                .outcome(Outcome::Success)
                .source_ip(ip)
                .details(json!({
                    "kid": key.kid,
                    "alg": key.alg,
                    "thumbprint": key.thumbprint,
                    "signedWith": authenticated.key.kid,
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Added {
        agent,
        key,
        audit_id,
    })
}
