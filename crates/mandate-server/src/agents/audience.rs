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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use axum::http::HeaderValue;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Config::load(&|name| map.get(name).cloned(), None).unwrap()
    }

    #[test]
    fn with_public_url_only_it_counts_whatever_the_host_header_says() {
        let config = config(&[("PUBLIC_URL", "https://mandate.example.com/")]);
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("evil.example"));
        assert_eq!(
            accepted(&config, &headers, "/v1/agents/token"),
            [
                "https://mandate.example.com",
                "https://mandate.example.com/v1/agents/token"
            ]
        );
    }

    #[test]
    fn without_public_url_the_host_header_over_http_or_https() {
        let config = config(&[]);
        let mut headers = HeaderMap::new();
        assert!(accepted(&config, &headers, "/v1/agents/token").is_empty());
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(
            accepted(&config, &headers, "/v1/agents/keys"),
            [
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/v1/agents/keys",
                "https://127.0.0.1:8080",
                "https://127.0.0.1:8080/v1/agents/keys"
            ]
        );
    }
}
