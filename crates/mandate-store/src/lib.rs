//! Storage for Mandate.
//!
//! One [`Db`] that is either SQLite (the embedded default) or PostgreSQL. SQL is written once with
//! `$N` placeholders (SQLite reads `$N` as the N-th argument too) and run on whichever pool this
//! is through [`on_pool!`]. Each dialect has its own migrations folder with the same numbering.
//! The [`change_bus`] tells every replica that something changed.

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod change_bus;
pub mod connections;
pub mod data_keys;
mod db;
mod error;
mod migrate;
pub mod notifications;
pub mod people;
pub mod permission_requests;
pub mod policies;
pub mod rate_limits;
pub mod sealed_columns;
pub mod signing_keys;
pub use migrate::embedded as embedded_migrations;
pub mod workspaces;

pub use db::{Backend, Db, DbOptions, redact_url};
pub use error::StoreError;
pub use migrate::MigrationReport;

/// Truncate a time to microseconds, the precision both backends store, so a value reads back
/// equal to what was written.
pub fn to_db_precision(t: time::OffsetDateTime) -> time::OffsetDateTime {
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.replace_nanosecond(micros).unwrap_or(t)
}
