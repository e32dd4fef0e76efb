//! Building an audit event: who acted, on what, with which decision and outcome. Everything here
//! ends up in the log verbatim, so callers pass names, ids and counts, never secret values or
//! bodies (a redacted preview goes into `details` only when a policy asks for one).

use std::net::IpAddr;

use mandate_store::audit::AuditEntry;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    Agent(Uuid),
    /// Mandate itself or an operator at the shell: `server`, `cli`.
    System(&'static str),
}

/// What a policy (or an authentication check) decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied,
    ApprovalRequired,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
            Decision::ApprovalRequired => "approval_required",
        }
    }
}

/// How the action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Refused or unsuccessful for a reason outside Mandate (bad credentials, provider said no).
    Failure,
    /// Mandate could not complete it.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Error => "error",
        }
    }
}

/// The summary of a brokered request: no query string, no headers, no body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestSummary {
    pub method: String,
    pub host: String,
    pub path: String,
    pub status: Option<u16>,
    pub duration_ms: Option<u64>,
}

/// One event, ready for [`crate::audit::AuditLog::record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    entry: AuditEntry,
}

impl AuditEvent {
    /// A new event now, with a fresh time-ordered id. `action` is one of [`super::actions`].
    pub fn new(actor: Actor, action: &'static str) -> AuditEvent {
        let (kind, id) = match actor {
            Actor::User(id) => ("user", Some(id.to_string())),
            Actor::Agent(id) => ("agent", Some(id.to_string())),
            Actor::System(name) => ("system", Some(name.to_string())),
        };
        let agent_id = match actor {
            Actor::Agent(id) => Some(id.to_string()),
            _ => None,
        };
        AuditEvent {
            entry: AuditEntry {
                id: Uuid::now_v7(),
                occurred_at: OffsetDateTime::now_utc(),
                actor_kind: kind.into(),
                actor_id: id,
                action: action.into(),
                agent_id,
                ..AuditEntry::default()
            },
        }
    }

    /// The id callers return as `auditId`.
    pub fn id(&self) -> Uuid {
        self.entry.id
    }

    pub fn workspace(mut self, workspace_id: Uuid) -> AuditEvent {
        self.entry.workspace_id = Some(workspace_id);
        self
    }

    pub fn target(mut self, kind: &'static str, id: impl Into<String>) -> AuditEvent {
        self.entry.target_kind = Some(kind.into());
        self.entry.target_id = Some(id.into());
        self
    }

    /// The agent the event concerns (set already when an agent is the actor).
    pub fn agent(mut self, agent_id: Uuid) -> AuditEvent {
        self.entry.agent_id = Some(agent_id.to_string());
        self
    }

    pub fn connection(mut self, connection_id: Uuid) -> AuditEvent {
        self.entry.connection_id = Some(connection_id.to_string());
        self
    }

    pub fn decision(mut self, decision: Decision, rule: Option<&str>) -> AuditEvent {
        self.entry.decision = Some(decision.as_str().into());
        self.entry.rule = rule.map(str::to_string);
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> AuditEvent {
        self.entry.outcome = Some(outcome.as_str().into());
        self
    }

    pub fn request(mut self, request: RequestSummary) -> AuditEvent {
        self.entry.method = Some(request.method);
        self.entry.host = Some(request.host);
        self.entry.path = Some(request.path);
        self.entry.status = request.status.map(i32::from);
        self.entry.duration_ms = request
            .duration_ms
            .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX));
        self
    }

    pub fn source_ip(mut self, ip: IpAddr) -> AuditEvent {
        self.entry.source_ip = Some(ip.to_string());
        self
    }

    pub fn correlation_id(mut self, id: impl Into<String>) -> AuditEvent {
        self.entry.correlation_id = Some(id.into());
        self
    }

    /// Further facts: a JSON object of names, ids and counts. Anything else is wrapped as
    /// `{"value": ...}` so the column always holds an object.
    pub fn details(mut self, details: Value) -> AuditEvent {
        let object = if details.is_object() {
            details
        } else {
            serde_json::json!({ "value": details })
        };
        self.entry.details = Some(object.to_string());
        self
    }

    pub(crate) fn into_entry(self) -> AuditEntry {
        self.entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_actor_is_also_the_event_agent() {
        let agent = Uuid::now_v7();
        let event = AuditEvent::new(Actor::Agent(agent), "vault.execute.decision")
            .decision(Decision::ApprovalRequired, Some("writes need approval"))
            .request(RequestSummary {
                method: "POST".into(),
                host: "api.example.com".into(),
                path: "/v1/send".into(),
                status: None,
                duration_ms: None,
            });
        let entry = event.into_entry();
        assert_eq!(entry.actor_kind, "agent");
        assert_eq!(entry.agent_id, Some(agent.to_string()));
        assert_eq!(entry.decision.as_deref(), Some("approval_required"));
        assert_eq!(entry.rule.as_deref(), Some("writes need approval"));
        assert_eq!(entry.method.as_deref(), Some("POST"));
    }

    #[test]
    fn details_are_always_an_object() {
        let entry = AuditEvent::new(Actor::System("cli"), "keys.dek.rotated")
            .details(serde_json::json!(3))
            .into_entry();
        assert_eq!(entry.details.as_deref(), Some(r#"{"value":3}"#));
    }
}
