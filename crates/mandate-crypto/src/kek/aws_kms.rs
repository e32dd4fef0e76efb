//! `ENCRYPTION_KEY_MODE=aws-kms`: an AWS KMS symmetric key wraps the data keys. New data keys come
//! from `GenerateDataKey` (AES_256); they are opened with `Decrypt` and re-wrapped with `Encrypt`.
//! The workspace and data key id travel as the `EncryptionContext`, which KMS binds to the
//! ciphertext (and records in CloudTrail), so a wrapped key copied to another row does not open.
//!
//! KMS rotates a key's material itself and keeps every version for `Decrypt`, so the KEK id is the
//! key's ARN alone (`aws-kms:<arn>`). The client speaks KMS's JSON protocol with SigV4 directly
//! instead of pulling in the AWS SDK. Credentials come from the environment (access key, secret,
//! optional session token).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::sigv4::{self, Credentials};
use super::{KekError, WrapContext, WrappedDek};
use crate::Key256;

const PROVIDER: &str = "aws-kms";

pub struct AwsKmsConfig {
    /// Key id, key ARN, alias name (`alias/mandate`) or alias ARN.
    pub key_id: String,
    pub region: String,
    /// Defaults to `https://kms.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    pub credentials: Credentials,
    pub timeout: Duration,
}

pub struct AwsKmsKek {
    http: reqwest::Client,
    url: String,
    host: String,
    region: String,
    key_arn: String,
    credentials: Credentials,
}

impl std::fmt::Debug for AwsKmsKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsKek")
            .field("url", &self.url)
            .field("key", &self.key_arn)
            .finish_non_exhaustive()
    }
}

