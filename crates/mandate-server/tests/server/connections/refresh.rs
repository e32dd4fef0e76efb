//! Refresh: before expiry and after a 401, rotated refresh tokens persisted, a missing one kept,
//! `invalid_grant` to `needs_reauth` with re-consent, and the concurrency rule: 50 uses of an
//! expired connection over two replicas on one PostgreSQL make exactly one refresh request.

use mandate_server::connections::access::{
    AccessError, credential_after_rejection, credential_for_use,
};
use serde_json::json;

use super::{World, audit_dump, connect};
use crate::people::{Backend, people_suite};

people_suite!(
    tokens_are_refreshed_rotated_and_kept,
    invalid_grant_needs_reauth_and_reconnect_restores,
    fifty_concurrent_uses_refresh_once,
);

/// A connection whose access token expires within the refresh margin.
async fn expiring_connection(w: &mut World) -> String {
    w.peer.set(json!({ "expiresIn": 30 })).await;
    let (s, c) = connect(&mut w.owner, json!({ "oauthAppId": w.app_id })).await;
    assert_eq!(s, 200, "{c}");
    w.peer.set(json!({ "expiresIn": 3600 })).await;
    c["id"].as_str().unwrap().to_string()
}

fn token(u: &mandate_server::connections::access::Usable) -> String {
    u.credential.api_token().unwrap().to_string()
}

async fn tokens_are_refreshed_rotated_and_kept(backend: Backend) {
    let mut w = World::start(backend).await;
    let id = expiring_connection(&mut w).await;
    let state = w.instance.state.clone();

    // Expiring: the first use refreshes, with the refresh token from the connect flow.
    let first = credential_for_use(&state, w.workspace, &id).await.unwrap();
    let refreshes = w.peer.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1);
    let original_rt = refreshes[0]["refreshToken"].as_str().unwrap().to_string();
    // Fresh now: no second refresh.
    let again = credential_for_use(&state, w.workspace, &id).await.unwrap();
    assert_eq!(token(&again), token(&first));
    assert_eq!(w.peer.token_requests("refresh_token").len(), 1);

    // After a 401: refreshed with the rotated refresh token (the peer refuses used ones).
    let after = credential_after_rejection(&state, w.workspace, &id, &token(&first))
        .await
        .unwrap();
    assert_ne!(token(&after), token(&first));
    let refreshes = w.peer.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 2);
    assert_ne!(refreshes[1]["refreshToken"], original_rt.as_str());
    // A 401 for a token already replaced does not refresh again.
    let stale = credential_after_rejection(&state, w.workspace, &id, &token(&first))
        .await
        .unwrap();
    assert_eq!(token(&stale), token(&after));
    assert_eq!(w.peer.token_requests("refresh_token").len(), 2);

    // The provider sends no new refresh token: the old one is kept and still works.
    w.peer.set(json!({ "omitRefresh": true })).await;
    let kept_from = w.peer.token_requests("refresh_token").len();
    let third = credential_after_rejection(&state, w.workspace, &id, &token(&after))
        .await
        .unwrap();
    assert_eq!(
        third.credential.refresh_token().map(str::to_string),
        after.credential.refresh_token().map(str::to_string)
    );
    w.peer.set(json!({ "omitRefresh": false })).await;
    credential_after_rejection(&state, w.workspace, &id, &token(&third))
        .await
        .unwrap();
    let refreshes = w.peer.token_requests("refresh_token");
    assert_eq!(refreshes.len(), kept_from + 2);
    assert_eq!(
        refreshes[kept_from]["refreshToken"],
        refreshes[kept_from + 1]["refreshToken"]
    );

    let (_, listed) = w.owner.get("/v1/connections").await;
    assert_eq!(listed["connections"][0]["state"], "active");
    assert!(listed["connections"][0]["lastRefreshedAt"].is_string());
    let (text, actions) = audit_dump(&w.instance).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "connection.refreshed")
            .count(),
        4
    );
    assert!(!text.contains(&token(&third)));
}

