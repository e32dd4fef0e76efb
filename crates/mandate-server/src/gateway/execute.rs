//! Model B, the brokered request, step by step: the connection and its policy; the credential's
//! allowed hosts and the SSRF guard; the policy's decision; the hourly limit; approval (ask or
//! redeem); a durable decision record (nothing reaches the provider before it is written); the
//! credential (refreshed when due) injected; the request sent through the SSRF-safe client (a
//! 401 refreshes an OAuth token once and retries); response rules; the outcome record; the reply.

use mandate_egress::reqwest;
use std::net::IpAddr;
use std::time::Instant;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mandate_policy::{
    Bypass, Decision as PolicyDecision, Model, Outcome as PolicyOutcome, Request, Stage,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::approval::{self, NewApproval};
use super::headers;
use super::reply::{self, provider_unreachable};
use super::request::{ExecuteRequest, Prepared, prepare};
use super::scrub::Scrubber;
use super::stream;
use super::target::{self, Target};
use crate::agents::principal::AgentPrincipal;
use crate::audit::{AuditEvent, Decision, Outcome, RequestSummary, actions};
use crate::connections::access::{self, AccessError, Usable};
use crate::connections::injection;
use crate::error::ApiError;
use crate::state::AppState;

/// Who is asking, from where.
pub struct Caller<'a> {
    pub agent: &'a AgentPrincipal,
    pub ip: IpAddr,
    /// The request id, which ties the decision and outcome records to the server's log.
    pub correlation: String,
}

pub async fn execute(
    app: &AppState,
    caller: &Caller<'_>,
    req: ExecuteRequest,
) -> Result<Response, ApiError> {
    let model = req.model()?;
    let target = target::resolve(app, caller.agent, &req).await?;
    if model == Model::A {
        return super::token::vend(app, caller, &target).await;
    }
    let mut prepared = prepare(&req)?;
    let summary = RequestSummary {
        method: prepared.method.clone(),
        host: prepared.url.host_str().unwrap_or_default().to_string(),
        path: prepared.url.path().to_string(),
        status: None,
        duration_ms: None,
    };
    let record = Records {
        app,
        caller,
        target: &target,
        summary: &summary,
    };

    if let Err(e) = check_destination(app, &target, &prepared) {
        record.denied(&e.message, "destination").await;
        return Err(e);
    }
    let now = OffsetDateTime::now_utc();
    let policy = &target.policy.compiled;
    let view = Request {
        model: Model::B,
        method: &prepared.method,
        url: &prepared.url,
        body: prepared.body.as_ref(),
        body_bytes: prepared.body_bytes.len() as u64,
        unix_seconds: now.unix_timestamp(),
    };
    let decision = policy.decide(&view);
    let wants_bypass =
        (req.bypass_pii_redaction || req.request_full_fields) && policy.filters_response(&view);
    if decision.outcome == PolicyOutcome::Deny {
        record.denied(&decision.reason, &decision.rule_name()).await;
        return Err(denied(&decision));
    }
    if let Err(e) = super::rate_limit::take(
        app,
        target.connection.workspace_id,
        target.policy.id,
        policy,
        now,
    )
    .await
    {
        record
            .denied(&e.message, "rateLimits.maxRequestsPerHour")
            .await;
        return Err(e);
    }
    let needs_approval = decision.outcome == PolicyOutcome::RequireApproval || wants_bypass;
    let bypass = match &req.approval_id {
        Some(id) => {
            approval::redeem(app, caller.agent, id, &prepared).await?;
            Bypass {
                redaction: req.bypass_pii_redaction,
                field_filters: req.request_full_fields,
            }
        }
        None if needs_approval => {
            return ask_approval(
                app,
                caller,
                &target,
                &prepared,
                &decision,
                wants_bypass,
                &record,
            )
            .await;
        }
        None => Bypass::default(),
    };

    let audit_id = record
        .allowed(&decision, req.approval_id.as_deref())
        .await?;
    if decision.outcome == PolicyOutcome::Redact
        && let (Some(index), Some(mut body)) = (decision.rule_index, prepared.body.clone())
    {
        policy.redact_request(index, &mut body);
        prepared.set_body(body);
    }
    let started = Instant::now();
    let sent = send(app, &target, &prepared).await;
    let (response, scrubber) = match sent {
        Ok(r) => r,
        Err(e) => {
            record
                .outcome(
                    audit_id,
                    Outcome::Error,
                    None,
                    started,
                    json!({"error": e.message}),
                )
                .await;
            return Err(e);
        }
    };
    let status = response.status().as_u16();
    let cap = response_cap(app, policy);
    if req.stream || req.download {
        if response.content_length().is_some_and(|n| n > cap as u64) {
            let e = reply::too_large(cap);
            record
                .outcome(
                    audit_id,
                    Outcome::Error,
                    Some(status),
                    started,
                    json!({"error": e.message}),
                )
                .await;
            return Err(e);
        }
        let how = Streamed {
            cap,
            bypass,
            audit_id,
            started,
            download: req.download,
            scrubber,
        };
        return Ok(streamed(
            app, caller, &target, &prepared, response, how, &summary,
        ));
    }
    let mut reply_headers = headers::reply_map(response.headers());
    for value in reply_headers.values_mut() {
        *value = scrubber.scrub_str(value);
    }
    let view = Request {
        model: Model::B,
        method: &prepared.method,
        url: &prepared.url,
        body: None,
        body_bytes: 0,
        unix_seconds: now.unix_timestamp(),
    };
    let shaped = match reply::shape(response, cap, policy, &view, bypass, &scrubber).await {
        Ok(s) => s,
        Err(e) => {
            record
                .outcome(
                    audit_id,
                    Outcome::Error,
                    Some(status),
                    started,
                    json!({"error": e.message}),
                )
                .await;
            return Err(e);
        }
    };
    let redacted: usize = shaped.filtered.redactions.iter().map(|r| r.count).sum();
    record
        .outcome(
            audit_id,
            if status < 400 { Outcome::Success } else { Outcome::Failure },
            Some(status),
            started,
            json!({"responseBytes": shaped.size_bytes, "redactions": redacted, "responseRules": shaped.filtered.rules}),
        )
        .await;
    let mut answer = json!({
        "model": "B",
        "status": status,
        "headers": reply_headers,
        "body": shaped.body,
        "auditId": audit_id,
    });
    if shaped.filtered.redacted() {
        answer["piiRedacted"] = json!(true);
        answer["redactions"] = json!(shaped.filtered.redactions);
        answer["hint"] = json!("some values were redacted by the policy's response rules");
    }
    Ok((StatusCode::OK, axum::Json(answer)).into_response())
}

