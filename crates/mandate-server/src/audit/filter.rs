//! Audit filters as people type them (query parameters of `GET /v1/audit`, options of
//! `mandate audit export`), checked and turned into an [`AuditFilter`]. Errors name the field
//! the way the caller wrote it (`since` or `--since`).

use mandate_store::audit::AuditFilter;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct FilterText {
    pub workspace: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub actor: Option<String>,
    pub agent: Option<String>,
    pub connection: Option<String>,
    pub action: Option<String>,
    pub decision: Option<String>,
}

impl FilterText {
    /// `prefix` goes before field names in errors (`--` for the CLI, empty for the API).
    pub fn parse(&self, prefix: &str) -> Result<AuditFilter, String> {
        let time = |name: &str, value: &Option<String>| -> Result<Option<OffsetDateTime>, String> {
            value
                .as_deref()
                .map(|v| {
                    OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                        format!(
                            "{prefix}{name}: `{v}` is not an RFC 3339 time (2026-01-31T00:00:00Z)"
                        )
                    })
                })
                .transpose()
        };
        let workspace_id = self
            .workspace
            .as_deref()
            .map(|w| {
                Uuid::parse_str(w)
                    .map_err(|_| format!("{prefix}workspace: `{w}` is not a workspace id (a UUID)"))
            })
            .transpose()?;
        let decision = match self.decision.as_deref() {
            None => None,
            Some(d @ ("allowed" | "denied" | "approval_required")) => Some(d.to_string()),
            Some(other) => {
                return Err(format!(
                    "{prefix}decision: `{other}` is not allowed, denied or approval_required"
                ));
            }
        };
        for (name, value) in [
            ("actor", &self.actor),
            ("agent", &self.agent),
            ("connection", &self.connection),
            ("action", &self.action),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.is_empty() || v.len() > 200)
            {
                return Err(format!("{prefix}{name}: must be 1 to 200 characters"));
            }
        }
        Ok(AuditFilter {
            workspace_id,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            actor_id: self.actor.clone(),
            agent_id: self.agent.clone(),
            connection_id: self.connection.clone(),
            action: self.action.clone(),
            decision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_as_written() {
        let bad = FilterText {
            since: Some("yesterday".into()),
            ..FilterText::default()
        };
        assert!(bad.parse("--").unwrap_err().starts_with("--since:"));
        let bad = FilterText {
            decision: Some("maybe".into()),
            ..FilterText::default()
        };
        assert!(bad.parse("").unwrap_err().starts_with("decision:"));
        let ok = FilterText {
            action: Some("auth.*".into()),
            since: Some("2026-01-31T00:00:00Z".into()),
            ..FilterText::default()
        };
        let f = ok.parse("").unwrap();
        assert_eq!(f.action.as_deref(), Some("auth.*"));
        assert!(f.since.is_some());
    }
}
