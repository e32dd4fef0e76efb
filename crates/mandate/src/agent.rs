//! `mandate agent enroll|token`: what an agent host runs. Enrollment generates the key pair
//! here, sends only the public key with the bootstrap secret, and keeps the private key in a
//! credentials file only its owner can read (0600, in a 0700 directory). `token` signs a fresh
//! RFC 7523 client assertion (60 seconds, new `jti`) and prints the access token it buys.

use std::fs::{self, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mandate_crypto::signing::{SigningAlg, SigningKey};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::api_client::{post, server_url};
use crate::cli::AgentCommand;
use crate::fail;

const CREDENTIALS_VERSION: u64 = 1;

/// Run an agent command on a runtime of its own (no server configuration is read).
pub fn main(command: AgentCommand) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(command)),
        Err(e) => fail(1, "cannot start the async runtime", &e),
    }
}

pub async fn run(command: AgentCommand) -> ExitCode {
    match command {
        AgentCommand::Enroll {
            server,
            bootstrap_secret,
            algorithm,
            credentials,
            force,
        } => enroll(&server, &bootstrap_secret, &algorithm, credentials, force).await,
        AgentCommand::Token { credentials, json } => token(credentials, json).await,
    }
}

/// `--credentials`, else `$XDG_CONFIG_HOME/mandate/agent.json`, else `~/.config/mandate/agent.json`.
fn credentials_path(given: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = given {
        return Ok(path);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or("neither --credentials, XDG_CONFIG_HOME nor HOME is set")?;
    Ok(base.join("mandate").join("agent.json"))
}

fn read_secret(given: &str) -> Result<Zeroizing<String>, String> {
    if given != "-" {
        return Ok(Zeroizing::new(given.trim().to_string()));
    }
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err("`--bootstrap-secret -` reads the secret from stdin: pipe it in".into());
    }
    let mut secret = Zeroizing::new(String::new());
    stdin
        .read_to_string(&mut secret)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    Ok(Zeroizing::new(secret.trim().to_string()))
}

/// A file only its owner can read, created next to `path` and renamed over it once written.
struct PendingFile {
    temp: PathBuf,
    path: PathBuf,
}

