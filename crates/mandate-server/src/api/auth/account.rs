//! A person's own account: password change (ends every other session), authenticator
//! enrolment and removal, backup codes. Removing the authenticator and new backup codes need a
//! second factor from the last 5 minutes (so does adding one beside a passkey).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mandate_crypto::password::Verification;
use mandate_store::people::sessions::{self, Session, SessionState};
use mandate_store::people::{lockouts, mfa, users};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use super::login::lockout_subject;
use super::with_cookie;
use crate::audit::{Actor, AuditEvent, Outcome, actions};
use crate::auth::principal::STEP_UP_WINDOW;
use crate::auth::sign_in::{Start, start_session};
use crate::auth::{ActiveSession, ClientIp, limits, passwords, second_factor};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

pub(super) fn require_fresh_second_factor(
    session: &Session,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    if session.mfa_at.is_some_and(|at| now - at <= STEP_UP_WINDOW) {
        return Ok(());
    }
    Err(
        ApiError::forbidden("this needs a second factor given in the last 5 minutes")
            .with_hint("POST /api/auth/mfa with a code or a passkey, then retry"),
    )
}

pub(super) async fn audit(app: &AppState, event: AuditEvent) -> Result<uuid::Uuid, ApiError> {
    app.audit
        .record(event.outcome(Outcome::Success))
        .await
        .map_err(|e| ApiError::internal(&e))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Every session of the person ends; the caller gets a new one.
pub async fn change_password(
    State(app): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ActiveSession { session }: ActiveSession,
    ApiJson(req): ApiJson<ChangePassword>,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let user = users::by_id(&app.db, session.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    let subject = lockout_subject(&user.email);
    if let Some(until) = lockouts::locked_until(&app.db, &subject, now).await? {
        return Err(limits::locked(until, now));
    }
    if !matches!(
        app.passwords
            .verify(&user.password_hash, &req.current_password)
            .await?,
        Verification::Match { .. }
    ) {
        lockouts::record_failure(&app.db, &subject, now, limits::LOGIN_LOCKOUT).await?;
        return Err(ApiError::unauthorized("the current password is wrong"));
    }
    passwords::check_new(&req.new_password, &user.email)?;
    let hash = app.passwords.hash(&req.new_password).await?;
    users::set_password_hash(&app.db, user.id, &hash, Some(now)).await?;
    let ended = sessions::delete_for_user(&app.db, user.id, None).await?;
    let started = start_session(
        &app,
        Start {
            user_id: user.id,
            workspace_id: session.workspace_id,
            state: SessionState::Active,
            mfa_at: session.mfa_at,
            ip,
            headers: &headers,
            now,
        },
    )
    .await?;
    let audit_id = audit(
        &app,
        AuditEvent::new(Actor::User(user.id), actions::PASSWORD_CHANGED)
            .target("user", user.id.to_string())
            .source_ip(ip.0)
            .details(json!({ "sessionsEnded": ended })),
    )
    .await?;
    Ok(with_cookie(
        StatusCode::OK,
        Some(started.cookie),
        json!({ "sessionsEnded": ended, "auditId": audit_id }),
    ))
}

/// A new secret to put into an authenticator app; it counts once confirmed with a code. With a
/// passkey already set up, adding an authenticator needs a fresh second factor.
pub async fn begin_totp(
    State(app): State<AppState>,
    ActiveSession { session }: ActiveSession,
) -> Result<Response, ApiError> {
    let enrolled = second_factor::enrolled(&app.db, session.user_id).await?;
    if enrolled.passkeys && !enrolled.totp {
        require_fresh_second_factor(&session, OffsetDateTime::now_utc())?;
    }
    let user = users::by_id(&app.db, session.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    let enrolment = second_factor::begin(
        &app.db,
        &app.vault,
        user.id,
        &user.email,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(with_cookie(
        StatusCode::OK,
        None,
        json!({
            "secret": enrolment.secret.as_str(),
            "otpauthUri": enrolment.uri.as_str(),
            "hint": "add it to an authenticator app, then POST /api/auth/totp/confirm with a code",
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    code: String,
}

/// Confirm the authenticator with its first code: from now on sign-in needs it. Returns ten
/// backup codes, shown this once. Other sessions (signed in with the password alone) end.
pub async fn confirm_totp(
    State(app): State<AppState>,
    ip: ClientIp,
    ActiveSession { session }: ActiveSession,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    limits::check(
        &app.db,
        limits::MFA_PER_SESSION,
        &session.id.to_string(),
        now,
    )
    .await?;
    if !second_factor::confirm(&app.db, &app.vault, session.user_id, &req.code, now).await? {
        return Err(ApiError::bad_request("wrong code")
            .with_hint("check the time on the device running the authenticator"));
    }
    let codes = second_factor::new_backup_codes(&app.db, session.user_id).await?;
    sessions::record_mfa(&app.db, session.id, now).await?;
    let ended = sessions::delete_for_user(&app.db, session.user_id, Some(session.id)).await?;
    let audit_id = audit(
        &app,
        AuditEvent::new(Actor::User(session.user_id), actions::TOTP_ENROLLED)
            .target("user", session.user_id.to_string())
            .source_ip(ip.0)
            .details(json!({ "backupCodes": codes.len(), "otherSessionsEnded": ended })),
    )
    .await?;
    let shown: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    Ok(with_cookie(
        StatusCode::OK,
        None,
        json!({ "backupCodes": shown, "auditId": audit_id }),
    ))
}

pub async fn remove_totp(
    State(app): State<AppState>,
    ip: ClientIp,
    ActiveSession { session }: ActiveSession,
) -> Result<Response, ApiError> {
    require_fresh_second_factor(&session, OffsetDateTime::now_utc())?;
    if !mfa::remove_totp(&app.db, session.user_id).await? {
        return Err(ApiError::not_found("no authenticator is set up"));
    }
    let audit_id = audit(
        &app,
        AuditEvent::new(Actor::User(session.user_id), actions::TOTP_REMOVED)
            .target("user", session.user_id.to_string())
            .source_ip(ip.0),
    )
    .await?;
    Ok(with_cookie(
        StatusCode::OK,
        None,
        json!({ "auditId": audit_id }),
    ))
}

pub async fn regenerate_backup_codes(
    State(app): State<AppState>,
    ip: ClientIp,
    ActiveSession { session }: ActiveSession,
) -> Result<Response, ApiError> {
    require_fresh_second_factor(&session, OffsetDateTime::now_utc())?;
    if !second_factor::is_enrolled(&app.db, session.user_id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "backup codes need a second factor; set up an authenticator or a passkey first",
        ));
    }
    let codes = second_factor::new_backup_codes(&app.db, session.user_id).await?;
    let audit_id = audit(
        &app,
        AuditEvent::new(
            Actor::User(session.user_id),
            actions::BACKUP_CODES_REGENERATED,
        )
        .target("user", session.user_id.to_string())
        .source_ip(ip.0),
    )
    .await?;
    let shown: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    Ok(with_cookie(
        StatusCode::OK,
        None,
        json!({ "backupCodes": shown, "auditId": audit_id }),
    ))
}
