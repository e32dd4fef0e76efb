//! Events that are worth a notice only in numbers: an agent failing authentication again and
//! again, a policy refusing requests for its rate limit on and on, and data keys due for
//! rotation. Counted in the shared fixed-window counters, so exactly one replica sees the count
//! reach the threshold and one notice goes out per window.

use mandate_store::rate_limits;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{EventType, Notice, notify};
use crate::state::AppState;

/// Authentication failures of one agent within [`AUTH_FAILURE_WINDOW`] that make a notice.
pub const AUTH_FAILURE_THRESHOLD: i64 = 10;
pub const AUTH_FAILURE_WINDOW: Duration = Duration::minutes(10);
/// Requests a policy refuses for its hourly limit, in one hour, that make a notice.
pub const SUSTAINED_RATE_LIMIT: i64 = 20;

/// Count one failed authentication of `agent_id` (in the background).
pub fn agent_auth_failed(app: &AppState, workspace_id: Uuid, agent_id: Uuid) {
    let app = app.clone();
    tokio::spawn(async move {
        let now = OffsetDateTime::now_utc();
        let bucket = format!("{}agent_auth:{agent_id}", rate_limits::NOTICE_PREFIX);
        match rate_limits::hit(&app.db, &bucket, AUTH_FAILURE_WINDOW, now).await {
            Ok(hits) if hits.count == AUTH_FAILURE_THRESHOLD => {
                let notice = Notice::new(
                    EventType::AgentAuthFailures,
                    workspace_id,
                    format!(
                        "Agent {agent_id} failed to authenticate {AUTH_FAILURE_THRESHOLD} times within {} minutes",
                        AUTH_FAILURE_WINDOW.whole_minutes()
                    ),
                )
                .line("A stolen or stale key, or a misconfigured agent: see the audit log (agent.assertion.refused, agent.token.rejected).")
                .data(json!({
                    "agentId": agent_id,
                    "failures": hits.count,
                    "windowMinutes": AUTH_FAILURE_WINDOW.whole_minutes(),
                }));
                notify(&app, notice);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "counting an agent's authentication failures"),
        }
    });
}

/// A policy's hourly counter reached `count` against a limit of `limit`: a notice when the
/// refusals past the limit reach [`SUSTAINED_RATE_LIMIT`] (once per window).
pub fn policy_rate_limited(
    app: &AppState,
    workspace_id: Uuid,
    policy_id: Uuid,
    limit: u32,
    count: i64,
) {
    if count != i64::from(limit) + SUSTAINED_RATE_LIMIT {
        return;
    }
    let notice = Notice::new(
        EventType::RateLimitSustained,
        workspace_id,
        format!(
            "Policy {policy_id} refused {SUSTAINED_RATE_LIMIT} requests this hour for its rate limit ({limit} per hour)"
        ),
    )
    .line("An agent keeps calling past its limit: a loop, or a limit set too low.")
    .data(json!({
        "policyId": policy_id,
        "maxRequestsPerHour": limit,
        "refused": SUSTAINED_RATE_LIMIT,
    }));
    notify(app, notice);
}

/// Notice every workspace whose data key is past its rotation age (once a day).
pub async fn key_rotations_due(app: &AppState) {
    let now = OffsetDateTime::now_utc();
    let keys = match mandate_store::data_keys::list(&app.db).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(error = %e, "checking key rotation ages");
            return;
        }
    };
    for overdue in crate::vault::status::overdue_data_keys(&keys, now) {
        let bucket = format!(
            "{}key_rotation_due:{}",
            rate_limits::NOTICE_PREFIX,
            overdue.workspace_id
        );
        match rate_limits::hit(&app.db, &bucket, Duration::days(1), now).await {
            Ok(hits) if hits.count == 1 => {
                let notice = Notice::new(
                    EventType::KeyRotationDue,
                    overdue.workspace_id,
                    format!(
                        "The workspace's data key is {} days old: rotation is due",
                        overdue.age_days
                    ),
                )
                .line("An owner rotates it with POST /v1/keys/rotate-dek.")
                .data(json!({ "kid": overdue.kid, "ageDays": overdue.age_days }));
                notify(app, notice);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "counting key rotation notices"),
        }
    }
}
