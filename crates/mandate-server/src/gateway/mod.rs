//! The execution gateway: what an agent asks Mandate to do with a connection.
//!
//! - [`execute`]: Model B, the brokered request (decide, record, inject, send, filter, record).
//! - [`token`]: Model A, token vending (a short-lived OAuth access token, never a refresh token).
//! - [`request`]: the contract's request, checked; [`target`]: its connection and policy.
//! - [`headers`]: header hygiene both ways; [`reply`] and [`stream`]: the provider's answer,
//!   filtered, bounded, buffered or streamed.
//! - [`scrub`]: the credential removed from replies, however the provider reflects it.
//! - [`approval`]: asking for and redeeming approvals; [`rate_limit`]: requests per hour.

pub mod approval;
pub mod execute;
pub mod headers;
pub mod rate_limit;
pub mod reply;
pub mod request;
pub mod scrub;
pub mod stream;
pub mod target;
pub mod token;
