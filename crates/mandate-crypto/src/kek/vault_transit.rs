//! `ENCRYPTION_KEY_MODE=vault-transit`: HashiCorp Vault or OpenBao Transit wraps the data keys.
//! The KEK never leaves the Transit server; Mandate sends a DEK to `encrypt` and gets it back from
//! `decrypt`, with the (workspace, DEK id) context as `associated_data`, so a wrapped DEK copied to
//! another row does not decrypt.
//!
//! Key versions: each wrapped DEK records the Transit key version that wrapped it in its KEK id
//! (`transit:<mount>/<key>:v<N>`). Versions from the key's `min_decryption_version` to its latest
//! are held; after `bao write -f transit/keys/<key>/rotate` the latest becomes current and the
//! vault's re-wrap moves old DEKs to it.
//!
//! Authentication: a token (`VAULT_TOKEN`) or AppRole (`VAULT_ROLE_ID` + `VAULT_SECRET_ID`); an
//! AppRole token that expires is renewed by logging in again once when a call is refused.

use std::sync::RwLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{KekError, WrapContext, WrappedDek, context_bytes};
use crate::Key256;

const PROVIDER: &str = "vault-transit";

pub enum TransitAuth {
    Token(Zeroizing<String>),
    AppRole {
        role_id: String,
        secret_id: Zeroizing<String>,
    },
}

