//! The azure-kv provider against recorded protocol exchanges. No real Azure peer can run on this
//! machine, so a small replay server on 127.0.0.1 answers with the exchanges in
//! `fixtures/azure_kv_exchanges.json`, written from Azure's REST reference (managed identity via
//! IMDS and App Service, Key Vault 7.4 secrets and `unwrapkey`). The replay server checks every
//! request (method, path, query, headers, body) against the recording; anything else gets a 404
//! and fails the test.

use std::time::Duration;

use mandate_crypto::kek::azure_kv::{AzureKvConfig, Identity, fetch_kek};
use serde_json::Value;
use zeroize::Zeroizing;

fn recording() -> Value {
    serde_json::from_str(include_str!("../fixtures/azure_kv_exchanges.json")).unwrap()
}

async fn replay() -> String {
    mandate_testkit::replay::serve(recording()["exchanges"].as_array().unwrap().clone()).await
}

fn config(base: &str, identity: Identity, client_id: Option<&str>, secret: &str) -> AzureKvConfig {
    AzureKvConfig {
        vault_uri: base.to_string(),
        kek_name: "data-encryption-kek".into(),
        kek_version: None,
        wrapped_secret: secret.into(),
        client_id: client_id.map(str::to_string),
        identity,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn imds_identity_reads_and_unwraps_the_kek() {
    let base = replay().await;
    let imds = Identity::Imds {
        url: format!("{base}/metadata/identity/oauth2/token"),
    };
    let kek = fetch_kek(&config(
        &base,
        imds,
        Some("7d3a1f9c-3b52-4c8e-9a0e-0c2f8e5b1d44"),
        "WRAPPED-DATA-KEY",
    ))
    .await
    .unwrap();
    assert_eq!(
        kek.to_hex().as_str(),
        recording()["kek_hex"].as_str().unwrap()
    );
}

#[tokio::test]
async fn app_service_identity_reads_and_unwraps_the_kek() {
    let base = replay().await;
    let identity = Identity::AppService {
        endpoint: format!("{base}/msi/token"),
        header: Zeroizing::new("3f0b0c1c-identity-header".into()),
    };
    let kek = fetch_kek(&config(&base, identity, None, "WRAPPED-DATA-KEY"))
        .await
        .unwrap();
    assert_eq!(
        kek.to_hex().as_str(),
        recording()["kek_hex"].as_str().unwrap()
    );
}

#[tokio::test]
async fn refusals_and_outages_name_the_step_and_azure_error() {
    let base = replay().await;
    let imds = || Identity::Imds {
        url: format!("{base}/metadata/identity/oauth2/token"),
    };
    let client = Some("7d3a1f9c-3b52-4c8e-9a0e-0c2f8e5b1d44");
    let forbidden = fetch_kek(&config(&base, imds(), client, "NOT-ALLOWED"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        forbidden.contains(
            "reading the wrapped key secret: 403 Forbidden: The user, group or application"
        ),
        "{forbidden}"
    );
    assert!(!forbidden.contains(recording()["access_token"].as_str().unwrap()));

    // Another identity than the recorded one: the token request itself is refused.
    let wrong_client = fetch_kek(&config(
        &base,
        imds(),
        Some("00000000-0000-0000-0000-000000000000"),
        "WRAPPED-DATA-KEY",
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        wrong_client.contains("getting a managed identity token: 404"),
        "{wrong_client}"
    );

    let port = mandate_testkit::free_port();
    let down = Identity::Imds {
        url: format!("http://127.0.0.1:{port}/metadata/identity/oauth2/token"),
    };
    let outage = fetch_kek(&config(&base, down, client, "WRAPPED-DATA-KEY"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        outage.contains("getting a managed identity token: cannot reach Azure"),
        "{outage}"
    );
}
