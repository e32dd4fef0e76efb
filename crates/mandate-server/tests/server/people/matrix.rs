//! The permission matrix, generated from docs/security.md: every `/v1` route as each role,
//! without credentials, with a revoked or expired token, with another workspace's valid session,
//! and without a fresh second factor. docs/security.md must say exactly what
//! `auth/permissions.rs` enforces.

use std::collections::HashMap;

use mandate_server::auth::permissions::{Permission, ROUTES};
use mandate_store::people::Role;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Backend, Client, Instance, PASSWORD, people_suite};

const SECURITY_MD: &str = include_str!("../../../../../docs/security.md");

/// What docs/security.md says: permission -> (lowest role, step-up), and the routes.
struct Documented {
    gates: HashMap<String, (Role, bool)>,
    routes: Vec<(Method, String, String)>,
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().trim_matches('`').to_string())
        .collect()
}

fn documented() -> Documented {
    let mut gates = HashMap::new();
    let mut routes = Vec::new();
    let names: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
    for line in SECURITY_MD.lines().filter(|l| l.starts_with('|')) {
        let c = cells(line);
        if c.len() == 6 && names.contains(&c[0].as_str()) {
            let min = [Role::Viewer, Role::Operator, Role::Admin, Role::Owner]
                .into_iter()
                .zip(&c[1..5])
                .find(|(_, cell)| cell.as_str() == "yes")
                .map(|(r, _)| r)
                .unwrap_or_else(|| panic!("no role has `{}`", c[0]));
            // Roles above the lowest one have it too.
            let first = c[1..5].iter().position(|x| x == "yes").unwrap();
            assert!(c[1 + first..5].iter().all(|x| x == "yes"), "{line}");
            gates.insert(c[0].clone(), (min, c[5] == "yes"));
        } else if c.len() == 3 && c[1].starts_with("/v1/") {
            routes.push((c[0].parse().unwrap(), c[1].clone(), c[2].clone()));
        }
    }
    Documented { gates, routes }
}

#[test]
fn docs_say_what_the_code_enforces() {
    let docs = documented();
    assert_eq!(
        docs.gates.len(),
        Permission::ALL.len(),
        "every permission is documented once"
    );
    for p in Permission::ALL {
        let gate = p.gate();
        assert_eq!(
            docs.gates[p.name()],
            (gate.min_role, gate.step_up),
            "docs/security.md disagrees on `{}`",
            p.name()
        );
    }
    let code: Vec<(Method, String, String)> = ROUTES
        .iter()
        .map(|(m, path, p)| (m.clone(), path.to_string(), p.name().to_string()))
        .collect();
    assert_eq!(docs.routes, code, "the routes table of docs/security.md");
}

people_suite!(every_route_answers_as_the_matrix_says);

struct Fixtures {
    viewer_id: String,
    invite_id: String,
    token_id: String,
    agent_id: String,
    app_id: String,
    connection_id: String,
    policy_id: String,
    approval_id: String,
    channel_id: String,
    request_id: String,
}

impl Fixtures {
    fn path(&self, template: &str) -> String {
        template
            .replace("{userId}", &self.viewer_id)
            .replace("{inviteId}", &self.invite_id)
            .replace("{tokenId}", &self.token_id)
            .replace("{agentId}", &self.agent_id)
            .replace("{appId}", &self.app_id)
            .replace("{connectionId}", &self.connection_id)
            .replace("{policyId}", &self.policy_id)
            .replace("{approvalId}", &self.approval_id)
            .replace("{channelId}", &self.channel_id)
            .replace("{requestId}", &self.request_id)
    }
}

