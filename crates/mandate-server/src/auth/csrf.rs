//! Cross-site request forgery checks for requests a browser may send with the session cookie.
//!
//! A state-changing request (any method but GET, HEAD, OPTIONS) authenticated by the cookie is
//! accepted only when the browser says it comes from our own origin: an `Origin` header equal to
//! `PUBLIC_URL`'s origin or `DASHBOARD_ORIGIN` (without `PUBLIC_URL`: the request's own Host),
//! or, without `Origin`, `Sec-Fetch-Site: same-origin`. A cookie request with neither header is
//! refused: every browser in use sends one, so only a forged or very old client lacks both.
//!
//! Sign-in, setup and registration carry no cookie yet; for them a browser's cross-site
//! `Origin` or `Sec-Fetch-Site: cross-site` is refused (login CSRF), and scripts without those
//! headers pass.

use axum::http::{HeaderMap, Method, header};

use crate::config::Config;
use crate::error::ApiError;

pub fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// For a cookie-authenticated request.
pub fn check_cookie_request(
    config: &Config,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if is_safe_method(method) {
        return Ok(());
    }
    match verdict(config, headers) {
        Verdict::SameOrigin => Ok(()),
        Verdict::CrossSite | Verdict::Unknown => Err(refused()),
    }
}

/// For sign-in, setup and registration.
pub fn check_credentials_post(config: &Config, headers: &HeaderMap) -> Result<(), ApiError> {
    match verdict(config, headers) {
        Verdict::CrossSite => Err(refused()),
        Verdict::SameOrigin | Verdict::Unknown => Ok(()),
    }
}

fn refused() -> ApiError {
    ApiError::forbidden("cross-site request refused")
        .with_hint("send the request from the Mandate dashboard's origin")
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    SameOrigin,
    CrossSite,
    /// Neither `Origin` nor `Sec-Fetch-Site`: not a current browser.
    Unknown,
}

fn verdict(config: &Config, headers: &HeaderMap) -> Verdict {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return if allowed_origin(config, headers, origin) {
            Verdict::SameOrigin
        } else {
            Verdict::CrossSite
        };
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") => Verdict::SameOrigin,
        Some(_) => Verdict::CrossSite,
        None => Verdict::Unknown,
    }
}

fn allowed_origin(config: &Config, headers: &HeaderMap, origin: &str) -> bool {
    let origin = origin.trim_end_matches('/');
    if config
        .dashboard_origin
        .as_deref()
        .is_some_and(|d| d.trim_end_matches('/') == origin)
    {
        return true;
    }
    match &config.public_url {
        Some(url) => url.origin().ascii_serialization() == origin,
        None => headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|host| {
                origin == format!("http://{host}") || origin == format!("https://{host}")
            }),
    }
}
