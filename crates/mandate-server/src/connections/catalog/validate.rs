//! The catalog's rules, checked at start. Each refusal names the provider and the field.

use url::{Host, Url};

use super::{AuthScheme, Injection, Provider, Refresh};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("{source_name}: {message}")]
    Read {
        source_name: String,
        message: String,
    },
    #[error("provider `{provider}`, field `{field}`: {reason}")]
    Invalid {
        provider: String,
        field: String,
        reason: String,
    },
}

fn invalid(
    provider: &Provider,
    field: impl Into<String>,
    reason: impl Into<String>,
) -> CatalogError {
    CatalogError::Invalid {
        provider: provider.id.clone(),
        field: field.into(),
        reason: reason.into(),
    }
}

pub fn catalog(providers: &[Provider]) -> Result<(), CatalogError> {
    distinct_ids(providers, "the catalog")?;
    providers.iter().try_for_each(provider)
}

pub fn distinct_ids(providers: &[Provider], source_name: &str) -> Result<(), CatalogError> {
    let mut seen = std::collections::HashSet::new();
    match providers.iter().find(|p| !seen.insert(p.id.as_str())) {
        Some(p) => Err(invalid(p, "id", format!("appears twice in {source_name}"))),
        None => Ok(()),
    }
}

fn is_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An RFC 7230 token: what a header name may be.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A bare, lower-case DNS name: no scheme, port, path or wildcard.
pub fn is_host(host: &str) -> bool {
    host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// An OAuth or API endpoint: https, or http to a loopback address (a local test authorization
/// server); no credentials in it.
pub fn check_endpoint(value: &str) -> Result<Url, &'static str> {
    let url = Url::parse(value).map_err(|_| "is not a URL")?;
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be an https URL (http only for a loopback host)"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    Ok(url)
}

fn endpoint(p: &Provider, field: &str, value: &str) -> Result<Url, CatalogError> {
    check_endpoint(value).map_err(|reason| invalid(p, field, reason))
}

