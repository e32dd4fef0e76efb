//! Starting and stopping `mandate serve`: defaults, bad configuration, production, signals.

use std::time::Duration;

use mandate_testkit::server::{self, ServerProcess};

use super::{KEY, bin, health};

#[tokio::test]
async fn serves_health_on_the_embedded_defaults() {
    let server = ServerProcess::spawn(bin(), &[("MANDATE_PORT", "0")]);
    let addr = server.wait_listening();
    assert_eq!(health(addr).await, (200, r#"{"status":"ok"}"#.to_string()));
    let data = server.workdir().join("mandate-data");
    assert!(
        data.join("mandate.db").exists(),
        "SQLite file under ./mandate-data"
    );
    assert!(data.join("dev-encryption-key").exists());
    server.wait_for_event(
        "DEVELOPMENT KEY GENERATED: a new encryption key was written next to the data. Anyone who can read it can decrypt every stored secret. Production needs ENCRYPTION_KEY.",
        |_| true,
        Duration::from_secs(1),
    );
    let ready = server.wait_for_event("database ready", |_| true, Duration::from_secs(1));
    assert_eq!(ready["fields"]["backend"], "sqlite");
    assert!(!server.output().contains(KEY));
}

/// Each bad value stops the start with one `mandate: ...` line that names it, exit status 2 for
/// configuration and 1 for what fails at start, never a panic.
#[test]
fn bad_configuration_stops_the_start_with_one_clear_line() {
    let dir = mandate_testkit::TempDir::new("badcfg");
    let toml = dir.path().join("mandate.toml");
    std::fs::write(&toml, "port = 8080\nprot = 1\n").unwrap();
    let toml = toml.to_str().unwrap().to_string();
    let catalog = dir.path().join("providers.toml");
    std::fs::write(
        &catalog,
        "[[provider]]\nid = \"openai\"\nname = \"OpenAI\"\nauth = \"api_key\"\napi_hosts = [\"https://api.openai.com\"]\ninject = { kind = \"bearer\" }\n",
    )
    .unwrap();
    let catalog = catalog.to_str().unwrap().to_string();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let zero_key = "0".repeat(64);

    // (environment, arguments, exit status, what the error line says)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, i32, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("MANDATE_PORT", "80a")],
            vec!["serve"],
            2,
            "mandate: configuration error: MANDATE_PORT: `80a` is not a port number",
        ),
        (
            vec![("MANDATE_PORT", "99999")],
            vec!["serve"],
            2,
            "mandate: configuration error: MANDATE_PORT: `99999`",
        ),
        (
            vec![("MANDATE_CONFIG", "/nonexistent/mandate.toml")],
            vec!["serve"],
            2,
            "mandate: configuration error: MANDATE_CONFIG (/nonexistent/mandate.toml): cannot read the file",
        ),
        (
            vec![],
            vec!["--config", &toml, "serve"],
            2,
            "is not a known setting",
        ),
        (
            vec![("PROVIDER_CATALOG_FILE", &catalog)],
            vec!["serve"],
            2,
            "mandate: configuration error: provider catalog (PROVIDER_CATALOG_FILE): provider `openai`, field `api_hosts`",
        ),
        (
            vec![("ENCRYPTION_KEY_FILE", "/nonexistent/kek")],
            vec!["serve"],
            2,
            "mandate: configuration error: ENCRYPTION_KEY_FILE (/nonexistent/kek): cannot read the file",
        ),
        (
            vec![("ENCRYPTION_KEY", "abc123")],
            vec!["serve"],
            2,
            "mandate: configuration error: ENCRYPTION_KEY: must be 64 hexadecimal characters",
        ),
        (
            vec![("RUST_LOG", "info,[[[")],
            vec!["serve"],
            2,
            "mandate: configuration error: RUST_LOG:",
        ),
        (
            vec![("DATABASE_URL", "mysql://root:pw@db/mandate")],
            vec!["serve"],
            1,
            "mandate: cannot start: DATABASE_URL: unsupported scheme `mysql`",
        ),
        (
            vec![(
                "DATABASE_URL",
                "postgres://svc:topsecret@127.0.0.1:1/mandate",
            )],
            vec!["serve"],
            1,
            "mandate: cannot start: cannot connect to the database at postgres://svc:***@127.0.0.1:1/mandate",
        ),
        (
            vec![(
                "DATABASE_URL",
                "postgres://svc:topsecret@127.0.0.1:1/mandate",
            )],
            vec!["migrate"],
            1,
            "mandate: cannot migrate: cannot connect to the database at postgres://svc:***@127.0.0.1:1/mandate",
        ),
        (
            vec![("MANDATE_PORT", &taken_port)],
            vec!["serve"],
            1,
            "(MANDATE_HOST/MANDATE_PORT): Address already in use",
        ),
        (
            vec![("MANDATE_ENV", "production")],
            vec!["serve"],
            2,
            "mandate: configuration error: production mode (MANDATE_ENV=production): ENCRYPTION_KEY is missing",
        ),
        (
            vec![
                ("MANDATE_ENV", "production"),
                ("ENCRYPTION_KEY", &zero_key),
                ("PUBLIC_URL", "https://m.example.com"),
            ],
            vec!["serve"],
            2,
            "ENCRYPTION_KEY is a placeholder",
        ),
    ];
    for (env, args, code, expected) in cases {
        let mut env = env;
        env.push(("LOG_FORMAT", "json"));
        env.push(("DATABASE_CONNECT_TIMEOUT_SECONDS", "1"));
        let out = server::run(bin(), &args, &env);
        let error_lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("mandate: "))
            .collect();
        assert_eq!(out.status.code(), Some(code), "{env:?}: {}", out.stderr);
        assert_eq!(
            error_lines.len(),
            1,
            "{env:?}: one error line, got: {}",
            out.stderr
        );
        assert!(
            error_lines[0].contains(expected),
            "{env:?}: {:?} does not contain {expected:?}",
            error_lines[0]
        );
        let everything = format!("{}{}", out.stdout, out.stderr);
        assert!(
            !everything.contains("panicked") && !everything.contains("backtrace"),
            "{everything}"
        );
        assert!(
            !everything.contains("topsecret"),
            "a password was printed: {everything}"
        );
        // Anything else on stderr is a JSON log line, not a stray message.
        for line in out.stderr.lines().filter(|l| !l.starts_with("mandate: ")) {
            assert!(
                serde_json::from_str::<serde_json::Value>(line).is_ok(),
                "stray line: {line}"
            );
        }
    }
    drop(taken);
}

