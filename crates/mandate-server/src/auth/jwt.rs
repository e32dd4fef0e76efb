//! Short-lived JWTs for people's scripts (`POST /api/auth/token`): signed with the current
//! signing key, verifiable by anyone through `/.well-known/jwks.json`, and bound to the session
//! they came from (`sid`), so logging out ends them too.

use mandate_store::people::Role;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::Config;

/// Five minutes.
pub const LIFETIME_SECONDS: i64 = 300;
/// Sets these tokens apart from anything else the signing key signs (audit checkpoints).
pub const AUDIENCE: &str = "mandate-api";

/// The issuer: the public URL, or `mandate` without one (development).
pub fn issuer(config: &Config) -> String {
    config.public_url.as_ref().map_or_else(
        || "mandate".to_string(),
        |u| u.as_str().trim_end_matches('/').to_string(),
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserClaims {
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub role: Role,
    pub session_id: Uuid,
}

impl UserClaims {
    pub fn to_json(&self, issuer: &str, now: OffsetDateTime) -> Value {
        let iat = now.unix_timestamp();
        json!({
            "iss": issuer,
            "aud": AUDIENCE,
            "sub": self.user_id.to_string(),
            "ws": self.workspace_id.to_string(),
            "role": self.role.as_str(),
            "sid": self.session_id.to_string(),
            "iat": iat,
            "nbf": iat,
            "exp": iat + LIFETIME_SECONDS,
            "jti": Uuid::new_v4().to_string(),
        })
    }

    /// The claims of a token whose signature checked out; the reason when they do not hold.
    pub fn check(
        claims: &Value,
        issuer: &str,
        now: OffsetDateTime,
    ) -> Result<UserClaims, &'static str> {
        if claims["iss"].as_str() != Some(issuer) {
            return Err("JWT issuer");
        }
        if claims["aud"].as_str() != Some(AUDIENCE) {
            return Err("JWT audience");
        }
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err("JWT without iat or exp");
        };
        let now = now.unix_timestamp();
        // Ours are never longer-lived than this; 30 s of leeway for clocks of other replicas.
        if exp <= now || iat > now + 30 || exp - iat > LIFETIME_SECONDS {
            return Err("JWT expired or not yet valid");
        }
        let uuid = |name: &str| claims[name].as_str().and_then(|s| Uuid::parse_str(s).ok());
        let (Some(user_id), Some(workspace_id), Some(session_id)) =
            (uuid("sub"), uuid("ws"), uuid("sid"))
        else {
            return Err("JWT subject, workspace or session");
        };
        let role = claims["role"]
            .as_str()
            .and_then(|r| Role::parse(r).ok())
            .ok_or("JWT role")?;
        Ok(UserClaims {
            user_id,
            workspace_id,
            role,
            session_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> UserClaims {
        UserClaims {
            user_id: Uuid::new_v4(),
            workspace_id: Uuid::new_v4(),
            role: Role::Operator,
            session_id: Uuid::new_v4(),
        }
    }

    #[test]
    fn claims_round_trip_and_every_check_can_fail() {
        let now = OffsetDateTime::now_utc();
        let c = claims();
        let json = c.to_json("https://m.example", now);
        assert_eq!(UserClaims::check(&json, "https://m.example", now), Ok(c));
        assert!(UserClaims::check(&json, "https://other", now).is_err());
        let later = now + time::Duration::seconds(LIFETIME_SECONDS + 1);
        assert!(UserClaims::check(&json, "https://m.example", later).is_err());
        for (field, value) in [
            ("aud", json!("x")),
            ("role", json!("root")),
            ("sid", json!("nope")),
            ("exp", json!(now.unix_timestamp() + 3600)),
        ] {
            let mut bad = json.clone();
            bad[field] = value;
            assert!(
                UserClaims::check(&bad, "https://m.example", now).is_err(),
                "{field}"
            );
        }
    }
}
