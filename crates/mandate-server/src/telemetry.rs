//! Logging: human-readable or one JSON object per line, to stderr, filtered like RUST_LOG.

use tracing_subscriber::EnvFilter;

use crate::config::{ConfigError, LogFormat};

/// Install the global subscriber. Fails on an invalid filter, naming RUST_LOG.
pub fn init(format: LogFormat, filter: &str) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(filter).map_err(|e| {
        ConfigError::new(
            "RUST_LOG",
            format!("`{filter}` is not a valid log filter: {e}"),
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // Already installed (tests start several servers in one process): keep the first.
    let _ = result;
    Ok(())
}
