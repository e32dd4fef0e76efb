//! The first-run setup token. Until an owner exists, creating one needs this token: the one in
//! `SETUP_TOKEN`, or one generated at start, printed once to stderr (never to the log, which
//! may be shipped elsewhere) and kept as a hash in the database for 24 hours so any replica
//! accepts it.

use std::io::Write;

use mandate_crypto::tokens::{self, TokenHash, TokenKind};
use mandate_store::Db;
use mandate_store::people::setup;
use secrecy::ExposeSecret;
use time::{Duration, OffsetDateTime};

use crate::config::Config;
use crate::error::ApiError;

pub const GENERATED_LIFETIME: Duration = Duration::hours(24);

/// At start: when setup is still open and no `SETUP_TOKEN` is configured, issue a token and
/// print it.
pub async fn announce(config: &Config, db: &Db) -> Result<(), mandate_store::StoreError> {
    if setup::is_done(db).await? {
        return Ok(());
    }
    if config.auth.setup_token.is_some() {
        tracing::warn!(
            "no owner yet: create one with POST /api/setup and the SETUP_TOKEN, or `mandate admin create-owner`"
        );
        return Ok(());
    }
    let Ok(token) = tokens::issue(TokenKind::Setup) else {
        tracing::error!("cannot generate a setup token; set SETUP_TOKEN");
        return Ok(());
    };
    let now = OffsetDateTime::now_utc();
    setup::insert_token(db, &token.hash.0, now, now + GENERATED_LIFETIME).await?;
    tracing::warn!(
        "no owner yet: a one-time setup token was printed to stderr (valid 24 hours); create the owner with POST /api/setup or `mandate admin create-owner`"
    );
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "\n  Mandate first-run setup token (valid 24 hours, shown once):\n\n    {}\n",
        token.secret.as_str()
    );
    Ok(())
}

/// True when `presented` is the configured token or a live generated one.
pub async fn is_valid(
    config: &Config,
    db: &Db,
    presented: &str,
    now: OffsetDateTime,
) -> Result<bool, ApiError> {
    if let Some(configured) = &config.auth.setup_token {
        // Compare hashes: constant time, and no early exit on the first differing byte.
        return Ok(TokenHash::of(configured.expose_secret()).matches(presented));
    }
    if tokens::inspect(presented) != Ok(TokenKind::Setup) {
        return Ok(false);
    }
    Ok(setup::token_is_valid(db, &TokenHash::of(presented).0, now).await?)
}
