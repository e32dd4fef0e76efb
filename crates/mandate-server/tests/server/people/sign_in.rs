//! Sign-in, lockout, second factors, sessions and CSRF.

use mandate_store::people::sessions;
use reqwest::Method;
use serde_json::json;

use super::{Backend, Instance, PASSWORD, people_suite};

people_suite!(
    lockout_and_answers_are_the_same_for_known_and_unknown_addresses,
    second_factor_is_required_and_every_code_works_once,
    sessions_end_on_logout_password_change_and_timeouts,
    cookie_requests_need_our_origin,
);

async fn lockout_and_answers_are_the_same_for_known_and_unknown_addresses(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let _owner = instance.owner("owner@example.com").await;
    for email in ["owner@example.com", "nobody@example.com"] {
        let mut c = instance.client();
        let mut bodies = Vec::new();
        for _ in 0..5 {
            let (s, v) = c.login(email, "wrong password!!").await;
            assert_eq!(s, 401, "{v}");
            bodies.push(v);
        }
        assert!(
            bodies
                .iter()
                .all(|b| *b == json!({"error": "invalid email or password"}))
        );
        // Locked now, even with the right password, and it says for how long.
        let (s, v, headers) = c
            .send(
                Method::POST,
                "/api/auth/login",
                Some(json!({ "email": email, "password": PASSWORD })),
            )
            .await;
        assert_eq!(s, 429, "{email}: {v}");
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((800..=900).contains(&retry), "{retry}");
        assert_eq!(v["retryAfter"], json!(retry));
    }
    instance.stop().await;
}

async fn second_factor_is_required_and_every_code_works_once(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let mut owner = instance.owner("owner@example.com").await;
    owner.enrol_totp().await;

    // The same person in another browser: same authenticator, no session.
    let mut c = owner.clone();
    c.cookie = None;
    let (s, v) = c.login("owner@example.com", PASSWORD).await;
    assert_eq!((s, v["mfaRequired"].as_bool()), (200, Some(true)), "{v}");
    // Half signed in: nothing but the second factor.
    let (s, _) = c.get("/v1/workspace").await;
    assert_eq!(s, 401);
    let (s, _) = c.post("/api/auth/token", json!(null)).await;
    assert_eq!(s, 401);
    let pending_cookie = c.cookie.clone();
    let (s, _) = c.post("/api/auth/mfa", json!({ "code": "000000" })).await;
    assert_eq!(s, 401);
    let code = c.next_code();
    let (s, v) = c.post("/api/auth/mfa", json!({ "code": code })).await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(
        c.cookie, pending_cookie,
        "the session token changes after the second factor"
    );
    let (s, _) = c.get("/v1/workspace").await;
    assert_eq!(s, 200);
    // The same code again (step-up): refused.
    let (s, _) = c.post("/api/auth/mfa", json!({ "code": code })).await;
    assert_eq!(s, 401);
    // The pre-MFA token is dead.
    let mut old = instance.client();
    old.cookie = pending_cookie;
    let (s, _) = old.get("/api/auth/session").await;
    assert_eq!(s, 401);
    // A backup code works once.
    let backup = owner.backup_codes[0].clone();
    let (s, v) = c.post("/api/auth/mfa", json!({ "code": backup })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["backupCodesLeft"], 9);
    let (s, _) = c.post("/api/auth/mfa", json!({ "code": backup })).await;
    assert_eq!(s, 401);
    instance.stop().await;
}

async fn sessions_end_on_logout_password_change_and_timeouts(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let mut owner = instance.owner("owner@example.com").await;
    let mut second = instance.client();
    assert_eq!(second.login("owner@example.com", PASSWORD).await.0, 200);
    let mut third = instance.client();
    assert_eq!(third.login("owner@example.com", PASSWORD).await.0, 200);

    // Logout ends that session only.
    let stale = third.cookie.clone();
    assert_eq!(third.post("/api/auth/logout", json!(null)).await.0, 200);
    assert_eq!(third.cookie, None, "the cookie is cleared");
    third.cookie = stale;
    assert_eq!(third.get("/v1/workspace").await.0, 401);
    assert_eq!(second.get("/v1/workspace").await.0, 200);

    // A password change ends every other session; the caller gets a new one.
    let (s, v, _) = owner
        .send(
            Method::PUT,
            "/api/auth/password",
            Some(json!({ "currentPassword": PASSWORD, "newPassword": "a brand new passphrase" })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(second.get("/v1/workspace").await.0, 401);
    assert_eq!(owner.get("/v1/workspace").await.0, 200);
    assert_eq!(owner.login("owner@example.com", PASSWORD).await.0, 401);
    assert_eq!(
        owner
            .login("owner@example.com", "a brand new passphrase")
            .await
            .0,
        200
    );

    // Idle timeout: a session unused for longer than SESSION_IDLE_TIMEOUT_MINUTES is over.
    let (_, me) = owner.get("/api/auth/session").await;
    let user_id = me["user"]["id"].as_str().unwrap().parse().unwrap();
    let db = &instance.state.db;
    let n = sessions::count_for_user(db, user_id).await.unwrap();
    assert_eq!(n, 2);
    age_sessions(&instance, time::Duration::minutes(31)).await;
    assert_eq!(owner.get("/v1/workspace").await.0, 401);

    // Log out everywhere.
    let mut a = instance.client();
    let mut b = instance.client();
    assert_eq!(
        a.login("owner@example.com", "a brand new passphrase")
            .await
            .0,
        200
    );
    assert_eq!(
        b.login("owner@example.com", "a brand new passphrase")
            .await
            .0,
        200
    );
    let (s, v) = a.post("/api/auth/logout-all", json!(null)).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["sessionsEnded"].as_u64().unwrap() >= 2);
    assert_eq!(b.get("/v1/workspace").await.0, 401);
    instance.stop().await;
}

/// Move every session's last use back by `by`.
async fn age_sessions(instance: &Instance, by: time::Duration) {
    let when = time::OffsetDateTime::now_utc() - by;
    let sql = "UPDATE sessions SET last_seen_at = $1";
    match &instance.state.db {
        mandate_store::Db::Sqlite(pool) => {
            sqlx::query(sql).bind(when).execute(pool).await.unwrap();
        }
        mandate_store::Db::Postgres(pool) => {
            sqlx::query(sql).bind(when).execute(pool).await.unwrap();
        }
    }
}

async fn cookie_requests_need_our_origin(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let mut owner = instance.owner("owner@example.com").await;
    let body = json!({ "name": "Renamed" });
    owner.origin = Some("https://evil.example".into());
    let (s, v, _) = owner
        .send(Method::PATCH, "/v1/workspace", Some(body.clone()))
        .await;
    assert_eq!(s, 403, "{v}");
    owner.origin = None;
    let (s, _, _) = owner
        .send(Method::PATCH, "/v1/workspace", Some(body.clone()))
        .await;
    assert_eq!(s, 403, "a cookie request without Origin or Sec-Fetch-Site");
    // Reads are fine without it; the right origin passes.
    assert_eq!(owner.get("/v1/workspace").await.0, 200);
    owner.origin = Some(instance.base.clone());
    let (s, v, _) = owner.send(Method::PATCH, "/v1/workspace", Some(body)).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["auditId"].is_string());
    // Sign-in from another site's page is refused too (login CSRF).
    let mut c = instance.client();
    c.origin = Some("https://evil.example".into());
    assert_eq!(c.login("owner@example.com", PASSWORD).await.0, 403);
    instance.stop().await;
}
