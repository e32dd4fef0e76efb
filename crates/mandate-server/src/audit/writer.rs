//! The writer task: one per process, group commit.
//!
//! Callers queue events; the task takes everything queued (up to [`MAX_BATCH`]) and appends it
//! in one transaction, so under load many events share one commit and the request path never
//! waits for more than the batch in flight. [`AuditLog::record`] returns once its event is
//! committed: an action that must not happen unrecorded (a provider call) waits for it, and
//! when the database fails the caller gets an error and the action does not happen.
//! [`AuditLog::record_buffered`] returns once queued: for records that follow an action already
//! taken (its outcome); those wait up to [`LINGER`] to ride with the next committed record, are
//! retried until written, and [`AuditLog::close`] writes them all before the process stops.
//!
//! On SQLite the writer runs on a thread of its own and commits through a direct connection
//! ([`audit::SqliteAppender`]): a waiting request is then one hand-off away from its commit
//! instead of three (the writer task, sqlx's connection thread and back). On PostgreSQL it is a
//! task of the server's runtime using the pool.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mandate_store::Db;
use mandate_store::audit::{self, AuditEntry};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{AuditError, AuditEvent, ChainKeys};

/// Events queued before senders wait (backpressure instead of unbounded memory).
const QUEUE: usize = 16_384;
/// Most events in one transaction.
pub const MAX_BATCH: usize = 4_096;
/// Buffered events kept for retry while the database is down; beyond this, intake stops.
const MAX_PENDING: usize = 65_536;
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long buffered events may wait for a record that is waited for, to share its commit
/// instead of taking one of their own (which the next waited-for record would queue behind).
const LINGER: Duration = Duration::from_millis(5);
/// How long closing keeps retrying buffered events the database refuses.
const CLOSE_DEADLINE: Duration = Duration::from_secs(10);

type Ack = oneshot::Sender<Result<(), AuditError>>;

// Nearly every message is a Record: boxing it would add an allocation per record for nothing.
#[allow(clippy::large_enum_variant)]
enum Message {
    Record { entry: AuditEntry, ack: Option<Ack> },
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<usize>),
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<Message>,
    task: Arc<Mutex<Option<WriterHandle>>>,
    /// Workspaces with records committed since the last [`AuditLog::take_active_workspaces`]
    /// (the writer adds a batch's after its commit; the live activity feed announces them).
    active: Arc<Mutex<HashSet<Uuid>>>,
}

impl AuditLog {
    /// Start the writer: on SQLite a thread with a direct connection, else a task on the
    /// current runtime.
    pub fn start(db: Db, keys: ChainKeys) -> AuditLog {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let direct = match audit::SqliteAppender::open(&db) {
            Ok(direct) => direct,
            Err(e) => {
                tracing::warn!(error = %e, "the audit writer's direct SQLite connection failed; using the pool");
                None
            }
        };
        let threaded = direct.is_some();
        let active: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
        let writer = Writer {
            active: active.clone(),
            db,
            keys,
            direct,
            entries: Vec::new(),
            acks: Vec::new(),
            head: None,
        };
        let task = if threaded {
            WriterHandle::spawn_thread(writer, receiver)
        } else {
            WriterHandle::Task(tokio::spawn(writer.run(receiver)))
        };
        AuditLog {
            sender,
            task: Arc::new(Mutex::new(Some(task))),
            active,
        }
    }

    /// Append `event` and return its id once it is committed.
    pub async fn record(&self, event: AuditEvent) -> Result<Uuid, AuditError> {
        let id = event.id();
        let (ack, committed) = oneshot::channel();
        self.sender
            .send(Message::Record {
                entry: event.into_entry(),
                ack: Some(ack),
            })
            .await
            .map_err(|_| AuditError::Closed)?;
        committed.await.map_err(|_| AuditError::Closed)??;
        Ok(id)
    }

    /// Queue `event` and return its id; it is written with the next batch and retried until
    /// it is.
    pub async fn record_buffered(&self, event: AuditEvent) -> Result<Uuid, AuditError> {
        let id = event.id();
        self.sender
            .send(Message::Record {
                entry: event.into_entry(),
                ack: None,
            })
            .await
            .map_err(|_| AuditError::Closed)?;
        Ok(id)
    }

