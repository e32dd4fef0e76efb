//! `mandate keys status` and `mandate keys rotate-kek`.

use std::process::ExitCode;

use mandate_crypto::signing::SigningAlg;
use mandate_server::audit::{self, Actor, AuditEvent, AuditLog, Outcome, actions};
use mandate_server::config::Config;
use mandate_server::signing::SigningKeys;
use mandate_server::vault::{
    DEK_ROTATION_DAYS, KEK_ROTATION_DAYS, KeyStatus, ProviderError, Vault, kek_from_config,
};
use mandate_store::Db;
use mandate_store::change_bus::ChangeBus;

use crate::cli::KeysCommand;
use crate::fail;

pub async fn run(mut config: Config, command: KeysCommand) -> ExitCode {
    let development = config.mode == mandate_server::config::RunMode::Development;
    if development
        && config.jwt.private_key_pem.is_none()
        && matches!(command, KeysCommand::RotateSigning { .. })
    {
        return fail(
            2,
            "configuration error",
            &"MANDATE_ENV: development uses a throwaway signing key that is never stored; nothing to rotate",
        );
    }
    let vault = match open_vault(&mut config).await {
        Ok(vault) => vault,
        Err((code, what, message)) => return fail(code, what, &message),
    };
    if matches!(command, KeysCommand::Status) {
        return keys_status(&vault).await;
    }
    // Every rotation is recorded in the audit log before the command reports success.
    let audit = match audit::open(&vault.db_handle(), &vault, Actor::System("cli")).await {
        Ok(log) => log,
        Err(e) => return fail(1, "cannot open the audit log", &e),
    };
    let code = match command {
        KeysCommand::Status => keys_status(&vault).await,
        KeysCommand::RotateDek { workspace } => {
            rotate_dek(&vault, &audit, workspace.as_deref()).await
        }
        KeysCommand::RotateSigning { algorithm } => {
            rotate_signing(&config, &vault, &audit, algorithm.as_deref()).await
        }
        KeysCommand::RotateKek => rotate_kek(&vault, &audit).await,
    };
    audit.close().await;
    code
}

/// Record `event` durably; a command whose action could not be recorded fails.
async fn record(audit: &AuditLog, event: AuditEvent) -> Result<(), ExitCode> {
    audit.record(event).await.map(|_| ()).map_err(|e| {
        fail(
            1,
            "the key operation was done but recording it in the audit log failed",
            &e,
        )
    })
}

/// Record that a key operation failed part-way, then report the failure.
async fn record_failure(
    audit: &AuditLog,
    operation: &str,
    what: &str,
    error: &dyn std::fmt::Display,
) -> ExitCode {
    let event = AuditEvent::new(Actor::System("cli"), actions::KEY_OPERATION_FAILED)
        .outcome(Outcome::Error)
        .details(serde_json::json!({ "operation": operation, "error": error.to_string() }));
    if let Err(code) = record(audit, event).await {
        return code;
    }
    fail(1, what, error)
}

