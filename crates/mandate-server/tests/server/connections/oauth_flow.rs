//! The OAuth connect flow against a real authorization server: PKCE, tokens sealed to the row,
//! a state that works once, only for the session that started it; consent denied, provider
//! errors and a missing refresh token store nothing; people see metadata and state only.

use serde_json::json;

use super::{CLIENT_SECRET, World, audit_dump, authorize, connect, sealed_credential};
use crate::people::{Backend, PASSWORD, people_suite};

people_suite!(
    connecting_stores_sealed_tokens_and_answers_metadata_only,
    a_state_works_once_and_only_for_its_session,
    refused_consent_and_provider_errors_store_nothing,
);

async fn connection_count(world: &mut World) -> usize {
    let (s, v) = world.owner.get("/v1/connections").await;
    assert_eq!(s, 200, "{v}");
    v["connections"].as_array().unwrap().len()
}

async fn connecting_stores_sealed_tokens_and_answers_metadata_only(backend: Backend) {
    let mut w = World::start(backend).await;
    let (s, c) = connect(
        &mut w.owner,
        json!({ "oauthAppId": w.app_id, "label": "Team inbox", "scopes": ["mail.read"] }),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["state"], "active");
    assert_eq!(c["label"], "Team inbox");
    assert_eq!(c["hasRefreshToken"], true);
    assert!(c["auditId"].is_string());
    assert!(c["accessExpiresAt"].is_string());
    let id = c["id"].as_str().unwrap().to_string();

    // The code was exchanged once, with the PKCE verifier (the peer checks it against the
    // challenge) and the client secret in the form body.
    let exchanges = w.peer.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    assert_eq!(exchanges[0]["codeVerifier"], true);
    assert_eq!(exchanges[0]["clientSecret"], CLIENT_SECRET);

    // Sealed to the row: the envelope opens as this connection's credential and nowhere else.
    let sealed = sealed_credential(&w.instance, &id).await.unwrap();
    assert!(sealed.starts_with(r#"{"v":1,"alg":"A256GCM""#), "{sealed}");
    let credential = mandate_server::connections::credential::Credential::open(
        &w.instance.state.vault,
        w.workspace,
        &id,
        &sealed,
    )
    .await
    .unwrap();
    let access = credential.api_token().unwrap().to_string();
    let refresh = credential.refresh_token().unwrap().to_string();
    assert!(access.starts_with("at-") && refresh.starts_with("rt-"));
    assert!(!sealed.contains(&access) && !sealed.contains(&refresh));
    assert!(
        mandate_server::connections::credential::Credential::open(
            &w.instance.state.vault,
            w.workspace,
            "another-row",
            &sealed
        )
        .await
        .is_err()
    );

    // Listing and showing: metadata and state, never a token.
    let (s, listed) = w.owner.get("/v1/connections").await;
    assert_eq!(s, 200);
    let (s, shown) = w.owner.get(&format!("/v1/connections/{id}")).await;
    assert_eq!(s, 200);
    for answer in [&c, &listed, &shown] {
        let text = answer.to_string();
        assert!(
            !text.contains(&access) && !text.contains(&refresh) && !text.contains(CLIENT_SECRET)
        );
    }
    assert_eq!(listed["connections"][0]["id"], id.as_str());
    // The scopes the provider says it granted (this one answers `dummy` to every request).
    assert_eq!(shown["scopes"], json!(["dummy"]));
    let (text, actions) = audit_dump(&w.instance).await;
    assert!(
        actions.iter().any(|a| a == "connection.created"),
        "{actions:?}"
    );
    assert!(!text.contains(&access) && !text.contains(&refresh) && !text.contains(CLIENT_SECRET));
}

async fn a_state_works_once_and_only_for_its_session(backend: Backend) {
    let mut w = World::start(backend).await;
    let (s, started) = w
        .owner
        .post(
            "/v1/connections/oauth/start",
            json!({ "oauthAppId": w.app_id }),
        )
        .await;
    assert_eq!(s, 200, "{started}");
    let callback = authorize(started["authorizationUrl"].as_str().unwrap()).await;

    // Another session of the same person cannot finish it, and does not burn it.
    let mut other = w.instance.client();
    let (s, v) = other.login("owner@example.com", PASSWORD).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = other.get(&callback).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("another browser session"),
        "{v}"
    );

    let (s, v) = w.owner.get(&callback).await;
    assert_eq!(s, 200, "{v}");
    // Replayed: refused, and no second code exchange happened.
    let (s, v) = w.owner.get(&callback).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["hint"].is_string());
    assert_eq!(w.peer.token_requests("authorization_code").len(), 1);

    // A made-up state, or none.
    let (s, _) = w
        .owner
        .get("/v1/connections/oauth/callback?code=x&state=forged")
        .await;
    assert_eq!(s, 400);
    let (s, v) = w.owner.get("/v1/connections/oauth/callback?code=x").await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("state"), "{v}");
    assert_eq!(connection_count(&mut w).await, 1);

    // An expired flow is refused (its expiry moved into the past).
    let (s, started) = w
        .owner
        .post(
            "/v1/connections/oauth/start",
            json!({ "oauthAppId": w.app_id }),
        )
        .await;
    assert_eq!(s, 200);
    let callback = authorize(started["authorizationUrl"].as_str().unwrap()).await;
    let past = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    mandate_store::on_pool!(&w.instance.state.db, pool => sqlx::query("UPDATE oauth_connect_flows SET expires_at = $1")
        .bind(past)
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
    let (s, _) = w.owner.get(&callback).await;
    assert_eq!(s, 400);
    assert_eq!(connection_count(&mut w).await, 1);

    // A personal access token cannot start one (the consent needs the browser session).
    let (_, pat) = w
        .owner
        .post(
            "/v1/tokens",
            json!({ "name": "script", "access": "write", "expiresInDays": 1 }),
        )
        .await;
    let mut script = w.owner.with_bearer(pat["token"].as_str().unwrap());
    let (s, v) = script
        .post(
            "/v1/connections/oauth/start",
            json!({ "oauthAppId": w.app_id }),
        )
        .await;
    assert_eq!(s, 400, "{v}");
}

