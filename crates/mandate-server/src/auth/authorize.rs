//! The layer in front of every `/v1` management route: authenticate, look the route up in
//! [`super::permissions::ROUTES`], and refuse what the caller's role, token or second factor
//! does not allow. Refusals are audited.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::permissions::{Permission, permission_for};
use super::principal::{self, Credential, Principal};
use crate::audit::{AuditEvent, Outcome, actions};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn authorize(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
    else {
        return ApiError::internal(&"authorize runs outside a matched route").into_response();
    };
    let method = req.method().clone();
    let now = OffsetDateTime::now_utc();
    let principal = match principal::authenticate(&state, &method, req.headers(), now).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(permission) = permission_for(&method, &path) else {
        tracing::error!(%method, path, "route has no permission rule; refused");
        return refuse(
            &state,
            &principal,
            None,
            &path,
            "no permission rule",
            forbidden_route(),
        )
        .await;
    };
    if let Err((reason, error)) = check(&principal, &method, permission, now) {
        return refuse(&state, &principal, Some(permission), &path, reason, error).await;
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

fn forbidden_route() -> ApiError {
    ApiError::forbidden("this route is not open to anyone yet")
}

/// The decision itself, without I/O.
pub fn check(
    principal: &Principal,
    method: &Method,
    permission: Permission,
    now: OffsetDateTime,
) -> Result<(), (&'static str, ApiError)> {
    let gate = permission.gate();
    if let Credential::PersonalAccessToken {
        read_only: true, ..
    } = principal.credential
        && !matches!(*method, Method::GET | Method::HEAD)
    {
        return Err((
            "read-only token",
            ApiError::forbidden("this personal access token is read-only"),
        ));
    }
    if principal.role < gate.min_role {
        return Err((
            "role",
            ApiError::forbidden(format!(
                "your role ({}) cannot {}; it needs {} or higher",
                principal.role,
                permission.name(),
                gate.min_role
            )),
        ));
    }
    if gate.step_up && !principal.has_fresh_second_factor(now) {
        let error = match principal.credential {
            Credential::PersonalAccessToken { .. } => {
                ApiError::forbidden("personal access tokens cannot do this")
                    .with_hint("sign in and confirm with your second factor")
            }
            _ => ApiError::forbidden("this needs a second factor given in the last 5 minutes")
                .with_hint(
                    "POST /api/auth/mfa with a code (set up an authenticator first if you have none), then retry",
                ),
        };
        return Err(("step-up", error));
    }
    Ok(())
}

async fn refuse(
    state: &AppState,
    principal: &Principal,
    permission: Option<Permission>,
    path: &str,
    reason: &'static str,
    error: ApiError,
) -> Response {
    let event = AuditEvent::new(principal.actor(), actions::ACCESS_DENIED)
        .workspace(principal.workspace_id)
        .outcome(Outcome::Failure)
        .details(serde_json::json!({
            "route": path,
            "permission": permission.map(Permission::name),
            "reason": reason,
            "role": principal.role.as_str(),
            "credential": principal.credential.kind(),
        }));
    if let Err(e) = state.audit.record_buffered(event).await {
        tracing::error!(error = %e, "recording a refused request failed");
    }
    error.into_response()
}
