//! The HTTP stack end to end, in process: servers on 127.0.0.1:0, real HTTP clients.
//! Middleware behaviour is exercised with small test routes wrapped in the production stack
//! (`http::with_middleware`); `/health` and startup use the real `Server`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use mandate_server::config::Config;
use mandate_server::http::json::ApiJson;
use mandate_server::http::{HttpSettings, with_middleware};
use mandate_server::serve::{Server, serve_until};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const LIMIT: usize = 1024;

#[derive(Deserialize)]
struct Greeting {
    name: String,
}

/// Test routes: `/echo` (counts its calls), `/slow`, `/sleep-long`.
fn test_routes(calls: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route(
            "/echo",
            post(move |ApiJson(g): ApiJson<Greeting>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { format!("hello {}", g.name) }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(800)).await;
                "done"
            }),
        )
        .route(
            "/sleep-long",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "never"
            }),
        )
}

struct TestServer {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    async fn start(settings: HttpSettings, grace: Duration) -> TestServer {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = with_middleware(test_routes(calls.clone()), &settings);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(serve_until(
            listener,
            app,
            async move {
                let _ = stopped.await;
            },
            grace,
        ));
        TestServer {
            addr,
            calls,
            stop: Some(stop),
            done,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn shutdown(&mut self) {
        let _ = self.stop.take().unwrap().send(());
    }
}

fn settings() -> HttpSettings {
    HttpSettings {
        max_request_body_bytes: LIMIT,
        hsts: false,
        dashboard_origin: None,
    }
}

async fn error_of(response: reqwest::Response) -> String {
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "error responses are JSON"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"]
        .as_str()
        .expect("an `error` string")
        .to_string()
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let server = TestServer::start(settings(), Duration::from_secs(5)).await;
    let client = reqwest::Client::new();

    let r = client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_of(r).await, "no such route");

    let r = client.get(server.url("/echo")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(error_of(r).await, "method not allowed");
}

#[tokio::test]
async fn json_bodies_are_checked() {
    let server = TestServer::start(settings(), Duration::from_secs(5)).await;
    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client
            .post(server.url("/echo"))
            .header("content-type", "application/json")
            .body(body)
    };

    let r = post(r#"{"name":"ada"}"#).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello ada");

    let r = post(r#"{"name": "ada""#).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(error_of(r).await.starts_with("malformed JSON"));

    let r = post(r#"{"name": 42}"#).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(error_of(r).await.starts_with("invalid request body"));

    // A value in the wrong place is not echoed back: it may be a secret.
    let r = post(r#"{"name": ["sk-live-abcdef"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(!error_of(r).await.contains("sk-live"));

    let r = client
        .post(server.url("/echo"))
        .body(r#"{"name":"ada"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(error_of(r).await.contains("application/json"));
    assert_eq!(
        server.calls.load(Ordering::SeqCst),
        1,
        "only the valid body reached the handler"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413_before_the_handler_runs() {
    let server = TestServer::start(settings(), Duration::from_secs(5)).await;
    let client = reqwest::Client::new();
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(LIMIT));

    let r = client
        .post(server.url("/echo"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_of(r).await, "request body too large");

    // Without a Content-Length (chunked), the body is cut off at the limit.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let request = format!("{head}{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains(r#"{"error":"request body too large"}"#),
        "{response}"
    );

    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn request_ids_are_kept_when_plain_and_made_otherwise() {
    let server = TestServer::start(settings(), Duration::from_secs(5)).await;
    let client = reqwest::Client::new();

    let r = client
        .get(server.url("/nope"))
        .header("x-request-id", "lb-42.a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "lb-42.a_b");

    let r = client
        .get(server.url("/nope"))
        .header("x-request-id", "bad id<script>")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    let a = client.get(server.url("/nope")).send().await.unwrap();
    let b = client.get(server.url("/nope")).send().await.unwrap();
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}

#[tokio::test]
async fn security_headers_on_every_response_and_hsts_only_over_tls() {
    let plain = TestServer::start(settings(), Duration::from_secs(5)).await;
    let tls = TestServer::start(
        HttpSettings {
            hsts: true,
            ..settings()
        },
        Duration::from_secs(5),
    )
    .await;
    for path in ["/nope", "/slow"] {
        let r = reqwest::get(plain.url(path)).await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(h["cache-control"], "no-store");
        assert!(h.get("strict-transport-security").is_none());
    }
    let r = reqwest::get(tls.url("/nope")).await.unwrap();
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}

#[tokio::test]
async fn cors_allows_the_dashboard_origin_only() {
    let dashboard = "https://dash.example.com";
    let with_origin = TestServer::start(
        HttpSettings {
            dashboard_origin: Some(dashboard.into()),
            ..settings()
        },
        Duration::from_secs(5),
    )
    .await;
    let without = TestServer::start(settings(), Duration::from_secs(5)).await;
    let client = reqwest::Client::new();
    let preflight = |server: &TestServer, origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, server.url("/echo"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };

    let r = preflight(&with_origin, dashboard).await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], dashboard);
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");

    let r = preflight(&with_origin, "https://evil.example.com")
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let r = preflight(&without, dashboard).await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let r = client
        .get(with_origin.url("/slow"))
        .header("origin", dashboard)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], dashboard);
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_refuses_new_ones() {
    let mut server = TestServer::start(settings(), Duration::from_secs(10)).await;
    let url = server.url("/slow");
    let in_flight = tokio::spawn(async move { reqwest::get(url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown();

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    server.done.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn shutdown_gives_up_on_requests_after_the_grace_period() {
    let mut server = TestServer::start(settings(), Duration::from_millis(300)).await;
    let url = server.url("/sleep-long");
    let stuck = tokio::spawn(async move { reqwest::get(url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.shutdown();
    server.done.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "did not wait for the 60 s handler"
    );
    drop(stuck);
}

// ---- The real server -------------------------------------------------------------------------

fn config(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    Config::load(&|name| map.get(name).cloned(), None).unwrap()
}

#[tokio::test]
async fn health_says_ok_and_nothing_else() {
    let dir = mandate_testkit::TempDir::new("health");
    let data = dir.path().join("data");
    let server = Server::start(config(&[
        ("MANDATE_PORT", "0"),
        ("MANDATE_DATA_DIR", data.to_str().unwrap()),
    ]))
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let r = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"status":"ok"}"#);
    assert!(data.join("mandate.db").exists());
    assert!(data.join("dev-encryption-key").exists());

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
