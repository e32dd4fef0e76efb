//! `--help` and `mandate migrate`.

use mandate_server::config::settings::SETTINGS;
use mandate_testkit::server;

use super::bin;

#[test]
fn help_explains_every_command_and_variable() {
    let out = server::run(bin(), &["--help"], &[]);
    assert!(out.status.success());
    for word in ["serve", "migrate", "keys", "--config", "MANDATE_CONFIG"] {
        assert!(out.stdout.contains(word), "--help lacks {word}");
    }
    for setting in SETTINGS {
        assert!(
            out.stdout.contains(setting.env),
            "--help lacks {}",
            setting.env
        );
    }
    let serve = server::run(bin(), &["serve", "--help"], &[]);
    assert!(
        serve.stdout.contains("SHUTDOWN_GRACE_SECONDS") && serve.stdout.contains("DATABASE_URL")
    );
}

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let dir = mandate_testkit::TempDir::new("migrate");
    let first = server::run_in(bin(), dir.path(), &["migrate"], &[]);
    assert!(first.status.success(), "{}", first.stderr);
    let all = mandate_store::embedded_migrations(mandate_store::Backend::Sqlite);
    let expected = format!(
        "database schema at version {} ({} migration(s) applied now)",
        all.last().unwrap().0,
        all.len()
    );
    assert!(first.stdout.contains(&expected), "{}", first.stdout);

    let again = server::run_in(bin(), dir.path(), &["migrate"], &[]);
    assert!(
        again.stdout.contains("(0 migration(s) applied now)"),
        "{}",
        again.stdout
    );
    assert!(dir.path().join("mandate-data/mandate.db").exists());
}
