//! Test harness for Mandate. Used only as a dev-dependency.
//!
//! - [`pg`]: throwaway PostgreSQL clusters (`initdb` + `pg_ctl` from the Debian server), one shared
//!   per test process plus dedicated ones for tests that stop the server.
//! - [`sqlite`]: temporary SQLite database files.
//! - [`server`]: the `mandate` binary run as a real process, its JSON log lines collected.
//!
//! Failing loudly is the point of a harness, so panics are allowed here.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

pub mod age;
pub mod bao;
pub mod moto;

pub mod pg;
pub mod replay;

pub mod server;
pub mod smtp;
pub mod sqlite;
pub mod upstream;

/// A loopback port that was free a moment ago (a peer started on it may still lose a race).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("probe a free port")
}

/// A fresh directory under the system temp dir, removed when the value is dropped.
pub struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "mandate-{label}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
