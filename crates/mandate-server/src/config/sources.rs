//! Where setting values come from, in order: the defaults of the settings table, then the
//! optional TOML file, then the environment. `*_FILE` variants of secrets are read here.
//! Every value keeps its origin so an error can name exactly what to fix.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::ConfigError;
use super::settings::{SETTINGS, Setting};

/// Reads one environment variable (injected so tests need not touch the process environment).
pub type EnvSource<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The TOML file and how it was named (for error messages).
#[derive(Clone, Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// `--config` or `MANDATE_CONFIG`.
    pub named_by: &'static str,
}

/// A setting's text and where it came from.
pub struct RawValue {
    pub text: Zeroizing<String>,
    pub origin: String,
}

/// Every setting that has a value, by TOML key.
pub struct RawSettings {
    values: HashMap<&'static str, RawValue>,
}

impl RawSettings {
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.values.get(key)
    }
}

pub fn gather(env: EnvSource<'_>, file: Option<&ConfigFile>) -> Result<RawSettings, ConfigError> {
    let table = match file {
        Some(file) => read_toml(file)?,
        None => toml::Table::new(),
    };
    if let Some(file) = file {
        check_known_keys(&table, &file.path)?;
    }
    let mut values = HashMap::new();
    for setting in SETTINGS {
        let value = match from_env(setting, env)? {
            Some(v) => Some(v),
            None => match file {
                Some(file) => from_toml(setting, &table, &file.path)?,
                None => None,
            },
        };
        let value = value.or_else(|| {
            setting.default.map(|d| RawValue {
                text: Zeroizing::new(d.to_string()),
                origin: format!("{} (default)", setting.env),
            })
        });
        if let Some(value) = value {
            values.insert(setting.key, value);
        }
    }
    Ok(RawSettings { values })
}

fn env_text(env: EnvSource<'_>, name: &str) -> Result<Option<Zeroizing<String>>, ConfigError> {
    match env(name) {
        None => Ok(None),
        Some(os) => match os.into_string() {
            // An empty variable counts as unset (compose files often declare `NAME=`).
            Ok(s) if s.is_empty() => Ok(None),
            Ok(s) => Ok(Some(Zeroizing::new(s))),
            Err(_) => Err(ConfigError::new(name, "is not valid UTF-8")),
        },
    }
}

fn from_env(setting: &Setting, env: EnvSource<'_>) -> Result<Option<RawValue>, ConfigError> {
    let direct = env_text(env, setting.env)?;
    if !setting.secret {
        return Ok(direct.map(|text| RawValue {
            text,
            origin: setting.env.to_string(),
        }));
    }
    let file_var = format!("{}_FILE", setting.env);
    let path = env_text(env, &file_var)?;
    match (direct, path) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            setting.env,
            format!("is set both directly and through {file_var}; set only one"),
        )),
        (Some(text), None) => Ok(Some(RawValue {
            text,
            origin: setting.env.to_string(),
        })),
        (None, Some(path)) => {
            let path = PathBuf::from(path.as_str());
            let origin = format!("{file_var} ({})", path.display());
            Ok(Some(RawValue {
                text: read_secret_file(&path, &origin)?,
                origin,
            }))
        }
        (None, None) => Ok(None),
    }
}

fn from_toml(
    setting: &Setting,
    table: &toml::Table,
    file: &Path,
) -> Result<Option<RawValue>, ConfigError> {
    let direct = table.get(setting.key);
    let file_key = format!("{}_file", setting.key);
    let path = if setting.secret {
        table.get(&file_key)
    } else {
        None
    };
    let origin = |key: &str| format!("`{key}` in {}", file.display());
    match (direct, path) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            origin(setting.key),
            format!("is set together with `{file_key}`; set only one"),
        )),
        (Some(value), None) => Ok(Some(RawValue {
            text: Zeroizing::new(scalar_text(value, &origin(setting.key), setting.secret)?),
            origin: origin(setting.key),
        })),
        (None, Some(value)) => {
            let path = PathBuf::from(scalar_text(value, &origin(&file_key), false)?);
            let origin = format!("{} ({})", origin(&file_key), path.display());
            Ok(Some(RawValue {
                text: read_secret_file(&path, &origin)?,
                origin,
            }))
        }
        (None, None) => Ok(None),
    }
}

fn scalar_text(value: &toml::Value, origin: &str, secret: bool) -> Result<String, ConfigError> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other if secret => Err(ConfigError::new(
            origin,
            format!("must be a string, not a {}", other.type_str()),
        )),
        other => Err(ConfigError::new(
            origin,
            format!(
                "must be a string, an integer or a boolean, not a {}",
                other.type_str()
            ),
        )),
    }
}

fn read_secret_file(path: &Path, origin: &str) -> Result<Zeroizing<String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(origin, format!("cannot read the file: {e}")))?;
    let text = Zeroizing::new(text);
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.trim().is_empty() {
        return Err(ConfigError::new(origin, "the file is empty"));
    }
    Ok(Zeroizing::new(trimmed.to_string()))
}

fn read_toml(file: &ConfigFile) -> Result<toml::Table, ConfigError> {
    let origin = format!("{} ({})", file.named_by, file.path.display());
    let text = std::fs::read_to_string(&file.path)
        .map_err(|e| ConfigError::new(&origin, format!("cannot read the file: {e}")))?;
    text.parse::<toml::Table>().map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1))
            .unwrap_or(1);
        ConfigError::new(
            &origin,
            format!("invalid TOML at line {line}: {}", e.message().trim()),
        )
    })
}

fn check_known_keys(table: &toml::Table, file: &Path) -> Result<(), ConfigError> {
    for key in table.keys() {
        let known = SETTINGS.iter().any(|s| {
            s.key == key.as_str() || (s.secret && key.strip_suffix("_file") == Some(s.key))
        });
        if !known {
            return Err(ConfigError::new(
                format!("`{key}` in {}", file.display()),
                "is not a known setting (see `mandate --help` for the list)",
            ));
        }
    }
    Ok(())
}
