//! The notices of each domain event, built from the rows involved. Names, hosts, paths, rules
//! and ids only: never a body, a secret or a credential.

use mandate_store::approvals::Approval;
use mandate_store::connections::accounts::Connection;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{EventType, Notice, notify, public_base};
use crate::state::AppState;

/// The agent's name for people (its id when it cannot be read).
async fn agent_name(app: &AppState, workspace_id: Uuid, agent_id: Uuid) -> String {
    match mandate_store::agents::get(&app.db, workspace_id, agent_id).await {
        Ok(Some(agent)) => agent.name,
        _ => agent_id.to_string(),
    }
}

/// The confirmation page of an approval (it asks for a session and a click; GET changes nothing).
/// The approve and deny links open the same page with `?intent=`, which only preselects.
pub fn review_link(app: &AppState, approval_id: Uuid) -> String {
    format!("{}/approvals/{approval_id}/review", public_base(app))
}

/// A request waits for a person's decision.
pub fn approval_requested(app: &AppState, a: &Approval) {
    let (app, a) = (app.clone(), a.clone());
    tokio::spawn(async move {
        let agent = agent_name(&app, a.workspace_id, a.agent_id).await;
        let expires = a.expires_at.format(&Rfc3339).unwrap_or_default();
        let notice = Notice::new(
            EventType::ApprovalRequested,
            a.workspace_id,
            format!(
                "Approval requested: agent {agent} wants {} {}{}",
                a.method, a.host, a.path
            ),
        )
        .line(format!("Rule: {} ({})", a.rule, a.reason))
        .line(format!("Expires: {expires}"))
        .link("review", review_link(&app, a.id))
        .link(
            "approve",
            format!("{}?intent=approve", review_link(&app, a.id)),
        )
        .link("deny", format!("{}?intent=deny", review_link(&app, a.id)))
        .data(json!({
            "approvalId": a.id,
            "agentId": a.agent_id,
            "agentName": agent,
            "connectionId": a.connection_id,
            "method": a.method,
            "host": a.host,
            "path": a.path,
            "rule": a.rule,
            "expiresAt": expires,
        }));
        notify(&app, notice);
    });
}

/// A person approved or denied a request.
pub fn approval_decided(app: &AppState, a: &Approval, approved: bool) {
    let (app, a) = (app.clone(), a.clone());
    tokio::spawn(async move {
        let agent = agent_name(&app, a.workspace_id, a.agent_id).await;
        let verdict = if approved { "approved" } else { "denied" };
        let mut notice = Notice::new(
            EventType::ApprovalDecided,
            a.workspace_id,
            format!(
                "Request {verdict}: agent {agent}, {} {}{}",
                a.method, a.host, a.path
            ),
        )
        .data(json!({
            "approvalId": a.id,
            "decision": verdict,
            "agentId": a.agent_id,
            "agentName": agent,
            "decidedBy": a.decided_by,
            "reason": a.decision_reason,
        }));
        if let Some(reason) = &a.decision_reason {
            notice = notice.line(format!("Reason: {reason}"));
        }
        notify(&app, notice);
    });
}

/// An agent asks for an action it has no policy for.
pub fn permission_requested(
    app: &AppState,
    r: &mandate_store::permission_requests::PermissionRequest,
    action_name: &str,
) {
    let (app, r, action) = (app.clone(), r.clone(), action_name.to_string());
    tokio::spawn(async move {
        let agent = agent_name(&app, r.workspace_id, r.agent_id).await;
        let notice = Notice::new(
            EventType::PermissionRequested,
            r.workspace_id,
            format!("Agent {agent} asks for a new permission: {action}"),
        )
        .line(format!("Its reason: {}", r.reason))
        .line("An admin grants it (binding a connection) or refuses it.")
        .data(json!({
            "requestId": r.id,
            "agentId": r.agent_id,
            "agentName": agent,
            "actionTemplateId": r.template_id,
        }));
        notify(&app, notice);
    });
}

/// A connection's provider refused its refresh: a person must connect it again.
pub fn connection_needs_reauth(app: &AppState, c: &Connection, reason: &str) {
    let notice = Notice::new(
        EventType::ConnectionNeedsReauth,
        c.workspace_id,
        format!(
            "Connection {} ({}) needs to be connected again",
            c.label, c.provider
        ),
    )
    .line(format!("The provider said: {reason}"))
    .line("Agents using it are refused until a person reconnects it.")
    .data(json!({
        "connectionId": c.id,
        "provider": c.provider,
        "label": c.label,
    }));
    notify(app, notice);
}
