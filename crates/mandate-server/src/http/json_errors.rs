//! The safety net behind `{"error": "..."}`: any error response that is not JSON already (axum's
//! 404/405, a body-limit 413 from a layer, a timeout) is rewritten to the JSON shape, keeping its
//! status and headers such as `Allow` and `Retry-After`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ErrorBody;

pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_vec(&ErrorBody {
        error: message_for(status),
        hint: None,
        retry_after: None,
        reason: None,
    })
    .unwrap_or_else(|_| b"{\"error\":\"error\"}".to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/problem+json")
        })
}

fn message_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not found",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported content type",
        StatusCode::REQUEST_TIMEOUT => "request timed out",
        StatusCode::TOO_MANY_REQUESTS => "too many requests",
        StatusCode::SERVICE_UNAVAILABLE => "service unavailable",
        s if s.is_server_error() => "internal error",
        _ => "bad request",
    }
}
