//! The `mandate` binary run as a real process, as an operator would run it.
//!
//! The process gets a clean environment (only PATH and HOME are kept, plus what the test sets),
//! runs in its own temp working directory (so `./mandate-data` lands there), logs JSON, and its
//! output lines are collected so tests can wait for a log event.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::TempDir;

type Lines = Arc<(Mutex<Vec<String>>, Condvar)>;

pub struct ServerProcess {
    child: Child,
    lines: Lines,
    workdir: TempDir,
}

/// A command line for the binary under test with a clean environment.
pub fn command(bin: &Path, workdir: &Path, envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .current_dir(workdir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info,mandate=debug");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Result of a run that is expected to end by itself.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Run the binary to completion (with a 60 s safety limit) in a fresh working directory.
pub fn run(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> Finished {
    let workdir = TempDir::new("run");
    run_in(bin, workdir.path(), args, envs)
}

/// Run the binary to completion in `workdir`.
pub fn run_in(bin: &Path, workdir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Finished {
    run_with_stdin(bin, workdir, args, envs, None)
}

/// Run the binary to completion in `workdir`, with `stdin` piped in (None: no input).
pub fn run_with_stdin(
    bin: &Path,
    workdir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: Option<&str>,
) -> Finished {
    let mut child = command(bin, workdir, envs)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mandate");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_with_timeout(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("mandate {args:?} did not exit within 60 s")
    });
    Finished {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

impl ServerProcess {
    /// Start `mandate serve` (plus `extra_args`) with `envs` in a fresh working directory.
    pub fn spawn(bin: &Path, envs: &[(&str, &str)]) -> ServerProcess {
        Self::spawn_in(bin, TempDir::new("serve"), &["serve"], envs)
    }

    pub fn spawn_in(
        bin: &Path,
        workdir: TempDir,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> ServerProcess {
        let mut child = command(bin, workdir.path(), envs)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mandate serve");
        let lines: Lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        collect(stdout, lines.clone());
        collect(stderr, lines.clone());
        ServerProcess {
            child,
            lines,
            workdir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn workdir(&self) -> PathBuf {
        self.workdir.path().to_path_buf()
    }

    /// Wait for the "listening" log event and return the bound address.
    pub fn wait_listening(&self) -> SocketAddr {
        let event = self.wait_for_event("listening", |_| true, Duration::from_secs(60));
        event["fields"]["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("listening event without addr: {event}"))
    }

    /// Wait for a JSON log event whose message is `message` and that satisfies `pred`.
    pub fn wait_for_event(
        &self,
        message: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
        timeout: Duration,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.lines;
        let mut lines = lock.lock().unwrap();
        loop {
            for line in lines.iter() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                    && v["fields"]["message"] == message
                    && pred(&v)
                {
                    return v;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "no {message:?} log event within {timeout:?}; output so far:\n{}",
                    lines.join("\n")
                );
            }
            lines = cvar.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// Count the JSON log events with this message that satisfy `pred`.
    pub fn count_events(&self, message: &str, pred: impl Fn(&serde_json::Value) -> bool) -> usize {
        let lines = self.lines.0.lock().unwrap();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == message && pred(v))
            .count()
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        self.lines.0.lock().unwrap().join("\n")
    }

    /// Send a signal by name (TERM, INT, KILL) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait for the process to exit; None when it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_with_timeout(&mut self.child, timeout)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static, lines: Lines) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let (lock, cvar) = &*lines;
            lock.lock().unwrap().push(line);
            cvar.notify_all();
        }
    });
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
