use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;

use secrecy::ExposeSecret;

use super::dev_key::{self, DevKey};
use super::*;

const KEY: &str = "3f1a9c0e5b7d2f4e6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a2c4e6b8d0f";

fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    load_with_file(vars, None)
}

fn load_with_file(vars: &[(&str, &str)], file: Option<&ConfigFile>) -> Result<Config, ConfigError> {
    let map: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    Config::load(&|name| map.get(name).cloned(), file)
}

fn toml_file(dir: &mandate_testkit::TempDir, text: &str) -> ConfigFile {
    let path = dir.path().join("mandate.toml");
    std::fs::write(&path, text).unwrap();
    ConfigFile {
        path,
        named_by: "--config",
    }
}

#[test]
fn defaults_need_nothing() {
    let c = load(&[]).unwrap();
    assert_eq!(c.mode, RunMode::Development);
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./mandate-data"));
    assert!(c.database.url.is_none());
    assert_eq!(c.agent_token_ttl, Duration::from_secs(7200));
    assert_eq!(c.bootstrap_secret_ttl, Duration::from_secs(3600));
    assert!(!c.ssrf_allow_private);
    assert_eq!(c.log_format, LogFormat::Human);
    assert!(!c.served_over_tls());
}

#[test]
fn environment_overrides_file_overrides_defaults() {
    let dir = mandate_testkit::TempDir::new("cfg");
    let file = toml_file(
        &dir,
        "port = 9000\nhost = \"0.0.0.0\"\nlog_format = \"json\"\nssrf_allow_private = true\n",
    );
    let c = load_with_file(&[("MANDATE_PORT", "9100")], Some(&file)).unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:9100");
    assert_eq!(c.log_format, LogFormat::Json);
    assert!(c.ssrf_allow_private);
}