async fn refused_consent_and_provider_errors_store_nothing(backend: Backend) {
    let mut w = World::start(backend).await;

    w.peer
        .set(json!({ "authorizeError": "access_denied" }))
        .await;
    let (s, v) = connect(&mut w.owner, json!({ "oauthAppId": w.app_id })).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("consent was denied"),
        "{v}"
    );
    assert!(w.peer.token_requests("authorization_code").is_empty());

    w.peer
        .set(json!({ "authorizeError": null, "tokenError": "invalid_client" }))
        .await;
    let (s, v) = connect(&mut w.owner, json!({ "oauthAppId": w.app_id })).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("invalid_client"),
        "{v}"
    );

    // A provider whose catalog entry requires a refresh token, answering without one.
    w.peer
        .set(json!({ "tokenError": null, "omitRefresh": true }))
        .await;
    let catalog = mandate_testkit::TempDir::new("catalog");
    let file = catalog.path().join("providers.toml");
    std::fs::write(
        &file,
        format!(
            "[[provider]]\nid = \"peer\"\nname = \"Peer\"\nauth = \"oauth2\"\nauthorize_url = \"{b}/authorize\"\ntoken_url = \"{b}/token\"\napi_hosts = [\"api.example.com\"]\ninject = {{ kind = \"bearer\" }}\nrefresh = \"refresh_token\"\nrefresh_token_required = true\n",
            b = w.peer.base
        ),
    )
    .unwrap();
    let strict = crate::people::Instance::start(
        backend,
        &[
            ("SSRF_ALLOW_PRIVATE", "true"),
            ("PROVIDER_CATALOG_FILE", file.to_str().unwrap()),
        ],
    )
    .await;
    let mut owner = strict.owner("owner@example.com").await;
    let (s, app) = owner
        .post(
            "/v1/oauth-apps",
            json!({ "provider": "peer", "name": "Peer", "clientId": "c" }),
        )
        .await;
    assert_eq!(s, 201, "{app}");
    let (s, v) = connect(&mut owner, json!({ "oauthAppId": app["id"] })).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("no refresh token"),
        "{v}"
    );
    let (_, listed) = owner.get("/v1/connections").await;
    assert_eq!(listed["connections"].as_array().unwrap().len(), 0);
    // Public client (no secret): the client id goes in the form, no secret.
    let last = w.peer.token_requests("authorization_code").pop().unwrap();
    assert_eq!(last["clientSecret"], serde_json::Value::Null);

    assert_eq!(connection_count(&mut w).await, 0);
    let (_, actions) = audit_dump(&w.instance).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "connection.connect_failed")
            .count(),
        2,
        "{actions:?}"
    );
    strict.stop().await;
}
