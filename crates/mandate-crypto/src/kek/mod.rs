//! Key encryption keys (KEK): they wrap and unwrap the per-workspace data keys (DEK). Which
//! provider is used is chosen by `ENCRYPTION_KEY_MODE`; every provider wraps the same way from
//! the caller's point of view:
//!
//! - `wrap(dek, context)` gives a [`WrappedDek`]: the id of the KEK that wrapped it and an opaque
//!   text to store;
//! - `unwrap(wrapped, context)` gives the DEK back, or a clear error.
//!
//! The context (workspace and DEK id) is bound into the wrapping, so a wrapped DEK copied to
//! another workspace or key id does not unwrap.
//!
//! Dispatch is a plain enum rather than a trait object: providers are few, known at compile time,
//! and the cloud ones are cargo features.

#[cfg(feature = "aws-kms")]
mod aws_kms;
#[cfg(feature = "azure-kv")]
pub mod azure_kv;
mod env;
#[cfg(feature = "aws-kms")]
pub mod sigv4;
#[cfg(feature = "vault-transit")]
mod vault_transit;

#[cfg(feature = "aws-kms")]
pub use aws_kms::{AwsKmsConfig, AwsKmsKek};
pub use env::EnvKek;
#[cfg(feature = "vault-transit")]
pub use vault_transit::{TransitAuth, TransitConfig, TransitKek};

use crate::Key256;

/// What a DEK is wrapped for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrapContext<'a> {
    pub workspace_id: &'a str,
    pub dek_kid: &'a str,
}

/// A DEK as stored: which KEK wrapped it, and the provider's wrapped text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedDek {
    pub kek_id: String,
    pub wrapped: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KekError {
    /// The DEK was wrapped by a KEK this process does not hold (e.g. after ENCRYPTION_KEY changed
    /// without ENCRYPTION_KEY_PREVIOUS).
    #[error(
        "data key {dek_kid} was wrapped by key encryption key {kek_id}, which is not configured"
    )]
    UnknownKek { kek_id: String, dek_kid: String },
    #[error("data key {dek_kid} does not unwrap: {reason}")]
    Unwrap { dek_kid: String, reason: String },
    #[error("cannot wrap data key {dek_kid}: {reason}")]
    Wrap { dek_kid: String, reason: String },
    /// The provider (a KMS) could not be reached or refused the call.
    #[error("key provider {provider}: {reason}")]
    Provider {
        provider: &'static str,
        reason: String,
    },
}

/// The configured key encryption key(s).
#[derive(Debug)]
pub enum Kek {
    Env(EnvKek),
    /// The KEK from an age file, held like `env` once opened.
    Age(EnvKek),
    /// The KEK unwrapped by Azure Key Vault at start, held like `env`.
    AzureKv(EnvKek),
    #[cfg(feature = "vault-transit")]
    VaultTransit(TransitKek),
    #[cfg(feature = "aws-kms")]
    AwsKms(AwsKmsKek),
}

