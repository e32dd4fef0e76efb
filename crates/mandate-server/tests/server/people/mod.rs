//! People end to end, against an in-process server on SQLite and on PostgreSQL: first-run
//! setup, sign-in and lockout, second factors, sessions, CSRF, tokens, and the permission
//! matrix of every `/v1` route.

mod cleanup;
mod client;
mod keys;
mod matrix;
mod passkeys;
mod setup;
mod sign_in;
mod tokens;

use std::collections::HashMap;
use std::ffi::OsString;

use mandate_server::config::Config;
use mandate_server::serve::Server;
use mandate_server::state::AppState;
use mandate_testkit::TempDir;
use tokio::sync::oneshot;

pub use client::Client;

pub const SETUP_TOKEN: &str = "test-setup-token-0123456789abcdef0123456789";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Each named `async fn(Backend)` as two tests: `sqlite::name` and `postgres::name`.
macro_rules! people_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(crate::people::Backend::Sqlite).await; })* }
        mod postgres { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(crate::people::Backend::Postgres).await; })* }
    };
}
pub(crate) use people_suite;

/// A running server and what it needs.
pub struct Instance {
    pub base: String,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    vars: HashMap<String, OsString>,
    /// Owned by the first instance; replicas borrow its database and key.
    _dir: Option<TempDir>,
}

impl Instance {
    /// Cheap password hashing (development allows it), a fixed setup token, and `extra`.
    pub async fn start(backend: Backend, extra: &[(&str, &str)]) -> Instance {
        let dir = TempDir::new("people");
        let data = dir.path().join("data");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("mandate.db").display()),
            Backend::Postgres => mandate_testkit::pg::fresh_database(),
        };
        let mut vars: HashMap<String, OsString> = [
            ("MANDATE_PORT", "0"),
            ("MANDATE_DATA_DIR", data.to_str().unwrap()),
            ("DATABASE_URL", url.as_str()),
            ("SETUP_TOKEN", SETUP_TOKEN),
            ("PASSWORD_HASH_MEMORY_KIB", "1024"),
            ("PASSWORD_HASH_ITERATIONS", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
        for (k, v) in extra {
            vars.insert(k.to_string(), OsString::from(v));
        }
        Instance::start_with(vars, Some(dir)).await
    }

    /// A second server on the same database and keys: another replica.
    pub async fn replica(&self) -> Instance {
        Instance::start_with(self.vars.clone(), None).await
    }

    async fn start_with(vars: HashMap<String, OsString>, dir: Option<TempDir>) -> Instance {
        let config = Config::load(&|name| vars.get(name).cloned(), None).unwrap();
        let server = Server::start(config).await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        let state = server.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Instance {
            base,
            state,
            stop: Some(stop),
            running: Some(running),
            vars,
            _dir: dir,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// Run first-run setup; the returned client is the owner, signed in.
    pub async fn owner(&self, email: &str) -> Client {
        let mut owner = self.client();
        let (status, body) = owner
            .post(
                "/api/setup",
                serde_json::json!({
                    "setupToken": SETUP_TOKEN,
                    "email": email,
                    "password": PASSWORD,
                    "workspaceName": "Acme",
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        owner
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.unwrap().unwrap();
        }
    }
}
