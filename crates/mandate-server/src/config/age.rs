//! Settings of `ENCRYPTION_KEY_MODE=age`: the KEK sealed in an age file (to an X25519
//! recipient), opened at start with an identity file.

use std::path::PathBuf;

use super::{ConfigError, Parser};

#[derive(Debug)]
pub struct AgeSettings {
    /// The age file holding the KEK (64 hex characters, or 32 raw bytes).
    pub kek_file: PathBuf,
    /// The identity file (`age-keygen` output) that opens it.
    pub identity_file: PathBuf,
    /// The former KEK file, while changing the KEK.
    pub previous_kek_file: Option<PathBuf>,
}

pub(super) fn parse(p: &Parser<'_>) -> Result<AgeSettings, ConfigError> {
    let path = |key: &str, env: &str| {
        p.optional(key)
            .map(|v| PathBuf::from(v.text.trim()))
            .ok_or_else(|| ConfigError::new(env, "is required with ENCRYPTION_KEY_MODE=age"))
    };
    Ok(AgeSettings {
        kek_file: path("age_kek_file", "AGE_KEK_FILE")?,
        identity_file: path("age_identity_file", "AGE_IDENTITY_FILE")?,
        previous_kek_file: p
            .optional("age_kek_file_previous")
            .map(|v| PathBuf::from(v.text.trim())),
    })
}
