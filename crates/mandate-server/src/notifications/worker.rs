//! The delivery worker every replica runs: each second it takes the due deliveries (leased, so
//! replicas never send the same attempt twice), sends them, and records delivered, retry later,
//! or finally failed. Hourly it also looks for data keys due for rotation.

use std::time::Duration;

use mandate_store::notifications::channels::{self, Channel};
use mandate_store::notifications::deliveries::{self, Delivery, Outcome};
use serde_json::json;
use time::OffsetDateTime;

use super::channel_config::Secrets;
use super::send;
use crate::audit::{Actor, AuditEvent, actions};
use crate::state::AppState;

const TICK: Duration = Duration::from_secs(1);
/// A taken delivery is left to the others after this (its replica died mid-send).
const LEASE: time::Duration = time::Duration::minutes(2);
/// One attempt may take this long (egress and SMTP have their own, shorter limits).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
const BATCH: i64 = 20;
const ROTATION_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// Start the worker; it stops when the handle is aborted (at shutdown).
pub fn spawn(app: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_rotation_check = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            if let Err(e) = run_once(&app).await {
                tracing::warn!(error = %e, "the notification worker could not read its queue");
            }
            if tokio::time::Instant::now() >= next_rotation_check {
                next_rotation_check += ROTATION_CHECK_EVERY;
                super::thresholds::key_rotations_due(&app).await;
            }
        }
    })
}

/// Send what is due now; the number of deliveries attempted.
pub async fn run_once(app: &AppState) -> Result<usize, mandate_store::StoreError> {
    let due = deliveries::claim_due(&app.db, OffsetDateTime::now_utc(), LEASE, BATCH).await?;
    let n = due.len();
    futures_util::future::join_all(due.into_iter().map(|d| attempt(app, d))).await;
    Ok(n)
}

async fn attempt(app: &AppState, d: Delivery) {
    let attempts = d.attempts.saturating_add(1);
    let result = match channels::get(&app.db, d.workspace_id, &d.channel_id).await {
        Ok(Some(channel)) if channel.enabled => send_once(app, &channel, &d).await,
        Ok(Some(_)) => Err("the channel is disabled".to_string()),
        Ok(None) => Err("the channel was deleted".to_string()),
        Err(e) => Err(format!("reading the channel: {e}")),
    };
    let now = OffsetDateTime::now_utc();
    let delays = &app.config.notification_retry_delays;
    let outcome = match result {
        Ok(()) => Outcome::Delivered,
        Err(error) => match usize::try_from(attempts - 1)
            .ok()
            .and_then(|i| delays.get(i))
        {
            Some(wait) => Outcome::Retry {
                at: now + *wait,
                error,
            },
            None => Outcome::Failed { error },
        },
    };
    if let Err(e) = deliveries::finish_attempt(&app.db, d.id, attempts, &outcome, now).await {
        tracing::warn!(error = %e, "recording a notification attempt failed");
    }
    if let Outcome::Failed { error } = &outcome {
        let event = AuditEvent::new(Actor::System("server"), actions::NOTIFICATION_FAILED)
            .workspace(d.workspace_id)
            .target("notification_channel", d.channel_id.clone())
            .outcome(crate::audit::Outcome::Failure)
            .details(json!({
                "deliveryId": d.id,
                "event": d.event,
                "attempts": attempts,
                "error": error,
            }));
        if let Err(e) = app.audit.record(event).await {
            tracing::error!(error = %e, "auditing a failed notification failed");
        }
    }
}

async fn send_once(app: &AppState, channel: &Channel, d: &Delivery) -> Result<(), String> {
    let secrets = open_secrets(app, channel).await?;
    match tokio::time::timeout(ATTEMPT_TIMEOUT, send::deliver(app, channel, &secrets, d)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer within {} seconds",
            ATTEMPT_TIMEOUT.as_secs()
        )),
    }
}

/// The channel's secrets, opened by the vault.
pub async fn open_secrets(app: &AppState, channel: &Channel) -> Result<Secrets, String> {
    let bytes = app
        .vault
        .open(
            channel.workspace_id,
            SECRET_KIND,
            &channel.id,
            &channel.sealed_secret,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "opening a notification channel's secrets");
            "the channel's secrets could not be opened".to_string()
        })?;
    serde_json::from_slice(&bytes).map_err(|_| "the channel's secrets are unreadable".to_string())
}

/// The kind the vault binds channel secrets to (`sealed_columns`).
pub const SECRET_KIND: &str = "notification_secret";
