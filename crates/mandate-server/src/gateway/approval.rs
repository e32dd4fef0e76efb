//! The gateway's side of approvals: a `require_approval` decision stores an approval request
//! (the request's fingerprint, a redacted preview of its body, the rule), and a re-submitted
//! request with `approvalId` takes an approved one: exactly once, for exactly that request.

use axum::http::StatusCode;
use mandate_policy::pii::Scanner;
use mandate_store::approvals::{self, Approval, ApprovalState};
use mandate_store::change_bus::{Change, Topic};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::request::Prepared;
use crate::agents::principal::AgentPrincipal;
use crate::error::ApiError;
use crate::state::AppState;

/// Body previews are cut to this many characters (after redaction).
const PREVIEW_CHARS: usize = 2000;

/// The body as a person deciding sees it: every recognizer redacted, cut short.
pub fn preview(p: &Prepared) -> Option<String> {
    let body = p.body.as_ref()?;
    let scanner = Scanner::for_types(&["all_pii"], None).ok()?;
    let (redacted, _) = scanner.redact(&body.text());
    let mut cut: String = redacted.chars().take(PREVIEW_CHARS).collect();
    if cut.len() < redacted.len() {
        cut.push('…');
    }
    Some(cut)
}

pub struct NewApproval<'a> {
    pub agent: &'a AgentPrincipal,
    pub connection_id: &'a str,
    pub policy_id: Uuid,
    pub request: &'a Prepared,
    pub rule: String,
    pub reason: String,
    pub ttl_seconds: u32,
}

pub async fn create(app: &AppState, n: NewApproval<'_>) -> Result<Approval, ApiError> {
    let now = mandate_store::to_db_precision(OffsetDateTime::now_utc());
    let approval = Approval {
        id: Uuid::now_v7(),
        workspace_id: n.agent.workspace_id,
        agent_id: n.agent.agent_id,
        connection_id: n.connection_id.to_string(),
        policy_id: Some(n.policy_id),
        method: n.request.method.clone(),
        host: n.request.url.host_str().unwrap_or_default().to_string(),
        path: n.request.url.path().to_string(),
        fingerprint: n.request.fingerprint(),
        body_preview: preview(n.request),
        rule: n.rule,
        reason: n.reason,
        state: ApprovalState::Pending,
        created_at: now,
        expires_at: now + Duration::seconds(i64::from(n.ttl_seconds)),
        decided_by: None,
        decided_at: None,
        decision_reason: None,
        executed_at: None,
    };
    approvals::create(&app.db, &approval).await?;
    announce(app, &approval).await;
    crate::notifications::notices::approval_requested(app, &approval);
    Ok(approval)
}

/// Tell every replica (their live event streams) that `approval` changed.
pub async fn announce(app: &AppState, approval: &Approval) {
    let change = Change::new(Topic::Approval)
        .in_workspace(approval.workspace_id)
        .with_id(approval.id.to_string());
    if let Err(e) = app.bus.publish(&change).await {
        tracing::warn!(error = %e, "announcing an approval's change failed");
    }
}

/// Take approval `id` for this request, or say why it cannot be used.
pub async fn redeem(
    app: &AppState,
    agent: &AgentPrincipal,
    id: &str,
    request: &Prepared,
) -> Result<Approval, ApiError> {
    let unknown = || {
        ApiError::not_found("approval not found")
            .with_hint("use the approvalRequestId of the 202 answer to this request")
    };
    let id = Uuid::parse_str(id).map_err(|_| unknown())?;
    let now = OffsetDateTime::now_utc();
    let fingerprint = request.fingerprint();
    if let Some(taken) = approvals::redeem(&app.db, id, agent.agent_id, &fingerprint, now).await? {
        announce(app, &taken).await;
        return Ok(taken);
    }
    let approval = match approvals::get(&app.db, agent.workspace_id, id).await {
        Ok(a) if a.agent_id == agent.agent_id => a,
        Ok(_) | Err(mandate_store::StoreError::NotFound(_)) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    let conflict = |m: &str, hint: &str| ApiError::new(StatusCode::CONFLICT, m).with_hint(hint);
    Err(match approval.state_at(now) {
        ApprovalState::Expired => ApiError::new(StatusCode::GONE, "the approval expired")
            .with_hint("send the request again without approvalId to ask for a new approval"),
        ApprovalState::Pending => conflict(
            "the approval is still pending",
            "poll GET /v1/approvals/{id} until a person decides",
        ),
        ApprovalState::Denied => conflict(
            "the approval was denied",
            "a person refused this request; do not retry it unchanged",
        ),
        ApprovalState::Executed => conflict(
            "the approval was already used",
            "an approval runs its request once; ask again for another run",
        ),
        ApprovalState::Approved => conflict(
            "the request differs from the one that was approved",
            "re-submit exactly the approved method, URL, query and body",
        ),
    })
}
