//! Signed checkpoints: every so often a replica signs the chain's head with the current signing
//! key. The token is an ordinary JWT (`typ` JWT, `kid` in the header), so anyone holding the
//! JWKS can check it; its claims name the position and link it vouches for:
//!
//! ```json
//! {"iss": "<PUBLIC_URL or mandate>", "sub": "audit-checkpoint", "seq": 1234, "link": "<hex>", "iat": 1700000000}
//! ```
//!
//! Each checkpoint is also logged (it holds no secret), so a copy lives outside the database:
//! rewriting history would need the audit key, the signing key and every copy.

use std::time::Duration;

use mandate_crypto::signing::SigningKey;
use mandate_store::Db;
use mandate_store::audit::{self, CheckpointRow};
use serde_json::json;
use time::OffsetDateTime;

use super::AuditError;
use crate::signing::SigningKeys;

pub const SUBJECT: &str = "audit-checkpoint";

/// Sign the current head unless a checkpoint covers it already. Returns the new checkpoint.
pub async fn sign_checkpoint(
    db: &Db,
    key: &SigningKey,
    issuer: &str,
) -> Result<Option<CheckpointRow>, AuditError> {
    let Some(head) = audit::head(db).await? else {
        return Ok(None);
    };
    let covered = audit::latest_checkpoint(db).await?.map_or(0, |c| c.seq);
    if head.seq <= covered {
        return Ok(None);
    }
    let now = OffsetDateTime::now_utc();
    let claims = json!({
        "iss": issuer,
        "sub": SUBJECT,
        "seq": head.seq,
        "link": head.link,
        "iat": now.unix_timestamp(),
    });
    let token = key
        .sign_jwt(&claims)
        .map_err(|e| AuditError::Key(e.to_string()))?;
    let row = CheckpointRow {
        seq: head.seq,
        link: head.link,
        kid: key.kid().to_string(),
        token,
        created_at: now,
    };
    if !audit::insert_checkpoint(db, &row).await? {
        return Ok(None);
    }
    tracing::info!(
        seq = row.seq,
        link = %row.link,
        kid = %row.kid,
        checkpoint = %row.token,
        "audit checkpoint signed"
    );
    Ok(Some(row))
}

/// Sign a checkpoint every `interval` while records keep coming.
pub fn spawn_checkpoints(db: Db, signing: SigningKeys, issuer: String, interval: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(e) = sign_checkpoint(&db, &signing.current(), &issuer).await {
                tracing::warn!(error = %e, "signing an audit checkpoint failed; trying again at the next interval");
            }
        }
    });
}
