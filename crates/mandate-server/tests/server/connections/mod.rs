//! Connections end to end, on SQLite and PostgreSQL. So far: the workspaces' OAuth apps.

mod oauth_apps;