#[test]
fn bad_values_name_their_variable_or_file_key() {
    let e = load(&[("MANDATE_PORT", "80a")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "MANDATE_PORT: `80a` is not a port number (0-65535)"
    );
    let e = load(&[("MANDATE_PORT", "70000")]).unwrap_err();
    assert!(e.to_string().starts_with("MANDATE_PORT:"), "{e}");
    let e = load(&[("MANDATE_HOST", "example.com")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("MANDATE_HOST: `example.com` is not an IP address"),
        "{e}"
    );
    let e = load(&[("MANDATE_ENV", "prod")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "MANDATE_ENV: `prod` is not one of: development, production"
    );
    let e = load(&[("AGENT_TOKEN_TTL_SECONDS", "10")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "AGENT_TOKEN_TTL_SECONDS: `10` is not a whole number from 60 to 86400"
    );
    let e = load(&[("SSRF_ALLOW_PRIVATE", "maybe")]).unwrap_err();
    assert!(e.to_string().starts_with("SSRF_ALLOW_PRIVATE:"), "{e}");
    let e = load(&[("ENCRYPTION_KEY_MODE", "rot13")]).unwrap_err();
    assert!(
        e.to_string().starts_with("ENCRYPTION_KEY_MODE: `rot13`"),
        "{e}"
    );

    let dir = mandate_testkit::TempDir::new("cfg");
    let file = toml_file(&dir, "port = \"http\"\n");
    let e = load_with_file(&[], Some(&file)).unwrap_err();
    assert!(e.to_string().starts_with("`port` in "), "{e}");
    let file = toml_file(&dir, "prot = 1\n");
    let e = load_with_file(&[], Some(&file)).unwrap_err();
    assert!(
        e.to_string().contains("`prot`") && e.to_string().contains("not a known setting"),
        "{e}"
    );
    let file = toml_file(&dir, "port = 1\nhost = [\n");
    let e = load_with_file(&[], Some(&file)).unwrap_err();
    assert!(e.to_string().contains("invalid TOML at line 2"), "{e}");
    assert!(!e.to_string().contains('\n'), "one line: {e}");
}

#[test]
fn missing_config_file_is_named() {
    let file = ConfigFile {
        path: "/nonexistent/mandate.toml".into(),
        named_by: "MANDATE_CONFIG",
    };
    let e = load_with_file(&[], Some(&file)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("MANDATE_CONFIG (/nonexistent/mandate.toml): cannot read the file"),
        "{e}"
    );
}

#[test]
fn secrets_are_never_echoed() {
    let wrong = "deadbeefdeadbeefcafe";
    let e = load(&[("ENCRYPTION_KEY", wrong)]).unwrap_err().to_string();
    assert!(
        e.starts_with("ENCRYPTION_KEY: must be 64 hexadecimal characters"),
        "{e}"
    );
    assert!(!e.contains(wrong), "{e}");
    let e = load(&[("JWT_PRIVATE_KEY", "my-super-secret-signing-key")])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("JWT_PRIVATE_KEY:") && !e.contains("super-secret"),
        "{e}"
    );
    let c = load(&[
        ("ENCRYPTION_KEY", KEY),
        ("DATABASE_URL", "postgres://u:pw-secret@h/db"),
    ])
    .unwrap();
    let debug = format!("{c:?}");
    assert!(
        !debug.contains(KEY) && !debug.contains("pw-secret"),
        "{debug}"
    );
}

#[test]
fn secrets_can_come_from_files() {
    let dir = mandate_testkit::TempDir::new("cfg");
    let key_file = dir.path().join("kek");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let path = key_file.to_str().unwrap();
    let c = load(&[("ENCRYPTION_KEY_FILE", path)]).unwrap();
    assert_eq!(c.encryption.key.unwrap().to_hex().as_str(), KEY);

    let file = toml_file(&dir, &format!("encryption_key_file = \"{path}\"\n"));
    let c = load_with_file(&[], Some(&file)).unwrap();
    assert!(c.encryption.key.is_some());

    let e = load(&[("ENCRYPTION_KEY_FILE", path), ("ENCRYPTION_KEY", KEY)]).unwrap_err();
    assert!(e.to_string().contains("set only one"), "{e}");
    let e = load(&[("ENCRYPTION_KEY_FILE", "/nonexistent/kek")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ENCRYPTION_KEY_FILE (/nonexistent/kek): cannot read the file"),
        "{e}"
    );
    let db_file = dir.path().join("db-url");
    std::fs::write(&db_file, "postgres://svc:pw@db/mandate\n").unwrap();
    let c = load(&[("DATABASE_URL_FILE", db_file.to_str().unwrap())]).unwrap();
    assert_eq!(
        c.database.url.unwrap().expose_secret(),
        "postgres://svc:pw@db/mandate"
    );
}

#[test]
fn jwt_private_key_is_checked_for_shape_only() {
    // A real Ed25519 PKCS#8 key: the shortest PEM that must be accepted.
    let ed25519 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
    let c = load(&[("JWT_PRIVATE_KEY", ed25519), ("JWT_KID", "k-2026.11")]).unwrap();
    assert!(c.jwt.private_key_pem.is_some());
    assert_eq!(c.jwt.kid.as_deref(), Some("k-2026.11"));
    let truncated = "-----BEGIN PRIVATE KEY-----\nMC4C\n-----END PRIVATE KEY-----";
    let e = load(&[("JWT_PRIVATE_KEY", truncated)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("too short"), "{e}");
    assert!(load(&[("JWT_KID", "has space")]).is_err());
}

#[test]
fn empty_variables_count_as_unset() {
    let c = load(&[("DATABASE_URL", ""), ("MANDATE_PORT", "")]).unwrap();
    assert!(c.database.url.is_none());
    assert_eq!(c.listen.port(), 8080);
}

#[test]
fn dashboard_origin_must_be_an_origin() {
    let c = load(&[("DASHBOARD_ORIGIN", "https://dash.example.com/")]).unwrap();
    assert_eq!(
        c.dashboard_origin.as_deref(),
        Some("https://dash.example.com")
    );
    assert!(load(&[("DASHBOARD_ORIGIN", "https://dash.example.com/app")]).is_err());
    assert!(load(&[("DASHBOARD_ORIGIN", "*")]).is_err());
    assert!(load(&[("DASHBOARD_ORIGIN", "file:///tmp")]).is_err());
}

#[test]
fn production_refuses_missing_default_and_weak_secrets() {
    let e = production::check(&load(&[("MANDATE_ENV", "production")]).unwrap()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("ENCRYPTION_KEY is missing"), "{msg}");
    assert!(msg.contains("PUBLIC_URL is missing"), "{msg}");
    assert!(!msg.contains('\n'));

    let weak = "0".repeat(64);
    let c = load(&[
        ("MANDATE_ENV", "production"),
        ("ENCRYPTION_KEY", &weak),
        ("PUBLIC_URL", "https://m.example.com"),
    ])
    .unwrap();
    let msg = production::check(&c).unwrap_err().to_string();
    assert!(msg.contains("ENCRYPTION_KEY is a placeholder"), "{msg}");

    let c = load(&[
        ("MANDATE_ENV", "production"),
        ("ENCRYPTION_KEY", KEY),
        ("PUBLIC_URL", "http://m.example.com"),
        ("DATABASE_URL", "postgres://mandate:postgres@db/mandate"),
    ])
    .unwrap();
    let msg = production::check(&c).unwrap_err().to_string();
    assert!(msg.contains("PUBLIC_URL must be https://"), "{msg}");
    assert!(
        msg.contains("DATABASE_URL carries a well-known default password"),
        "{msg}"
    );

    let good = load(&[
        ("MANDATE_ENV", "production"),
        ("ENCRYPTION_KEY", KEY),
        ("PUBLIC_URL", "https://m.example.com"),
    ])
    .unwrap();
    production::check(&good).unwrap();
    assert!(good.served_over_tls());
    // Development accepts what production refuses.
    production::check(&load(&[]).unwrap()).unwrap();
}

#[test]
fn development_generates_a_private_key_once_and_reuses_it() {
    let dir = mandate_testkit::TempDir::new("cfg");
    let data = dir.path().join("data");
    let data_str = data.to_str().unwrap();
    let mut c = load(&[("MANDATE_DATA_DIR", data_str)]).unwrap();
    let path = data.join(dev_key::FILE_NAME);
    assert_eq!(
        dev_key::ensure(&mut c).unwrap(),
        Some(DevKey::Generated(path.clone()))
    );
    let first = c.encryption.key.clone().unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let mut again = load(&[("MANDATE_DATA_DIR", data_str)]).unwrap();
    assert_eq!(
        dev_key::ensure(&mut again).unwrap(),
        Some(DevKey::Reused(path.clone()))
    );
    assert_eq!(again.encryption.key.unwrap(), first);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut loose = load(&[("MANDATE_DATA_DIR", data_str)]).unwrap();
    assert!(
        dev_key::ensure(&mut loose)
            .unwrap_err()
            .to_string()
            .contains("chmod 600")
    );

    let mut prod = load(&[
        ("MANDATE_ENV", "production"),
        ("MANDATE_DATA_DIR", data_str),
    ])
    .unwrap();
    assert_eq!(dev_key::ensure(&mut prod).unwrap(), None);
    assert!(prod.encryption.key.is_none());
}

#[test]
fn vault_transit_settings_name_what_is_missing() {
    let mode = ("ENCRYPTION_KEY_MODE", "vault-transit");
    let e = load(&[mode]).unwrap_err().to_string();
    assert!(e.starts_with("VAULT_ADDR: is required"), "{e}");
    let addr = ("VAULT_ADDR", "https://bao.internal:8200");
    let e = load(&[mode, addr]).unwrap_err().to_string();
    assert!(e.starts_with("VAULT_TOKEN: is missing"), "{e}");
    let e = load(&[mode, addr, ("VAULT_ROLE_ID", "r")])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("VAULT_SECRET_ID: is required"), "{e}");
    let e = load(&[mode, addr, ("VAULT_TOKEN", "t"), ("VAULT_ROLE_ID", "r")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not both"), "{e}");
    let e = load(&[mode, ("VAULT_ADDR", "bao.internal"), ("VAULT_TOKEN", "t")])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("VAULT_ADDR: must be an http(s) URL"), "{e}");
    let e = load(&[
        mode,
        addr,
        ("VAULT_TOKEN", "t"),
        ("VAULT_TRANSIT_KEY", "../sys"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("VAULT_TRANSIT_KEY:"), "{e}");

    let c = load(&[mode, addr, ("VAULT_ROLE_ID", "r"), ("VAULT_SECRET_ID", "s")]).unwrap();
    let transit = c.encryption.vault_transit.as_ref().unwrap();
    assert_eq!(
        (transit.mount.as_str(), transit.key.as_str()),
        ("transit", "mandate")
    );
    assert!(
        !format!("{c:?}").contains("\"s\""),
        "the secret id is not printed"
    );
}

#[test]
fn vault_transit_mode_needs_no_encryption_key_but_https_in_production() {
    let dir = mandate_testkit::TempDir::new("cfg");
    let data = dir.path().join("data");
    let base = [
        ("ENCRYPTION_KEY_MODE", "vault-transit"),
        ("VAULT_TOKEN", "t"),
        ("MANDATE_DATA_DIR", data.to_str().unwrap()),
        ("PUBLIC_URL", "https://m.example.com"),
    ];
    let mut dev = load(&[
        base[0],
        base[1],
        base[2],
        ("VAULT_ADDR", "http://127.0.0.1:8200"),
    ])
    .unwrap();
    assert_eq!(
        dev_key::ensure(&mut dev).unwrap(),
        None,
        "no development key in vault-transit mode"
    );

    let mut vars = base.to_vec();
    vars.extend([
        ("MANDATE_ENV", "production"),
        ("VAULT_ADDR", "http://bao.internal:8200"),
    ]);
    let msg = production::check(&load(&vars).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("VAULT_ADDR must be https://") && !msg.contains("ENCRYPTION_KEY"),
        "{msg}"
    );
    vars.pop();
    vars.push(("VAULT_ADDR", "https://bao.internal:8200"));
    production::check(&load(&vars).unwrap()).unwrap();
}

#[test]
fn aws_kms_settings_name_what_is_missing() {
    let mode = ("ENCRYPTION_KEY_MODE", "aws-kms");
    let e = load(&[mode]).unwrap_err().to_string();
    assert!(e.starts_with("AWS_REGION: is required"), "{e}");
    let e = load(&[mode, ("AWS_REGION", "eu-west-1")])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("AWS_KMS_KEY_ID: is required"), "{e}");
    let e = load(&[
        mode,
        ("AWS_REGION", "EU West"),
        ("AWS_KMS_KEY_ID", "alias/m"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("AWS_REGION:"), "{e}");
    let full = [
        mode,
        ("AWS_REGION", "eu-west-1"),
        ("AWS_KMS_KEY_ID", "alias/mandate"),
        ("AWS_ACCESS_KEY_ID", "AKIA0000"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
    ];
    let e = load(&full[..4]).unwrap_err().to_string();
    assert!(e.starts_with("AWS_SECRET_ACCESS_KEY: is required"), "{e}");
    let c = load(&full).unwrap();
    assert_eq!(
        c.encryption.aws_kms.as_ref().unwrap().key_id,
        "alias/mandate"
    );
    assert!(!format!("{c:?}").contains("very-secret-value"));

    let mut prod = full.to_vec();
    prod.extend([
        ("MANDATE_ENV", "production"),
        ("PUBLIC_URL", "https://m.example.com"),
        ("AWS_ENDPOINT_URL", "http://kms.internal"),
    ]);
    let msg = production::check(&load(&prod).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("AWS_ENDPOINT_URL must be https://")
            && !msg.contains("ENCRYPTION_KEY is missing"),
        "{msg}"
    );
}

#[test]
fn age_settings_name_what_is_missing_and_production_checks_the_identity_file() {
    use std::os::unix::fs::PermissionsExt;
    let mode = ("ENCRYPTION_KEY_MODE", "age");
    let e = load(&[mode]).unwrap_err().to_string();
    assert!(e.starts_with("AGE_KEK_FILE: is required"), "{e}");
    let e = load(&[mode, ("AGE_KEK_FILE", "/k.age")])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("AGE_IDENTITY_FILE: is required"), "{e}");

    let dir = mandate_testkit::TempDir::new("cfg");
    let identity = dir.path().join("identity.txt");
    std::fs::write(&identity, "AGE-SECRET-KEY-1...").unwrap();
    std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o644)).unwrap();
    let vars = [
        mode,
        ("AGE_KEK_FILE", "/k.age"),
        ("AGE_IDENTITY_FILE", identity.to_str().unwrap()),
        ("MANDATE_ENV", "production"),
        ("PUBLIC_URL", "https://m.example.com"),
    ];
    let msg = production::check(&load(&vars).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("AGE_IDENTITY_FILE") && msg.contains("chmod 600"),
        "{msg}"
    );
    assert!(!msg.contains("ENCRYPTION_KEY is missing"), "{msg}");
    std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o600)).unwrap();
    production::check(&load(&vars).unwrap()).unwrap();
}

#[test]
fn azure_kv_settings_take_azure_defaults_and_name_what_is_missing() {
    let mode = ("ENCRYPTION_KEY_MODE", "azure-kv");
    let e = load(&[mode]).unwrap_err().to_string();
    assert!(e.starts_with("AZURE_KEY_VAULT_URI: is required"), "{e}");
    let c = load(&[mode, ("AZURE_KEY_VAULT_URI", "https://v.vault.azure.net")]).unwrap();
    let azure = c.encryption.azure_kv.as_ref().unwrap();
    assert_eq!(
        (azure.kek_name.as_str(), azure.wrapped_secret.as_str()),
        ("data-encryption-kek", "WRAPPED-DATA-KEY")
    );
    assert!(azure.identity_endpoint.is_none());
    let e = load(&[
        mode,
        ("AZURE_KEY_VAULT_URI", "https://v.vault.azure.net"),
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:4141/msi/token"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("IDENTITY_HEADER: is required"), "{e}");
    let e = load(&[
        mode,
        ("AZURE_KEY_VAULT_URI", "https://v.vault.azure.net"),
        ("AZURE_KV_KEK_NAME", "a/b"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("AZURE_KV_KEK_NAME:"), "{e}");
}
