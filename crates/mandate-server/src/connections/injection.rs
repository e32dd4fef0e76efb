//! Putting a connection's credential into a request to its provider, as the catalog says
//! (bearer, custom header, query parameter, URL path placeholder, HTTP basic), with the
//! provider's static headers. Pure: the validation call uses it now, the gateway later.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use url::Url;
use zeroize::Zeroizing;

use super::catalog::{Injection, Provider};
use super::credential::Credential;

/// Headers to add; values may be secret (zeroized on drop).
pub type Headers = Vec<(String, Zeroizing<String>)>;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InjectionError {
    #[error("this provider takes a single secret, not a user name and password")]
    NeedsSecret,
    #[error("this provider takes a user name and password")]
    NeedsBasic,
    #[error("the URL path has no `{0}` placeholder for the credential")]
    NoPlaceholder(String),
}

/// The URL and headers that carry `credential` to `provider`.
pub fn inject(
    provider: &Provider,
    credential: &Credential,
    mut url: Url,
) -> Result<(Url, Headers), InjectionError> {
    let mut headers: Headers = provider
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Zeroizing::new(v.clone())))
        .collect();
    if let Injection::Basic = provider.inject {
        let Credential::Basic { username, password } = credential else {
            return Err(InjectionError::NeedsBasic);
        };
        let pair = Zeroizing::new(format!("{username}:{password}"));
        headers.push((
            "authorization".into(),
            Zeroizing::new(format!("Basic {}", STANDARD.encode(pair.as_bytes()))),
        ));
        return Ok((url, headers));
    }
    let token = credential.api_token().ok_or(InjectionError::NeedsSecret)?;
    match &provider.inject {
        Injection::Bearer => headers.push((
            "authorization".into(),
            Zeroizing::new(format!("Bearer {token}")),
        )),
        Injection::Header { name, prefix } => headers.push((
            name.to_lowercase(),
            Zeroizing::new(format!("{prefix}{token}")),
        )),
        Injection::Query { param } => {
            url.query_pairs_mut().append_pair(param, token);
        }
        Injection::Path { placeholder } => {
            // The placeholder as the URL parser keeps it in a path (`{` and `}` are escaped).
            let path = url.path().to_string();
            let escaped = placeholder.replace('{', "%7B").replace('}', "%7D");
            let found = if path.contains(&escaped) {
                escaped
            } else if path.contains(placeholder.as_str()) {
                placeholder.clone()
            } else {
                return Err(InjectionError::NoPlaceholder(placeholder.clone()));
            };
            let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
            url.set_path(&path.replacen(&found, &encoded, 1));
        }
        Injection::Basic => {}
    }
    Ok((url, headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::catalog::Catalog;

    fn secret(s: &str) -> Credential {
        Credential::Secret { secret: s.into() }
    }

    fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn each_injection_kind_puts_the_credential_where_the_catalog_says() {
        let catalog = Catalog::load(None).unwrap();
        let url = |s: &str| Url::parse(s).unwrap();

        let (u, h) = inject(
            catalog.get("openai").unwrap(),
            &secret("sk-1"),
            url("https://api.openai.com/v1/models"),
        )
        .unwrap();
        assert_eq!(u.as_str(), "https://api.openai.com/v1/models");
        assert_eq!(header(&h, "authorization"), Some("Bearer sk-1"));

        let (_, h) = inject(
            catalog.get("anthropic").unwrap(),
            &secret("sk-ant"),
            url("https://api.anthropic.com/v1/models"),
        )
        .unwrap();
        assert_eq!(header(&h, "x-api-key"), Some("sk-ant"));
        assert_eq!(header(&h, "anthropic-version"), Some("2023-06-01"));

        let (u, _) = inject(
            catalog.get("trello").unwrap(),
            &secret("t/k"),
            url("https://api.trello.com/1/members/me"),
        )
        .unwrap();
        assert_eq!(u.query(), Some("token=t%2Fk"));

        let (u, h) = inject(
            catalog.get("telegram").unwrap(),
            &secret("123:ABC"),
            url("https://api.telegram.org/bot{token}/getMe"),
        )
        .unwrap();
        assert_eq!(u.as_str(), "https://api.telegram.org/bot123%3AABC/getMe");
        assert!(h.is_empty());
        assert_eq!(
            inject(
                catalog.get("telegram").unwrap(),
                &secret("x"),
                url("https://api.telegram.org/getMe")
            ),
            Err(InjectionError::NoPlaceholder("{token}".into()))
        );

        let basic = Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let (_, h) = inject(
            catalog.get("generic_basic").unwrap(),
            &basic,
            url("https://api.example.com/"),
        )
        .unwrap();
        assert_eq!(header(&h, "authorization"), Some("Basic dTpw"));
        assert_eq!(
            inject(
                catalog.get("generic_basic").unwrap(),
                &secret("x"),
                url("https://api.example.com/")
            ),
            Err(InjectionError::NeedsBasic)
        );
        assert_eq!(
            inject(
                catalog.get("openai").unwrap(),
                &basic,
                url("https://api.openai.com/")
            ),
            Err(InjectionError::NeedsSecret)
        );
    }
}
