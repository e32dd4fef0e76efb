//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), the second factor of an
//! authenticator app.
//!
//! Mandate issues 160-bit secrets, SHA-1, 6 digits and 30-second steps: what every authenticator
//! app reads from an `otpauth://` URI. SHA-256/512 and 8 digits are supported for the RFC's test
//! vectors. [`Totp::matching_step`] accepts the previous, current and next step (clock drift) and
//! returns which step matched, so the caller can refuse a step at or before the last one used: a
//! code works once.

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

pub const SECRET_BYTES: usize = 20;
pub const STEP_SECONDS: u64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotpAlg {
    Sha1,
    Sha256,
    Sha512,
}

pub struct Totp {
    secret: Zeroizing<Vec<u8>>,
    alg: TotpAlg,
    digits: u32,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("alg", &self.alg)
            .field("digits", &self.digits)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("the system random generator failed")]
    Random,
}

impl Totp {
    /// The authenticator-app configuration: SHA-1, 6 digits.
    pub fn new(secret: Zeroizing<Vec<u8>>) -> Totp {
        Totp {
            secret,
            alg: TotpAlg::Sha1,
            digits: 6,
        }
    }

    pub fn with(secret: Zeroizing<Vec<u8>>, alg: TotpAlg, digits: u32) -> Totp {
        Totp {
            secret,
            alg,
            digits: digits.clamp(6, 8),
        }
    }

    /// A new random 160-bit secret.
    pub fn generate_secret() -> Result<Zeroizing<Vec<u8>>, TotpError> {
        let mut secret = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| TotpError::Random)?;
        Ok(secret)
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The step that contains `unix_seconds`.
    pub fn step_at(unix_seconds: u64) -> u64 {
        unix_seconds / STEP_SECONDS
    }

    /// The code of one step (RFC 4226 section 5.3: dynamic truncation).
    pub fn code_for_step(&self, step: u64) -> String {
        let alg = match self.alg {
            TotpAlg::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            TotpAlg::Sha256 => hmac::HMAC_SHA256,
            TotpAlg::Sha512 => hmac::HMAC_SHA512,
        };
        let key = hmac::Key::new(alg, &self.secret);
        let mac = hmac::sign(&key, &step.to_be_bytes());
        let mac = mac.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            mac[offset] & 0x7f,
            mac[offset + 1],
            mac[offset + 2],
            mac[offset + 3],
        ]);
        let code = binary % 10u32.pow(self.digits);
        format!("{code:0width$}", width = self.digits as usize)
    }

    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.code_for_step(Totp::step_at(unix_seconds))
    }

    /// The step (previous, current or next) whose code is `code`, compared in constant time.
    pub fn matching_step(&self, code: &str, unix_seconds: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = Totp::step_at(unix_seconds);
        // Check all three so the time taken does not say which matched.
        let mut found = None;
        for step in [now.saturating_sub(1), now, now + 1] {
            let expected = self.code_for_step(step);
            if aws_lc_rs::constant_time::verify_slices_are_equal(
                expected.as_bytes(),
                code.as_bytes(),
            )
            .is_ok()
            {
                found = Some(step);
            }
        }
        found
    }

    /// The URI authenticator apps scan (as a QR code) or take pasted.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", percent(issuer), percent(account));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={STEP_SECONDS}",
            base32(&self.secret),
            percent(issuer),
            self.digits
        )
    }
}

/// RFC 4648 base32 without padding, as authenticator apps expect the secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(alg: TotpAlg) -> Zeroizing<Vec<u8>> {
        // RFC 6238 appendix B: the ASCII digits repeated to the hash's length.
        let len = match alg {
            TotpAlg::Sha1 => 20,
            TotpAlg::Sha256 => 32,
            TotpAlg::Sha512 => 64,
        };
        Zeroizing::new(b"1234567890".iter().copied().cycle().take(len).collect())
    }

    /// RFC 6238 appendix B, every row.
    #[test]
    fn rfc_6238_test_vectors() {
        let rows: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        for (time, sha1, sha256, sha512) in rows {
            for (alg, expected) in [
                (TotpAlg::Sha1, sha1),
                (TotpAlg::Sha256, sha256),
                (TotpAlg::Sha512, sha512),
            ] {
                let totp = Totp::with(seed(alg), alg, 8);
                assert_eq!(totp.code_at(time), expected, "{alg:?} at {time}");
                assert_eq!(
                    totp.matching_step(expected, time),
                    Some(Totp::step_at(time))
                );
            }
        }
    }

    /// RFC 4226 appendix D: HOTP values for counters 0-9 (6 digits, SHA-1).
    #[test]
    fn rfc_4226_hotp_values() {
        let totp = Totp::new(seed(TotpAlg::Sha1));
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(totp.code_for_step(counter as u64), *code);
        }
    }

    #[test]
    fn one_step_of_drift_either_way_and_no_more() {
        let totp = Totp::new(Totp::generate_secret().unwrap());
        let now = 1_800_000_000;
        let step = Totp::step_at(now);
        assert_eq!(
            totp.matching_step(&totp.code_for_step(step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            totp.matching_step(&totp.code_for_step(step + 1), now),
            Some(step + 1)
        );
        assert_eq!(totp.matching_step(&totp.code_for_step(step - 2), now), None);
        assert_eq!(totp.matching_step(&totp.code_for_step(step + 2), now), None);
        assert_eq!(totp.matching_step("12345", now), None);
        assert_eq!(totp.matching_step("abcdef", now), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn otpauth_uri_names_issuer_and_account() {
        let totp = Totp::new(Zeroizing::new(b"12345678901234567890".to_vec()));
        assert_eq!(
            totp.otpauth_uri("Mandate", "ada@example.com"),
            "otpauth://totp/Mandate:ada@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Mandate&algorithm=SHA1&digits=6&period=30"
        );
        assert!(!format!("{totp:?}").contains("1234"));
    }
}
