//! The audit tables: one gap-free chain whatever the number of writers, pages and filters, and
//! append-only enforced by the database itself.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use mandate_store::audit::{self, AuditEntry, AuditFilter, AuditRow, CheckpointRow};
use mandate_store::{Backend, Db};
use mandate_testkit::pg;
use time::OffsetDateTime;
use uuid::Uuid;

store_suite!(
    audit_appends_one_gap_free_chain,
    audit_append_after_a_known_head_yields_to_other_writers,
    audit_pages_and_filters,
    audit_tables_refuse_update_and_delete,
    audit_direct_sqlite_appender_shares_the_chain,
);

/// A stand-in link: any deterministic function of position and previous link shows whether
/// each row was linked to the row really before it (the HMAC is the server's business).
fn link(seq: i64, previous: Option<&str>) -> String {
    let mut h = DefaultHasher::new();
    (seq, previous).hash(&mut h);
    format!("{:064x}", h.finish())
}

fn linker(seq: i64, _: &AuditEntry, previous: Option<&str>) -> (String, String) {
    ("k1".into(), link(seq, previous))
}

fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        occurred_at: OffsetDateTime::now_utc(),
        actor_kind: "system".into(),
        actor_id: Some("test".into()),
        action: action.into(),
        ..AuditEntry::default()
    }
}

async fn all_rows(db: &Db) -> Vec<AuditRow> {
    audit::oldest_first(db, &AuditFilter::default(), 0, 1_000_000)
        .await
        .unwrap()
}

/// Every row sits at the position after the previous one and was linked to it.
fn assert_chained(rows: &[AuditRow]) {
    let mut previous: Option<&str> = None;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1, "positions must have no gaps");
        assert_eq!(
            row.link,
            link(row.seq, previous),
            "row {} was linked to another row",
            row.seq
        );
        previous = Some(&row.link);
    }
}

async fn audit_appends_one_gap_free_chain(db: &Db) {
    assert_eq!(audit::head(db).await.unwrap(), None);
    let first: Vec<AuditEntry> = (0..3).map(|i| entry(&format!("a.{i}"))).collect();
    let head = audit::append(db, &first, linker).await.unwrap().unwrap();
    assert_eq!(head.seq, 3);
    // More than one INSERT statement's worth in one batch.
    let big: Vec<AuditEntry> = (0..1_203).map(|i| entry(&format!("b.{i}"))).collect();
    let head = audit::append(db, &big, linker).await.unwrap().unwrap();
    assert_eq!(head.seq, 1_206);
    let rows = all_rows(db).await;
    assert_eq!(rows.len(), 1_206);
    assert_chained(&rows);
    // What was written reads back equal, time included (microseconds).
    assert_eq!(
        rows[0].entry,
        audit::AuditEntry {
            occurred_at: mandate_store::to_db_precision(first[0].occurred_at),
            ..first[0].clone()
        }
    );
    let ids = [first[1].id, Uuid::now_v7()];
    assert_eq!(
        audit::stored_ids(db, &ids).await.unwrap(),
        vec![first[1].id]
    );
    // The same id twice is refused, and the failed batch leaves nothing behind.
    let mut again = vec![entry("c.0"), first[0].clone()];
    again[1].occurred_at = OffsetDateTime::now_utc();
    assert!(audit::append(db, &again, linker).await.is_err());
    assert_eq!(audit::count(db).await.unwrap(), 1_206);
}

