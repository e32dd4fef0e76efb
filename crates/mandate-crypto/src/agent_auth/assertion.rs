//! RFC 7523 client assertions (`private_key_jwt`): a JWT the agent signs with its private key to
//! get an access token.
//!
//! Two steps, because the key comes from the database in between: [`UnverifiedAssertion::parse`]
//! checks the size and the structure (a malformed assertion is the caller's request error, 400)
//! and says which agent it claims to be; [`UnverifiedAssertion::verify`] checks the signature
//! with one of that agent's keys, then the claims. Every refusal has its own
//! [`AssertionError`], for the audit log; the agent only ever hears "invalid_client".
//! The single use of `jti` is the caller's: it records [`CheckedAssertion::jti`] until
//! [`CheckedAssertion::replay_window_ends`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use uuid::Uuid;

use crate::jwt_verify::{JwtError, decode_json, verify_jwt_with_key};

/// Larger assertions are refused before any parsing or cryptography.
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// `exp - iat` at most this.
pub const MAX_LIFETIME_SECONDS: i64 = 60;
/// Clock differences tolerated on `exp`, `iat` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 60;
const MAX_JTI_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("the assertion is over 8 KiB")]
    TooLarge,
    #[error("malformed assertion: {0}")]
    Malformed(&'static str),
    #[error("`iss` and `sub` must both be the agent id")]
    Issuer,
    #[error("unsupported algorithm (only ES256 and EdDSA)")]
    UnsupportedAlg,
    #[error("no active key of the agent has this kid")]
    UnknownKid,
    #[error("the algorithm is not the key's")]
    KeyMismatch,
    #[error("bad signature")]
    BadSignature,
    #[error("`aud` is not this server")]
    Audience,
    #[error("`exp` and `iat` are required numbers")]
    MissingTimes,
    #[error("lifetime (`exp - iat`) is over 60 seconds or not positive")]
    Lifetime,
    #[error("expired")]
    Expired,
    #[error("`iat` is in the future")]
    IssuedInFuture,
    #[error("`nbf` is in the future")]
    NotYetValid,
    #[error("`jti` is missing or not a string of 1 to 256 characters")]
    MissingJti,
}

impl AssertionError {
    /// A request error (400), not an authentication failure.
    pub fn is_malformed(self) -> bool {
        matches!(
            self,
            AssertionError::TooLarge | AssertionError::Malformed(_)
        )
    }

    /// The agent's clock is probably off: the answer says so (`"reason": "clock_skew"`).
    pub fn is_clock_skew(self) -> bool {
        matches!(
            self,
            AssertionError::Expired | AssertionError::IssuedInFuture | AssertionError::NotYetValid
        )
    }

    /// A stable name for the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            AssertionError::TooLarge => "too_large",
            AssertionError::Malformed(_) => "malformed",
            AssertionError::Issuer => "issuer",
            AssertionError::UnsupportedAlg => "unsupported_alg",
            AssertionError::UnknownKid => "unknown_kid",
            AssertionError::KeyMismatch => "alg_not_the_keys",
            AssertionError::BadSignature => "bad_signature",
            AssertionError::Audience => "audience",
            AssertionError::MissingTimes => "missing_exp_or_iat",
            AssertionError::Lifetime => "lifetime_over_60s",
            AssertionError::Expired => "expired",
            AssertionError::IssuedInFuture => "iat_in_future",
            AssertionError::NotYetValid => "nbf_in_future",
            AssertionError::MissingJti => "missing_jti",
        }
    }
}

/// Parsed, not yet trusted.
#[derive(Debug, Clone)]
pub struct UnverifiedAssertion<'a> {
    token: &'a str,
    /// Who it claims to be (`iss` = `sub`).
    pub agent_id: Uuid,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
}

/// What the server needs to accept an assertion.
#[derive(Debug, Clone)]
pub struct AssertionRules<'a> {
    /// Accepted `aud` values (compared without a trailing slash).
    pub audiences: &'a [String],
    /// Unix seconds.
    pub now: i64,
}

/// An assertion whose signature and claims checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedAssertion {
    pub agent_id: Uuid,
    /// The key that signed it.
    pub kid: String,
    pub jti: String,
    /// Unix seconds after which the assertion is refused as expired anyway, so its `jti` need
    /// not be remembered longer.
    pub replay_window_ends: i64,
    /// All of them, for checks of the caller's own (a key rotation's `cnf.jkt`).
    pub claims: Value,
}

