//! The live activity feed's announcer: once a second, every workspace that had audit records
//! since is announced on the change bus (topic `activity`), so event streams on every replica
//! read and show its newest records. At most one notification per workspace per second per
//! replica, whatever the request rate.

use std::time::Duration;

use mandate_store::change_bus::{Change, ChangeBus, Topic};

use super::AuditLog;

const EVERY: Duration = Duration::from_secs(1);

pub fn spawn(audit: AuditLog, bus: ChangeBus) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            for ws in audit.take_active_workspaces() {
                let change = Change::new(Topic::Activity).in_workspace(ws);
                if let Err(e) = bus.publish(&change).await {
                    tracing::debug!(error = %e, "announcing audit activity failed");
                }
            }
        }
    })
}
