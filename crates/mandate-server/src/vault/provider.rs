//! Builds the configured key encryption key provider (ENCRYPTION_KEY_MODE).

use mandate_crypto::kek::{EnvKek, Kek};

use crate::config::{Config, ConfigError, KeyMode};

use super::VaultError;

/// The provider for `config`, connected and authenticated (it is self-tested by the caller).
pub async fn kek_from_config(config: &Config) -> Result<Kek, ProviderError> {
    match config.encryption.mode {
        KeyMode::Env => {
            let key = config.encryption.key.as_ref().ok_or_else(|| {
                ConfigError::new("ENCRYPTION_KEY", "is missing (ENCRYPTION_KEY_MODE=env)")
            })?;
            let env = EnvKek::new(key, config.encryption.previous_key.as_ref())
                .map_err(VaultError::from)?;
            Ok(Kek::Env(env))
        }
        KeyMode::VaultTransit => vault_transit(config).await,
        KeyMode::AwsKms => aws_kms(config).await,
    }
}

/// Either the configuration is wrong or the provider is.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

#[cfg(feature = "vault-transit")]
async fn vault_transit(config: &Config) -> Result<Kek, ProviderError> {
    use mandate_crypto::kek::{TransitAuth, TransitConfig, TransitKek};
    use secrecy::ExposeSecret;
    use zeroize::Zeroizing;

    use crate::config::vault_transit::VaultAuth;

    let settings = config.encryption.vault_transit.as_ref().ok_or_else(|| {
        ConfigError::new(
            "VAULT_ADDR",
            "is required with ENCRYPTION_KEY_MODE=vault-transit",
        )
    })?;
    let ca_pem = match &settings.ca_cert {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            ConfigError::new(
                format!("VAULT_CACERT ({})", path.display()),
                format!("cannot read the file: {e}"),
            )
        })?),
        None => None,
    };
    let auth = match &settings.auth {
        VaultAuth::Token(token) => {
            TransitAuth::Token(Zeroizing::new(token.expose_secret().to_string()))
        }
        VaultAuth::AppRole { role_id, secret_id } => TransitAuth::AppRole {
            role_id: role_id.clone(),
            secret_id: Zeroizing::new(secret_id.expose_secret().to_string()),
        },
    };
    let transit = TransitKek::connect(TransitConfig {
        addr: settings.addr.to_string(),
        mount: settings.mount.clone(),
        key: settings.key.clone(),
        auth,
        namespace: settings.namespace.clone(),
        ca_pem,
        timeout: std::time::Duration::from_secs(10),
    })
    .await
    .map_err(VaultError::from)?;
    Ok(Kek::VaultTransit(transit))
}

#[cfg(not(feature = "vault-transit"))]
async fn vault_transit(_config: &Config) -> Result<Kek, ProviderError> {
    Err(ConfigError::new(
        "ENCRYPTION_KEY_MODE",
        "`vault-transit` is not in this build (cargo feature `vault-transit`)",
    )
    .into())
}

#[cfg(feature = "aws-kms")]
async fn aws_kms(config: &Config) -> Result<Kek, ProviderError> {
    use mandate_crypto::kek::sigv4::Credentials;
    use mandate_crypto::kek::{AwsKmsConfig, AwsKmsKek};
    use secrecy::ExposeSecret;
    use zeroize::Zeroizing;

    let settings = config.encryption.aws_kms.as_ref().ok_or_else(|| {
        ConfigError::new(
            "AWS_KMS_KEY_ID",
            "is required with ENCRYPTION_KEY_MODE=aws-kms",
        )
    })?;
    let kms = AwsKmsKek::connect(AwsKmsConfig {
        key_id: settings.key_id.clone(),
        region: settings.region.clone(),
        endpoint: settings.endpoint.clone(),
        credentials: Credentials {
            access_key_id: settings.access_key_id.clone(),
            secret_access_key: Zeroizing::new(
                settings.secret_access_key.expose_secret().to_string(),
            ),
            session_token: settings
                .session_token
                .as_ref()
                .map(|t| Zeroizing::new(t.expose_secret().to_string())),
        },
        timeout: std::time::Duration::from_secs(10),
    })
    .await
    .map_err(VaultError::from)?;
    Ok(Kek::AwsKms(kms))
}

#[cfg(not(feature = "aws-kms"))]
async fn aws_kms(_config: &Config) -> Result<Kek, ProviderError> {
    Err(ConfigError::new(
        "ENCRYPTION_KEY_MODE",
        "`aws-kms` is not in this build (cargo feature `aws-kms`)",
    )
    .into())
}
