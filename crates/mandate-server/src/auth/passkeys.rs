//! Passkeys (WebAuthn, through webauthn-rs) as a second factor beside TOTP.
//!
//! Registration and authentication are two-step ceremonies. The state between the steps (the
//! challenge, the credentials allowed) is stored in the database, bound to the session that
//! started it, valid for 5 minutes and taken once, so any replica can finish a ceremony and no
//! challenge answers twice. webauthn-rs checks the origin, the relying party id, user
//! verification (always required) and the signature counter (a counter that goes backwards is
//! refused as a possibly cloned authenticator).

use std::sync::Arc;

use mandate_store::Db;
use mandate_store::people::passkeys::{self, CeremonyKind, NewCeremony, NewPasskey};
use mandate_store::people::sessions::Session;
use mandate_store::people::users::User;
use time::{Duration, OffsetDateTime};
use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Webauthn,
    WebauthnBuilder,
};

use crate::config::{Config, ConfigError};
use crate::error::ApiError;

/// How long a started ceremony can be finished (WebAuthn's recommended timeout).
pub const CEREMONY_TTL: Duration = Duration::minutes(5);

/// The relying party, or why passkeys are off on this deployment.
#[derive(Clone)]
pub struct Passkeys {
    relying_party: Result<Arc<Webauthn>, &'static str>,
}

impl Passkeys {
    /// From `PUBLIC_URL`, `WEBAUTHN_RP_ID` and `DASHBOARD_ORIGIN`. A relying party id that does
    /// not fit `PUBLIC_URL` is a configuration error; a `PUBLIC_URL` whose host is an IP
    /// address (which WebAuthn cannot use) leaves passkeys off.
    pub fn from_config(config: &Config) -> Result<Passkeys, ConfigError> {
        let configured = config.auth.webauthn_rp_id.as_deref();
        let (rp_id, origin, any_port) = match &config.public_url {
            Some(url) => {
                let Some(domain) = url.domain() else {
                    if configured.is_some() {
                        return Err(ConfigError::new(
                            "WEBAUTHN_RP_ID",
                            "needs PUBLIC_URL with a host name, not an IP address",
                        ));
                    }
                    return Ok(Passkeys::off(
                        "passkeys need PUBLIC_URL with a host name, not an IP address",
                    ));
                };
                let rp_id = configured.unwrap_or(domain).to_ascii_lowercase();
                (rp_id, origin_of(url)?, false)
            }
            // Development without PUBLIC_URL: browsers allow WebAuthn on http://localhost.
            None => {
                let rp_id = configured.unwrap_or("localhost").to_string();
                let origin = Url::parse(&format!("http://{rp_id}"))
                    .map_err(|e| ConfigError::new("WEBAUTHN_RP_ID", e.to_string()))?;
                (rp_id, origin, true)
            }
        };
        let mut builder = WebauthnBuilder::new(&rp_id, &origin).map_err(|_| {
            ConfigError::new(
                "WEBAUTHN_RP_ID",
                format!(
                    "`{rp_id}` must be PUBLIC_URL's host or a parent domain of it ({})",
                    origin.as_str()
                ),
            )
        })?;
        builder = builder.rp_name("Mandate").allow_any_port(any_port);
        let dashboard = match config.dashboard_origin.as_deref().map(Url::parse) {
            Some(Ok(url)) => Some(url),
            Some(Err(e)) => return Err(ConfigError::new("DASHBOARD_ORIGIN", e.to_string())),
            None => None,
        };
        if let Some(dashboard) = &dashboard {
            builder = builder.append_allowed_origin(dashboard);
        }
        let webauthn = builder
            .build()
            .map_err(|e| ConfigError::new("WEBAUTHN_RP_ID", e.to_string()))?;
        Ok(Passkeys {
            relying_party: Ok(Arc::new(webauthn)),
        })
    }

    pub fn off(reason: &'static str) -> Passkeys {
        Passkeys {
            relying_party: Err(reason),
        }
    }

