//! Mandate's policy engine, pure and without I/O.
//!
//! - [`document`]: the policy document of the agent API contract (serde).
//! - [`compile`]: validation with errors that name the field, and compilation (regexes, path
//!   patterns, time zones, PII scanners) into a [`CompiledPolicy`], cached by the server.
//! - [`decide`]: the decision for one request, explained (stage, rule, reason).
//! - [`response`]: response rules (field filters and redaction) for JSON, text and streams.
//! - [`pii`]: the recognizers (emails, phones, cards with Luhn, IBAN with mod 97, SSN, NINO, IP
//!   addresses, API keys, JWTs, private keys) and custom regexes.

pub mod allowlist;
pub mod compile;
pub mod decide;
pub mod document;
pub mod json_path;
pub mod method;
pub mod pii;
pub mod prompt;
pub mod response;
pub mod time_window;

pub use compile::{
    CompiledPolicy, DEFAULT_APPROVAL_TTL_SECONDS, PolicyError, from_value, parse_json,
};
pub use decide::{Body, Decision, Outcome, Request, Stage};
pub use document::{Model, PolicyDocument};
pub use response::{Bypass, Filtered, RedactionCount};

#[cfg(test)]
mod tests;
