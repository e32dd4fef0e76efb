//! The gateway end to end, on SQLite and PostgreSQL, against a real HTTPS upstream on loopback
//! (`mandate_testkit::upstream`, its certificate trusted through `EGRESS_CA_FILE`, its address
//! opened with `SSRF_ALLOWLIST=127.0.0.1/32`, not with `SSRF_ALLOW_PRIVATE`): policies (CRUD,
//! validation, versions, dry-run, cache across replicas), Model B (allow, deny, approval, rate
//! limit, time windows, response rules, injection, header hygiene, streams, caps, SSRF) and
//! Model A.

mod dashboard;
mod execute;
mod filtering;
mod live_events;
mod model_a;
mod permission_requests;
mod policies;

use mandate_crypto::signing::SigningAlg;
use mandate_testkit::upstream::Upstream;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::agents::{AgentHost, TRUSTED_PROXY, agent_request, enrolled_agent};
use crate::people::{Backend, Client, Instance};

/// The secret of the pasted connection (the upstream sees it; nobody else may).
pub const UPSTREAM_SECRET: &str = "upstream-secret-5f1e9a7c2b";

pub struct Gw {
    pub instance: Instance,
    pub owner: Client,
    pub upstream: Upstream,
    pub agent: AgentHost,
    pub token: String,
    pub connection: String,
    pub policy: String,
}

impl Gw {
    /// A server, its owner, the upstream, a bearer-token connection to it, an enrolled agent
    /// and a policy binding them (`{upstream}` in the document is the upstream's base URL).
    pub async fn start(backend: Backend, document: Value) -> Gw {
        Gw::start_with(backend, document, &[]).await
    }

    /// [`Gw::start`] with more settings for the server.
    pub async fn start_with(backend: Backend, document: Value, extra: &[(&str, &str)]) -> Gw {
        let upstream = Upstream::start().await;
        let ca = upstream.ca_file().to_str().unwrap().to_string();
        let mut vars = vec![
            TRUSTED_PROXY,
            ("EGRESS_CA_FILE", ca.as_str()),
            ("SSRF_ALLOWLIST", "127.0.0.1/32"),
        ];
        vars.extend_from_slice(extra);
        let instance = Instance::start(backend, &vars).await;
        let mut owner = instance.owner("owner@example.com").await;
        let (s, c) = owner
            .post(
                "/v1/connections",
                json!({"provider": "generic_bearer", "label": "Upstream", "secret": UPSTREAM_SECRET,
                       "apiHosts": ["127.0.0.1"]}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        let connection = c["id"].as_str().unwrap().to_string();
        let agent = enrolled_agent(&instance, &mut owner, "gateway agent", SigningAlg::Es256).await;
        let token = agent.token().await;
        let mut gw = Gw {
            instance,
            owner,
            upstream,
            agent,
            token,
            connection,
            policy: String::new(),
        };
        let (s, p) = gw.create_policy(document).await;
        assert_eq!(s, 201, "{p}");
        gw.policy = p["id"].as_str().unwrap().to_string();
        gw
    }

    /// `{upstream}` replaced by the upstream's base URL, everywhere in `v`.
    pub fn fill(&self, v: Value) -> Value {
        serde_json::from_str(&v.to_string().replace("{upstream}", &self.upstream.base())).unwrap()
    }

    pub async fn create_policy(&mut self, document: Value) -> (u16, Value) {
        let body = json!({"agentId": self.agent.id, "connectionId": self.connection, "document": self.fill(document)});
        self.owner.post("/v1/policies", body).await
    }

    /// Replace the policy's document (reading its version first).
    pub async fn set_policy(&mut self, document: Value) -> Value {
        let (_, current) = self
            .owner
            .get(&format!("/v1/policies/{}", self.policy))
            .await;
        let (s, v, _) = self
            .owner
            .send(
                reqwest::Method::PUT,
                &format!("/v1/policies/{}", self.policy),
                Some(json!({"version": current["version"], "document": self.fill(document)})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// `POST /v1/vault/execute` as the agent, with this connection unless the body names one.
    pub async fn execute(&self, mut body: Value) -> (u16, Value, HeaderMap) {
        if body.get("connectionId").is_none() && body.get("service").is_none() {
            body["connectionId"] = json!(self.connection);
        }
        let body = self.fill(body);
        agent_request(
            &self.instance.base,
            reqwest::Method::POST,
            "/v1/vault/execute",
            Some(&self.token),
            Some(body),
            None,
        )
        .await
    }

    /// GET `path` at the upstream through the gateway (model B).
    pub async fn get(&self, path: &str) -> (u16, Value, HeaderMap) {
        self.execute(json!({"model": "B", "method": "GET", "url": format!("{{upstream}}{path}")}))
            .await
    }
}

/// A policy that lets everything at the upstream through without approval.
pub fn open_policy() -> Value {
    json!({"allowedModels": ["B"], "stepUpApproval": "never",
           "allowlists": [{"baseUrl": "{upstream}"}]})
}

/// Every audit row (action, decision, rule, details), oldest first, after a flush.
pub async fn audit_rows(
    instance: &Instance,
) -> Vec<(String, Option<String>, Option<String>, Option<String>)> {
    instance.state.audit.flush().await.unwrap();
    mandate_store::on_pool!(&instance.state.db, pool => sqlx::query_as::<_, (String, Option<String>, Option<String>, Option<String>)>(
        "SELECT action, decision, rule, details FROM audit_events ORDER BY seq")
        .fetch_all(pool)
        .await)
    .unwrap()
}