/// The credential goes only to the connection's hosts, and only where the SSRF guard allows.
fn check_destination(app: &AppState, target: &Target, prepared: &Prepared) -> Result<(), ApiError> {
    let host = prepared.url.host_str().unwrap_or_default();
    let hosts = crate::connections::allowed_hosts(&app.catalog, &target.connection);
    if !hosts.iter().any(|h| h == host) {
        return Err(ApiError::forbidden(format!(
            "this connection's credential may not be sent to `{host}`"
        ))
        .with_hint(format!("the connection's hosts are: {}", hosts.join(", "))));
    }
    app.egress
        .check_url(&prepared.url)
        .map_err(|e| provider_unreachable(&e))
}

fn denied(d: &PolicyDecision) -> ApiError {
    let (status, hint) = match d.stage {
        Stage::PayloadSize => (StatusCode::PAYLOAD_TOO_LARGE, "send a smaller body"),
        Stage::TimeWindows => (
            StatusCode::FORBIDDEN,
            "retry inside the policy's time windows",
        ),
        Stage::Allowlists => (
            StatusCode::FORBIDDEN,
            "the policy's allowlist does not cover this method and path; ask a person to extend it",
        ),
        Stage::AllowedModels => (StatusCode::FORBIDDEN, "use a model the policy allows"),
        _ => (
            StatusCode::FORBIDDEN,
            "the policy denies this request; do not retry it unchanged",
        ),
    };
    ApiError::new(status, format!("denied by policy: {}", d.reason)).with_hint(hint)
}

fn response_cap(app: &AppState, policy: &mandate_policy::CompiledPolicy) -> usize {
    let global = app.config.gateway_max_response_bytes;
    policy
        .rate_limits()
        .and_then(|l| l.max_response_size_bytes)
        .map_or(global, |p| (p.min(global as u64)) as usize)
}

async fn ask_approval(
    app: &AppState,
    caller: &Caller<'_>,
    target: &Target,
    prepared: &Prepared,
    decision: &PolicyDecision,
    for_bypass: bool,
    record: &Records<'_>,
) -> Result<Response, ApiError> {
    let (rule, reason) = if decision.outcome == PolicyOutcome::RequireApproval {
        (decision.rule_name(), decision.reason.clone())
    } else {
        debug_assert!(for_bypass);
        (
            "bypassPiiRedaction".to_string(),
            "the agent asked to see the response without the policy's filters".to_string(),
        )
    };
    let approval = approval::create(
        app,
        NewApproval {
            agent: caller.agent,
            connection_id: &target.connection.id,
            policy_id: target.policy.id,
            request: prepared,
            rule: rule.clone(),
            reason: reason.clone(),
            ttl_seconds: target.policy.compiled.approval_ttl_seconds(),
        },
    )
    .await?;
    let audit_id = record
        .durable(
            record
                .event(actions::EXECUTE_DECISION)
                .decision(Decision::ApprovalRequired, Some(&rule))
                .details(json!({"approvalRequestId": approval.id, "reason": reason, "policyId": target.policy.id, "policyVersion": target.policy.version})),
        )
        .await?;
    let mut answer = json!({
        "approvalRequired": true,
        "approvalRequestId": approval.id,
        "reason": reason,
        "expiresAt": crate::api::auth::time_json(approval.expires_at),
        "hint": format!("a person must approve it; poll GET /v1/approvals/{}, then send the same request again with \"approvalId\"", approval.id),
        "auditId": audit_id,
    });
    if decision.rule_label.is_some() {
        answer["ruleLabel"] = json!(rule);
    }
    Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
}

