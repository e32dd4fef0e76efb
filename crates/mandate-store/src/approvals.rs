//! Approval requests. Every state change is one conditional `UPDATE ... RETURNING`, so two
//! replicas racing on the same approval cannot both win: one decision, one execution.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    Expired,
    Executed,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Executed => "executed",
        }
    }

    pub fn parse(s: &str) -> Result<ApprovalState, StoreError> {
        Ok(match s {
            "pending" => ApprovalState::Pending,
            "approved" => ApprovalState::Approved,
            "denied" => ApprovalState::Denied,
            "expired" => ApprovalState::Expired,
            "executed" => ApprovalState::Executed,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "approval_requests.state `{other}`"
                )));
            }
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub agent_id: Uuid,
    pub connection_id: String,
    pub policy_id: Option<Uuid>,
    pub method: String,
    pub host: String,
    pub path: String,
    /// Hex SHA-256 over method, URL and body: the request the approval is for.
    pub fingerprint: String,
    /// The body with PII redacted and cut short, for the person deciding.
    pub body_preview: Option<String>,
    pub rule: String,
    pub reason: String,
    /// As stored; a pending approval past `expires_at` reads as expired ([`Approval::state_at`]).
    pub state: ApprovalState,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<OffsetDateTime>,
    pub decision_reason: Option<String>,
    pub executed_at: Option<OffsetDateTime>,
}

impl Approval {
    /// The state at `now`: an undecided or unused approval past its expiry is expired.
    pub fn state_at(&self, now: OffsetDateTime) -> ApprovalState {
        match self.state {
            ApprovalState::Pending | ApprovalState::Approved if now >= self.expires_at => {
                ApprovalState::Expired
            }
            s => s,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    workspace_id: Uuid,
    agent_id: Uuid,
    connection_id: String,
    policy_id: Option<Uuid>,
    method: String,
    host: String,
    path: String,
    fingerprint: String,
    body_preview: Option<String>,
    rule: String,
    reason: String,
    state: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    decided_by: Option<Uuid>,
    decided_at: Option<OffsetDateTime>,
    decision_reason: Option<String>,
    executed_at: Option<OffsetDateTime>,
}

const COLUMNS: &str = "id, workspace_id, agent_id, connection_id, policy_id, method, host, path, fingerprint, body_preview, rule, reason, state, created_at, expires_at, decided_by, decided_at, decision_reason, executed_at";

fn from_row(r: Row) -> Result<Approval, StoreError> {
    Ok(Approval {
        state: ApprovalState::parse(&r.state)?,
        id: r.id,
        workspace_id: r.workspace_id,
        agent_id: r.agent_id,
        connection_id: r.connection_id,
        policy_id: r.policy_id,
        method: r.method,
        host: r.host,
        path: r.path,
        fingerprint: r.fingerprint,
        body_preview: r.body_preview,
        rule: r.rule,
        reason: r.reason,
        created_at: r.created_at,
        expires_at: r.expires_at,
        decided_by: r.decided_by,
        decided_at: r.decided_at,
        decision_reason: r.decision_reason,
        executed_at: r.executed_at,
    })
}

/// Store a new pending approval (`state`, `decided_*` and `executed_at` are ignored).
pub async fn create(db: &Db, a: &Approval) -> Result<(), StoreError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO approval_requests (id, workspace_id, agent_id, connection_id, policy_id, method, host, path, \
         fingerprint, body_preview, rule, reason, state, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $14)")
        .bind(a.id)
        .bind(a.workspace_id)
        .bind(a.agent_id)
        .bind(&a.connection_id)
        .bind(a.policy_id)
        .bind(&a.method)
        .bind(&a.host)
        .bind(&a.path)
        .bind(&a.fingerprint)
        .bind(&a.body_preview)
        .bind(&a.rule)
        .bind(&a.reason)
        .bind(to_db_precision(a.created_at))
        .bind(to_db_precision(a.expires_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn get(db: &Db, workspace_id: Uuid, id: Uuid) -> Result<Approval, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM approval_requests WHERE id = $1 AND workspace_id = $2");
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?;
    from_row(row.ok_or(StoreError::NotFound("approval request"))?)
}

/// Decide a pending, unexpired approval: approved or denied. `None` when it was not pending any
/// more (decided elsewhere, expired): the caller reads it again to say why.
pub async fn decide(
    db: &Db,
    workspace_id: Uuid,
    id: Uuid,
    approve: bool,
    decided_by: Uuid,
    reason: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Approval>, StoreError> {
    let sql = format!(
        "UPDATE approval_requests SET state = $1, decided_by = $2, decided_at = $3, decision_reason = $4 \
         WHERE id = $5 AND workspace_id = $6 AND state = 'pending' AND expires_at > $3 RETURNING {COLUMNS}"
    );
    let state = if approve { "approved" } else { "denied" };
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(state)
        .bind(decided_by)
        .bind(to_db_precision(now))
        .bind(reason)
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

/// Take an approved, unexpired approval for exactly this request (agent and fingerprint): it
/// becomes `executed`. `None` when it cannot be used (the caller reads it to say why).
pub async fn redeem(
    db: &Db,
    id: Uuid,
    agent_id: Uuid,
    fingerprint: &str,
    now: OffsetDateTime,
) -> Result<Option<Approval>, StoreError> {
    let sql = format!(
        "UPDATE approval_requests SET state = 'executed', executed_at = $1 \
         WHERE id = $2 AND agent_id = $3 AND fingerprint = $4 AND state = 'approved' AND expires_at > $1 \
         RETURNING {COLUMNS}"
    );
    let row = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(to_db_precision(now))
        .bind(id)
        .bind(agent_id)
        .bind(fingerprint)
        .fetch_optional(pool)
        .await)?;
    row.map(from_row).transpose()
}

/// A workspace's approvals (one agent's when `agent_id` is given), newest first. `state` filters
/// on the state at `now`: a pending or approved request past its expiry counts as expired.
pub async fn list(
    db: &Db,
    workspace_id: Uuid,
    agent_id: Option<Uuid>,
    state: Option<ApprovalState>,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Approval>, StoreError> {
    let condition = match state {
        None => "TRUE",
        Some(ApprovalState::Pending) => "state = 'pending' AND expires_at > $3",
        Some(ApprovalState::Approved) => "state = 'approved' AND expires_at > $3",
        Some(ApprovalState::Expired) => {
            "(state = 'expired' OR (state IN ('pending', 'approved') AND expires_at <= $3))"
        }
        Some(ApprovalState::Denied) => "state = 'denied'",
        Some(ApprovalState::Executed) => "state = 'executed'",
    };
    // `$3 IS NOT NULL`: every parameter is used whatever the filter.
    let sql = format!(
        "SELECT {COLUMNS} FROM approval_requests WHERE workspace_id = $1 \
         AND ($2 IS NULL OR agent_id = $2) AND ($3 IS NOT NULL) AND {condition} \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(workspace_id)
        .bind(agent_id)
        .bind(to_db_precision(now))
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(from_row).collect()
}
