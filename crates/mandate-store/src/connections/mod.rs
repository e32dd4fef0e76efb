//! Connections' rows: the [`accounts`] linked at providers (credential sealed by the vault
//! before it gets here), the OAuth connect [`flows`] in progress, the workspaces'
//! [`oauth_apps`], and the per-connection [`refresh_lock`].

pub mod accounts;
pub mod flows;
pub mod oauth_apps;
pub mod refresh_lock;

pub use accounts::{Connection, ConnectionState};