/// Open the credential, inject it, send; after a 401 on an OAuth token, refresh once and retry.
async fn send(
    app: &AppState,
    target: &Target,
    prepared: &Prepared,
) -> Result<(reqwest::Response, Scrubber), ApiError> {
    let usable = access::credential_for(app, target.connection.clone())
        .await
        .map_err(access_error)?;
    let response = send_with(app, &usable, prepared).await?;
    let scrubber = Scrubber::for_credential(&usable.credential);
    if response.status() != reqwest::StatusCode::UNAUTHORIZED
        || usable.credential.refresh_token().is_none()
    {
        return Ok((response, scrubber));
    }
    let Some(rejected) = usable
        .credential
        .api_token()
        .map(|t| Zeroizing::new(t.to_string()))
    else {
        return Ok((response, scrubber));
    };
    let renewed = access::credential_after_rejection(
        app,
        target.connection.workspace_id,
        &target.connection.id,
        &rejected,
    )
    .await
    .map_err(access_error)?;
    let response = send_with(app, &renewed, prepared).await?;
    Ok((response, Scrubber::for_credential(&renewed.credential)))
}

async fn send_with(
    app: &AppState,
    usable: &Usable,
    prepared: &Prepared,
) -> Result<reqwest::Response, ApiError> {
    let provider = app
        .catalog
        .get(&usable.connection.provider)
        .ok_or_else(|| {
            ApiError::internal(&format!(
                "provider `{}` is not in the catalog",
                usable.connection.provider
            ))
        })?;
    let (url, injected) = injection::inject(provider, &usable.credential, prepared.url.clone())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let injected_names: Vec<&str> = injected.iter().map(|(n, _)| n.as_str()).collect();
    let method = reqwest::Method::from_bytes(prepared.method.as_bytes())
        .map_err(|_| ApiError::bad_request("invalid method"))?;
    let mut builder = app
        .egress
        .request(method, url)
        .map_err(|e| provider_unreachable(&e))?;
    for (name, value) in headers::outgoing(&prepared.headers, &injected_names) {
        builder = builder.header(name, value);
    }
    for (name, value) in &injected {
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| ApiError::internal(&"an injected header is not a valid header value"))?;
        value.set_sensitive(true);
        builder = builder.header(name.as_str(), value);
    }
    if !prepared.body_bytes.is_empty() {
        if let Some(ct) = &prepared.content_type {
            builder = builder.header(reqwest::header::CONTENT_TYPE, ct);
        }
        builder = builder.body(prepared.body_bytes.clone());
    }
    app.egress
        .send(builder)
        .await
        .map_err(|e| provider_unreachable(&e))
}

pub fn access_error(e: AccessError) -> ApiError {
    match e {
        AccessError::NotFound => ApiError::not_found("connection not found"),
        AccessError::Revoked => ApiError::new(StatusCode::CONFLICT, "the connection was revoked")
            .with_hint("a person must connect the account again"),
        AccessError::NeedsReauth(_) => ApiError::new(
            StatusCode::CONFLICT,
            "the connection needs to be re-authorized",
        )
        .with_hint("a person must connect the account again; retry afterwards"),
        AccessError::RefreshFailed(why) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the provider token could not be refreshed: {why}"),
        )
        .with_hint("retry later"),
        AccessError::Internal(why) => ApiError::internal(&why),
    }
}

/// How a streamed reply is bounded, filtered and recorded.
struct Streamed {
    cap: usize,
    bypass: Bypass,
    audit_id: uuid::Uuid,
    started: Instant,
    download: bool,
    scrubber: Scrubber,
}