    /// The workspaces that had records since the last call.
    pub fn take_active_workspaces(&self) -> Vec<Uuid> {
        self.active
            .lock()
            .map(|mut a| a.drain().collect())
            .unwrap_or_default()
    }

    /// How many records wait in the queue for the writer.
    pub fn queue_depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    /// Wait until everything queued before this call has been written (or refused).
    pub async fn flush(&self) -> Result<(), AuditError> {
        let (done, flushed) = oneshot::channel();
        self.sender
            .send(Message::Flush(done))
            .await
            .map_err(|_| AuditError::Closed)?;
        flushed.await.map_err(|_| AuditError::Closed)
    }

    /// Write everything queued, then stop the task. Returns how many buffered events could not
    /// be written (0 unless the database stayed down for the whole close deadline). Later
    /// records fail with [`AuditError::Closed`].
    pub async fn close(&self) -> usize {
        let (done, closed) = oneshot::channel();
        let lost = match self.sender.send(Message::Close(done)).await {
            Ok(()) => closed.await.unwrap_or(0),
            Err(_) => 0,
        };
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        match task {
            Some(WriterHandle::Task(task)) => {
                let _ = task.await;
            }
            Some(WriterHandle::Thread(thread)) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            None => {}
        }
        lost
    }
}

/// Where the writer runs.
enum WriterHandle {
    Task(JoinHandle<()>),
    Thread(std::thread::JoinHandle<()>),
}

impl WriterHandle {
    /// The writer on a thread of its own with a single-threaded runtime (for its timers, and
    /// the pool queries of its rare recovery path); its commits block only that thread. The
    /// thread ends when every [`AuditLog`] handle is gone or after [`AuditLog::close`].
    fn spawn_thread(writer: Writer, receiver: mpsc::Receiver<Message>) -> WriterHandle {
        let (ready, started) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("mandate-audit".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => {
                        let _ = ready.send(Ok(()));
                        runtime.block_on(writer.run(receiver));
                    }
                    Err(e) => {
                        let _ = ready.send(Err((e, writer, receiver)));
                    }
                }
            });
        match (thread, started.recv()) {
            (Ok(thread), Ok(Ok(()))) => WriterHandle::Thread(thread),
            (_, Ok(Err((e, mut writer, receiver)))) => {
                tracing::warn!(error = %e, "no runtime for the audit writer's thread; it runs as a task");
                writer.direct = None;
                WriterHandle::Task(tokio::spawn(writer.run(receiver)))
            }
            (thread, _) => {
                // The thread could not start, or died before saying so: nothing can write.
                tracing::error!(
                    spawned = thread.is_ok(),
                    "the audit writer's thread did not start"
                );
                WriterHandle::Task(tokio::spawn(async {}))
            }
        }
    }
}