fn provider(p: &Provider) -> Result<(), CatalogError> {
    if !is_id(&p.id) {
        return Err(invalid(p, "id", "must be 1 to 40 of a-z, 0-9, `_` and `-`"));
    }
    if p.name.trim().is_empty() || p.name.chars().count() > 100 {
        return Err(invalid(p, "name", "must be 1 to 100 characters"));
    }
    let oauth = p.auth == AuthScheme::Oauth2;
    for (field, value) in [
        ("authorize_url", &p.authorize_url),
        ("token_url", &p.token_url),
        ("revoke_url", &p.revoke_url),
    ] {
        match value {
            Some(v) if oauth && !p.generic => {
                endpoint(p, field, v)?;
            }
            Some(_) if p.generic => {
                return Err(invalid(
                    p,
                    field,
                    "a generic provider takes its endpoints from the admin",
                ));
            }
            Some(_) => return Err(invalid(p, field, "only OAuth 2.0 providers have endpoints")),
            None if oauth && !p.generic && field != "revoke_url" => {
                return Err(invalid(p, field, "is required for an OAuth 2.0 provider"));
            }
            None => {}
        }
    }
    if !oauth && (p.refresh != Refresh::None || p.refresh_token_required) {
        return Err(invalid(
            p,
            "refresh",
            "only OAuth 2.0 credentials are refreshed",
        ));
    }
    if p.refresh_token_required && p.refresh != Refresh::RefreshToken {
        return Err(invalid(
            p,
            "refresh_token_required",
            "needs `refresh = \"refresh_token\"`",
        ));
    }
    if !oauth && (!p.default_scopes.is_empty() || !p.authorize_params.is_empty()) {
        return Err(invalid(
            p,
            "default_scopes",
            "only OAuth 2.0 providers have scopes",
        ));
    }
    for scope in &p.default_scopes {
        if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                p,
                "default_scopes",
                "a scope is one word without spaces",
            ));
        }
    }
    for (name, value) in &p.authorize_params {
        if name.is_empty()
            || [
                "state",
                "code_challenge",
                "code_challenge_method",
                "redirect_uri",
                "client_id",
                "response_type",
            ]
            .contains(&name.as_str())
        {
            return Err(invalid(
                p,
                format!("authorize_params.{name}"),
                "is set by Mandate itself",
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid(
                p,
                format!("authorize_params.{name}"),
                "has control characters",
            ));
        }
    }
    if p.api_hosts.is_empty() && !p.generic {
        return Err(invalid(
            p,
            "api_hosts",
            "must list the hosts the credential may be sent to",
        ));
    }
    if p.generic && !p.api_hosts.is_empty() {
        return Err(invalid(
            p,
            "api_hosts",
            "a generic provider takes its hosts from the admin",
        ));
    }
    for host in &p.api_hosts {
        if !is_host(host) {
            return Err(invalid(
                p,
                "api_hosts",
                format!(
                    "`{host}` is not a lower-case host name (no scheme, port, path or wildcard)"
                ),
            ));
        }
    }
    injection(p)?;
    for (name, value) in &p.headers {
        if !is_token(name)
            || ["authorization", "cookie", "host", "proxy-authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            return Err(invalid(
                p,
                format!("headers.{name}"),
                "is not a header Mandate lets a catalog set",
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid(
                p,
                format!("headers.{name}"),
                "has control characters",
            ));
        }
    }
    if let Some(call) = &p.validate {
        if !["GET", "HEAD", "POST"].contains(&call.method.as_str()) {
            return Err(invalid(p, "validate.method", "must be GET, HEAD or POST"));
        }
        let url = endpoint(p, "validate.url", &call.url)?;
        if url.scheme() == "https"
            && !url
                .host_str()
                .is_some_and(|h| p.api_hosts.iter().any(|a| a == h))
        {
            return Err(invalid(
                p,
                "validate.url",
                "its host must be one of `api_hosts`",
            ));
        }
    }
    let mut services = std::collections::HashSet::new();
    for s in &p.services {
        let field = |f: &str| format!("service.{}.{f}", s.id);
        if !is_id(&s.id) || !services.insert(s.id.as_str()) {
            return Err(invalid(
                p,
                field("id"),
                "must be a unique id (a-z, 0-9, `_`, `-`)",
            ));
        }
        if s.name.trim().is_empty() {
            return Err(invalid(p, field("name"), "must not be empty"));
        }
        if let Some(host) = s.api_hosts.iter().find(|h| !p.api_hosts.contains(h)) {
            return Err(invalid(
                p,
                field("api_hosts"),
                format!("`{host}` is not one of the provider's `api_hosts`"),
            ));
        }
        if !oauth && !s.scopes.is_empty() {
            return Err(invalid(
                p,
                field("scopes"),
                "only OAuth 2.0 providers have scopes",
            ));
        }
        if s.scopes
            .iter()
            .any(|sc| sc.is_empty() || sc.chars().any(char::is_whitespace))
        {
            return Err(invalid(
                p,
                field("scopes"),
                "a scope is one word without spaces",
            ));
        }
    }
    Ok(())
}

fn injection(p: &Provider) -> Result<(), CatalogError> {
    match (&p.inject, p.auth) {
        (Injection::Basic, AuthScheme::Basic) => Ok(()),
        (Injection::Basic, _) | (_, AuthScheme::Basic) => Err(invalid(
            p,
            "inject",
            "HTTP basic goes with `auth = \"basic\"` and only with it",
        )),
        (Injection::Path { .. }, AuthScheme::Oauth2) => Err(invalid(
            p,
            "inject",
            "an OAuth token does not go in the URL path",
        )),
        (Injection::Bearer, _) => Ok(()),
        (Injection::Header { name, prefix }, _) => {
            if !is_token(name)
                || ["cookie", "host", "proxy-authorization"]
                    .contains(&name.to_ascii_lowercase().as_str())
            {
                return Err(invalid(
                    p,
                    "inject.name",
                    "must be a header name (not Cookie, Host or Proxy-Authorization)",
                ));
            }
            if prefix.chars().any(char::is_control) {
                return Err(invalid(p, "inject.prefix", "has control characters"));
            }
            Ok(())
        }
        (Injection::Query { param }, _) => {
            if param.is_empty()
                || !param
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(invalid(p, "inject.param", "must be a query parameter name"));
            }
            Ok(())
        }
        (Injection::Path { placeholder }, _) => {
            let inner = placeholder
                .strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'));
            if !inner.is_some_and(|i| {
                !i.is_empty() && i.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            }) {
                return Err(invalid(p, "inject.placeholder", "must look like `{token}`"));
            }
            Ok(())
        }
    }
}
