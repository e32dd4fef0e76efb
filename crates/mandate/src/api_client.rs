//! Talking to a Mandate server from the command line (`mandate agent`, `mandate policy`): the
//! server URL checked (https, plain http only for loopback), no redirects, and the server's
//! `{"error", "hint"}` answers turned into one line.

use std::time::Duration;

use serde_json::Value;

/// The server's base URL; plain http only for a loopback host (the bootstrap secret and the
/// tokens travel on it).
pub fn server_url(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|_| format!("--server `{raw}` is not a URL (https://mandate.example.com)"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err("--server must be https:// (plain http only for a loopback host)".into());
        }
        _ => return Err(format!("--server `{raw}` must be an https:// URL")),
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The server's base URL and the personal access token from `--server`/`--token` (or
/// MANDATE_SERVER/MANDATE_TOKEN).
pub fn endpoint(api: &crate::cli::ApiArgs) -> Result<(String, String), String> {
    let server = server_url(&api.server)?;
    let token = api.token.trim().to_string();
    if token.is_empty() {
        return Err(
            "a personal access token is needed: --token or MANDATE_TOKEN (mandate_pat_...)".into(),
        );
    }
    Ok((server, token))
}

fn http() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}

/// POST `body` as JSON; the answer, or the server's error with its hint in one line.
pub async fn post(url: &str, body: &Value) -> Result<Value, String> {
    send(reqwest::Method::POST, url, None, Some(body)).await
}

/// `method url` with an optional bearer token and JSON body; the answer, or the server's error
/// with its hint in one line.
pub async fn send(
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Result<Value, String> {
    let mut request = http()?.request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    let mut message = format!(
        "{} {}",
        status.as_u16(),
        value["error"].as_str().unwrap_or("refused")
    );
    if let Some(hint) = value["hint"].as_str() {
        message.push_str(&format!(" ({hint})"));
    }
    Err(message)
}
