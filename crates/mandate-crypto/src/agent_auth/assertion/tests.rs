use serde_json::json;

use super::*;
use crate::signing::{SigningAlg, SigningKey};

const NOW: i64 = 1_800_000_000;
const AGENT: &str = "0195f3c2-6c1e-7c4b-9a51-0123456789ab";
const AUD: &str = "https://mandate.example.com/v1/agents/token";

fn audiences() -> Vec<String> {
    vec!["https://mandate.example.com".to_string(), AUD.to_string()]
}

fn claims() -> Value {
    json!({"iss": AGENT, "sub": AGENT, "aud": AUD, "iat": NOW, "exp": NOW + 60, "jti": "j-1"})
}

fn key(alg: SigningAlg) -> SigningKey {
    SigningKey::generate(alg, "agent-key").unwrap()
}

fn check(token: &str, key: &SigningKey) -> Result<CheckedAssertion, AssertionError> {
    let jwk = key.public_jwk();
    let audiences = audiences();
    let rules = AssertionRules {
        audiences: &audiences,
        now: NOW,
    };
    UnverifiedAssertion::parse(token)?.verify(&[(key.kid(), &jwk)], &rules)
}

fn with_claims(key: &SigningKey, change: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    change(&mut c);
    key.sign_jwt(&c).unwrap()
}

/// A token with a hand-made header and signature.
fn raw(header: Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

#[test]
fn a_good_assertion_passes_with_either_algorithm() {
    for alg in [SigningAlg::Es256, SigningAlg::EdDsa] {
        let k = key(alg);
        let checked = check(&k.sign_jwt(&claims()).unwrap(), &k).unwrap();
        assert_eq!(checked.agent_id.to_string(), AGENT);
        assert_eq!(checked.kid, "agent-key");
        assert_eq!(checked.jti, "j-1");
        assert_eq!(checked.replay_window_ends, NOW + 60 + LEEWAY_SECONDS);
    }
}

#[test]
fn audience_may_be_the_base_url_a_list_or_have_a_slash() {
    let k = key(SigningAlg::Es256);
    for aud in [
        json!("https://mandate.example.com"),
        json!("https://mandate.example.com/"),
        json!(["https://other.example", AUD]),
    ] {
        let token = with_claims(&k, |c| c["aud"] = aud.clone());
        assert!(check(&token, &k).is_ok(), "{aud}");
    }
    for aud in [
        json!("https://evil.example/v1/agents/token"),
        json!(["https://evil.example"]),
        json!(null),
        json!(7),
    ] {
        let token = with_claims(&k, |c| c["aud"] = aud.clone());
        assert_eq!(check(&token, &k), Err(AssertionError::Audience), "{aud}");
    }
}

#[test]
fn without_a_kid_any_active_key_that_verifies_is_used() {
    let k = key(SigningAlg::Es256);
    let other = key(SigningAlg::EdDsa).with_kid("other");
    let header = json!({"alg": "ES256", "typ": "JWT"});
    // Signed by hand, with a header that has no kid.
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    let pkcs8 = k.to_pkcs8_der().unwrap();
    let ring_key = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &pkcs8,
    )
    .unwrap();
    let sig = ring_key
        .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
        .unwrap();
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    let (jwk, other_jwk) = (k.public_jwk(), other.public_jwk());
    let audiences = audiences();
    let rules = AssertionRules {
        audiences: &audiences,
        now: NOW,
    };
    let parsed = UnverifiedAssertion::parse(&token).unwrap();
    assert_eq!(parsed.kid, None);
    let checked = parsed
        .verify(&[("other", &other_jwk), ("agent-key", &jwk)], &rules)
        .unwrap();
    assert_eq!(checked.kid, "agent-key");
    assert_eq!(
        parsed.verify(&[("other", &other_jwk)], &rules),
        Err(AssertionError::KeyMismatch)
    );
}

