//! What can be notified, and how a notice reads: a JSON payload for webhooks (the Standard
//! Webhooks shape `{"type", "timestamp", "data"}`) and a few lines of text for chat and mail.
//! Notices carry ids, names, hosts and paths, never a secret, a credential or a request body.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// Every event type a channel can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    ApprovalRequested,
    ApprovalDecided,
    PermissionRequested,
    ConnectionNeedsReauth,
    AgentAuthFailures,
    RateLimitSustained,
    KeyRotationDue,
    /// Sent on request (`POST .../test`) to check a channel; every channel gets it.
    Test,
}

impl EventType {
    /// The types a channel may name (the test event is not subscribed to).
    pub const SUBSCRIBABLE: [EventType; 7] = [
        EventType::ApprovalRequested,
        EventType::ApprovalDecided,
        EventType::PermissionRequested,
        EventType::ConnectionNeedsReauth,
        EventType::AgentAuthFailures,
        EventType::RateLimitSustained,
        EventType::KeyRotationDue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ApprovalRequested => "approval.requested",
            EventType::ApprovalDecided => "approval.decided",
            EventType::PermissionRequested => "permission.requested",
            EventType::ConnectionNeedsReauth => "connection.needs_reauth",
            EventType::AgentAuthFailures => "agent.auth_failures",
            EventType::RateLimitSustained => "rate_limit.sustained",
            EventType::KeyRotationDue => "key_rotation.due",
            EventType::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::SUBSCRIBABLE
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// One thing to tell a workspace's channels.
#[derive(Clone, Debug)]
pub struct Notice {
    pub event: EventType,
    pub workspace_id: Uuid,
    /// One line, e.g. "Approval requested: agent mail assistant wants POST api.example.com/x".
    pub title: String,
    /// Further lines for chat and mail (context, what to do).
    pub lines: Vec<String>,
    /// Links a person may open (a confirmation page, never an action taken on GET).
    pub links: Vec<(String, String)>,
    /// The machine-readable part, for webhooks.
    pub data: Value,
}

impl Notice {
    pub fn new(event: EventType, workspace_id: Uuid, title: impl Into<String>) -> Notice {
        Notice {
            event,
            workspace_id,
            title: title.into(),
            lines: Vec::new(),
            links: Vec::new(),
            data: json!({}),
        }
    }

    pub fn line(mut self, line: impl Into<String>) -> Notice {
        self.lines.push(line.into());
        self
    }

    pub fn link(mut self, label: impl Into<String>, url: impl Into<String>) -> Notice {
        self.links.push((label.into(), url.into()));
        self
    }

    pub fn data(mut self, data: Value) -> Notice {
        self.data = data;
        self
    }

    /// The webhook payload: `data` with the summary, `lines` and `links` added.
    pub fn payload(&self, now: OffsetDateTime) -> Value {
        let mut data = self.data.clone();
        if let Value::Object(map) = &mut data {
            map.insert("workspaceId".into(), json!(self.workspace_id));
            map.insert("summary".into(), json!(self.title));
            if !self.lines.is_empty() {
                map.insert("lines".into(), json!(self.lines));
            }
            if !self.links.is_empty() {
                let links: serde_json::Map<String, Value> = self
                    .links
                    .iter()
                    .map(|(label, url)| (label.clone(), json!(url)))
                    .collect();
                map.insert("links".into(), Value::Object(links));
            }
        }
        json!({
            "type": self.event.as_str(),
            "timestamp": now.format(&Rfc3339).unwrap_or_default(),
            "data": data,
        })
    }
}

/// The text of a stored payload, for chat and mail: title, lines, links.
pub fn text_of(payload: &Value) -> (String, String) {
    let data = &payload["data"];
    let title = data["summary"]
        .as_str()
        .unwrap_or("Mandate notification")
        .to_string();
    let mut body = vec![title.clone()];
    if let Some(lines) = data["lines"].as_array() {
        body.extend(lines.iter().filter_map(|l| l.as_str().map(str::to_string)));
    }
    if let Some(links) = data["links"].as_object() {
        for (label, url) in links {
            if let Some(url) = url.as_str() {
                body.push(format!("{label}: {url}"));
            }
        }
    }
    (title, body.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscribable_type_parses_back() {
        for t in EventType::SUBSCRIBABLE {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("test"), None);
        assert_eq!(EventType::parse("approval"), None);
    }

    #[test]
    fn the_payload_carries_type_summary_and_links() {
        let ws = Uuid::nil();
        let n = Notice::new(EventType::ApprovalRequested, ws, "Approval requested")
            .line("rule: writes")
            .link("review", "https://m.example/approvals/1")
            .data(json!({"approvalId": "1"}));
        let p = n.payload(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(p["type"], "approval.requested");
        assert_eq!(p["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(
            p["data"]["links"]["review"],
            "https://m.example/approvals/1"
        );
        let (title, text) = text_of(&p);
        assert_eq!(title, "Approval requested");
        assert_eq!(
            text,
            "Approval requested\nrule: writes\nreview: https://m.example/approvals/1"
        );
    }
}