    /// Why passkeys are off, if they are.
    pub fn unavailable(&self) -> Option<&'static str> {
        self.relying_party.as_ref().err().copied()
    }

    fn relying_party(&self) -> Result<&Webauthn, ApiError> {
        match &self.relying_party {
            Ok(webauthn) => Ok(webauthn),
            Err(reason) => Err(ApiError::new(axum::http::StatusCode::CONFLICT, *reason)
                .with_hint("set PUBLIC_URL to the address people open, with a host name")),
        }
    }

    /// Start registering a new passkey named `name` for the session's user.
    pub async fn start_registration(
        &self,
        db: &Db,
        session: &Session,
        user: &User,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<(Uuid, CreationChallengeResponse), ApiError> {
        let webauthn = self.relying_party()?;
        let name = passkeys::validate_name(name)?;
        let existing: Vec<Vec<u8>> = passkeys::list(db, user.id)
            .await?
            .into_iter()
            .map(|p| p.credential_id)
            .collect();
        let (challenge, state) = webauthn
            .start_passkey_registration(user.id, &user.email, &user.display_name, Some(existing))
            .map_err(|e| ApiError::internal(&e))?;
        let state = serde_json::to_string(&state).map_err(|e| ApiError::internal(&e))?;
        let id = passkeys::start_ceremony(
            db,
            NewCeremony {
                session_id: session.id,
                kind: CeremonyKind::Registration,
                state: &state,
                label: Some(&name),
                now,
                expires_at: now + CEREMONY_TTL,
            },
        )
        .await?;
        Ok((id, challenge))
    }

    /// Finish a registration: the new passkey, stored. 400 when the ceremony is unknown, used or
    /// expired, or the authenticator's answer does not verify; 409 when the passkey is already
    /// registered.
    pub async fn finish_registration(
        &self,
        db: &Db,
        session: &Session,
        ceremony_id: Uuid,
        credential: &RegisterPublicKeyCredential,
        now: OffsetDateTime,
    ) -> Result<passkeys::Passkey, ApiError> {
        let webauthn = self.relying_party()?;
        let taken =
            passkeys::take_ceremony(db, ceremony_id, session.id, CeremonyKind::Registration, now)
                .await?
                .ok_or_else(ceremony_gone)?;
        let state: PasskeyRegistration =
            serde_json::from_str(&taken.state).map_err(|e| ApiError::internal(&e))?;
        let passkey = webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(|e| {
                tracing::info!(error = %e, "passkey registration refused");
                ApiError::bad_request("the passkey's answer could not be verified")
                    .with_hint("start again with POST /api/auth/passkeys/register/start")
            })?;
        let stored = serde_json::to_string(&passkey).map_err(|e| ApiError::internal(&e))?;
        let name = taken.label.unwrap_or_else(|| "Passkey".to_string());
        Ok(passkeys::create(
            db,
            NewPasskey {
                user_id: session.user_id,
                credential_id: passkey.cred_id(),
                name: &name,
                credential: &stored,
                now,
            },
        )
        .await?)
    }

    /// Start an assertion for the session's user. 409 when they have no passkey.
    pub async fn start_authentication(
        &self,
        db: &Db,
        session: &Session,
        now: OffsetDateTime,
    ) -> Result<(Uuid, RequestChallengeResponse), ApiError> {
        let webauthn = self.relying_party()?;
        let registered = passkeys::list(db, session.user_id).await?;
        if registered.is_empty() {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "no passkey is registered",
            ));
        }
        let creds = registered
            .iter()
            .map(|p| serde_json::from_str::<Passkey>(&p.credential))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::internal(&e))?;
        let (challenge, state) = webauthn
            .start_passkey_authentication(&creds)
            .map_err(|e| ApiError::internal(&e))?;
        let state = serde_json::to_string(&state).map_err(|e| ApiError::internal(&e))?;
        let id = passkeys::start_ceremony(
            db,
            NewCeremony {
                session_id: session.id,
                kind: CeremonyKind::Authentication,
                state: &state,
                label: None,
                now,
                expires_at: now + CEREMONY_TTL,
            },
        )
        .await?;
        Ok((id, challenge))
    }

    /// Check an assertion against the session's ceremony and record the use (new counter).
    /// Ok(false) when it does not verify; 400 when the ceremony is unknown, used or expired.
    pub async fn finish_authentication(
        &self,
        db: &Db,
        session: &Session,
        ceremony_id: Uuid,
        credential: &PublicKeyCredential,
        now: OffsetDateTime,
    ) -> Result<bool, ApiError> {
        let webauthn = self.relying_party()?;
        let taken = passkeys::take_ceremony(
            db,
            ceremony_id,
            session.id,
            CeremonyKind::Authentication,
            now,
        )
        .await?
        .ok_or_else(ceremony_gone)?;
        let state: PasskeyAuthentication =
            serde_json::from_str(&taken.state).map_err(|e| ApiError::internal(&e))?;
        let result = match webauthn.finish_passkey_authentication(credential, &state) {
            Ok(result) => result,
            Err(e) => {
                tracing::info!(error = %e, "passkey assertion refused");
                return Ok(false);
            }
        };
        let registered = passkeys::list(db, session.user_id).await?;
        let Some(row) = registered
            .into_iter()
            .find(|p| p.credential_id == *result.cred_id())
        else {
            // Removed between the challenge and the answer.
            return Ok(false);
        };
        let mut passkey: Passkey =
            serde_json::from_str(&row.credential).map_err(|e| ApiError::internal(&e))?;
        passkey.update_credential(&result);
        let stored = serde_json::to_string(&passkey).map_err(|e| ApiError::internal(&e))?;
        Ok(passkeys::record_use(db, session.user_id, &row.credential_id, &stored, now).await?)
    }
}

