//! People's authentication and authorization.
//!
//! - [`principal`]: who is calling (session cookie, JWT or personal access token) and with
//!   which role; [`authorize`]: the `/v1` layer that applies [`permissions`], the one table of
//!   who may do what.
//! - [`sign_in`]: starting sessions; [`cookies`]: the session cookie; [`csrf`]: Origin and
//!   Sec-Fetch-Site checks for cookie requests; [`second_factor`]: TOTP and backup codes;
//!   [`passkeys`]: WebAuthn ceremonies (the other second factor);
//!   [`jwt`]: the short-lived JWTs people's scripts use.
//! - [`passwords`]: Argon2id off the async runtime; [`limits`]: rate limits and the lockout;
//!   [`client_ip`]: the address they count; [`setup_token`]: first-run setup.
//!
//! The HTTP routes are in `api/auth` (sign-in, sessions, MFA) and `api/workspaces` (members,
//! invitations); docs/security.md describes the whole scheme.

pub mod authorize;
pub mod caller;
pub mod client_ip;
pub mod cookies;
pub mod csrf;
pub mod jwt;
pub mod limits;
pub mod passkeys;
pub mod passwords;
pub mod permissions;
pub mod principal;
pub mod second_factor;
pub mod setup_token;
pub mod sign_in;

pub use client_ip::ClientIp;
pub use principal::{ActiveSession, CurrentSession, Principal};