impl Kek {
    /// Short name of the provider, as in ENCRYPTION_KEY_MODE.
    pub fn provider(&self) -> &'static str {
        match self {
            Kek::Env(_) => "env",
            Kek::Age(_) => "age",
            Kek::AzureKv(_) => "azure-kv",
            #[cfg(feature = "vault-transit")]
            Kek::VaultTransit(_) => "vault-transit",
            #[cfg(feature = "aws-kms")]
            Kek::AwsKms(_) => "aws-kms",
        }
    }

    /// Id of the KEK new wraps use.
    pub fn current_id(&self) -> String {
        match self {
            Kek::Env(k) | Kek::Age(k) | Kek::AzureKv(k) => k.current_id().to_string(),
            #[cfg(feature = "vault-transit")]
            Kek::VaultTransit(k) => k.current_id(),
            #[cfg(feature = "aws-kms")]
            Kek::AwsKms(k) => k.current_id(),
        }
    }

    /// Ids of every KEK this process can unwrap with (current first).
    pub fn held_ids(&self) -> Vec<String> {
        match self {
            Kek::Env(k) | Kek::Age(k) | Kek::AzureKv(k) => std::iter::once(k.current_id())
                .chain(k.previous_id())
                .map(str::to_string)
                .collect(),
            #[cfg(feature = "vault-transit")]
            Kek::VaultTransit(k) => k.held_ids(),
            #[cfg(feature = "aws-kms")]
            Kek::AwsKms(k) => vec![k.current_id()],
        }
    }

    /// Re-read what the provider holds (a Transit key may have been rotated meanwhile).
    pub async fn refresh(&self) -> Result<(), KekError> {
        match self {
            Kek::Env(_) | Kek::Age(_) | Kek::AzureKv(_) => Ok(()),
            #[cfg(feature = "aws-kms")]
            Kek::AwsKms(_) => Ok(()),
            #[cfg(feature = "vault-transit")]
            Kek::VaultTransit(k) => k.refresh().await,
        }
    }

    pub async fn wrap(
        &self,
        dek: &Key256,
        context: WrapContext<'_>,
    ) -> Result<WrappedDek, KekError> {
        match self {
            Kek::Env(k) | Kek::Age(k) | Kek::AzureKv(k) => k.wrap(dek, context),
            #[cfg(feature = "vault-transit")]
            Kek::VaultTransit(k) => k.wrap(dek, context).await,
            #[cfg(feature = "aws-kms")]
            Kek::AwsKms(k) => k.wrap(dek, context).await,
        }
    }

    pub async fn unwrap(
        &self,
        wrapped: &WrappedDek,
        context: WrapContext<'_>,
    ) -> Result<Key256, KekError> {
        match self {
            Kek::Env(k) | Kek::Age(k) | Kek::AzureKv(k) => k.unwrap(wrapped, context),
            #[cfg(feature = "vault-transit")]
            Kek::VaultTransit(k) => k.unwrap(wrapped, context).await,
            #[cfg(feature = "aws-kms")]
            Kek::AwsKms(k) => k.unwrap(wrapped, context).await,
        }
    }

    /// Rotate the KEK at the provider, where the provider can (Transit: a new key version; KMS:
    /// on-demand rotation of the key material). Returns false for `env` and `age`, whose new key
    /// the operator supplies in the configuration.
    pub async fn rotate_at_provider(&self) -> Result<bool, KekError> {
        match self {
            Kek::Env(_) | Kek::Age(_) | Kek::AzureKv(_) => Ok(false),
            #[cfg(feature = "vault-transit")]
            Kek::VaultTransit(k) => k.rotate().await.map(|()| true),
            #[cfg(feature = "aws-kms")]
            Kek::AwsKms(k) => k.rotate().await.map(|()| true),
        }
    }

    /// A new data key and its wrapped form. KMS providers that generate keys themselves
    /// (AWS KMS `GenerateDataKey`) do; the others draw it here and wrap it.
    pub async fn generate_dek(
        &self,
        context: WrapContext<'_>,
    ) -> Result<(Key256, WrappedDek), KekError> {
        #[cfg(feature = "aws-kms")]
        if let Kek::AwsKms(k) = self {
            return k.generate(context).await;
        }
        let dek = Key256::generate().map_err(|e| KekError::Wrap {
            dek_kid: context.dek_kid.to_string(),
            reason: e.to_string(),
        })?;
        let wrapped = self.wrap(&dek, context).await?;
        Ok((dek, wrapped))
    }

    /// Check at start that the provider answers: wrap and unwrap a throwaway key.
    pub async fn self_test(&self) -> Result<(), KekError> {
        let probe = Key256::generate().map_err(|e| KekError::Provider {
            provider: self.provider(),
            reason: e.to_string(),
        })?;
        let context = WrapContext {
            workspace_id: "self-test",
            dek_kid: "self-test",
        };
        let wrapped = self.wrap(&probe, context).await?;
        let back = self.unwrap(&wrapped, context).await?;
        if back != probe {
            return Err(KekError::Provider {
                provider: self.provider(),
                reason: "a wrapped key came back different".into(),
            });
        }
        Ok(())
    }
}

/// The innermost cause of an HTTP client error ("Connection refused", a TLS problem...): reqwest's
/// own text repeats the URL, which the callers already name.
#[cfg(any(feature = "vault-transit", feature = "aws-kms", feature = "azure-kv"))]
fn innermost_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text = inner.to_string();
        source = inner.source();
    }
    text
}

/// The bytes a provider binds a wrapped DEK to: length-prefixed workspace and DEK id.
pub fn context_bytes(context: WrapContext<'_>) -> Vec<u8> {
    let mut out = b"mandate.dek".to_vec();
    for part in [context.workspace_id, context.dek_kid] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}
