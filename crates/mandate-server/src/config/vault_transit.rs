//! Settings of `ENCRYPTION_KEY_MODE=vault-transit` (HashiCorp Vault or OpenBao Transit). The
//! variable names are the ones Vault's own tools read.

use std::path::PathBuf;

use secrecy::SecretString;
use url::Url;

use super::{ConfigError, Parser};

#[derive(Debug)]
pub struct VaultTransitSettings {
    pub addr: Url,
    pub mount: String,
    pub key: String,
    pub auth: VaultAuth,
    pub namespace: Option<String>,
    /// PEM file of a private CA for the server's certificate.
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug)]
pub enum VaultAuth {
    Token(SecretString),
    AppRole {
        role_id: String,
        secret_id: SecretString,
    },
}

pub(super) fn parse(p: &Parser<'_>) -> Result<VaultTransitSettings, ConfigError> {
    let addr_value = p.optional("vault_addr").ok_or_else(|| {
        ConfigError::new(
            "VAULT_ADDR",
            "is required with ENCRYPTION_KEY_MODE=vault-transit",
        )
    })?;
    let addr = Url::parse(addr_value.text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            ConfigError::new(
                &addr_value.origin,
                "must be an http(s) URL, e.g. https://bao.internal:8200",
            )
        })?;
    let token = p.optional("vault_token");
    let role_id = p.optional("vault_role_id");
    let secret_id = p.optional("vault_secret_id");
    let auth = match (token, role_id, secret_id) {
        (Some(token), None, None) => VaultAuth::Token(SecretString::from(token.text.trim())),
        (None, Some(role), Some(secret)) => VaultAuth::AppRole {
            role_id: role.text.trim().to_string(),
            secret_id: SecretString::from(secret.text.trim()),
        },
        (Some(_), _, _) => {
            return Err(ConfigError::new(
                "VAULT_TOKEN",
                "set either VAULT_TOKEN or VAULT_ROLE_ID with VAULT_SECRET_ID, not both",
            ));
        }
        (None, Some(_), None) => {
            return Err(ConfigError::new(
                "VAULT_SECRET_ID",
                "is required with VAULT_ROLE_ID (AppRole)",
            ));
        }
        (None, None, Some(_)) => {
            return Err(ConfigError::new(
                "VAULT_ROLE_ID",
                "is required with VAULT_SECRET_ID (AppRole)",
            ));
        }
        (None, None, None) => {
            return Err(ConfigError::new(
                "VAULT_TOKEN",
                "is missing: vault-transit needs VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID (AppRole)",
            ));
        }
    };
    let name = |key: &str| -> Result<String, ConfigError> {
        let v = p.required(key)?;
        let text = v.text.trim().trim_matches('/');
        let ok = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'));
        if !ok || text.contains("..") {
            return Err(ConfigError::new(
                &v.origin,
                "must be a plain Vault path segment (A-Z, a-z, 0-9, -, _, /)",
            ));
        }
        Ok(text.to_string())
    };
    Ok(VaultTransitSettings {
        addr,
        mount: name("vault_transit_mount")?,
        key: name("vault_transit_key")?,
        auth,
        namespace: p
            .optional("vault_namespace")
            .map(|v| v.text.trim().to_string()),
        ca_cert: p
            .optional("vault_cacert")
            .map(|v| PathBuf::from(v.text.trim())),
    })
}
