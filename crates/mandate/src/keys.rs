//! `mandate keys status` and `mandate keys rotate-kek`.

use std::process::ExitCode;

use mandate_crypto::signing::SigningAlg;
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
    // Development keeps its key next to the data, as `serve` does.
    if let Err(e) = mandate_server::config::dev_key::ensure(&mut config) {
        return fail(2, "configuration error", &e);
    }
    let vault = match open_vault(&config).await {
        Ok(vault) => vault,
        Err((code, what, message)) => return fail(code, what, &message),
    };
    match command {
        KeysCommand::Status => match vault.status(time::OffsetDateTime::now_utc()).await {
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
        },
        KeysCommand::RotateDek { workspace } => rotate_dek(&vault, workspace.as_deref()).await,
        KeysCommand::RotateSigning { algorithm } => {
            rotate_signing(&config, &vault, algorithm.as_deref()).await
        }
        KeysCommand::RotateKek => match vault.rotate_kek().await {
            Ok(report) => {
                println!(
                    "key encryption key: {}\ndata keys re-wrapped: {} (already done elsewhere: {})",
                    vault.kek().current_id(),
                    report.rewrapped,
                    report.skipped
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, "cannot rotate the key encryption key", &e),
        },
    }
}

async fn open_vault(config: &Config) -> Result<Vault, (u8, &'static str, String)> {
    let mut options = config.database_options();
    // A one-shot command needs no more than this.
    options.max_connections = 2;
    let db = Db::connect(&options)
        .await
        .map_err(|e| (1, "cannot open the database", e.to_string()))?;
    db.migrate()
        .await
        .map_err(|e| (1, "cannot migrate", e.to_string()))?;
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

async fn rotate_signing(config: &Config, vault: &Vault, algorithm: Option<&str>) -> ExitCode {
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
            println!("current signing key: {kid} ({})", alg.as_str());
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, "cannot rotate the signing key", &e),
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

async fn rotate_dek(vault: &Vault, workspace: Option<&str>) -> ExitCode {
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
            Ok(report) => println!(
                "workspace {ws}: data key {} is active; {} secret(s) re-encrypted; retired: {}",
                report.new_kid,
                report.reencrypted,
                if report.retired.is_empty() {
                    "none".to_string()
                } else {
                    report.retired.join(", ")
                }
            ),
            Err(e) => return fail(1, "cannot rotate the data key", &e),
        }
    }
    ExitCode::SUCCESS
}