#[tokio::test]
async fn production_starts_with_real_secrets_and_sends_hsts() {
    let server = ServerProcess::spawn(
        bin(),
        &[
            ("MANDATE_PORT", "0"),
            ("MANDATE_ENV", "production"),
            ("ENCRYPTION_KEY", KEY),
            ("PUBLIC_URL", "https://mandate.example.com"),
        ],
    );
    let addr = server.wait_listening();
    let r = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    assert!(
        !server
            .workdir()
            .join("mandate-data/dev-encryption-key")
            .exists()
    );
    assert_eq!(server.count_events("running in DEVELOPMENT mode: secrets are generated and checks relaxed; set MANDATE_ENV=production for real use", |_| true), 0);
    assert!(!server.output().contains(KEY));
}

#[tokio::test]
async fn sigterm_and_sigint_stop_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut server = ServerProcess::spawn(bin(), &[("MANDATE_PORT", "0")]);
        let addr = server.wait_listening();
        assert_eq!(health(addr).await.0, 200);
        server.signal(signal);
        let status = server
            .wait_exit(Duration::from_secs(20))
            .expect("exited after the signal");
        assert!(status.success(), "exit status {status:?} after SIG{signal}");
        server.wait_for_event("stopped", |_| true, Duration::from_secs(1));
    }
}
