//! Cryptography for Mandate. One provider, aws-lc-rs, for randomness (and, as the vault grows,
//! AEAD, signatures, HMAC and digests).

mod key256;

pub use key256::{Key256, KeyError};
