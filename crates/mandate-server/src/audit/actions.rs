//! The names of audited actions, in one place so the vocabulary stays consistent and an auditor
//! can read the whole list. Later features add theirs here.

/// The chain's first HMAC key was generated.
pub const AUDIT_KEY_CREATED: &str = "audit.key.created";
/// Every data key was re-wrapped under a new key encryption key (`mandate keys rotate-kek`).
pub const KEK_ROTATED: &str = "keys.kek.rotated";
/// Data keys still wrapped by a previous KEK were re-wrapped at start (after ENCRYPTION_KEY
/// changed, or a provider key version was rotated).
pub const KEK_REWRAPPED: &str = "keys.kek.rewrapped";
/// A workspace got a new data key and its secrets were re-encrypted.
pub const DEK_ROTATED: &str = "keys.dek.rotated";
/// A new signing key became current.
pub const SIGNING_KEY_ROTATED: &str = "keys.signing.rotated";
/// A key operation failed part-way (it resumes when run again).
pub const KEY_OPERATION_FAILED: &str = "keys.operation.failed";
