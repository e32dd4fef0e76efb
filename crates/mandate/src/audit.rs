//! `mandate audit verify` and `mandate audit export`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use mandate_server::audit::export::{Export, ExportFormat};
use mandate_server::audit::filter::FilterText;
use mandate_server::audit::verify::verify;
use mandate_server::config::Config;
use mandate_store::audit::AuditFilter;
use serde_json::{Value, json};

use crate::cli::{AuditCommand, ExportArgs};
use crate::fail;
use crate::keys::{open_db, open_vault};

pub async fn run(mut config: Config, command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify { jwks } => {
            let vault = match open_vault(&mut config).await {
                Ok(vault) => vault,
                Err((code, what, message)) => return fail(code, what, &message),
            };
            run_verify(&vault, &jwks).await
        }
        AuditCommand::Export(args) => {
            let db = match open_db(&config).await {
                Ok(db) => db,
                Err((code, what, message)) => return fail(code, what, &message),
            };
            run_export(db, args).await
        }
    }
}

async fn run_verify(
    vault: &mandate_server::vault::Vault,
    jwks_files: &[std::path::PathBuf],
) -> ExitCode {
    let db = vault.db_handle();
    let mut trusted: Vec<Value> = match mandate_store::signing_keys::all_public_jwks(&db).await {
        Ok(rows) => rows
            .iter()
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect(),
        Err(e) => return fail(1, "cannot read the signing keys", &e),
    };
    for path in jwks_files {
        match read_jwks(path) {
            Ok(keys) => trusted.extend(keys),
            Err(message) => return fail(2, "invalid --jwks", &message),
        }
    }
    let keys = match mandate_server::audit::keys::load(&db, vault).await {
        Ok(Some(keys)) => keys,
        Ok(None) => {
            println!("audit log intact: 0 records (no audit key yet)");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(1, "cannot open the audit keys", &e),
    };
    let report = match verify(&db, &keys, &json!({ "keys": trusted })).await {
        Ok(report) => report,
        Err(e) => return fail(1, "cannot verify the audit log", &e),
    };
    let unknown = if report.checkpoints_unknown_key > 0 {
        format!(
            "; {} checkpoint(s) signed by keys not stored here, links compared but signatures unchecked (pass their JWKS with --jwks)",
            report.checkpoints_unknown_key
        )
    } else {
        String::new()
    };
    match &report.finding {
        None => {
            println!(
                "audit log intact: {} records, {} signed checkpoint(s) verified{unknown}",
                report.records, report.checkpoints_verified
            );
            ExitCode::SUCCESS
        }
        Some(finding) => {
            println!("audit log TAMPERED: {finding}");
            println!(
                "({} records and {} checkpoint(s) before that point verified)",
                report.records, report.checkpoints_verified
            );
            ExitCode::from(1)
        }
    }
}

/// The keys of a JWKS file (`{"keys": [...]}`), as saved from /.well-known/jwks.json.
fn read_jwks(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON ({e})", path.display()))?;
    value["keys"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("{}: not a JWKS (no \"keys\" array)", path.display()))
}

async fn run_export(db: mandate_store::Db, args: Box<ExportArgs>) -> ExitCode {
    let format = match ExportFormat::parse(&args.format) {
        Some(format) => format,
        None => {
            return fail(
                2,
                "invalid --format",
                &format!("`{}` is not csv or json", args.format),
            );
        }
    };
    let filter = match filter_from(&args) {
        Ok(filter) => filter,
        Err(message) => return fail(2, "invalid filter", &message),
    };
    let mut out: Box<dyn Write> = match &args.output {
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        Some(path) => match create_private(path) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(e) => {
                return fail(
                    1,
                    "cannot write the export",
                    &format!("{}: {e}", path.display()),
                );
            }
        },
    };
    let mut export = Export::new(db, filter, format);
    loop {
        match export.next_chunk().await {
            Ok(Some(chunk)) => {
                if let Err(e) = out.write_all(chunk.as_bytes()) {
                    return fail(1, "cannot write the export", &e);
                }
            }
            Ok(None) => break,
            Err(e) => return fail(1, "cannot read the audit log", &e),
        }
    }
    if let Err(e) = out.flush() {
        return fail(1, "cannot write the export", &e);
    }
    if args.output.is_some() {
        eprintln!("exported {} audit record(s)", export.rows_written());
    }
    ExitCode::SUCCESS
}

/// Exports can say who did what: readable by the owner only.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

fn filter_from(args: &ExportArgs) -> Result<AuditFilter, String> {
    FilterText {
        workspace: args.workspace.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        actor: args.actor.clone(),
        agent: args.agent.clone(),
        connection: args.connection.clone(),
        action: args.action.clone(),
        decision: args.decision.clone(),
    }
    .parse("--")
}
