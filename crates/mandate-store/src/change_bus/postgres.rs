//! The PostgreSQL side of the change bus: one dedicated LISTEN connection per replica.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use super::{CHANNEL, ChangeEvent, decode};
use crate::StoreError;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Start the listener task; returns once the first LISTEN is in place (or failed).
pub(super) async fn spawn_listener(
    pool: &PgPool,
    tx: broadcast::Sender<ChangeEvent>,
) -> Result<JoinHandle<()>, StoreError> {
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
    let task = tokio::spawn(run(listener_pool, tx, ready_tx));
    match ready_rx.await {
        Ok(Ok(())) => Ok(task),
        Ok(Err(e)) => Err(StoreError::ChangeBus(format!("cannot LISTEN: {e}"))),
        Err(_) => Err(StoreError::ChangeBus("listener task ended".into())),
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
                    match listener.try_recv().await {
                        Ok(Some(notification)) => {
                            let event = decode(notification.payload());
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
