//! Outbound HTTP for Mandate, safe against server-side request forgery.
//!
//! - [`ip_policy`]: which addresses are never reached (loopback, private, link-local and cloud
//!   metadata, carrier-grade NAT, documentation, benchmarking, multicast, reserved, unspecified;
//!   IPv4 embedded in IPv6 is judged as the IPv4 address it carries).
//! - [`resolver`]: resolves a name and refuses it when any answer is forbidden; the client
//!   connects only to the addresses it returned, so the name is never resolved twice (no DNS
//!   rebinding between check and connect).
//! - [`Egress`]: the URL guard (https only, plain http to loopback only; no userinfo; IP literals
//!   checked, since they bypass the resolver) and a client that follows no redirects, uses no
//!   proxy, has time limits, and reads bodies up to a cap.
//!
//! `allow_private` (the server's `SSRF_ALLOW_PRIVATE`) opens every forbidden range: for local
//! testing only, never a default. [`Exceptions`] (`SSRF_ALLOWLIST`) open exactly the CIDR blocks
//! and host names an operator names.

pub mod exceptions;
pub mod ip_policy;
pub mod resolver;

mod client;

pub use client::{Egress, EgressError, EgressOptions, EgressPolicy};
pub use exceptions::Exceptions;
pub use reqwest::{self, RequestBuilder, Response};
