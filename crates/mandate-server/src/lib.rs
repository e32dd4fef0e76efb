//! The Mandate server: configuration, HTTP API and middleware, lifecycle.

pub mod agents;
pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod connections;
pub mod dashboard;
pub mod error;
pub mod gateway;
pub mod http;
pub mod jobs;
pub mod notifications;
pub mod policies;
pub mod replica_cache;
pub mod serve;
pub mod signing;
pub mod state;
pub mod telemetry;
pub mod vault;
