//! Temporary SQLite databases: one file per test, in its own directory.

use crate::TempDir;

/// A SQLite database URL in a fresh temp directory; the directory lives as long as the value.
pub struct TempSqlite {
    dir: TempDir,
}

impl TempSqlite {
    pub fn new() -> TempSqlite {
        TempSqlite {
            dir: TempDir::new("sqlite"),
        }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("mandate.db").display())
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Default for TempSqlite {
    fn default() -> Self {
        TempSqlite::new()
    }
}
