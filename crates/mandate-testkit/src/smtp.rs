//! A real SMTP server (PyPI `aiosmtpd`) on a free loopback port, stopped when dropped. Every
//! message it accepts is written as one file (`<n>.eml`, the raw message with the envelope in
//! `X-Envelope-*` headers) into a temporary directory. `scripts/test` installs aiosmtpd.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

const SERVER: &str = r#"
import sys, os, time, itertools
from aiosmtpd.controller import Controller

port, outdir = int(sys.argv[1]), sys.argv[2]
counter = itertools.count(1)

class Keep:
    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        head = "X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n" % (envelope.mail_from, ", ".join(envelope.rcpt_tos))
        tmp = os.path.join(outdir, "%d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(head.encode() + envelope.original_content)
        os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
        return "250 OK"

controller = Controller(Keep(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    dir: TempDir,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let port = crate::free_port();
        let dir = TempDir::new("smtp");
        let child = Command::new("python3")
            .args(["-c", SERVER, &port.to_string()])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run python3 (aiosmtpd: scripts/test installs it)");
        let server = SmtpServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// The messages received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(self.dir.path())
            .expect("read the mail dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .filter_map(|p| {
                let n = p.file_stem()?.to_str()?.parse().ok()?;
                Some((n, p))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| std::fs::read_to_string(p).expect("read a message"))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