fn ceremony_gone() -> ApiError {
    ApiError::bad_request("this passkey ceremony is unknown, already used or expired")
        .with_hint("start a new one")
}

/// The origin alone (scheme, host, port) of a URL that may carry a path.
fn origin_of(url: &Url) -> Result<Url, ConfigError> {
    Url::parse(&url.origin().ascii_serialization())
        .map_err(|e| ConfigError::new("PUBLIC_URL", e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use super::*;

    fn passkeys(vars: &[(&str, &str)]) -> Result<Passkeys, String> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        let config =
            Config::load(&|name| map.get(name).cloned(), None).map_err(|e| e.to_string())?;
        Passkeys::from_config(&config).map_err(|e| e.to_string())
    }

    fn allowed(p: &Passkeys) -> Vec<String> {
        p.relying_party
            .as_ref()
            .unwrap()
            .get_allowed_origins()
            .iter()
            .map(|u| u.as_str().to_string())
            .collect()
    }

    #[test]
    fn the_relying_party_follows_public_url() {
        let p = passkeys(&[("PUBLIC_URL", "https://mandate.example.com/base/")]).unwrap();
        assert!(p.unavailable().is_none());
        assert_eq!(allowed(&p), ["https://mandate.example.com/"]);

        let p = passkeys(&[
            ("PUBLIC_URL", "https://mandate.example.com"),
            ("WEBAUTHN_RP_ID", "Example.com"),
            ("DASHBOARD_ORIGIN", "https://dash.example.com"),
        ])
        .unwrap();
        assert_eq!(
            allowed(&p),
            ["https://mandate.example.com/", "https://dash.example.com/"]
        );
    }

    #[test]
    fn a_relying_party_id_that_does_not_fit_is_refused_at_start() {
        let e = passkeys(&[
            ("PUBLIC_URL", "https://mandate.example.com"),
            ("WEBAUTHN_RP_ID", "example.org"),
        ])
        .err()
        .unwrap();
        assert!(e.contains("WEBAUTHN_RP_ID"), "{e}");
        // A suffix that is not a parent domain does not fit either.
        assert!(
            passkeys(&[
                ("PUBLIC_URL", "https://mandate.example.com"),
                ("WEBAUTHN_RP_ID", "ample.com"),
            ])
            .is_err()
        );
        for bad in ["https://example.com", "10.0.0.1", "example.com:443", "a..b"] {
            assert!(
                passkeys(&[("WEBAUTHN_RP_ID", bad)]).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn an_ip_address_leaves_passkeys_off_and_development_uses_localhost() {
        let p = passkeys(&[("PUBLIC_URL", "http://10.0.0.5:8080")]).unwrap();
        assert!(p.unavailable().unwrap().contains("host name"));
        assert!(
            passkeys(&[
                ("PUBLIC_URL", "http://10.0.0.5:8080"),
                ("WEBAUTHN_RP_ID", "example.com"),
            ])
            .is_err()
        );
        let p = passkeys(&[]).unwrap();
        assert_eq!(allowed(&p), ["http://localhost/"]);
    }
}
