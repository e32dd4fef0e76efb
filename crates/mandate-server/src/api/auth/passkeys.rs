//! A person's passkeys: list, register (two steps), remove, and the challenge a passkey answers
//! at sign-in or for step-up (the answer goes to `POST /api/auth/mfa`).
//!
//! Registering the first second factor ends the person's other sessions and returns ten backup
//! codes, as confirming an authenticator does. Adding a passkey when a second factor exists, and
//! removing one, need a second factor from the last 5 minutes: a stolen session alone cannot
//! plant a passkey of its own.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mandate_store::people::passkeys::{self, Passkey};
use mandate_store::people::{mfa, sessions, users};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::account::{audit, require_fresh_second_factor};
use super::{time_json, with_cookie};
use crate::audit::{Actor, AuditEvent, actions};
use crate::auth::{ActiveSession, ClientIp, CurrentSession, second_factor};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

fn passkey_json(passkey: &Passkey) -> Value {
    json!({
        "id": passkey.id,
        "name": passkey.name,
        "createdAt": time_json(passkey.created_at),
        "lastUsedAt": passkey.last_used_at.map(time_json),
    })
}

pub async fn list(
    State(app): State<AppState>,
    ActiveSession { session }: ActiveSession,
) -> Result<axum::Json<Value>, ApiError> {
    let listed: Vec<Value> = passkeys::list(&app.db, session.user_id)
        .await?
        .iter()
        .map(passkey_json)
        .collect();
    Ok(axum::Json(json!({ "passkeys": listed })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRegistration {
    name: String,
}

pub async fn start_registration(
    State(app): State<AppState>,
    ActiveSession { session }: ActiveSession,
    ApiJson(req): ApiJson<StartRegistration>,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    if second_factor::is_enrolled(&app.db, session.user_id).await? {
        require_fresh_second_factor(&session, now)?;
    }
    let user = users::by_id(&app.db, session.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    let (ceremony_id, options) = app
        .passkeys
        .start_registration(&app.db, &session, &user, &req.name, now)
        .await?;
    Ok(with_cookie(
        StatusCode::OK,
        None,
        json!({
            "ceremonyId": ceremony_id,
            "options": options,
            "expiresAt": time_json(now + crate::auth::passkeys::CEREMONY_TTL),
            "hint": "pass options to navigator.credentials.create(), then POST the result to /api/auth/passkeys/register/finish",
        }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FinishRegistration {
    ceremony_id: Uuid,
    credential: Box<RegisterPublicKeyCredential>,
}

pub async fn finish_registration(
    State(app): State<AppState>,
    ip: ClientIp,
    ActiveSession { session }: ActiveSession,
    ApiJson(req): ApiJson<FinishRegistration>,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let first_factor = !second_factor::is_enrolled(&app.db, session.user_id).await?;
    let passkey = app
        .passkeys
        .finish_registration(&app.db, &session, req.ceremony_id, &req.credential, now)
        .await?;
    // The passkey just proved user verification: it counts as a fresh second factor.
    sessions::record_mfa(&app.db, session.id, now).await?;
    let (codes, ended) = if first_factor {
        let codes = second_factor::new_backup_codes(&app.db, session.user_id).await?;
        let ended = sessions::delete_for_user(&app.db, session.user_id, Some(session.id)).await?;
        (codes, ended)
    } else {
        (Vec::new(), 0)
    };
    let audit_id = audit(
        &app,
        AuditEvent::new(Actor::User(session.user_id), actions::PASSKEY_ADDED)
            .target("passkey", passkey.id.to_string())
            .source_ip(ip.0)
            .details(json!({
                "name": passkey.name,
                "firstSecondFactor": first_factor,
                "otherSessionsEnded": ended,
            })),
    )
    .await?;
    let mut body = json!({ "passkey": passkey_json(&passkey), "auditId": audit_id });
    if first_factor {
        let shown: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        body["backupCodes"] = json!(shown);
    }
    Ok(with_cookie(StatusCode::CREATED, None, body))
}

pub async fn remove(
    State(app): State<AppState>,
    ip: ClientIp,
    ActiveSession { session }: ActiveSession,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    require_fresh_second_factor(&session, OffsetDateTime::now_utc())?;
    passkeys::remove(&app.db, session.user_id, id).await?;
    let backup_codes_left = mfa::backup_codes_left(&app.db, session.user_id).await?;
    let audit_id = audit(
        &app,
        AuditEvent::new(Actor::User(session.user_id), actions::PASSKEY_REMOVED)
            .target("passkey", id.to_string())
            .source_ip(ip.0),
    )
    .await?;
    Ok(with_cookie(
        StatusCode::OK,
        None,
        json!({ "backupCodesLeft": backup_codes_left, "auditId": audit_id }),
    ))
}

/// A challenge for the session's passkeys: to finish a sign-in waiting for its second factor,
/// or for step-up in a signed-in session.
pub async fn challenge(
    State(app): State<AppState>,
    CurrentSession { session }: CurrentSession,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let (ceremony_id, options) = app
        .passkeys
        .start_authentication(&app.db, &session, now)
        .await?;
    Ok(with_cookie(
        StatusCode::OK,
        None,
        json!({
            "ceremonyId": ceremony_id,
            "options": options,
            "expiresAt": time_json(now + crate::auth::passkeys::CEREMONY_TTL),
            "hint": "pass options to navigator.credentials.get(), then POST {\"passkey\": {\"ceremonyId\", \"credential\"}} to /api/auth/mfa",
        }),
    ))
}
