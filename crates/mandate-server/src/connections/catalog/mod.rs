//! The provider catalog, kept as data: `providers.toml` embedded in the binary, overridable by the
//! operator with `PROVIDER_CATALOG_FILE` (a file of the same shape; an entry with an existing id
//! replaces it, a new id is added). Validated at start: an error names the provider and the field,
//! and the server does not start.
//!
//! Per provider: the auth scheme, OAuth endpoints and default scopes, the API hosts its credential
//! may be sent to (the proxy refuses any other host for a connection of it), how the credential is
//! injected (bearer header, custom header, query parameter, URL path placeholder for bot tokens,
//! HTTP basic), refresh behaviour, static headers, a cheap validation call for pasted secrets, and
//! its services (Gmail, Calendar...). Generic providers leave endpoints and hosts to the admin.

mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use validate::{CatalogError, check_endpoint, is_host};

const EMBEDDED: &str = include_str!("providers.toml");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    /// Authorization code with PKCE; access and refresh tokens.
    Oauth2,
    /// A pasted API key.
    ApiKey,
    /// A pasted bot token (Telegram, Slack bots).
    BotToken,
    /// A user name and password or token pair, sent as HTTP basic.
    Basic,
}

/// How the credential goes into a request to the provider.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Injection {
    /// `Authorization: Bearer <credential>`.
    Bearer,
    /// `<name>: <prefix><credential>`.
    Header {
        name: String,
        #[serde(default)]
        prefix: String,
    },
    /// `?<param>=<credential>`.
    Query { param: String },
    /// The credential replaces `placeholder` in the URL path (`/bot{token}/getMe`).
    Path { placeholder: String },
    /// `Authorization: Basic base64(user:secret)`.
    Basic,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refresh {
    /// The credential does not expire (API keys, bot tokens, some OAuth apps).
    #[default]
    None,
    /// Access tokens expire and a refresh token renews them (the provider may rotate it).
    RefreshToken,
}

/// How the client authenticates at the token endpoint (RFC 6749 section 2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// `client_id` and `client_secret` in the form body.
    #[default]
    ClientSecretPost,
    /// `Authorization: Basic base64(client_id:client_secret)`.
    ClientSecretBasic,
}

/// A cheap call that tells whether a pasted secret works.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationCall {
    pub method: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: String,
    pub name: String,
    /// Scopes this service needs on top of the provider's defaults.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The hosts it uses: a subset of the provider's.
    #[serde(default)]
    pub api_hosts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub auth: AuthScheme,
    /// Endpoints and hosts are entered by the admin per OAuth app or connection.
    #[serde(default)]
    pub generic: bool,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
    #[serde(default)]
    pub token_auth: TokenAuth,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// Extra authorization request parameters (`access_type = "offline"`).
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub api_hosts: Vec<String>,
    pub inject: Injection,
    #[serde(default)]
    pub refresh: Refresh,
    /// The connect flow fails when the provider sends no refresh token.
    #[serde(default)]
    pub refresh_token_required: bool,
    /// Static headers sent with every request (`Notion-Version`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub validate: Option<ValidationCall>,
    #[serde(default, rename = "service")]
    pub services: Vec<Service>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default, rename = "provider")]
    providers: Vec<Provider>,
}

/// The validated catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    providers: Vec<Provider>,
}

impl Catalog {
    /// The embedded catalog, then the operator's file over it; validated.
    pub fn load(override_file: Option<&Path>) -> Result<Catalog, CatalogError> {
        let mut providers = parse(EMBEDDED, "the embedded catalog")?;
        if let Some(path) = override_file {
            let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Read {
                source_name: path.display().to_string(),
                message: e.to_string(),
            })?;
            for provider in parse(&text, &path.display().to_string())? {
                match providers.iter_mut().find(|p| p.id == provider.id) {
                    Some(existing) => *existing = provider,
                    None => providers.push(provider),
                }
            }
        }
        validate::catalog(&providers)?;
        Ok(Catalog { providers })
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }
}

/// The providers of one file; an id twice in it is an error (across files, the later replaces).
fn parse(text: &str, source_name: &str) -> Result<Vec<Provider>, CatalogError> {
    let providers = toml::from_str::<CatalogFile>(text)
        .map(|f| f.providers)
        .map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            CatalogError::Read {
                source_name: source_name.to_string(),
                message: match line {
                    Some(line) => format!("line {line}: {}", e.message()),
                    None => e.message().to_string(),
                },
            }
        })?;
    validate::distinct_ids(&providers, source_name)?;
    Ok(providers)
}

#[cfg(test)]
mod tests;
