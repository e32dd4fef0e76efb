//! Password hashing off the async runtime. Argon2id takes tens of milliseconds and ~19 MiB per
//! hash, so it runs on the blocking pool behind a semaphore of one permit per CPU: memory stays
//! bounded under a login flood and request handling threads never stall.

use std::sync::Arc;

use mandate_crypto::password::{PasswordError, PasswordHasher, PasswordParams, Verification};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::ApiError;

/// The shortest and longest password accepted for a new account or a change.
pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

#[derive(Clone)]
pub struct Passwords {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
}

impl Passwords {
    pub fn new(params: PasswordParams) -> Result<Passwords, PasswordError> {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Passwords {
            hasher: Arc::new(PasswordHasher::new(params)?),
            permits: Arc::new(Semaphore::new(cpus)),
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = Zeroizing::new(password.to_string());
        self.blocking(move |h| h.hash(&password))
            .await?
            .map_err(|e| ApiError::internal(&e))
    }

    /// A malformed stored hash counts as a mismatch (and is logged): the account cannot sign in
    /// with a password until it is reset, which is the safe side.
    pub async fn verify(&self, stored: &str, password: &str) -> Result<Verification, ApiError> {
        let (stored, password) = (stored.to_string(), Zeroizing::new(password.to_string()));
        match self.blocking(move |h| h.verify(&stored, &password)).await? {
            Ok(v) => Ok(v),
            Err(e) => {
                tracing::error!(error = %e, "a stored password hash cannot be read");
                Ok(Verification::Mismatch)
            }
        }
    }

    /// As long as a verification, for an account that does not exist.
    pub async fn burn(&self, password: &str) -> Result<(), ApiError> {
        let password = Zeroizing::new(password.to_string());
        self.blocking(move |h| h.burn(&password)).await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || work(&hasher))
            .await
            .map_err(|e| ApiError::internal(&e))
    }
}

/// The rule for a new password: length within bounds, not the email address.
pub fn check_new(password: &str, email: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return Err(ApiError::bad_request(format!(
            "the password must be at least {MIN_LENGTH} characters"
        )));
    }
    if n > MAX_LENGTH {
        return Err(ApiError::bad_request(format!(
            "the password must be at most {MAX_LENGTH} characters"
        )));
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err(ApiError::bad_request(
            "the password must not be the email address",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_passwords_need_length_and_must_differ_from_the_email() {
        assert!(check_new("short", "a@b.c").is_err());
        assert!(check_new(&"x".repeat(257), "a@b.c").is_err());
        assert!(check_new("Alice@Example.com", "alice@example.com").is_err());
        assert!(check_new("correct horse battery", "a@b.c").is_ok());
    }
}
