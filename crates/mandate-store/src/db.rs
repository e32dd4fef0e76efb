//! The database handle: SQLite or PostgreSQL behind one type.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;

/// A connection pool on one of the two supported backends.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which backend a [`Db`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Run the same sqlx expression on whichever pool `db` holds. The body is written once and
/// compiled for both backends, so every bound type must encode on both.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// `sqlite://path`, `sqlite:path`, `postgres://...` or `postgresql://...`; None means the
    /// embedded default, `<data_dir>/mandate.db`.
    pub url: Option<String>,
    /// Where the default SQLite file lives.
    pub data_dir: PathBuf,
    pub max_connections: u32,
    /// How long to wait for a connection, at start and from the pool.
    pub connect_timeout: Duration,
}

impl DbOptions {
    pub fn new(url: Option<String>, data_dir: impl Into<PathBuf>) -> DbOptions {
        DbOptions {
            url,
            data_dir: data_dir.into(),
            max_connections: 10,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl Db {
    /// Open the pool and check that the database answers. Fails with a message that names the
    /// (redacted) URL and the reason.
    pub async fn connect(options: &DbOptions) -> Result<Db, StoreError> {
        match &options.url {
            None => {
                let path = options.data_dir.join("mandate.db");
                connect_sqlite(SqliteConnectOptions::new().filename(&path), options).await
            }
            Some(url) => match scheme(url) {
                Some("sqlite") => {
                    if url.contains(":memory:") || url.contains("mode=memory") {
                        return Err(StoreError::Config(
                            "DATABASE_URL: an in-memory SQLite database loses everything on \
                             restart; give a file path (sqlite://path/to/mandate.db)"
                                .into(),
                        ));
                    }
                    let parsed = SqliteConnectOptions::from_str(url).map_err(|e| {
                        StoreError::Config(format!("DATABASE_URL ({}): {e}", redact_url(url)))
                    })?;
                    connect_sqlite(parsed, options).await
                }
                Some("postgres" | "postgresql") => {
                    let parsed = PgConnectOptions::from_str(url).map_err(|e| {
                        StoreError::Config(format!("DATABASE_URL ({}): {e}", redact_url(url)))
                    })?;
                    // synchronous_commit on whatever the server's default: a committed audit
                    // record must survive a database crash once the action it precedes went ahead.
                    let parsed = parsed
                        .application_name("mandate")
                        .options([("synchronous_commit", "on")]);
                    connect_postgres(parsed, url, options).await
                }
                Some(other) => Err(StoreError::Config(format!(
                    "DATABASE_URL: unsupported scheme `{other}` (expected sqlite://path or \
                     postgres://user@host/db)"
                ))),
                None => Err(StoreError::Config(
                    "DATABASE_URL: not a URL (expected sqlite://path or postgres://user@host/db)"
                        .into(),
                )),
            },
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// One round trip to the database, bounded by `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        let probe = async {
            on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
        };
        match tokio::time::timeout(timeout, probe).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_) => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    /// Close every connection, waiting for the ones in use to be returned.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

async fn connect_sqlite(opts: SqliteConnectOptions, options: &DbOptions) -> Result<Db, StoreError> {
    let path = opts.get_filename().to_path_buf();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create the database directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let opts = opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a committed transaction survives power loss, which the audit log relies on.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    // No ping before each checkout: on SQLite it is one more hand-off to the connection's
    // worker thread per statement, and a broken file shows up in the statement itself.
    let pool = SqlitePoolOptions::new()
        .test_before_acquire(false)
        .max_connections(options.max_connections)
        .acquire_timeout(options.connect_timeout)
        .connect_with(opts)
        .await
        .map_err(|e| StoreError::Connect {
            url: format!("sqlite://{}", path.display()),
            reason: e.to_string(),
        })?;
    restrict_file(&path);
    Ok(Db::Sqlite(pool))
}

async fn connect_postgres(
    opts: PgConnectOptions,
    url: &str,
    options: &DbOptions,
) -> Result<Db, StoreError> {
    let pool = PgPoolOptions::new()
        .test_before_acquire(false)
        .max_connections(options.max_connections)
        .acquire_timeout(options.connect_timeout)
        .connect_with(opts)
        .await
        .map_err(|e| StoreError::Connect {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
    Ok(Db::Postgres(pool))
}

/// Create `dir` (and parents) readable by the service user only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The database file holds ciphertexts and hashes: keep it to the service user. SQLite gives its
/// -wal and -shm files the permissions of the main file.
fn restrict_file(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot restrict database file permissions");
    }
}

/// A database URL fit for logs and errors: the password, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(unparseable URL)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_only() {
        assert_eq!(
            redact_url("postgres://svc:hunter2@db.internal:5432/mandate"),
            "postgres://svc:***@db.internal:5432/mandate"
        );
        assert_eq!(
            redact_url("postgres://svc@db/mandate"),
            "postgres://svc@db/mandate"
        );
        assert!(!redact_url("postgres://a:b c@@@").contains("b c"));
    }

    #[test]
    fn scheme_is_read_before_the_colon() {
        assert_eq!(scheme("sqlite://x.db"), Some("sqlite"));
        assert_eq!(scheme("postgresql://h/db"), Some("postgresql"));
        assert_eq!(scheme("mysql://h/db"), Some("mysql"));
        assert_eq!(scheme("/var/lib/x.db"), None);
    }
}
