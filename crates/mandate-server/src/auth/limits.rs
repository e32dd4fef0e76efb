//! The rate limits of authentication (people's and agents') and the lockout rule, in one place
//! (they are listed in docs/security.md). Counted in the database, so replicas share them.

use mandate_store::Db;
use mandate_store::people::lockouts::LockoutRule;
use mandate_store::rate_limits;
use time::{Duration, OffsetDateTime};

use crate::error::ApiError;

/// At most `max` attempts per `window` per key (usually the client's IP).
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub name: &'static str,
    pub max: i64,
    pub window: Duration,
}

/// Sign-in attempts per IP (on top of the per-account lockout).
pub const LOGIN_PER_IP: Limit = Limit {
    name: "login",
    max: 30,
    window: Duration::minutes(1),
};
/// First-run setup attempts per IP: the setup token has 256 bits, this only slows noise.
pub const SETUP_PER_IP: Limit = Limit {
    name: "setup",
    max: 10,
    window: Duration::minutes(15),
};
/// Public sign-ups per IP.
pub const REGISTER_PER_IP: Limit = Limit {
    name: "register",
    max: 10,
    window: Duration::hours(1),
};
/// Invitation acceptances per IP.
pub const INVITE_ACCEPT_PER_IP: Limit = Limit {
    name: "invite_accept",
    max: 20,
    window: Duration::minutes(15),
};
/// Second-factor attempts per session (failures also count toward the account lockout).
pub const MFA_PER_SESSION: Limit = Limit {
    name: "mfa",
    max: 10,
    window: Duration::minutes(5),
};

/// Agent enrollments (`POST /v1/agents/bootstrap`) per IP.
pub const AGENT_ENROLL_PER_IP: Limit = Limit {
    name: "agent_enroll",
    max: 5,
    window: Duration::minutes(1),
};
/// Agent token exchanges and key additions (`POST /v1/agents/token`, `POST /v1/agents/keys`)
/// per IP.
pub const AGENT_TOKEN_PER_IP: Limit = Limit {
    name: "agent_token",
    max: 30,
    window: Duration::minutes(1),
};

/// 5 failed sign-ins (passwords or second factors) within 15 minutes lock the account for 15
/// minutes. Unknown addresses lock the same way, so a lockout reveals nothing.
pub const LOGIN_LOCKOUT: LockoutRule = LockoutRule {
    max_failures: 5,
    window: Duration::minutes(15),
    lock_for: Duration::minutes(15),
};

impl Limit {
    /// The counter's name for `key` (usually the client's IP).
    pub fn bucket(self, key: &str) -> String {
        format!("{}:{key}", self.name)
    }
}

/// Count one attempt; 429 with `Retry-After` once over the limit.
pub async fn check(db: &Db, limit: Limit, key: &str, now: OffsetDateTime) -> Result<(), ApiError> {
    let hits = rate_limits::hit(db, &limit.bucket(key), limit.window, now).await?;
    if hits.count > limit.max {
        return Err(over_limit(hits.window_ends, now));
    }
    Ok(())
}

/// The 429 for a full window ending at `window_ends`.
pub fn over_limit(window_ends: OffsetDateTime, now: OffsetDateTime) -> ApiError {
    let wait = (window_ends - now).whole_seconds().max(1) as u64;
    ApiError::too_many("too many attempts; try again later", wait)
}

/// A hit not counted yet: counted by whatever comes first, a database read, a refusal, or the
/// write the request was for (which counts it in the same statement on PostgreSQL).
#[derive(Clone, Debug)]
pub struct Pending {
    pub limit: Limit,
    pub key: String,
}

impl Pending {
    /// Count it now if it is still pending.
    pub async fn count(
        slot: &mut Option<Pending>,
        db: &Db,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        match slot.take() {
            Some(p) => check(db, p.limit, &p.key, now).await,
            None => Ok(()),
        }
    }
}

/// The answer while an account is locked. Same for every address, known or not.
pub fn locked(until: OffsetDateTime, now: OffsetDateTime) -> ApiError {
    let wait = (until - now).whole_seconds().max(1) as u64;
    ApiError::too_many("too many failed sign-ins; try again later", wait)
}
