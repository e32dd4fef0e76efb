//! The OAuth 2.0 authorization server the connection tests talk to: npm `oauth2-mock-server`
//! run by `tests/peers/oauth_server.mjs` on 127.0.0.1 (scripts/test installs it). The test reads
//! what it saw (one JSON line per token, revocation and userinfo request) and changes its
//! behaviour through its standard input.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

pub struct OAuthPeer {
    pub base: String,
    events: Arc<Mutex<Vec<Value>>>,
    stdin: ChildStdin,
    acks: u64,
    _child: Child,
}

impl OAuthPeer {
    pub async fn start() -> OAuthPeer {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");
        assert!(
            std::path::Path::new(dir)
                .join("node_modules/oauth2-mock-server")
                .exists(),
            "npm peers missing in {dir}: run scripts/test, which installs them"
        );
        let mut child = Command::new("node")
            .arg("oauth_server.mjs")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node (scripts/test installs it)");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let port = first["port"].as_u64().expect("the peer's port");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        OAuthPeer {
            base: format!("http://127.0.0.1:{port}"),
            events,
            stdin,
            acks: 0,
            _child: child,
        }
    }

    async fn command(&mut self, cmd: Value) {
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .unwrap();
        self.acks += 1;
        let want = self.acks;
        for _ in 0..200 {
            if self.events.lock().unwrap().iter().any(|e| e["ack"] == want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the OAuth peer did not acknowledge {cmd}");
    }

    /// Change its behaviour (see oauth_server.mjs).
    pub async fn set(&mut self, behaviour: Value) {
        self.command(json!({ "set": behaviour })).await;
    }

    /// Forget every refresh token it issued (as a provider does when access is withdrawn).
    pub async fn invalidate_refresh_tokens(&mut self) {
        self.command(json!({ "invalidate": true })).await;
    }

    /// What it saw of one kind (`token`, `revoke`, `userinfo`), oldest first.
    pub fn events(&self, kind: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    }

    /// Token requests of one grant type.
    pub fn token_requests(&self, grant: &str) -> Vec<Value> {
        self.events("token")
            .into_iter()
            .filter(|e| e["grant"] == grant)
            .collect()
    }
}
