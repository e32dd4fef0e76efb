//! People: accounts ([`users`]), their roles per workspace ([`memberships`]), browser
//! [`sessions`], first-run [`setup`], [`invites`], personal access tokens ([`pats`]), second
//! factors ([`mfa`], [`passkeys`]) and failed-login [`lockouts`]. Rows only: the rules that need keys or the
//! clock's policy (hashing, sealing, timeouts) live in the server's `auth` module.

pub mod invites;
pub mod lockouts;
pub mod memberships;
pub mod mfa;
pub mod passkeys;
pub mod pats;
pub mod sessions;
pub mod setup;
pub mod users;

use crate::StoreError;

/// A person's role in one workspace, lowest first (so `min` gives the weaker of two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Result<Role, StoreError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| StoreError::Invalid {
                field: "role",
                reason: "must be one of owner, admin, operator, viewer".into(),
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Map a unique violation to [`StoreError::Conflict`].
pub(crate) fn conflict_on_unique(e: sqlx::Error, what: &'static str) -> StoreError {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        other => StoreError::Database(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_from_viewer_to_owner_and_parse_back() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert!(Role::Admin < Role::Owner);
        assert_eq!(Role::Owner.min(Role::Operator), Role::Operator);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
        assert!(Role::parse("root").is_err());
    }
}