impl PendingFile {
    fn create(path: &Path, force: bool) -> Result<PendingFile, String> {
        if path.exists() && !force {
            return Err(format!(
                "{} exists; pass --force to replace it",
                path.display()
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let temp = path.with_extension(format!("tmp-{}", std::process::id()));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        Ok(PendingFile {
            temp,
            path: path.to_path_buf(),
        })
    }

    fn commit(self, contents: &[u8]) -> Result<(), String> {
        let mut file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.temp)
            .map_err(|e| format!("cannot write {}: {e}", self.temp.display()))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", self.temp.display()))?;
        fs::rename(&self.temp, &self.path)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // Gone after a commit (renamed); removed after a failure.
        let _ = fs::remove_file(&self.temp);
    }
}

async fn enroll(
    server: &str,
    secret: &str,
    algorithm: &str,
    credentials: Option<PathBuf>,
    force: bool,
) -> ExitCode {
    let server = match server_url(server) {
        Ok(s) => s,
        Err(e) => return fail(2, "invalid --server", &e),
    };
    let alg = match SigningAlg::parse(algorithm) {
        Some(alg @ (SigningAlg::Es256 | SigningAlg::EdDsa)) => alg,
        _ => return fail(2, "invalid --algorithm", &"use ES256 or EdDSA"),
    };
    let secret = match read_secret(secret) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => return fail(2, "no bootstrap secret", &"the secret is empty"),
        Err(e) => return fail(2, "no bootstrap secret", &e),
    };
    let path = match credentials_path(credentials) {
        Ok(p) => p,
        Err(e) => return fail(2, "no credentials file", &e),
    };
    // Before the secret is spent: the file can be written.
    let pending = match PendingFile::create(&path, force) {
        Ok(p) => p,
        Err(e) => return fail(2, "cannot store credentials", &e),
    };
    let key = match SigningKey::generate(alg, "new") {
        Ok(k) => {
            let kid = k.thumbprint();
            k.with_kid(kid)
        }
        Err(e) => return fail(1, "cannot generate a key", &e),
    };
    let mut public = key.public_jwk();
    if let Some(jwk) = public.as_object_mut() {
        jwk.remove("use");
    }
    let enrolled = match post(
        &format!("{server}/v1/agents/bootstrap"),
        &json!({ "bootstrapSecret": secret.as_str(), "publicKey": public }),
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return fail(1, "enrollment refused", &e),
    };
    let Some(agent_id) = enrolled["agentId"].as_str() else {
        return fail(
            1,
            "enrollment failed",
            &"the server's answer has no agentId",
        );
    };
    let der = match key.to_pkcs8_der() {
        Ok(der) => der,
        Err(e) => return fail(1, "cannot export the key", &e),
    };
    let contents = Zeroizing::new(
        serde_json::to_vec_pretty(&json!({
            "version": CREDENTIALS_VERSION,
            "server": server,
            "agentId": agent_id,
            "workspaceId": enrolled["workspaceId"],
            "kid": key.kid(),
            "alg": alg.as_str(),
            "privateKeyPkcs8": STANDARD.encode(der.as_slice()),
        }))
        .unwrap_or_default(),
    );
    if let Err(e) = pending.commit(&contents) {
        return fail(
            1,
            "enrolled, but cannot store the key (ask for a new bootstrap secret)",
            &e,
        );
    }
    println!(
        "agent {agent_id} ({}) enrolled with key {}; credentials in {}",
        enrolled["name"].as_str().unwrap_or(""),
        key.kid(),
        path.display()
    );
    ExitCode::SUCCESS
}

/// The enrolled agent, read back from its credentials file.
struct Credentials {
    server: String,
    agent_id: String,
    key: SigningKey,
}

fn load(path: &Path) -> Result<Credentials, String> {
    // As ssh does with private keys: a key others can read is refused, not used.
    let mode = fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {:o}); `chmod 600` it (and consider the key exposed)",
            path.display(),
            mode & 0o777
        ));
    }
    let text = Zeroizing::new(
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    let v: Value = serde_json::from_str(&text)
        .map_err(|_| format!("{} is not a credentials file", path.display()))?;
    let field = |name: &str| {
        v[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{} has no `{name}`", path.display()))
    };
    let der = Zeroizing::new(
        STANDARD
            .decode(field("privateKeyPkcs8")?)
            .map_err(|_| format!("{}: the private key is not base64", path.display()))?,
    );
    let key = SigningKey::from_pkcs8_der(field("kid")?, &der)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Credentials {
        server: field("server")?,
        agent_id: field("agentId")?,
        key,
    })
}

async fn token(credentials: Option<PathBuf>, as_json: bool) -> ExitCode {
    let path = match credentials_path(credentials) {
        Ok(p) => p,
        Err(e) => return fail(2, "no credentials file", &e),
    };
    let creds = match load(&path) {
        Ok(c) => c,
        Err(e) => return fail(2, "cannot load the credentials", &e),
    };
    let endpoint = format!("{}/v1/agents/token", creds.server);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let assertion = match creds.key.sign_jwt(&json!({
        "iss": creds.agent_id,
        "sub": creds.agent_id,
        "aud": endpoint,
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })) {
        Ok(a) => a,
        Err(e) => return fail(1, "cannot sign the assertion", &e),
    };
    let answer = match post(
        &endpoint,
        &json!({
            "grant_type": "client_assertion",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }),
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return fail(1, "token refused", &e),
    };
    if as_json {
        println!("{answer}");
    } else if let Some(token) = answer["access_token"].as_str() {
        println!("{token}");
    } else {
        return fail(
            1,
            "token refused",
            &"the server's answer has no access_token",
        );
    }
    ExitCode::SUCCESS
}