impl<'a> UnverifiedAssertion<'a> {
    pub fn parse(token: &'a str) -> Result<UnverifiedAssertion<'a>, AssertionError> {
        if token.len() > MAX_ASSERTION_BYTES {
            return Err(AssertionError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AssertionError::Malformed(
                "expected a JWT: three dot-separated parts",
            ));
        };
        let header = decode_json(header, "header").map_err(malformed)?;
        let claims = decode_json(claims, "claims").map_err(malformed)?;
        URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AssertionError::Malformed("signature is not base64url"))?;
        let (Some(iss), Some(sub)) = (claims["iss"].as_str(), claims["sub"].as_str()) else {
            return Err(AssertionError::Issuer);
        };
        if iss != sub {
            return Err(AssertionError::Issuer);
        }
        let agent_id = Uuid::parse_str(sub).map_err(|_| AssertionError::Issuer)?;
        Ok(UnverifiedAssertion {
            token,
            agent_id,
            kid: header["kid"].as_str().map(str::to_string),
        })
    }

    /// Check the signature with the key the header's `kid` names among `keys` (`(kid, JWK)`,
    /// the agent's active keys), or, without a `kid`, with whichever of them verifies; then the
    /// claims.
    pub fn verify(
        &self,
        keys: &[(&str, &Value)],
        rules: &AssertionRules<'_>,
    ) -> Result<CheckedAssertion, AssertionError> {
        let (kid, claims) = match &self.kid {
            Some(kid) => {
                let (_, jwk) = keys
                    .iter()
                    .find(|(k, _)| k == kid)
                    .ok_or(AssertionError::UnknownKid)?;
                (kid.clone(), self.verified_claims(jwk)?)
            }
            None => {
                let mut last = AssertionError::UnknownKid;
                let mut found = None;
                for (kid, jwk) in keys {
                    match self.verified_claims(jwk) {
                        Ok(claims) => {
                            found = Some((kid.to_string(), claims));
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                found.ok_or(last)?
            }
        };
        check_claims(&claims, rules)?;
        let jti = claims["jti"]
            .as_str()
            .filter(|j| !j.is_empty() && j.chars().count() <= MAX_JTI_CHARS)
            .ok_or(AssertionError::MissingJti)?;
        let exp = numeric(&claims["exp"]).ok_or(AssertionError::MissingTimes)?;
        Ok(CheckedAssertion {
            agent_id: self.agent_id,
            kid,
            jti: jti.to_string(),
            replay_window_ends: exp + LEEWAY_SECONDS,
            claims: claims.clone(),
        })
    }

    fn verified_claims(&self, jwk: &Value) -> Result<Value, AssertionError> {
        verify_jwt_with_key(self.token, jwk)
            .map(|v| v.claims)
            .map_err(|e| match e {
                JwtError::Malformed(m) => AssertionError::Malformed(m),
                JwtError::UnsupportedAlg => AssertionError::UnsupportedAlg,
                JwtError::UnknownKid => AssertionError::UnknownKid,
                JwtError::KeyMismatch => AssertionError::KeyMismatch,
                JwtError::BadSignature => AssertionError::BadSignature,
            })
    }
}

fn malformed(e: JwtError) -> AssertionError {
    match e {
        JwtError::Malformed(m) => AssertionError::Malformed(m),
        _ => AssertionError::Malformed("not a JWT"),
    }
}

/// A NumericDate: integer or fractional seconds.
fn numeric(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

fn check_claims(claims: &Value, rules: &AssertionRules<'_>) -> Result<(), AssertionError> {
    let trim = |s: &str| s.trim_end_matches('/').to_string();
    let accepted = |aud: &str| rules.audiences.iter().any(|a| trim(a) == trim(aud));
    let audience_ok = match &claims["aud"] {
        Value::String(aud) => accepted(aud),
        Value::Array(list) => list.iter().filter_map(Value::as_str).any(accepted),
        _ => false,
    };
    if !audience_ok {
        return Err(AssertionError::Audience);
    }
    let (Some(exp), Some(iat)) = (numeric(&claims["exp"]), numeric(&claims["iat"])) else {
        return Err(AssertionError::MissingTimes);
    };
    if exp <= iat || exp - iat > MAX_LIFETIME_SECONDS {
        return Err(AssertionError::Lifetime);
    }
    if iat > rules.now + LEEWAY_SECONDS {
        return Err(AssertionError::IssuedInFuture);
    }
    if rules.now > exp + LEEWAY_SECONDS {
        return Err(AssertionError::Expired);
    }
    if let Some(nbf) = numeric(&claims["nbf"])
        && nbf > rules.now + LEEWAY_SECONDS
    {
        return Err(AssertionError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
