//! Making connections.
//!
//! OAuth 2.0, authorization code with PKCE (S256): [`start_oauth`] stores a flow (the state's
//! hash, the sealed verifier, the session that started it, 10 minutes) and answers the
//! provider's authorization URL; [`finish_oauth`] takes the flow once, for that session only,
//! exchanges the code and stores the tokens sealed. Consent denied, a state that is unknown,
//! used, expired or from another session, a provider error, or a missing refresh token where
//! the catalog requires one: each is a clear error, and nothing is stored.
//!
//! Pasted secrets ([`create_pasted`]): API keys, bot tokens and basic pairs, checked with the
//! catalog's validation call before they are stored.

use axum::http::{Method, StatusCode};
use mandate_crypto::pkce::{self, Pkce};
use mandate_crypto::tokens::TokenHash;
use mandate_egress::{Egress, EgressError};
use mandate_store::connections::accounts::{self, Reconnected};
use mandate_store::connections::flows::{self, ConnectFlow};
use mandate_store::connections::{Connection, ConnectionState, oauth_apps};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use url::Url;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::access::{announce, client_for_app};
use super::catalog::{AuthScheme, Provider, is_host};
use super::credential::Credential;
use super::injection::inject;
use super::oauth_client::{OAuthClient, TokenError};
use crate::audit::{AuditEvent, Outcome, actions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a started connect flow may take.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);
/// The vault kind PKCE verifiers are sealed as.
pub const VERIFIER_KIND: &str = "pkce_verifier";
/// Where providers send the browser back, under the public base URL.
pub const CALLBACK_PATH: &str = "/v1/connections/oauth/callback";

pub struct StartOAuth {
    pub oauth_app_id: String,
    pub service: Option<String>,
    /// Scopes on top of the provider's and the service's.
    pub extra_scopes: Vec<String>,
    pub label: Option<String>,
    /// Re-consent for this existing connection instead of making a new one.
    pub reconnect: Option<String>,
}

fn scope_list(provider: &Provider, service: Option<&str>, extra: &[String]) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    let service_scopes = service
        .and_then(|id| provider.services.iter().find(|s| s.id == id))
        .map(|s| s.scopes.as_slice())
        .unwrap_or_default();
    for s in provider
        .default_scopes
        .iter()
        .chain(service_scopes)
        .chain(extra)
    {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    scopes
}

fn check_service(provider: &Provider, service: Option<&str>) -> Result<(), ApiError> {
    match service {
        Some(id) if !provider.services.iter().any(|s| s.id == id) => Err(ApiError::bad_request(
            format!("`service`: {} has no service `{id}`", provider.id),
        )),
        _ => Ok(()),
    }
}

fn default_label(provider: &Provider, service: Option<&str>) -> String {
    service
        .and_then(|id| provider.services.iter().find(|s| s.id == id))
        .map_or_else(|| provider.name.clone(), |s| s.name.clone())
}

