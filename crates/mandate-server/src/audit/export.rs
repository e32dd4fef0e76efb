//! Exporting the log as CSV or JSON, a page at a time: the caller pulls chunks and writes them
//! out (to a file in the CLI, to the response body in the API), so any size streams in constant
//! memory. Rows come oldest first with their position, key id and link, so an export can be
//! checked against the chain later.

use mandate_store::Db;
use mandate_store::audit::{self, AuditFilter, AuditRow};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::AuditError;

const PAGE: i64 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    /// One JSON array of objects (as `GET /v1/audit` returns them).
    Json,
}

impl ExportFormat {
    pub fn parse(name: &str) -> Option<ExportFormat> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(ExportFormat::Csv),
            "json" => Some(ExportFormat::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 24] = [
    "seq",
    "id",
    "occurred_at",
    "workspace_id",
    "actor_kind",
    "actor_id",
    "action",
    "target_kind",
    "target_id",
    "agent_id",
    "connection_id",
    "decision",
    "rule",
    "outcome",
    "method",
    "host",
    "path",
    "status",
    "duration_ms",
    "source_ip",
    "correlation_id",
    "details",
    "key_id",
    "link",
];

/// Pulls an export chunk by chunk.
pub struct Export {
    db: Db,
    filter: AuditFilter,
    format: ExportFormat,
    after: i64,
    rows_written: u64,
    state: State,
}

enum State {
    Start,
    Rows,
    Done,
}

impl Export {
    pub fn new(db: Db, filter: AuditFilter, format: ExportFormat) -> Export {
        Export {
            db,
            filter,
            format,
            after: 0,
            rows_written: 0,
            state: State::Start,
        }
    }

    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }

    /// The next piece of the document; None when it is complete.
    pub async fn next_chunk(&mut self) -> Result<Option<String>, AuditError> {
        match self.state {
            State::Start => {
                self.state = State::Rows;
                Ok(Some(match self.format {
                    ExportFormat::Csv => format!("{}\r\n", CSV_COLUMNS.join(",")),
                    ExportFormat::Json => "[".to_string(),
                }))
            }
            State::Rows => {
                let rows = audit::oldest_first(&self.db, &self.filter, self.after, PAGE).await?;
                let Some(last) = rows.last() else {
                    self.state = State::Done;
                    return Ok(Some(match self.format {
                        ExportFormat::Csv => String::new(),
                        ExportFormat::Json => "]\n".to_string(),
                    }));
                };
                self.after = last.seq;
                let mut chunk = String::with_capacity(rows.len() * 300);
                for row in &rows {
                    match self.format {
                        ExportFormat::Csv => csv_line(&mut chunk, row),
                        ExportFormat::Json => {
                            if self.rows_written > 0 {
                                chunk.push(',');
                            }
                            chunk.push('\n');
                            chunk.push_str(&row_json(row).to_string());
                        }
                    }
                    self.rows_written += 1;
                }
                Ok(Some(chunk))
            }
            State::Done => Ok(None),
        }
    }
}

/// A row as the API shows it (camelCase; `details` as an object).
pub fn row_json(row: &AuditRow) -> Value {
    let e = &row.entry;
    json!({
        "seq": row.seq,
        "id": e.id,
        "occurredAt": e.occurred_at.format(&Rfc3339).unwrap_or_default(),
        "workspaceId": e.workspace_id,
        "actorKind": e.actor_kind,
        "actorId": e.actor_id,
        "action": e.action,
        "targetKind": e.target_kind,
        "targetId": e.target_id,
        "agentId": e.agent_id,
        "connectionId": e.connection_id,
        "decision": e.decision,
        "rule": e.rule,
        "outcome": e.outcome,
        "method": e.method,
        "host": e.host,
        "path": e.path,
        "status": e.status,
        "durationMs": e.duration_ms,
        "sourceIp": e.source_ip,
        "correlationId": e.correlation_id,
        "details": e.details.as_deref().map(|d| serde_json::from_str::<Value>(d).unwrap_or_else(|_| json!(d))),
        "keyId": row.key_id,
        "link": row.link,
    })
}

fn csv_line(out: &mut String, row: &AuditRow) {
    let e = &row.entry;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let cells = [
        row.seq.to_string(),
        e.id.to_string(),
        e.occurred_at.format(&Rfc3339).unwrap_or_default(),
        e.workspace_id.map(|w| w.to_string()).unwrap_or_default(),
        e.actor_kind.clone(),
        opt(&e.actor_id),
        e.action.clone(),
        opt(&e.target_kind),
        opt(&e.target_id),
        opt(&e.agent_id),
        opt(&e.connection_id),
        opt(&e.decision),
        opt(&e.rule),
        opt(&e.outcome),
        opt(&e.method),
        opt(&e.host),
        opt(&e.path),
        e.status.map(|s| s.to_string()).unwrap_or_default(),
        e.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
        opt(&e.source_ip),
        opt(&e.correlation_id),
        opt(&e.details),
        row.key_id.clone(),
        row.link.clone(),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_cell(out, cell);
    }
    out.push_str("\r\n");
}

/// RFC 4180 quoting; a cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
/// `@`, tab or carriage return) gets a leading `'` so opening the export runs nothing.
fn csv_cell(out: &mut String, cell: &str) {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || cell.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in cell.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(v: &str) -> String {
        let mut out = String::new();
        csv_cell(&mut out, v);
        out
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
    }

    #[test]
    fn formats_parse_case_insensitively() {
        assert_eq!(ExportFormat::parse("CSV"), Some(ExportFormat::Csv));
        assert_eq!(ExportFormat::parse("json"), Some(ExportFormat::Json));
        assert_eq!(ExportFormat::parse("xml"), None);
    }
}