/// The writer's shortcut (rows follow the head it remembers, no lock, no head read) keeps the
/// chain whole when someone else appended meanwhile, and commits durably on PostgreSQL whatever
/// the server's default (the test clusters run with synchronous_commit off).
async fn audit_append_after_a_known_head_yields_to_other_writers(db: &Db) {
    let head = audit::append_after(db, None, &[entry("a")], linker)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 1);
    let head = audit::append_after(db, Some(&head), &[entry("b"), entry("c")], linker)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 3);
    // Another writer (a replica, a CLI command) takes positions 4 and 5.
    let other = audit::append(db, &[entry("x"), entry("y")], linker)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.seq, 5);
    // The stale head loses position 4 to it and the batch goes after the real head.
    let head = audit::append_after(db, Some(&head), &[entry("d")], linker)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 6);
    // More rows than one statement holds take the locked path.
    let many: Vec<AuditEntry> = (0..150).map(|i| entry(&format!("m.{i}"))).collect();
    let head = audit::append_after(db, Some(&head), &many, linker)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 156);
    let rows = all_rows(db).await;
    assert_eq!(rows.len(), 156);
    assert_chained(&rows);
    let actions: Vec<&str> = rows[..6].iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions, ["a", "b", "c", "x", "y", "d"]);
    if let Db::Postgres(pool) = db {
        let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(setting, "on");
    }
}

