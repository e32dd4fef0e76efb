//! What every handler can reach.

use std::sync::Arc;

use mandate_store::Db;
use mandate_store::change_bus::ChangeBus;

use crate::agents::key_cache::AgentKeyCache;
use crate::audit::AuditLog;
use crate::auth::passkeys::Passkeys;
use crate::auth::passwords::Passwords;
use crate::config::Config;
use crate::connections::access::RefreshLocks;
use crate::connections::catalog::Catalog;
use crate::policies::cache::PolicyCache;
use crate::signing::SigningKeys;
use crate::vault::Vault;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub bus: ChangeBus,
    pub config: Arc<Config>,
    pub vault: Vault,
    pub signing: SigningKeys,
    pub audit: AuditLog,
    pub passwords: Passwords,
    pub passkeys: Passkeys,
    /// Agents' public keys for the token exchange (a per-replica hint; see its module).
    pub agent_keys: Arc<AgentKeyCache>,
    /// Agents' access tokens looked up recently (see its module for what drops them).
    pub agent_tokens: Arc<crate::agents::token_cache::AgentTokenCache>,
    /// The provider catalog, validated at start.
    pub catalog: Arc<Catalog>,
    /// SSRF-safe outbound HTTP (one connection pool for the process).
    pub egress: mandate_egress::Egress,
    /// One refresh per connection at a time on this replica (the database lock does the rest).
    pub refresh_locks: Arc<RefreshLocks>,
    /// Compiled policies of this replica, dropped through the change bus.
    pub policies: Arc<PolicyCache>,
    /// Connections read recently (sealed credentials only; see its module).
    pub connections: Arc<crate::connections::cache::ConnectionCache>,
    /// The policies' hourly request counters.
    pub policy_limits: crate::gateway::rate_limit::PolicyLimits,
}
