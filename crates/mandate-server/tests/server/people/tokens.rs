//! Scripts' credentials: JWTs from a session, personal access tokens; agent tokens refused.

use mandate_crypto::jwt_verify::verify_jwt;
use reqwest::Method;
use serde_json::json;

use super::{Backend, Instance, people_suite};

people_suite!(
    jwts_verify_through_the_jwks_and_end_with_their_session,
    personal_access_tokens_are_shown_once_scoped_and_revocable,
);

async fn jwts_verify_through_the_jwks_and_end_with_their_session(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let mut owner = instance.owner("owner@example.com").await;
    let (s, v) = owner.post("/api/auth/token", json!(null)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["expiresIn"], 300);
    let token = v["accessToken"].as_str().unwrap().to_string();

    let jwks: serde_json::Value = reqwest::get(format!("{}/.well-known/jwks.json", instance.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verified = verify_jwt(&token, &jwks).unwrap();
    let (_, me) = owner.get("/api/auth/session").await;
    assert_eq!(verified.claims["sub"], me["user"]["id"]);
    assert_eq!(verified.claims["ws"], me["workspace"]["id"]);
    assert_eq!(verified.claims["role"], "owner");
    let lifetime =
        verified.claims["exp"].as_i64().unwrap() - verified.claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 300);

    let mut script = owner.with_bearer(&token);
    let (s, v) = script.get("/v1/members").await;
    assert_eq!(s, 200, "{v}");
    // A tampered token is refused.
    let mut tampered = owner.with_bearer(&format!("{token}x"));
    assert_eq!(tampered.get("/v1/members").await.0, 401);
    // An expired one too, though signed by the right key.
    let mut claims = verified.claims.clone();
    claims["iat"] = json!(claims["iat"].as_i64().unwrap() - 600);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() - 600);
    let expired = instance.state.signing.current().sign_jwt(&claims).unwrap();
    assert_eq!(owner.with_bearer(&expired).get("/v1/members").await.0, 401);
    // Logging out ends the JWTs of the session.
    assert_eq!(owner.post("/api/auth/logout", json!(null)).await.0, 200);
    assert_eq!(script.get("/v1/members").await.0, 401);
    instance.stop().await;
}

async fn personal_access_tokens_are_shown_once_scoped_and_revocable(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let mut owner = instance.owner("owner@example.com").await;
    for (body, expected) in [
        (
            json!({ "name": "ci", "access": "read", "expiresInDays": 366 }),
            400,
        ),
        (
            json!({ "name": "ci", "access": "admin", "expiresInDays": 30 }),
            400,
        ),
        (
            json!({ "name": "", "access": "read", "expiresInDays": 30 }),
            400,
        ),
    ] {
        let (s, v) = owner.post("/v1/tokens", body).await;
        assert_eq!(s, expected, "{v}");
        assert!(v["error"].is_string());
    }
    let (s, v) = owner
        .post(
            "/v1/tokens",
            json!({ "name": "reader", "access": "read", "expiresInDays": 30 }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let reader = v["token"].as_str().unwrap().to_string();
    assert!(reader.starts_with("mandate_pat_"));
    let reader_id = v["id"].as_str().unwrap().to_string();
    let (s, v) = owner
        .post(
            "/v1/tokens",
            json!({ "name": "viewer-writer", "access": "write", "role": "viewer", "expiresInDays": 1 }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let viewer_writer = v["token"].as_str().unwrap().to_string();

    // Listed with metadata, never the secret.
    let (_, list) = owner.get("/v1/tokens").await;
    assert_eq!(list["tokens"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&reader));

    let mut r = owner.with_bearer(&reader);
    assert_eq!(r.get("/v1/members").await.0, 200);
    let (s, v, _) = r
        .send(Method::PATCH, "/v1/workspace", Some(json!({ "name": "x" })))
        .await;
    assert_eq!(s, 403, "read-only: {v}");
    // A token cannot mint tokens.
    let (s, _) = r
        .post(
            "/v1/tokens",
            json!({ "name": "x", "access": "read", "expiresInDays": 1 }),
        )
        .await;
    assert_eq!(s, 403);
    // Its role caps it: a viewer token cannot rename the workspace even though its owner can.
    let mut vw = owner.with_bearer(&viewer_writer);
    let (s, _, _) = vw
        .send(Method::PATCH, "/v1/workspace", Some(json!({ "name": "x" })))
        .await;
    assert_eq!(s, 403);
    // Last use is recorded.
    let (_, list) = owner.get("/v1/tokens").await;
    let used = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == json!(reader_id))
        .unwrap()
        .clone();
    assert!(used["lastUsedAt"].is_string(), "{used}");
    // Revoked: refused at once.
    let (s, _, _) = owner
        .send(Method::DELETE, &format!("/v1/tokens/{reader_id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(r.get("/v1/members").await.0, 401);
    // Agent tokens never reach management routes.
    let agent =
        mandate_crypto::tokens::issue(mandate_crypto::tokens::TokenKind::AgentAccess).unwrap();
    let (s, v) = owner.with_bearer(&agent.secret).get("/v1/members").await;
    assert_eq!(s, 403, "{v}");
    instance.stop().await;
}
