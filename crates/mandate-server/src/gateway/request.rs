//! The execute request of the agent API contract, checked and turned into what the policy
//! decides on and what is sent: method, absolute URL (with `query` merged in), the agent's
//! headers (hygiene applied later), and the body as bytes plus its parsed form.

use mandate_crypto::digest::sha256_hex;
use mandate_policy::{Body, Model};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::error::ApiError;

/// Methods the gateway sends.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub connection_id: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub query: Option<Map<String, Value>>,
    #[serde(default)]
    pub headers: Option<Map<String, Value>>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub download: bool,
    #[serde(default)]
    pub approval_id: Option<String>,
    #[serde(default)]
    pub bypass_pii_redaction: bool,
    #[serde(default)]
    pub request_full_fields: bool,
}

impl ExecuteRequest {
    pub fn model(&self) -> Result<Model, ApiError> {
        match self.model.as_deref() {
            None | Some("B") | Some("b") => Ok(Model::B),
            Some("A") | Some("a") => Ok(Model::A),
            Some(other) => Err(bad(format!(
                "`model` must be \"A\" or \"B\", not `{other}`"
            ))),
        }
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message).with_hint(
        "send {\"model\": \"B\", \"connectionId\": ..., \"method\": \"GET\", \"url\": \"https://...\"}",
    )
}

/// A request ready to decide on and send.
#[derive(Debug)]
pub struct Prepared {
    /// Upper-case.
    pub method: String,
    pub url: Url,
    /// The agent's headers, lower-case names (not yet filtered).
    pub headers: Vec<(String, String)>,
    /// What the policy sees.
    pub body: Option<Body>,
    /// What is sent.
    pub body_bytes: Vec<u8>,
    /// The content type sent with a body.
    pub content_type: Option<String>,
}

impl Prepared {
    /// What an approval is for: method, URL (query included) and body.
    pub fn fingerprint(&self) -> String {
        sha256_hex(&[
            self.method.as_bytes(),
            self.url.as_str().as_bytes(),
            &self.body_bytes,
        ])
    }

    /// Re-encode `body` after a redaction rule changed it.
    pub fn set_body(&mut self, body: Body) {
        self.body_bytes = match &body {
            Body::Json(v) => v.to_string().into_bytes(),
            Body::Text(t) => t.clone().into_bytes(),
        };
        self.body = Some(body);
    }
}

/// Check the Model B parts of a request.
pub fn prepare(req: &ExecuteRequest) -> Result<Prepared, ApiError> {
    let method = req
        .method
        .as_deref()
        .ok_or_else(|| bad("`method` is required for model B"))?
        .to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(bad(format!(
            "`method` must be one of {}",
            METHODS.join(", ")
        )));
    }
    let raw = req
        .url
        .as_deref()
        .ok_or_else(|| bad("`url` is required for model B"))?;
    let mut url = Url::parse(raw).map_err(|e| bad(format!("`url` is not an absolute URL: {e}")))?;
    if url.fragment().is_some() {
        url.set_fragment(None);
    }
    let encoded_separator = ["%2f", "%5c"]
        .iter()
        .any(|s| url.path().to_ascii_lowercase().contains(s));
    if encoded_separator {
        return Err(bad(
            "`url`: encoded `/` or `\\` in the path are refused (they make path rules ambiguous)",
        ));
    }
    if let Some(query) = &req.query {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query {
            match v {
                Value::Array(items) => {
                    for item in items {
                        pairs.append_pair(k, &scalar(item, k)?);
                    }
                }
                other => {
                    pairs.append_pair(k, &scalar(other, k)?);
                }
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    let mut headers = Vec::new();
    for (name, value) in req.headers.iter().flatten() {
        let Value::String(value) = value else {
            return Err(bad(format!("`headers.{name}` must be a string")));
        };
        headers.push((name.to_ascii_lowercase(), value.clone()));
    }
    let declared = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.clone());
    let (body, body_bytes, content_type) = match &req.body {
        None | Some(Value::Null) => (None, Vec::new(), None),
        Some(Value::String(text)) => {
            let is_json = declared.as_deref().is_some_and(is_json_type);
            let parsed = if is_json {
                serde_json::from_str(text).ok().map(Body::Json)
            } else {
                None
            };
            (
                Some(parsed.unwrap_or_else(|| Body::Text(text.clone()))),
                text.clone().into_bytes(),
                Some(declared.unwrap_or_else(|| "text/plain; charset=utf-8".into())),
            )
        }
        Some(value) => (
            Some(Body::Json(value.clone())),
            value.to_string().into_bytes(),
            Some(declared.unwrap_or_else(|| "application/json".into())),
        ),
    };
    if body.is_some() && matches!(method.as_str(), "GET" | "HEAD") {
        return Err(bad(format!("a {method} request has no body")));
    }
    Ok(Prepared {
        method,
        url,
        headers,
        body,
        body_bytes,
        content_type,
    })
}

fn scalar(v: &Value, key: &str) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(bad(format!(
            "`query.{key}` must be a string, number, boolean or a list of them"
        ))),
    }
}

