//! `mandate admin create-owner`: first-run setup from a shell on the server, for deployments
//! that never expose the setup endpoint. Shell access to the configuration is the credential,
//! so no setup token is asked for; the database still allows it once.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use mandate_crypto::password::PasswordHasher;
use mandate_server::audit::{self, Actor, AuditEvent, Outcome, actions};
use mandate_server::auth::passwords;
use mandate_server::config::Config;
use mandate_store::people::setup;
use mandate_store::people::users::{NewUser, normalize_email};
use zeroize::Zeroizing;

use crate::cli::AdminCommand;
use crate::fail;
use crate::keys::open_vault;

pub async fn run(mut config: Config, command: AdminCommand) -> ExitCode {
    let AdminCommand::CreateOwner {
        email,
        workspace,
        display_name,
    } = command;
    let email = match normalize_email(&email) {
        Ok(e) => e,
        Err(e) => return fail(2, "invalid --email", &e),
    };
    let password = match read_password() {
        Ok(p) => p,
        Err(message) => return fail(2, "no password", &message),
    };
    if let Err(e) = passwords::check_new(&password, &email) {
        return fail(2, "password refused", &e.message);
    }
    let vault = match open_vault(&mut config).await {
        Ok(vault) => vault,
        Err((code, what, message)) => return fail(code, what, &message),
    };
    let db = vault.db_handle();
    match setup::is_done(&db).await {
        Ok(true) => return fail(1, "cannot create the owner", &"setup is already done"),
        Ok(false) => {}
        Err(e) => return fail(1, "cannot read the database", &e),
    }
    let params = config.auth.password;
    let hashed = tokio::task::spawn_blocking(move || {
        PasswordHasher::new(params).and_then(|h| h.hash(&password))
    })
    .await;
    let hash = match hashed {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => return fail(1, "cannot hash the password", &e),
        Err(e) => return fail(1, "cannot hash the password", &e),
    };
    let owner = match NewUser::new(&email, display_name.as_deref(), hash) {
        Ok(o) => o,
        Err(e) => return fail(2, "invalid owner", &e),
    };
    let log = match audit::open(&db, &vault, Actor::System("cli")).await {
        Ok(log) => log,
        Err(e) => return fail(1, "cannot open the audit log", &e),
    };
    let now = time::OffsetDateTime::now_utc();
    let (user, ws) = match setup::complete(&db, owner, &workspace, now).await {
        Ok(done) => done,
        Err(e) => {
            log.close().await;
            return fail(1, "cannot create the owner", &e);
        }
    };
    let recorded = log
        .record(
            AuditEvent::new(Actor::System("cli"), actions::SETUP_COMPLETED)
                .workspace(ws.id)
                .target("user", user.id.to_string())
                .outcome(Outcome::Success),
        )
        .await;
    log.close().await;
    if let Err(e) = recorded {
        return fail(
            1,
            "the owner was created but recording it in the audit log failed",
            &e,
        );
    }
    println!(
        "owner {} created with workspace \"{}\" ({}); sign in at /api/auth/login",
        user.email, ws.name, ws.id
    );
    ExitCode::SUCCESS
}

/// The password is the first line of stdin. A terminal would show it as it is typed, so it
/// must come from a pipe.
fn read_password() -> Result<Zeroizing<String>, String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(
            "pipe the password on stdin, e.g. `read -rs PW; printf '%s' \"$PW\" | mandate admin create-owner ...`"
                .into(),
        );
    }
    let mut text = Zeroizing::new(String::new());
    stdin
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        return Err("stdin was empty; pipe the password on stdin".into());
    }
    Ok(Zeroizing::new(line))
}
