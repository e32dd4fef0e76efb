//! Forget what has expired: sessions past their idle or absolute timeout, rate-limit windows
//! and lockouts that no longer count, setup tokens past their 24 hours, passkey ceremonies past
//! their 5 minutes, agent access tokens and client assertion ids past their lifetimes, agent
//! bootstrap secrets a day after they expired or were used, OAuth connect flows past their 10
//! minutes, notification deliveries finished 30 days ago. Requests already treat
//! these as gone; this keeps the tables small.

use std::time::Duration;

use mandate_store::agents::{bootstrap, tokens as agent_tokens};
use mandate_store::connections::flows;
use mandate_store::notifications::deliveries;
use mandate_store::people::{lockouts, passkeys, sessions, setup};
use mandate_store::{Db, StoreError, rate_limits};
use time::OffsetDateTime;

use crate::auth::limits::LOGIN_LOCKOUT;

pub const INTERVAL: Duration = Duration::from_secs(600);
/// Longer than the longest rate-limit window (1 hour).
const WINDOW_RETENTION: time::Duration = time::Duration::hours(2);
/// Longer than the longest notice window (1 day, `notifications::thresholds`).
const NOTICE_WINDOW_RETENTION: time::Duration = time::Duration::days(2);
/// Finished notification deliveries stay in the delivery log this long.
const DELIVERY_RETENTION: time::Duration = time::Duration::days(30);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub sessions: u64,
    pub rate_limit_windows: u64,
    pub lockouts: u64,
    pub setup_tokens: u64,
    pub passkey_ceremonies: u64,
    /// Expired agent access tokens and assertion ids.
    pub agent_tokens: u64,
    pub bootstrap_secrets: u64,
    pub connect_flows: u64,
    /// Delivered or failed notifications past the delivery log's retention.
    pub notification_deliveries: u64,
}

pub async fn run_once(
    db: &Db,
    session_idle_timeout: Duration,
    now: OffsetDateTime,
) -> Result<Removed, StoreError> {
    let idle =
        time::Duration::try_from(session_idle_timeout).unwrap_or(time::Duration::minutes(30));
    Ok(Removed {
        sessions: sessions::delete_expired(db, now, now - idle).await?,
        rate_limit_windows: rate_limits::delete_before(
            db,
            now - WINDOW_RETENTION,
            now - NOTICE_WINDOW_RETENTION,
        )
        .await?,
        lockouts: lockouts::delete_stale(db, now - LOGIN_LOCKOUT.window).await?,
        setup_tokens: setup::delete_expired_tokens(db, now).await?,
        passkey_ceremonies: passkeys::delete_expired_ceremonies(db, now).await?,
        agent_tokens: agent_tokens::delete_expired(db, now).await?,
        bootstrap_secrets: bootstrap::delete_stale(db, now - time::Duration::days(1)).await?,
        connect_flows: flows::delete_expired(db, now).await?,
        notification_deliveries: deliveries::delete_finished_before(db, now - DELIVERY_RETENTION)
            .await?,
    })
}

/// Run [`run_once`] every [`INTERVAL`] for as long as the process lives.
pub fn spawn(db: Db, session_idle_timeout: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        loop {
            tick.tick().await;
            match run_once(&db, session_idle_timeout, OffsetDateTime::now_utc()).await {
                Ok(removed) => tracing::debug!(?removed, "expired rows removed"),
                Err(e) => {
                    tracing::warn!(error = %e, "cleanup of expired rows failed; retrying later")
                }
            }
        }
    });
}
