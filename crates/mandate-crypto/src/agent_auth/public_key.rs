//! An agent's public key, as the JWK it sends at enrollment: EC P-256 (ES256) or Ed25519
//! (EdDSA). The key is validated (the point is on its curve), a JWK that carries a private part
//! is refused without echoing it, and the stored form keeps only the public members.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::signing::SigningAlg;

/// Larger JWKs are refused before parsing.
pub const MAX_JWK_BYTES: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    #[error("publicKey must be a JWK object")]
    NotAnObject,
    #[error(
        "publicKey has a private part (`d`): send only the public key, and keep the private key where it is"
    )]
    HasPrivatePart,
    #[error("publicKey must be an EC P-256 key (ES256) or an Ed25519 key (EdDSA)")]
    UnsupportedKey,
    #[error("publicKey `alg` does not fit its key type (EC P-256 is ES256, Ed25519 is EdDSA)")]
    AlgMismatch,
    #[error("publicKey `use` must be `sig`")]
    NotForSigning,
    #[error("publicKey `kid` must be 1 to 128 visible ASCII characters")]
    BadKid,
    #[error("publicKey is not a valid point on its curve")]
    InvalidPoint,
}

/// An agent's validated public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPublicKey {
    /// The JWK's own `kid` when it has one, otherwise its RFC 7638 thumbprint.
    pub kid: String,
    pub alg: SigningAlg,
    /// RFC 7638 thumbprint: the same key always has the same one.
    pub thumbprint: String,
    /// Only the public members, with `kid` and `alg`.
    pub jwk: Value,
}

impl AgentPublicKey {
    pub fn from_jwk(jwk: &Value) -> Result<AgentPublicKey, PublicKeyError> {
        let object = jwk.as_object().ok_or(PublicKeyError::NotAnObject)?;
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| object.contains_key(*m))
        {
            return Err(PublicKeyError::HasPrivatePart);
        }
        let text = |name: &str| object.get(name).and_then(Value::as_str);
        let coordinate = |name: &str| -> Result<String, PublicKeyError> {
            let value = text(name).ok_or(PublicKeyError::UnsupportedKey)?;
            match URL_SAFE_NO_PAD.decode(value) {
                Ok(bytes) if bytes.len() == 32 => Ok(value.to_string()),
                _ => Err(PublicKeyError::InvalidPoint),
            }
        };
        let (alg, public, canonical) = match (text("kty"), text("crv")) {
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (coordinate("x")?, coordinate("y")?);
                let canonical = json!({"crv": "P-256", "kty": "EC", "x": x, "y": y});
                (SigningAlg::Es256, canonical.clone(), canonical)
            }
            (Some("OKP"), Some("Ed25519")) => {
                let x = coordinate("x")?;
                let canonical = json!({"crv": "Ed25519", "kty": "OKP", "x": x});
                (SigningAlg::EdDsa, canonical.clone(), canonical)
            }
            _ => return Err(PublicKeyError::UnsupportedKey),
        };
        if let Some(named) = object.get("alg")
            && named.as_str() != Some(alg.as_str())
        {
            return Err(PublicKeyError::AlgMismatch);
        }
        if let Some(usage) = object.get("use")
            && usage.as_str() != Some("sig")
        {
            return Err(PublicKeyError::NotForSigning);
        }
        check_point(alg, &public)?;
        let thumbprint = thumbprint(&canonical);
        let kid = match object.get("kid") {
            None => thumbprint.clone(),
            Some(kid) => kid
                .as_str()
                .filter(|k| (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or(PublicKeyError::BadKid)?
                .to_string(),
        };
        let mut jwk = public;
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg.as_str());
        Ok(AgentPublicKey {
            kid,
            alg,
            thumbprint,
            jwk,
        })
    }
}

fn check_point(alg: SigningAlg, jwk: &Value) -> Result<(), PublicKeyError> {
    let decode = |name: &str| {
        jwk[name]
            .as_str()
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .unwrap_or_default()
    };
    let parsed = match alg {
        SigningAlg::Es256 => {
            let point = [&[4u8][..], &decode("x"), &decode("y")].concat();
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        }
        SigningAlg::EdDsa => ParsedPublicKey::new(&ED25519, decode("x")),
        SigningAlg::Rs256 => return Err(PublicKeyError::UnsupportedKey),
    };
    parsed.map(|_| ()).map_err(|_| PublicKeyError::InvalidPoint)
}

/// RFC 7638: base64url SHA-256 of the required members, sorted, without spaces (serde_json's
/// maps are sorted).
fn thumbprint(canonical: &Value) -> String {
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.to_string().as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;

    #[test]
    fn generated_keys_import_with_their_thumbprint() {
        for alg in [SigningAlg::Es256, SigningAlg::EdDsa] {
            let key = SigningKey::generate(alg, "ignored").unwrap();
            let mut jwk = key.public_jwk();
            jwk.as_object_mut().unwrap().remove("kid");
            let imported = AgentPublicKey::from_jwk(&jwk).unwrap();
            assert_eq!(imported.alg, alg);
            assert_eq!(imported.thumbprint, key.thumbprint());
            assert_eq!(imported.kid, key.thumbprint());
            assert!(imported.jwk.get("use").is_none());
            let with_kid = AgentPublicKey::from_jwk(&key.public_jwk()).unwrap();
            assert_eq!(with_kid.kid, "ignored");
        }
    }

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        // RFC 8037 appendix A.3: the Ed25519 example key's thumbprint.
        let jwk = json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(
            AgentPublicKey::from_jwk(&jwk).unwrap().thumbprint,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn bad_keys_are_refused_with_their_reason() {
        let ec = SigningKey::generate(SigningAlg::Es256, "k")
            .unwrap()
            .public_jwk();
        let rsa = SigningKey::generate(SigningAlg::Rs256, "k")
            .unwrap()
            .public_jwk();
        let with = |name: &str, value: Value| {
            let mut jwk = ec.clone();
            jwk[name] = value;
            AgentPublicKey::from_jwk(&jwk).unwrap_err()
        };
        assert_eq!(with("d", json!("AAAA")), PublicKeyError::HasPrivatePart);
        assert_eq!(with("alg", json!("EdDSA")), PublicKeyError::AlgMismatch);
        assert_eq!(with("alg", json!("HS256")), PublicKeyError::AlgMismatch);
        assert_eq!(with("use", json!("enc")), PublicKeyError::NotForSigning);
        assert_eq!(with("kid", json!("")), PublicKeyError::BadKid);
        assert_eq!(with("kid", json!("a b")), PublicKeyError::BadKid);
        assert_eq!(with("crv", json!("P-384")), PublicKeyError::UnsupportedKey);
        assert_eq!(with("x", json!("AAAA")), PublicKeyError::InvalidPoint);
        // A point not on the curve.
        assert_eq!(
            with("y", json!(URL_SAFE_NO_PAD.encode([7u8; 32]))),
            PublicKeyError::InvalidPoint
        );
        assert_eq!(
            AgentPublicKey::from_jwk(&rsa).unwrap_err(),
            PublicKeyError::UnsupportedKey
        );
        assert_eq!(
            AgentPublicKey::from_jwk(&json!("key")).unwrap_err(),
            PublicKeyError::NotAnObject
        );
    }
}
