//! HMAC-SHA256 over several parts, for keyed hash chains (the audit log). The parts are fed in
//! order without separators, so callers must make their encoding unambiguous themselves (the
//! audit chain length-prefixes every field).

use aws_lc_rs::hmac;

use crate::Key256;

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &Key256, parts: &[&[u8]]) -> [u8; 32] {
    hmac_sha256_with(key.as_bytes(), parts)
}

/// [`hmac_sha256`] under a key of any length (keys other protocols define, e.g. webhook
/// signing secrets).
pub fn hmac_sha256_with(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.sign().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned to an answer from another implementation:
    /// `printf 'Hi There' | openssl dgst -sha256 -mac HMAC -macopt hexkey:0b0b...0b` (32 bytes).
    #[test]
    fn matches_a_known_answer() {
        let key = Key256::from_bytes([0x0b; 32]);
        let mac = hmac_sha256(&key, &[b"Hi ", b"There"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, KNOWN);
    }

    #[test]
    fn parts_are_concatenated() {
        let key = Key256::from_bytes([7; 32]);
        assert_eq!(
            hmac_sha256(&key, &[b"ab", b"c"]),
            hmac_sha256(&key, &[b"abc"])
        );
        assert_ne!(
            hmac_sha256(&key, &[b"abc"]),
            hmac_sha256(&Key256::from_bytes([8; 32]), &[b"abc"])
        );
    }

    const KNOWN: &str = "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7";
}
