//! A real moto server (PyPI `moto[server]`) standing in for AWS KMS on a free loopback port,
//! stopped when dropped. Keys are created with boto3, which moto installs. `scripts/test`
//! installs moto when missing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MotoServer {
    child: Child,
    pub endpoint: String,
}

/// moto accepts any credentials; these are what the tests sign with.
pub const ACCESS_KEY_ID: &str = "AKIAMANDATETEST00001";
pub const SECRET_ACCESS_KEY: &str = "mandate-test-secret-access-key-000000000";
pub const REGION: &str = "eu-west-1";

impl MotoServer {
    pub fn start() -> MotoServer {
        let port = crate::free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run moto_server ({e}): install it with `pip install 'moto[server]'` (scripts/test does it)")
            });
        let server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Run a boto3 KMS snippet (`kms` is the client) and return what it prints.
    pub fn boto3_kms(&self, snippet: &str) -> String {
        let script = format!(
            "import boto3\nkms = boto3.client('kms', endpoint_url='{}', region_name='{REGION}', \
             aws_access_key_id='{ACCESS_KEY_ID}', aws_secret_access_key='{SECRET_ACCESS_KEY}')\n{snippet}\n",
            self.endpoint
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "boto3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A new symmetric KMS key; returns its ARN.
    pub fn create_key(&self) -> String {
        self.boto3_kms(
            "print(kms.create_key(Description='mandate test KEK')['KeyMetadata']['Arn'])",
        )
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
