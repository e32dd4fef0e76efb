//! Agents proving who they are: [`enrollment`] with a single-use bootstrap secret,
//! [`token_exchange`] of RFC 7523 client assertions for short-lived access tokens,
//! [`key_rotation`] signed by the current key, and the [`principal`] that agent routes see.
//! [`assertion_check`] is the part the exchange and the rotation share, over the per-replica
//! [`key_cache`]; [`audience`] says which `aud` values this server answers to. The routes are in `api/agents`.

pub mod assertion_check;
pub mod audience;
pub mod enrollment;
pub mod key_cache;
pub mod key_rotation;
pub mod principal;
pub mod token_cache;
pub mod token_exchange;

use serde_json::{Value, json};

use mandate_store::agents::Agent;
use mandate_store::agents::keys::AgentKey;

use crate::api::auth::time_json;

/// An agent as the API shows it (never a secret: keys are public).
pub fn agent_json(agent: &Agent, keys: &[AgentKey]) -> Value {
    json!({
        "id": agent.id,
        "agentId": agent.id,
        "workspaceId": agent.workspace_id,
        "name": agent.name,
        "description": agent.description,
        "ownerId": agent.owner_id,
        "status": agent.status.as_str(),
        "createdAt": time_json(agent.created_at),
        "lastSeenAt": agent.last_seen_at.map(time_json),
        "keys": keys.iter().map(key_json).collect::<Vec<_>>(),
    })
}

pub fn key_json(key: &AgentKey) -> Value {
    json!({
        "kid": key.kid,
        "alg": key.alg,
        "thumbprint": key.thumbprint,
        "createdAt": time_json(key.created_at),
        "lastUsedAt": key.last_used_at.map(time_json),
        "revokedAt": key.revoked_at.map(time_json),
    })
}
