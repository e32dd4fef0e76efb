//! `mandate agent enroll` and `mandate agent token` as an agent host runs them, against a real
//! `mandate serve`: the private key stays in a 0600 file, the bootstrap secret works once, the
//! token opens an agent route.

use std::os::unix::fs::PermissionsExt;

use mandate_crypto::tokens::{self, TokenKind};
use mandate_store::agents::bootstrap::NewSecret;
use mandate_store::agents::{self, NewAgent};
use mandate_store::people::setup;
use mandate_store::people::users::NewUser;
use mandate_testkit::TempDir;
use mandate_testkit::server::{self, ServerProcess};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::{KEY, bin, open_db};

#[tokio::test]
async fn enroll_stores_the_key_privately_and_token_prints_a_working_token() {
    let dir = TempDir::new("agent-cli");
    let url = format!("sqlite://{}", dir.path().join("mandate.db").display());
    let db = open_db(&url, dir.path()).await;
    let now = OffsetDateTime::now_utc();
    let owner = NewUser::new("owner@example.com", None, "$argon2id$stand-in".into()).unwrap();
    let (owner, workspace) = setup::complete(&db, owner, "Acme", now).await.unwrap();
    let secret = tokens::issue(TokenKind::BootstrapSecret).unwrap();
    let agent = agents::create(
        &db,
        NewAgent {
            workspace_id: workspace.id,
            name: "cli agent",
            description: "",
            owner_id: owner.id,
            now,
        },
        NewSecret {
            token_hash: &secret.hash.0,
            created_by: owner.id,
            expires_at: now + Duration::hours(1),
        },
    )
    .await
    .unwrap();
    db.close().await;

    let data = dir.path().join("data");
    let envs = [
        ("MANDATE_DATA_DIR", data.to_str().unwrap()),
        ("DATABASE_URL", url.as_str()),
        ("ENCRYPTION_KEY", KEY),
        ("MANDATE_PORT", "0"),
    ];
    let srv = ServerProcess::spawn(bin(), &envs);
    let addr = srv.wait_listening();
    let server_url = format!("http://{addr}");
    let creds = dir.path().join("host").join("agent.json");
    let creds_arg = creds.to_str().unwrap();
    // Agent hosts have no server configuration: none of it is given here.
    let no_env: [(&str, &str); 0] = [];

    let plain = server::run_in(
        bin(),
        dir.path(),
        &[
            "agent",
            "enroll",
            "--server",
            "http://mandate.example.com",
            "--bootstrap-secret",
            "-",
            "--credentials",
            creds_arg,
        ],
        &no_env,
    );
    assert_eq!(plain.status.code(), Some(2), "{}", plain.stderr);
    assert!(plain.stderr.contains("https"), "{}", plain.stderr);

    let enroll_args = [
        "agent",
        "enroll",
        "--server",
        server_url.as_str(),
        "--bootstrap-secret",
        "-",
        "--credentials",
        creds_arg,
    ];
    let enrolled = server::run_with_stdin(
        bin(),
        dir.path(),
        &enroll_args,
        &no_env,
        Some(&format!("{}\n", secret.secret.as_str())),
    );
    assert!(enrolled.status.success(), "{}", enrolled.stderr);
    assert!(
        enrolled.stdout.contains(&agent.id.to_string()),
        "{}",
        enrolled.stdout
    );
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "credentials file mode");
    let dir_mode = std::fs::metadata(creds.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "credentials directory mode");
    let stored = std::fs::read_to_string(&creds).unwrap();
    assert!(
        !stored.contains(secret.secret.as_str()),
        "the bootstrap secret is not kept"
    );
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["agentId"], agent.id.to_string());
    assert_eq!(stored["alg"], "ES256");

    let printed = server::run_in(
        bin(),
        dir.path(),
        &["agent", "token", "--credentials", creds_arg],
        &no_env,
    );
    assert!(printed.status.success(), "{}", printed.stderr);
    let token = printed.stdout.trim();
    assert!(token.starts_with("mandate_at_"), "{token}");
    let me = reqwest::Client::new()
        .get(format!("{server_url}/v1/agents/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["agentId"], agent.id.to_string());
    assert_eq!(me["currentKid"], stored["kid"]);
    // Every call signs a new assertion: a second token works too.
    let again = server::run_in(
        bin(),
        dir.path(),
        &["agent", "token", "--credentials", creds_arg, "--json"],
        &no_env,
    );
    assert!(again.status.success(), "{}", again.stderr);
    let again: Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert_eq!(again["token_type"], "Bearer");
    assert_ne!(again["access_token"].as_str().unwrap(), token);

    // The existing file is not overwritten by accident, and the used secret is refused while
    // the file keeps working.
    let exists = server::run_with_stdin(
        bin(),
        dir.path(),
        &enroll_args,
        &no_env,
        Some(secret.secret.as_str()),
    );
    assert_eq!(exists.status.code(), Some(2), "{}", exists.stderr);
    assert!(exists.stderr.contains("--force"), "{}", exists.stderr);
    let mut forced = enroll_args.to_vec();
    forced.push("--force");
    let reused = server::run_with_stdin(
        bin(),
        dir.path(),
        &forced,
        &no_env,
        Some(secret.secret.as_str()),
    );
    assert_eq!(reused.status.code(), Some(1), "{}", reused.stderr);
    assert!(reused.stderr.contains("401"), "{}", reused.stderr);
    let still = server::run_in(
        bin(),
        dir.path(),
        &["agent", "token", "--credentials", creds_arg],
        &no_env,
    );
    assert!(still.status.success(), "{}", still.stderr);
    let leftovers: Vec<_> = std::fs::read_dir(creds.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files are left behind");

    srv.signal("TERM");
    let mut srv = srv;
    srv.wait_exit(std::time::Duration::from_secs(20)).unwrap();
    let output = srv.output();
    assert!(
        !output.contains(secret.secret.as_str()),
        "the bootstrap secret is not logged"
    );
    assert!(!output.contains(token), "the access token is not logged");
}
