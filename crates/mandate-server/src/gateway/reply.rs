//! Turning the provider's answer into the contract's Model B reply: JSON bodies parsed and put
//! through the response rules, text redacted, binary bodies described (or returned raw with
//! `download`). The body is read up to the cap and refused past it (413), never cut.

use axum::http::StatusCode;
use mandate_egress::reqwest;
use mandate_egress::{Egress, EgressError, Response};
use mandate_policy::{Bypass, CompiledPolicy, Filtered, RedactionCount, Request};
use serde_json::{Value, json};

use super::request::is_json_type;
use super::scrub::Scrubber;
use crate::error::ApiError;

/// What the agent gets back as `body`, and what the rules did.
pub struct Shaped {
    pub body: Value,
    pub filtered: Filtered,
    pub size_bytes: usize,
}

pub fn too_large(cap: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the provider's answer is larger than {cap} bytes"),
    )
    .with_hint("ask for less (pagination, fields, a range) or use `stream: true`")
}

pub fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Whether a content type is text the recognizers can read.
pub fn is_text_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || is_json_type(&essence)
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/x-ndjson"
                | "application/graphql"
        )
}

/// Read and shape a buffered reply.
pub async fn shape(
    response: Response,
    cap: usize,
    policy: &CompiledPolicy,
    request: &Request<'_>,
    bypass: Bypass,
    scrubber: &Scrubber,
) -> Result<Shaped, ApiError> {
    let content_type = content_type(&response);
    let raw = Egress::read_body(response, cap)
        .await
        .map_err(|e| match e {
            EgressError::TooLarge(_) => too_large(cap),
            other => provider_unreachable(&other),
        })?;
    let size_bytes = raw.len();
    let (bytes, reflected) = scrubber.scrub(&raw);
    drop(raw);
    let mut shaped = shape_bytes(bytes, &content_type, policy, request, bypass);
    shaped.size_bytes = size_bytes;
    if reflected > 0 {
        shaped.filtered.redactions.push(RedactionCount {
            kind: "credential".into(),
            field: "$body".into(),
            count: reflected,
        });
    }
    Ok(shaped)
}

fn shape_bytes(
    bytes: Vec<u8>,
    content_type: &str,
    policy: &CompiledPolicy,
    request: &Request<'_>,
    bypass: Bypass,
) -> Shaped {
    let size_bytes = bytes.len();
    if bytes.is_empty() {
        return Shaped {
            body: Value::Null,
            filtered: Filtered::default(),
            size_bytes,
        };
    }
    let looks_json = is_json_type(content_type) || content_type.is_empty();
    if looks_json && let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) {
        let filtered = policy.filter_json(request, &mut value, bypass);
        return Shaped {
            body: value,
            filtered,
            size_bytes,
        };
    }
    if (is_text_type(content_type) || content_type.is_empty())
        && let Ok(mut text) = String::from_utf8(bytes)
    {
        let filtered = policy.filter_text(request, &mut text, bypass);
        return Shaped {
            body: Value::String(text),
            filtered,
            size_bytes,
        };
    }
    Shaped {
        body: json!({
            "_binaryContent": true,
            "contentType": content_type,
            "sizeBytes": size_bytes,
            "hint": "binary content is not returned inline; send the request again with `download: true`",
        }),
        filtered: Filtered::default(),
        size_bytes,
    }
}

pub fn provider_unreachable(e: &EgressError) -> ApiError {
    match e {
        EgressError::Refused(why) => {
            ApiError::forbidden(format!("refused by the SSRF guard: {why}"))
                .with_hint("only public provider addresses can be reached")
        }
        EgressError::TooLarge(cap) => too_large(*cap),
        other => ApiError::new(StatusCode::BAD_GATEWAY, format!("provider {other}"))
            .with_hint("the provider did not answer; retry later"),
    }
}
