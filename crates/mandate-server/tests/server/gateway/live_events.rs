//! Live events (`GET /v1/events`) and approvals across replicas: an agent's request on replica 1
//! waits for approval, a person approves it through replica 2, a browser's event stream on
//! replica 1 hears of both, and the approved request runs exactly once even when two copies of
//! it arrive at the same moment on both replicas.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Gw, open_policy};
use crate::people::{Backend, Client, PASSWORD};

/// A reader of one `text/event-stream` response, as a browser's `EventSource` would see it.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(client: &Client) -> EventStream {
        let mut req = reqwest::Client::new().get(format!("{}/v1/events", client.base));
        if let Some(cookie) = &client.cookie {
            req = req.header("cookie", cookie);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"].to_str().unwrap();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        let mut stream = EventStream {
            response,
            buffer: String::new(),
        };
        let (name, _) = stream.next().await;
        assert_eq!(name, "ready", "the stream first says it is subscribed");
        stream
    }

    /// The next event (name, data as JSON); comment lines (keep-alives) are skipped.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("no event within 10 s")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Skip events until one named `name` whose data satisfies `pred`.
    async fn until(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (n, data) = self.next().await;
            if n == name && pred(&data) {
                return data;
            }
        }
    }
}

/// PostgreSQL only: SQLite runs one process, and the change bus between replicas is PostgreSQL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_approval_on_replica_2_releases_a_request_on_replica_1_once() {
    let w = Gw::start(
        Backend::Postgres,
        json!({"stepUpApproval": "always", "allowlists": [{"baseUrl": "{upstream}"}]}),
    )
    .await;
    let replica = w.instance.replica().await;
    // The browser watches replica 1; the person deciding is signed in on replica 2.
    let mut events = EventStream::open(&w.owner).await;
    let mut approver = Client::new(&replica.base);
    let (s, v) = approver.login("owner@example.com", PASSWORD).await;
    assert_eq!(s, 200, "{v}");

    let request =
        json!({"method": "POST", "url": "{upstream}/echo/transfer", "body": {"amount": 10}});
    let (s, asked, _) = w.execute(request.clone()).await;
    assert_eq!(s, 202, "{asked}");
    let id = asked["approvalRequestId"].as_str().unwrap().to_string();
    let created = events.until("approval", |a| a["id"] == id.as_str()).await;
    assert_eq!(
        (created["state"].as_str(), created["path"].as_str()),
        (Some("pending"), Some("/echo/transfer")),
        "{created}"
    );

    let (s, v) = approver
        .post(&format!("/v1/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");
    let decided = events.until("approval", |a| a["id"] == id.as_str()).await;
    assert_eq!(
        decided["state"], "approved",
        "replica 1's stream heard replica 2's decision"
    );

    // Two copies of the approved request at once, one on each replica: one runs.
    let mut redeem = w.fill(request);
    redeem["approvalId"] = json!(id);
    redeem["connectionId"] = json!(w.connection);
    let send = |base: String| {
        let (token, body) = (w.token.clone(), redeem.clone());
        async move {
            crate::agents::agent_request(
                &base,
                reqwest::Method::POST,
                "/v1/vault/execute",
                Some(&token),
                Some(body),
                None,
            )
            .await
        }
    };
    let (one, two) = tokio::join!(send(w.instance.base.clone()), send(replica.base.clone()));
    let mut statuses = [one.0, two.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", one.1, two.1);
    assert_eq!(
        w.upstream.received().len(),
        1,
        "the approved request reached the upstream exactly once"
    );
    let executed = events.until("approval", |a| a["id"] == id.as_str()).await;
    assert_eq!(executed["state"], "executed", "{executed}");
    replica.stop().await;
}

/// The stream is for people of the workspace only, and only about their workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_events_are_for_the_workspace_only() {
    let w = Gw::start(Backend::Sqlite, open_policy()).await;
    let (s, _) = w.instance.client().get("/v1/events").await;
    assert_eq!(s, 401, "no session, no stream");
    let (s, v, _) = crate::agents::agent_request(
        &w.instance.base,
        reqwest::Method::GET,
        "/v1/events",
        Some(&w.token),
        None,
        None,
    )
    .await;
    assert_eq!(s, 403, "agents have no event stream: {v}");

    let mut events = EventStream::open(&w.owner).await;
    // A change in another workspace is not shown; the next one of this workspace is.
    let bus = &w.instance.state.bus;
    let foreign = mandate_store::change_bus::Change::new(mandate_store::change_bus::Topic::Policy)
        .in_workspace(uuid::Uuid::now_v7())
        .with_id("foreign");
    bus.publish(&foreign).await.unwrap();
    let mut owner = w.owner.clone();
    let (s, v, _) = owner
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/policies/{}", w.policy),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (name, data) = events.next().await;
    assert_eq!((name.as_str(), &data["id"]), ("policy", &json!(w.policy)));
    // Recent activity: the audit record of that deletion follows within about a second.
    let activity = events
        .until("activity", |d| {
            d["records"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["action"] == "policy.deleted"))
        })
        .await;
    assert!(
        activity["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["workspaceId"] == activity["records"][0]["workspaceId"]),
        "{activity}"
    );
}
