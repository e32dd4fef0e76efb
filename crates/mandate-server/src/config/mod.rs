//! Configuration: defaults, then an optional TOML file, then the environment.
//!
//! [`Config::load`] parses and validates every value; an error names the variable (or file key)
//! and what is wrong with it, never a secret's value. [`production::check`] adds the strict
//! checks of production mode; [`dev_key`] makes what development mode needs.

pub mod age;
pub mod aws_kms;
pub mod azure_kv;
pub mod dev_key;
pub mod production;
pub mod settings;
mod sources;
pub mod vault_transit;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use mandate_crypto::Key256;
use mandate_crypto::password::PasswordParams;
use mandate_crypto::signing::SigningAlg;
use secrecy::SecretString;
use url::Url;

pub use sources::{ConfigFile, EnvSource};

/// A configuration problem: which setting (and from where) and what is wrong. One line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: origin.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Where the key encryption key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    /// `ENCRYPTION_KEY`, 64 hex characters.
    Env,
    /// HashiCorp Vault or OpenBao Transit.
    VaultTransit,
    /// AWS KMS.
    AwsKms,
    /// The KEK sealed in an age file.
    Age,
    /// The KEK unwrapped by Azure Key Vault at start.
    AzureKv,
}

#[derive(Debug)]
pub struct Config {
    pub mode: RunMode,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub public_url: Option<Url>,
    /// Exact origin (`scheme://host[:port]`) allowed by CORS.
    pub dashboard_origin: Option<String>,
    pub database: DatabaseConfig,
    pub encryption: EncryptionConfig,
    pub jwt: JwtConfig,
    pub agent_token_ttl: Duration,
    pub bootstrap_secret_ttl: Duration,
    /// Provider entries over the embedded catalog.
    pub provider_catalog_file: Option<PathBuf>,
    pub ssrf_allow_private: bool,
    /// CIDR blocks and host names reachable although private (`SSRF_ALLOWLIST`).
    pub ssrf_allowlist: mandate_egress::Exceptions,
    /// Extra root certificates for outbound HTTPS (`EGRESS_CA_FILE`).
    pub egress_ca_file: Option<PathBuf>,
    /// The largest provider response the gateway returns.
    pub gateway_max_response_bytes: usize,
    /// Notification deliveries: the wait after each failed attempt; its length is the number
    /// of retries.
    pub notification_retry_delays: Vec<Duration>,
    pub max_request_body_bytes: usize,
    pub shutdown_grace: Duration,
    pub audit_checkpoint_interval: Duration,
    pub auth: AuthConfig,
    pub log_format: LogFormat,
    pub log_filter: String,
}

