//! Settings of `ENCRYPTION_KEY_MODE=azure-kv`: the KEK is kept wrapped in an Azure Key Vault
//! secret and unwrapped by a Key Vault key at start, with the managed identity.

use secrecy::SecretString;

use super::{ConfigError, Parser};

#[derive(Debug)]
pub struct AzureKvSettings {
    pub vault_uri: url::Url,
    pub kek_name: String,
    pub kek_version: Option<String>,
    pub wrapped_secret: String,
    /// The former secret while changing the KEK.
    pub wrapped_secret_previous: Option<String>,
    pub client_id: Option<String>,
    /// App Service / Container Apps identity endpoint; unset: the VM/AKS instance metadata service.
    pub identity_endpoint: Option<(String, SecretString)>,
}

pub(super) fn parse(p: &Parser<'_>) -> Result<AzureKvSettings, ConfigError> {
    let uri = p.optional("azure_key_vault_uri").ok_or_else(|| {
        ConfigError::new(
            "AZURE_KEY_VAULT_URI",
            "is required with ENCRYPTION_KEY_MODE=azure-kv",
        )
    })?;
    let vault_uri = url::Url::parse(uri.text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            ConfigError::new(
                &uri.origin,
                "must be the vault URL, e.g. https://my-vault.vault.azure.net",
            )
        })?;
    let name = |key: &str| -> Result<Option<String>, ConfigError> {
        match p.optional(key) {
            None => Ok(None),
            Some(v) => {
                let text = v.text.trim();
                let ok = (1..=127).contains(&text.len())
                    && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                if ok {
                    Ok(Some(text.to_string()))
                } else {
                    Err(ConfigError::new(
                        &v.origin,
                        "must be a Key Vault object name (letters, digits, -)",
                    ))
                }
            }
        }
    };
    let identity_endpoint = match (
        p.optional("identity_endpoint"),
        p.optional("identity_header"),
    ) {
        (Some(endpoint), Some(header)) => Some((
            endpoint.text.trim().to_string(),
            SecretString::from(header.text.trim()),
        )),
        (Some(_), None) => {
            return Err(ConfigError::new(
                "IDENTITY_HEADER",
                "is required with IDENTITY_ENDPOINT",
            ));
        }
        _ => None,
    };
    Ok(AzureKvSettings {
        vault_uri,
        kek_name: name("azure_kv_kek_name")?.unwrap_or_default(),
        kek_version: name("azure_kv_kek_version")?,
        wrapped_secret: name("azure_kv_wrapped_dek_secret")?.unwrap_or_default(),
        wrapped_secret_previous: name("azure_kv_wrapped_dek_secret_previous")?,
        client_id: p
            .optional("azure_managed_identity_client_id")
            .map(|v| v.text.trim().to_string()),
        identity_endpoint,
    })
}