pub fn is_json_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> ExecuteRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn query_merges_and_bodies_parse() {
        let p = prepare(&req(
            json!({"method": "post", "url": "https://api.x.io/a?x=1#frag",
            "query": {"y": 2, "z": ["a", "b"]}, "body": {"k": "v"}}),
        ))
        .unwrap();
        assert_eq!(p.method, "POST");
        assert_eq!(p.url.as_str(), "https://api.x.io/a?x=1&y=2&z=a&z=b");
        assert_eq!(p.body, Some(Body::Json(json!({"k": "v"}))));
        assert_eq!(p.content_type.as_deref(), Some("application/json"));
        let text = prepare(&req(
            json!({"method": "POST", "url": "https://x.io/", "body": "hi"}),
        ))
        .unwrap();
        assert_eq!(text.body, Some(Body::Text("hi".into())));
        let declared = prepare(&req(
            json!({"method": "POST", "url": "https://x.io/", "body": "{\"a\":1}",
            "headers": {"Content-Type": "application/json"}}),
        ))
        .unwrap();
        assert_eq!(declared.body, Some(Body::Json(json!({"a": 1}))));
        assert_eq!(declared.body_bytes, b"{\"a\":1}");
    }

    #[test]
    fn bad_requests_are_named() {
        for (v, needle) in [
            (json!({"url": "https://x.io"}), "method"),
            (json!({"method": "GET"}), "url"),
            (json!({"method": "TRACE", "url": "https://x.io"}), "method"),
            (json!({"method": "GET", "url": "/relative"}), "absolute"),
            (
                json!({"method": "GET", "url": "https://x.io/a%2Fb"}),
                "encoded",
            ),
            (
                json!({"method": "GET", "url": "https://x.io", "body": {"a": 1}}),
                "no body",
            ),
            (
                json!({"method": "GET", "url": "https://x.io", "headers": {"a": 1}}),
                "headers.a",
            ),
            (
                json!({"method": "GET", "url": "https://x.io", "query": {"a": {"b": 1}}}),
                "query.a",
            ),
        ] {
            let e = prepare(&req(v.clone())).unwrap_err();
            assert!(e.message.contains(needle), "{v}: {}", e.message);
        }
    }

    #[test]
    fn the_fingerprint_covers_method_url_and_body() {
        let a = prepare(&req(
            json!({"method": "POST", "url": "https://x.io/a", "body": {"n": 1}}),
        ))
        .unwrap();
        let b = prepare(&req(
            json!({"method": "POST", "url": "https://x.io/a", "body": {"n": 2}}),
        ))
        .unwrap();
        let c = prepare(&req(
            json!({"method": "POST", "url": "https://x.io/a?q=1", "body": {"n": 1}}),
        ))
        .unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(
            a.fingerprint(),
            prepare(&req(
                json!({"method": "post", "url": "https://x.io/a", "body": {"n": 1}})
            ))
            .unwrap()
            .fingerprint()
        );
    }
}
