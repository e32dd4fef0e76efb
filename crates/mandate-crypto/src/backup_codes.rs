//! MFA backup codes: 10 single-use codes of 80 random bits each, shown once as
//! `xxxx-xxxx-xxxx-xxxx` (lowercase base32, no padding). Only their SHA-256 is stored: with 80
//! bits of entropy per code and a lockout on failed attempts, a fast hash is enough.

use aws_lc_rs::digest::{SHA256, digest};
use zeroize::Zeroizing;

pub const COUNT: usize = 10;
const CODE_BYTES: usize = 10; // 80 bits = 16 base32 characters

#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// Ten fresh codes, formatted for display.
pub fn generate() -> Result<Vec<Zeroizing<String>>, RandomError> {
    (0..COUNT)
        .map(|_| {
            let mut bytes = Zeroizing::new([0u8; CODE_BYTES]);
            aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| RandomError)?;
            let text = Zeroizing::new(crate::totp::base32(bytes.as_ref()).to_ascii_lowercase());
            let mut shown = Zeroizing::new(String::with_capacity(19));
            for (i, chunk) in text.as_bytes().chunks(4).enumerate() {
                if i > 0 {
                    shown.push('-');
                }
                shown.push_str(std::str::from_utf8(chunk).map_err(|_| RandomError)?);
            }
            Ok(shown)
        })
        .collect()
}

/// The stored form of a code as a person types it: case, spaces and dashes do not matter.
pub fn hash(code: &str) -> [u8; 32] {
    let normalized: Zeroizing<String> = Zeroizing::new(
        code.chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    );
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, normalized.as_bytes()).as_ref());
    out
}

/// True when `code` has the shape of a backup code (so a TOTP code is not mistaken for one).
pub fn looks_like_one(code: &str) -> bool {
    let n = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .filter(|c| c.is_ascii_alphanumeric())
        .count();
    n == 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_of_the_documented_shape() {
        let codes = generate().unwrap();
        assert_eq!(codes.len(), 10);
        let mut seen = std::collections::HashSet::new();
        for code in &codes {
            assert_eq!(code.len(), 19, "{}", code.as_str());
            assert_eq!(code.matches('-').count(), 3);
            assert!(looks_like_one(code));
            assert!(seen.insert(code.to_string()));
        }
    }

    #[test]
    fn typing_variations_hash_the_same_and_other_codes_do_not() {
        let codes = generate().unwrap();
        let code = codes[0].as_str();
        let typed = code.to_uppercase().replace('-', " ");
        assert_eq!(hash(code), hash(&typed));
        assert_ne!(hash(code), hash(codes[1].as_str()));
        assert!(!looks_like_one("123456"));
    }
}