async fn rotate_kek(vault: &Vault, audit: &AuditLog) -> ExitCode {
    match vault.rotate_kek().await {
        Ok(report) => {
            let event = AuditEvent::new(Actor::System("cli"), actions::KEK_ROTATED)
                .target("kek", vault.kek().current_id())
                .outcome(Outcome::Success)
                .details(serde_json::json!({
                    "provider": vault.kek().provider(),
                    "rewrapped": report.rewrapped,
                    "alreadyDone": report.skipped,
                }));
            if let Err(code) = record(audit, event).await {
                return code;
            }
            println!(
                "key encryption key: {}\ndata keys re-wrapped: {} (already done elsewhere: {})",
                vault.kek().current_id(),
                report.rewrapped,
                report.skipped
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            record_failure(
                audit,
                "rotate-kek",
                "cannot rotate the key encryption key",
                &e,
            )
            .await
        }
    }
}

async fn keys_status(vault: &Vault) -> ExitCode {
    match vault.status(time::OffsetDateTime::now_utc()).await {
        Ok(status) => {
            print!("{}", render(&status));
            print!("{}", signing_status(&vault.db_handle()).await);
            if status.by_kek.iter().any(|k| !k.held) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(1, "cannot read the key status", &e),
    }
}

/// The database, migrated, with the few connections a one-shot command needs.
pub async fn open_db(config: &Config) -> Result<Db, (u8, &'static str, String)> {
    let mut options = config.database_options();
    options.max_connections = 2;
    let db = Db::connect(&options)
        .await
        .map_err(|e| (1, "cannot open the database", e.to_string()))?;
    db.migrate()
        .await
        .map_err(|e| (1, "cannot migrate", e.to_string()))?;
    Ok(db)
}

/// The vault as `serve` opens it; development keeps its key next to the data, as `serve` does.
pub async fn open_vault(config: &mut Config) -> Result<Vault, (u8, &'static str, String)> {
    mandate_server::config::dev_key::ensure(config)
        .map_err(|e| (2, "configuration error", e.to_string()))?;
    let db = open_db(config).await?;
    let kek = kek_from_config(config).await.map_err(|e| match e {
        ProviderError::Config(e) => (2, "configuration error", e.to_string()),
        ProviderError::Vault(e) => (1, "key provider", e.to_string()),
    })?;
    Ok(Vault::new(db, kek, 16))
}

fn render(status: &KeyStatus) -> String {
    let mut out = format!("key encryption key provider: {}\n", status.provider);
    let age = match status.current_kek_age_days {
        Some(days) if days > KEK_ROTATION_DAYS => {
            format!(
                " (in use for {days} days, past the {KEK_ROTATION_DAYS}-day schedule: rotate it)"
            )
        }
        Some(days) => format!(" (in use for {days} days)"),
        None => String::new(),
    };
    out.push_str(&format!(
        "current key encryption key: {}{age}\n",
        status.current_kek
    ));
    out.push_str(&format!(
        "held key encryption keys: {}\n",
        status.held_keks.join(", ")
    ));
    out.push_str(&format!("data keys: {}\n", status.data_keys));
    for usage in &status.by_kek {
        let note = if usage.current {
            "current"
        } else if usage.held {
            "re-wrap pending: run `mandate keys rotate-kek` or restart `mandate serve`"
        } else {
            "NOT OPENABLE: no configured key encryption key opens these"
        };
        out.push_str(&format!(
            "  {}: {} ({note})\n",
            usage.kek_id, usage.data_keys
        ));
    }
    out.push_str("sealed records per data key:\n");
    for (kid, state, records) in &status.records_per_data_key {
        out.push_str(&format!("  {kid} ({}): {records}\n", state.as_str()));
    }
    if status.overdue.is_empty() {
        out.push_str(&format!(
            "data keys past the {DEK_ROTATION_DAYS}-day rotation schedule: none\n"
        ));
    } else {
        out.push_str(&format!(
            "data keys past the {DEK_ROTATION_DAYS}-day rotation schedule (run `mandate keys rotate-dek`):\n"
        ));
        for dek in &status.overdue {
            out.push_str(&format!(
                "  {} (workspace {}): {} days\n",
                dek.kid, dek.workspace_id, dek.age_days
            ));
        }
    }
    out
}

async fn rotate_signing(
    config: &Config,
    vault: &Vault,
    audit: &AuditLog,
    algorithm: Option<&str>,
) -> ExitCode {
    if config.jwt.private_key_pem.is_some() {
        return fail(
            2,
            "configuration error",
            &"JWT_PRIVATE_KEY: the signing key is given by configuration; put the new key there instead",
        );
    }
    let alg = match algorithm {
        None => config.jwt.algorithm,
        Some(name) => match SigningAlg::parse(name) {
            Some(alg) => alg,
            None => {
                return fail(
                    2,
                    "invalid --algorithm",
                    &format!("`{name}` is not one of RS256, ES256, EdDSA"),
                );
            }
        },
    };
    let db = vault.db_handle();
    let keys = match SigningKeys::start(config, &db, vault).await {
        Ok(keys) => keys,
        Err(e) => return fail(1, "cannot load the signing keys", &e),
    };
    let bus = ChangeBus::start(&db).await.ok();
    match keys.rotate(alg, bus.as_ref()).await {
        Ok(kid) => {
            let event = AuditEvent::new(Actor::System("cli"), actions::SIGNING_KEY_ROTATED)
                .target("signing_key", kid.as_str())
                .outcome(Outcome::Success)
                .details(serde_json::json!({ "alg": alg.as_str() }));
            if let Err(code) = record(audit, event).await {
                return code;
            }
            println!("current signing key: {kid} ({})", alg.as_str());
            ExitCode::SUCCESS
        }
        Err(e) => {
            record_failure(audit, "rotate-signing", "cannot rotate the signing key", &e).await
        }
    }
}

/// Signing keys rotate every 90 days.
const SIGNING_ROTATION_DAYS: i64 = 90;

async fn signing_status(db: &Db) -> String {
    let now = time::OffsetDateTime::now_utc();
    let rows = match mandate_store::signing_keys::published(db, now).await {
        Ok(rows) => rows,
        Err(e) => return format!("signing keys: cannot read ({e})\n"),
    };
    if rows.is_empty() {
        return "signing keys: none stored (JWT_PRIVATE_KEY, or a development key)\n".to_string();
    }
    let mut out = String::from("signing keys (published in /.well-known/jwks.json):\n");
    for row in rows {
        let age = (now - row.created_at).whole_days();
        let due = if row.state == "current" && age > SIGNING_ROTATION_DAYS {
            format!(
                ", past the {SIGNING_ROTATION_DAYS}-day schedule: run `mandate keys rotate-signing`"
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {} {} {}: {age} days{due}\n",
            row.kid, row.alg, row.state
        ));
    }
    out
}

async fn rotate_dek(vault: &Vault, audit: &AuditLog, workspace: Option<&str>) -> ExitCode {
    use std::io::{IsTerminal, Write};

    let db = vault.db_handle();
    let workspaces: Vec<uuid::Uuid> = match workspace {
        Some(text) => match uuid::Uuid::parse_str(text) {
            Ok(id) => vec![id],
            Err(_) => {
                return fail(
                    2,
                    "invalid --workspace",
                    &format!("`{text}` is not a workspace id (a UUID)"),
                );
            }
        },
        None => match mandate_store::data_keys::list(&db).await {
            Ok(keys) => {
                let mut ids: Vec<uuid::Uuid> = keys.into_iter().map(|k| k.workspace_id).collect();
                ids.sort();
                ids.dedup();
                ids
            }
            Err(e) => return fail(1, "cannot list the data keys", &e),
        },
    };
    let bus = ChangeBus::start(&db).await.ok();
    let tty = std::io::stderr().is_terminal();
    for ws in workspaces {
        let mut last_line = 0usize;
        let result = vault
            .rotate_dek(ws, bus.as_ref(), |done, total| {
                // A progress bar on a terminal; a line per 10% otherwise.
                let width = 30;
                let filled = (done * width)
                    .checked_div(total)
                    .unwrap_or(width)
                    .min(width);
                if tty {
                    eprint!(
                        "\r{ws} [{}{}] {done}/{total}",
                        "#".repeat(filled),
                        " ".repeat(width - filled)
                    );
                    let _ = std::io::stderr().flush();
                } else if total == 0 || done == total || done * 10 / total.max(1) > last_line {
                    last_line = done * 10 / total.max(1);
                    eprintln!("{ws}: re-encrypted {done}/{total}");
                }
            })
            .await;
        if tty {
            eprintln!();
        }
        match result {
            Ok(report) => {
                let event = AuditEvent::new(Actor::System("cli"), actions::DEK_ROTATED)
                    .workspace(ws)
                    .target("data_key", report.new_kid.as_str())
                    .outcome(Outcome::Success)
                    .details(serde_json::json!({
                        "reencrypted": report.reencrypted,
                        "retired": report.retired,
                    }));
                if let Err(code) = record(audit, event).await {
                    return code;
                }
                println!(
                    "workspace {ws}: data key {} is active; {} secret(s) re-encrypted; retired: {}",
                    report.new_kid,
                    report.reencrypted,
                    if report.retired.is_empty() {
                        "none".to_string()
                    } else {
                        report.retired.join(", ")
                    }
                )
            }
            Err(e) => {
                return record_failure(audit, "rotate-dek", "cannot rotate the data key", &e).await;
            }
        }
    }
    ExitCode::SUCCESS
}
