//! Workspaces and their people: the workspace itself, members and their roles, invitations.
//! Everything is scoped to the caller's workspace: another workspace's ids answer 404.

mod invites;
mod members;
mod workspace;

use axum::Router;
use axum::routing::{delete, get};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/workspace",
            get(workspace::show).patch(workspace::rename),
        )
        .route("/v1/workspaces", get(workspace::list_mine))
        .route("/v1/members", get(members::list))
        .route(
            "/v1/members/{userId}",
            get(members::show)
                .patch(members::change_role)
                .delete(members::remove),
        )
        .route("/v1/invites", get(invites::list).post(invites::create))
        .route("/v1/invites/{inviteId}", delete(invites::revoke))
}
