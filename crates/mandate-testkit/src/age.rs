//! The real `age` tools (Debian package `age`, which scripts/test installs), to make identities and
//! age files for the tests of Mandate's age reader and `age` KEK provider.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A new X25519 identity file `dir/name`; returns its path and recipient (`age1...`).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("run age-keygen (Debian package age)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen wrote a public key comment")
        .to_string();
    (path, recipient)
}

/// `age <args> -o out` with `plaintext` on standard input; returns what it wrote.
pub fn encrypt(args: &[&str], plaintext: &[u8], out: &Path) -> Vec<u8> {
    let mut child = Command::new("age")
        .args(args)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run age (Debian package age)");
    child.stdin.take().unwrap().write_all(plaintext).unwrap();
    assert!(child.wait().unwrap().success(), "age {args:?} failed");
    std::fs::read(out).unwrap()
}
