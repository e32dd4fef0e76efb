//! First-run setup: needs the setup token, happens once even when many attempts race, audited.

use serde_json::json;

use super::{Backend, Instance, PASSWORD, SETUP_TOKEN, people_suite};

people_suite!(setup_needs_the_token_and_happens_exactly_once);

async fn setup_needs_the_token_and_happens_exactly_once(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let mut anyone = instance.client();
    let (s, v) = anyone.get("/api/setup").await;
    assert_eq!((s, v["setupRequired"].as_bool()), (200, Some(true)));

    let (s, v) = anyone
        .post(
            "/api/setup",
            json!({ "setupToken": "wrong-token-wrong-token-wrong-token!!", "email": "eve@example.com",
                    "password": PASSWORD, "workspaceName": "Evil" }),
        )
        .await;
    assert_eq!(s, 401, "{v}");

    // Many attempts at once, each with the right token: the database lets one through.
    let attempts = (0..16).map(|i| {
        let mut c = instance.client();
        async move {
            c.post(
                "/api/setup",
                json!({ "setupToken": SETUP_TOKEN, "email": format!("owner{i}@example.com"),
                        "password": PASSWORD, "workspaceName": format!("W{i}") }),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let created: Vec<_> = results.iter().filter(|(s, _)| *s == 201).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    for (s, v) in &results {
        assert!([201, 409, 429].contains(s), "{s} {v}");
        if *s != 201 {
            assert!(v["error"].is_string(), "{v}");
        }
    }
    let db = &instance.state.db;
    let owners = mandate_store::people::memberships::list(
        db,
        created[0].1["workspace"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(owners.len(), 1);
    assert!(mandate_store::people::setup::is_done(db).await.unwrap());
    let (s, v) = anyone.get("/api/setup").await;
    assert_eq!((s, v["setupRequired"].as_bool()), (200, Some(false)));

    // The winner is signed in; the setup is in the audit log once.
    let filter = mandate_store::audit::AuditFilter {
        action: Some("auth.setup.completed".into()),
        ..Default::default()
    };
    instance.state.audit.flush().await.unwrap();
    let rows = mandate_store::audit::newest_first(db, &filter, None, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    instance.stop().await;
}
