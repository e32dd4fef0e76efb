//! mandate-crypto against real peers: files from the age CLI, OpenBao Transit, moto for AWS KMS,
//! recorded Azure exchanges, PyJWT and openssl for signing keys. One test binary (link time on
//! 2 cores), one module per topic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

mod age;
#[cfg(feature = "aws-kms")]
mod aws_kms;
#[cfg(feature = "azure-kv")]
mod azure_kv;
mod signing;
#[cfg(feature = "vault-transit")]
mod vault_transit;
