//! `POST /v1/agents/token`: a client assertion for an opaque access token (`mandate_at_...`,
//! stored hashed) valid for `AGENT_TOKEN_TTL_SECONDS`. The assertion's `jti` and the token are
//! written in one transaction, so an assertion buys one token, on any replica.
//!
//! Every request counts once against the per-IP limit, before any database read: a refusal
//! counts it before answering, a cache miss before reading the agent, and otherwise the write
//! counts it (in the same statement on PostgreSQL) and writes nothing when over. With a cached
//! agent, the signature check (pure CPU) comes before the count.

use std::net::IpAddr;

use mandate_crypto::tokens::{self, IssuedToken as Issued, TokenKind};
use mandate_store::agents::tokens::{self as agent_tokens, Exchange, Exchanged, Hit};
use serde_json::json;
use time::OffsetDateTime;

use super::assertion_check::{self, Refusal};
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::limits::{AGENT_TOKEN_PER_IP, Pending, over_limit};
use crate::error::ApiError;
use crate::state::AppState;

pub const ENDPOINT: &str = "/v1/agents/token";

pub struct IssuedToken {
    pub token: Issued,
    pub expires_in: u64,
}

pub async fn exchange(
    state: &AppState,
    assertion: &str,
    audiences: &[String],
    ip: IpAddr,
) -> Result<IssuedToken, ApiError> {
    let now = OffsetDateTime::now_utc();
    let mut pending = Some(Pending {
        limit: AGENT_TOKEN_PER_IP,
        key: ip.to_string(),
    });
    let checked = assertion_check::check(state, assertion, audiences, now, false, &mut pending);
    let authenticated = match checked.await? {
        Ok(a) => a,
        Err(refusal) => {
            Pending::count(&mut pending, &state.db, now).await?;
            return Err(assertion_check::refuse(state, refusal, ENDPOINT, ip).await);
        }
    };
    let bucket = pending.as_ref().map(|p| p.limit.bucket(&p.key));
    let ttl = state.config.agent_token_ttl;
    let token = tokens::issue(TokenKind::AgentAccess).map_err(|e| ApiError::internal(&e))?;
    let jti_expires_at =
        OffsetDateTime::from_unix_timestamp(authenticated.checked.replay_window_ends)
            .map_err(|e| ApiError::internal(&e))?;
    let recorded = agent_tokens::exchange(
        &state.db,
        Exchange {
            agent_id: authenticated.agent.id,
            key_id: authenticated.key.id,
            jti: &authenticated.checked.jti,
            jti_expires_at,
            token_hash: &token.hash.0,
            expires_at: now + ttl,
            now,
            touch: authenticated.entry.take_touch(now),
            hit: bucket.as_deref().map(|bucket| Hit {
                bucket,
                window: AGENT_TOKEN_PER_IP.window,
                max: AGENT_TOKEN_PER_IP.max,
            }),
        },
    )
    .await?;
    match recorded {
        Exchanged::Issued => {}
        Exchanged::Replayed => {
            let refusal = Refusal::invalid("replayed_jti", Some(authenticated.agent));
            return Err(assertion_check::refuse(state, refusal, ENDPOINT, ip).await);
        }
        Exchanged::RateLimited { window_ends } => return Err(over_limit(window_ends, now)),
        Exchanged::NotActive => {
            let (reason, agent) =
                assertion_check::stale_reason(state, authenticated.agent.id).await?;
            let refusal = Refusal::invalid(reason, agent);
            return Err(assertion_check::refuse(state, refusal, ENDPOINT, ip).await);
        }
    }
    state
        .audit
        .record(
            AuditEvent::new(
                Actor::Agent(authenticated.agent.id),
                actions::AGENT_TOKEN_ISSUED,
            )
            .workspace(authenticated.agent.workspace_id)
            .agent(authenticated.agent.id)
            .outcome(Outcome::Success)
            .source_ip(ip)
            .details(json!({
                "kid": authenticated.key.kid,
                "expiresIn": ttl.as_secs(),
            })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(IssuedToken {
        token,
        expires_in: ttl.as_secs(),
    })
}
