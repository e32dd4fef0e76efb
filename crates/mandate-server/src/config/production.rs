//! The strict checks of `MANDATE_ENV=production`: no missing, default or weak secret, and a
//! public https URL. Every problem is reported in one line, each naming its variable.

use secrecy::ExposeSecret;

use super::{Config, ConfigError, KeyMode, RunMode};

/// Database passwords that ship in examples, images and tutorials.
const DEFAULT_PASSWORDS: &[&str] = &[
    "postgres",
    "password",
    "changeme",
    "change-me",
    "mandate",
    "secret",
    "admin",
    "root",
    "example",
];
const MIN_DATABASE_PASSWORD: usize = 12;

/// In production, refuse to start on any problem below. Development accepts everything.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    if config.mode != RunMode::Production {
        return Ok(());
    }
    let problems = problems(config);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ConfigError::new(
        "production mode (MANDATE_ENV=production)",
        problems.join("; "),
    ))
}

fn problems(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    match config.encryption.mode {
        KeyMode::Env => match &config.encryption.key {
            None => out.push(
                "ENCRYPTION_KEY is missing: set 64 hex characters from `openssl rand -hex 32` \
                 (or ENCRYPTION_KEY_FILE)"
                    .to_string(),
            ),
            Some(key) if key.is_weak() => out.push(
                "ENCRYPTION_KEY is a placeholder value (repeated or counting bytes): generate one \
                 with `openssl rand -hex 32`"
                    .to_string(),
            ),
            Some(_) => {}
        },
        KeyMode::AzureKv => {
            if let Some(azure) = &config.encryption.azure_kv
                && azure.vault_uri.scheme() != "https"
                && !is_loopback(&azure.vault_uri)
            {
                out.push("AZURE_KEY_VAULT_URI must be https://".to_string());
            }
        }
        KeyMode::Age => {
            if let Some(age) = &config.encryption.age
                && let Some(problem) = readable_by_others(&age.identity_file)
            {
                out.push(format!("AGE_IDENTITY_FILE {problem}"));
            }
        }
        KeyMode::AwsKms => {
            if let Some(endpoint) = config
                .encryption
                .aws_kms
                .as_ref()
                .and_then(|a| a.endpoint.as_ref())
                && let Ok(url) = url::Url::parse(endpoint)
                && url.scheme() != "https"
                && !is_loopback(&url)
            {
                out.push(
                    "AWS_ENDPOINT_URL must be https:// (plain http is allowed only on loopback)"
                        .to_string(),
                );
            }
        }
        KeyMode::VaultTransit => {
            if let Some(transit) = &config.encryption.vault_transit
                && transit.addr.scheme() != "https"
                && !is_loopback(&transit.addr)
            {
                out.push(
                    "VAULT_ADDR must be https:// (plain http is allowed only on loopback)"
                        .to_string(),
                );
            }
        }
    }

    if config
        .encryption
        .previous_key
        .as_ref()
        .is_some_and(|k| k.is_weak())
    {
        out.push("ENCRYPTION_KEY_PREVIOUS is a placeholder value".to_string());
    }
    match &config.public_url {
        None => out.push("PUBLIC_URL is missing: set the https:// URL clients use".to_string()),
        Some(url) if url.scheme() != "https" && !is_loopback(url) => out.push(format!(
            "PUBLIC_URL must be https:// (got {}://); plain http is allowed only on loopback",
            url.scheme()
        )),
        Some(_) => {}
    }
    let password = &config.auth.password;
    if password.memory_kib < 19_456 || password.iterations < 2 {
        out.push(format!(
            "PASSWORD_HASH_MEMORY_KIB={} / PASSWORD_HASH_ITERATIONS={} are below the minimum \
             (19456 KiB, 2 iterations) for password hashes",
            password.memory_kib, password.iterations
        ));
    }
    if let Some(problem) = config
        .database
        .url
        .as_ref()
        .and_then(|url| database_password_problem(url.expose_secret()))
    {
        out.push(problem);
    }
    out
}

/// A secret file must not be readable by group or others.
fn readable_by_others(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "({}) is readable by other users (mode {:o}); run `chmod 600` on it",
            path.display(),
            mode & 0o777
        )
    })
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A password in the URL must not be a well-known default or short. Passwordless URLs (peer,
/// certificate or IAM authentication) are fine.
fn database_password_problem(database_url: &str) -> Option<String> {
    let url = url::Url::parse(database_url).ok()?;
    let password = url.password()?;
    let decoded: String = percent_decode(password);
    if DEFAULT_PASSWORDS
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&decoded))
    {
        return Some("DATABASE_URL carries a well-known default password".to_string());
    }
    if decoded.chars().count() < MIN_DATABASE_PASSWORD {
        return Some(format!(
            "DATABASE_URL carries a password shorter than {MIN_DATABASE_PASSWORD} characters"
        ));
    }
    None
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_short_database_passwords_are_refused() {
        assert!(database_password_problem("postgres://u:postgres@h/db").is_some());
        assert!(database_password_problem("postgres://u:Change%2DMe@h/db").is_some());
        assert!(database_password_problem("postgres://u:short@h/db").is_some());
        assert!(database_password_problem("postgres://u:long-enough-password-42@h/db").is_none());
        assert!(database_password_problem("postgres://u@h/db").is_none());
        let problem = database_password_problem("postgres://u:hunter2@h/db").unwrap();
        assert!(!problem.contains("hunter2"));
    }
}
