//! The client side of a provider's OAuth 2.0 endpoints (RFC 6749, RFC 7009): the authorization
//! URL, the code exchange with the PKCE verifier, refresh, and revocation. Every call goes
//! through the SSRF-safe egress client. Provider error texts are kept short and printable; no
//! token ever appears in an error.

use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mandate_egress::{Egress, EgressError};
use mandate_store::connections::oauth_apps::OAuthApp;
use serde_json::Value;
use url::Url;
use zeroize::Zeroizing;

use super::catalog::{Provider, TokenAuth};

/// The largest token endpoint answer read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// Where one OAuth app talks to its provider, and how it authenticates there.
pub struct OAuthClient {
    pub authorize_url: Url,
    pub token_url: Url,
    pub revoke_url: Option<Url>,
    pub token_auth: TokenAuth,
    pub client_id: String,
    pub client_secret: Option<Zeroizing<String>>,
}

/// A successful token endpoint answer.
pub struct TokenResponse {
    pub access_token: Zeroizing<String>,
    pub refresh_token: Option<Zeroizing<String>>,
    /// Seconds, when the provider says.
    pub expires_in: Option<i64>,
    /// The granted scopes, when the provider says.
    pub scope: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `invalid_grant`: the code or refresh token is no longer good; a person must consent again.
    #[error("the provider refused the grant (invalid_grant{})", describe(.0))]
    InvalidGrant(Option<String>),
    /// Another OAuth error, or an error status.
    #[error("the provider answered {error}{}", describe(.description))]
    Provider {
        error: String,
        description: Option<String>,
    },
    #[error("the provider's token endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider's endpoint is not allowed: {0}")]
    Refused(String),
    #[error("the provider's answer was not understood: {0}")]
    Malformed(String),
}

fn describe(description: &Option<String>) -> String {
    description
        .as_ref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl From<EgressError> for TokenError {
    fn from(e: EgressError) -> TokenError {
        match e {
            EgressError::Refused(why) => TokenError::Refused(why),
            EgressError::TooLarge(n) => TokenError::Malformed(format!("larger than {n} bytes")),
            other => TokenError::Unreachable(other.to_string()),
        }
    }
}

/// Provider text shown to people: printable, at most 200 characters.
fn tidy(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

impl OAuthClient {
    /// The endpoints of `app`: the catalog's for a catalog provider, the admin's for a generic
    /// one (checked when the app was saved).
    pub fn for_app(
        provider: &Provider,
        app: &OAuthApp,
        client_secret: Option<Zeroizing<String>>,
    ) -> Result<OAuthClient, String> {
        let pick = |own: &Option<String>, catalog: &Option<String>| {
            if provider.generic {
                own.clone()
            } else {
                catalog.clone()
            }
        };
        let parse = |field: &str, value: Option<String>| -> Result<Option<Url>, String> {
            value
                .map(|v| Url::parse(&v).map_err(|e| format!("{field}: {e}")))
                .transpose()
        };
        let authorize_url = parse(
            "authorizeUrl",
            pick(&app.authorize_url, &provider.authorize_url),
        )?
        .ok_or("the provider has no authorization endpoint")?;
        let token_url = parse("tokenUrl", pick(&app.token_url, &provider.token_url))?
            .ok_or("the provider has no token endpoint")?;
        let revoke_url = parse("revokeUrl", pick(&app.revoke_url, &provider.revoke_url))?;
        Ok(OAuthClient {
            authorize_url,
            token_url,
            revoke_url,
            token_auth: provider.token_auth,
            client_id: app.client_id.clone(),
            client_secret,
        })
    }

    /// The URL the person's browser is sent to.
    pub fn authorization_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        scopes: &[String],
        state: &str,
        code_challenge: &str,
    ) -> Url {
        let mut url = self.authorize_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state)
                .append_pair("code_challenge", code_challenge)
                .append_pair("code_challenge_method", "S256");
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(" "));
            }
            for (k, v) in &provider.authorize_params {
                q.append_pair(k, v);
            }
        }
        url
    }

    pub async fn exchange_code(
        &self,
        egress: &Egress,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, TokenError> {
        self.token_request(
            egress,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ],
        )
        .await
    }

    pub async fn refresh(
        &self,
        egress: &Egress,
        refresh_token: &str,
    ) -> Result<TokenResponse, TokenError> {
        self.token_request(
            egress,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// RFC 7009 revocation. Ok(false) when the provider has no revocation endpoint.
    pub async fn revoke(
        &self,
        egress: &Egress,
        token: &str,
        token_type_hint: &str,
    ) -> Result<bool, TokenError> {
        let Some(url) = &self.revoke_url else {
            return Ok(false);
        };
        let request = self.authenticated(
            egress,
            url.clone(),
            &[("token", token), ("token_type_hint", token_type_hint)],
        )?;
        let response = egress.send(request).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(true);
        }
        let body = Egress::read_body(response, MAX_TOKEN_RESPONSE).await?;
        Err(oauth_error(status.as_u16(), &body))
    }

    /// A form POST with the client's authentication.
    fn authenticated(
        &self,
        egress: &Egress,
        url: Url,
        params: &[(&str, &str)],
    ) -> Result<mandate_egress::RequestBuilder, TokenError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(params);
        let mut request = egress
            .request(Method::POST, url)?
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded");
        match (self.token_auth, &self.client_secret) {
            (TokenAuth::ClientSecretBasic, Some(secret)) => {
                // RFC 6749 2.3.1: each part form-encoded before joining.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = Zeroizing::new(format!("{}:{}", enc(&self.client_id), enc(secret)));
                request = request.header(
                    "authorization",
                    format!("Basic {}", STANDARD.encode(pair.as_bytes())),
                );
            }
            (_, secret) => {
                form.append_pair("client_id", &self.client_id);
                if let Some(secret) = secret {
                    form.append_pair("client_secret", secret);
                }
            }
        }
        Ok(request.body(form.finish()))
    }

    async fn token_request(
        &self,
        egress: &Egress,
        params: &[(&str, &str)],
    ) -> Result<TokenResponse, TokenError> {
        let request = self.authenticated(egress, self.token_url.clone(), params)?;
        let response = egress.send(request).await?;
        let status = response.status().as_u16();
        let body = Egress::read_body(response, MAX_TOKEN_RESPONSE).await?;
        parse_token_response(status, &body)
    }
}

