//! Start and stop. [`Server::start`] runs the checks in order (production secrets, development
//! key, database, migrations, key encryption key provider and data keys, change bus, signing keys,
//! audit log, listening socket) and fails with one clear error;
//! [`Server::run`] serves until the shutdown future resolves, then drains in-flight requests for
//! up to the grace period, writes every queued audit record and signs a closing checkpoint.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use mandate_store::change_bus::{ChangeBus, ChangeEvent, Subscription};
use mandate_store::{Db, StoreError};
use tokio::net::TcpListener;

use crate::audit::checkpoint::sign_checkpoint;
use crate::audit::{self, Actor, AuditEvent, AuditLog, Outcome, actions};
use crate::auth::passwords::Passwords;
use crate::config::dev_key::{self, DevKey};
use crate::config::{Config, ConfigError, RunMode, production};
use crate::http::{self, HttpSettings};
use crate::signing::{SigningKeys, SigningKeysError};
use crate::state::AppState;
use crate::vault::{
    DEFAULT_CACHE_CAPACITY, ProviderError, Vault, VaultError, kek_from_config, previous_key_setting,
};

/// Why the server did not start. Each displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Vault(#[from] VaultError),
    #[error("signing keys: {0}")]
    Signing(String),
    #[error("audit log: {0}")]
    Audit(String),
    #[error("cannot listen on {addr} (MANDATE_HOST/MANDATE_PORT): {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// How long one call to a provider (token endpoint, validation call) may take.
const OUTBOUND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