struct Writer {
    db: Db,
    keys: ChainKeys,
    /// SQLite: the writer thread's own connection (see the module's doc).
    direct: Option<audit::SqliteAppender>,
    /// Shared with [`AuditLog::take_active_workspaces`].
    active: Arc<Mutex<HashSet<Uuid>>>,
    /// Events not yet committed, in arrival order, and who waits for each.
    entries: Vec<AuditEntry>,
    acks: Vec<Option<Ack>>,
    /// The chain's head after this writer's last batch (None: unknown, read it under the lock).
    head: Option<audit::ChainHead>,
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Message>) {
        let mut inbox = Vec::with_capacity(MAX_BATCH);
        let mut retry = RETRY_FIRST;
        // Set while buffered events wait to share a commit (see [`LINGER`]).
        let mut linger_until = None;
        loop {
            if self.entries.is_empty() {
                if receiver.recv_many(&mut inbox, MAX_BATCH).await == 0 {
                    return;
                }
            } else if self.entries.len() < MAX_PENDING {
                while inbox.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(message) => inbox.push(message),
                        Err(_) => break,
                    }
                }
            }
            let mut flushes = Vec::new();
            let mut close = None;
            self.take(inbox.drain(..), &mut flushes, &mut close);
            if let Some(done) = close {
                // Take what is still queued, refuse anything later, write it all, stop.
                receiver.close();
                let mut later_close = None;
                self.take(
                    std::iter::from_fn(|| receiver.try_recv().ok()),
                    &mut flushes,
                    &mut later_close,
                );
                let lost = self
                    .write_until(tokio::time::Instant::now() + CLOSE_DEADLINE)
                    .await;
                for f in flushes {
                    let _ = f.send(());
                }
                let _ = done.send(lost);
                return;
            }
            if flushes.is_empty() && retry == RETRY_FIRST && self.only_buffered() {
                let deadline =
                    *linger_until.get_or_insert_with(|| tokio::time::Instant::now() + LINGER);
                if let Ok(Some(message)) = tokio::time::timeout_at(deadline, receiver.recv()).await
                {
                    inbox.push(message);
                    continue;
                }
            }
            linger_until = None;
            let written = self.write_once().await;
            for f in flushes {
                let _ = f.send(());
            }
            if written {
                retry = RETRY_FIRST;
            } else {
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }

    /// Something is pending and nobody waits for it (below the batch limit).
    fn only_buffered(&self) -> bool {
        !self.entries.is_empty()
            && self.entries.len() < MAX_BATCH
            && self.acks.iter().all(Option::is_none)
    }

    /// Sort `messages`: records become pending, flush and close requests are kept for answering
    /// after the write.
    fn take(
        &mut self,
        messages: impl Iterator<Item = Message>,
        flushes: &mut Vec<oneshot::Sender<()>>,
        close: &mut Option<oneshot::Sender<usize>>,
    ) {
        for message in messages {
            match message {
                Message::Record { entry, ack } => {
                    self.entries.push(entry);
                    self.acks.push(ack);
                }
                Message::Flush(done) => flushes.push(done),
                Message::Close(done) => *close = Some(done),
            }
        }
    }

    /// One attempt at everything pending. On failure, callers waiting for a commit are told
    /// (their action must not go ahead) and buffered events stay for the next attempt.
    async fn write_once(&mut self) -> bool {
        if self.entries.is_empty() {
            return true;
        }
        let keys = &self.keys;
        let link =
            |seq, entry: &AuditEntry, previous: Option<&str>| keys.link_new(seq, entry, previous);
        let appended = match &mut self.direct {
            Some(direct) => direct.append_after(self.head.as_ref(), &self.entries, link),
            None => audit::append_after(&self.db, self.head.as_ref(), &self.entries, link).await,
        };
        match appended {
            Ok(head) => {
                self.head = head;
                if let Ok(mut active) = self.active.lock() {
                    active.extend(self.entries.iter().filter_map(|e| e.workspace_id));
                }
                self.entries.clear();
                for ack in self.acks.drain(..).flatten() {
                    let _ = ack.send(Ok(()));
                }
                true
            }
            Err(e) => {
                self.head = None;
                let message = e.to_string();
                let mut kept_entries = Vec::new();
                let mut kept_acks = Vec::new();
                let mut refused = 0usize;
                for (entry, ack) in self.entries.drain(..).zip(self.acks.drain(..)) {
                    match ack {
                        Some(ack) => {
                            refused += 1;
                            let _ = ack.send(Err(AuditError::WriteFailed(message.clone())));
                        }
                        None => {
                            kept_entries.push(entry);
                            kept_acks.push(None);
                        }
                    }
                }
                tracing::error!(
                    error = %message,
                    refused,
                    retrying = kept_entries.len(),
                    "writing audit records failed"
                );
                self.entries = kept_entries;
                self.acks = kept_acks;
                self.drop_already_stored().await;
                false
            }
        }
    }

    /// A commit can succeed and its answer still be lost; before retrying, drop the events that
    /// made it (their ids are unique), so a retry never fails on them forever.
    async fn drop_already_stored(&mut self) {
        let ids: Vec<Uuid> = self.entries.iter().map(|e| e.id).collect();
        if let Ok(stored) = audit::stored_ids(&self.db, &ids).await
            && !stored.is_empty()
        {
            let stored: std::collections::HashSet<Uuid> = stored.into_iter().collect();
            self.entries.retain(|e| !stored.contains(&e.id));
            self.acks.truncate(self.entries.len());
        }
    }

    /// Retry until everything is written or `deadline` passes; returns how many were not.
    async fn write_until(&mut self, deadline: tokio::time::Instant) -> usize {
        let mut retry = RETRY_FIRST;
        loop {
            if self.write_once().await {
                return 0;
            }
            if tokio::time::Instant::now() + retry > deadline {
                let lost = self.entries.len();
                tracing::error!(
                    lost,
                    "closing: audit records could not be written before the deadline"
                );
                return lost;
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_MAX);
        }
    }
}
