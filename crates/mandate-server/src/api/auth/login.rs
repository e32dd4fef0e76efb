//! Signing in: the password (`POST /api/auth/login`), then, for people with an authenticator,
//! the second factor (`POST /api/auth/mfa`), which also serves as step-up in a signed-in
//! session.
//!
//! An unknown address and a wrong password give the same 401 after the same Argon2 work, and
//! lock out the same way (5 failures in 15 minutes, then 15 minutes locked), so neither the
//! answer nor its timing says whether an account exists. Second-factor failures count toward
//! the same lockout, and the counter clears only when sign-in is complete.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mandate_crypto::password::Verification;
use mandate_crypto::tokens::TokenHash;
use mandate_store::people::sessions::{self, SessionState};
use mandate_store::people::{lockouts, mfa, users};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;
use webauthn_rs::prelude::PublicKeyCredential;

use super::{time_json, user_json, with_cookie};
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::principal::STEP_UP_WINDOW;
use crate::auth::second_factor::Factor;
use crate::auth::sign_in::{Start, start_session};
use crate::auth::{ClientIp, CurrentSession, csrf, limits, second_factor};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
}

/// The lockout key of an address: a hash, so the table holds no addresses that have no account.
pub fn lockout_subject(email: &str) -> String {
    let hash = TokenHash::of(&format!("login:{}", email.trim().to_lowercase())).0;
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid email or password")
}

