//! Reading the log: filtered pages newest first (the API's cursor pagination) and oldest first
//! (export and verification walk the whole chain in pages of bounded size, so memory stays flat
//! whatever the log's length). Both page by position (`seq`), never by offset.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{AuditRow, COLUMNS};
use crate::{Db, StoreError, on_pool, to_db_precision};

/// Conditions every returned row meets; None means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub workspace_id: Option<Uuid>,
    /// occurred_at >= since.
    pub since: Option<OffsetDateTime>,
    /// occurred_at < until.
    pub until: Option<OffsetDateTime>,
    pub actor_id: Option<String>,
    pub agent_id: Option<String>,
    pub connection_id: Option<String>,
    /// An exact action, or a prefix ending in `.*` (`keys.*`).
    pub action: Option<String>,
    pub decision: Option<String>,
}

enum Arg {
    Text(String),
    Time(OffsetDateTime),
    Uuid(Uuid),
    Int(i64),
    /// PostgreSQL's substr() takes int4.
    Int4(i32),
}

impl AuditFilter {
    /// ` AND ...` conditions with their arguments, numbered after `first` placeholders.
    fn conditions(&self, args: &mut Vec<Arg>) -> String {
        let mut sql = String::new();
        let mut push = |sql: &mut String, condition: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&condition.replace('?', &format!("${}", args.len())));
        };
        if let Some(ws) = self.workspace_id {
            push(&mut sql, " AND workspace_id = ?", Arg::Uuid(ws));
        }
        if let Some(t) = self.since {
            push(
                &mut sql,
                " AND occurred_at >= ?",
                Arg::Time(to_db_precision(t)),
            );
        }
        if let Some(t) = self.until {
            push(
                &mut sql,
                " AND occurred_at < ?",
                Arg::Time(to_db_precision(t)),
            );
        }
        for (column, value) in [
            ("actor_id", &self.actor_id),
            ("agent_id", &self.agent_id),
            ("connection_id", &self.connection_id),
            ("decision", &self.decision),
        ] {
            if let Some(v) = value {
                push(
                    &mut sql,
                    &format!(" AND {column} = ?"),
                    Arg::Text(v.clone()),
                );
            }
        }
        match self.action.as_deref() {
            Some(a) if a.ends_with(".*") => {
                // Prefix match without LIKE wildcards to escape; substr() reads the same in both.
                let prefix = a.trim_end_matches('*').to_string();
                let n = i32::try_from(prefix.len()).unwrap_or(i32::MAX);
                push(&mut sql, " AND substr(action, 1, ?", Arg::Int4(n));
                push(&mut sql, ") = ?", Arg::Text(prefix));
            }
            Some(a) => push(&mut sql, " AND action = ?", Arg::Text(a.to_string())),
            None => {}
        }
        sql
    }
}

/// Up to `limit` rows matching `filter`, newest first, strictly before position `before`.
pub async fn newest_first(
    db: &Db,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut args = vec![Arg::Int(before.unwrap_or(i64::MAX)), Arg::Int(limit)];
    let conditions = filter.conditions(&mut args);
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events WHERE seq < $1{conditions} ORDER BY seq DESC LIMIT $2"
    );
    fetch(db, &sql, args).await
}

/// Up to `limit` rows matching `filter`, oldest first, strictly after position `after`.
pub async fn oldest_first(
    db: &Db,
    filter: &AuditFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut args = vec![Arg::Int(after), Arg::Int(limit)];
    let conditions = filter.conditions(&mut args);
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events WHERE seq > $1{conditions} ORDER BY seq ASC LIMIT $2"
    );
    fetch(db, &sql, args).await
}

/// Which of `ids` are stored already (after a commit whose answer was lost).
pub async fn stored_ids(db: &Db, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id FROM audit_events WHERE id IN ({})",
            placeholders.join(",")
        );
        let rows = on_pool!(db, pool => {
            let mut query = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql.as_str()));
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await
        })?;
        found.extend(rows);
    }
    Ok(found)
}

/// How many rows the log holds.
pub async fn count(db: &Db) -> Result<i64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_events")
        .fetch_one(pool)
        .await)?;
    Ok(n)
}

async fn fetch(db: &Db, sql: &str, args: Vec<Arg>) -> Result<Vec<AuditRow>, StoreError> {
    let rows = on_pool!(db, pool => {
        let mut query = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql));
        for arg in args {
            query = match arg {
                Arg::Text(v) => query.bind(v),
                Arg::Time(v) => query.bind(v),
                Arg::Uuid(v) => query.bind(v),
                Arg::Int(v) => query.bind(v),
                Arg::Int4(v) => query.bind(v),
            };
        }
        query.fetch_all(pool).await
    })?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_number_their_arguments_after_the_fixed_ones() {
        let filter = AuditFilter {
            agent_id: Some("a".into()),
            action: Some("keys.*".into()),
            ..AuditFilter::default()
        };
        let mut args = vec![Arg::Int(0), Arg::Int(10)];
        let sql = filter.conditions(&mut args);
        assert_eq!(sql, " AND agent_id = $3 AND substr(action, 1, $4) = $5");
        assert_eq!(args.len(), 5);
    }
}