pub struct Server {
    listener: TcpListener,
    app: Router,
    state: AppState,
    /// The notification delivery worker (stopped with the server, also when it never runs).
    notifier: AbortOnDrop,
    /// Announces audit activity for live event streams.
    activity: AbortOnDrop,
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Server {
    pub async fn start(mut config: Config) -> Result<Server, StartError> {
        production::check(&config)?;
        if config.mode == RunMode::Development {
            tracing::warn!(
                "running in DEVELOPMENT mode: secrets are generated and checks relaxed; set MANDATE_ENV=production for real use"
            );
        }
        match dev_key::ensure(&mut config)? {
            Some(DevKey::Generated(path)) => tracing::warn!(
                path = %path.display(),
                "DEVELOPMENT KEY GENERATED: a new encryption key was written next to the data. Anyone who can read it can decrypt every stored secret. Production needs ENCRYPTION_KEY."
            ),
            Some(DevKey::Reused(path)) => tracing::warn!(
                path = %path.display(),
                "DEVELOPMENT KEY IN USE: the encryption key is read from a file next to the data. Production needs ENCRYPTION_KEY."
            ),
            None => {}
        }

        // Before any connection: a catalog mistake is a configuration error.
        let catalog =
            crate::connections::catalog::Catalog::load(config.provider_catalog_file.as_deref())
                .map_err(|e| {
                    ConfigError::new("provider catalog (PROVIDER_CATALOG_FILE)", e.to_string())
                })?;

        let db = Db::connect(&config.database_options()).await?;
        let report = db.migrate().await?;
        tracing::info!(
            backend = %db.backend(),
            schema_version = report.version,
            migrations_applied = report.applied,
            "database ready"
        );
        let vault = start_vault(&config, &db).await?;
        let bus = ChangeBus::start(&db).await?;
        let signing = SigningKeys::start(&config, &db, &vault)
            .await
            .map_err(|e| match e {
                SigningKeysError::Config(e) => StartError::Config(e),
                other => StartError::Signing(other.to_string()),
            })?;
        signing.spawn_refresh(&bus);
        vault.spawn_cache_invalidation(&bus);
        let audit = start_audit(&config, &db, &vault, &signing).await?;
        spawn_rewrap(&vault, &audit);
        tokio::spawn(observe_changes(bus.subscribe()));

        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
        // Port 0 asks for any free port: links built from the listen address need the real one.
        if let Ok(bound) = listener.local_addr() {
            config.listen = bound;
        }
        crate::auth::setup_token::announce(&config, &db).await?;
        crate::jobs::cleanup::spawn(db.clone(), config.auth.session_idle_timeout);
        let passwords = Passwords::new(config.auth.password)
            .map_err(|e| ConfigError::new("PASSWORD_HASH_*", e.to_string()))?;
        let passkeys = crate::auth::passkeys::Passkeys::from_config(&config)?;
        if let Some(reason) = passkeys.unavailable() {
            tracing::warn!("{reason}: passkeys are off");
        }
        let egress = start_egress(&config)?;
        if config.ssrf_allow_private {
            tracing::warn!(
                "SSRF_ALLOW_PRIVATE is on: outbound requests may reach loopback and private addresses"
            );
        }
        let policies = std::sync::Arc::new(crate::policies::cache::PolicyCache::default());
        policies.spawn_invalidation(&bus);
        let settings = HttpSettings::from(&config);
        let policy_limits = crate::gateway::rate_limit::PolicyLimits::new(db.clone());
        let agent_tokens = crate::agents::token_cache::new_cache();
        crate::agents::token_cache::spawn_invalidation(&agent_tokens, &bus);
        let connections = crate::connections::cache::new_cache();
        crate::connections::cache::spawn_invalidation(&connections, &bus);
        let state = AppState {
            db,
            bus,
            config: std::sync::Arc::new(config),
            vault,
            signing,
            audit,
            passwords,
            passkeys,
            agent_keys: Default::default(),
            agent_tokens,
            connections,
            catalog: std::sync::Arc::new(catalog),
            egress,
            refresh_locks: Default::default(),
            policies: policies.clone(),
            policy_limits,
        };
        let app = http::with_middleware(
            crate::api::routes(&state).with_state(state.clone()),
            &settings,
        );
        let notifier = AbortOnDrop(crate::notifications::worker::spawn(state.clone()));
        let activity = AbortOnDrop(crate::audit::activity::spawn(
            state.audit.clone(),
            state.bus.clone(),
        ));
        Ok(Server {
            listener,
            app,
            state,
            notifier,
            activity,
        })
    }

    /// What handlers reach (for tests and embedding).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` resolves; then stop accepting, let in-flight requests finish for
    /// up to the configured grace period, write the hourly counts kept in memory, the queued
    /// audit records and a closing checkpoint, and close the database.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.listener.local_addr()?;
        tracing::info!(addr = %addr, mode = ?self.state.config.mode, "listening");
        let grace = self.state.config.shutdown_grace;
        serve_until(self.listener, self.app, shutdown, grace).await?;
        drop(self.notifier);
        drop(self.activity);
        if let Err(e) = self.state.policy_limits.flush().await {
            tracing::warn!(error = %e, "writing the policies' hourly counts failed");
        }
        let lost = self.state.audit.close().await;
        if lost == 0 {
            tracing::info!("audit records flushed");
        }
        if let Err(e) = sign_checkpoint(
            &self.state.db,
            &self.state.signing.current(),
            &checkpoint_issuer(&self.state.config),
        )
        .await
        {
            tracing::warn!(error = %e, "signing the closing audit checkpoint failed");
        }
        drop(self.state.bus);
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Serve `app` until `shutdown` resolves; then stop accepting connections and wait for the
/// requests in flight, for at most `grace`, before returning.
pub async fn serve_until(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    let graceful = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!(
            grace_seconds = grace.as_secs(),
            "shutting down: draining in-flight requests"
        );
        let _ = stopping_tx.send(true);
    });
    let deadline = async move {
        let _ = stopping_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = graceful.into_future() => served?,
        () = deadline => tracing::warn!("grace period over: closing the connections still open"),
    }
    Ok(())
}

/// The key encryption key and the vault over it. The provider must answer a wrap/unwrap round
/// trip, and every stored data key must be wrapped by a KEK this process holds, or the start
/// stops. Data keys still wrapped by an older held KEK (ENCRYPTION_KEY_PREVIOUS, an older Transit
/// version, ...) are re-wrapped in the background.
async fn start_vault(config: &Config, db: &Db) -> Result<Vault, StartError> {
    let kek = kek_from_config(config).await.map_err(|e| match e {
        ProviderError::Config(e) => StartError::Config(e),
        ProviderError::Vault(e) => StartError::Vault(e),
    })?;
    kek.self_test().await.map_err(VaultError::from)?;
    tracing::info!(
        provider = kek.provider(),
        kek_id = kek.current_id(),
        "key encryption key ready"
    );
    let vault = Vault::new(db.clone(), kek, DEFAULT_CACHE_CAPACITY);
    vault.check_every_dek_is_reachable().await?;
    vault.record_current_kek().await?;
    Ok(vault)
}

