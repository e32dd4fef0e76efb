//! Signing keys for the tokens Mandate issues: RS256 (the default), ES256 and EdDSA (Ed25519).
//!
//! A key signs compact JWS/JWTs (`header.payload.signature`, base64url without padding) with a
//! `kid` in the header, and publishes its public half as a JWK for `/.well-known/jwks.json`. Keys
//! are generated here or imported from PEM (`JWT_PRIVATE_KEY`: PKCS#8, PKCS#1 `RSA PRIVATE KEY`, or
//! SEC1 `EC PRIVATE KEY`), and exported as PKCS#8 DER to be stored encrypted. RSA keys shorter
//! than 2048 bits are refused.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use zeroize::Zeroizing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlg {
    Rs256,
    Es256,
    EdDsa,
}

impl SigningAlg {
    /// The JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<SigningAlg> {
        [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("not a PEM private key: {0}")]
    Pem(&'static str),
    #[error("unsupported or invalid private key: {0}")]
    Key(&'static str),
    #[error("RSA keys must be at least 2048 bits, this one has {0}")]
    WeakRsa(usize),
    #[error("signing failed")]
    Sign,
}

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub struct SigningKey {
    kid: String,
    inner: Inner,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate(alg: SigningAlg, kid: impl Into<String>) -> Result<SigningKey, SigningError> {
        let failed = |_| SigningError::Key("key generation failed");
        let inner = match alg {
            SigningAlg::Rs256 => {
                Inner::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?)
            }
            SigningAlg::Es256 => {
                Inner::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?)
            }
            SigningAlg::EdDsa => Inner::Ed(Ed25519KeyPair::generate().map_err(failed)?),
        };
        Ok(SigningKey {
            kid: kid.into(),
            inner,
        })
    }

