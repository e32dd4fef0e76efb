//! How an agent proves who it is: the public key it enrolls ([`public_key`]) and the RFC 7523
//! client assertions it signs with the matching private key ([`assertion`]). Pure checks, no
//! I/O: the server looks keys up and records `jti`s.

pub mod assertion;
pub mod public_key;

pub use assertion::{AssertionError, AssertionRules, CheckedAssertion, UnverifiedAssertion};
pub use public_key::{AgentPublicKey, PublicKeyError};
