//! OAuth apps: admins register them, the client secret is sealed to its row and never shown or
//! audited, generic providers need checked endpoints and hosts, and a data key rotation
//! re-encrypts the secret.

use reqwest::Method;
use serde_json::{Value, json};

use crate::people::{Backend, Client, Instance, people_suite};

people_suite!(oauth_apps_keep_their_secret_sealed_and_check_their_fields);

const SECRET: &str = "gh-client-secret-7f3a9c1e";

async fn sealed_secret(instance: &Instance, id: &str) -> Option<String> {
    mandate_store::on_pool!(&instance.state.db, pool => sqlx::query_scalar::<_, Option<String>>(
        "SELECT client_secret FROM oauth_apps WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await)
    .unwrap()
}

async fn post(client: &mut Client, body: Value) -> (u16, Value) {
    client.post("/v1/oauth-apps", body).await
}

async fn oauth_apps_keep_their_secret_sealed_and_check_their_fields(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let mut owner = instance.owner("owner@example.com").await;
    let (_, session) = owner.get("/api/auth/session").await;
    let ws: uuid::Uuid = session["workspace"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let (s, app) = post(
        &mut owner,
        json!({ "provider": "github", "name": "GitHub (Acme)", "clientId": "Iv1.acme", "clientSecret": SECRET }),
    )
    .await;
    assert_eq!(s, 201, "{app}");
    assert_eq!(app["hasClientSecret"], true);
    assert!(!app.to_string().contains(SECRET));
    let id = app["id"].as_str().unwrap().to_string();
    let (s, listed) = owner.get("/v1/oauth-apps").await;
    assert_eq!(s, 200);
    assert!(!listed.to_string().contains(SECRET));
    assert_eq!(listed["oauthApps"].as_array().unwrap().len(), 1);

    // Sealed, and bound to its row: it opens there and nowhere else.
    let envelope = sealed_secret(&instance, &id).await.unwrap();
    assert!(
        envelope.starts_with(r#"{"v":1,"alg":"A256GCM""#),
        "{envelope}"
    );
    assert!(!envelope.contains(SECRET));
    let vault = &instance.state.vault;
    let opened = vault
        .open(ws, "oauth_client_secret", &id, &envelope)
        .await
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET.as_bytes());
    assert!(
        vault
            .open(ws, "oauth_client_secret", "another-row", &envelope)
            .await
            .is_err()
    );

    // Field checks.
    for (body, says) in [
        (
            json!({ "provider": "openai", "name": "x", "clientId": "c" }),
            "pasted secret",
        ),
        (
            json!({ "provider": "nope", "name": "x", "clientId": "c" }),
            "no provider",
        ),
        (
            json!({ "provider": "github", "name": "x", "clientId": "c", "tokenUrl": "https://evil.example/token" }),
            "generic",
        ),
        (
            json!({ "provider": "generic_oauth2", "name": "x", "clientId": "c", "authorizeUrl": "https://idp.example/authorize", "apiHosts": ["api.example.com"] }),
            "tokenUrl",
        ),
        (
            json!({ "provider": "generic_oauth2", "name": "x", "clientId": "c", "authorizeUrl": "http://idp.example/authorize", "tokenUrl": "https://idp.example/token", "apiHosts": ["api.example.com"] }),
            "https",
        ),
        (
            json!({ "provider": "generic_oauth2", "name": "x", "clientId": "c", "authorizeUrl": "https://idp.example/authorize", "tokenUrl": "https://idp.example/token", "apiHosts": ["*.example.com"] }),
            "apiHosts",
        ),
        (
            json!({ "provider": "github", "name": "", "clientId": "c" }),
            "name",
        ),
    ] {
        let (s, v) = post(&mut owner, body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{body}: {v}");
    }
    let (s, v) = post(
        &mut owner,
        json!({ "provider": "generic_oauth2", "name": "Internal IdP", "clientId": "c",
                "authorizeUrl": "https://idp.example/authorize", "tokenUrl": "https://idp.example/token",
                "apiHosts": ["api.example.com"] }),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["hasClientSecret"], false);
    let (s, v) = post(
        &mut owner,
        json!({ "provider": "github", "name": "GitHub (Acme)", "clientId": "c" }),
    )
    .await;
    assert_eq!(s, 409, "{v}");

    // Changing and removing the secret.
    let path = format!("/v1/oauth-apps/{id}");
    let (s, v, _) = owner
        .send(Method::PATCH, &path, Some(json!({ "clientSecret": null })))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["hasClientSecret"], false);
    assert!(sealed_secret(&instance, &id).await.is_none());
    let (s, v, _) = owner
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "clientSecret": SECRET, "name": "GitHub" })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["hasClientSecret"].as_bool(), v["name"].as_str()),
        (Some(true), Some("GitHub"))
    );

    // A data key rotation re-encrypts it.
    let before = sealed_secret(&instance, &id).await.unwrap();
    owner.enrol_totp().await;
    let (s, v) = owner.post("/v1/keys/rotate-dek", json!(null)).await;
    assert_eq!(s, 202, "{v}");
    for _ in 0..100 {
        let (_, v) = owner.get("/v1/keys").await;
        if v["rotation"]["inProgress"] == json!(false) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after = sealed_secret(&instance, &id).await.unwrap();
    assert_ne!(before, after, "re-encrypted under the new data key");
    let opened = vault
        .open(ws, "oauth_client_secret", &id, &after)
        .await
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET.as_bytes());

    // Nothing of the secret in the audit log.
    instance.state.audit.flush().await.unwrap();
    let (s, records) = owner.get("/v1/audit?action=oauth_app.*&limit=100").await;
    assert_eq!(s, 200, "{records}");
    assert!(
        records["records"].as_array().unwrap().len() >= 4,
        "{records}"
    );
    assert!(!records.to_string().contains(SECRET));

    let (s, _, _) = owner.send(Method::DELETE, &path, None).await;
    assert_eq!(s, 200);
    let (s, _) = owner.get(&path).await;
    assert_eq!(s, 404);
    instance.stop().await;
}