/// Start connecting: the URL to send the person's browser to.
pub async fn start_oauth(
    app: &AppState,
    principal: &Principal,
    redirect_uri: String,
    req: StartOAuth,
) -> Result<Url, ApiError> {
    let session_id = principal.session_id().ok_or_else(|| {
        ApiError::bad_request("connecting an account needs a browser session")
            .with_hint("sign in to the dashboard; a personal access token cannot finish the provider's consent")
    })?;
    let row = oauth_apps::get(&app.db, principal.workspace_id, &req.oauth_app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("OAuth app not found"))?;
    let provider = app
        .catalog
        .get(&row.provider)
        .filter(|p| p.auth == AuthScheme::Oauth2)
        .ok_or_else(|| ApiError::bad_request("the OAuth app's provider is not in the catalog"))?;
    let (service, label) = match &req.reconnect {
        Some(id) => {
            let c = accounts::get(&app.db, principal.workspace_id, id)
                .await?
                .ok_or_else(|| ApiError::not_found("connection not found"))?;
            if c.state == ConnectionState::Revoked {
                return Err(
                    ApiError::new(StatusCode::CONFLICT, "the connection was revoked")
                        .with_hint("make a new connection"),
                );
            }
            if c.provider != provider.id {
                return Err(ApiError::bad_request(
                    "`oauthAppId`: the app is for another provider than the connection",
                ));
            }
            (c.service, c.label)
        }
        None => {
            check_service(provider, req.service.as_deref())?;
            let label = match &req.label {
                Some(l) => accounts::validate_label(l)?,
                None => default_label(provider, req.service.as_deref()),
            };
            (req.service.clone(), label)
        }
    };
    if let Some(bad) = req.extra_scopes.iter().find(|s| {
        s.is_empty() || s.len() > 200 || s.chars().any(|c| c.is_whitespace() || c.is_control())
    }) {
        return Err(ApiError::bad_request(format!(
            "`scopes`: `{}` is not a scope (no spaces, 1 to 200 characters)",
            bad.escape_default()
        )));
    }
    let scopes = scope_list(provider, service.as_deref(), &req.extra_scopes);
    let client = oauth_client_for(app, provider, &row).await?;
    let pkce = Pkce::generate().map_err(|e| ApiError::internal(&e))?;
    let state = pkce::state().map_err(|e| ApiError::internal(&e))?;
    let flow_id = Uuid::now_v7().to_string();
    let sealed_verifier = app
        .vault
        .seal(
            principal.workspace_id,
            VERIFIER_KIND,
            &flow_id,
            pkce.verifier.as_bytes(),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let now = OffsetDateTime::now_utc();
    flows::create(
        &app.db,
        &ConnectFlow {
            id: flow_id,
            state_hash: TokenHash::of(&state).0,
            workspace_id: principal.workspace_id,
            user_id: principal.user_id,
            session_id,
            oauth_app_id: row.id.clone(),
            connection_id: req.reconnect,
            service,
            label,
            scopes: scopes.clone(),
            redirect_uri: redirect_uri.clone(),
            sealed_code_verifier: sealed_verifier,
            created_at: now,
            expires_at: now + FLOW_LIFETIME,
        },
    )
    .await?;
    Ok(client.authorization_url(provider, &redirect_uri, &scopes, &state, &pkce.challenge))
}

async fn oauth_client_for(
    app: &AppState,
    provider: &Provider,
    row: &oauth_apps::OAuthApp,
) -> Result<OAuthClient, ApiError> {
    client_for_app(app, provider, row)
        .await
        .map_err(|e| ApiError::bad_request(format!("the OAuth app cannot be used: {e}")))
}

/// What the provider sent back to the callback.
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Finish connecting. Answers the new (or re-consented) connection and the audit record id.
pub async fn finish_oauth(
    app: &AppState,
    principal: &Principal,
    callback: Callback,
) -> Result<(Connection, Uuid), ApiError> {
    let state = callback.state.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_request("the provider's answer has no `state`")
            .with_hint("start connecting again")
    })?;
    let session_id = principal.session_id().ok_or_else(|| {
        ApiError::bad_request("finishing a connection needs the browser session that started it")
    })?;
    let now = OffsetDateTime::now_utc();
    let Some(flow) = flows::take(&app.db, &TokenHash::of(&state).0, session_id, now).await? else {
        refused(
            app,
            principal,
            None,
            "unknown, used, expired or foreign state",
        )
        .await;
        return Err(ApiError::bad_request(
            "this connect request is unknown, was already used, expired, or was started in another browser session",
        )
        .with_hint("start connecting again from the same browser, and finish within 10 minutes"));
    };
    if flow.workspace_id != principal.workspace_id || flow.user_id != principal.user_id {
        refused(
            app,
            principal,
            Some(&flow),
            "workspace changed during the flow",
        )
        .await;
        return Err(ApiError::bad_request(
            "the workspace changed since this connection was started",
        )
        .with_hint("start connecting again"));
    }
    if let Some(error) = callback.error {
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let description: Option<String> = callback
            .error_description
            .map(|d| d.chars().filter(|c| !c.is_control()).take(200).collect());
        refused(
            app,
            principal,
            Some(&flow),
            &format!("provider said {error}"),
        )
        .await;
        let message = if error == "access_denied" {
            "consent was denied at the provider; nothing was connected".to_string()
        } else {
            format!(
                "the provider answered `{error}`{}; nothing was connected",
                description.map(|d| format!(": {d}")).unwrap_or_default()
            )
        };
        return Err(ApiError::bad_request(message).with_hint("start connecting again"));
    }
    let code = callback.code.filter(|c| !c.is_empty()).ok_or_else(|| {
        ApiError::bad_request("the provider's answer has no `code`")
            .with_hint("start connecting again")
    })?;
    let row = oauth_apps::get(&app.db, flow.workspace_id, &flow.oauth_app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("the OAuth app was deleted during the flow"))?;
    let provider = app
        .catalog
        .get(&row.provider)
        .ok_or_else(|| ApiError::bad_request("the OAuth app's provider is not in the catalog"))?;
    let client = oauth_client_for(app, provider, &row).await?;
    let verifier = app
        .vault
        .open(
            flow.workspace_id,
            VERIFIER_KIND,
            &flow.id,
            &flow.sealed_code_verifier,
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let verifier = Zeroizing::new(String::from_utf8_lossy(&verifier).into_owned());
    let tokens = match client
        .exchange_code(&app.egress, &code, &flow.redirect_uri, &verifier)
        .await
    {
        Ok(tokens) => tokens,
        Err(e) => {
            refused(app, principal, Some(&flow), &e.to_string()).await;
            let status = match e {
                TokenError::Unreachable(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            return Err(ApiError::new(status, format!("{e}; nothing was connected"))
                .with_hint("start connecting again"));
        }
    };
    if provider.refresh_token_required && tokens.refresh_token.is_none() {
        refused(app, principal, Some(&flow), "no refresh token").await;
        return Err(ApiError::bad_request(format!(
            "{} sent no refresh token, so the connection could not stay usable; nothing was connected",
            provider.name
        ))
        .with_hint("remove Mandate's access in the provider's account settings, then connect again so it asks for consent"));
    }
    let credential = Credential::Oauth {
        access_token: tokens.access_token.to_string(),
        refresh_token: tokens.refresh_token.as_ref().map(|t| t.to_string()),
    };
    let scopes = tokens.scope.unwrap_or(flow.scopes);
    let expires_at = tokens.expires_in.map(|s| now + Duration::seconds(s));
    let (connection, action) = match &flow.connection_id {
        Some(id) => {
            let sealed = credential
                .seal(&app.vault, flow.workspace_id, id)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            accounts::reconnect(
                &app.db,
                flow.workspace_id,
                id,
                Reconnected {
                    sealed_credential: &sealed,
                    has_refresh_token: credential.refresh_token().is_some(),
                    access_expires_at: expires_at,
                    scopes: &scopes,
                    oauth_app_id: &row.id,
                },
                now,
            )
            .await?;
            let c = accounts::get(&app.db, flow.workspace_id, id)
                .await?
                .ok_or_else(|| ApiError::not_found("connection not found"))?;
            (c, actions::CONNECTION_RECONNECTED)
        }
        None => {
            let id = Uuid::now_v7().to_string();
            let sealed = credential
                .seal(&app.vault, flow.workspace_id, &id)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            let c = Connection {
                id,
                workspace_id: flow.workspace_id,
                provider: provider.id.clone(),
                service: flow.service,
                label: flow.label,
                oauth_app_id: Some(row.id.clone()),
                state: ConnectionState::Active,
                scopes,
                api_hosts: row.api_hosts.clone(),
                sealed_credential: Some(sealed),
                has_refresh_token: credential.refresh_token().is_some(),
                access_expires_at: expires_at.map(mandate_store::to_db_precision),
                last_refreshed_at: None,
                last_error: None,
                created_by: Some(principal.user_id),
                created_at: mandate_store::to_db_precision(now),
                updated_at: mandate_store::to_db_precision(now),
            };
            accounts::create(&app.db, &c).await?;
            (c, actions::CONNECTION_CREATED)
        }
    };
    let audit_id = record_made(app, principal, &connection, action, "oauth").await?;
    Ok((connection, audit_id))
}

async fn record_made(
    app: &AppState,
    principal: &Principal,
    c: &Connection,
    action: &'static str,
    method: &str,
) -> Result<Uuid, ApiError> {
    let event = super::audit_event(principal.actor(), action, c)
        .outcome(Outcome::Success)
        .details(json!({
            "provider": c.provider,
            "service": c.service,
            "label": c.label,
            "method": method,
            "scopes": c.scopes,
            "hasRefreshToken": c.has_refresh_token,
        }));
    let audit_id = app
        .audit
        .record(event)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    announce(app, c.workspace_id, &c.id).await;
    Ok(audit_id)
}

/// A failed connect attempt, audited (never with the code or tokens).
async fn refused(app: &AppState, principal: &Principal, flow: Option<&ConnectFlow>, reason: &str) {
    let event = AuditEvent::new(principal.actor(), actions::CONNECTION_CONNECT_FAILED)
        .workspace(principal.workspace_id)
        .outcome(Outcome::Failure)
        .details(json!({
            "reason": reason,
            "oauthAppId": flow.map(|f| f.oauth_app_id.clone()),
            "connectionId": flow.and_then(|f| f.connection_id.clone()),
        }));
    if let Err(e) = app.audit.record(event).await {
        tracing::error!(error = %e, "auditing a failed connect attempt failed");
    }
}

/// A pasted secret.
pub struct Pasted {
    pub provider: String,
    pub service: Option<String>,
    pub label: Option<String>,
    pub credential: Credential,
    /// Generic providers: where the credential may be sent.
    pub api_hosts: Vec<String>,
    /// Generic providers: a URL to check the credential with (GET, 2xx expected).
    pub validate_url: Option<String>,
}

/// Check a pasted secret with the provider and store it.
pub async fn create_pasted(
    app: &AppState,
    principal: &Principal,
    req: Pasted,
) -> Result<(Connection, Uuid), ApiError> {
    let provider = app.catalog.get(&req.provider).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`provider`: no provider `{}` in the catalog",
            req.provider
        ))
    })?;
    if provider.auth == AuthScheme::Oauth2 {
        return Err(ApiError::bad_request(format!(
            "{} connects with OAuth, not a pasted secret",
            provider.name
        ))
        .with_hint("POST /v1/connections/oauth/start with one of the workspace's OAuth apps"));
    }
    check_service(provider, req.service.as_deref())?;
    check_pasted_credential(provider, &req.credential)?;
    let api_hosts = if provider.generic {
        if req.api_hosts.is_empty() {
            return Err(ApiError::bad_request(
                "`apiHosts` must list the hosts the credential may be sent to",
            ));
        }
        if let Some(bad) = req.api_hosts.iter().find(|h| !is_host(h)) {
            return Err(ApiError::bad_request(format!(
                "`apiHosts`: `{bad}` is not a lower-case host name (no scheme, port, path or wildcard)"
            )));
        }
        req.api_hosts
    } else {
        if !req.api_hosts.is_empty() || req.validate_url.is_some() {
            return Err(ApiError::bad_request(format!(
                "`{}` brings its own hosts and validation; set `apiHosts` and `validateUrl` only for a generic provider",
                provider.id
            )));
        }
        Vec::new()
    };
    let validation = match (&provider.validate, &req.validate_url) {
        (Some(call), _) => Some((call.method.clone(), call.url.clone())),
        (None, Some(url)) => {
            let parsed =
                Url::parse(url).map_err(|_| ApiError::bad_request("`validateUrl` is not a URL"))?;
            if !parsed
                .host_str()
                .is_some_and(|h| api_hosts.iter().any(|a| a == h))
            {
                return Err(ApiError::bad_request(
                    "`validateUrl` must be on one of `apiHosts`",
                ));
            }
            Some(("GET".to_string(), url.clone()))
        }
        (None, None) => None,
    };
    let validated = match validation {
        Some((method, url)) => {
            validate_with_provider(app, provider, &req.credential, &method, &url).await?;
            true
        }
        None => false,
    };
    let label = match &req.label {
        Some(l) => accounts::validate_label(l)?,
        None => default_label(provider, req.service.as_deref()),
    };
    let now = mandate_store::to_db_precision(OffsetDateTime::now_utc());
    let id = Uuid::now_v7().to_string();
    let sealed = req
        .credential
        .seal(&app.vault, principal.workspace_id, &id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let c = Connection {
        id,
        workspace_id: principal.workspace_id,
        provider: provider.id.clone(),
        service: req.service,
        label,
        oauth_app_id: None,
        state: ConnectionState::Active,
        scopes: Vec::new(),
        api_hosts,
        sealed_credential: Some(sealed),
        has_refresh_token: false,
        access_expires_at: None,
        last_refreshed_at: None,
        last_error: None,
        created_by: Some(principal.user_id),
        created_at: now,
        updated_at: now,
    };
    accounts::create(&app.db, &c).await?;
    let method = if validated {
        "pasted, validated"
    } else {
        "pasted"
    };
    let audit_id = record_made(app, principal, &c, actions::CONNECTION_CREATED, method).await?;
    Ok((c, audit_id))
}

