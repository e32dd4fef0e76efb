//! Replaying recorded HTTP exchanges, for peers that cannot run here (Azure). Each exchange is
//! `{"request": {"method", "path", "query": {..}, "headers": {..}, "body"?}, "response": {"status",
//! "body"}}`; a request matching none of them gets a 404 `NotRecorded` answer, so a client that
//! sends anything unexpected fails its test.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serve `exchanges` on a free loopback port until the runtime ends; returns the base URL.
pub async fn serve(exchanges: Vec<Value>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let exchanges = exchanges.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then the body by Content-Length.
                let (head, body) = loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        while buf.len() < end + 4 + len {
                            let n = stream.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, buf[end + 4..].to_vec());
                    }
                };
                let (status, answer) = answer(&exchanges, &head, &body);
                let text = answer.to_string();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    base
}

pub fn answer(exchanges: &[Value], head: &str, body: &[u8]) -> (u16, Value) {
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split(' ');
    let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let url = url::Url::parse(&format!("http://x{target}")).unwrap();
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let headers: std::collections::HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    for ex in exchanges {
        let want = &ex["request"];
        let query_ok = want["query"]
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| query.get(k).map(String::as_str) == v.as_str())
            && query.len() == want["query"].as_object().unwrap().len();
        let headers_ok = want["headers"]
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| headers.get(k).map(String::as_str) == v.as_str());
        let body_ok = want.get("body").is_none_or(|b| *b == body);
        if want["method"] == method
            && want["path"] == url.path()
            && query_ok
            && headers_ok
            && body_ok
        {
            return (
                ex["response"]["status"].as_u64().unwrap() as u16,
                ex["response"]["body"].clone(),
            );
        }
    }
    (
        404,
        serde_json::json!({"error": {"code": "NotRecorded", "message": format!("{method} {target}")}}),
    )
}
