//! Every column that holds a sealed secret (an envelope), so that rotating a workspace's data
//! key can find and re-encrypt what the old key sealed. A feature that stores a secret adds its
//! column here; the list is static, so the SQL built from it never carries outside input.

use uuid::Uuid;

use crate::{Db, StoreError, on_pool, workspaces};

/// How a column's rows belong to a workspace.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    /// Every row belongs to the system workspace.
    System,
    /// The workspace is in this column.
    Column(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    pub id_column: &'static str,
    pub column: &'static str,
    /// The `kind` the vault binds these envelopes to.
    pub kind: &'static str,
    pub scope: Scope,
}

pub const ALL: &[SealedColumn] = &[
    SealedColumn {
        table: "signing_keys",
        id_column: "kid",
        column: "private_key",
        kind: "signing_key",
        scope: Scope::System,
    },
    SealedColumn {
        table: "audit_keys",
        id_column: "id",
        column: "sealed_key",
        kind: "audit_key",
        scope: Scope::System,
    },
    SealedColumn {
        table: "totp_credentials",
        id_column: "id",
        column: "sealed_secret",
        kind: "totp_secret",
        scope: Scope::System,
    },
    SealedColumn {
        table: "oauth_apps",
        id_column: "id",
        column: "client_secret",
        kind: "oauth_client_secret",
        scope: Scope::Column("workspace_id"),
    },
    SealedColumn {
        table: "connections",
        id_column: "id",
        column: "credential",
        kind: "connection_credential",
        scope: Scope::Column("workspace_id"),
    },
    SealedColumn {
        table: "oauth_connect_flows",
        id_column: "id",
        column: "code_verifier",
        kind: "pkce_verifier",
        scope: Scope::Column("workspace_id"),
    },
    SealedColumn {
        table: "notification_channels",
        id_column: "id",
        column: "secret",
        kind: "notification_secret",
        scope: Scope::Column("workspace_id"),
    },
];

/// The start of every envelope sealed with data key `kid` (envelopes have one canonical form).
pub fn envelope_prefix(kid: &str) -> String {
    format!(r#"{{"v":1,"alg":"A256GCM","kid":"{kid}","#)
}

impl SealedColumn {
    /// (row id, envelope) of the rows of `workspace_id` still sealed with `kid`, at most `limit`.
    pub async fn sealed_with(
        &self,
        db: &Db,
        workspace_id: Uuid,
        kid: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        if !self.covers(workspace_id) {
            return Ok(Vec::new());
        }
        let (scope_sql, bind_ws) = match self.scope {
            Scope::System => (String::new(), false),
            Scope::Column(c) => (format!(" AND {c} = $3"), true),
        };
        // Prefix match with no LIKE wildcards to escape: substr() is the same in both dialects.
        let sql = format!(
            "SELECT {id}, {col} FROM {t} WHERE substr({col}, 1, length($1)) = $1{scope_sql} ORDER BY {id} LIMIT $2",
            id = self.id_column,
            col = self.column,
            t = self.table
        );
        let prefix = envelope_prefix(kid);
        let rows = on_pool!(db, pool => {
            let q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql.as_str())).bind(&prefix).bind(limit);
            if bind_ws { q.bind(workspace_id).fetch_all(pool).await } else { q.fetch_all(pool).await }
        })?;
        Ok(rows)
    }

    /// How many rows of `workspace_id` are still sealed with `kid`.
    pub async fn count_sealed_with(
        &self,
        db: &Db,
        workspace_id: Uuid,
        kid: &str,
    ) -> Result<i64, StoreError> {
        if !self.covers(workspace_id) {
            return Ok(0);
        }
        let (scope_sql, bind_ws) = match self.scope {
            Scope::System => (String::new(), false),
            Scope::Column(c) => (format!(" AND {c} = $2"), true),
        };
        let sql = format!(
            "SELECT COUNT(*) FROM {t} WHERE substr({col}, 1, length($1)) = $1{scope_sql}",
            col = self.column,
            t = self.table
        );
        let prefix = envelope_prefix(kid);
        let n = on_pool!(db, pool => {
            let q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str())).bind(&prefix);
            if bind_ws { q.bind(workspace_id).fetch_one(pool).await } else { q.fetch_one(pool).await }
        })?;
        Ok(n)
    }

    /// Replace one envelope, only if it is still `old` (a concurrent writer wins). True when
    /// this call replaced it.
    pub async fn replace(
        &self,
        db: &Db,
        id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {t} SET {col} = $3 WHERE {id} = $1 AND {col} = $2",
            t = self.table,
            col = self.column,
            id = self.id_column
        );
        let n = on_pool!(db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(old)
            .bind(new)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(n == 1)
    }

    fn covers(&self, workspace_id: Uuid) -> bool {
        match self.scope {
            Scope::System => workspace_id == workspaces::SYSTEM,
            Scope::Column(_) => true,
        }
    }
}
