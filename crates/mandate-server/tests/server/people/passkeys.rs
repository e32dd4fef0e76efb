//! Passkeys as a second factor, with webauthn-rs's software authenticator (SoftPasskey) playing
//! the browser and the device: registration, sign-in, step-up, removal, and the refusals that
//! matter (a replayed answer, another session's ceremony, a phishing origin). Ceremonies live
//! in the database, so one started on one replica is finished on another.

use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

use super::{Backend, Client, Instance, PASSWORD, people_suite};

people_suite!(
    passkey_registers_signs_in_and_steps_up,
    passkey_answers_are_single_use_and_bound,
    passkey_ceremony_finishes_on_another_replica,
    removing_the_last_passkey_turns_the_second_factor_off,
    passkeys_need_a_host_name,
);

const EMAIL: &str = "owner@example.com";

/// The browser's origin as the authenticator sees it: without PUBLIC_URL the relying party is
/// `localhost` on any port.
fn origin(instance: &Instance) -> Url {
    let port = Url::parse(&instance.base).unwrap().port().unwrap();
    Url::parse(&format!("http://localhost:{port}")).unwrap()
}

/// A new authenticator that performs user verification (a PIN or a fingerprint, faked).
fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

async fn register(
    client: &mut Client,
    device: &mut SoftPasskey,
    origin: &Url,
    name: &str,
) -> (u16, Value) {
    let (s, start) = client
        .post("/api/auth/passkeys/register/start", json!({ "name": name }))
        .await;
    assert_eq!(s, 200, "{start}");
    let options: CreationChallengeResponse =
        serde_json::from_value(start["options"].clone()).unwrap();
    let credential = device.do_registration(origin.clone(), options).unwrap();
    client
        .post(
            "/api/auth/passkeys/register/finish",
            json!({ "ceremonyId": start["ceremonyId"], "credential": credential }),
        )
        .await
}

/// Ask for a challenge and let the device answer it; returns the body for `/api/auth/mfa`.
async fn answer(client: &mut Client, device: &mut SoftPasskey, origin: &Url) -> Value {
    let (s, challenge) = client
        .post("/api/auth/passkeys/challenge", Value::Null)
        .await;
    assert_eq!(s, 200, "{challenge}");
    let options: RequestChallengeResponse =
        serde_json::from_value(challenge["options"].clone()).unwrap();
    let credential = device.do_authentication(origin.clone(), options).unwrap();
    json!({ "passkey": { "ceremonyId": challenge["ceremonyId"], "credential": credential } })
}

async fn passkey_registers_signs_in_and_steps_up(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let origin = origin(&instance);
    let mut device = authenticator();
    let mut owner = instance.owner(EMAIL).await;
    let mut other_session = instance.client();
    assert_eq!(other_session.login(EMAIL, PASSWORD).await.0, 200);

    let (s, added) = register(&mut owner, &mut device, &origin, "Laptop").await;
    assert_eq!(s, 201, "{added}");
    assert_eq!(added["passkey"]["name"], "Laptop");
    assert!(added["auditId"].is_string());
    // The first second factor: backup codes, and sessions signed in without it end.
    assert_eq!(added["backupCodes"].as_array().unwrap().len(), 10);
    assert_eq!(other_session.get("/api/auth/session").await.0, 401);
    let (_, listed) = owner.get("/api/auth/passkeys").await;
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 1, "{listed}");
    assert!(listed["passkeys"][0]["lastUsedAt"].is_null());
    // Nothing about the key itself is ever shown.
    assert!(listed["passkeys"][0].get("credential").is_none());

    // Sign-in now needs the passkey; until then the session can do nothing else.
    let mut browser = instance.client();
    let (s, login) = browser.login(EMAIL, PASSWORD).await;
    assert_eq!(s, 200, "{login}");
    assert_eq!(login["mfaRequired"], true);
    assert_eq!(login["mfaMethods"], json!(["passkey"]));
    assert_eq!(browser.get("/v1/workspace").await.0, 401);
    let pending_cookie = browser.cookie.clone();
    let body = answer(&mut browser, &mut device, &origin).await;
    let (s, done) = browser.post("/api/auth/mfa", body).await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["signedIn"], true);
    assert_ne!(
        browser.cookie, pending_cookie,
        "a new session token after MFA"
    );
    assert_eq!(browser.get("/v1/workspace").await.0, 200);
    let (_, listed) = browser.get("/api/auth/passkeys").await;
    assert!(listed["passkeys"][0]["lastUsedAt"].is_string(), "{listed}");
    let (_, session) = browser.get("/api/auth/session").await;
    assert_eq!(session["mfa"]["passkeys"], 1, "{session}");

    // Step-up in the signed-in session with the passkey again (the counter moves on).
    let body = answer(&mut browser, &mut device, &origin).await;
    let (s, stepped) = browser.post("/api/auth/mfa", body).await;
    assert_eq!(s, 200, "{stepped}");
    assert!(stepped["stepUpUntil"].is_string());

    // A second passkey needs that fresh second factor; it gets no new backup codes.
    let mut phone = authenticator();
    let (s, second) = register(&mut browser, &mut phone, &origin, "Phone").await;
    assert_eq!(s, 201, "{second}");
    assert!(second.get("backupCodes").is_none());
    // A new registration tells the browser which credentials exist, so a device that holds
    // one declines to register again.
    let (s, start) = browser
        .post(
            "/api/auth/passkeys/register/start",
            json!({ "name": "Again" }),
        )
        .await;
    assert_eq!(s, 200);
    let excluded = start["options"]["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(excluded.len(), 2, "{start}");

    let exported = instance.state.db.clone();
    let actions: Vec<String> = audit_actions(&exported).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "auth.passkey.added")
            .count(),
        2
    );
    instance.stop().await;
}