pub async fn login(
    State(app): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    csrf::check_credentials_post(&app.config, &headers)?;
    let now = OffsetDateTime::now_utc();
    limits::check(&app.db, limits::LOGIN_PER_IP, &ip.0.to_string(), now).await?;
    let subject = lockout_subject(&req.email);
    if let Some(until) = lockouts::locked_until(&app.db, &subject, now).await? {
        record(
            &app,
            login_event(actions::LOGIN_FAILED, None, ip, "locked").outcome(Outcome::Failure),
        )
        .await;
        return Err(limits::locked(until, now));
    }
    let user = match users::normalize_email(&req.email) {
        Ok(email) => users::by_email(&app.db, &email).await?,
        Err(_) => None,
    };
    let verification = match &user {
        Some(u) => {
            app.passwords
                .verify(&u.password_hash, &req.password)
                .await?
        }
        None => {
            app.passwords.burn(&req.password).await?;
            Verification::Mismatch
        }
    };
    let (user, needs_rehash) = match (user, verification) {
        (Some(user), Verification::Match { needs_rehash }) => (user, needs_rehash),
        (user, _) => {
            let reason = if user.is_some() {
                "wrong password"
            } else {
                "unknown email"
            };
            fail(&app, &subject, user.map(|u| u.id), ip, reason, now).await?;
            return Err(invalid_credentials());
        }
    };
    if needs_rehash {
        let hash = app.passwords.hash(&req.password).await?;
        users::set_password_hash(&app.db, user.id, &hash, None).await?;
        tracing::info!(user_id = %user.id, "password hash upgraded to the current parameters");
    }
    let enrolled = second_factor::enrolled(&app.db, user.id).await?;
    let needs_second_factor = enrolled.any();
    let state = if needs_second_factor {
        SessionState::MfaPending
    } else {
        lockouts::clear(&app.db, &subject, now).await?;
        SessionState::Active
    };
    let started = start_session(
        &app,
        Start {
            user_id: user.id,
            workspace_id: None,
            state,
            mfa_at: None,
            ip,
            headers: &headers,
            now,
        },
    )
    .await?;
    let stage = if needs_second_factor {
        "password"
    } else {
        "complete"
    };
    let audit_id = app
        .audit
        .record(
            login_event(actions::LOGIN_SUCCEEDED, Some(user.id), ip, stage)
                .outcome(Outcome::Success)
                .details(json!({ "stage": stage, "session": started.session.id })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(with_cookie(
        StatusCode::OK,
        Some(started.cookie),
        json!({
            "user": user_json(&user),
            "mfaRequired": needs_second_factor,
            "mfaMethods": enrolled.names(),
            "auditId": audit_id,
        }),
    ))
}

fn login_event(
    action: &'static str,
    user_id: Option<Uuid>,
    ip: ClientIp,
    stage: &str,
) -> AuditEvent {
    let actor = user_id.map_or(Actor::System("server"), Actor::User);
    let mut event = AuditEvent::new(actor, action)
        .source_ip(ip.0)
        .details(json!({ "reason": stage }));
    if let Some(id) = user_id {
        event = event.target("user", id.to_string());
    }
    event
}

async fn record(app: &AppState, event: AuditEvent) {
    if let Err(e) = app.audit.record_buffered(event).await {
        tracing::error!(error = %e, "recording a sign-in event failed");
    }
}

/// Count a failure, lock when it is the fifth, and audit both.
async fn fail(
    app: &AppState,
    subject: &str,
    user_id: Option<Uuid>,
    ip: ClientIp,
    reason: &'static str,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let locked = lockouts::record_failure(&app.db, subject, now, limits::LOGIN_LOCKOUT).await?;
    record(
        app,
        login_event(actions::LOGIN_FAILED, user_id, ip, reason).outcome(Outcome::Failure),
    )
    .await;
    if let Some(until) = locked {
        let actor = user_id.map_or(Actor::System("server"), Actor::User);
        let mut event = AuditEvent::new(actor, actions::LOGIN_LOCKED)
            .source_ip(ip.0)
            .outcome(Outcome::Failure)
            .details(json!({ "lockedUntil": time_json(until) }));
        if let Some(id) = user_id {
            event = event.target("user", id.to_string());
        }
        record(app, event).await;
    }
    Ok(())
}

/// Either a code (authenticator or backup code) or a passkey's answer to the challenge from
/// `POST /api/auth/passkeys/challenge`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecondFactorRequest {
    code: Option<String>,
    passkey: Option<PasskeyAnswer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasskeyAnswer {
    ceremony_id: Uuid,
    credential: Box<PublicKeyCredential>,
}

/// The second factor: finishes a sign-in waiting for it (with a new session token), or, in a
/// signed-in session, records a fresh second factor for step-up operations.
pub async fn second_factor(
    State(app): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CurrentSession { session }: CurrentSession,
    ApiJson(req): ApiJson<SecondFactorRequest>,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    limits::check(
        &app.db,
        limits::MFA_PER_SESSION,
        &session.id.to_string(),
        now,
    )
    .await?;
    let user = users::by_id(&app.db, session.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    let subject = lockout_subject(&user.email);
    if let Some(until) = lockouts::locked_until(&app.db, &subject, now).await? {
        return Err(limits::locked(until, now));
    }
    let factor = match (&req.code, &req.passkey) {
        (Some(code), None) => {
            match second_factor::verify(&app.db, &app.vault, user.id, code, now).await? {
                Some(factor) => factor,
                None => {
                    fail(&app, &subject, Some(user.id), ip, "wrong code", now).await?;
                    return Err(ApiError::unauthorized("invalid or already used code"));
                }
            }
        }
        (None, Some(answer)) => {
            let verified = app
                .passkeys
                .finish_authentication(
                    &app.db,
                    &session,
                    answer.ceremony_id,
                    &answer.credential,
                    now,
                )
                .await?;
            if !verified {
                fail(
                    &app,
                    &subject,
                    Some(user.id),
                    ip,
                    "passkey not verified",
                    now,
                )
                .await?;
                return Err(ApiError::unauthorized("the passkey could not be verified"));
            }
            Factor::Passkey
        }
        _ => {
            return Err(ApiError::bad_request(
                "give either `code` or `passkey`, not both",
            ));
        }
    };
    lockouts::clear(&app.db, &subject, now).await?;
    let backup_codes_left = mfa::backup_codes_left(&app.db, user.id).await?;
    let details = json!({ "factor": factor.as_str(), "backupCodesLeft": backup_codes_left });
    if session.state == SessionState::Active {
        sessions::record_mfa(&app.db, session.id, now).await?;
        let audit_id = app
            .audit
            .record(
                AuditEvent::new(Actor::User(user.id), actions::STEP_UP_SUCCEEDED)
                    .target("session", session.id.to_string())
                    .source_ip(ip.0)
                    .outcome(Outcome::Success)
                    .details(details),
            )
            .await
            .map_err(|e| ApiError::internal(&e))?;
        return Ok(with_cookie(
            StatusCode::OK,
            None,
            json!({
                "signedIn": true,
                "stepUpUntil": time_json(now + STEP_UP_WINDOW),
                "backupCodesLeft": backup_codes_left,
                "auditId": audit_id,
            }),
        ));
    }
    // Finish the sign-in with a new token: the pre-MFA one dies here.
    sessions::delete(&app.db, session.id).await?;
    let started = start_session(
        &app,
        Start {
            user_id: user.id,
            workspace_id: session.workspace_id,
            state: SessionState::Active,
            mfa_at: Some(now),
            ip,
            headers: &headers,
            now,
        },
    )
    .await?;
    let audit_id = app
        .audit
        .record(
            login_event(actions::LOGIN_SUCCEEDED, Some(user.id), ip, "complete")
                .outcome(Outcome::Success)
                .details(json!({
                    "stage": "second factor",
                    "factor": factor.as_str(),
                    "session": started.session.id,
                    "backupCodesLeft": backup_codes_left,
                })),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(with_cookie(
        StatusCode::OK,
        Some(started.cookie),
        json!({
            "signedIn": true,
            "stepUpUntil": time_json(now + STEP_UP_WINDOW),
            "backupCodesLeft": backup_codes_left,
            "auditId": audit_id,
        }),
    ))
}
