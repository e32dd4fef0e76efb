//! Password hashing: Argon2id, stored as a PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, unpadded standard base64), so every stored
//! hash carries the parameters it was made with. [`PasswordHasher::verify`] says when a stored
//! hash was made with other parameters than the configured ones, so the caller can rehash on a
//! successful login. [`PasswordHasher::burn`] spends the same time as a verification for logins
//! with an unknown email, so timing does not tell whether an account exists.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use zeroize::Zeroizing;

const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB (OWASP's minimum configuration: 19456 = 19 MiB).
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    /// OWASP's recommended Argon2id configuration: m = 19 MiB, t = 2, p = 1.
    fn default() -> PasswordParams {
        PasswordParams {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("stored password hash is not an Argon2id PHC string")]
    Malformed,
    #[error("the system random generator failed")]
    Random,
    #[error("password hashing failed")]
    Hash,
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    /// The password is right; `needs_rehash` when the hash was made with other parameters.
    Match {
        needs_rehash: bool,
    },
}

#[derive(Clone, Debug)]
pub struct PasswordHasher {
    params: PasswordParams,
    /// A hash of a random password with the configured parameters, for [`Self::burn`].
    dummy: String,
}

impl PasswordHasher {
    pub fn new(params: PasswordParams) -> Result<PasswordHasher, PasswordError> {
        let mut random = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(random.as_mut()).map_err(|_| PasswordError::Random)?;
        let dummy = hash_with(params, &STANDARD_NO_PAD.encode(random.as_ref()))?;
        Ok(PasswordHasher { params, dummy })
    }

    pub fn params(&self) -> PasswordParams {
        self.params
    }

    /// A new PHC string for `password` with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        hash_with(self.params, password)
    }

    /// Check `password` against `stored` (constant time in the hash comparison).
    pub fn verify(&self, stored: &str, password: &str) -> Result<Verification, PasswordError> {
        let parsed = Phc::parse(stored)?;
        let computed = derive(parsed.params, password, &parsed.salt)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_ref(), &parsed.hash)
            .is_err()
        {
            return Ok(Verification::Mismatch);
        }
        Ok(Verification::Match {
            needs_rehash: parsed.params != self.params || parsed.hash.len() != HASH_BYTES,
        })
    }

    /// Spend the time of one verification and learn nothing (unknown accounts).
    pub fn burn(&self, password: &str) {
        let _ = self.verify(&self.dummy, password);
    }
}

fn argon2(params: PasswordParams, output_len: usize) -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(output_len),
    )
    .map_err(|e| PasswordError::Params(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn derive(
    params: PasswordParams,
    password: &str,
    salt: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    derive_len(params, password, salt, HASH_BYTES)
}

fn derive_len(
    params: PasswordParams,
    password: &str,
    salt: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    argon2(params, len)?
        .hash_password_into(password.as_bytes(), salt, &mut out)
        .map_err(|_| PasswordError::Hash)?;
    Ok(out)
}

fn hash_with(params: PasswordParams, password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; SALT_BYTES];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError::Random)?;
    let hash = derive(params, password, &salt)?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash.as_slice())
    ))
}

struct Phc {
    params: PasswordParams,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Phc {
    fn parse(text: &str) -> Result<Phc, PasswordError> {
        let mut parts = text.split('$');
        let (Some(""), Some("argon2id"), Some("v=19"), Some(params), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(PasswordError::Malformed);
        };
        let mut values = [None; 3];
        for pair in params.split(',') {
            let (name, value) = pair.split_once('=').ok_or(PasswordError::Malformed)?;
            let value: u32 = value.parse().map_err(|_| PasswordError::Malformed)?;
            let slot = match name {
                "m" => 0,
                "t" => 1,
                "p" => 2,
                _ => return Err(PasswordError::Malformed),
            };
            values[slot] = Some(value);
        }
        let [Some(memory_kib), Some(iterations), Some(parallelism)] = values else {
            return Err(PasswordError::Malformed);
        };
        let decode = |s: &str| {
            STANDARD_NO_PAD
                .decode(s)
                .map_err(|_| PasswordError::Malformed)
        };
        let (salt, hash) = (decode(salt)?, decode(hash)?);
        if salt.len() < 8 || hash.len() < 16 {
            return Err(PasswordError::Malformed);
        }
        Ok(Phc {
            params: PasswordParams {
                memory_kib,
                iterations,
                parallelism,
            },
            salt,
            hash,
        })
    }
}

/// Argon2id of `password` with the given salt and length: for checking against published
/// vectors and other implementations.
pub fn argon2id_raw(
    params: PasswordParams,
    password: &str,
    salt: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    derive_len(params, password, salt, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordParams {
        PasswordParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        let stored = hasher.hash("correct horse battery staple").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            hasher.verify(&stored, "correct horse battery staple"),
            Ok(Verification::Match {
                needs_rehash: false
            })
        );
        assert_eq!(
            hasher.verify(&stored, "correct horse battery stapler"),
            Ok(Verification::Mismatch)
        );
        assert_ne!(stored, hasher.hash("correct horse battery staple").unwrap());
    }

    #[test]
    fn changed_parameters_ask_for_a_rehash() {
        let old = PasswordHasher::new(cheap()).unwrap();
        let stored = old.hash("pw-for-rehash-test").unwrap();
        let new = PasswordHasher::new(PasswordParams {
            iterations: 2,
            ..cheap()
        })
        .unwrap();
        assert_eq!(
            new.verify(&stored, "pw-for-rehash-test"),
            Ok(Verification::Match { needs_rehash: true })
        );
    }

    #[test]
    fn malformed_hashes_are_errors_not_matches() {
        let hasher = PasswordHasher::new(cheap()).unwrap();
        for bad in [
            "",
            "plain",
            "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=1024,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=1024,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=1024,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert_eq!(
                hasher.verify(bad, "x"),
                Err(PasswordError::Malformed),
                "{bad}"
            );
        }
    }

    /// The argon2 reference implementation's test vector for Argon2id v1.3
    /// (`argon2 somesalt -id -t 2 -m 16 -p 1 -l 32` over "password").
    #[test]
    fn matches_the_reference_implementation() {
        let out = argon2id_raw(
            PasswordParams {
                memory_kib: 65_536,
                iterations: 2,
                parallelism: 1,
            },
            "password",
            b"somesalt",
            32,
        )
        .unwrap();
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"
        );
    }
}
