//! Connections: a person's account at a provider, linked to Mandate with its credential in the
//! vault.
//!
//! - [`catalog`]: what each provider is, where its credential may go, how it is injected and
//!   refreshed.
//! - [`connect`]: the OAuth connect flow (PKCE S256, single-use state bound to the session) and
//!   pasted API keys and bot tokens, checked with the catalog's validation call.
//! - [`access`]: a connection's credential for use, refreshed once across all replicas.
//! - [`revoke`]: revocation at the provider and deletion of the ciphertext.
//! - [`credential`], [`injection`], [`oauth_client`]: what is sealed, how it is sent, and the
//!   provider's OAuth endpoints.

pub mod access;
pub mod cache;
pub mod catalog;
pub mod connect;
pub mod credential;
pub mod injection;
pub mod oauth_client;
pub mod revoke;

use mandate_store::connections::Connection;

use crate::audit::{Actor, AuditEvent};

/// An audit event about connection `c`: its workspace, its target and its connection id.
pub fn audit_event(actor: Actor, action: &'static str, c: &Connection) -> AuditEvent {
    let event = AuditEvent::new(actor, action)
        .workspace(c.workspace_id)
        .target("connection", c.id.clone());
    match uuid::Uuid::parse_str(&c.id) {
        Ok(id) => event.connection(id),
        Err(_) => event,
    }
}

/// The hosts `c`'s credential may be sent to: the admin's list for a generic provider, else the
/// service's hosts when it names some, else the provider's.
pub fn allowed_hosts<'a>(catalog: &'a catalog::Catalog, c: &'a Connection) -> &'a [String] {
    if !c.api_hosts.is_empty() {
        return &c.api_hosts;
    }
    let Some(provider) = catalog.get(&c.provider) else {
        return &[];
    };
    c.service
        .as_deref()
        .and_then(|id| provider.services.iter().find(|s| s.id == id))
        .filter(|s| !s.api_hosts.is_empty())
        .map_or(&provider.api_hosts, |s| &s.api_hosts)
}