async fn invalid_grant_needs_reauth_and_reconnect_restores(backend: Backend) {
    let mut w = World::start(backend).await;
    let id = expiring_connection(&mut w).await;
    let state = w.instance.state.clone();
    // People hear of it by mail (a real SMTP server).
    let smtp = mandate_testkit::smtp::SmtpServer::start();
    let (s, v) = w
        .owner
        .post(
            "/v1/notification-channels",
            json!({"kind": "email", "name": "admins", "smtpHost": "127.0.0.1", "smtpPort": smtp.port,
                   "smtpTls": "none", "from": "mandate@example.com", "to": ["admins@example.com"],
                   "events": ["connection.needs_reauth"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    w.peer.invalidate_refresh_tokens().await;

    match credential_for_use(&state, w.workspace, &id).await {
        Err(AccessError::NeedsReauth(why)) => assert!(why.contains("invalid_grant"), "{why}"),
        other => panic!("expected needs_reauth, got {:?}", other.err()),
    }
    // Stays so without calling the provider again.
    assert!(matches!(
        credential_for_use(&state, w.workspace, &id).await,
        Err(AccessError::NeedsReauth(_))
    ));
    assert_eq!(w.peer.token_requests("refresh_token").len(), 1);
    let (_, shown) = w.owner.get(&format!("/v1/connections/{id}")).await;
    assert_eq!(shown["state"], "needs_reauth");
    assert!(
        shown["hint"].as_str().unwrap().contains("reconnect"),
        "{shown}"
    );
    let (_, actions) = audit_dump(&w.instance).await;
    assert!(
        actions.iter().any(|a| a == "connection.needs_reauth"),
        "{actions:?}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mail = loop {
        if let Some(m) = smtp.messages().pop() {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail about the re-auth"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(mail.contains("needs to be connected again"), "{mail}");
    assert!(
        mail.contains("invalid_grant"),
        "the provider's reason: {mail}"
    );

    // Re-consent replaces the credential of the same connection.
    let (s, started) = w
        .owner
        .post(
            &format!("/v1/connections/{id}/reconnect"),
            json!({ "oauthAppId": w.app_id }),
        )
        .await;
    assert_eq!(s, 200, "{started}");
    let callback = super::authorize(started["authorizationUrl"].as_str().unwrap()).await;
    let (s, c) = w.owner.get(&callback).await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["state"], "active");
    credential_for_use(&state, w.workspace, &id).await.unwrap();
    let (_, listed) = w.owner.get("/v1/connections").await;
    assert_eq!(listed["connections"].as_array().unwrap().len(), 1);
}

/// 50 concurrent uses of a connection whose access token has expired: on PostgreSQL spread over
/// two replicas, on SQLite (one process owns the file) over one. Exactly one refresh request
/// reaches the token endpoint (slowed down so the uses overlap) and every use gets its token.
async fn fifty_concurrent_uses_refresh_once(backend: Backend) {
    let mut w = World::start(backend).await;
    let id = expiring_connection(&mut w).await;
    w.peer.set(json!({ "delayMs": 300 })).await;
    let replica = match backend {
        Backend::Postgres => Some(w.instance.replica().await),
        Backend::Sqlite => None,
    };
    let states = [
        w.instance.state.clone(),
        replica
            .as_ref()
            .map_or_else(|| w.instance.state.clone(), |r| r.state.clone()),
    ];
    let before = w.peer.token_requests("refresh_token").len();
    let uses = (0..50).map(|i| {
        let state = states[i % 2].clone();
        let id = id.clone();
        let ws = w.workspace;
        tokio::spawn(async move { credential_for_use(&state, ws, &id).await.map(|u| token(&u)) })
    });
    let tokens: Vec<String> = futures_util::future::join_all(uses)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(w.peer.token_requests("refresh_token").len() - before, 1);
    let fresh = &tokens[0];
    assert!(
        tokens.iter().all(|t| t == fresh),
        "every use got the new token"
    );
    let stored = credential_for_use(&w.instance.state, w.workspace, &id)
        .await
        .unwrap();
    assert_eq!(&token(&stored), fresh);
    if let Some(r) = replica {
        r.stop().await;
    }
}
