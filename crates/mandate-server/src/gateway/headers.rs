//! Header hygiene. Going out: never the agent's own credentials (`Authorization`, `X-API-Key`,
//! `X-Goog-Api-Key`, cookies), never `Proxy-*`, never hop-by-hop headers (nor those the agent
//! names in `Connection`), never what Mandate sets itself (`Host`, lengths, encodings) or what
//! the credential injection sets. Coming back: no `Set-Cookie`, no hop-by-hop headers, no
//! framing headers (the reply is re-framed).

use mandate_egress::reqwest;
use std::collections::BTreeMap;

use reqwest::header::HeaderMap;

/// Hop-by-hop headers (RFC 9110 section 7.6.1) and framing headers Mandate sets itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Headers that carry the caller's own credentials or session.
const CALLER_CREDENTIALS: &[&str] = &[
    "authorization",
    "cookie",
    "cookie2",
    "x-api-key",
    "x-goog-api-key",
    "x-ah5-session-key",
    "x-mandate-session",
];

/// The agent's headers that may go to the provider. `injected` are the names the credential
/// injection and the provider's static headers set (they win). `accept-encoding` is dropped:
/// the reply must be readable to filter it.
pub fn outgoing(agent: &[(String, String)], injected: &[&str]) -> Vec<(String, String)> {
    let named_by_connection: Vec<String> = agent
        .iter()
        .filter(|(n, _)| n == "connection")
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    agent
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            !HOP_BY_HOP.contains(&n)
                && !CALLER_CREDENTIALS.contains(&n)
                && !n.starts_with("proxy-")
                && n != "accept-encoding"
                && n != "content-encoding"
                && !named_by_connection.iter().any(|c| c == n)
                && !injected.iter().any(|i| i.eq_ignore_ascii_case(n))
        })
        .cloned()
        .collect()
}

/// Whether a provider's reply header may reach the agent.
pub fn returned(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !HOP_BY_HOP.contains(&n.as_str())
        && n != "set-cookie"
        && n != "set-cookie2"
        && !n.starts_with("proxy-")
        && n != "content-encoding"
}

/// The reply's headers as the contract shows them: one string per name (repeated headers
/// joined with `, `).
pub fn reply_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        if !returned(name.as_str()) {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        out.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agents_credentials_and_hop_by_hop_headers_stay_home() {
        let agent: Vec<(String, String)> = [
            ("authorization", "Bearer agent"),
            ("cookie", "s=1"),
            ("proxy-authorization", "x"),
            ("x-api-key", "k"),
            ("connection", "keep-alive, x-custom-hop"),
            ("x-custom-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("host", "evil"),
            ("accept-encoding", "gzip"),
            ("notion-version", "2020-01-01"),
            ("accept", "application/json"),
            ("x-request-id", "abc"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let kept = outgoing(&agent, &["notion-version"]);
        let names: Vec<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["accept", "x-request-id"]);
    }

    #[test]
    fn set_cookie_never_comes_back() {
        let mut h = HeaderMap::new();
        h.append("set-cookie", "a=1".parse().unwrap());
        h.append("content-type", "application/json".parse().unwrap());
        h.append("x-ratelimit-remaining", "4".parse().unwrap());
        h.append("vary", "a".parse().unwrap());
        h.append("vary", "b".parse().unwrap());
        h.append("transfer-encoding", "chunked".parse().unwrap());
        let m = reply_map(&h);
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            vec!["content-type", "vary", "x-ratelimit-remaining"]
        );
        assert_eq!(m["vary"], "a, b");
    }
}