fn oauth_error(status: u16, body: &[u8]) -> TokenError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(tidy)
    };
    match field("error") {
        Some(e) if e == "invalid_grant" => TokenError::InvalidGrant(field("error_description")),
        Some(error) => TokenError::Provider {
            error,
            description: field("error_description"),
        },
        None => TokenError::Provider {
            error: format!("HTTP {status}"),
            description: None,
        },
    }
}

/// A token endpoint answer: JSON (RFC 6749 5.1); an `error` member is an error even with 200
/// (GitHub, Slack answer so).
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenResponse, TokenError> {
    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) if !(200..300).contains(&status) => return Err(oauth_error(status, body)),
        Err(_) => return Err(TokenError::Malformed("not JSON".into())),
    };
    if !(200..300).contains(&status) || json.get("error").is_some() {
        return Err(oauth_error(status, body));
    }
    let text = |name: &str| {
        json.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let access_token =
        text("access_token").ok_or_else(|| TokenError::Malformed("no access_token".into()))?;
    let expires_in = match json.get("expires_in") {
        None | Some(Value::Null) => None,
        // Some providers send it as a string.
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(v) => v.as_i64(),
    }
    .filter(|n| *n > 0);
    Ok(TokenResponse {
        access_token: Zeroizing::new(access_token.to_string()),
        refresh_token: text("refresh_token").map(|t| Zeroizing::new(t.to_string())),
        expires_in,
        scope: text("scope").map(|s| {
            s.split([' ', ','])
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_are_read_and_errors_classified() {
        let ok = parse_token_response(
            200,
            br#"{"access_token":"at","refresh_token":"rt","expires_in":"3600","scope":"a b"}"#,
        )
        .unwrap();
        assert_eq!(ok.access_token.as_str(), "at");
        assert_eq!(ok.refresh_token.as_deref().map(String::as_str), Some("rt"));
        assert_eq!(ok.expires_in, Some(3600));
        assert_eq!(ok.scope.unwrap(), ["a", "b"]);

        assert!(matches!(
            parse_token_response(400, br#"{"error":"invalid_grant","error_description":"expired"}"#),
            Err(TokenError::InvalidGrant(Some(d))) if d == "expired"
        ));
        // GitHub: 200 with an error member.
        assert!(matches!(
            parse_token_response(200, br#"{"error":"bad_verification_code"}"#),
            Err(TokenError::Provider { error, .. }) if error == "bad_verification_code"
        ));
        assert!(matches!(
            parse_token_response(502, b"<html>bad gateway</html>"),
            Err(TokenError::Provider { error, .. }) if error == "HTTP 502"
        ));
        assert!(matches!(
            parse_token_response(200, br#"{"token_type":"bearer"}"#),
            Err(TokenError::Malformed(_))
        ));
        let long = format!(
            r#"{{"error":"x","error_description":"{}\u0007"}}"#,
            "d".repeat(500)
        );
        match parse_token_response(400, long.as_bytes()) {
            Err(TokenError::Provider {
                description: Some(d),
                ..
            }) => assert_eq!(d.len(), 200),
            _ => panic!("expected a provider error"),
        }
    }
}
