//! Cryptography for Mandate. One provider, aws-lc-rs, for AEAD, randomness and digests.
//!
//! - [`Key256`]: 256-bit key material (the KEK given as ENCRYPTION_KEY, data keys).
//! - [`envelope`]: AES-256-GCM envelopes bound to their record.
//! - [`kek`]: key encryption key providers that wrap the data keys.
//! - [`tokens`]: prefixed, checksummed tokens; only their hash is stored.
//! - [`password`]: Argon2id password hashes; [`totp`]: RFC 6238 one-time codes;
//!   [`backup_codes`]: single-use MFA backup codes.

pub mod age;
pub mod agent_auth;
pub mod backup_codes;
pub mod digest;
pub mod envelope;
pub mod jwt_verify;
pub mod kek;
mod key256;
pub mod mac;
pub mod password;
pub mod pkce;
pub mod signing;
pub mod tokens;
pub mod totp;

pub use key256::{Key256, KeyError};
