//! Second factors: a TOTP authenticator (its seed sealed in the vault), passkeys (see
//! [`super::passkeys`]) and ten backup codes.
//! Each TOTP step and each backup code works once, enforced by conditional updates in the
//! database, so a code replayed on another replica fails too.

use mandate_crypto::backup_codes;
use mandate_crypto::totp::{Totp, base32};
use mandate_store::Db;
use mandate_store::people::{mfa, passkeys};
use mandate_store::workspaces::SYSTEM;
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::vault::Vault;

/// The vault kind of a sealed TOTP seed (its row id is the user id).
pub const TOTP_SEED_KIND: &str = "totp_secret";
/// The name authenticator apps show.
pub const ISSUER: &str = "Mandate";

/// The second factors a person has set up, for the sign-in page to offer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enrolled {
    pub totp: bool,
    pub passkeys: bool,
}

impl Enrolled {
    pub fn any(self) -> bool {
        self.totp || self.passkeys
    }

    /// `["totp", "passkey"]`, as far as set up.
    pub fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.totp {
            names.push("totp");
        }
        if self.passkeys {
            names.push("passkey");
        }
        names
    }
}

pub async fn enrolled(db: &Db, user_id: Uuid) -> Result<Enrolled, ApiError> {
    Ok(Enrolled {
        totp: mfa::totp(db, user_id)
            .await?
            .is_some_and(|c| c.confirmed_at.is_some()),
        passkeys: passkeys::count(db, user_id).await? > 0,
    })
}

/// True when the person has a confirmed authenticator or a passkey.
pub async fn is_enrolled(db: &Db, user_id: Uuid) -> Result<bool, ApiError> {
    Ok(enrolled(db, user_id).await?.any())
}

/// Which factor a code matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    Totp,
    BackupCode,
    Passkey,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::BackupCode => "backup_code",
            Factor::Passkey => "passkey",
        }
    }
}

/// Check a code from the authenticator or a backup code, and use it up. None: wrong, reused or
/// no authenticator.
pub async fn verify(
    db: &Db,
    vault: &Vault,
    user_id: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<Option<Factor>, ApiError> {
    if backup_codes::looks_like_one(code) {
        let used = mfa::use_backup_code(db, user_id, &backup_codes::hash(code), now).await?;
        return Ok(used.then_some(Factor::BackupCode));
    }
    let Some(credential) = mfa::totp(db, user_id).await? else {
        return Ok(None);
    };
    if credential.confirmed_at.is_none() {
        return Ok(None);
    }
    let Some(step) = matching_step(vault, user_id, &credential.sealed_secret, code, now).await?
    else {
        return Ok(None);
    };
    let accepted = mfa::use_totp_step(db, user_id, step, None).await?;
    Ok(accepted.then_some(Factor::Totp))
}

async fn matching_step(
    vault: &Vault,
    user_id: Uuid,
    sealed: &str,
    code: &str,
    now: OffsetDateTime,
) -> Result<Option<i64>, ApiError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let seed = vault
        .open(SYSTEM, TOTP_SEED_KIND, &user_id.to_string(), sealed)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let unix = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    Ok(Totp::new(seed)
        .matching_step(code, unix)
        .and_then(|s| i64::try_from(s).ok()))
}

/// A new authenticator waiting for its first code.
pub struct Enrolment {
    /// Base32, for typing into an app.
    pub secret: Zeroizing<String>,
    /// `otpauth://` URI, for a QR code.
    pub uri: Zeroizing<String>,
}

pub async fn begin(
    db: &Db,
    vault: &Vault,
    user_id: Uuid,
    email: &str,
    now: OffsetDateTime,
) -> Result<Enrolment, ApiError> {
    let seed = Totp::generate_secret().map_err(|e| ApiError::internal(&e))?;
    let sealed = vault
        .seal(SYSTEM, TOTP_SEED_KIND, &user_id.to_string(), &seed)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    mfa::begin_totp(db, user_id, &sealed, now).await?;
    let secret = Zeroizing::new(base32(&seed));
    let uri = Zeroizing::new(Totp::new(seed).otpauth_uri(ISSUER, email));
    Ok(Enrolment { secret, uri })
}

/// Finish an enrolment with its first code. False when the code is wrong.
pub async fn confirm(
    db: &Db,
    vault: &Vault,
    user_id: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<bool, ApiError> {
    let Some(credential) = mfa::totp(db, user_id).await? else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "no authenticator is being set up",
        )
        .with_hint("POST /api/auth/totp/setup first"));
    };
    if credential.confirmed_at.is_some() {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "the authenticator is already confirmed",
        ));
    }
    let Some(step) = matching_step(vault, user_id, &credential.sealed_secret, code, now).await?
    else {
        return Ok(false);
    };
    Ok(mfa::use_totp_step(db, user_id, step, Some(now)).await?)
}

/// Ten new backup codes (the old ones stop working), to show once.
pub async fn new_backup_codes(db: &Db, user_id: Uuid) -> Result<Vec<Zeroizing<String>>, ApiError> {
    let codes = backup_codes::generate().map_err(|e| ApiError::internal(&e))?;
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| backup_codes::hash(c)).collect();
    mfa::replace_backup_codes(db, user_id, &hashes).await?;
    Ok(codes)
}
