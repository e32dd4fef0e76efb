//! Connection routes. So far the workspace's OAuth apps ([`oauth_apps`]).

mod oauth_apps;

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    oauth_apps::routes()
}
