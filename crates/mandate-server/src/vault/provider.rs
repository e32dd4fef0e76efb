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
        KeyMode::Age => age(config),
        KeyMode::AzureKv => azure_kv(config).await,
    }
}

/// The setting that holds the former key while changing the KEK, for providers that have one.
pub fn previous_key_setting(provider: &str) -> Option<&'static str> {
    match provider {
        "env" => Some("ENCRYPTION_KEY_PREVIOUS"),
        "age" => Some("AGE_KEK_FILE_PREVIOUS"),
        "azure-kv" => Some("AZURE_KV_WRAPPED_DEK_SECRET_PREVIOUS"),
        _ => None,
    }
}

/// What to do when a data key is wrapped by a KEK the configuration does not hold.
pub fn unreachable_hint(provider: &str) -> String {
    match (provider, previous_key_setting(provider)) {
        (_, Some(setting)) => format!("if the key encryption key was changed, configure the former one in {setting}"),
        ("vault-transit", None) => {
            "it is a version of the Transit key below its min_decryption_version, or another key than VAULT_TRANSIT_KEY".into()
        }
        ("aws-kms", None) => "it is another KMS key than AWS_KMS_KEY_ID (moving between KMS keys is not supported)".into(),
        _ => "configure the key encryption key that wrapped it".into(),
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

/// Open the age file(s) with the identity file; the KEK is then held like `env`.
fn age(config: &Config) -> Result<Kek, ProviderError> {
    let settings = config.encryption.age.as_ref().ok_or_else(|| {
        ConfigError::new("AGE_KEK_FILE", "is required with ENCRYPTION_KEY_MODE=age")
    })?;
    let identity_origin = format!("AGE_IDENTITY_FILE ({})", settings.identity_file.display());
    let identity_text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&settings.identity_file).map_err(|e| {
            ConfigError::new(&identity_origin, format!("cannot read the file: {e}"))
        })?,
    );
    let identities = mandate_crypto::age::parse_identities(&identity_text)
        .map_err(|e| ConfigError::new(&identity_origin, e.to_string()))?;
    let open = |path: &std::path::Path, var: &str| -> Result<mandate_crypto::Key256, ConfigError> {
        let origin = format!("{var} ({})", path.display());
        let sealed = std::fs::read(path)
            .map_err(|e| ConfigError::new(&origin, format!("cannot read the file: {e}")))?;
        let plain = mandate_crypto::age::decrypt(&sealed, &identities)
            .map_err(|e| ConfigError::new(&origin, e.to_string()))?;
        let key = match <[u8; 32]>::try_from(plain.as_slice()) {
            Ok(raw) => mandate_crypto::Key256::from_bytes(raw),
            Err(_) => {
                let text = std::str::from_utf8(&plain).map_err(|_| {
                    ConfigError::new(&origin, "holds neither 32 bytes nor 64 hex characters")
                })?;
                mandate_crypto::Key256::from_hex(text)
                    .map_err(|e| ConfigError::new(&origin, format!("the sealed key {e}")))?
            }
        };
        if key.is_weak() {
            return Err(ConfigError::new(
                &origin,
                "the sealed key is a placeholder value (repeated or counting bytes)",
            ));
        }
        Ok(key)
    };
    let current = open(&settings.kek_file, "AGE_KEK_FILE")?;
    let previous = settings
        .previous_kek_file
        .as_deref()
        .map(|p| open(p, "AGE_KEK_FILE_PREVIOUS"))
        .transpose()?;
    let kek = EnvKek::with_prefix("age", &current, previous.as_ref()).map_err(VaultError::from)?;
    Ok(Kek::Age(kek))
}

/// Read and unwrap the KEK (and the previous one while changing it) from Azure Key Vault.
#[cfg(feature = "azure-kv")]
async fn azure_kv(config: &Config) -> Result<Kek, ProviderError> {
    use mandate_crypto::kek::azure_kv::{AzureKvConfig, IMDS_TOKEN_URL, Identity, fetch_kek};
    use secrecy::ExposeSecret;

    let settings = config.encryption.azure_kv.as_ref().ok_or_else(|| {
        ConfigError::new(
            "AZURE_KEY_VAULT_URI",
            "is required with ENCRYPTION_KEY_MODE=azure-kv",
        )
    })?;
    let identity = match &settings.identity_endpoint {
        Some((endpoint, header)) => Identity::AppService {
            endpoint: endpoint.clone(),
            header: zeroize::Zeroizing::new(header.expose_secret().to_string()),
        },
        None => Identity::Imds {
            url: IMDS_TOKEN_URL.to_string(),
        },
    };
    let fetch = |secret: &str| {
        let azure = AzureKvConfig {
            vault_uri: settings.vault_uri.to_string(),
            kek_name: settings.kek_name.clone(),
            kek_version: settings.kek_version.clone(),
            wrapped_secret: secret.to_string(),
            client_id: settings.client_id.clone(),
            identity: identity.clone(),
            timeout: std::time::Duration::from_secs(10),
        };
        async move { fetch_kek(&azure).await }
    };
    let current = fetch(&settings.wrapped_secret)
        .await
        .map_err(VaultError::from)?;
    let previous = match &settings.wrapped_secret_previous {
        Some(name) => Some(fetch(name).await.map_err(VaultError::from)?),
        None => None,
    };
    let kek =
        EnvKek::with_prefix("azure-kv", &current, previous.as_ref()).map_err(VaultError::from)?;
    Ok(Kek::AzureKv(kek))
}

#[cfg(not(feature = "azure-kv"))]
async fn azure_kv(_config: &Config) -> Result<Kek, ProviderError> {
    Err(ConfigError::new(
        "ENCRYPTION_KEY_MODE",
        "`azure-kv` is not in this build (cargo feature `azure-kv`)",
    )
    .into())
}
