//! Agents end to end, against in-process servers on SQLite and PostgreSQL: enrollment, the token
//! exchange and every refusal it owes, replay across replicas, key rotation, disabling and
//! deleting, rate limits shared by replicas, and agent tokens refused on management routes.

mod flow;
mod limits;
mod refusals;

use std::sync::atomic::{AtomicU32, Ordering};

use mandate_crypto::signing::{SigningAlg, SigningKey};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::people::{Backend, Client, Instance};

/// Every test request comes from its own address unless a test says otherwise, so the per-IP
/// limits only bite where they are the point.
pub const TRUSTED_PROXY: (&str, &str) = ("TRUST_FORWARDED_FOR", "true");

fn fresh_ip() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

pub async fn start(backend: Backend) -> Instance {
    Instance::start(backend, &[TRUSTED_PROXY]).await
}

/// A request from an agent host: `(status, body, headers)`.
pub async fn agent_request(
    base: &str,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<Value>,
    ip: Option<&str>,
) -> (u16, Value, HeaderMap) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("x-forwarded-for", ip.map_or_else(fresh_ip, str::to_string));
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if let Some(body) = json_body {
        req = req.json(&body);
    }
    read(req.send().await.unwrap()).await
}

async fn read(response: reqwest::Response) -> (u16, Value, HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value, headers)
}

/// An agent as its host sees it: its id, its private key, the server.
pub struct AgentHost {
    pub id: String,
    pub key: SigningKey,
    pub base: String,
}

impl AgentHost {
    /// Claims of a good assertion for the token endpoint.
    pub fn claims(&self) -> Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        json!({
            "iss": self.id, "sub": self.id,
            "aud": format!("{}/v1/agents/token", self.base),
            "iat": now, "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string(),
        })
    }

    pub fn assertion(&self) -> String {
        self.key.sign_jwt(&self.claims()).unwrap()
    }

    pub fn assertion_with(&self, change: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims();
        change(&mut claims);
        self.key.sign_jwt(&claims).unwrap()
    }

    /// A fresh access token.
    pub async fn token(&self) -> String {
        let (s, v, _) = token_json(&self.base, &self.assertion()).await;
        assert_eq!(s, 200, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }
}

pub async fn token_json(base: &str, assertion: &str) -> (u16, Value, HeaderMap) {
    token_json_from(base, assertion, None).await
}

/// [`token_json`] from the address `ip` (a fresh one when None).
pub async fn token_json_from(
    base: &str,
    assertion: &str,
    ip: Option<&str>,
) -> (u16, Value, HeaderMap) {
    agent_request(
        base,
        reqwest::Method::POST,
        "/v1/agents/token",
        None,
        Some(json!({
            "grant_type": "client_assertion",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        })),
        ip,
    )
    .await
}

pub async fn token_form(base: &str, form: &[(&str, &str)]) -> (u16, Value, HeaderMap) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/agents/token"))
        .header("x-forwarded-for", fresh_ip())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    read(response).await
}

/// Create an agent as `person`: its id and bootstrap secret.
pub async fn create_agent(person: &mut Client, name: &str) -> (String, String) {
    let (s, v) = person
        .post(
            "/v1/agents",
            json!({ "name": name, "description": "test agent" }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["status"], "pending");
    (
        v["id"].as_str().unwrap().to_string(),
        v["bootstrapSecret"].as_str().unwrap().to_string(),
    )
}

pub async fn bootstrap(base: &str, secret: &str, key: &SigningKey) -> (u16, Value) {
    let (s, v, _) = agent_request(
        base,
        reqwest::Method::POST,
        "/v1/agents/bootstrap",
        None,
        Some(json!({ "bootstrapSecret": secret, "publicKey": key.public_jwk() })),
        None,
    )
    .await;
    (s, v)
}

/// Create and enroll an agent with a new key of `alg`.
pub async fn enrolled_agent(
    instance: &Instance,
    person: &mut Client,
    name: &str,
    alg: SigningAlg,
) -> AgentHost {
    let (id, secret) = create_agent(person, name).await;
    let key = SigningKey::generate(alg, format!("{}-key-1", name.replace(' ', "-"))).unwrap();
    let (s, v) = bootstrap(&instance.base, &secret, &key).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["agentId"], id.as_str());
    assert_eq!(v["status"], "active");
    AgentHost {
        id,
        key,
        base: instance.base.clone(),
    }
}

/// The audit records of `action` about `agent`, newest first, waiting up to 5 s for buffered
/// ones.
pub async fn audit_reasons(
    person: &mut Client,
    action: &str,
    agent: &str,
    at_least: usize,
) -> Vec<String> {
    for _ in 0..50 {
        let (s, v) = person
            .get(&format!(
                "/v1/audit?action={action}&agent={agent}&limit=500"
            ))
            .await;
        assert_eq!(s, 200, "{v}");
        let reasons: Vec<String> = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["details"]["reason"].as_str().unwrap_or("").to_string())
            .collect();
        if reasons.len() >= at_least {
            return reasons;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("fewer than {at_least} `{action}` records for {agent}");
}