#[test]
fn alg_none_and_hs256_with_the_public_key_are_refused() {
    let k = key(SigningAlg::Es256);
    let none = raw(json!({"alg": "none", "kid": "agent-key"}), &claims(), b"");
    assert_eq!(check(&none, &k), Err(AssertionError::UnsupportedAlg));
    // The classic confusion: HMAC keyed with the public key's JSON.
    let header = json!({"alg": "HS256", "kid": "agent-key"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    let hmac_key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        k.public_jwk().to_string().as_bytes(),
    );
    let tag = aws_lc_rs::hmac::sign(&hmac_key, input.as_bytes());
    let hs256 = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    assert_eq!(check(&hs256, &k), Err(AssertionError::UnsupportedAlg));
}

#[test]
fn an_algorithm_other_than_the_keys_is_refused() {
    // Signed by an Ed25519 key that claims the EC key's kid.
    let ec = key(SigningAlg::Es256);
    let ed = key(SigningAlg::EdDsa);
    let token = ed.sign_jwt(&claims()).unwrap();
    assert_eq!(check(&token, &ec), Err(AssertionError::KeyMismatch));
    // The right algorithm name, the wrong key.
    let other_ec = key(SigningAlg::Es256);
    let token = other_ec.sign_jwt(&claims()).unwrap();
    assert_eq!(check(&token, &ec), Err(AssertionError::BadSignature));
}

#[test]
fn unknown_kid_is_refused() {
    let k = key(SigningAlg::Es256);
    let renamed = SigningKey::from_pkcs8_der("rotated-away", &k.to_pkcs8_der().unwrap()).unwrap();
    let token = renamed.sign_jwt(&claims()).unwrap();
    assert_eq!(check(&token, &k), Err(AssertionError::UnknownKid));
}

#[test]
fn time_claims_are_checked_with_60_seconds_of_leeway() {
    let k = key(SigningAlg::Es256);
    let at = |iat: i64, exp: i64| {
        let token = with_claims(&k, |c| {
            c["iat"] = json!(iat);
            c["exp"] = json!(exp);
        });
        check(&token, &k).map(|_| ())
    };
    assert_eq!(at(NOW - 100, NOW - 61), Err(AssertionError::Expired));
    assert_eq!(at(NOW - 100, NOW - 59), Ok(()));
    assert_eq!(at(NOW + 61, NOW + 100), Err(AssertionError::IssuedInFuture));
    assert_eq!(at(NOW + 59, NOW + 100), Ok(()));
    assert_eq!(at(NOW, NOW + 61), Err(AssertionError::Lifetime));
    assert_eq!(at(NOW, NOW), Err(AssertionError::Lifetime));
    assert!(AssertionError::Expired.is_clock_skew());
    assert!(AssertionError::IssuedInFuture.is_clock_skew());
    assert!(!AssertionError::Lifetime.is_clock_skew());
    let nbf = with_claims(&k, |c| c["nbf"] = json!(NOW + 61));
    assert_eq!(check(&nbf, &k), Err(AssertionError::NotYetValid));
    let no_exp = with_claims(&k, |c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    assert_eq!(check(&no_exp, &k), Err(AssertionError::MissingTimes));
    let fractional = with_claims(&k, |c| c["exp"] = json!(NOW as f64 + 30.5));
    assert!(check(&fractional, &k).is_ok());
}

#[test]
fn jti_is_required() {
    let k = key(SigningAlg::Es256);
    for jti in [json!(null), json!(""), json!(5), json!("x".repeat(257))] {
        let token = with_claims(&k, |c| c["jti"] = jti.clone());
        assert_eq!(check(&token, &k), Err(AssertionError::MissingJti), "{jti}");
    }
}

#[test]
fn issuer_must_be_the_subject_and_an_agent_id() {
    let k = key(SigningAlg::Es256);
    for (iss, sub) in [
        (json!(AGENT), json!("0195f3c2-6c1e-7c4b-9a51-000000000000")),
        (json!("agent"), json!("agent")),
        (json!(null), json!(AGENT)),
    ] {
        let token = with_claims(&k, |c| {
            c["iss"] = iss.clone();
            c["sub"] = sub.clone();
        });
        assert_eq!(check(&token, &k), Err(AssertionError::Issuer));
    }
}

#[test]
fn oversized_and_malformed_assertions_are_request_errors() {
    let k = key(SigningAlg::Es256);
    let big = with_claims(&k, |c| c["pad"] = json!("x".repeat(MAX_ASSERTION_BYTES)));
    assert_eq!(check(&big, &k), Err(AssertionError::TooLarge));
    for token in [
        "",
        "a.b",
        "a.b.c.d",
        "!!.e30.AA",
        "e30.!!.AA",
        "e30.e30.!!",
        "bnVsbA.e30.AA",
        "e30.bm90IGpzb24.AA",
    ] {
        let e = check(token, &k).unwrap_err();
        assert!(e.is_malformed(), "{token}: {e:?}");
    }
}
