//! A data key (DEK) ready for use: its id and the AES-256-GCM key schedule, built once.

use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};

use super::EnvelopeError;
use crate::Key256;

pub struct DataKey {
    kid: String,
    aead: LessSafeKey,
}

impl DataKey {
    /// `kid`: 1-64 characters of A-Z, a-z, 0-9, `-`, `_`, `.` (it is stored in every envelope).
    pub fn new(kid: impl Into<String>, material: &Key256) -> Result<DataKey, EnvelopeError> {
        let kid = kid.into();
        if kid.is_empty() || kid.len() > 64 {
            return Err(EnvelopeError::InvalidKeyId("must be 1-64 characters"));
        }
        if !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(EnvelopeError::InvalidKeyId(
                "only A-Z, a-z, 0-9, -, _ and . are allowed",
            ));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, material.as_bytes())
            .map_err(|_| EnvelopeError::Crypto("cannot build the AES-256-GCM key"))?;
        Ok(DataKey {
            kid,
            aead: LessSafeKey::new(unbound),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(super) fn aead(&self) -> &LessSafeKey {
        &self.aead
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
