//! Verifying compact JWTs against a JWK set: the other half of [`crate::signing`].
//!
//! Only RS256, ES256 and EdDSA are accepted, and only with a key of the matching type, so
//! `alg: none` and HMAC-with-the-public-key confusion are refused before any cryptography. The
//! key is chosen by the header's `kid`; a JWK that names an `alg` must name the header's. Claims
//! are returned as they are: time checks (`exp`, `iat`) belong to the caller.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::signing::SigningAlg;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported algorithm")]
    UnsupportedAlg,
    #[error("no key with this kid")]
    UnknownKid,
    #[error("the key does not fit the token's algorithm")]
    KeyMismatch,
    #[error("bad signature")]
    BadSignature,
}

/// A token whose signature checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    pub kid: String,
    pub alg: SigningAlg,
    pub claims: Value,
}

/// Verify `token` with the key of its `kid` in `jwks` (`{"keys": [...]}`).
pub fn verify_jwt(token: &str, jwks: &Value) -> Result<Verified, JwtError> {
    verify(token, |kid| {
        let kid = kid.ok_or(JwtError::Malformed("header has no kid"))?;
        jwks["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["kid"].as_str() == Some(kid)))
            .ok_or(JwtError::UnknownKid)
    })
}

/// Verify `token` with one given key, whatever `kid` its header names (none is fine): for a
/// caller that chose the key itself.
pub fn verify_jwt_with_key(token: &str, jwk: &Value) -> Result<Verified, JwtError> {
    verify(token, |_| Ok(jwk))
}

fn verify<'k>(
    token: &str,
    choose_key: impl FnOnce(Option<&str>) -> Result<&'k Value, JwtError>,
) -> Result<Verified, JwtError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("expected three dot-separated parts"));
    };
    let header = decode_json(header_b64, "header")?;
    let alg = header["alg"]
        .as_str()
        .and_then(|a| {
            [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa]
                .into_iter()
                .find(|known| known.as_str() == a)
        })
        .ok_or(JwtError::UnsupportedAlg)?;
    let kid = header["kid"].as_str();
    let jwk = choose_key(kid)?;
    if jwk
        .get("alg")
        .is_some_and(|a| a.as_str() != Some(alg.as_str()))
    {
        return Err(JwtError::KeyMismatch);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
    let input = &token.as_bytes()[..header_b64.len() + 1 + claims_b64.len()];
    verify_signature(alg, jwk, input, &signature)?;
    Ok(Verified {
        kid: kid.unwrap_or_default().to_string(),
        alg,
        claims: decode_json(claims_b64, "claims")?,
    })
}

fn verify_signature(
    alg: SigningAlg,
    jwk: &Value,
    input: &[u8],
    signature: &[u8],
) -> Result<(), JwtError> {
    let member = |name: &str| -> Result<Vec<u8>, JwtError> {
        jwk[name]
            .as_str()
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or(JwtError::KeyMismatch)
    };
    let verified = match (alg, jwk["kty"].as_str(), jwk["crv"].as_str()) {
        (SigningAlg::Rs256, Some("RSA"), _) => RsaPublicKeyComponents {
            n: member("n")?,
            e: member("e")?,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, input, signature),
        (SigningAlg::Es256, Some("EC"), Some("P-256")) => {
            let (x, y) = (member("x")?, member("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(JwtError::KeyMismatch);
            }
            let point = [&[4u8][..], &x, &y].concat();
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(input, signature)
        }
        (SigningAlg::EdDsa, Some("OKP"), Some("Ed25519")) => {
            UnparsedPublicKey::new(&ED25519, member("x")?).verify(input, signature)
        }
        _ => return Err(JwtError::KeyMismatch),
    };
    verified.map_err(|_| JwtError::BadSignature)
}

pub(crate) fn decode_json(part: &str, what: &'static str) -> Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| {
        JwtError::Malformed(if what == "header" {
            "header is not base64url"
        } else {
            "claims are not base64url"
        })
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| {
        JwtError::Malformed(if what == "header" {
            "header is not JSON"
        } else {
            "claims are not JSON"
        })
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(JwtError::Malformed(
            "header and claims must be JSON objects",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{SigningKey, jwks};
    use serde_json::json;

    fn key(alg: SigningAlg, kid: &str) -> SigningKey {
        SigningKey::generate(alg, kid).unwrap()
    }

    #[test]
    fn every_algorithm_round_trips() {
        for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
            let k = key(alg, "k1");
            let token = k.sign_jwt(&json!({"seq": 7})).unwrap();
            let verified = verify_jwt(&token, &jwks([&k])).unwrap();
            assert_eq!((verified.kid.as_str(), verified.alg), ("k1", alg));
            assert_eq!(verified.claims["seq"], 7);
        }
    }

    #[test]
    fn a_changed_claim_or_another_key_fails() {
        let k = key(SigningAlg::Es256, "k1");
        let token = k.sign_jwt(&json!({"seq": 7})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(json!({"seq": 8}).to_string()),
            parts[2]
        );
        assert_eq!(
            verify_jwt(&forged, &jwks([&k])).unwrap_err(),
            JwtError::BadSignature
        );
        let other = key(SigningAlg::Es256, "k1");
        assert_eq!(
            verify_jwt(&token, &jwks([&other])).unwrap_err(),
            JwtError::BadSignature
        );
        let unknown = key(SigningAlg::Es256, "k2");
        assert_eq!(
            verify_jwt(&token, &jwks([&unknown])).unwrap_err(),
            JwtError::UnknownKid
        );
    }

    #[test]
    fn algorithm_confusion_is_refused() {
        let k = key(SigningAlg::Rs256, "k1");
        let set = jwks([&k]);
        let claims = URL_SAFE_NO_PAD.encode(r#"{"seq":1}"#);
        for alg in ["none", "HS256", "ES512"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"k1"}}"#));
            let token = format!("{header}.{claims}.");
            assert_eq!(
                verify_jwt(&token, &set).unwrap_err(),
                JwtError::UnsupportedAlg,
                "{alg}"
            );
        }
        // ES256 claimed over an RSA key.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"k1"}"#);
        let token = format!("{header}.{claims}.AAAA");
        assert_eq!(verify_jwt(&token, &set).unwrap_err(), JwtError::KeyMismatch);
    }

    #[test]
    fn malformed_tokens_are_errors_not_panics() {
        let set = jwks([&key(SigningAlg::EdDsa, "k1")]);
        for token in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.AA",
            "e30.!!.AA",
            "bnVsbA.e30.AA",
            "e30.e30.!!",
        ] {
            assert!(
                matches!(
                    verify_jwt(token, &set),
                    Err(JwtError::Malformed(_) | JwtError::UnsupportedAlg)
                ),
                "{token}"
            );
        }
    }
}
