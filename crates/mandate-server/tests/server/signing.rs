//! Signing keys end to end, in process: PyJWT's PyJWKClient fetches our live
//! `/.well-known/jwks.json` and verifies the tokens the server's current key signs, through
//! rotation and restart; stored private keys are sealed; a second replica picks up a rotation.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use mandate_crypto::signing::SigningAlg;
use mandate_server::config::Config;
use mandate_server::serve::Server;
use mandate_server::state::AppState;
use serde_json::{Value, json};

const KEY: &str = "3f1a9c0e5b7d2f4e6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a2c4e6b8d0f";

const VERIFY: &str = r#"
import sys, jwt
client = jwt.PyJWKClient(sys.argv[1], cache_keys=False)
for token in sys.argv[2:]:
    try:
        key = client.get_signing_key_from_jwt(token)
        jwt.decode(token, key, algorithms=["RS256", "ES256", "EdDSA"], audience="https://mandate.test")
        print("ok")
    except Exception as e:
        print("rejected", type(e).__name__)
"#;

pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub async fn start(vars: &[(&str, &str)]) -> Running {
        let mut all: Vec<(&str, &str)> = vec![("MANDATE_PORT", "0"), ("ENCRYPTION_KEY", KEY)];
        all.extend_from_slice(vars);
        let map: HashMap<String, OsString> = all
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        let config = Config::load(&|n| map.get(n).cloned(), None).unwrap();
        let server = Server::start(config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let state = server.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Running {
            addr,
            state,
            stop: Some(stop),
            task,
        }
    }

    pub async fn jwks(&self) -> Value {
        let r = reqwest::get(format!("http://{}/.well-known/jwks.json", self.addr))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "public, max-age=60");
        r.json().await.unwrap()
    }

    fn token(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        self.state
            .signing
            .current()
            .sign_jwt(
                &json!({"sub": "u1", "aud": "https://mandate.test", "iat": now, "exp": now + 300}),
            )
            .unwrap()
    }

    /// PyJWT's verdict on each token, fetching our JWKS itself.
    /// (Async: the server runs on this test's runtime and must keep answering meanwhile.)
    async fn pyjwt(&self, tokens: &[&str]) -> Vec<String> {
        let jwks_url = format!("http://{}/.well-known/jwks.json", self.addr);
        let mut args = vec![jwks_url.as_str()];
        args.extend_from_slice(tokens);
        crate::python3(VERIFY, &args)
            .await
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

pub fn production(dir: &mandate_testkit::TempDir) -> Vec<(&'static str, String)> {
    vec![
        ("MANDATE_ENV", "production".into()),
        ("PUBLIC_URL", "https://mandate.test".into()),
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("m.db").display()),
        ),
    ]
}

