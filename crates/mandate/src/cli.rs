//! Command line: `mandate [--config FILE] <serve|migrate|keys|audit|admin|agent|policy|approvals>`. `--help` lists every environment
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
    /// The audit log: check that nobody changed it, and export it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Administration from a shell on the server.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// For agent hosts: enroll this host's agent with a bootstrap secret, then print short-lived
    /// access tokens. Needs no server configuration, only the server's URL.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Policy documents as files (YAML or JSON): check them offline, apply them through the
    /// API. Needs no server configuration.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Approval requests: list them and decide, through the API with a personal access token
    /// (MANDATE_SERVER, MANDATE_TOKEN). Needs no server configuration.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
}

/// Where the API is and who calls it.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// The Mandate server, e.g. https://mandate.example.com.
    #[arg(long, env = "MANDATE_SERVER", value_name = "URL")]
    pub server: String,
    /// A personal access token with write access (`mandate_pat_...`; deciding approvals needs
    /// an operator's or above, managing policies an admin's).
    #[arg(
        long,
        env = "MANDATE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: String,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List approval requests, newest first, one line each.
    Ls {
        #[command(flatten)]
        api: ApiArgs,
        /// pending (the default), approved, denied, expired, executed, or all.
        #[arg(long, default_value = "pending")]
        state: String,
        /// Print the API's JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request: the agent may then run it once.
    Approve {
        /// The approval request's id.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
        /// Why (kept in the audit log and shown to the agent).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a pending request.
    Deny {
        /// The approval request's id.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
        /// Why (kept in the audit log and shown to the agent).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy documents exactly as the server would; prints "FILE: valid" for each, or
    /// the field at fault, and exits 1 when any is invalid.
    Check {
        /// Policy documents: YAML, or JSON (`.json` or starting with `{`).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check a document, then create the policy binding the agent to the connection, or replace
    /// the one that does (on the version just read: a concurrent change is refused).
    Apply(Box<PolicyApplyArgs>),
}

#[derive(Debug, clap::Args)]
pub struct PolicyApplyArgs {
    /// The policy document: YAML or JSON.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub api: ApiArgs,
    /// The agent's id.
    #[arg(long, value_name = "ID")]
    pub agent: String,
    /// The connection's id.
    #[arg(long, value_name = "ID")]
    pub connection: String,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Generate a key pair, enroll its public key with the bootstrap secret an admin gave you,
    /// and store the private key with the agent's id in the credentials file (created 0600;
    /// the private key never leaves this host). The secret works once.
    Enroll {
        /// The Mandate server, e.g. https://mandate.example.com.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The bootstrap secret (`mandate_bs_...`), or `-` to read it from stdin (it then stays
        /// out of the process list and shell history). Also read from MANDATE_BOOTSTRAP_SECRET.
        #[arg(
            long,
            env = "MANDATE_BOOTSTRAP_SECRET",
            hide_env_values = true,
            value_name = "SECRET"
        )]
        bootstrap_secret: String,
        /// ES256 (default) or EdDSA.
        #[arg(long, default_value = "ES256")]
        algorithm: String,
        /// Where to keep the private key and the agent's id.
        #[arg(long, env = "MANDATE_AGENT_CREDENTIALS", value_name = "FILE")]
        credentials: Option<PathBuf>,
        /// Replace an existing credentials file (its key stops working once the agent is
        /// enrolled with the new one).
        #[arg(long)]
        force: bool,
    },
    /// Sign a fresh client assertion with the enrolled key and print the access token it buys
    /// (valid for AGENT_TOKEN_TTL_SECONDS, 2 hours by default).
    Token {
        /// The credentials file written by `mandate agent enroll`.
        #[arg(long, env = "MANDATE_AGENT_CREDENTIALS", value_name = "FILE")]
        credentials: Option<PathBuf>,
        /// Print the whole token response as JSON instead of the bare token.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// First-run setup without the setup token: create the first owner and workspace. The
    /// password is read from stdin (a pipe, never a terminal, so it is not shown). Works once:
    /// fails when an owner exists.
    #[command(after_long_help = environment_help())]
    CreateOwner {
        /// The owner's email address (the sign-in name).
        #[arg(long)]
        email: String,
        /// The name of the first workspace.
        #[arg(long)]
        workspace: String,
        /// Shown in the dashboard; defaults to the part of the email before the @.
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the whole hash chain and check every signed checkpoint. Prints "intact" with
    /// counts and exits 0, or names the first position where a record was modified, removed,
    /// inserted or reordered and exits 1. Needs the same key configuration as `serve`.
    #[command(after_long_help = environment_help())]
    Verify {
        /// A saved JWKS (from /.well-known/jwks.json) whose keys may have signed checkpoints;
        /// the keys stored in the database are always trusted. Repeatable.
        #[arg(long, value_name = "FILE")]
        jwks: Vec<PathBuf>,
    },
    /// Write the log (or the part matching the filters), oldest first, as CSV or JSON. Streams:
    /// any size fits in constant memory. Needs only DATABASE_URL.
    #[command(after_long_help = environment_help())]
    Export(Box<ExportArgs>),
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// csv or json.
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Write here (created 0600) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only records at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this workspace (its id).
    #[arg(long, value_name = "ID")]
    pub workspace: Option<String>,
    /// Only this action, or a prefix ending in `.*` (keys.*).
    #[arg(long)]
    pub action: Option<String>,
    /// Only this actor id (a user or agent id, or `cli`/`server`).
    #[arg(long, value_name = "ID")]
    pub actor: Option<String>,
    /// Only events about this agent.
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// Only events about this connection.
    #[arg(long, value_name = "ID")]
    pub connection: Option<String>,
    /// allowed, denied or approval_required.
    #[arg(long)]
    pub decision: Option<String>,
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
