//! mandate-server end to end, in process: the HTTP stack, the vault on both backends, the KEK
//! providers, signing keys. One test binary (link time on 2 cores), one module per topic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

mod http;
#[cfg(all(feature = "vault-transit", feature = "aws-kms", feature = "azure-kv"))]
mod kek_providers;
mod signing;
mod vault;