pub fn refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn production_generates_stores_sealed_rotates_and_keeps_the_previous_key_published() {
    let dir = mandate_testkit::TempDir::new("signing");
    let env = production(&dir);
    let server = Running::start(&refs(&env)).await;
    let first = server.jwks().await;
    assert_eq!(first["keys"].as_array().unwrap().len(), 1);
    assert_eq!(first["keys"][0]["alg"], "RS256");
    assert_eq!(
        first["keys"][0]["kid"].as_str().unwrap(),
        server.state.signing.current().thumbprint()
    );
    let old_token = server.token();
    assert_eq!(server.pyjwt(&[&old_token]).await, vec!["ok"]);

    // Stored sealed, never in clear.
    let stored: String = mandate_store::on_pool!(&server.state.db, pool => sqlx::query_scalar(
        "SELECT private_key FROM signing_keys").fetch_one(pool).await)
    .unwrap();
    assert!(
        stored.starts_with(r#"{"v":1,"alg":"A256GCM""#) && !stored.contains("PRIVATE"),
        "{stored}"
    );

    let new_kid = server
        .state
        .signing
        .rotate(SigningAlg::Es256, Some(&server.state.bus))
        .await
        .unwrap();
    let rotated = server.jwks().await;
    assert_eq!(
        kids(&rotated),
        vec![new_kid.clone(), kids(&first)[0].clone()],
        "current first, previous kept"
    );
    let new_token = server.token();
    let mut forged = new_token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert_eq!(
        server.pyjwt(&[&old_token, &new_token, &forged]).await,
        vec!["ok", "ok", "rejected InvalidSignatureError"]
    );
    server.stop().await;

    // A restart loads the stored current key.
    let again = Running::start(&refs(&env)).await;
    assert_eq!(again.state.signing.current().kid(), new_kid);
    assert_eq!(kids(&again.jwks().await).len(), 2);
    again.stop().await;
}

#[tokio::test]
async fn a_configured_private_key_becomes_current_and_its_predecessor_stays_published() {
    let dir = mandate_testkit::TempDir::new("signing");
    let pem = |name: &str| {
        let path = dir.path().join(name);
        let ok = Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::read_to_string(path).unwrap()
    };
    let (a, b) = (pem("a.pem"), pem("b.pem"));
    let mut env = production(&dir);
    env.push(("JWT_PRIVATE_KEY", a));
    env.push(("JWT_KID", "key-a".into()));
    let server = Running::start(&refs(&env)).await;
    assert_eq!(kids(&server.jwks().await), vec!["key-a"]);
    let token_a = server.token();
    server.stop().await;

    // The same kid for another key would publish the wrong public key: refused, naming JWT_KID.
    let mut reused = env.clone();
    reused[3] = ("JWT_PRIVATE_KEY", b.clone());
    let map: HashMap<String, OsString> = [
        ("MANDATE_PORT", "0".to_string()),
        ("ENCRYPTION_KEY", KEY.to_string()),
    ]
    .into_iter()
    .chain(reused.iter().map(|(k, v)| (*k, v.clone())))
    .map(|(k, v)| (k.to_string(), OsString::from(v)))
    .collect();
    let config = Config::load(&|n| map.get(n).cloned(), None).unwrap();
    let refused = Server::start(config)
        .await
        .err()
        .expect("a reused kid is refused")
        .to_string();
    assert!(
        refused.starts_with("JWT_KID: `key-a` already names another signing key"),
        "{refused}"
    );

    env[3] = ("JWT_PRIVATE_KEY", b);
    env.pop();
    let server = Running::start(&refs(&env)).await;
    let published = kids(&server.jwks().await);
    assert_eq!(published.len(), 2);
    assert_eq!(published[1], "key-a");
    assert_eq!(
        published[0],
        server.state.signing.current().thumbprint(),
        "JWT_KID unset: the thumbprint"
    );
    assert_eq!(
        server.pyjwt(&[&token_a, &server.token()]).await,
        vec!["ok", "ok"]
    );
    server.stop().await;
}

#[tokio::test]
async fn development_uses_a_throwaway_key_and_stores_nothing() {
    let dir = mandate_testkit::TempDir::new("signing");
    let data = dir.path().join("data");
    let server = Running::start(&[
        ("MANDATE_DATA_DIR", data.to_str().unwrap()),
        ("JWT_ALGORITHM", "EdDSA"),
    ])
    .await;
    let jwks = server.jwks().await;
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert_eq!(server.pyjwt(&[&server.token()]).await, vec!["ok"]);
    let rows: i64 = mandate_store::on_pool!(&server.state.db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM signing_keys").fetch_one(pool).await)
    .unwrap();
    assert_eq!(rows, 0);
    server.stop().await;
}

/// Two replicas on one PostgreSQL: the first generates, the second loads the same key; a
/// rotation on one reaches the other through the change bus.
#[tokio::test]
async fn replicas_share_the_key_and_learn_of_rotations() {
    let url = mandate_testkit::pg::fresh_database();
    let env = [
        ("MANDATE_ENV", "production"),
        ("PUBLIC_URL", "https://mandate.test"),
        ("DATABASE_URL", url.as_str()),
    ];
    let a = Running::start(&env).await;
    let b = Running::start(&env).await;
    assert_eq!(
        a.state.signing.current().kid(),
        b.state.signing.current().kid()
    );
    let new_kid = a
        .state
        .signing
        .rotate(SigningAlg::Rs256, Some(&a.state.bus))
        .await
        .unwrap();
    let mut seen = false;
    for _ in 0..100 {
        if b.state.signing.current().kid() == new_kid {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the second replica did not pick up the rotation");
    assert_eq!(kids(&b.jwks().await)[0], new_kid);
    a.stop().await;
    b.stop().await;
}

/// Two replicas starting at the same moment with the same new JWT_PRIVATE_KEY both start: the
/// one that loses the race to install it finds it installed.
#[tokio::test]
async fn replicas_installing_the_same_configured_key_at_once_both_start() {
    let url = mandate_testkit::pg::fresh_database();
    let dir = mandate_testkit::TempDir::new("signing");
    let path = dir.path().join("k.pem");
    assert!(
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&path)
            .status()
            .unwrap()
            .success()
    );
    let pem = std::fs::read_to_string(path).unwrap();
    let env = [
        ("MANDATE_ENV", "production"),
        ("PUBLIC_URL", "https://mandate.test"),
        ("DATABASE_URL", url.as_str()),
        ("JWT_PRIVATE_KEY", pem.as_str()),
        ("JWT_KID", "shared"),
    ];
    // The schema first, so both race on the key and not on the migrations.
    Running::start(&env).await.stop().await;
    let mut env2 = env;
    let other_pem_path = dir.path().join("k2.pem");
    assert!(
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&other_pem_path)
            .status()
            .unwrap()
            .success()
    );
    let other = std::fs::read_to_string(other_pem_path).unwrap();
    env2[3] = ("JWT_PRIVATE_KEY", other.as_str());
    env2[4] = ("JWT_KID", "rotated");
    let (a, b) = tokio::join!(Running::start(&env2), Running::start(&env2));
    assert_eq!(kids(&a.jwks().await)[0], "rotated");
    assert_eq!(kids(&b.jwks().await)[0], "rotated");
    a.stop().await;
    b.stop().await;
}
