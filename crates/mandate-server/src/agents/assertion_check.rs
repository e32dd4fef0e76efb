//! Checking a client assertion against the agent it names: the agent exists and is active, one
//! of its active keys signed it, the claims hold. The `jti` is recorded by the caller, in the
//! same transaction as what the assertion buys. A refusal is audited with its exact reason and
//! answered with `invalid_client` only (plus `"reason": "clock_skew"` for clock problems).

use std::net::IpAddr;
use std::sync::Arc;

use mandate_crypto::agent_auth::{
    AssertionError, AssertionRules, CheckedAssertion, UnverifiedAssertion,
};
use mandate_store::agents::keys::AgentKey;
use mandate_store::agents::{Agent, AgentStatus};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::key_cache::{self, AgentKeys, Source};
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::limits::Pending;
use crate::error::ApiError;
use crate::state::AppState;

/// An assertion that checked out, with its agent and the key that signed it.
pub struct Authenticated {
    pub agent: Agent,
    pub key: AgentKey,
    pub checked: CheckedAssertion,
    /// The cache entry it was checked against (it remembers when the use was last recorded).
    pub entry: Arc<AgentKeys>,
}

/// Why an assertion was refused: for the audit log, never for the caller.
pub struct Refusal {
    pub reason: &'static str,
    pub agent: Option<Agent>,
    pub kind: RefusalKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// 400: not a JWT, or over 8 KiB.
    Malformed,
    /// 401 invalid_client with `"reason": "clock_skew"`.
    ClockSkew,
    /// 401 invalid_client.
    Invalid,
}

impl Refusal {
    pub fn invalid(reason: &'static str, agent: Option<Agent>) -> Refusal {
        Refusal {
            reason,
            agent,
            kind: RefusalKind::Invalid,
        }
    }

    fn from_assertion(e: AssertionError, agent: Option<Agent>) -> Refusal {
        let kind = if e.is_malformed() {
            RefusalKind::Malformed
        } else if e.is_clock_skew() {
            RefusalKind::ClockSkew
        } else {
            RefusalKind::Invalid
        };
        Refusal {
            reason: e.reason(),
            agent,
            kind,
        }
    }
}

/// Check `assertion`. `fresh` reads the agent from the database instead of the key cache (for a
/// key rotation, whose write does not re-check the signing key). A `pending` rate-limit hit is
/// counted before any database read (so reads never outrun the limit); with a cached agent it
/// stays pending for the caller's write.
pub async fn check(
    state: &AppState,
    assertion: &str,
    audiences: &[String],
    now: OffsetDateTime,
    fresh: bool,
    pending: &mut Option<Pending>,
) -> Result<Result<Authenticated, Refusal>, ApiError> {
    let parsed = match UnverifiedAssertion::parse(assertion) {
        Ok(parsed) => parsed,
        Err(e) => return Ok(Err(Refusal::from_assertion(e, None))),
    };
    let rules = AssertionRules {
        audiences,
        now: now.unix_timestamp(),
    };
    let mut fresh = fresh;
    loop {
        let cached = if fresh {
            None
        } else {
            key_cache::cached(state, parsed.agent_id)
        };
        let (entry, source) = match cached {
            Some(entry) => (entry, Source::Cache),
            None => {
                Pending::count(pending, &state.db, now).await?;
                match key_cache::read(state, parsed.agent_id).await? {
                    Some(entry) => (entry, Source::Database),
                    None => return Ok(Err(Refusal::invalid("unknown_agent", None))),
                }
            }
        };
        let agent = entry.agent.clone();
        match agent.status {
            AgentStatus::Active => {}
            AgentStatus::Disabled => {
                return Ok(Err(Refusal::invalid("agent_disabled", Some(agent))));
            }
            AgentStatus::Pending => {
                return Ok(Err(Refusal::invalid("agent_not_enrolled", Some(agent))));
            }
        }
        let candidates: Vec<(&str, &Value)> = entry
            .keys
            .iter()
            .map(|(key, jwk)| (key.kid.as_str(), jwk))
            .collect();
        let checked = match parsed.verify(&candidates, &rules) {
            Ok(checked) => checked,
            // A key added on another replica is not in a cached entry yet: read again, once.
            Err(
                AssertionError::UnknownKid
                | AssertionError::BadSignature
                | AssertionError::KeyMismatch,
            ) if source == Source::Cache => {
                fresh = true;
                continue;
            }
            Err(e) => return Ok(Err(Refusal::from_assertion(e, Some(agent)))),
        };
        let Some(key) = entry.keys.iter().find(|(k, _)| k.kid == checked.kid) else {
            return Ok(Err(Refusal::invalid("unknown_kid", Some(agent))));
        };
        let key = key.0.clone();
        return Ok(Ok(Authenticated {
            agent,
            key,
            checked,
            entry,
        }));
    }
}

/// Why a write refused an agent the check had accepted (it changed meanwhile, maybe on another
/// replica): read it again to say exactly.
pub async fn stale_reason(
    state: &AppState,
    agent_id: uuid::Uuid,
) -> Result<(&'static str, Option<Agent>), ApiError> {
    state.agent_keys.forget(agent_id);
    Ok(match key_cache::read(state, agent_id).await? {
        None => ("unknown_agent", None),
        Some(entry) if entry.agent.status != AgentStatus::Active => {
            ("agent_disabled", Some(entry.agent.clone()))
        }
        Some(entry) => ("key_revoked", Some(entry.agent.clone())),
    })
}

/// Audit the refusal (buffered: refusals can come in floods) and build the answer.
pub async fn refuse(state: &AppState, refusal: Refusal, endpoint: &str, ip: IpAddr) -> ApiError {
    let mut event = AuditEvent::new(Actor::System("server"), actions::AGENT_ASSERTION_REFUSED)
        .outcome(Outcome::Failure)
        .source_ip(ip)
        .details(json!({ "reason": refusal.reason, "endpoint": endpoint }));
    if let Some(agent) = &refusal.agent {
        event = event.workspace(agent.workspace_id).agent(agent.id);
        crate::notifications::thresholds::agent_auth_failed(state, agent.workspace_id, agent.id);
    }
    if let Err(e) = state.audit.record_buffered(event).await {
        tracing::error!(error = %e, "recording a refused client assertion failed");
    }
    match refusal.kind {
        RefusalKind::Malformed => ApiError::bad_request("invalid_request").with_hint(
            "client_assertion must be a compact JWT (header.claims.signature, base64url) of at most 8 KiB",
        ),
        RefusalKind::ClockSkew => ApiError::unauthorized("invalid_client")
            .with_reason("clock_skew")
            .with_hint(
                "the assertion's iat/exp are more than 60 seconds off the server's clock: sync the clock (NTP) and sign a new assertion",
            ),
        RefusalKind::Invalid => ApiError::unauthorized("invalid_client").with_hint(
            "sign a fresh assertion (new jti, exp at most 60 s after iat) with the agent's enrolled key; iss and sub are the agent id, aud this server's URL",
        ),
    }
}