async fn passkey_answers_are_single_use_and_bound(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let origin = origin(&instance);
    let mut device = authenticator();
    let mut owner = instance.owner(EMAIL).await;
    assert_eq!(
        register(&mut owner, &mut device, &origin, "Key").await.0,
        201
    );

    let mut browser = instance.client();
    assert_eq!(browser.login(EMAIL, PASSWORD).await.0, 200);
    let body = answer(&mut browser, &mut device, &origin).await;
    assert_eq!(browser.post("/api/auth/mfa", body.clone()).await.0, 200);
    // The same answer again: its ceremony is gone.
    let (s, again) = browser.post("/api/auth/mfa", body.clone()).await;
    assert_eq!(s, 400, "{again}");
    // The old answer against a new challenge: the challenge does not match.
    let (s, challenge) = browser
        .post("/api/auth/passkeys/challenge", Value::Null)
        .await;
    assert_eq!(s, 200);
    let mut replay = body.clone();
    replay["passkey"]["ceremonyId"] = challenge["ceremonyId"].clone();
    let (s, refused) = browser.post("/api/auth/mfa", replay).await;
    assert_eq!(s, 401, "{refused}");
    assert_eq!(refused["error"], "the passkey could not be verified");

    // Another session's ceremony cannot be finished here.
    let mut elsewhere = instance.client();
    assert_eq!(elsewhere.login(EMAIL, PASSWORD).await.0, 200);
    let theirs = answer(&mut elsewhere, &mut device, &origin).await;
    let (s, _) = browser.post("/api/auth/mfa", theirs.clone()).await;
    assert_eq!(s, 400);
    // ... and having been tried there, it still works for its own session.
    assert_eq!(elsewhere.post("/api/auth/mfa", theirs).await.0, 200);

    // A look-alike site: the device signs for its origin, which is not ours.
    let mut phished = instance.client();
    assert_eq!(phished.login(EMAIL, PASSWORD).await.0, 200);
    let (_, challenge) = phished
        .post("/api/auth/passkeys/challenge", Value::Null)
        .await;
    let options: RequestChallengeResponse =
        serde_json::from_value(challenge["options"].clone()).unwrap();
    // (A subdomain of the relying party id, so the device signs; the server allows only the
    // exact origin.)
    let evil = Url::parse("https://evil.localhost:8443").unwrap();
    let credential = device.do_authentication(evil, options).unwrap();
    let (s, _) = phished
        .post(
            "/api/auth/mfa",
            json!({ "passkey": { "ceremonyId": challenge["ceremonyId"], "credential": credential } }),
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(phished.get("/v1/workspace").await.0, 401);

    // Neither a code and a passkey together, nor neither.
    let (s, _) = phished
        .post(
            "/api/auth/mfa",
            json!({ "code": "123456", "passkey": body["passkey"] }),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(phished.post("/api/auth/mfa", json!({})).await.0, 400);
    // A ceremony id that is not a UUID, or a credential that is not one: 400 with a message.
    let (s, bad) = phished
        .post(
            "/api/auth/mfa",
            json!({ "passkey": { "ceremonyId": "nope", "credential": {} } }),
        )
        .await;
    assert_eq!(s, 400);
    assert!(bad["error"].is_string(), "{bad}");
    instance.stop().await;
}

async fn passkey_ceremony_finishes_on_another_replica(backend: Backend) {
    let first = Instance::start(backend, &[]).await;
    let second = first.replica().await;
    let mut device = authenticator();
    let mut owner = first.owner(EMAIL).await;

    // Registration started on the first replica, finished on the second.
    let (s, start) = owner
        .post(
            "/api/auth/passkeys/register/start",
            json!({ "name": "Key" }),
        )
        .await;
    assert_eq!(s, 200, "{start}");
    let options: CreationChallengeResponse =
        serde_json::from_value(start["options"].clone()).unwrap();
    let credential = device.do_registration(origin(&first), options).unwrap();
    let mut on_second = owner.clone();
    on_second.base = second.base.clone();
    on_second.origin = Some(second.base.clone());
    let (s, added) = on_second
        .post(
            "/api/auth/passkeys/register/finish",
            json!({ "ceremonyId": start["ceremonyId"], "credential": credential }),
        )
        .await;
    assert_eq!(s, 201, "{added}");

    // Sign-in: challenge from the second, answer to the first.
    let mut browser = second.client();
    assert_eq!(browser.login(EMAIL, PASSWORD).await.0, 200);
    let body = answer(&mut browser, &mut device, &origin(&second)).await;
    let mut to_first = browser.clone();
    to_first.base = first.base.clone();
    to_first.origin = Some(first.base.clone());
    let (s, done) = to_first.post("/api/auth/mfa", body).await;
    assert_eq!(s, 200, "{done}");

    // Step-up: challenge from the first, answer to the second, then the same answer to the
    // first again: the ceremony is used up for every replica.
    let body = answer(&mut to_first, &mut device, &origin(&first)).await;
    let mut to_second = to_first.clone();
    to_second.base = second.base.clone();
    to_second.origin = Some(second.base.clone());
    let (s, stepped) = to_second.post("/api/auth/mfa", body.clone()).await;
    assert_eq!(s, 200, "{stepped}");
    assert_eq!(to_first.post("/api/auth/mfa", body).await.0, 400);
    second.stop().await;
    first.stop().await;
}

async fn removing_the_last_passkey_turns_the_second_factor_off(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let origin = origin(&instance);
    let mut device = authenticator();
    let mut owner = instance.owner(EMAIL).await;
    let (s, added) = register(&mut owner, &mut device, &origin, "Key").await;
    assert_eq!(s, 201);
    let id = added["passkey"]["id"].as_str().unwrap().to_string();

    // The registration itself counts as a fresh second factor, for 5 minutes; without one,
    // removal is refused.
    let mut later = instance.client();
    assert_eq!(later.login(EMAIL, PASSWORD).await.0, 200);
    let body = answer(&mut later, &mut device, &origin).await;
    assert_eq!(later.post("/api/auth/mfa", body).await.0, 200);
    let stale = "UPDATE sessions SET mfa_at = NULL";
    match &instance.state.db {
        mandate_store::Db::Sqlite(pool) => {
            sqlx::query(stale).execute(pool).await.unwrap();
        }
        mandate_store::Db::Postgres(pool) => {
            sqlx::query(stale).execute(pool).await.unwrap();
        }
    }
    let path = format!("/api/auth/passkeys/{id}");
    let (s, refused, _) = later.send(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(s, 403, "{refused}");
    // An authenticator can be added beside a passkey only with a fresh second factor, too.
    assert_eq!(later.post("/api/auth/totp/setup", Value::Null).await.0, 403);

    let body = answer(&mut later, &mut device, &origin).await;
    assert_eq!(later.post("/api/auth/mfa", body).await.0, 200);
    let (s, removed, _) = later.send(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(s, 200, "{removed}");
    assert_eq!(
        removed["backupCodesLeft"], 0,
        "no factor left, no backup codes"
    );
    let (s, _, _) = later.send(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(s, 404);
    let (s, login) = instance.client().login(EMAIL, PASSWORD).await;
    assert_eq!(s, 200);
    assert_eq!(login["mfaRequired"], false);
    // Someone else's passkey id is not found either.
    let (s, _, _) = later
        .send(
            reqwest::Method::DELETE,
            "/api/auth/passkeys/00000000-0000-7000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(s, 404);
    instance.stop().await;
}

async fn passkeys_need_a_host_name(backend: Backend) {
    let instance = Instance::start(backend, &[("PUBLIC_URL", "http://127.0.0.1:9")]).await;
    let mut owner = instance.client();
    owner.origin = Some("http://127.0.0.1:9".into());
    let (s, body) = owner
        .post(
            "/api/setup",
            json!({
                "setupToken": super::SETUP_TOKEN,
                "email": EMAIL,
                "password": PASSWORD,
                "workspaceName": "Acme",
            }),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, refused) = owner
        .post(
            "/api/auth/passkeys/register/start",
            json!({ "name": "Key" }),
        )
        .await;
    assert_eq!(s, 409, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("host name"),
        "{refused}"
    );
    instance.stop().await;
}

async fn audit_actions(db: &mandate_store::Db) -> Vec<String> {
    let sql = "SELECT action FROM audit_events";
    match db {
        mandate_store::Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
        mandate_store::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
    }
}
