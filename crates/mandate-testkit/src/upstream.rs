//! A provider stand-in: a real HTTPS server on 127.0.0.1 with a freshly generated self-signed
//! certificate (its PEM file is what the server under test gets as `EGRESS_CA_FILE`). It records
//! every request it receives (method, path, query, headers, body) and answers:
//!
//! - `/echo/...`: 200 JSON with what it received (`method`, `path`, `query`, `headers`, `body`)
//!   and a `Set-Cookie` header;
//! - `/profile`: 200 JSON full of personal data (email, phone, card, IBAN, IP, API key) and a
//!   nested `plan`;
//! - `/text`: text/plain with an email address; `/sse`: an event stream whose events carry email
//!   addresses; `/ndjson`: JSON lines;
//! - `/big?bytes=N`: a JSON body of about N bytes; `/binary`: PNG-typed bytes;
//! - `/status/{code}`: that status with a JSON body; `/redirect`: 302 to the metadata address.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::TempDir;

/// One request as the upstream saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names; repeated headers appear repeatedly.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Upstream {
    pub addr: SocketAddr,
    ca_file: PathBuf,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Start on 127.0.0.1 on a free port.
    pub async fn start() -> Upstream {
        Upstream::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(bind: &str) -> Upstream {
        let generated = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .expect("generate a certificate");
        let dir = TempDir::new("upstream");
        let ca_file = dir.path().join("upstream-ca.pem");
        std::fs::write(&ca_file, generated.cert.pem()).expect("write the certificate");
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(generated.cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                    generated.signing_key.serialize_der(),
                )),
            )
            .expect("TLS config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(bind).await.expect("bind the upstream");
        let addr = listener.local_addr().expect("upstream address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| handle(log.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            ca_file,
            received,
            task,
            _dir: dir,
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The PEM file of the certificate (for `EGRESS_CA_FILE`).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("upstream log").clone()
    }

    pub fn clear(&self) {
        self.received.lock().expect("upstream log").clear();
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: u16, content_type: &str, body: impl Into<Bytes>) -> Reply {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("a response")
}

fn json_reply(status: u16, v: &Value) -> Reply {
    reply(status, "application/json", v.to_string())
}

async fn handle(
    log: Arc<Mutex<Vec<Received>>>,
    req: Request<Incoming>,
) -> Result<Reply, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let received = Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body,
    };
    log.lock().expect("upstream log").push(received.clone());
    Ok(answer(&received))
}

fn answer(r: &Received) -> Reply {
    let path = r.path.as_str();
    if path.starts_with("/echo") {
        let headers: BTreeMap<&str, &str> = r
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut response = json_reply(
            200,
            &json!({
                "method": r.method,
                "path": r.path,
                "query": r.query,
                "headers": headers,
                "body": String::from_utf8_lossy(&r.body),
            }),
        );
        let h = response.headers_mut();
        h.insert(
            "set-cookie",
            "upstream_session=abc; HttpOnly".parse().expect("header"),
        );
        h.insert("x-upstream", "echo".parse().expect("header"));
        return response;
    }
    match path {
        "/profile" => json_reply(
            200,
            &json!({
                "login": "octo",
                "email": "octo.cat@example.com",
                "phone": "+1 415-555-0132",
                "card": "4111 1111 1111 1111",
                "iban": "DE89370400440532013000",
                "lastIp": "203.0.113.7",
                "apiKey": "sk-proj-abcdefghijklmnopqrstuvwx123",
                "bio": "Write to octo.cat@example.com or call +1 415-555-0132",
                "plan": {"name": "pro", "seats": 5, "billingEmail": "billing@example.com"},
                "repos": [{"name": "a", "owner": {"email": "a@example.com"}}, {"name": "b", "owner": {"email": "b@example.com"}}],
            }),
        ),
        "/text" => reply(
            200,
            "text/plain; charset=utf-8",
            "contact octo.cat@example.com today",
        ),
        "/sse" => reply(
            200,
            "text/event-stream",
            "data: {\"msg\": \"hello a@example.com\"}\n\ndata: plain b@example.com\n\nevent: done\ndata: {}\n\n",
        ),
        "/ndjson" => reply(
            200,
            "application/x-ndjson",
            "{\"n\": 1, \"email\": \"a@example.com\"}\n{\"n\": 2, \"email\": \"b@example.com\"}\n",
        ),
        "/binary" => reply(200, "image/png", vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3]),
        "/big" => {
            let n: usize = r
                .query
                .as_deref()
                .and_then(|q| q.strip_prefix("bytes="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1024);
            json_reply(200, &json!({"data": "a".repeat(n)}))
        }
        "/redirect" => {
            let mut response = reply(302, "text/plain", "moved");
            response.headers_mut().insert(
                "location",
                "http://169.254.169.254/latest/meta-data/"
                    .parse()
                    .expect("header"),
            );
            response
        }
        p if p.starts_with("/status/") => {
            let code = p["/status/".len()..].parse().unwrap_or(500);
            json_reply(code, &json!({"status": code}))
        }
        _ => json_reply(404, &json!({"error": "no such upstream route"})),
    }
}
