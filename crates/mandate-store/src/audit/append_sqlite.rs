//! The audit writer's direct path to SQLite: a connection of its own to the database file,
//! driven synchronously by the writer's thread. The gateway waits for every decision record's
//! commit; through the pool that commit is two more thread hand-offs (to sqlx's connection
//! thread and back), which measured at about a third of the commit's time under load. The rows,
//! their order and the locking rules are [`super::append`]'s, on the same file: the fast path
//! appends after the head this writer knows in one autocommit INSERT (the primary key on `seq`
//! refuses it when someone else appended), everything else takes `BEGIN IMMEDIATE`, reads the
//! head and inserts.

use rusqlite::{OpenFlags, OptionalExtension, TransactionBehavior};
use time::format_description::well_known::Rfc3339;

use super::AuditEntry;
use super::append::{ChainHead, HEAD_SQL, insert_sql, linked, rows_per_statement};
use crate::{Backend, Db, StoreError, to_db_precision};

/// A direct connection to a SQLite audit log (not `Sync`: one writer thread owns it).
pub struct SqliteAppender {
    conn: rusqlite::Connection,
}

type Row<'e> = (i64, &'e AuditEntry, String, String);

impl SqliteAppender {
    /// A connection of its own to `db`'s file when `db` is SQLite (same journal and sync
    /// settings as the pool: WAL, synchronous=FULL); None on PostgreSQL.
    pub fn open(db: &Db) -> Result<Option<SqliteAppender>, StoreError> {
        let Db::Sqlite(pool) = db else {
            return Ok(None);
        };
        let path = pool.connect_options().get_filename().to_path_buf();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            // An in-memory database exists in its pool only.
            return Ok(None);
        }
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // journal_mode answers with a row; the others answer nothing.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Config(format!(
                "the audit log's SQLite file is in journal mode {mode}, not WAL"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
        Ok(Some(SqliteAppender { conn }))
    }

    /// [`super::append_after`] on this connection.
    pub fn append_after(
        &mut self,
        known: Option<&ChainHead>,
        entries: &[AuditEntry],
        link: impl Fn(i64, &AuditEntry, Option<&str>) -> (String, String),
    ) -> Result<Option<ChainHead>, StoreError> {
        let per_statement = rows_per_statement(Backend::Sqlite);
        if let Some(known) = known
            && !entries.is_empty()
            && entries.len() <= per_statement
        {
            let mut head = Some(known.clone());
            let rows = linked(&mut head, entries, &link);
            if insert(&self.conn, &rows).is_ok() {
                return Ok(head);
            }
            // Someone else took the position (or the statement failed for another reason,
            // which the locked path reports).
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut head = tx
            .query_row(HEAD_SQL, [], |r| {
                Ok(ChainHead {
                    seq: r.get(0)?,
                    link: r.get(1)?,
                })
            })
            .optional()?;
        for chunk in entries.chunks(per_statement) {
            let rows = linked(&mut head, chunk, &link);
            insert(&tx, &rows)?;
        }
        tx.commit()?;
        Ok(head)
    }
}

/// One INSERT of `rows`, bound as sqlx binds them (UUIDs as 16-byte blobs, times as RFC 3339
/// text at microsecond precision), so both read the rows back the same.
fn insert(conn: &rusqlite::Connection, rows: &[Row<'_>]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&insert_sql(rows.len()))?;
    let mut i = 0;
    let mut bind = |value: &dyn rusqlite::ToSql| -> rusqlite::Result<()> {
        i += 1;
        stmt.raw_bind_parameter(i, value)
    };
    for (seq, e, key_id, row_link) in rows {
        let occurred_at = to_db_precision(e.occurred_at)
            .format(&Rfc3339)
            .map_err(|err| StoreError::Corrupt(format!("audit time: {err}")))?;
        bind(seq)?;
        bind(&e.id.as_bytes().as_slice())?;
        bind(&occurred_at)?;
        bind(&e.workspace_id.as_ref().map(|w| w.as_bytes().as_slice()))?;
        bind(&e.actor_kind)?;
        bind(&e.actor_id)?;
        bind(&e.action)?;
        bind(&e.target_kind)?;
        bind(&e.target_id)?;
        bind(&e.agent_id)?;
        bind(&e.connection_id)?;
        bind(&e.decision)?;
        bind(&e.rule)?;
        bind(&e.outcome)?;
        bind(&e.method)?;
        bind(&e.host)?;
        bind(&e.path)?;
        bind(&e.status)?;
        bind(&e.duration_ms)?;
        bind(&e.source_ip)?;
        bind(&e.correlation_id)?;
        bind(&e.details)?;
        bind(key_id)?;
        bind(row_link)?;
    }
    stmt.raw_execute()?;
    Ok(())
}
