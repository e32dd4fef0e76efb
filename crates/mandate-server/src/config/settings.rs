//! Every setting Mandate reads: its environment variable, its key in the TOML file, its default
//! and what it means. `mandate --help` and docs/configuration.md are both checked against this
//! table, so there is one place to add a setting.

/// One configurable value.
#[derive(Debug)]
pub struct Setting {
    /// Key in the TOML file.
    pub key: &'static str,
    /// Environment variable (overrides the file).
    pub env: &'static str,
    /// Used when neither the file nor the environment sets it.
    pub default: Option<&'static str>,
    /// A secret: never echoed in errors or logs; may also be read from a file with `<ENV>_FILE`
    /// (or `<key>_file` in the TOML file).
    pub secret: bool,
    pub help: &'static str,
}

const fn setting(
    key: &'static str,
    env: &'static str,
    default: Option<&'static str>,
    help: &'static str,
) -> Setting {
    Setting {
        key,
        env,
        default,
        secret: false,
        help,
    }
}

const fn secret(key: &'static str, env: &'static str, help: &'static str) -> Setting {
    Setting {
        key,
        env,
        default: None,
        secret: true,
        help,
    }
}

/// The environment variable that names the TOML file (`--config` does the same).
pub const CONFIG_FILE_ENV: &str = "MANDATE_CONFIG";

