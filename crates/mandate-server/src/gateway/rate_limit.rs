//! Requests per hour per policy: one fixed hourly window per policy, counted by an atomic
//! upsert in the database (`rate_limit_windows`), so the limit holds across replicas.

use mandate_policy::CompiledPolicy;
use mandate_store::rate_limits;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// Count this request against the policy's hourly limit; 429 past it.
pub async fn take(
    app: &AppState,
    policy_id: Uuid,
    policy: &CompiledPolicy,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let Some(limits) = policy.rate_limits() else {
        return Ok(());
    };
    let bucket = format!("policy:{policy_id}");
    let hits = rate_limits::hit(&app.db, &bucket, Duration::hours(1), now).await?;
    if hits.count > i64::from(limits.max_requests_per_hour) {
        let wait = (hits.window_ends - now).whole_seconds().max(1) as u64;
        return Err(ApiError::too_many(
            format!(
                "rate limited: the policy allows {} requests per hour",
                limits.max_requests_per_hour
            ),
            wait,
        )
        .with_hint(format!("retry after {wait} seconds")));
    }
    Ok(())
}
