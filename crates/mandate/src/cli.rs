//! Command line: `mandate [--config FILE] <serve|migrate>`. `--help` lists every environment
//! variable from the settings table, so the help cannot fall behind the code.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mandate_server::config::settings::environment_help;

const ABOUT: &str = "Mandate: people delegate authority to AI agents, never their credentials.";

const LONG_ABOUT: &str = "Mandate: people delegate authority to AI agents, never their credentials.\n\n\
Users connect their accounts once; Mandate keeps the credentials encrypted and lets agents act \
through policy-checked, audited requests or short-lived tokens.\n\n\
Configuration comes from defaults, then an optional TOML file (--config or MANDATE_CONFIG), then \
the environment. With nothing set, `mandate serve` runs in development mode on \
http://127.0.0.1:8080 with SQLite under ./mandate-data.";

#[derive(Debug, Parser)]
#[command(name = "mandate", version, about = ABOUT, long_about = LONG_ABOUT,
    after_help = "Run `mandate --help` for every environment variable.",
    after_long_help = environment_help())]
pub struct Cli {
    /// TOML configuration file (same as MANDATE_CONFIG; the environment overrides it).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server: check the configuration, apply pending migrations, start the change
    /// bus, listen on MANDATE_HOST:MANDATE_PORT. SIGTERM or Ctrl-C drain in-flight requests
    /// (up to SHUTDOWN_GRACE_SECONDS) and stop.
    #[command(after_long_help = environment_help())]
    Serve,
    /// Apply pending database migrations to DATABASE_URL (or the embedded SQLite) and exit.
    /// `serve` does the same at start; this is for running them as a separate deploy step.
    #[command(after_long_help = environment_help())]
    Migrate,
    /// Keys: see which key encryption key wraps the data keys, and rotate it.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Provider, current and held key encryption keys, data keys per KEK, and data keys past
    /// their 90-day rotation schedule. Exits 1 when some data key is wrapped by a KEK that no
    /// configured key opens.
    #[command(after_long_help = environment_help())]
    Status,
    /// Re-wrap every data key under a new key encryption key. Transit and AWS KMS: rotates the
    /// key at the provider first. env and age: uses the new key already configured next to the
    /// previous one (ENCRYPTION_KEY + ENCRYPTION_KEY_PREVIOUS, AGE_KEK_FILE + AGE_KEK_FILE_PREVIOUS).
    /// Safe to run again after an interruption.
    #[command(after_long_help = environment_help())]
    RotateKek,
    /// Give a workspace a new data key and re-encrypt every secret sealed with the old one,
    /// showing progress; the old key is retired when none is left. An interrupted run is
    /// finished by running it again (it does not make another key). Replicas learn of the new key
    /// at once on PostgreSQL.
    #[command(after_long_help = environment_help())]
    RotateDek {
        /// Only this workspace (its id); default: every workspace that has a data key.
        #[arg(long, value_name = "ID")]
        workspace: Option<String>,
    },
    /// Make a new signing key current (JWT_ALGORITHM, or --algorithm). The former key stays in
    /// the JWKS for a day so tokens it signed keep verifying; running replicas pick up the new
    /// key within a minute (at once on PostgreSQL). Not for keys given as JWT_PRIVATE_KEY.
    #[command(after_long_help = environment_help())]
    RotateSigning {
        /// RS256, ES256 or EdDSA.
        #[arg(long)]
        algorithm: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
