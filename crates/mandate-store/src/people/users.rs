//! Accounts: one per email address, across workspaces.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, StoreError, on_pool, to_db_precision};

pub const EMAIL_MAX: usize = 254;
pub const DISPLAY_NAME_MAX: usize = 100;

#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub password_changed_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// What creating an account needs (the password already hashed).
#[derive(Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
}

impl NewUser {
    /// Checks and normalizes the email and display name.
    pub fn new(
        email: &str,
        display_name: Option<&str>,
        password_hash: String,
    ) -> Result<NewUser, StoreError> {
        let email = normalize_email(email)?;
        let display_name = match display_name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => validate_display_name(name)?,
            None => email.split('@').next().unwrap_or("user").to_string(),
        };
        Ok(NewUser {
            email,
            display_name,
            password_hash,
        })
    }

    pub(crate) fn into_user(self, now: OffsetDateTime) -> User {
        let now = to_db_precision(now);
        User {
            id: Uuid::now_v7(),
            email: self.email,
            display_name: self.display_name,
            password_hash: self.password_hash,
            password_changed_at: now,
            created_at: now,
        }
    }
}

fn invalid(field: &'static str, reason: &str) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

/// Trimmed and lower-cased; one `@` with something on both sides, a dot in the domain, no
/// spaces or control characters, at most 254 characters.
pub fn normalize_email(email: &str) -> Result<String, StoreError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Err(invalid("email", "must not be empty"));
    }
    if email.chars().count() > EMAIL_MAX {
        return Err(invalid("email", "must be at most 254 characters"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(invalid("email", "must be an email address (name@domain)"));
    };
    let plain = |s: &str| {
        !s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    };
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || !plain(local)
        || !plain(domain)
    {
        return Err(invalid("email", "must be an email address (name@domain)"));
    }
    Ok(email)
}

pub fn validate_display_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > DISPLAY_NAME_MAX {
        return Err(invalid("displayName", "must be 1 to 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(
            "displayName",
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

const COLUMNS: &str = "id, email, display_name, password_hash, password_changed_at, created_at";

pub async fn by_email(db: &Db, email: &str) -> Result<Option<User>, StoreError> {
    let Ok(email) = normalize_email(email) else {
        return Ok(None);
    };
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
    let user = on_pool!(db, pool => sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&email)
        .fetch_optional(pool)
        .await)?;
    Ok(user)
}

pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let user = on_pool!(db, pool => sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    Ok(user)
}

/// Store a new hash. `changed_at` is set when the password itself changed (not for a rehash of
/// the same password with new parameters).
pub async fn set_password_hash(
    db: &Db,
    id: Uuid,
    hash: &str,
    changed_at: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE users SET password_hash = $2, password_changed_at = COALESCE($3, password_changed_at) WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(changed_at.map(to_db_precision))
        .execute(pool)
        .await
        .map(|d| d.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound("user"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@localhost",
            "a b@example.com",
            "ada@@example.com",
            "ada@example.com.",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert!(normalize_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn display_names_default_to_the_local_part() {
        let u = NewUser::new("grace@example.com", None, "h".into()).unwrap();
        assert_eq!(u.display_name, "grace");
        let u = NewUser::new("grace@example.com", Some("  Grace H. "), "h".into()).unwrap();
        assert_eq!(u.display_name, "Grace H.");
        assert!(NewUser::new("grace@example.com", Some("a\u{7}"), "h".into()).is_err());
    }
}
