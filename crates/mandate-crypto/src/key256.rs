//! A 256-bit symmetric key (the key encryption key given as `ENCRYPTION_KEY`, data keys).
//!
//! The bytes are zeroized on drop and never printed: `Debug` shows a placeholder.

use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

pub const KEY_LEN: usize = 32;

#[derive(Clone, PartialEq, Eq)]
pub struct Key256(Zeroizing<[u8; KEY_LEN]>);

/// Why text is not a usable key. Never carries the key text itself.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "must be 64 hexadecimal characters (as made by `openssl rand -hex 32`), got {found} characters"
    )]
    WrongLength { found: usize },
    #[error("must be hexadecimal (0-9, a-f), found another character at position {position}")]
    NotHex { position: usize },
    #[error("the system random generator failed")]
    Random,
}

impl Key256 {
    /// Parse 64 hex characters (either case; surrounding whitespace, such as the newline a key
    /// file ends with, is ignored).
    pub fn from_hex(text: &str) -> Result<Key256, KeyError> {
        let text = text.trim();
        let found = text.chars().count();
        if found != KEY_LEN * 2 {
            return Err(KeyError::WrongLength { found });
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        let digits = text.as_bytes();
        for (i, byte) in bytes.iter_mut().enumerate() {
            let high = hex_value(digits[2 * i]).ok_or(KeyError::NotHex { position: 2 * i })?;
            let low = hex_value(digits[2 * i + 1]).ok_or(KeyError::NotHex {
                position: 2 * i + 1,
            })?;
            *byte = (high << 4) | low;
        }
        Ok(Key256(bytes))
    }

    /// A fresh random key from the system generator.
    pub fn generate() -> Result<Key256, KeyError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| KeyError::Random)?;
        Ok(Key256(bytes))
    }

    /// Take ownership of raw bytes (e.g. an unwrapped data key). The array is moved into a
    /// zeroizing container; callers should not keep copies.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key256 {
        Key256(Zeroizing::new(bytes))
    }

    /// Lower-case hex, for writing a key file. The string is zeroized when dropped.
    pub fn to_hex(&self) -> Zeroizing<String> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = Zeroizing::new(String::with_capacity(KEY_LEN * 2));
        for byte in self.0.iter() {
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        out
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// True for keys nobody should run with: every byte the same (all zeros, all `f`...), or a
    /// counting sequence (00 01 02 ... or its reverse), as found in examples and placeholders.
    pub fn is_weak(&self) -> bool {
        let b = self.0.as_ref();
        let same = b.iter().all(|x| *x == b[0]);
        let counting_up = b.windows(2).all(|w| w[1] == w[0].wrapping_add(1));
        let counting_down = b.windows(2).all(|w| w[1] == w[0].wrapping_sub(1));
        same || counting_up || counting_down
    }
}

impl std::fmt::Debug for Key256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key256(<redacted>)")
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Zeroize for Key256 {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "3f1a9c0e5b7d2f4e6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a2c4e6b8d0f";

    #[test]
    fn hex_round_trips_in_either_case() {
        let key = Key256::from_hex(SAMPLE).unwrap();
        assert_eq!(key.to_hex().as_str(), SAMPLE);
        assert_eq!(Key256::from_hex(&SAMPLE.to_uppercase()).unwrap(), key);
        assert_eq!(Key256::from_hex(&format!("  {SAMPLE}\n")).unwrap(), key);
    }

    #[test]
    fn wrong_length_and_non_hex_are_distinct_errors() {
        assert_eq!(
            Key256::from_hex("abcd"),
            Err(KeyError::WrongLength { found: 4 })
        );
        assert_eq!(
            Key256::from_hex(&SAMPLE[..63]),
            Err(KeyError::WrongLength { found: 63 })
        );
        let mut bad = SAMPLE.to_string();
        bad.replace_range(10..11, "g");
        assert_eq!(
            Key256::from_hex(&bad),
            Err(KeyError::NotHex { position: 10 })
        );
        // Multi-byte characters count as characters, not bytes, and never panic.
        assert_eq!(
            Key256::from_hex(&"é".repeat(32)),
            Err(KeyError::WrongLength { found: 32 })
        );
        let mixed = format!("{}é{}", &SAMPLE[..62], "");
        assert!(Key256::from_hex(&mixed).is_err());
    }

    #[test]
    fn errors_never_contain_the_key() {
        let mut bad = SAMPLE.to_string();
        bad.push('0');
        let message = Key256::from_hex(&bad).unwrap_err().to_string();
        assert!(!message.contains(&SAMPLE[..16]));
        assert_eq!(
            format!("{:?}", Key256::from_hex(SAMPLE).unwrap()),
            "Key256(<redacted>)"
        );
    }

    #[test]
    fn placeholder_keys_are_weak_and_random_ones_are_not() {
        assert!(Key256::from_hex(&"0".repeat(64)).unwrap().is_weak());
        assert!(Key256::from_hex(&"f".repeat(64)).unwrap().is_weak());
        let counting: String = (0u8..32).map(|b| format!("{b:02x}")).collect();
        assert!(Key256::from_hex(&counting).unwrap().is_weak());
        assert!(!Key256::from_hex(SAMPLE).unwrap().is_weak());
        let a = Key256::generate().unwrap();
        let b = Key256::generate().unwrap();
        assert_ne!(a, b);
        assert!(!a.is_weak());
    }
}
