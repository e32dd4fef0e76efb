//! Data key rotation from the API: owner only, with a fresh second factor; runs in the
//! background and `GET /v1/keys` shows where it is.

use serde_json::json;

use super::{Backend, Instance, people_suite};

people_suite!(data_key_rotation_runs_in_the_background_with_a_status);

/// The workspace's newest audit records of `action`.
async fn records(
    instance: &Instance,
    ws: uuid::Uuid,
    action: &str,
) -> Vec<mandate_store::audit::AuditRow> {
    mandate_store::audit::newest_first(
        &instance.state.db,
        &mandate_store::audit::AuditFilter {
            action: Some(action.into()),
            workspace_id: Some(ws),
            ..Default::default()
        },
        None,
        10,
    )
    .await
    .unwrap()
}

async fn data_key_rotation_runs_in_the_background_with_a_status(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let mut owner = instance.owner("owner@example.com").await;
    let (_, session) = owner.get("/api/auth/session").await;
    let ws: uuid::Uuid = session["workspace"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // A workspace gets its data key with its first secret.
    instance
        .state
        .vault
        .seal(ws, "test", "row-1", b"a secret")
        .await
        .unwrap();
    let (s, before) = owner.get("/v1/keys").await;
    assert_eq!(s, 200, "{before}");
    assert_eq!(before["rotation"]["inProgress"], json!(false));
    let old_kid = before["dataKeys"][0]["kid"].clone();
    assert!(old_kid.is_string(), "{before}");

    let (s, v) = owner.post("/v1/keys/rotate-dek", json!(null)).await;
    assert_eq!(s, 403, "without a fresh second factor: {v}");
    owner.enrol_totp().await; // confirming the authenticator counts as a fresh second factor
    // A rotation that fails part-way is finished by starting it again (the documented recovery),
    // so one rerun is allowed and the failure is printed. (What failed here under load before
    // was the status, not the rotation: it read the keys before asking whether a rotation ran.)
    let mut status = json!(null);
    let mut failed_before = 0;
    for attempt in 0..2 {
        let (s, v) = owner.post("/v1/keys/rotate-dek", json!(null)).await;
        assert_eq!(s, 202, "{v}");
        assert!(v["auditId"].is_string());
        for _ in 0..100 {
            let (s, v) = owner.get("/v1/keys").await;
            assert_eq!(s, 200, "{v}");
            status = v;
            if status["rotation"]["inProgress"] == json!(false) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status["rotation"]["inProgress"], json!(false), "{status}");
        instance.state.audit.flush().await.unwrap();
        let failures = records(&instance, ws, "keys.operation.failed").await;
        let details: Vec<_> = failures.iter().map(|f| f.entry.details.clone()).collect();
        if details.len() == failed_before {
            break;
        }
        failed_before = details.len();
        eprintln!("data key rotation attempt {attempt} failed: {details:?}");
        assert_eq!(attempt, 0, "the rerun failed too: {details:?}");
    }
    let keys = status["dataKeys"].as_array().unwrap();
    assert_eq!(
        keys.len(),
        1,
        "the old key is retired once nothing uses it: {status}"
    );
    assert_eq!(keys[0]["state"], "active");
    assert_ne!(keys[0]["kid"], old_kid, "{status}");
    instance.state.audit.flush().await.unwrap();
    let rows = records(&instance, ws, "keys.dek.rotated").await;
    assert_eq!(rows.len(), 1);
    instance.stop().await;
}