fn check_pasted_credential(provider: &Provider, credential: &Credential) -> Result<(), ApiError> {
    let ok_text = |field: &str, v: &str, max: usize| {
        if v.is_empty() || v.len() > max || v.chars().any(|c| c.is_control() || c == ' ') {
            Err(ApiError::bad_request(format!(
                "`{field}` must be 1 to {max} characters without spaces or control characters"
            )))
        } else {
            Ok(())
        }
    };
    match (provider.auth, credential) {
        (AuthScheme::Basic, Credential::Basic { username, password }) => {
            ok_text("username", username, 500)?;
            ok_text("password", password, 4000)
        }
        (AuthScheme::Basic, _) => Err(ApiError::bad_request(
            "this provider takes `username` and `password`",
        )),
        (_, Credential::Secret { secret }) => ok_text("secret", secret, 4000),
        _ => Err(ApiError::bad_request("this provider takes a `secret`")),
    }
}

/// The catalog's cheap call with the credential injected; 2xx means it works.
async fn validate_with_provider(
    app: &AppState,
    provider: &Provider,
    credential: &Credential,
    method: &str,
    url: &str,
) -> Result<(), ApiError> {
    let url = Url::parse(url).map_err(|e| ApiError::internal(&e))?;
    let (url, headers) =
        inject(provider, credential, url).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| ApiError::internal(&e))?;
    let host = url.host_str().unwrap_or_default().to_string();
    let mut request = app.egress.request(method, url).map_err(|e| {
        ApiError::bad_request(format!("the validation call to {host} is not allowed: {e}"))
    })?;
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let unreachable = |e: EgressError| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "{} could not be reached to check the secret ({e}); nothing was stored",
                provider.name
            ),
        )
        .with_hint("try again later")
    };
    let response = app.egress.send(request).await.map_err(unreachable)?;
    let status = response.status();
    // Read (and drop) the answer, bounded: it may echo the credential back.
    let _ = Egress::read_body(response, 64 * 1024).await;
    if status.is_success() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "{} refused the secret (HTTP {}); nothing was stored",
        provider.name,
        status.as_u16()
    ))
    .with_hint("check that the key is complete and still valid"))
}
