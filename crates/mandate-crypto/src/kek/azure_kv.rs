//! `ENCRYPTION_KEY_MODE=azure-kv`: at start, the KEK is read from Azure Key Vault and unwrapped
//! there; once running it is held in memory like `env`, so requests never call Azure.
//!
//! 1. An access token for `https://vault.azure.net` from the managed identity: App Service /
//!    Container Apps (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) or the VM/AKS instance metadata
//!    service (IMDS), for `AZURE_MANAGED_IDENTITY_CLIENT_ID` when given.
//! 2. `GET {vault}/secrets/{AZURE_KV_WRAPPED_DEK_SECRET}`: the wrapped KEK (base64url).
//! 3. `POST {vault}/keys/{AZURE_KV_KEK_NAME}/unwrapkey` with RSA-OAEP-256: the 32-byte KEK.
//!
//! Every failure names the step and Azure's error code and message, never a token or key.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::KekError;
use crate::Key256;

const PROVIDER: &str = "azure-kv";
const API_VERSION: &str = "7.4";
const RESOURCE: &str = "https://vault.azure.net";
/// Where IMDS answers on Azure VMs and AKS nodes.
pub const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// How to get a managed-identity token.
#[derive(Clone, Debug)]
pub enum Identity {
    /// VM / AKS: the instance metadata service.
    Imds { url: String },
    /// App Service / Container Apps / Functions: `IDENTITY_ENDPOINT` with `IDENTITY_HEADER`.
    AppService {
        endpoint: String,
        header: Zeroizing<String>,
    },
}

pub struct AzureKvConfig {
    /// e.g. `https://my-vault.vault.azure.net`
    pub vault_uri: String,
    pub kek_name: String,
    /// Pin the key version that wrapped the secret (default: the key's current version).
    pub kek_version: Option<String>,
    pub wrapped_secret: String,
    pub client_id: Option<String>,
    pub identity: Identity,
    pub timeout: Duration,
}

fn fail(step: &str, reason: impl std::fmt::Display) -> KekError {
    KekError::Provider {
        provider: PROVIDER,
        reason: format!("{step}: {reason}"),
    }
}

/// Fetch and unwrap the KEK.
pub async fn fetch_kek(config: &AzureKvConfig) -> Result<Key256, KekError> {
    let http = reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| fail("HTTP client", e))?;
    let token = access_token(&http, config).await?;
    let vault = config.vault_uri.trim_end_matches('/');

    let secret_url = format!(
        "{vault}/secrets/{}?api-version={API_VERSION}",
        config.wrapped_secret
    );
    let secret = call(
        http.get(&secret_url).bearer_auth(token.as_str()),
        "reading the wrapped key secret",
    )
    .await?;
    let wrapped = secret["value"]
        .as_str()
        .ok_or_else(|| fail("reading the wrapped key secret", "the secret has no value"))?
        .trim()
        .to_string();

    let key_path = match &config.kek_version {
        Some(version) => format!("{}/{version}", config.kek_name),
        None => config.kek_name.clone(),
    };
    let unwrap_url = format!("{vault}/keys/{key_path}/unwrapkey?api-version={API_VERSION}");
    let body = json!({"alg": "RSA-OAEP-256", "value": wrapped});
    let answer = call(
        http.post(&unwrap_url)
            .bearer_auth(token.as_str())
            .json(&body),
        "unwrapping the key",
    )
    .await?;
    let plain = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(
                answer["value"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_end_matches('='),
            )
            .map_err(|_| fail("unwrapping the key", "the answer is not base64url"))?,
    );
    let array: [u8; 32] = plain.as_slice().try_into().map_err(|_| {
        fail(
            "unwrapping the key",
            format!("the key is {} bytes, not 32", plain.len()),
        )
    })?;
    Ok(Key256::from_bytes(array))
}

async fn access_token(
    http: &reqwest::Client,
    config: &AzureKvConfig,
) -> Result<Zeroizing<String>, KekError> {
    let step = "getting a managed identity token";
    let (base, api_version) = match &config.identity {
        Identity::Imds { url } => (url.as_str(), "2018-02-01"),
        Identity::AppService { endpoint, .. } => (endpoint.as_str(), "2019-08-01"),
    };
    let mut params = vec![("api-version", api_version), ("resource", RESOURCE)];
    if let Some(id) = &config.client_id {
        params.push(("client_id", id.as_str()));
    }
    let url = url::Url::parse_with_params(base, &params)
        .map_err(|e| fail(step, format!("invalid identity endpoint: {e}")))?;
    let request = match &config.identity {
        Identity::Imds { .. } => http.get(url).header("Metadata", "true"),
        Identity::AppService { header, .. } => {
            http.get(url).header("X-IDENTITY-HEADER", header.as_str())
        }
    };
    let answer = call(request, step).await?;
    answer["access_token"]
        .as_str()
        .map(|t| Zeroizing::new(t.to_string()))
        .ok_or_else(|| fail(step, "the answer has no access_token"))
}

/// Send; a non-2xx answer becomes an error with Azure's code and message.
async fn call(request: reqwest::RequestBuilder, step: &str) -> Result<Value, KekError> {
    let response = request.send().await.map_err(|e| {
        fail(
            step,
            format!("cannot reach Azure: {}", super::innermost_error(&e)),
        )
    })?;
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        // Key Vault: {"error":{"code","message"}}; identity endpoints: {"error","error_description"}.
        let code = value["error"]["code"]
            .as_str()
            .or(value["error"].as_str())
            .unwrap_or("error");
        let message = value["error"]["message"]
            .as_str()
            .or(value["error_description"].as_str())
            .unwrap_or("");
        return Err(fail(step, format!("{} {code}: {message}", status.as_u16())));
    }
    Ok(value)
}
