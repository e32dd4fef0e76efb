//! Settings of `ENCRYPTION_KEY_MODE=aws-kms`. The variable names are the ones AWS's own tools
//! read. Credentials come from the environment only (access key, secret, optional session
//! token); instance profiles and web identity are not read.

use secrecy::SecretString;

use super::{ConfigError, Parser};

#[derive(Debug)]
pub struct AwsKmsSettings {
    pub key_id: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
}

pub(super) fn parse(p: &Parser<'_>) -> Result<AwsKmsSettings, ConfigError> {
    let need = |key: &str, env: &str| {
        p.optional(key)
            .map(|v| v.text.trim().to_string())
            .ok_or_else(|| ConfigError::new(env, "is required with ENCRYPTION_KEY_MODE=aws-kms"))
    };
    let region = need("aws_region", "AWS_REGION")?;
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(ConfigError::new(
            "AWS_REGION",
            format!("`{region}` is not a region name, e.g. eu-west-1"),
        ));
    }
    let endpoint = match p.optional("aws_endpoint_url") {
        Some(v) => {
            let text = v.text.trim();
            url::Url::parse(text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| ConfigError::new(&v.origin, "must be an http(s) URL"))?;
            Some(text.to_string())
        }
        None => None,
    };
    Ok(AwsKmsSettings {
        key_id: need("aws_kms_key_id", "AWS_KMS_KEY_ID")?,
        region,
        endpoint,
        access_key_id: need("aws_access_key_id", "AWS_ACCESS_KEY_ID")?,
        secret_access_key: p
            .optional("aws_secret_access_key")
            .map(|v| SecretString::from(v.text.trim()))
            .ok_or_else(|| {
                ConfigError::new(
                    "AWS_SECRET_ACCESS_KEY",
                    "is required with ENCRYPTION_KEY_MODE=aws-kms",
                )
            })?,
        session_token: p
            .optional("aws_session_token")
            .map(|v| SecretString::from(v.text.trim())),
    })
}
