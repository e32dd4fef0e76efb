//! The PostgreSQL side of the change bus: one dedicated LISTEN connection per replica.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use super::{CHANNEL, ChangeEvent, Liveness, Topic, decode};
use crate::StoreError;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Start the listener (returns once the first LISTEN is in place, or failed) and the heartbeat.
pub(super) async fn spawn(
    pool: &PgPool,
    tx: broadcast::Sender<ChangeEvent>,
    liveness: Liveness,
) -> Result<Vec<JoinHandle<()>>, StoreError> {
    let options = (*pool.connect_options())
        .clone()
        .application_name("mandate-change-bus");
    // The listener keeps its connection for as long as it lives: no idle or age limits.
    let listener_pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options);
    let (ready_tx, ready_rx) = oneshot::channel();
    let listener = tokio::spawn(run(listener_pool, tx, ready_tx, liveness.silence_limit));
    match ready_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(StoreError::ChangeBus(format!("cannot LISTEN: {e}"))),
        Err(_) => return Err(StoreError::ChangeBus("listener task ended".into())),
    }
    let mut tasks = vec![listener];
    if let Some(every) = liveness.heartbeat_every {
        tasks.push(tokio::spawn(heartbeat(pool.clone(), every)));
    }
    Ok(tasks)
}

/// NOTIFY a heartbeat now and then, so every listener hears something while all is well.
async fn heartbeat(pool: PgPool, every: Duration) {
    let payload = serde_json::json!({"topic": "heartbeat"}).to_string();
    loop {
        tokio::time::sleep(every).await;
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "change bus heartbeat not sent");
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn run(
    pool: PgPool,
    tx: broadcast::Sender<ChangeEvent>,
    ready: oneshot::Sender<Result<(), sqlx::Error>>,
    silence_limit: Duration,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen(&pool).await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(100);
                match ready.take() {
                    Some(ready) => {
                        let _ = ready.send(Ok(()));
                    }
                    None => {
                        tracing::info!(
                            "change bus listener reconnected; treating everything as changed"
                        );
                        let _ = tx.send(ChangeEvent::Resync);
                    }
                }
                loop {
                    // Dropping the listener on a timeout (not reusing it) makes cancelling the
                    // pending receive harmless.
                    let Ok(received) =
                        tokio::time::timeout(silence_limit, listener.try_recv()).await
                    else {
                        tracing::warn!(silence = ?silence_limit, "change bus listener heard nothing; reconnecting");
                        break;
                    };
                    match received {
                        Ok(Some(notification)) => {
                            let event = decode(notification.payload());
                            if matches!(&event, ChangeEvent::Changed(c) if c.topic == Topic::Heartbeat)
                            {
                                continue;
                            }
                            tracing::debug!(?event, "change received");
                            let _ = tx.send(event);
                        }
                        // sqlx re-established the connection and its LISTEN before returning.
                        Ok(None) => {
                            tracing::info!(
                                "change bus listener reconnected; treating everything as changed"
                            );
                            let _ = tx.send(ChangeEvent::Resync);
                        }
                        Err(sqlx::Error::PoolClosed) => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "change bus listener lost its connection; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(e));
                    return;
                }
                tracing::warn!(error = %e, retry_in = ?backoff, "change bus listener cannot reconnect");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
