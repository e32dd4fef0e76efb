//! Throwaway PostgreSQL clusters for tests.
//!
//! A cluster is made with `initdb` in a temp directory and started with `pg_ctl` on a free
//! loopback port, with trust authentication for the role `mandate`. When the tests run as root,
//! every server command runs as the `postgres` user (PostgreSQL refuses to run as root).
//!
//! [`shared`] gives one cluster per test process; [`fresh_database`] makes an empty database in it
//! per test. The shared cluster cannot be dropped (it lives in a static), so a detached watchdog
//! stops it and removes its directory once the test process has exited, however it exits.
//! [`PgCluster::start`] gives a dedicated cluster that the test owns and may stop and restart.
//!
//! Nothing here skips: if the server binaries are missing or the cluster will not start, the
//! test fails with a message that says what to install (`scripts/test` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The role every test cluster is initialised with.
pub const ROLE: &str = "mandate";

pub struct PgCluster {
    root: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
    remove_on_drop: bool,
    /// fsync and synchronous commit on, as a production server runs (for benchmarks); tests
    /// run without them for speed.
    durable: bool,
}

impl PgCluster {
    /// Initialise and start a new cluster. Panics with a clear message when that is impossible.
    pub fn start() -> PgCluster {
        Self::start_with(false)
    }

    /// A cluster that flushes to disk on commit, as production does: for benchmarks.
    pub fn start_durable() -> PgCluster {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> PgCluster {
        let bin = server_bin_dir();
        let run_as = if running_as_root() {
            Some("postgres".to_string())
        } else {
            None
        };
        let root = std::env::temp_dir().join(format!(
            "mandate-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&root).expect("create cluster directory");
        if let Some(user) = &run_as {
            chown_to(&root, user);
        }
        let data = root.join("data");
        let mut cluster = PgCluster {
            root,
            data,
            bin,
            port: 0,
            run_as,
            remove_on_drop: true,
            durable,
        };
        cluster.initdb();
        // A free port can be taken by someone else between probing and binding: retry.
        let mut last_log = String::new();
        for _ in 0..5 {
            cluster.port = crate::free_port();
            if cluster.pg_ctl_start() {
                return cluster;
            }
            last_log = std::fs::read_to_string(cluster.root.join("server.log")).unwrap_or_default();
        }
        panic!("PostgreSQL test cluster did not start; server log:\n{last_log}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection URL for `database` as the trusted role.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{ROLE}@127.0.0.1:{}/{database}", self.port)
    }

    /// Create an empty database with a unique name and return its URL.
    pub fn create_database(&self) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Run one SQL statement with psql and return its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", ROLE])
            .args(["-d", database, "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stop the server immediately (as a crash or an outage would), keeping the data.
    pub fn stop(&self) {
        let status = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl stop");
        assert!(status.success(), "pg_ctl stop failed");
    }

    /// Start a stopped cluster again on the same port.
    pub fn restart(&self) {
        assert!(
            self.pg_ctl_start(),
            "PostgreSQL test cluster did not restart"
        );
    }

    fn initdb(&self) {
        let out = self
            .server_command("initdb")
            .arg("-D")
            .arg(&self.data)
            .args([
                "-U",
                ROLE,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) -> bool {
        let durability = if self.durable {
            "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
        } else {
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} {durability} -c max_connections=200",
            self.port,
            self.root.display()
        );
        self.server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.root.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }

    /// Shell command that stops this cluster and removes its directory (for the watchdog).
    fn teardown_script(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = match &self.run_as {
            Some(user) => format!(
                "runuser -u {user} -- {} -D {} -m immediate -w stop",
                pg_ctl.display(),
                self.data.display()
            ),
            None => format!(
                "{} -D {} -m immediate -w stop",
                pg_ctl.display(),
                self.data.display()
            ),
        };
        format!("{stop} >/dev/null 2>&1; rm -rf {}", self.root.display())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(self.teardown_script())
                .status();
        }
    }
}

/// The cluster shared by every test of this process, started on first use.
pub fn shared() -> &'static PgCluster {
    static SHARED: OnceLock<PgCluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        let mut cluster = PgCluster::start();
        cluster.remove_on_drop = false;
        spawn_watchdog(&cluster);
        cluster
    })
}

/// URL of a new, empty database in the shared cluster.
pub fn fresh_database() -> String {
    shared().create_database()
}

/// A detached process (own session, so Ctrl-C on the test run does not kill it) that waits for
/// this test process to exit and then tears the shared cluster down.
// Never waited on by design: the watchdog outlives this process.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(cluster: &PgCluster) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {teardown}",
        pid = std::process::id(),
        teardown = cluster.teardown_script()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the PostgreSQL watchdog (setsid, from util-linux)");
}

/// Where `initdb` and `pg_ctl` live: `MANDATE_PG_BIN`, else the newest Debian server under
/// /usr/lib/postgresql, else the PATH.
fn server_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MANDATE_PG_BIN") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("initdb").exists(),
            "MANDATE_PG_BIN={} holds no initdb",
            dir.display()
        );
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Some(dir) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
    }) {
        return dir;
    }
    panic!(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install the Debian package \
         `postgresql` (scripts/test does it) or point MANDATE_PG_BIN at their directory."
    );
}

fn running_as_root() -> bool {
    command_output("id", &["-u"]) == "0"
}

fn chown_to(path: &Path, user: &str) {
    let uid: u32 = command_output("id", &["-u", user]).parse().unwrap_or_else(|_| {
        panic!("tests run as root but there is no `{user}` user to run PostgreSQL as (install the Debian package `postgresql`)")
    });
    let gid: u32 = command_output("id", &["-g", user]).parse().expect("gid");
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown cluster directory");
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
