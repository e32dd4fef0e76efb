//! Connections' rows. So far the workspaces' [`oauth_apps`]; the connections themselves come
//! with their connect flows.

pub mod oauth_apps;
