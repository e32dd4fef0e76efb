//! mandate-server end to end, in process: the HTTP stack, the vault on both backends, the KEK
//! providers, signing keys, the audit log. One test binary (link time on 2 cores), one module per topic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use mandate_store::{Db, DbOptions};
use mandate_testkit::{pg, sqlite::TempSqlite};

/// A migrated database and whatever keeps it alive.
pub struct TestDb {
    pub db: Db,
    _sqlite: Option<TempSqlite>,
}

pub async fn connect(url: String) -> Db {
    let db = Db::connect(&DbOptions::new(Some(url), "unused"))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db
}

pub async fn sqlite_db() -> TestDb {
    let file = TempSqlite::new();
    TestDb {
        db: connect(file.url()).await,
        _sqlite: Some(file),
    }
}

pub async fn postgres_db() -> TestDb {
    TestDb {
        db: connect(pg::fresh_database()).await,
        _sqlite: None,
    }
}

/// Run a Python script with `args` (python3 from PATH: scripts/test puts its venv, with PyJWT,
/// first) and return its standard output; the test fails when the script does. Async, so an
/// in-process server on the test's runtime keeps answering meanwhile.
pub async fn python3(script: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .await
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Each named `async fn(&Db)` as two tests: `sqlite::name` and `postgres::name`.
macro_rules! backend_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $name() { super::$name(&crate::sqlite_db().await.db).await; })* }
        mod postgres { $(#[tokio::test] async fn $name() { super::$name(&crate::postgres_db().await.db).await; })* }
    };
}

mod agents;
mod audit;
mod connections;
mod gateway;
mod http;
#[cfg(all(feature = "vault-transit", feature = "aws-kms", feature = "azure-kv"))]
mod kek_providers;
mod notifications;
mod people;
mod signing;
mod vault;