pub struct TransitConfig {
    /// e.g. `https://bao.internal:8200`
    pub addr: String,
    pub mount: String,
    pub key: String,
    pub auth: TransitAuth,
    pub namespace: Option<String>,
    /// PEM of a private CA that signed the server's certificate.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

pub struct TransitKek {
    http: reqwest::Client,
    base: String,
    mount: String,
    key: String,
    namespace: Option<String>,
    auth: TransitAuth,
    token: RwLock<Zeroizing<String>>,
    /// (min_decryption_version, latest_version)
    versions: RwLock<(u64, u64)>,
}

impl std::fmt::Debug for TransitKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitKek")
            .field("addr", &self.base)
            .field("mount", &self.mount)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct KeyInfo {
    latest_version: u64,
    min_decryption_version: u64,
    #[serde(rename = "type")]
    key_type: String,
    #[serde(default)]
    derived: bool,
}

fn provider_error(reason: impl Into<String>) -> KekError {
    KekError::Provider {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

impl TransitKek {
    /// Connect, authenticate and read the key's versions. Any problem stops here with a message
    /// that says what to fix.
    pub async fn connect(config: TransitConfig) -> Result<TransitKek, KekError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &config.ca_pem {
            let ca = reqwest::Certificate::from_pem(pem).map_err(|e| {
                provider_error(format!("VAULT_CACERT is not a PEM certificate: {e}"))
            })?;
            builder = builder.add_root_certificate(ca);
        }
        let http = builder
            .build()
            .map_err(|e| provider_error(format!("cannot build the HTTP client: {e}")))?;
        let kek = TransitKek {
            http,
            base: config.addr.trim_end_matches('/').to_string(),
            mount: config.mount.trim_matches('/').to_string(),
            key: config.key,
            namespace: config.namespace,
            token: RwLock::new(match &config.auth {
                TransitAuth::Token(token) => token.clone(),
                TransitAuth::AppRole { .. } => Zeroizing::new(String::new()),
            }),
            auth: config.auth,
            versions: RwLock::new((1, 1)),
        };
        if matches!(kek.auth, TransitAuth::AppRole { .. }) {
            kek.login().await?;
        }
        kek.refresh().await?;
        Ok(kek)
    }

    pub fn current_id(&self) -> String {
        let (_, latest) = self.read_versions();
        self.kek_id(latest)
    }

    pub fn held_ids(&self) -> Vec<String> {
        let (min, latest) = self.read_versions();
        (min.max(1)..=latest)
            .rev()
            .map(|v| self.kek_id(v))
            .collect()
    }

    /// Re-read the key's versions.
    pub async fn refresh(&self) -> Result<(), KekError> {
        let body = self
            .call(
                reqwest::Method::GET,
                &format!("{}/keys/{}", self.mount, self.key),
                None,
            )
            .await?;
        let info: KeyInfo = serde_json::from_value(body["data"].clone()).map_err(|e| {
            provider_error(format!(
                "unexpected answer reading transit key `{}`: {e}",
                self.key
            ))
        })?;
        if info.derived {
            return Err(provider_error(format!(
                "transit key `{}` uses key derivation; create it without `derived`",
                self.key
            )));
        }
        if !matches!(
            info.key_type.as_str(),
            "aes256-gcm96" | "aes128-gcm96" | "chacha20-poly1305"
        ) {
            return Err(provider_error(format!(
                "transit key `{}` is of type {}; an AEAD key (aes256-gcm96) is needed",
                self.key, info.key_type
            )));
        }
        if let Ok(mut versions) = self.versions.write() {
            *versions = (info.min_decryption_version, info.latest_version);
        }
        Ok(())
    }

    /// A new version of the Transit key (needs `update` on `<mount>/keys/<key>/rotate`).
    pub async fn rotate(&self) -> Result<(), KekError> {
        self.call(
            reqwest::Method::POST,
            &format!("{}/keys/{}/rotate", self.mount, self.key),
            None,
        )
        .await?;
        self.refresh().await
    }

    pub async fn wrap(
        &self,
        dek: &Key256,
        context: WrapContext<'_>,
    ) -> Result<WrappedDek, KekError> {
        let plaintext = Zeroizing::new(STANDARD.encode(dek.as_bytes()));
        let body = json!({
            "plaintext": plaintext.as_str(),
            "associated_data": STANDARD.encode(context_bytes(context)),
        });
        let answer = self
            .call(
                reqwest::Method::POST,
                &format!("{}/encrypt/{}", self.mount, self.key),
                Some(body),
            )
            .await
            .map_err(|e| KekError::Wrap {
                dek_kid: context.dek_kid.to_string(),
                reason: e.to_string(),
            })?;
        let ciphertext = answer["data"]["ciphertext"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let version = ciphertext_version(&ciphertext).ok_or_else(|| KekError::Wrap {
            dek_kid: context.dek_kid.to_string(),
            reason: "the transit answer carries no versioned ciphertext".into(),
        })?;
        Ok(WrappedDek {
            kek_id: self.kek_id(version),
            wrapped: ciphertext,
        })
    }

    pub async fn unwrap(
        &self,
        wrapped: &WrappedDek,
        context: WrapContext<'_>,
    ) -> Result<Key256, KekError> {
        let fail = |reason: String| KekError::Unwrap {
            dek_kid: context.dek_kid.to_string(),
            reason,
        };
        if !self.held_ids().contains(&wrapped.kek_id) {
            return Err(KekError::UnknownKek {
                kek_id: wrapped.kek_id.clone(),
                dek_kid: context.dek_kid.to_string(),
            });
        }
        let body = json!({
            "ciphertext": wrapped.wrapped,
            "associated_data": STANDARD.encode(context_bytes(context)),
        });
        let answer = self
            .call(
                reqwest::Method::POST,
                &format!("{}/decrypt/{}", self.mount, self.key),
                Some(body),
            )
            .await
            .map_err(|e| fail(e.to_string()))?;
        let encoded = Zeroizing::new(
            answer["data"]["plaintext"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.as_str())
                .map_err(|_| fail("the plaintext is not base64".into()))?,
        );
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| fail("not a 256-bit key".into()))?;
        Ok(Key256::from_bytes(array))
    }

    fn kek_id(&self, version: u64) -> String {
        format!("transit:{}/{}:v{version}", self.mount, self.key)
    }

    fn read_versions(&self) -> (u64, u64) {
        self.versions.read().map(|v| *v).unwrap_or((1, 1))
    }

    async fn login(&self) -> Result<(), KekError> {
        let TransitAuth::AppRole { role_id, secret_id } = &self.auth else {
            return Ok(());
        };
        let body = json!({"role_id": role_id, "secret_id": secret_id.as_str()});
        let answer = self
            .send(
                reqwest::Method::POST,
                "auth/approle/login",
                Some(&body),
                None,
            )
            .await?;
        let token = answer["auth"]["client_token"]
            .as_str()
            .ok_or_else(|| provider_error("AppRole login answered without a token"))?;
        if let Ok(mut slot) = self.token.write() {
            *slot = Zeroizing::new(token.to_string());
        }
        Ok(())
    }

    /// One authenticated call; with AppRole, a refused token is renewed by one new login.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, KekError> {
        let token = self.token.read().map(|t| t.clone()).unwrap_or_default();
        match self
            .send(method.clone(), path, body.as_ref(), Some(&token))
            .await
        {
            Err(KekError::Provider { reason, .. })
                if reason.starts_with("403")
                    && matches!(self.auth, TransitAuth::AppRole { .. }) =>
            {
                self.login().await?;
                let token = self.token.read().map(|t| t.clone()).unwrap_or_default();
                self.send(method, path, body.as_ref(), Some(&token)).await
            }
            other => other,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Value, KekError> {
        let url = format!("{}/v1/{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(namespace) = &self.namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            provider_error(format!(
                "cannot reach {}: {}",
                self.base,
                super::innermost_error(&e)
            ))
        })?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            // Transit's error strings name the problem ("permission denied", "encryption key not
            // found", "cipher: message authentication failed") and never carry key material.
            let errors: Vec<&str> = value["errors"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            return Err(provider_error(format!(
                "{} from {path}: {}",
                status.as_u16(),
                errors.join("; ")
            )));
        }
        Ok(value)
    }
}

/// `vault:v3:...` → 3
fn ciphertext_version(ciphertext: &str) -> Option<u64> {
    let rest = ciphertext.strip_prefix("vault:v")?;
    let (version, _) = rest.split_once(':')?;
    version.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_ciphertexts() {
        assert_eq!(ciphertext_version("vault:v12:abc"), Some(12));
        assert_eq!(ciphertext_version("vault:x:abc"), None);
        assert_eq!(ciphertext_version("abc"), None);
    }
}