#[derive(Debug)]
pub struct DatabaseConfig {
    /// None: SQLite under the data directory.
    pub url: Option<SecretString>,
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

#[derive(Debug)]
pub struct EncryptionConfig {
    pub mode: KeyMode,
    /// None until development mode generates one (production requires it).
    pub key: Option<Key256>,
    /// The former key, while changing ENCRYPTION_KEY.
    pub previous_key: Option<Key256>,
    /// Set when the mode is `vault-transit`.
    pub vault_transit: Option<vault_transit::VaultTransitSettings>,
    /// Set when the mode is `aws-kms`.
    pub aws_kms: Option<aws_kms::AwsKmsSettings>,
    /// Set when the mode is `age`.
    pub age: Option<age::AgeSettings>,
    /// Set when the mode is `azure-kv`.
    pub azure_kv: Option<azure_kv::AzureKvSettings>,
}

/// People's accounts and sessions.
#[derive(Debug)]
pub struct AuthConfig {
    pub setup_token: Option<SecretString>,
    pub allow_public_registration: bool,
    pub session_idle_timeout: Duration,
    pub session_max_age: Duration,
    pub invite_ttl: Duration,
    pub password: PasswordParams,
    pub trust_forwarded_for: bool,
    /// The WebAuthn relying party id; None: PUBLIC_URL's host (see `auth::passkeys`).
    pub webauthn_rp_id: Option<String>,
}

#[derive(Debug)]
pub struct JwtConfig {
    pub private_key_pem: Option<SecretString>,
    pub kid: Option<String>,
    /// Algorithm of generated signing keys.
    pub algorithm: SigningAlg,
}

impl Config {
    /// Read and validate every setting. Does not touch the disk beyond reading the TOML file and
    /// `*_FILE` secrets.
    pub fn load(env: EnvSource<'_>, file: Option<&ConfigFile>) -> Result<Config, ConfigError> {
        let raw = sources::gather(env, file)?;
        let p = Parser { raw: &raw };
        let host: IpAddr = p.parse("host", "an IP address (e.g. 127.0.0.1, 0.0.0.0 or ::)")?;
        let port: u16 = p.parse("port", "a port number (0-65535)")?;
        let key_mode = p.choice(
            "encryption_key_mode",
            &[
                ("env", KeyMode::Env),
                ("vault-transit", KeyMode::VaultTransit),
                ("aws-kms", KeyMode::AwsKms),
                ("age", KeyMode::Age),
                ("azure-kv", KeyMode::AzureKv),
            ],
        )?;

        let config = Config {
            mode: p.choice(
                "env",
                &[
                    ("development", RunMode::Development),
                    ("production", RunMode::Production),
                ],
            )?,
            listen: SocketAddr::new(host, port),
            data_dir: PathBuf::from(p.text("data_dir")?),
            public_url: p.optional("public_url").map(parse_public_url).transpose()?,
            dashboard_origin: p
                .optional("dashboard_origin")
                .map(parse_origin)
                .transpose()?,
            database: DatabaseConfig {
                url: p
                    .optional("database_url")
                    .map(|v| SecretString::from(v.text.as_str())),
                max_connections: p.ranged("database_max_connections", 1, 1000)? as u32,
                connect_timeout: Duration::from_secs(p.ranged(
                    "database_connect_timeout_seconds",
                    1,
                    300,
                )?),
            },
            encryption: EncryptionConfig {
                mode: key_mode,

                key: p.optional("encryption_key").map(parse_key).transpose()?,
                previous_key: p
                    .optional("encryption_key_previous")
                    .map(parse_key)
                    .transpose()?,
                vault_transit: match key_mode {
                    KeyMode::VaultTransit => Some(vault_transit::parse(&p)?),
                    _ => None,
                },
                aws_kms: match key_mode {
                    KeyMode::AwsKms => Some(aws_kms::parse(&p)?),
                    _ => None,
                },
                age: match key_mode {
                    KeyMode::Age => Some(age::parse(&p)?),
                    _ => None,
                },
                azure_kv: match key_mode {
                    KeyMode::AzureKv => Some(azure_kv::parse(&p)?),
                    _ => None,
                },
            },

            jwt: JwtConfig {
                private_key_pem: p.optional("jwt_private_key").map(parse_pem).transpose()?,
                kid: p.optional("jwt_kid").map(parse_kid).transpose()?,
                algorithm: p.choice(
                    "jwt_algorithm",
                    &[
                        ("rs256", SigningAlg::Rs256),
                        ("es256", SigningAlg::Es256),
                        ("eddsa", SigningAlg::EdDsa),
                    ],
                )?,
            },
            agent_token_ttl: Duration::from_secs(p.ranged(
                "agent_token_ttl_seconds",
                60,
                86_400,
            )?),
            bootstrap_secret_ttl: Duration::from_secs(
                p.ranged("bootstrap_secret_ttl_hours", 1, 168)? * 3600,
            ),
            provider_catalog_file: p
                .optional("provider_catalog_file")
                .map(|v| PathBuf::from(v.text.trim())),
            ssrf_allow_private: p.boolean("ssrf_allow_private")?,
            ssrf_allowlist: match p.optional("ssrf_allowlist") {
                None => mandate_egress::Exceptions::default(),
                Some(v) => mandate_egress::Exceptions::parse(&v.text)
                    .map_err(|e| ConfigError::new(&v.origin, e))?,
            },
            egress_ca_file: p
                .optional("egress_ca_file")
                .map(|v| PathBuf::from(v.text.trim())),
            gateway_max_response_bytes: p.ranged("gateway_max_response_bytes", 1024, 1 << 32)?
                as usize,
            notification_retry_delays: parse_retry_delays(
                p.required("notification_retry_seconds")?,
            )?,
            max_request_body_bytes: p.ranged("max_request_body_bytes", 1024, 1 << 30)? as usize,
            shutdown_grace: Duration::from_secs(p.ranged("shutdown_grace_seconds", 0, 3600)?),
            audit_checkpoint_interval: Duration::from_secs(p.ranged(
                "audit_checkpoint_interval_seconds",
                10,
                86_400,
            )?),
            auth: AuthConfig {
                setup_token: p
                    .optional("setup_token")
                    .map(parse_setup_token)
                    .transpose()?,
                allow_public_registration: p.boolean("allow_public_registration")?,
                session_idle_timeout: Duration::from_secs(
                    p.ranged("session_idle_timeout_minutes", 1, 1440)? * 60,
                ),
                session_max_age: Duration::from_secs(
                    p.ranged("session_max_age_hours", 1, 720)? * 3600,
                ),
                invite_ttl: Duration::from_secs(p.ranged("invite_ttl_hours", 1, 720)? * 3600),
                password: PasswordParams {
                    memory_kib: p.ranged("password_hash_memory_kib", 1024, 1_048_576)? as u32,
                    iterations: p.ranged("password_hash_iterations", 1, 16)? as u32,
                    parallelism: p.ranged("password_hash_parallelism", 1, 16)? as u32,
                },
                trust_forwarded_for: p.boolean("trust_forwarded_for")?,
                webauthn_rp_id: p.optional("webauthn_rp_id").map(parse_rp_id).transpose()?,
            },
            log_format: p.choice(
                "log_format",
                &[("human", LogFormat::Human), ("json", LogFormat::Json)],
            )?,
            log_filter: p.text("log_filter")?,
        };
        Ok(config)
    }