pub const SETTINGS: &[Setting] = &[
    setting(
        "env",
        "MANDATE_ENV",
        Some("development"),
        "`development` or `production`. Production refuses to start with a missing, default or weak secret; development generates what it needs and says so.",
    ),
    setting(
        "host",
        "MANDATE_HOST",
        Some("127.0.0.1"),
        "IP address to listen on (0.0.0.0 or :: for every interface).",
    ),
    setting(
        "port",
        "MANDATE_PORT",
        Some("8080"),
        "TCP port to listen on (0 picks a free port; the bound address is logged).",
    ),
    setting(
        "data_dir",
        "MANDATE_DATA_DIR",
        Some("./mandate-data"),
        "Directory for the embedded SQLite database and development keys (created 0700).",
    ),
    setting(
        "public_url",
        "PUBLIC_URL",
        None,
        "Base URL clients use to reach Mandate, e.g. https://mandate.example.com. An https URL turns on HSTS. Required in production.",
    ),
    setting(
        "dashboard_origin",
        "DASHBOARD_ORIGIN",
        None,
        "The one browser origin allowed cross-origin (CORS), e.g. https://dashboard.example.com. Unset: no cross-origin access.",
    ),
    secret(
        "database_url",
        "DATABASE_URL",
        "sqlite://path/to/file.db or postgres://user:password@host:5432/db. Unset: SQLite at <data_dir>/mandate.db.",
    ),
    setting(
        "database_max_connections",
        "DATABASE_MAX_CONNECTIONS",
        Some("10"),
        "Size of the database connection pool (1-1000).",
    ),
    setting(
        "database_connect_timeout_seconds",
        "DATABASE_CONNECT_TIMEOUT_SECONDS",
        Some("10"),
        "How long to keep trying to reach the database at start, and to wait for a pooled connection (1-300).",
    ),
    setting(
        "encryption_key_mode",
        "ENCRYPTION_KEY_MODE",
        Some("env"),
        "Where the key encryption key comes from. `env`: ENCRYPTION_KEY. `vault-transit`: HashiCorp Vault or OpenBao Transit (VAULT_*). `aws-kms`: AWS KMS (AWS_*). `age`: the KEK in an age file (AGE_*). `azure-kv`: the KEK unwrapped by Azure Key Vault (AZURE_*).",
    ),
    secret(
        "encryption_key",
        "ENCRYPTION_KEY",
        "Key encryption key, 64 hex characters (openssl rand -hex 32). Development without it: generated into <data_dir>/dev-encryption-key.",
    ),
    secret(
        "encryption_key_previous",
        "ENCRYPTION_KEY_PREVIOUS",
        "The former ENCRYPTION_KEY while changing it: data keys it wrapped still open and are re-wrapped under the new key in the background.",
    ),
    setting(
        "vault_addr",
        "VAULT_ADDR",
        None,
        "vault-transit: address of HashiCorp Vault or OpenBao, e.g. https://bao.internal:8200.",
    ),
    secret(
        "vault_token",
        "VAULT_TOKEN",
        "vault-transit: token allowed to encrypt/decrypt with the transit key and read it (or use AppRole).",
    ),
    setting(
        "vault_role_id",
        "VAULT_ROLE_ID",
        None,
        "vault-transit: AppRole role id (with VAULT_SECRET_ID), instead of VAULT_TOKEN.",
    ),
    secret(
        "vault_secret_id",
        "VAULT_SECRET_ID",
        "vault-transit: AppRole secret id.",
    ),
    setting(
        "vault_transit_mount",
        "VAULT_TRANSIT_MOUNT",
        Some("transit"),
        "vault-transit: where the Transit engine is mounted.",
    ),
    setting(
        "vault_transit_key",
        "VAULT_TRANSIT_KEY",
        Some("mandate"),
        "vault-transit: name of the Transit key (type aes256-gcm96, not derived).",
    ),
    setting(
        "vault_namespace",
        "VAULT_NAMESPACE",
        None,
        "vault-transit: namespace (Vault Enterprise / OpenBao namespaces).",
    ),
    setting(
        "vault_cacert",
        "VAULT_CACERT",
        None,
        "vault-transit: PEM file of the CA that signed the server's certificate, when it is private.",
    ),
    setting(
        "aws_kms_key_id",
        "AWS_KMS_KEY_ID",
        None,
        "aws-kms: the KMS key: key id, key ARN, or alias (alias/mandate). Symmetric, ENCRYPT_DECRYPT.",
    ),
    setting(
        "aws_region",
        "AWS_REGION",
        None,
        "aws-kms: region of the key, e.g. eu-west-1.",
    ),
    setting(
        "aws_access_key_id",
        "AWS_ACCESS_KEY_ID",
        None,
        "aws-kms: access key id of a principal allowed kms:DescribeKey, GenerateDataKey, Encrypt and Decrypt on the key.",
    ),
    secret(
        "aws_secret_access_key",
        "AWS_SECRET_ACCESS_KEY",
        "aws-kms: its secret access key.",
    ),
    secret(
        "aws_session_token",
        "AWS_SESSION_TOKEN",
        "aws-kms: session token, for temporary credentials.",
    ),
    setting(
        "aws_endpoint_url",
        "AWS_ENDPOINT_URL",
        None,
        "aws-kms: KMS endpoint instead of https://kms.<region>.amazonaws.com (VPC endpoint, FIPS endpoint).",
    ),
    setting(
        "age_kek_file",
        "AGE_KEK_FILE",
        None,
        "age: age file holding the KEK (64 hex characters, e.g. `openssl rand -hex 32 | age -r age1... > kek.age`).",
    ),
    setting(
        "age_identity_file",
        "AGE_IDENTITY_FILE",
        None,
        "age: identity file (from age-keygen) that opens AGE_KEK_FILE; keep it mode 0600.",
    ),
    setting(
        "age_kek_file_previous",
        "AGE_KEK_FILE_PREVIOUS",
        None,
        "age: the former KEK file while changing the KEK; its data keys are re-wrapped in the background.",
    ),
    setting(
        "azure_key_vault_uri",
        "AZURE_KEY_VAULT_URI",
        None,
        "azure-kv: the vault, e.g. https://my-vault.vault.azure.net.",
    ),
    setting(
        "azure_kv_kek_name",
        "AZURE_KV_KEK_NAME",
        Some("data-encryption-kek"),
        "azure-kv: the Key Vault key that unwraps the KEK (RSA, unwrapKey permission).",
    ),
    setting(
        "azure_kv_kek_version",
        "AZURE_KV_KEK_VERSION",
        None,
        "azure-kv: pin the key version that wrapped the secret (default: the key's current version).",
    ),
    setting(
        "azure_kv_wrapped_dek_secret",
        "AZURE_KV_WRAPPED_DEK_SECRET",
        Some("WRAPPED-DATA-KEY"),
        "azure-kv: the secret holding the wrapped KEK (base64url of the RSA-OAEP-256 ciphertext).",
    ),
    setting(
        "azure_kv_wrapped_dek_secret_previous",
        "AZURE_KV_WRAPPED_DEK_SECRET_PREVIOUS",
        None,
        "azure-kv: the former secret while changing the KEK; its data keys are re-wrapped in the background.",
    ),
    setting(
        "azure_managed_identity_client_id",
        "AZURE_MANAGED_IDENTITY_CLIENT_ID",
        None,
        "azure-kv: client id of a user-assigned managed identity (default: the system-assigned one).",
    ),
    setting(
        "identity_endpoint",
        "IDENTITY_ENDPOINT",
        None,
        "azure-kv: managed identity endpoint set by App Service / Container Apps (unset: the VM/AKS metadata service).",
    ),
    secret(
        "identity_header",
        "IDENTITY_HEADER",
        "azure-kv: the header App Service sets with IDENTITY_ENDPOINT.",
    ),
    secret(
        "jwt_private_key",
        "JWT_PRIVATE_KEY",
        "PEM private key (PKCS#8, or PKCS#1 RSA / SEC1 EC) that signs the JWTs Mandate issues. Unset: production generates one and stores it encrypted; development uses a throwaway key.",
    ),
    setting(
        "jwt_kid",
        "JWT_KID",
        None,
        "Key id published with JWT_PRIVATE_KEY in the JWKS (default: its RFC 7638 thumbprint).",
    ),
    setting(
        "jwt_algorithm",
        "JWT_ALGORITHM",
        Some("RS256"),
        "Algorithm of the signing keys Mandate generates: RS256, ES256 or EdDSA.",
    ),
    setting(
        "agent_token_ttl_seconds",
        "AGENT_TOKEN_TTL_SECONDS",
        Some("7200"),
        "Lifetime of agent access tokens, in seconds (60-86400).",
    ),
    setting(
        "bootstrap_secret_ttl_hours",
        "BOOTSTRAP_SECRET_TTL_HOURS",
        Some("1"),
        "Lifetime of agent bootstrap secrets, in hours (1-168).",
    ),
    setting(
        "provider_catalog_file",
        "PROVIDER_CATALOG_FILE",
        None,
        "TOML file of provider entries over the embedded catalog (same shape; an existing id is replaced, a new one added). Checked at start.",
    ),
    secret(
        "setup_token",
        "SETUP_TOKEN",
        "First-run setup token (at least 32 characters) that creating the first owner requires. Unset: each start without an owner prints a generated one-time token.",
    ),
    setting(
        "allow_public_registration",
        "ALLOW_PUBLIC_REGISTRATION",
        Some("false"),
        "Let anyone create an account (with a workspace of their own) at POST /api/auth/register (true/false). Off: people join by invitation only.",
    ),
    setting(
        "session_idle_timeout_minutes",
        "SESSION_IDLE_TIMEOUT_MINUTES",
        Some("30"),
        "A browser session unused for this long ends (1-1440).",
    ),
    setting(
        "session_max_age_hours",
        "SESSION_MAX_AGE_HOURS",
        Some("12"),
        "A browser session ends this long after sign-in, used or not (1-720).",
    ),
    setting(
        "invite_ttl_hours",
        "INVITE_TTL_HOURS",
        Some("72"),
        "How long an invitation link stays valid (1-720).",
    ),
    setting(
        "password_hash_memory_kib",
        "PASSWORD_HASH_MEMORY_KIB",
        Some("19456"),
        "Argon2id memory cost in KiB (1024-1048576; production requires at least 19456). Stored hashes made with other parameters are rehashed at the next sign-in.",
    ),
    setting(
        "password_hash_iterations",
        "PASSWORD_HASH_ITERATIONS",
        Some("2"),
        "Argon2id time cost (1-16; production requires at least 2).",
    ),
    setting(
        "password_hash_parallelism",
        "PASSWORD_HASH_PARALLELISM",
        Some("1"),
        "Argon2id lanes (1-16).",
    ),
    setting(
        "trust_forwarded_for",
        "TRUST_FORWARDED_FOR",
        Some("false"),
        "Take the client address from the last X-Forwarded-For entry (true/false), for per-IP rate limits behind a reverse proxy that sets it. Only behind such a proxy: otherwise clients choose their own address.",
    ),
    setting(
        "webauthn_rp_id",
        "WEBAUTHN_RP_ID",
        None,
        "The WebAuthn relying party id passkeys are bound to: PUBLIC_URL's host name or a parent domain of it (e.g. example.com for https://mandate.example.com). Unset: PUBLIC_URL's host; without PUBLIC_URL (development) localhost.",
    ),
    setting(
        "ssrf_allow_private",
        "SSRF_ALLOW_PRIVATE",
        Some("false"),
        "Allow outbound requests to private and loopback addresses (true/false). Only for local testing.",
    ),
    setting(
        "ssrf_allowlist",
        "SSRF_ALLOWLIST",
        None,
        "CIDR blocks (10.20.0.0/16, fd00:1::/64, 127.0.0.1/32) and host names (intranet.example.com) that outbound requests may reach although they are private, comma-separated. Exactly what is named: no wildcards, nothing by default.",
    ),
    setting(
        "egress_ca_file",
        "EGRESS_CA_FILE",
        None,
        "PEM file of root certificates trusted for outbound HTTPS on top of the system's (an internal CA in front of a provider or a self-hosted one).",
    ),
    setting(
        "gateway_max_response_bytes",
        "GATEWAY_MAX_RESPONSE_BYTES",
        Some("10485760"),
        "Largest provider response the gateway returns (1024 to 4294967296 bytes); a policy's maxResponseSizeBytes can lower it. A larger answer is refused with 413, never cut.",
    ),
    setting(
        "notification_retry_seconds",
        "NOTIFICATION_RETRY_SECONDS",
        Some("5,300,1800,7200,18000,36000"),
        "Seconds to wait after each failed notification delivery before the next attempt, comma-separated; after the last the delivery is recorded as failed (1-20 entries of 1-86400).",
    ),
    setting(
        "max_request_body_bytes",
        "MAX_REQUEST_BODY_BYTES",
        Some("1048576"),
        "Largest request body accepted; larger ones get 413 before any handler runs.",
    ),
    setting(
        "shutdown_grace_seconds",
        "SHUTDOWN_GRACE_SECONDS",
        Some("30"),
        "On SIGTERM/SIGINT, how long in-flight requests may take to finish (0-3600).",
    ),
    setting(
        "audit_checkpoint_interval_seconds",
        "AUDIT_CHECKPOINT_INTERVAL_SECONDS",
        Some("300"),
        "How often a replica signs a checkpoint over the audit chain when records were added (10-86400). Records after the newest checkpoint are protected by the chain alone.",
    ),
    setting(
        "log_format",
        "LOG_FORMAT",
        Some("human"),
        "`human` or `json` (one JSON object per line).",
    ),
    setting(
        "log_filter",
        "RUST_LOG",
        Some("info"),
        "Log filter, e.g. `info` or `info,mandate_store=debug`.",
    ),
];

pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The help text listing every environment variable, for `mandate --help`.
pub fn environment_help() -> String {
    let mut out =
        String::from("Environment (overrides the TOML file, which overrides the defaults):\n");
    out.push_str(&format!(
        "  {CONFIG_FILE_ENV}\n      Path of an optional TOML configuration file (same as --config). Its keys are the\n      lower-case names below, e.g. `port = 8080`.\n"
    ));
    for s in SETTINGS {
        out.push_str(&format!("  {}", s.env));
        if s.secret {
            out.push_str(&format!(" | {}_FILE", s.env));
        }
        out.push_str(&format!("  [file key: {}]", s.key));
        if let Some(default) = s.default {
            out.push_str(&format!("  (default: {default})"));
        }
        out.push_str(&format!("\n      {}\n", s.help));
    }
    out.push_str("\nSecrets (marked `| NAME_FILE`) can be read from a file instead, for Docker/Kubernetes secrets.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_variables_are_unique_and_documented_in_help() {
        let help = environment_help();
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[i + 1..]
                    .iter()
                    .all(|o| o.key != s.key && o.env != s.env),
                "{s:?}"
            );
            assert!(help.contains(s.env), "{} missing from help", s.env);
            assert!(
                !s.secret || s.default.is_none(),
                "a secret has no default: {}",
                s.env
            );
        }
    }

    /// docs/configuration.md is what operators read; it must list every variable.
    #[test]
    fn configuration_doc_lists_every_variable() {
        let doc = include_str!("../../../../docs/configuration.md");
        assert!(doc.contains(CONFIG_FILE_ENV));
        for s in SETTINGS {
            assert!(
                doc.contains(s.env),
                "docs/configuration.md does not mention {}",
                s.env
            );
        }
    }
}
