//! Connections end to end, on SQLite and PostgreSQL: the workspaces' OAuth apps, the OAuth
//! connect flow against a real authorization server (npm oauth2-mock-server on loopback),
//! refresh (rotation, invalid_grant, 50 concurrent uses over two replicas), pasted secrets and
//! revocation.

mod oauth_apps;
mod oauth_flow;
mod oauth_peer;
mod pasted;
mod refresh;

use serde_json::{Value, json};

use crate::people::{Backend, Client, Instance};
use oauth_peer::OAuthPeer;

pub const CLIENT_SECRET: &str = "peer-client-secret-4b1d";

/// A server that may reach loopback (the peer), its owner signed in, a peer, and a generic
/// OAuth app at the peer.
pub struct World {
    pub instance: Instance,
    pub owner: Client,
    pub peer: OAuthPeer,
    pub app_id: String,
    pub workspace: uuid::Uuid,
}

impl World {
    pub async fn start(backend: Backend) -> World {
        let instance = Instance::start(backend, &[("SSRF_ALLOW_PRIVATE", "true")]).await;
        let mut owner = instance.owner("owner@example.com").await;
        let peer = OAuthPeer::start().await;
        let (s, app) = owner
            .post(
                "/v1/oauth-apps",
                json!({
                    "provider": "generic_oauth2", "name": "Peer", "clientId": "mandate-test",
                    "clientSecret": CLIENT_SECRET,
                    "authorizeUrl": format!("{}/authorize", peer.base),
                    "tokenUrl": format!("{}/token", peer.base),
                    "revokeUrl": format!("{}/revoke", peer.base),
                    "apiHosts": ["api.example.com"],
                }),
            )
            .await;
        assert_eq!(s, 201, "{app}");
        let (_, session) = owner.get("/api/auth/session").await;
        let workspace = session["workspace"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        World {
            instance,
            owner,
            peer,
            app_id: app["id"].as_str().unwrap().to_string(),
            workspace,
        }
    }
}

/// Follow an authorization URL at the peer (it consents at once) and answer the callback path
/// and query it redirects to.
pub async fn authorize(authorization_url: &str) -> String {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorization_url)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    format!(
        "{}?{}",
        location.path(),
        location.query().unwrap_or_default()
    )
}

/// Start connecting with `body` and go through the peer: the callback's answer.
pub async fn connect(client: &mut Client, body: Value) -> (u16, Value) {
    let (s, started) = client.post("/v1/connections/oauth/start", body).await;
    assert_eq!(s, 200, "{started}");
    let callback = authorize(started["authorizationUrl"].as_str().unwrap()).await;
    client.get(&callback).await
}

/// The stored row's sealed credential, as text.
pub async fn sealed_credential(instance: &Instance, id: &str) -> Option<String> {
    mandate_store::on_pool!(&instance.state.db, pool => sqlx::query_scalar::<_, Option<String>>(
        "SELECT credential FROM connections WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await)
    .unwrap()
}

/// Every audit row as text (to search for secrets) and the actions, oldest first.
pub async fn audit_dump(instance: &Instance) -> (String, Vec<String>) {
    instance.state.audit.flush().await.unwrap();
    let rows = mandate_store::on_pool!(&instance.state.db, pool => sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT action, details FROM audit_events ORDER BY seq")
        .fetch_all(pool)
        .await)
    .unwrap();
    let text = rows
        .iter()
        .map(|(a, d)| format!("{a} {}", d.clone().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n");
    (text, rows.into_iter().map(|(a, _)| a).collect())
}