async fn audit_pages_and_filters(db: &Db) {
    let ws = Uuid::now_v7();
    let agent = Uuid::now_v7().to_string();
    let t0 = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let mut entries = Vec::new();
    for i in 0..30i64 {
        let mut e = entry(if i % 3 == 0 {
            "keys.dek.rotated"
        } else {
            "vault.execute.decision"
        });
        e.occurred_at = t0 + time::Duration::minutes(i);
        if i % 2 == 0 {
            e.workspace_id = Some(ws);
            e.agent_id = Some(agent.clone());
            e.decision = Some(if i % 4 == 0 { "allowed" } else { "denied" }.into());
        }
        entries.push(e);
    }
    audit::append(db, &entries, linker).await.unwrap();

    // Newest first in pages of 7 by position cursor: every row once, in order.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = audit::newest_first(db, &AuditFilter::default(), cursor, 7)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        cursor = page.last().map(|r| r.seq);
        seen.extend(page.into_iter().map(|r| r.seq));
    }
    assert_eq!(seen, (1..=30).rev().collect::<Vec<_>>());

    let count = |filter: AuditFilter| async move {
        audit::oldest_first(db, &filter, 0, 1_000)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(
        count(AuditFilter {
            workspace_id: Some(ws),
            ..Default::default()
        })
        .await,
        15
    );
    assert_eq!(
        count(AuditFilter {
            agent_id: Some(agent.clone()),
            ..Default::default()
        })
        .await,
        15
    );
    assert_eq!(
        count(AuditFilter {
            decision: Some("allowed".into()),
            ..Default::default()
        })
        .await,
        8
    );
    assert_eq!(
        count(AuditFilter {
            action: Some("keys.*".into()),
            ..Default::default()
        })
        .await,
        10
    );
    assert_eq!(
        count(AuditFilter {
            action: Some("keys.dek.rotated".into()),
            ..Default::default()
        })
        .await,
        10
    );
    assert_eq!(
        count(AuditFilter {
            action: Some("keys".into()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(AuditFilter {
            since: Some(t0 + time::Duration::minutes(10)),
            until: Some(t0 + time::Duration::minutes(20)),
            ..Default::default()
        })
        .await,
        10
    );
    assert_eq!(
        count(AuditFilter {
            agent_id: Some(agent),
            action: Some("keys.*".into()),
            decision: Some("allowed".into()),
            ..Default::default()
        })
        .await,
        3
    );
}

async fn audit_tables_refuse_update_and_delete(db: &Db) {
    audit::append(db, &[entry("a"), entry("b")], linker)
        .await
        .unwrap();
    let head = audit::head(db).await.unwrap().unwrap();
    let checkpoint = CheckpointRow {
        seq: head.seq,
        link: head.link.clone(),
        kid: "kid".into(),
        token: "a.b.c".into(),
        created_at: OffsetDateTime::now_utc(),
    };
    assert!(audit::insert_checkpoint(db, &checkpoint).await.unwrap());
    assert!(
        !audit::insert_checkpoint(db, &checkpoint).await.unwrap(),
        "one checkpoint per position"
    );

    let mut statements = vec![
        "UPDATE audit_events SET action = 'edited' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
        "DELETE FROM audit_events",
        "UPDATE audit_checkpoints SET link = link",
        "DELETE FROM audit_checkpoints",
    ];
    if db.backend() == Backend::Postgres {
        statements.extend(["TRUNCATE audit_events", "TRUNCATE audit_checkpoints"]);
    }
    for sql in statements {
        let result =
            mandate_store::on_pool!(db, pool => sqlx::query(sql).execute(pool).await.map(|_| ()));
        let error = result.expect_err(sql).to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    let rows = all_rows(db).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].entry.action, "a");
    assert_eq!(audit::latest_checkpoint(db).await.unwrap().unwrap().seq, 2);
}

/// Two replicas (two pools) appending at the same moment still build one chain: each batch
/// links to the row the other replica committed just before it.
#[tokio::test]
async fn postgres_concurrent_appenders_share_one_chain() {
    let url = pg::fresh_database();
    let (a, b) = (crate::connect(url.clone()).await, crate::connect(url).await);
    let write = |db: Db, label: &'static str| {
        tokio::spawn(async move {
            for batch in 0..25 {
                let entries: Vec<AuditEntry> = (0..20)
                    .map(|i| entry(&format!("{label}.{batch}.{i}")))
                    .collect();
                audit::append(&db, &entries, linker).await.unwrap();
            }
        })
    };
    let (x, y) = (write(a.clone(), "a"), write(b.clone(), "b"));
    x.await.unwrap();
    y.await.unwrap();
    let rows = all_rows(&a).await;
    assert_eq!(rows.len(), 1_000);
    assert_chained(&rows);
    // Both replicas' batches are in there, interleaved as they committed.
    assert!(rows.iter().any(|r| r.entry.action.starts_with("a.")));
    assert!(rows.iter().any(|r| r.entry.action.starts_with("b.")));
}

/// SQLite: the writer thread's direct connection writes rows the pool reads back equal (ids,
/// times, every field), follows its known head in one statement, and yields to other writers
/// like `append_after`. PostgreSQL has no direct path.
async fn audit_direct_sqlite_appender_shares_the_chain(db: &Db) {
    let Some(mut direct) = audit::SqliteAppender::open(db).unwrap() else {
        assert_eq!(db.backend(), Backend::Postgres);
        return;
    };
    let mut full = entry("vault.execute.decision");
    full.workspace_id = Some(Uuid::now_v7());
    full.target_kind = Some("connection".into());
    full.target_id = Some("c-1".into());
    full.agent_id = Some("a-1".into());
    full.connection_id = Some("c-1".into());
    full.decision = Some("allowed".into());
    full.rule = Some("r3".into());
    full.outcome = Some("success".into());
    full.method = Some("GET".into());
    full.host = Some("api.example.com".into());
    full.path = Some("/items".into());
    full.status = Some(200);
    full.duration_ms = Some(12);
    full.source_ip = Some("192.0.2.7".into());
    full.correlation_id = Some("corr".into());
    full.details = Some(r#"{"k":"v"}"#.into());
    let head = direct
        .append_after(None, &[full.clone()], linker)
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 1);
    let head = direct
        .append_after(Some(&head), &[entry("b"), entry("c")], linker)
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 3);
    // Another writer takes positions 4 and 5 through the pool; the stale head yields.
    audit::append(db, &[entry("x"), entry("y")], linker)
        .await
        .unwrap();
    let head = direct
        .append_after(Some(&head), &[entry("d")], linker)
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 6);
    let many: Vec<AuditEntry> = (0..25).map(|i| entry(&format!("m.{i}"))).collect();
    let head = direct
        .append_after(Some(&head), &many, linker)
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 31);
    let rows = all_rows(db).await;
    assert_eq!(rows.len(), 31);
    assert_chained(&rows);
    let actions: Vec<&str> = rows[..6].iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions, ["vault.execute.decision", "b", "c", "x", "y", "d"]);
    assert_eq!(
        rows[0].entry,
        AuditEntry {
            occurred_at: mandate_store::to_db_precision(full.occurred_at),
            ..full
        }
    );
    assert_eq!(rows[0].key_id, "k1");
}
