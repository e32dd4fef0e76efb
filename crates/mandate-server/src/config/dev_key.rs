//! Development mode runs without any secret configured: the key encryption key is generated
//! once into the data directory and reused on the next start. This is loud on purpose: a key on
//! the same disk as the data protects nothing, and production refuses to start this way.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mandate_crypto::Key256;

use super::{Config, ConfigError, KeyMode, RunMode};

pub const FILE_NAME: &str = "dev-encryption-key";

/// What development mode did to fill a missing key.
#[derive(Debug, PartialEq, Eq)]
pub enum DevKey {
    Generated(PathBuf),
    Reused(PathBuf),
}

/// In development mode without ENCRYPTION_KEY: load `<data_dir>/dev-encryption-key`, or create
/// it (0600, in a 0700 directory). Nothing happens in production or when a key is configured.
pub fn ensure(config: &mut Config) -> Result<Option<DevKey>, ConfigError> {
    if config.mode != RunMode::Development
        || config.encryption.mode != KeyMode::Env
        || config.encryption.key.is_some()
    {
        return Ok(None);
    }
    let path = config.data_dir.join(FILE_NAME);
    let origin = format!("development key {}", path.display());
    if path.exists() {
        check_private(&path, &origin)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::new(&origin, format!("cannot read: {e}")))?;
        let key = Key256::from_hex(&text).map_err(|e| ConfigError::new(&origin, e.to_string()))?;
        config.encryption.key = Some(key);
        return Ok(Some(DevKey::Reused(path)));
    }
    let key = Key256::generate().map_err(|e| ConfigError::new(&origin, e.to_string()))?;
    write_new(&config.data_dir, &path, &key.to_hex())
        .map_err(|e| ConfigError::new(&origin, format!("cannot create: {e}")))?;
    config.encryption.key = Some(key);
    Ok(Some(DevKey::Generated(path)))
}

fn write_new(dir: &Path, path: &Path, hex: &str) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // create_new: never overwrite a key that appeared meanwhile (another process).
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(hex.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// A key file others can read is refused rather than used.
fn check_private(path: &Path, origin: &str) -> Result<(), ConfigError> {
    let mode = std::fs::metadata(path)
        .map_err(|e| ConfigError::new(origin, format!("cannot read: {e}")))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(ConfigError::new(
            origin,
            format!(
                "is readable by other users (mode {:o}); run `chmod 600` on it",
                mode & 0o777
            ),
        ));
    }
    Ok(())
}
