//! The Mandate server: configuration, HTTP API and middleware, lifecycle.

pub mod config;