/// The chain keys (the first one generated on first start), the writer task, and the periodic
/// checkpoints.
async fn start_audit(
    config: &Config,
    db: &Db,
    vault: &Vault,
    signing: &SigningKeys,
) -> Result<AuditLog, StartError> {
    let log = audit::open(db, vault, Actor::System("server"))
        .await
        .map_err(|e| StartError::Audit(e.to_string()))?;
    audit::checkpoint::spawn_checkpoints(
        db.clone(),
        signing.clone(),
        checkpoint_issuer(config),
        config.audit_checkpoint_interval,
    );
    Ok(log)
}

/// Who signs checkpoints: the same issuer as the JWTs people get.
fn checkpoint_issuer(config: &Config) -> String {
    crate::auth::jwt::issuer(config)
}

/// Data keys still wrapped by an older held KEK (ENCRYPTION_KEY_PREVIOUS, an older Transit
/// version, ...) are re-wrapped in the background, and the result audited.
fn spawn_rewrap(vault: &Vault, audit: &AuditLog) {
    if vault.kek().held_ids().len() <= 1 {
        return;
    }
    let (vault, audit) = (vault.clone(), audit.clone());
    tokio::spawn(async move {
        let event = AuditEvent::new(Actor::System("server"), actions::KEK_REWRAPPED)
            .target("kek", vault.kek().current_id());
        let event = match vault.rewrap_to_current().await {
            Ok(report) => {
                tracing::info!(
                    rewrapped = report.rewrapped,
                    already_done = report.skipped,
                    next_step = previous_key_setting(vault.kek().provider())
                        .map(|s| format!("{s} can be removed"))
                        .unwrap_or_else(|| "older key versions can be retired".into()),
                    "data keys re-wrapped under the current key encryption key"
                );
                if report.rewrapped == 0 {
                    return;
                }
                event.outcome(Outcome::Success).details(serde_json::json!({
                    "provider": vault.kek().provider(),
                    "rewrapped": report.rewrapped,
                }))
            }
            Err(e) => {
                tracing::error!(error = %e, "re-wrapping data keys failed; it resumes at the next start");
                event
                    .outcome(Outcome::Error)
                    .details(serde_json::json!({ "error": e.to_string() }))
            }
        };
        if let Err(e) = audit.record(event).await {
            tracing::error!(error = %e, "recording the re-wrap in the audit log failed");
        }
    });
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot watch SIGTERM; only Ctrl-C will stop the server");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => tracing::info!(signal = "SIGTERM", "shutdown requested"),
        _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutdown requested"),
    }
}

/// Logs what the change bus delivers. Caches will subscribe the same way.
async fn observe_changes(mut changes: Subscription) {
    while let Some(event) = changes.recv().await {
        match event {
            ChangeEvent::Changed(change) => tracing::debug!(
                topic = ?change.topic,
                workspace_id = ?change.workspace_id,
                id = change.id.as_deref().unwrap_or(""),
                "change observed"
            ),
            ChangeEvent::Resync => {
                tracing::info!("change bus resync: treating everything as changed")
            }
        }
    }
}

/// The outbound client: the SSRF policy and any extra root certificates.
fn start_egress(config: &Config) -> Result<mandate_egress::Egress, StartError> {
    let extra_roots_pem =
        match &config.egress_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                ConfigError::new("EGRESS_CA_FILE", format!("{}: {e}", path.display()))
            })?),
            None => None,
        };
    let policy = mandate_egress::EgressPolicy {
        allow_private: config.ssrf_allow_private,
        exceptions: config.ssrf_allowlist.clone(),
    };
    if !policy.exceptions.is_empty() {
        tracing::info!("SSRF_ALLOWLIST opens named private blocks and hosts to outbound requests");
    }
    mandate_egress::Egress::with_options(
        policy,
        OUTBOUND_TIMEOUT,
        mandate_egress::EgressOptions { extra_roots_pem },
    )
    .map_err(|e| ConfigError::new("outbound HTTP client (EGRESS_CA_FILE)", e.to_string()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_errors_name_the_settings() {
        let e = StartError::Listen {
            addr: "127.0.0.1:80".parse().unwrap(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert!(
            e.to_string()
                .starts_with("cannot listen on 127.0.0.1:80 (MANDATE_HOST/MANDATE_PORT)")
        );
    }
}
