//! The store suite: every test is written once and runs on SQLite and on PostgreSQL (a throwaway
//! cluster started by mandate-testkit). Test names show the backend: `sqlite::...`, `postgres::...`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::time::Duration;

use mandate_store::change_bus::{Change, ChangeBus, ChangeEvent, Subscription, Topic};
use mandate_store::{Backend, Db, DbOptions, StoreError, workspaces};
use mandate_testkit::{pg, sqlite::TempSqlite};
use time::OffsetDateTime;

/// A migrated database and whatever keeps it alive.
struct TestDb {
    db: Db,
    _sqlite: Option<TempSqlite>,
}

pub(crate) async fn connect(url: String) -> Db {
    let db = Db::connect(&DbOptions::new(Some(url), "unused"))
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    db
}

async fn sqlite_db() -> TestDb {
    let file = TempSqlite::new();
    TestDb {
        db: connect(file.url()).await,
        _sqlite: Some(file),
    }
}

async fn postgres_db() -> TestDb {
    TestDb {
        db: connect(pg::fresh_database()).await,
        _sqlite: None,
    }
}

macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let t = crate::sqlite_db().await;
                assert_eq!(t.db.backend(), mandate_store::Backend::Sqlite);
                super::$name(&t.db).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let t = crate::postgres_db().await;
                assert_eq!(t.db.backend(), mandate_store::Backend::Postgres);
                super::$name(&t.db).await;
            })*
        }
    };
}

store_suite!(
    migrations_are_idempotent,
    ping_answers,
    workspace_round_trip,
    workspace_rename_and_missing,
    workspace_rules_hold_in_the_database,
    change_bus_delivers_to_local_subscribers,
    data_keys_one_active_per_workspace,
    the_system_workspace_is_never_listed_or_changed,
    signing_keys_rotate_in_one_step,
);

async fn next_event(sub: &mut Subscription) -> ChangeEvent {
    tokio::time::timeout(Duration::from_secs(10), sub.recv())
        .await
        .expect("no change event within 10 s")
        .expect("bus closed")
}

/// The next event that is not a resync (reconnects may add resyncs before it).
async fn next_change(sub: &mut Subscription) -> ChangeEvent {
    loop {
        match next_event(sub).await {
            ChangeEvent::Resync => continue,
            event => return event,
        }
    }
}

async fn migrations_are_idempotent(db: &Db) {
    let again = db.migrate().await.unwrap();
    assert_eq!(again.applied, 0);
    let latest = mandate_store::embedded_migrations(db.backend())
        .last()
        .unwrap()
        .0;
    assert_eq!(again.version, latest);
}

async fn ping_answers(db: &Db) {
    db.ping(Duration::from_secs(2)).await.unwrap();
}