fn streamed(
    app: &AppState,
    caller: &Caller<'_>,
    target: &Target,
    prepared: &Prepared,
    response: reqwest::Response,
    how: Streamed,
    summary: &RequestSummary,
) -> Response {
    let Streamed {
        cap,
        bypass,
        audit_id,
        started,
        download,
        scrubber,
    } = how;
    let status = response.status().as_u16();
    let content_type = reply::content_type(&response);
    let view = Request {
        model: Model::B,
        method: &prepared.method,
        url: &prepared.url,
        body: None,
        body_bytes: 0,
        unix_seconds: 0,
    };
    let filters = target.policy.compiled.filters_response(&view)
        && (!download || reply::is_text_type(&content_type));
    let filter = filters.then(|| stream::Filter {
        policy: target.policy.clone(),
        method: prepared.method.clone(),
        url: prepared.url.clone(),
        bypass,
        sse: content_type.starts_with("text/event-stream"),
    });
    let mut builder = axum::http::Response::builder().status(status);
    // Filtering and scrubbing may change the length: the reply is re-framed.
    for (name, value) in response.headers() {
        if headers::returned(name.as_str())
            && name != reqwest::header::CONTENT_LENGTH
            && let Ok(value) = value.to_str()
        {
            builder = builder.header(name, scrubber.scrub_str(value));
        }
    }
    builder = builder.header("x-mandate-audit-id", audit_id.to_string());
    let outcome = Records {
        app,
        caller,
        target,
        summary,
    }
    .outcome_event(Some(status), started);
    let audit = app.audit.clone();
    let on_end = Box::new(move |end: stream::StreamEnd| {
        let result = if end.too_large || end.failed.is_some() {
            Outcome::Error
        } else if status < 400 {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let event = outcome.outcome(result).details(json!({
            "decisionId": audit_id, "responseBytes": end.bytes, "redactions": end.redactions, "streamed": true,
            "tooLarge": end.too_large, "error": end.failed,
        }));
        tokio::spawn(async move {
            if let Err(e) = audit.record_buffered(event).await {
                tracing::error!(error = %e, "the outcome record of a stream could not be queued");
            }
        });
    });
    let body = stream::body(response, filter, scrubber, cap, on_end);
    builder
        .body(body)
        .unwrap_or_else(|_| ApiError::internal(&"building a streamed reply failed").into_response())
}

/// The audit records of one execution.
struct Records<'a> {
    app: &'a AppState,
    caller: &'a Caller<'a>,
    target: &'a Target,
    summary: &'a RequestSummary,
}

impl Records<'_> {
    fn event(&self, action: &'static str) -> AuditEvent {
        crate::connections::audit_event(self.caller.agent.actor(), action, &self.target.connection)
            .request(self.summary.clone())
            .source_ip(self.caller.ip)
            .correlation_id(self.caller.correlation.clone())
    }

    async fn durable(&self, event: AuditEvent) -> Result<uuid::Uuid, ApiError> {
        self.app
            .audit
            .record(event)
            .await
            .map_err(|e| ApiError::internal(&e))
    }

    /// A refusal: nothing reached the provider, so the record may wait for the next batch.
    async fn denied(&self, reason: &str, rule: &str) {
        let event = self
            .event(actions::EXECUTE_DECISION)
            .decision(Decision::Denied, Some(rule))
            .details(json!({"reason": reason, "policyId": self.target.policy.id, "policyVersion": self.target.policy.version}));
        if let Err(e) = self.app.audit.record_buffered(event).await {
            tracing::error!(error = %e, "a denial could not be audited");
        }
    }

    /// The allowed decision, durable before the provider is called.
    async fn allowed(
        &self,
        d: &PolicyDecision,
        approval_id: Option<&str>,
    ) -> Result<uuid::Uuid, ApiError> {
        let mut details = json!({
            "model": "B", "stage": d.stage, "reason": d.reason,
            "policyId": self.target.policy.id, "policyVersion": self.target.policy.version,
        });
        if let Some(id) = approval_id {
            details["approvalId"] = Value::String(id.to_string());
        }
        if d.outcome == PolicyOutcome::Redact {
            details["requestRedacted"] = json!(true);
        }
        self.durable(
            self.event(actions::EXECUTE_DECISION)
                .decision(Decision::Allowed, Some(&d.rule_name()))
                .details(details),
        )
        .await
    }

    /// The outcome record (its details name the decision record: `decisionId`).
    fn outcome_event(&self, status: Option<u16>, started: Instant) -> AuditEvent {
        let mut summary = self.summary.clone();
        summary.status = status;
        summary.duration_ms = Some(started.elapsed().as_millis() as u64);
        crate::connections::audit_event(
            self.caller.agent.actor(),
            actions::EXECUTE_OUTCOME,
            &self.target.connection,
        )
        .request(summary)
        .source_ip(self.caller.ip)
        .correlation_id(self.caller.correlation.clone())
    }

    async fn outcome(
        &self,
        decision_id: uuid::Uuid,
        outcome: Outcome,
        status: Option<u16>,
        started: Instant,
        mut details: Value,
    ) {
        details["decisionId"] = json!(decision_id);
        let event = self
            .outcome_event(status, started)
            .outcome(outcome)
            .details(details);
        if let Err(e) = self.app.audit.record_buffered(event).await {
            tracing::error!(error = %e, "an execution outcome could not be queued for the audit log");
        }
    }
}
