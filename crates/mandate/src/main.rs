//! `mandate`: the one binary. Configuration errors exit with status 2, start failures with 1,
//! each as a single line on stderr naming what to fix.

mod admin;
mod agent;
mod api_client;
mod approvals;
mod audit;
mod cli;
mod keys;
mod policy;

use std::process::ExitCode;

use clap::Parser;
use mandate_server::config::{Config, ConfigFile, settings::CONFIG_FILE_ENV};
use mandate_server::serve::{Server, StartError, shutdown_signal};
use mandate_server::telemetry;
use mandate_store::Db;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = config_file(cli.config.as_deref());
    let command = match cli.command {
        // Agent hosts have no server configuration: these commands read none.
        Command::Agent(command) => return agent::main(command),
        Command::Policy(command) => return policy::main(command),
        Command::Approvals(command) => return approvals::main(command),
        other => other,
    };
    let config = match Config::load(&|name| std::env::var_os(name), file.as_ref()) {
        Ok(config) => config,
        Err(e) => return fail(2, "configuration error", &e),
    };
    if let Err(e) = telemetry::init(config.log_format, &config.log_filter) {
        return fail(2, "configuration error", &e);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(1, "cannot start the async runtime", &e),
    };
    runtime.block_on(async {
        match command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Keys(command) => keys::run(config, command).await,
            Command::Audit(command) => audit::run(config, command).await,
            Command::Admin(command) => admin::run(config, command).await,
            Command::Agent(command) => agent::run(command).await,
            Command::Policy(command) => policy::run(command).await,
            Command::Approvals(command) => approvals::run(command).await,
        }
    })
}

/// `--config` wins over MANDATE_CONFIG; an empty MANDATE_CONFIG means none.
fn config_file(flag: Option<&std::path::Path>) -> Option<ConfigFile> {
    if let Some(path) = flag {
        return Some(ConfigFile {
            path: path.to_path_buf(),
            named_by: "--config",
        });
    }
    std::env::var_os(CONFIG_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(|path| ConfigFile {
            path: path.into(),
            named_by: CONFIG_FILE_ENV,
        })
}

async fn serve(config: Config) -> ExitCode {
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(StartError::Config(e)) => return fail(2, "configuration error", &e),
        Err(e) => return fail(1, "cannot start", &e),
    };
    match server.run(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, "server failed", &e),
    }
}

async fn migrate(config: Config) -> ExitCode {
    let mut options = config.database_options();
    // A one-shot command needs no more than this.
    options.max_connections = 2;
    let db = match Db::connect(&options).await {
        Ok(db) => db,
        Err(e) => return fail(1, "cannot migrate", &e),
    };
    let result = db.migrate().await;
    db.close().await;
    match result {
        Ok(report) => {
            println!(
                "database schema at version {} ({} migration(s) applied now)",
                report.version, report.applied
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, "cannot migrate", &e),
    }
}

pub(crate) fn fail(code: u8, what: &str, error: &dyn std::fmt::Display) -> ExitCode {
    // One line, whatever the error carries.
    let message = error.to_string().replace(['\n', '\r'], " ");
    eprintln!("mandate: {what}: {message}");
    ExitCode::from(code)
}