async fn workspace_round_trip(db: &Db) {
    let now = OffsetDateTime::now_utc();
    let a = workspaces::create(db, "  Acme  ", now).await.unwrap();
    let b = workspaces::create(db, "Globex", now).await.unwrap();
    assert_eq!(a.name, "Acme");
    assert_eq!(workspaces::get(db, a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(workspaces::list(db).await.unwrap(), vec![a.clone(), b]);
    // Stored at microsecond precision on both backends, in UTC.
    assert_eq!(a.created_at.nanosecond() % 1_000, 0);
    assert!((a.created_at - now).abs() < time::Duration::microseconds(1));
}

async fn workspace_rename_and_missing(db: &Db) {
    let a = workspaces::create(db, "Acme", OffsetDateTime::now_utc())
        .await
        .unwrap();
    let renamed = workspaces::rename(db, a.id, "Acme Corp").await.unwrap();
    assert_eq!(renamed.name, "Acme Corp");
    assert_eq!(renamed.created_at, a.created_at);
    let missing = workspaces::rename(db, uuid::Uuid::now_v7(), "X").await;
    assert!(matches!(missing, Err(StoreError::NotFound("workspace"))));
    assert_eq!(
        workspaces::get(db, uuid::Uuid::now_v7()).await.unwrap(),
        None
    );
    assert!(matches!(
        workspaces::create(db, "", OffsetDateTime::now_utc()).await,
        Err(StoreError::Invalid { field: "name", .. })
    ));
}

/// The schema itself refuses what the code refuses, so no other writer can store it.
async fn workspace_rules_hold_in_the_database(db: &Db) {
    let long = "x".repeat(101);
    let id = uuid::Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    let result = mandate_store::on_pool!(db, pool => sqlx::query(
        "INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id).bind(&long).bind(now).execute(pool).await.map(|_| ()));
    assert!(result.is_err(), "a 101-character name was stored");
    let dup = workspaces::create(db, "Acme", now).await.unwrap();
    let result = mandate_store::on_pool!(db, pool => sqlx::query(
        "INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(dup.id).bind("Other").bind(now).execute(pool).await.map(|_| ()));
    assert!(result.is_err(), "a duplicate id was stored");
}

async fn change_bus_delivers_to_local_subscribers(db: &Db) {
    let bus = ChangeBus::start(db).await.unwrap();
    let mut first = bus.subscribe();
    let mut second = bus.subscribe();
    let change = Change::new(Topic::Workspace)
        .in_workspace(uuid::Uuid::now_v7())
        .with_id("abc");
    bus.publish(&change).await.unwrap();
    assert_eq!(
        next_event(&mut first).await,
        ChangeEvent::Changed(change.clone())
    );
    assert_eq!(next_event(&mut second).await, ChangeEvent::Changed(change));
}

async fn data_keys_one_active_per_workspace(db: &Db) {
    use mandate_store::data_keys::{self, DataKeyRow, DekState};
    let now = OffsetDateTime::now_utc();
    let ws = workspaces::create(db, "Acme", now).await.unwrap();
    let other = workspaces::create(db, "Globex", now).await.unwrap();
    let row = |kid: &str, workspace_id| DataKeyRow {
        kid: kid.into(),
        workspace_id,
        kek_id: "env-0123456789ab".into(),
        wrapped: "{...}".into(),
        state: DekState::Active,
        created_at: now,
    };
    assert_eq!(data_keys::active(db, ws.id).await.unwrap(), None);
    data_keys::insert_active(db, &row("dek-1", ws.id))
        .await
        .unwrap();
    let stored = data_keys::active(db, ws.id).await.unwrap().unwrap();
    assert_eq!(stored.kid, "dek-1");
    assert_eq!(stored.state, DekState::Active);
    assert_eq!(stored.created_at, mandate_store::to_db_precision(now));

    // The database, not the caller, keeps one active key per workspace.
    assert!(matches!(
        data_keys::insert_active(db, &row("dek-2", ws.id)).await,
        Err(StoreError::Conflict(_))
    ));
    data_keys::insert_active(db, &row("dek-3", other.id))
        .await
        .unwrap();
    assert!(matches!(
        data_keys::insert_active(db, &row("dek-4", uuid::Uuid::now_v7())).await,
        Err(StoreError::NotFound("workspace"))
    ));
    // A kid is only found in its own workspace.
    assert!(data_keys::get(db, ws.id, "dek-1").await.unwrap().is_some());
    assert_eq!(data_keys::get(db, other.id, "dek-1").await.unwrap(), None);
    let all: Vec<String> = data_keys::list(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kid)
        .collect();
    assert_eq!(all.len(), 2);
}

async fn the_system_workspace_is_never_listed_or_changed(db: &Db) {
    assert!(workspaces::list(db).await.unwrap().is_empty());
    assert_eq!(workspaces::get(db, workspaces::SYSTEM).await.unwrap(), None);
    assert!(matches!(
        workspaces::rename(db, workspaces::SYSTEM, "mine").await,
        Err(StoreError::NotFound("workspace"))
    ));
}

async fn signing_keys_rotate_in_one_step(db: &Db) {
    use mandate_store::signing_keys::{self, SigningKeyRow};
    let now = OffsetDateTime::now_utc();
    let row = |kid: &str| SigningKeyRow {
        kid: kid.into(),
        alg: "RS256".into(),
        private_key: "{sealed}".into(),
        public_jwk: "{}".into(),
        state: "current".into(),
        created_at: now,
        retire_after: None,
    };
    signing_keys::rotate(db, &row("k1"), now).await.unwrap();
    let hour = time::Duration::hours(1);
    signing_keys::rotate(db, &row("k2"), now + hour)
        .await
        .unwrap();
    let published: Vec<(String, String)> = signing_keys::published(db, now)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.kid, r.state))
        .collect();
    assert_eq!(
        published,
        vec![
            ("k2".into(), "current".into()),
            ("k1".into(), "previous".into())
        ]
    );
    // A kid cannot come back, and the failed rotation leaves everything as it was.
    assert!(matches!(
        signing_keys::rotate(db, &row("k1"), now).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(signing_keys::published(db, now).await.unwrap()[0].kid, "k2");
    // Past retire_after, the previous key is no longer published.
    assert_eq!(
        signing_keys::published(db, now + hour * 2)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        signing_keys::retire_expired(db, now + hour * 2)
            .await
            .unwrap(),
        1
    );
    // The database keeps one current key, whoever writes.
    let second_current = mandate_store::on_pool!(db, pool => sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, state, created_at) VALUES ('k3', 'RS256', 'x', '{}', 'current', $1)")
        .bind(now).execute(pool).await.map(|_| ()));
    assert!(second_current.is_err());
}

// ---- PostgreSQL only: several replicas on one database -------------------------------------

#[tokio::test]
async fn postgres_change_bus_reaches_every_replica() {
    let url = pg::fresh_database();
    let replica_a = connect(url.clone()).await;
    let replica_b = connect(url).await;
    let bus_a = ChangeBus::start(&replica_a).await.unwrap();
    let bus_b = ChangeBus::start(&replica_b).await.unwrap();
    let mut sub_a = bus_a.subscribe();
    let mut sub_b = bus_b.subscribe();

    let change = Change::new(Topic::Workspace).with_id("from-a");
    bus_a.publish(&change).await.unwrap();
    assert_eq!(
        next_event(&mut sub_a).await,
        ChangeEvent::Changed(change.clone())
    );
    assert_eq!(next_event(&mut sub_b).await, ChangeEvent::Changed(change));
}

/// Notifications sent while a listener is disconnected are lost, so a reconnect must surface
/// as "everything changed", and delivery must work again afterwards.
#[tokio::test]
async fn postgres_change_bus_resyncs_after_losing_its_connection() {
    let url = pg::fresh_database();
    let db = connect(url).await;
    let bus = ChangeBus::start(&db).await.unwrap();
    let mut sub = bus.subscribe();

    let killed: Vec<bool> = mandate_store::on_pool!(&db, pool => sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'mandate-change-bus' AND datname = current_database()")
        .fetch_all(pool).await)
    .unwrap();
    assert_eq!(
        killed,
        vec![true],
        "exactly one listener connection per bus"
    );

    assert_eq!(next_event(&mut sub).await, ChangeEvent::Resync);

    let change = Change::new(Topic::Workspace).with_id("after-reconnect");
    // The listener re-subscribes before announcing the resync, so this cannot be missed.
    bus.publish(&change).await.unwrap();
    assert_eq!(next_change(&mut sub).await, ChangeEvent::Changed(change));
}

/// A listener that hears nothing for the silence limit assumes its connection died silently:
/// it reconnects and says "everything changed", and delivery goes on.
#[tokio::test]
async fn postgres_change_bus_reconnects_when_its_listener_hears_nothing() {
    use mandate_store::change_bus::Liveness;
    let db = connect(pg::fresh_database()).await;
    let quiet = Liveness {
        heartbeat_every: None,
        silence_limit: Duration::from_secs(1),
    };
    let bus = ChangeBus::start_with(&db, quiet).await.unwrap();
    let mut sub = bus.subscribe();
    assert_eq!(next_event(&mut sub).await, ChangeEvent::Resync);
    let change = Change::new(Topic::Workspace).with_id("after-silence");
    bus.publish(&change).await.unwrap();
    assert_eq!(next_change(&mut sub).await, ChangeEvent::Changed(change));
}

/// With heartbeats flowing the listener never goes silent, and subscribers never see them.
#[tokio::test]
async fn postgres_change_bus_heartbeats_keep_the_listener_quiet() {
    use mandate_store::change_bus::Liveness;
    let db = connect(pg::fresh_database()).await;
    let lively = Liveness {
        heartbeat_every: Some(Duration::from_millis(200)),
        silence_limit: Duration::from_secs(1),
    };
    let bus = ChangeBus::start_with(&db, lively).await.unwrap();
    let mut sub = bus.subscribe();
    let nothing = tokio::time::timeout(Duration::from_secs(3), sub.recv()).await;
    assert!(
        nothing.is_err(),
        "got {nothing:?}: a heartbeat or a resync reached the subscriber"
    );
}

#[tokio::test]
async fn postgres_concurrent_migrations_take_turns() {
    let url = pg::fresh_database();
    let options = DbOptions::new(Some(url), "unused");
    let a = Db::connect(&options).await.unwrap();
    let b = Db::connect(&options).await.unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.version, rb.version);
    let total = mandate_store::embedded_migrations(Backend::Postgres).len() as i64;
    let recorded: i64 = mandate_store::on_pool!(&a, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(pool).await)
    .unwrap();
    assert_eq!(recorded, total, "each migration applied exactly once");
}

// ---- Both folders hold the same versions ----------------------------------------------------

#[test]
fn migration_folders_hold_the_same_versions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let versions = |dialect: &str| {
        let mut v: Vec<String> = std::fs::read_dir(dir.join(dialect))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        v.sort();
        v
    };
    let sqlite = versions("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, versions("postgres"), "same file names, same order");
    for (i, name) in sqlite.iter().enumerate() {
        let number: usize = name.split('_').next().unwrap().parse().unwrap();
        assert_eq!(
            number,
            i + 1,
            "migrations are numbered 0001, 0002, ... without gaps"
        );
    }
}

#[tokio::test]
async fn unsupported_and_unreachable_databases_are_clear_errors() {
    let err = Db::connect(&DbOptions::new(Some("mysql://u:secret@h/db".into()), "x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("DATABASE_URL") && err.contains("mysql"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");

    let mut options = DbOptions::new(Some("postgres://u:secret@127.0.0.1:1/db".into()), "x");
    options.connect_timeout = Duration::from_secs(2);
    let err = Db::connect(&options).await.unwrap_err().to_string();
    assert!(err.contains("postgres://u:***@127.0.0.1:1/db"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

// After the suite macro, which it uses.
mod agents;
mod audit;
mod people;