fn provider_error(reason: impl Into<String>) -> KekError {
    KekError::Provider {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

impl AwsKmsKek {
    /// Connect and check the key: it must exist, be enabled, and be a symmetric encryption key.
    pub async fn connect(config: AwsKmsConfig) -> Result<AwsKmsKek, KekError> {
        let url = config
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://kms.{}.amazonaws.com", config.region));
        let parsed = url::Url::parse(&url)
            .map_err(|e| provider_error(format!("invalid endpoint {url}: {e}")))?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return Err(provider_error(format!("endpoint {url} has no host"))),
        };
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| provider_error(format!("cannot build the HTTP client: {e}")))?;
        let mut kek = AwsKmsKek {
            http,
            url: format!("{}/", url.trim_end_matches('/')),
            host,
            region: config.region,
            key_arn: config.key_id.clone(),
            credentials: config.credentials,
        };
        let described = kek
            .call("DescribeKey", &json!({"KeyId": config.key_id}))
            .await?;
        let meta = &described["KeyMetadata"];
        let arn = meta["Arn"]
            .as_str()
            .ok_or_else(|| provider_error("DescribeKey answered without an ARN"))?;
        let state = meta["KeyState"].as_str().unwrap_or("in an unknown state");
        if state != "Enabled" {
            return Err(provider_error(format!("key {arn} is {state}, not Enabled")));
        }
        // moto leaves KeyUsage out for default keys; AWS always sends it.
        let usage_is_wrong = meta["KeyUsage"]
            .as_str()
            .is_some_and(|u| u != "ENCRYPT_DECRYPT");
        let spec = meta["KeySpec"]
            .as_str()
            .or(meta["CustomerMasterKeySpec"].as_str());
        if usage_is_wrong || spec.is_some_and(|s| s != "SYMMETRIC_DEFAULT") {
            return Err(provider_error(format!(
                "key {arn} is not a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)"
            )));
        }
        kek.key_arn = arn.to_string();
        Ok(kek)
    }

    pub fn current_id(&self) -> String {
        format!("aws-kms:{}", self.key_arn)
    }

    /// A new data key from KMS, with its wrapped form.
    pub async fn generate(
        &self,
        context: WrapContext<'_>,
    ) -> Result<(Key256, WrappedDek), KekError> {
        let body = json!({"KeyId": self.key_arn, "KeySpec": "AES_256", "EncryptionContext": encryption_context(context)});
        let answer = self
            .call("GenerateDataKey", &body)
            .await
            .map_err(|e| KekError::Wrap {
                dek_kid: context.dek_kid.to_string(),
                reason: e.to_string(),
            })?;
        let key = decode_key(&answer["Plaintext"]).ok_or_else(|| KekError::Wrap {
            dek_kid: context.dek_kid.to_string(),
            reason: "no 256-bit plaintext key in the answer".into(),
        })?;
        let blob = answer["CiphertextBlob"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok((
            key,
            WrappedDek {
                kek_id: self.current_id(),
                wrapped: blob,
            },
        ))
    }

    /// On-demand rotation of the key material (needs `kms:RotateKeyOnDemand`). The key id, and
    /// so the KEK id, stay the same; KMS keeps older material for Decrypt.
    pub async fn rotate(&self) -> Result<(), KekError> {
        self.call("RotateKeyOnDemand", &json!({"KeyId": self.key_arn}))
            .await
            .map(|_| ())
    }

    pub async fn wrap(
        &self,
        dek: &Key256,
        context: WrapContext<'_>,
    ) -> Result<WrappedDek, KekError> {
        let plaintext = Zeroizing::new(STANDARD.encode(dek.as_bytes()));
        let body = json!({"KeyId": self.key_arn, "Plaintext": plaintext.as_str(), "EncryptionContext": encryption_context(context)});
        let answer = self
            .call("Encrypt", &body)
            .await
            .map_err(|e| KekError::Wrap {
                dek_kid: context.dek_kid.to_string(),
                reason: e.to_string(),
            })?;
        let blob = answer["CiphertextBlob"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(WrappedDek {
            kek_id: self.current_id(),
            wrapped: blob,
        })
    }

    pub async fn unwrap(
        &self,
        wrapped: &WrappedDek,
        context: WrapContext<'_>,
    ) -> Result<Key256, KekError> {
        if wrapped.kek_id != self.current_id() {
            return Err(KekError::UnknownKek {
                kek_id: wrapped.kek_id.clone(),
                dek_kid: context.dek_kid.to_string(),
            });
        }
        // KeyId pins the key: a blob of another key is refused instead of decrypted with it.
        let body = json!({"KeyId": self.key_arn, "CiphertextBlob": wrapped.wrapped, "EncryptionContext": encryption_context(context)});
        let fail = |reason: String| KekError::Unwrap {
            dek_kid: context.dek_kid.to_string(),
            reason,
        };
        let answer = self
            .call("Decrypt", &body)
            .await
            .map_err(|e| fail(e.to_string()))?;
        decode_key(&answer["Plaintext"])
            .ok_or_else(|| fail("no 256-bit plaintext key in the answer".into()))
    }

    async fn call(&self, action: &str, body: &Value) -> Result<Value, KekError> {
        let payload = serde_json::to_vec(body).map_err(|e| provider_error(e.to_string()))?;
        let target = format!("TrentService.{action}");
        let content_type = "application/x-amz-json-1.1";
        let request = sigv4::Request {
            method: "POST",
            host: &self.host,
            path: "/",
            query: "",
            headers: &[("content-type", content_type), ("x-amz-target", &target)],
            payload: &payload,
        };
        let signed = sigv4::sign(
            &request,
            &self.credentials,
            &self.region,
            "kms",
            &amz_date(),
        );
        let mut builder = self
            .http
            .post(&self.url)
            .header("content-type", content_type)
            .header("x-amz-target", &target);
        for (name, value) in signed {
            builder = builder.header(name, value);
        }
        let response = builder.body(payload).send().await.map_err(|e| {
            provider_error(format!(
                "cannot reach {}: {}",
                self.url,
                super::innermost_error(&e)
            ))
        })?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let kind = value["__type"].as_str().unwrap_or("error");
            let kind = kind.rsplit('#').next().unwrap_or(kind);
            let message = value["message"]
                .as_str()
                .or(value["Message"].as_str())
                .unwrap_or("");
            return Err(provider_error(format!(
                "{action}: {} {kind}: {message}",
                status.as_u16()
            )));
        }
        Ok(value)
    }
}

fn encryption_context(context: WrapContext<'_>) -> Value {
    json!({"mandate:workspace": context.workspace_id, "mandate:data_key": context.dek_kid})
}

fn decode_key(value: &Value) -> Option<Key256> {
    let bytes = Zeroizing::new(STANDARD.decode(value.as_str()?).ok()?);
    let array: [u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(Key256::from_bytes(array))
}

/// `YYYYMMDDTHHMMSSZ`, now, in UTC.
fn amz_date() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}
