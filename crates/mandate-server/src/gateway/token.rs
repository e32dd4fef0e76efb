//! Model A, token vending: where the policy allows model A (and its time windows and hourly
//! limit hold), the agent gets the connection's current OAuth access token, refreshed first when
//! it is about to expire, with at most an hour to live in `expiresIn`. Never a refresh token, and
//! never a long-lived secret (API keys, bot tokens, passwords stay behind the proxy).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mandate_policy::{Model, Outcome as PolicyOutcome, Request};
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use super::execute::{Caller, access_error};
use super::target::Target;
use crate::audit::{Decision, Outcome, actions};
use crate::connections::access;
use crate::connections::credential::Credential;
use crate::error::ApiError;
use crate::state::AppState;

/// The longest `expiresIn` the contract allows.
const MAX_EXPIRES_IN: i64 = 3600;

pub async fn vend(
    app: &AppState,
    caller: &Caller<'_>,
    target: &Target,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let placeholder = Url::parse("https://model-a.invalid/").map_err(|e| ApiError::internal(&e))?;
    let decision = target.policy.compiled.decide(&Request {
        model: Model::A,
        method: "GET",
        url: &placeholder,
        body: None,
        body_bytes: 0,
        unix_seconds: now.unix_timestamp(),
    });
    let event = |decision: Decision, rule: &str| {
        crate::connections::audit_event(
            caller.agent.actor(),
            actions::TOKEN_VENDED,
            &target.connection,
        )
        .decision(decision, Some(rule))
        .source_ip(caller.ip)
        .correlation_id(caller.correlation.clone())
    };
    if decision.outcome != PolicyOutcome::Allow {
        let _ = app
            .audit
            .record_buffered(
                event(Decision::Denied, &decision.rule_name())
                    .outcome(Outcome::Failure)
                    .details(json!({"reason": decision.reason})),
            )
            .await;
        return Err(
            ApiError::forbidden(format!("denied by policy: {}", decision.reason))
                .with_hint("use model B (the brokered proxy), or ask a person to allow model A"),
        );
    }
    super::rate_limit::take(
        app,
        target.connection.workspace_id,
        target.policy.id,
        &target.policy.compiled,
        now,
    )
    .await?;
    let usable = access::credential_for(app, target.connection.clone())
        .await
        .map_err(access_error)?;
    let Credential::Oauth { access_token, .. } = &usable.credential else {
        let _ = app
            .audit
            .record_buffered(
                event(Decision::Denied, "modelA.longLivedSecret").outcome(Outcome::Failure),
            )
            .await;
        return Err(ApiError::forbidden(
            "this connection's credential is a long-lived secret and is never handed out",
        )
        .with_hint("use model B: POST /v1/vault/execute with \"model\": \"B\""));
    };
    let expires_in = usable
        .connection
        .access_expires_at
        .map_or(MAX_EXPIRES_IN, |at| {
            (at - now).whole_seconds().clamp(0, MAX_EXPIRES_IN)
        });
    let audit_id = app
        .audit
        .record(
            event(Decision::Allowed, &decision.rule_name())
                .outcome(Outcome::Success)
                .details(json!({"expiresIn": expires_in, "policyId": target.policy.id, "policyVersion": target.policy.version})),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let answer = json!({
        "model": "A",
        "accessToken": access_token,
        "tokenType": "Bearer",
        "expiresIn": expires_in,
        "auditId": audit_id,
    });
    Ok((StatusCode::OK, axum::Json(answer)).into_response())
}
