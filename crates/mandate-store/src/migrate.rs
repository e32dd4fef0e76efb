//! Schema migrations, embedded in the binary: one folder per dialect, the same numbering in both.

use sqlx::migrate::Migrator;

use crate::{Db, StoreError};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Newest schema version this binary knows (and the database now has).
    pub version: i64,
    /// How many migrations were missing when this run started. When several replicas migrate
    /// at once each may count the same ones; the advisory lock still applies each exactly once.
    pub applied: usize,
}

impl Db {
    /// Apply every pending migration. On PostgreSQL an advisory lock makes concurrent replicas
    /// take turns. A database that has a migration this binary does not know (a newer release
    /// ran against it) is refused rather than guessed at. A database that is up to date is only
    /// read, so a service role without CREATE rights (docs/operations.md) can start.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let before = self.applied_versions().await?;
        if self.up_to_date().await? {
            return Ok(MigrationReport {
                version: before.iter().copied().max().unwrap_or(0),
                applied: 0,
            });
        }
        match self {
            Db::Sqlite(pool) => SQLITE.run(pool).await?,
            Db::Postgres(pool) => POSTGRES.run(pool).await?,
        }
        let after = self.applied_versions().await?;
        Ok(MigrationReport {
            version: after.iter().copied().max().unwrap_or(0),
            applied: after.len().saturating_sub(before.len()),
        })
    }

    /// Every embedded migration applied with the same checksum, and nothing else applied.
    async fn up_to_date(&self) -> Result<bool, StoreError> {
        if self.applied_versions().await?.is_empty() {
            return Ok(false);
        }
        let applied: Vec<(i64, Vec<u8>)> = crate::on_pool!(self, pool => sqlx::query_as(
            "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version"
        ).fetch_all(pool).await)?;
        let migrator = match self {
            Db::Sqlite(_) => &SQLITE,
            Db::Postgres(_) => &POSTGRES,
        };
        let embedded: Vec<(i64, &[u8])> = migrator
            .iter()
            .map(|m| (m.version, m.checksum.as_ref()))
            .collect();
        Ok(applied.len() == embedded.len()
            && applied
                .iter()
                .zip(&embedded)
                .all(|((v, sum), (ev, esum))| v == ev && sum.as_slice() == *esum))
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let exists_sql = match self {
            Db::Sqlite(_) => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Db::Postgres(_) => {
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'"
            }
        };
        let exists: i64 =
            crate::on_pool!(self, pool => sqlx::query_scalar(exists_sql).fetch_one(pool).await)?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let versions = crate::on_pool!(self, pool => sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version"
        ).fetch_all(pool).await)?;
        Ok(versions)
    }
}

/// (version, description) of every embedded migration of a dialect.
pub fn embedded(backend: crate::Backend) -> Vec<(i64, String)> {
    let migrator = match backend {
        crate::Backend::Sqlite => &SQLITE,
        crate::Backend::Postgres => &POSTGRES,
    };
    migrator
        .iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;

    #[test]
    fn both_dialects_embed_the_same_versions() {
        let sqlite = embedded(Backend::Sqlite);
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, embedded(Backend::Postgres));
    }
}