    /// A PKCS#8 DER key of any supported type.
    pub fn from_pkcs8_der(kid: impl Into<String>, der: &[u8]) -> Result<SigningKey, SigningError> {
        let inner = if let Ok(rsa) = RsaKeyPair::from_pkcs8(der) {
            Inner::Rsa(rsa)
        } else if let Ok(ec) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            Inner::Ec(ec)
        } else if let Ok(ed) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            Inner::Ed(ed)
        } else {
            return Err(SigningError::Key(
                "expected an RSA (2048 bits or more), P-256 or Ed25519 private key",
            ));
        };
        SigningKey {
            kid: kid.into(),
            inner,
        }
        .checked()
    }

    /// A PEM private key: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY`.
    pub fn from_pem(kid: impl Into<String>, pem: &str) -> Result<SigningKey, SigningError> {
        let pem = pem.trim();
        let label = pem
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.split_once("-----"))
            .map(|(label, _)| label)
            .ok_or(SigningError::Pem("no BEGIN line"))?;
        let body = pem
            .strip_prefix(&format!("-----BEGIN {label}-----"))
            .and_then(|rest| rest.strip_suffix(&format!("-----END {label}-----")))
            .ok_or(SigningError::Pem("no matching END line"))?;
        let b64: String = body.split_whitespace().collect();
        let der = Zeroizing::new(
            STANDARD
                .decode(b64)
                .map_err(|_| SigningError::Pem("the body is not base64"))?,
        );
        let kid = kid.into();
        match label {
            "PRIVATE KEY" => SigningKey::from_pkcs8_der(kid, &der),
            "RSA PRIVATE KEY" => {
                let rsa = RsaKeyPair::from_der(&der)
                    .map_err(|_| SigningError::Key("invalid PKCS#1 RSA key"))?;
                SigningKey {
                    kid,
                    inner: Inner::Rsa(rsa),
                }
                .checked()
            }
            "EC PRIVATE KEY" => {
                let ec = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(|_| SigningError::Key("invalid or non-P-256 EC key"))?;
                SigningKey {
                    kid,
                    inner: Inner::Ec(ec),
                }
                .checked()
            }
            _ => Err(SigningError::Pem(
                "expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY",
            )),
        }
    }

    fn checked(self) -> Result<SigningKey, SigningError> {
        if let Inner::Rsa(rsa) = &self.inner {
            let bits = rsa.public_modulus_len() * 8;
            if bits < 2048 {
                return Err(SigningError::WeakRsa(bits));
            }
        }
        Ok(self)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        match self.inner {
            Inner::Rsa(_) => SigningAlg::Rs256,
            Inner::Ec(_) => SigningAlg::Es256,
            Inner::Ed(_) => SigningAlg::EdDsa,
        }
    }

    /// PKCS#8 DER, to be stored encrypted.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, SigningError> {
        let der: Result<Vec<u8>, _> = match &self.inner {
            Inner::Rsa(k) => AsDer::<Pkcs8V1Der>::as_der(k).map(|d| d.as_ref().to_vec()),
            Inner::Ec(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Inner::Ed(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        };
        der.map(Zeroizing::new)
            .map_err(|_| SigningError::Key("cannot export the key"))
    }

    /// The public JWK (RFC 7517/7518/8037), with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match &self.inner {
            Inner::Rsa(k) => {
                let public = k.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Inner::Ec(k) => {
                // Uncompressed point: 0x04 || X (32) || Y (32).
                let point = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Inner::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(self.alg().as_str());
        jwk["use"] = json!("sig");
        jwk
    }

    /// The RFC 7638 JWK thumbprint (base64url SHA-256 of the required public members in
    /// lexicographic order): a stable, standard key id.
    pub fn thumbprint(&self) -> String {
        let jwk = self.public_jwk();
        let canonical = match self.inner {
            Inner::Rsa(_) => json!({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}),
            Inner::Ec(_) => json!({"crv": "P-256", "kty": "EC", "x": jwk["x"], "y": jwk["y"]}),
            Inner::Ed(_) => json!({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}),
        };
        // serde_json keeps object keys sorted (no preserve_order feature) and writes no spaces.
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.to_string().as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    /// The same key under another id.
    pub fn with_kid(mut self, kid: impl Into<String>) -> SigningKey {
        self.kid = kid.into();
        self
    }

    /// A compact JWT of `claims`, with `alg`, `typ: JWT` and `kid` in its header.
    pub fn sign_jwt(&self, claims: &Value) -> Result<String, SigningError> {
        let header = json!({"alg": self.alg().as_str(), "typ": "JWT", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match &self.inner {
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    signing_input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| SigningError::Sign)?;
                sig
            }
            Inner::Ec(k) => k
                .sign(&SystemRandom::new(), signing_input.as_bytes())
                .map_err(|_| SigningError::Sign)?
                .as_ref()
                .to_vec(),
            Inner::Ed(k) => k.sign(signing_input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// `{"keys": [...]}` for the given keys.
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Value {
    json!({"keys": keys.into_iter().map(SigningKey::public_jwk).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
    };

    fn verify(key: &SigningKey, token: &str) -> bool {
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        match &key.inner {
            Inner::Rsa(k) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, k.public_key().as_ref())
                    .verify(input.as_bytes(), &sig)
                    .is_ok()
            }
            Inner::Ec(k) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, k.public_key().as_ref())
                    .verify(input.as_bytes(), &sig)
                    .is_ok()
            }
            Inner::Ed(k) => UnparsedPublicKey::new(&ED25519, k.public_key().as_ref())
                .verify(input.as_bytes(), &sig)
                .is_ok(),
        }
    }

    #[test]
    fn every_algorithm_signs_exports_and_reimports() {
        for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
            let key = SigningKey::generate(alg, format!("k-{}", alg.as_str())).unwrap();
            let token = key.sign_jwt(&json!({"sub": "u1"})).unwrap();
            assert!(verify(&key, &token), "{alg:?}");
            let header: Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(token.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(
                header,
                json!({"alg": alg.as_str(), "typ": "JWT", "kid": key.kid()})
            );
            let again = SigningKey::from_pkcs8_der("k2", &key.to_pkcs8_der().unwrap()).unwrap();
            assert_eq!(again.alg(), alg);
            assert_eq!(again.public_jwk()["x"], key.public_jwk()["x"]);
            assert_eq!(again.public_jwk()["n"], key.public_jwk()["n"]);
            let mut tampered = token.clone();
            tampered.insert(tampered.find('.').unwrap() + 2, 'A');
            assert!(!verify(&key, &tampered));
            assert!(!format!("{key:?}").contains("BEGIN"));
        }
    }

    /// RFC 7638 section 3.1: the thumbprint of its example RSA key.
    #[test]
    fn thumbprint_matches_rfc7638() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let canonical = format!(r#"{{"e":"AQAB","kty":"RSA","n":"{n}"}}"#);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        assert_eq!(
            URL_SAFE_NO_PAD.encode(digest.as_ref()),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // And our keys hash the same canonical members.
        let key = SigningKey::generate(SigningAlg::EdDsa, "k").unwrap();
        let jwk = key.public_jwk();
        let mine = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            jwk["x"].as_str().unwrap()
        );
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, mine.as_bytes());
        assert_eq!(key.thumbprint(), URL_SAFE_NO_PAD.encode(digest.as_ref()));
    }

    #[test]
    fn pem_errors_are_named() {
        assert_eq!(
            SigningKey::from_pem("k", "hello").err(),
            Some(SigningError::Pem("no BEGIN line"))
        );
        assert!(matches!(
            SigningKey::from_pem(
                "k",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
            ),
            Err(SigningError::Key(_))
        ));
        assert!(matches!(
            SigningKey::from_pem(
                "k",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
            ),
            Err(SigningError::Pem(_))
        ));
    }
}
