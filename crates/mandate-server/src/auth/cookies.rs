//! The session cookie. HttpOnly (scripts never see it), SameSite=Lax (not sent on cross-site
//! subrequests or form posts; a top-level link still arrives signed in), Path=/. Over TLS it is
//! `__Host-mandate_session` with `Secure`: the prefix makes browsers refuse it from plain http or
//! from a subdomain.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::config::Config;

const PLAIN_NAME: &str = "mandate_session";
const HOST_NAME: &str = "__Host-mandate_session";

pub fn name(config: &Config) -> &'static str {
    if config.served_over_tls() {
        HOST_NAME
    } else {
        PLAIN_NAME
    }
}

/// The `Set-Cookie` value that stores `token` for `max_age_seconds`.
pub fn set(config: &Config, token: &str, max_age_seconds: i64) -> Option<HeaderValue> {
    let secure = if config.served_over_tls() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure}",
        name(config)
    ))
    .ok()
}

/// The `Set-Cookie` value that removes it.
pub fn clear(config: &Config) -> Option<HeaderValue> {
    set(config, "", 0)
}

/// The session token the request carries, if any.
pub fn read<'h>(config: &Config, headers: &'h HeaderMap) -> Option<&'h str> {
    let wanted = name(config);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}
