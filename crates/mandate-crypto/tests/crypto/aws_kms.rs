//! The aws-kms KEK provider against a real moto server (PyPI `moto[server]`), which speaks KMS's
//! JSON protocol. moto does not check SigV4 signatures; the signer is checked against AWS's
//! published test vectors in `kek::sigv4`.

use std::time::Duration;

use mandate_crypto::Key256;
use mandate_crypto::kek::sigv4::Credentials;
use mandate_crypto::kek::{AwsKmsConfig, AwsKmsKek, Kek, KekError, WrapContext};
use mandate_testkit::moto::{ACCESS_KEY_ID, MotoServer, REGION, SECRET_ACCESS_KEY};
use zeroize::Zeroizing;

const CTX: WrapContext<'static> = WrapContext {
    workspace_id: "ws-1",
    dek_kid: "dek-1",
};

fn config(moto: &MotoServer, key_id: &str) -> AwsKmsConfig {
    AwsKmsConfig {
        key_id: key_id.into(),
        region: REGION.into(),
        endpoint: Some(moto.endpoint.clone()),
        credentials: Credentials {
            access_key_id: ACCESS_KEY_ID.into(),
            secret_access_key: Zeroizing::new(SECRET_ACCESS_KEY.into()),
            session_token: None,
        },
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn generates_wraps_and_unwraps_bound_to_the_context() {
    let moto = MotoServer::start();
    let arn = moto.create_key();
    let kek = Kek::AwsKms(AwsKmsKek::connect(config(&moto, &arn)).await.unwrap());
    kek.self_test().await.unwrap();
    assert_eq!(kek.current_id(), format!("aws-kms:{arn}"));

    let (dek, wrapped) = kek.generate_dek(CTX).await.unwrap();
    assert_eq!(wrapped.kek_id, kek.current_id());
    assert_eq!(kek.unwrap(&wrapped, CTX).await.unwrap(), dek);

    let mine = Key256::generate().unwrap();
    let rewrapped = kek.wrap(&mine, CTX).await.unwrap();
    assert_eq!(kek.unwrap(&rewrapped, CTX).await.unwrap(), mine);

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
    }
}

#[tokio::test]
async fn aliases_resolve_and_key_rotation_keeps_old_wraps_open() {
    let moto = MotoServer::start();
    let arn = moto.create_key();
    moto.boto3_kms(&format!(
        "kms.create_alias(AliasName='alias/mandate', TargetKeyId='{arn}')"
    ));
    let kek = Kek::AwsKms(
        AwsKmsKek::connect(config(&moto, "alias/mandate"))
            .await
            .unwrap(),
    );
    assert_eq!(
        kek.current_id(),
        format!("aws-kms:{arn}"),
        "the alias resolves to the key ARN"
    );
    let (dek, wrapped) = kek.generate_dek(CTX).await.unwrap();

    // KMS keeps earlier key material for Decrypt after an on-demand rotation.
    moto.boto3_kms(&format!("kms.rotate_key_on_demand(KeyId='{arn}')"));
    assert_eq!(kek.unwrap(&wrapped, CTX).await.unwrap(), dek);
    let (_, after) = kek.generate_dek(CTX).await.unwrap();
    assert_eq!(after.kek_id, wrapped.kek_id, "same key, same KEK id");
}

#[tokio::test]
async fn unusable_keys_and_servers_say_what_is_wrong() {
    let moto = MotoServer::start();
    let missing = AwsKmsKek::connect(config(&moto, "alias/nope"))
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("NotFoundException"), "{missing}");

    let arn = moto.create_key();
    // Not covered: a key that is not Enabled. The moto release on PyPI answers DisableKey and
    // ScheduleKeyDeletion with a 500, so no such key can be made here; the check reads KeyState.

    let signing = moto.boto3_kms("print(kms.create_key(KeyUsage='SIGN_VERIFY', KeySpec='ECC_NIST_P256')['KeyMetadata']['Arn'])");
    let wrong = AwsKmsKek::connect(config(&moto, &signing))
        .await
        .unwrap_err()
        .to_string();
    assert!(wrong.contains("not a symmetric encryption key"), "{wrong}");

    let port = mandate_testkit::free_port();
    let mut down = config(&moto, &arn);
    down.endpoint = Some(format!("http://127.0.0.1:{port}"));
    let down = AwsKmsKek::connect(down).await.unwrap_err().to_string();
    assert!(down.contains("cannot reach http://127.0.0.1:"), "{down}");
    assert!(!down.contains(SECRET_ACCESS_KEY));

    // A blob wrapped under another key is refused, not decrypted with it.
    let other = moto.create_key();
    let a = Kek::AwsKms(AwsKmsKek::connect(config(&moto, &other)).await.unwrap());
    let moto_key = moto.create_key();
    let b = Kek::AwsKms(AwsKmsKek::connect(config(&moto, &moto_key)).await.unwrap());
    let (_, wrapped) = a.generate_dek(CTX).await.unwrap();
    assert!(matches!(
        b.unwrap(&wrapped, CTX).await,
        Err(KekError::UnknownKek { .. })
    ));
}
