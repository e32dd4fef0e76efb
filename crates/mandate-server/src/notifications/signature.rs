//! Webhook signatures as the Standard Webhooks specification describes them: the receiver gets
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated
//! list of `v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`, one per valid secret, so a
//! receiver that knows either the old or the new secret accepts messages during a rotation.
//! Secrets are `whsec_` followed by the base64 of the key bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mandate_crypto::Key256;
use mandate_crypto::mac::hmac_sha256_with;
use zeroize::Zeroizing;

const PREFIX: &str = "whsec_";

/// A new random signing secret, `whsec_...` (32 key bytes).
pub fn new_secret() -> Result<Zeroizing<String>, String> {
    let key = Key256::generate().map_err(|e| e.to_string())?;
    Ok(Zeroizing::new(format!(
        "{PREFIX}{}",
        STANDARD.encode(key.as_bytes())
    )))
}

/// The key bytes of a `whsec_` secret (the scheme allows any length; ours are 32 bytes).
fn key_of(secret: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let encoded = secret.strip_prefix(PREFIX).unwrap_or(secret);
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| "a signing secret is not base64".to_string())?;
    if bytes.is_empty() {
        return Err("a signing secret is empty".into());
    }
    Ok(Zeroizing::new(bytes))
}

/// The `webhook-signature` header value for `body`, signed with every secret in `secrets`.
pub fn sign(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let mut parts = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = key_of(secret)?;
        let mac = hmac_sha256_with(
            &key,
            &[
                id.as_bytes(),
                b".",
                timestamp.to_string().as_bytes(),
                b".",
                body,
            ],
        );
        parts.push(format!("v1,{}", STANDARD.encode(mac)));
    }
    Ok(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' test suites.
    #[test]
    fn matches_the_reference_example() {
        let sig = sign(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn two_secrets_give_two_signatures_and_each_changes_with_the_body() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        let both = sign(&[&a, &b], "msg_1", 1, b"{}").unwrap();
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_eq!(sign(&[&a], "msg_1", 1, b"{}").unwrap(), parts[0]);
        assert_ne!(sign(&[&a], "msg_1", 1, b"{ }").unwrap(), parts[0]);
        assert_ne!(sign(&[&a], "msg_1", 2, b"{}").unwrap(), parts[0]);
        assert!(a.starts_with("whsec_") && a.len() > 40);
    }
}
