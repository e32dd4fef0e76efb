//! Passkeys (WebAuthn credentials) registered as second factors, and WebAuthn ceremonies in
//! flight. The credential and the ceremony state are opaque JSON here (webauthn-rs's types,
//! serialized by the server); the store only guarantees what must hold across replicas: a
//! credential id belongs to one account, and a ceremony is taken once, by its own session.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::people::conflict_on_unique;
use crate::{Db, StoreError, on_pool, to_db_precision};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passkey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
    pub name: String,
    /// webauthn-rs's `Passkey`, as JSON.
    pub credential: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

type Row = (
    Uuid,
    Uuid,
    Vec<u8>,
    String,
    String,
    OffsetDateTime,
    Option<OffsetDateTime>,
);

fn from_row(r: Row) -> Passkey {
    Passkey {
        id: r.0,
        user_id: r.1,
        credential_id: r.2,
        name: r.3,
        credential: r.4,
        created_at: r.5,
        last_used_at: r.6,
    }
}

/// A passkey's name: 1 to 100 characters, no control characters.
pub fn validate_name(name: &str) -> Result<String, StoreError> {
    crate::people::pats::validate_name(name)
}

const COLUMNS: &str = "id, user_id, credential_id, name, credential, created_at, last_used_at";

pub struct NewPasskey<'a> {
    pub user_id: Uuid,
    pub credential_id: &'a [u8],
    pub name: &'a str,
    pub credential: &'a str,
    pub now: OffsetDateTime,
}

/// Conflict when the credential is already registered (to this or another account).
pub async fn create(db: &Db, new: NewPasskey<'_>) -> Result<Passkey, StoreError> {
    let passkey = Passkey {
        id: Uuid::now_v7(),
        user_id: new.user_id,
        credential_id: new.credential_id.to_vec(),
        name: validate_name(new.name)?,
        credential: new.credential.to_string(),
        created_at: to_db_precision(new.now),
        last_used_at: None,
    };
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(passkey.id)
        .bind(passkey.user_id)
        .bind(passkey.credential_id.as_slice())
        .bind(&passkey.name)
        .bind(&passkey.credential)
        .bind(passkey.created_at)
        .execute(pool)
        .await
        .map(|_| ()))
    .map_err(|e| conflict_on_unique(e, "this passkey is already registered"))?;
    Ok(passkey)
}

/// A user's passkeys, oldest first.
pub async fn list(db: &Db, user_id: Uuid) -> Result<Vec<Passkey>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
    let rows = on_pool!(db, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn count(db: &Db, user_id: Uuid) -> Result<i64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await)?;
    Ok(n)
}

/// After a successful assertion: the credential with its new counter, and the time of use.
/// False when the passkey was removed meanwhile.
pub async fn record_use(
    db: &Db,
    user_id: Uuid,
    credential_id: &[u8],
    credential: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE passkeys SET credential = $3, last_used_at = $4 WHERE user_id = $1 AND credential_id = $2")
        .bind(user_id)
        .bind(credential_id)
        .bind(credential)
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n == 1)
}

/// Remove one of the user's passkeys; when it was the last second factor (no passkey and no
/// authenticator left), the backup codes go with it. NotFound when it is not theirs.
pub async fn remove(db: &Db, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    let n: Result<u64, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let n = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM backup_codes WHERE user_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NOT NULL)")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }
    .await);
    if n? == 0 {
        return Err(StoreError::NotFound("passkey"));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CeremonyKind {
    Registration,
    Authentication,
}

impl CeremonyKind {
    fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Registration => "registration",
            CeremonyKind::Authentication => "authentication",
        }
    }
}

pub struct NewCeremony<'a> {
    pub session_id: Uuid,
    pub kind: CeremonyKind,
    pub state: &'a str,
    pub label: Option<&'a str>,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Store a ceremony's state; returns its id. A session keeps one ceremony of each kind: a new
/// one replaces the one before.
pub async fn start_ceremony(db: &Db, new: NewCeremony<'_>) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let done: Result<(), sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM webauthn_ceremonies WHERE session_id = $1 AND kind = $2")
            .bind(new.session_id)
            .bind(new.kind.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, session_id, kind, state, label, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id)
            .bind(new.session_id)
            .bind(new.kind.as_str())
            .bind(new.state)
            .bind(new.label)
            .bind(to_db_precision(new.now))
            .bind(to_db_precision(new.expires_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
    .await);
    done?;
    Ok(id)
}

/// A ceremony taken out of the table: its state and, for a registration, the passkey's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenCeremony {
    pub state: String,
    pub label: Option<String>,
}

/// Take (delete and return) the ceremony if it belongs to this session, is of this kind and
/// has not expired. One DELETE ... RETURNING: of two concurrent attempts, one gets it.
pub async fn take_ceremony(
    db: &Db,
    id: Uuid,
    session_id: Uuid,
    kind: CeremonyKind,
    now: OffsetDateTime,
) -> Result<Option<TakenCeremony>, StoreError> {
    let row = on_pool!(db, pool => sqlx::query_as::<_, (String, Option<String>)>(
        "DELETE FROM webauthn_ceremonies WHERE id = $1 AND session_id = $2 AND kind = $3 AND expires_at > $4 \
         RETURNING state, label")
        .bind(id)
        .bind(session_id)
        .bind(kind.as_str())
        .bind(to_db_precision(now))
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|(state, label)| TakenCeremony { state, label }))
}

/// Remove ceremonies that expired before `now`.
pub async fn delete_expired_ceremonies(db: &Db, now: OffsetDateTime) -> Result<u64, StoreError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1")
        .bind(to_db_precision(now))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    Ok(n)
}