/// The route with every `{id}` replaced by a random, unknown one.
fn unknown_ids(template: &str) -> String {
    template
        .split('/')
        .map(|part| {
            if part.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A body that passes nothing but authorization: every handler refuses unknown fields.
fn harmless_body(method: &Method) -> Option<Value> {
    (*method == Method::POST || *method == Method::PATCH).then(|| json!({ "unexpected": true }))
}

async fn invite_member(instance: &Instance, owner: &mut Client, role: &str) -> Client {
    let email = format!("{role}@example.com");
    let (s, v) = owner
        .post("/v1/invites", json!({ "email": email, "role": role }))
        .await;
    assert_eq!(s, 201, "{v}");
    let mut member = instance.client();
    let (s, v) = member
        .post(
            "/api/auth/invites/accept",
            json!({ "token": v["token"], "password": PASSWORD }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["role"], role);
    member.enrol_totp().await;
    member
}

async fn every_route_answers_as_the_matrix_says(backend: Backend) {
    let instance = Instance::start(backend, &[("ALLOW_PUBLIC_REGISTRATION", "true")]).await;
    let docs = documented();
    let mut owner = instance.owner("owner@example.com").await;
    owner.enrol_totp().await;
    let mut callers: Vec<(Role, Client)> = vec![(Role::Owner, owner.clone())];
    for role in [Role::Admin, Role::Operator, Role::Viewer] {
        callers.push((
            role,
            invite_member(&instance, &mut owner, role.as_str()).await,
        ));
    }
    let (_, viewer) = callers[3].1.get("/api/auth/session").await;
    let (s, invite) = owner
        .post(
            "/v1/invites",
            json!({ "email": "later@example.com", "role": "viewer" }),
        )
        .await;
    assert_eq!(s, 201);
    let (s, pat) = owner
        .post(
            "/v1/tokens",
            json!({ "name": "fixture", "access": "write", "expiresInDays": 7 }),
        )
        .await;
    assert_eq!(s, 201);
    let (s, agent) = owner
        .post("/v1/agents", json!({ "name": "fixture agent" }))
        .await;
    assert_eq!(s, 201, "{agent}");
    let (s, oauth_app) = owner
        .post(
            "/v1/oauth-apps",
            json!({ "provider": "github", "name": "fixture app", "clientId": "Iv1.fixture" }),
        )
        .await;
    assert_eq!(s, 201, "{oauth_app}");
    // A pasted key of a generic provider without a validation call: no peer needed.
    let (s, connection) = owner
        .post(
            "/v1/connections",
            json!({ "provider": "generic_api_key", "secret": "k-1", "apiHosts": ["api.example.com"] }),
        )
        .await;
    assert_eq!(s, 201, "{connection}");
    let (s, policy) = owner
        .post(
            "/v1/policies",
            json!({ "agentId": agent["id"], "connectionId": connection["id"], "document": {} }),
        )
        .await;
    assert_eq!(s, 201, "{policy}");
    // A pending approval request, as the gateway would have stored it.
    let now = time::OffsetDateTime::now_utc();
    let approval = mandate_store::approvals::Approval {
        id: uuid::Uuid::now_v7(),
        workspace_id: viewer["workspace"]["id"].as_str().unwrap().parse().unwrap(),
        agent_id: agent["id"].as_str().unwrap().parse().unwrap(),
        connection_id: connection["id"].as_str().unwrap().to_string(),
        policy_id: policy["id"].as_str().and_then(|p| p.parse().ok()),
        method: "POST".into(),
        host: "api.example.com".into(),
        path: "/items".into(),
        fingerprint: "0".repeat(64),
        body_preview: None,
        rule: "stepUpApproval".into(),
        reason: "writes need approval".into(),
        state: mandate_store::approvals::ApprovalState::Pending,
        created_at: now,
        expires_at: now + time::Duration::minutes(15),
        decided_by: None,
        decided_at: None,
        decision_reason: None,
        executed_at: None,
    };
    mandate_store::approvals::create(&instance.state.db, &approval)
        .await
        .unwrap();
    let (s, channel) = owner
        .post(
            "/v1/notification-channels",
            json!({ "kind": "webhook", "name": "fixture", "url": "https://hooks.example.com/m" }),
        )
        .await;
    assert_eq!(s, 201, "{channel}");
    // A pending permission request, as an agent would have made it.
    let request = mandate_store::permission_requests::PermissionRequest {
        id: uuid::Uuid::now_v7(),
        workspace_id: approval.workspace_id,
        agent_id: approval.agent_id,
        template_id: "generic-read".into(),
        reason: "fixture".into(),
        state: "pending".into(),
        created_at: now,
        decided_by: None,
        decided_at: None,
        decision_reason: None,
        connection_id: None,
        policy_id: None,
    };
    mandate_store::permission_requests::create(&instance.state.db, &request)
        .await
        .unwrap();
    let fixtures = Fixtures {
        request_id: request.id.to_string(),
        channel_id: channel["id"].as_str().unwrap().to_string(),
        approval_id: approval.id.to_string(),
        policy_id: policy["id"].as_str().unwrap().to_string(),
        connection_id: connection["id"].as_str().unwrap().to_string(),
        app_id: oauth_app["id"].as_str().unwrap().to_string(),
        agent_id: agent["id"].as_str().unwrap().to_string(),
        viewer_id: viewer["user"]["id"].as_str().unwrap().to_string(),
        invite_id: invite["id"].as_str().unwrap().to_string(),
        token_id: pat["id"].as_str().unwrap().to_string(),
    };
    let (s, revoked) = owner
        .post(
            "/v1/tokens",
            json!({ "name": "revoked", "access": "write", "expiresInDays": 7 }),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _, _) = owner
        .send(
            Method::DELETE,
            &format!("/v1/tokens/{}", revoked["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, jwt) = owner.post("/api/auth/token", json!(null)).await;
    let claims = mandate_crypto::jwt_verify::verify_jwt(
        jwt["accessToken"].as_str().unwrap(),
        &instance.state.signing.jwks(),
    )
    .unwrap()
    .claims;
    let mut old = claims.clone();
    old["iat"] = json!(claims["iat"].as_i64().unwrap() - 900);
    old["exp"] = json!(claims["exp"].as_i64().unwrap() - 900);
    let expired_jwt = instance.state.signing.current().sign_jwt(&old).unwrap();

    // Another workspace: its owner, with a fresh second factor.
    let mut other = instance.client();
    let (s, v) = other
        .post(
            "/api/auth/register",
            json!({ "email": "other@example.org", "password": PASSWORD, "workspaceName": "Other" }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    other.enrol_totp().await;

    let mut checked = 0;
    for (method, template, permission) in &docs.routes {
        let (min_role, _) = docs.gates[permission];
        let route = format!("{method} {template}");
        for (role, caller) in callers.iter_mut() {
            let allowed = *role >= min_role;
            // Allowed deletions go to an id that does not exist, so nothing is destroyed.
            let path = if allowed && *method == Method::DELETE {
                unknown_ids(template)
            } else {
                fixtures.path(template)
            };
            let (s, v, _) = caller
                .send(method.clone(), &path, harmless_body(method))
                .await;
            match (allowed, method.clone()) {
                (false, _) => assert_eq!(s, 403, "{route} as {role}: {v}"),
                // The provider's callback without its parameters: let through, then refused.
                (true, Method::GET) if template.ends_with("/oauth/callback") => {
                    assert_eq!(s, 400, "{route} as {role}: {v}")
                }
                (true, Method::GET) => assert_eq!(s, 200, "{route} as {role}: {v}"),
                (true, Method::DELETE) => assert_eq!(s, 404, "{route} as {role}: {v}"),
                (true, _) => assert!(![401, 403].contains(&s), "{route} as {role}: {s} {v}"),
            }
            checked += 1;
        }
        let path = fixtures.path(template);
        let mut nobody = instance.client();
        let (s, _, _) = nobody
            .send(method.clone(), &path, harmless_body(method))
            .await;
        assert_eq!(s, 401, "{route} without credentials");
        for token in [revoked["token"].as_str().unwrap(), expired_jwt.as_str()] {
            let (s, _, _) = owner
                .with_bearer(token)
                .send(method.clone(), &path, harmless_body(method))
                .await;
            assert_eq!(s, 401, "{route} with a revoked or expired token");
        }
        if template.contains('{') {
            // Another workspace's ids are not found, whatever the caller's rights at home.
            let body = match *method {
                Method::PATCH
                    if template.starts_with("/v1/agents")
                        || template.starts_with("/v1/oauth-apps")
                        || template.starts_with("/v1/notification-channels") =>
                {
                    Some(json!({ "name": "renamed" }))
                }
                Method::PATCH => Some(json!({ "role": "viewer" })),
                // A valid request whose only fault is the foreign connection id.
                Method::POST if template.ends_with("/reconnect") => {
                    Some(json!({ "oauthAppId": fixtures.app_id }))
                }
                Method::PUT if template.starts_with("/v1/policies") => {
                    Some(json!({ "version": 1, "document": {} }))
                }
                Method::POST
                    if template.ends_with("/approve")
                        || template.ends_with("/deny")
                        || template.ends_with("/refuse")
                        || template.starts_with("/v1/notification-channels") =>
                {
                    Some(json!({}))
                }
                Method::POST if template.ends_with("/grant") => {
                    Some(json!({ "connectionId": fixtures.connection_id }))
                }
                Method::POST if template.ends_with("/test") => {
                    Some(json!({ "method": "GET", "url": "https://api.example.com/" }))
                }
                _ => None,
            };
            let (s, v, _) = other.send(method.clone(), &path, body).await;
            assert_eq!(s, 404, "{route} from another workspace: {v}");
        }
    }
    assert_eq!(checked, docs.routes.len() * 4);

    // Without a fresh second factor, the step-up routes refuse even the owner.
    let ago = time::OffsetDateTime::now_utc() - time::Duration::minutes(6);
    match &instance.state.db {
        mandate_store::Db::Sqlite(pool) => {
            sqlx::query("UPDATE sessions SET mfa_at = $1")
                .bind(ago)
                .execute(pool)
                .await
                .unwrap();
        }
        mandate_store::Db::Postgres(pool) => {
            sqlx::query("UPDATE sessions SET mfa_at = $1")
                .bind(ago)
                .execute(pool)
                .await
                .unwrap();
        }
    }
    for (method, template, permission) in &docs.routes {
        if !docs.gates[permission].1 {
            continue;
        }
        let (s, v, _) = owner
            .send(
                method.clone(),
                &fixtures.path(template),
                harmless_body(method),
            )
            .await;
        assert_eq!(s, 403, "{method} {template} without step-up: {v}");
        assert!(v["hint"].as_str().unwrap().contains("/api/auth/mfa"), "{v}");
    }
    owner.step_up().await;
    let (s, _) = owner.get("/v1/audit/export?format=csv").await;
    assert_eq!(s, 200);
    instance.stop().await;
}
