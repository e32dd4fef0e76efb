use thiserror::Error;

/// Everything the store can fail with. Messages never contain secret values: database URLs are
/// shown with their password replaced (see [`crate::redact_url`]).
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database URL (or path) is not usable; the message starts with the setting it came from.
    #[error("{0}")]
    Config(String),
    /// The database could not be reached at start.
    #[error("cannot connect to the database at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// A value the caller gave breaks a rule of the model.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule of the model was hit (e.g. a second active data key).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A stored value this release cannot read.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the audit writer's direct SQLite connection.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("change bus: {0}")]
    ChangeBus(String),
}

impl StoreError {
    /// The database could not be reached (pool exhausted or closed, connection lost): a
    /// retryable outage rather than a bug.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Connect { .. }
                | StoreError::Database(
                    sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
                )
        )
    }
}
