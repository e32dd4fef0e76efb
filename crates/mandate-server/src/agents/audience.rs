//! The `aud` values a client assertion may name: the API's public base URL or the URL of the
//! endpoint it is sent to. With `PUBLIC_URL` set (always in production) they come from it alone.
//! Without it (development), from the request's `Host`, over http or https.

use axum::http::{HeaderMap, header};

use crate::config::Config;

pub fn accepted(config: &Config, headers: &HeaderMap, endpoint: &str) -> Vec<String> {
    let bases: Vec<String> = match &config.public_url {
        Some(url) => vec![url.as_str().trim_end_matches('/').to_string()],
        None => headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|host| vec![format!("http://{host}"), format!("https://{host}")])
            .unwrap_or_default(),
    };
    bases
        .iter()
        .flat_map(|base| [base.clone(), format!("{base}{endpoint}")])
        .collect()
}
