//! The HTTP stack: the middleware every route runs behind, outermost first:
//!
//! 1. [`request_context`]: request id, span, access log.
//! 2. [`security_headers`]: nosniff, frame denial, CSP, referrer policy, HSTS over TLS.
//! 3. [`json_errors`]: any non-JSON error response becomes `{"error": "..."}`.
//! 4. CORS for the configured dashboard origin only (none configured: no CORS headers at all).
//! 5. Body limit: a declared Content-Length over the limit is answered 413 before the handler
//!    runs; a streamed body is cut off at the limit, also with 413.

pub mod json;
pub mod json_errors;
pub mod request_context;
pub mod security_headers;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{from_fn, from_fn_with_state};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;

use crate::config::Config;
use crate::error::ApiError;

/// The parts of the configuration the middleware needs.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub max_request_body_bytes: usize,
    pub hsts: bool,
    pub dashboard_origin: Option<String>,
}

impl From<&Config> for HttpSettings {
    fn from(config: &Config) -> HttpSettings {
        HttpSettings {
            max_request_body_bytes: config.max_request_body_bytes,
            hsts: config.served_over_tls(),
            dashboard_origin: config.dashboard_origin.clone(),
        }
    }
}

/// Wrap finished routes (state already applied) in the middleware stack.
pub fn with_middleware(routes: Router, settings: &HttpSettings) -> Router {
    let mut router = routes
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(settings.max_request_body_bytes))
        .layer(RequestBodyLimitLayer::new(settings.max_request_body_bytes));
    if let Some(layer) = settings.dashboard_origin.as_deref().and_then(cors) {
        router = router.layer(layer);
    }
    router
        .layer(from_fn(json_errors::json_errors))
        .layer(from_fn_with_state(
            security_headers::SecurityHeaders {
                hsts: settings.hsts,
            },
            security_headers::security_headers,
        ))
        .layer(from_fn(request_context::request_context))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Credentials (cookies, Authorization) are allowed for this one exact origin.
fn cors(origin: &str) -> Option<CorsLayer> {
    let origin = HeaderValue::from_str(origin).ok()?;
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list([origin]))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("x-csrf-token"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
}
