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

/// Each named `async fn(&Db)` as two tests: `sqlite::name` and `postgres::name`.
macro_rules! backend_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $name() { super::$name(&crate::sqlite_db().await.db).await; })* }
        mod postgres { $(#[tokio::test] async fn $name() { super::$name(&crate::postgres_db().await.db).await; })* }
    };
}

mod audit;
mod http;
#[cfg(all(feature = "vault-transit", feature = "aws-kms", feature = "azure-kv"))]
mod kek_providers;
mod signing;
mod vault;