    /// How to reach the database, as configured.
    pub fn database_options(&self) -> mandate_store::DbOptions {
        use secrecy::ExposeSecret;
        let mut options = mandate_store::DbOptions::new(
            self.database
                .url
                .as_ref()
                .map(|url| url.expose_secret().to_string()),
            &self.data_dir,
        );
        options.max_connections = self.database.max_connections;
        options.connect_timeout = self.database.connect_timeout;
        options
    }

    /// Where HSTS and `Secure` cookies apply: the public URL is https.
    pub fn served_over_tls(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }
}

/// Typed access to raw values; every error names the value's origin.
struct Parser<'a> {
    raw: &'a sources::RawSettings,
}

impl Parser<'_> {
    fn optional(&self, key: &str) -> Option<&sources::RawValue> {
        self.raw.get(key)
    }

    fn required(&self, key: &str) -> Result<&sources::RawValue, ConfigError> {
        let env = settings::find(key).map_or(key, |s| s.env);
        self.raw
            .get(key)
            .ok_or_else(|| ConfigError::new(env, "is required"))
    }

    fn text(&self, key: &str) -> Result<String, ConfigError> {
        Ok(self.required(key)?.text.trim().to_string())
    }

    fn parse<T: std::str::FromStr>(&self, key: &str, expected: &str) -> Result<T, ConfigError> {
        let v = self.required(key)?;
        v.text.trim().parse().map_err(|_| {
            ConfigError::new(
                &v.origin,
                format!("`{}` is not {expected}", v.text.as_str()),
            )
        })
    }

    fn ranged(&self, key: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
        let expected = format!("a whole number from {min} to {max}");
        let n: u64 = self.parse(key, &expected)?;
        if !(min..=max).contains(&n) {
            let v = self.required(key)?;
            return Err(ConfigError::new(
                &v.origin,
                format!("`{n}` is not {expected}"),
            ));
        }
        Ok(n)
    }

    fn boolean(&self, key: &str) -> Result<bool, ConfigError> {
        self.choice(
            key,
            &[
                ("true", true),
                ("1", true),
                ("yes", true),
                ("false", false),
                ("0", false),
                ("no", false),
            ],
        )
    }

    fn choice<T: Copy>(&self, key: &str, options: &[(&str, T)]) -> Result<T, ConfigError> {
        let v = self.required(key)?;
        let given = v.text.trim().to_ascii_lowercase();
        options
            .iter()
            .find(|(name, _)| *name == given)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                ConfigError::new(
                    &v.origin,
                    format!("`{}` is not one of: {}", v.text.as_str(), names.join(", ")),
                )
            })
    }
}

