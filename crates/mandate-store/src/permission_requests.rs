//! Permission requests: an agent asks for an action template it has no policy for. Deciding is
//! one conditional UPDATE on a pending row, so two people deciding at once get one decision.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionRequest {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub agent_id: Uuid,
    pub template_id: String,
    pub reason: String,
    /// `pending`, `granted` or `refused`.
    pub state: String,
    pub created_at: OffsetDateTime,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<OffsetDateTime>,
    pub decision_reason: Option<String>,
    /// Granted: the connection bound and the policy created.
    pub connection_id: Option<String>,
    pub policy_id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    workspace_id: Uuid,
    agent_id: Uuid,
    template_id: String,
    reason: String,
    state: String,
    created_at: OffsetDateTime,
    decided_by: Option<Uuid>,
    decided_at: Option<OffsetDateTime>,
    decision_reason: Option<String>,
    connection_id: Option<String>,
    policy_id: Option<Uuid>,
}

impl From<Row> for PermissionRequest {
    fn from(r: Row) -> PermissionRequest {
        PermissionRequest {
            id: r.id,
            workspace_id: r.workspace_id,
            agent_id: r.agent_id,
            template_id: r.template_id,
            reason: r.reason,
            state: r.state,
            created_at: r.created_at,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            decision_reason: r.decision_reason,
            connection_id: r.connection_id,
            policy_id: r.policy_id,
        }
    }
}

const COLUMNS: &str = "id, workspace_id, agent_id, template_id, reason, state, created_at, decided_by, decided_at, decision_reason, connection_id, policy_id";

/// Store a new pending request; `Conflict` when the agent already has one pending for the
/// template.
pub async fn create(db: &Db, r: &PermissionRequest) -> Result<(), StoreError> {
    let result = on_pool!(db, pool => sqlx::query(
        "INSERT INTO permission_requests (id, workspace_id, agent_id, template_id, reason, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6)")
        .bind(r.id)
        .bind(r.workspace_id)
        .bind(r.agent_id)
        .bind(&r.template_id)
        .bind(&r.reason)
        .bind(to_db_precision(r.created_at))
        .execute(pool)
        .await
        .map(|_| ()));
    match result {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
            "a request for this action is already pending",
        )),
        other => Ok(other?),
    }
}

pub async fn get(db: &Db, workspace_id: Uuid, id: Uuid) -> Result<PermissionRequest, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM permission_requests WHERE id = $1 AND workspace_id = $2");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?;
    row.map(PermissionRequest::from)
        .ok_or(StoreError::NotFound("permission request"))
}

/// The workspace's requests (one agent's when given; one state's when given), newest first.
pub async fn list(
    db: &Db,
    workspace_id: Uuid,
    agent_id: Option<Uuid>,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<PermissionRequest>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM permission_requests WHERE workspace_id = $1 \
         AND ($2 IS NULL OR agent_id = $2) AND ($3 IS NULL OR state = $3) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .bind(agent_id)
        .bind(state)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(PermissionRequest::from).collect())
}

/// How a pending request was decided.
pub struct Decision<'a> {
    pub granted: bool,
    pub decided_by: Uuid,
    pub reason: Option<&'a str>,
    pub connection_id: Option<&'a str>,
    pub policy_id: Option<Uuid>,
    pub now: OffsetDateTime,
}

/// Decide a pending request; `None` when it was not pending any more.
pub async fn decide(
    db: &Db,
    workspace_id: Uuid,
    id: Uuid,
    d: &Decision<'_>,
) -> Result<Option<PermissionRequest>, StoreError> {
    let sql = format!(
        "UPDATE permission_requests SET state = $1, decided_by = $2, decided_at = $3, decision_reason = $4, \
         connection_id = $5, policy_id = $6 WHERE id = $7 AND workspace_id = $8 AND state = 'pending' \
         RETURNING {COLUMNS}"
    );
    let state = if d.granted { "granted" } else { "refused" };
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(state)
        .bind(d.decided_by)
        .bind(to_db_precision(d.now))
        .bind(d.reason)
        .bind(d.connection_id)
        .bind(d.policy_id)
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(PermissionRequest::from))
}

/// Undo a grant whose policy could not be created: pending again, as if never decided.
pub async fn reopen(db: &Db, workspace_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE permission_requests SET state = 'pending', decided_by = NULL, decided_at = NULL, \
         decision_reason = NULL, connection_id = NULL \
         WHERE id = $1 AND workspace_id = $2 AND state = 'granted' AND policy_id IS NULL")
        .bind(id)
        .bind(workspace_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Record the policy a grant created.
pub async fn set_policy(
    db: &Db,
    workspace_id: Uuid,
    id: Uuid,
    policy_id: Uuid,
) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE permission_requests SET policy_id = $1 WHERE id = $2 AND workspace_id = $3")
        .bind(policy_id)
        .bind(id)
        .bind(workspace_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}
