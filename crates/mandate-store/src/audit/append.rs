//! Appending at the end of the one chain. Each batch is one transaction that holds the chain
//! lock (a PostgreSQL advisory lock; `BEGIN IMMEDIATE` on SQLite), reads the head, computes the
//! links in order and inserts: replicas take turns per batch, and positions never skip. The
//! primary key on `seq` is the backstop: two writers can never both claim a position.

use crate::audit::AuditEntry;
use crate::{Backend, Db, StoreError, on_pool, to_db_precision};

/// The advisory lock key that serializes chain appends on PostgreSQL ("mandaudt" in ASCII).
const CHAIN_LOCK: i64 = 0x6d61_6e64_6175_6474;
/// Rows per INSERT statement (24 parameters each). Measured with `cargo bench -p mandate-server
/// --bench audit`: sqlx's SQLite driver slows down sharply with many parameters per statement
/// (20 rows: ~27k records/s, 500 rows: ~5k), PostgreSQL likes larger ones (100 rows).
pub(super) fn rows_per_statement(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 10,
        Backend::Postgres => 100,
    }
}

pub(super) const HEAD_SQL: &str = "SELECT seq, link FROM audit_events ORDER BY seq DESC LIMIT 1";

/// The last position of the chain and its link.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ChainHead {
    pub seq: i64,
    pub link: String,
}

/// The INSERT statement for `rows` of (seq, entry, key id, link), parameters bound.
macro_rules! insert_rows {
    ($rows:expr) => {{
        let rows = $rows;
        let sql = insert_sql(rows.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (seq, e, key_id, row_link) in rows {
            query = query
                .bind(seq)
                .bind(e.id)
                .bind(to_db_precision(e.occurred_at))
                .bind(e.workspace_id)
                .bind(e.actor_kind.as_str())
                .bind(e.actor_id.as_deref())
                .bind(e.action.as_str())
                .bind(e.target_kind.as_deref())
                .bind(e.target_id.as_deref())
                .bind(e.agent_id.as_deref())
                .bind(e.connection_id.as_deref())
                .bind(e.decision.as_deref())
                .bind(e.rule.as_deref())
                .bind(e.outcome.as_deref())
                .bind(e.method.as_deref())
                .bind(e.host.as_deref())
                .bind(e.path.as_deref())
                .bind(e.status)
                .bind(e.duration_ms)
                .bind(e.source_ip.as_deref())
                .bind(e.correlation_id.as_deref())
                .bind(e.details.as_deref())
                .bind(key_id)
                .bind(row_link);
        }
        query
    }};
}

/// Append `entries` in order. `link(seq, entry, previous_link)` gives each row's (key id, link);
/// `previous_link` is None at position 1. Returns the new head.
pub async fn append(
    db: &Db,
    entries: &[AuditEntry],
    link: impl Fn(i64, &AuditEntry, Option<&str>) -> (String, String),
) -> Result<Option<ChainHead>, StoreError> {
    if entries.is_empty() {
        return head(db).await;
    }
    let backend = db.backend();
    let head = on_pool!(db, pool => async {
        let mut tx = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        };
        if backend == Backend::Postgres {
            // Committed means on disk: every pooled connection runs with synchronous_commit
            // on, whatever the server's default (see `db.rs`).
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CHAIN_LOCK).execute(&mut *tx).await?;
        }
        let mut head = sqlx::query_as::<_, ChainHead>(HEAD_SQL)
            .fetch_optional(&mut *tx)
            .await?;
        for chunk in entries.chunks(rows_per_statement(backend)) {
            let rows = linked(&mut head, chunk, &link);
            insert_rows!(rows).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(head)
    }
    .await)?;
    Ok(head)
}

/// [`append`] for a writer that remembers the head it last wrote (`known`). When the batch fits
/// in one INSERT statement, the rows follow `known` in one autocommit statement, without the
/// transaction, the chain lock and the head read: one statement is atomic, and the primary key on
/// `seq` refuses it when anyone else (another replica, a CLI command) appended in between. Then,
/// and in every other case, it is [`append`], whose answer is the next `known`. With one writer
/// this saves three round trips per batch on SQLite and four on PostgreSQL, which the gateway's
/// decision records wait for; with several, batches alternate between the two paths at worst.
pub async fn append_after(
    db: &Db,
    known: Option<&ChainHead>,
    entries: &[AuditEntry],
    link: impl Fn(i64, &AuditEntry, Option<&str>) -> (String, String),
) -> Result<Option<ChainHead>, StoreError> {
    if let Some(known) = known
        && !entries.is_empty()
        && entries.len() <= rows_per_statement(db.backend())
    {
        let mut head = Some(known.clone());
        let rows = linked(&mut head, entries, &link);
        let inserted = on_pool!(db, pool => insert_rows!(rows).execute(pool).await.map(|_| ()));
        if inserted.is_ok() {
            return Ok(head);
        }
        // Someone else's rows took the position (or the statement failed for another reason,
        // which the locked path reports).
    }
    append(db, entries, link).await
}

/// `entries` placed after `head` (None: at position 1), each linked to the one before, as
/// (seq, entry, key id, link) rows; `head` becomes the last of them.
pub(super) fn linked<'e>(
    head: &mut Option<ChainHead>,
    entries: &'e [AuditEntry],
    link: &impl Fn(i64, &AuditEntry, Option<&str>) -> (String, String),
) -> Vec<(i64, &'e AuditEntry, String, String)> {
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let seq = head.as_ref().map_or(1, |h| h.seq + 1);
        let (key_id, row_link) = link(seq, entry, head.as_ref().map(|h| h.link.as_str()));
        rows.push((seq, entry, key_id, row_link.clone()));
        *head = Some(ChainHead {
            seq,
            link: row_link,
        });
    }
    rows
}

/// The last position and its link; None while the log is empty.
pub async fn head(db: &Db) -> Result<Option<ChainHead>, StoreError> {
    let head = on_pool!(db, pool => sqlx::query_as::<_, ChainHead>(HEAD_SQL)
        .fetch_optional(pool)
        .await)?;
    Ok(head)
}

pub(super) fn insert_sql(rows: usize) -> String {
    const PER_ROW: usize = 24;
    let mut sql = format!("INSERT INTO audit_events ({}) VALUES ", super::COLUMNS);
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for column in 0..PER_ROW {
            if column > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(row * PER_ROW + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn insert_sql_numbers_every_parameter_once() {
        let sql = super::insert_sql(2);
        assert!(sql.contains("($1,$2,"));
        assert!(sql.ends_with("$47,$48)"));
        assert_eq!(sql.matches('$').count(), 48);
        assert_eq!(super::super::COLUMNS.split(',').count(), 24);
    }
}