/// A host name (lower-cased): no scheme, port, path or IP address.
/// `5,300,1800`: seconds to wait after each failed delivery attempt (1 to 20 entries, each
/// 1 second to 1 day).
fn parse_retry_delays(v: &sources::RawValue) -> Result<Vec<Duration>, ConfigError> {
    let bad = |why: &str| ConfigError::new(&v.origin, format!("NOTIFICATION_RETRY_SECONDS: {why}"));
    let delays = v
        .text
        .split(',')
        .map(|part| match part.trim().parse::<u64>() {
            Ok(n) if (1..=86_400).contains(&n) => Ok(Duration::from_secs(n)),
            _ => Err(bad("each entry is a number of seconds from 1 to 86400")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if delays.is_empty() || delays.len() > 20 {
        return Err(bad("1 to 20 entries"));
    }
    Ok(delays)
}

fn parse_rp_id(v: &sources::RawValue) -> Result<String, ConfigError> {
    let text = v.text.trim().to_ascii_lowercase();
    let is_name = !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && text.parse::<std::net::IpAddr>().is_err()
        && !text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !is_name {
        return Err(ConfigError::new(
            &v.origin,
            format!(
                "`{}` is not a host name (write the domain alone, e.g. example.com)",
                v.text.as_str()
            ),
        ));
    }
    Ok(text)
}

fn parse_public_url(v: &sources::RawValue) -> Result<Url, ConfigError> {
    let url = Url::parse(v.text.trim()).map_err(|e| {
        ConfigError::new(
            &v.origin,
            format!("`{}` is not a URL: {e}", v.text.as_str()),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(
            &v.origin,
            "must be an http:// or https:// URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ConfigError::new(
            &v.origin,
            "must not carry credentials, a query or a fragment",
        ));
    }
    Ok(url)
}

/// An origin is scheme, host and port only: `https://dash.example.com` (no path, no slash).
fn parse_origin(v: &sources::RawValue) -> Result<String, ConfigError> {
    let text = v.text.trim();
    let url = Url::parse(text)
        .map_err(|e| ConfigError::new(&v.origin, format!("`{text}` is not an origin: {e}")))?;
    let origin = url.origin();
    if !origin.is_tuple() || !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            &v.origin,
            format!("`{text}` is not an http(s) origin"),
        ));
    }
    let serialized = origin.ascii_serialization();
    if text.trim_end_matches('/') != serialized {
        return Err(ConfigError::new(
            &v.origin,
            format!("must be an origin only (scheme://host[:port]), e.g. `{serialized}`"),
        ));
    }
    Ok(serialized)
}

fn parse_key(v: &sources::RawValue) -> Result<Key256, ConfigError> {
    Key256::from_hex(&v.text).map_err(|e| ConfigError::new(&v.origin, e.to_string()))
}

/// Checked only for shape here; the vault parses the key.
fn parse_pem(v: &sources::RawValue) -> Result<SecretString, ConfigError> {
    let text = v.text.trim();
    if !text.starts_with("-----BEGIN ") || !text.contains("PRIVATE KEY-----") {
        return Err(ConfigError::new(
            &v.origin,
            "is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)",
        ));
    }
    // The smallest real key (Ed25519 in PKCS#8) is about 119 characters of PEM; RSA is ~1700.
    if text.len() < 110 {
        return Err(ConfigError::new(
            &v.origin,
            "is too short to be a real private key",
        ));
    }
    Ok(SecretString::from(text))
}

/// Long enough that guessing it is hopeless; never echoed.
fn parse_setup_token(v: &sources::RawValue) -> Result<SecretString, ConfigError> {
    let token = v.text.trim();
    if token.chars().count() < 32 {
        return Err(ConfigError::new(
            &v.origin,
            "must be at least 32 characters (e.g. openssl rand -hex 32)",
        ));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(ConfigError::new(&v.origin, "must not contain whitespace"));
    }
    Ok(SecretString::from(token))
}

fn parse_kid(v: &sources::RawValue) -> Result<String, ConfigError> {
    let kid = v.text.trim();
    let ok = (1..=64).contains(&kid.len())
        && kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(ConfigError::new(
            &v.origin,
            "must be 1-64 characters of A-Z, a-z, 0-9, -, _ or .",
        ));
    }
    Ok(kid.to_string())
}

#[cfg(test)]
mod tests;
