//! Group commit of link creation on SQLite (DESIGN.md section 11: "link
//! creation stays durable … and reaches thousands per second on SQLite by
//! batching commits").
//!
//! SQLite has one write connection and `synchronous=FULL`: every commit is an
//! fsync, so one transaction per link caps link creation at the disk's fsync
//! rate. The [`LinkWriter`] is one task that owns a bounded queue of link
//! creations, already validated, unsealed and re-sealed by their handlers
//! (no crypto here). It takes the first request, then whatever else is queued
//! at that moment (up to [`MAX_BATCH`]; it never waits for more), and runs the
//! statements of [`Store::insert_link_deduplicated`] for each request, in
//! order, in ONE transaction; it answers every request only after that commit
//! returned, so an acknowledged link is on disk (it survives `kill -9`).
//! Inside a batch, later requests see earlier ones: two identical requests
//! make one link and both learn its id, and the per-(account, IDP) count
//! holds. If the batch transaction fails, each request is retried in a
//! transaction of its own, so one bad request cannot fail the others.
//!
//! On PostgreSQL there is no task: each request keeps its own transaction
//! (PostgreSQL groups concurrent commits itself).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::audit::AuditRow;
use super::links::{LinkInsertOutcome, NewLink, insert_link_on};
use super::{Dialect, Store, StoreError};

/// The most link creations committed together.
pub const MAX_BATCH: usize = 64;

/// Link creations waiting for the writer; a full queue makes handlers wait
/// (back-pressure) rather than grow memory.
pub const QUEUE_CAPACITY: usize = 1024;

/// A [`NewLink`] that owns its fields, to cross into the writer task.
struct OwnedLink {
    id: String,
    account_id: String,
    idp_id: String,
    partner_user_id: String,
    user_login_name: String,
    link_token: String,
    signing_key_sealed: Vec<u8>,
    signing_key_public: Vec<u8>,
    master_key_version: i64,
    app_id: String,
    device_id: String,
    now_ms: i64,
}

impl OwnedLink {
    fn new(link: &NewLink<'_>) -> Self {
        Self {
            id: link.id.to_owned(),
            account_id: link.account_id.to_owned(),
            idp_id: link.idp_id.to_owned(),
            partner_user_id: link.partner_user_id.to_owned(),
            user_login_name: link.user_login_name.to_owned(),
            link_token: link.link_token.to_owned(),
            signing_key_sealed: link.signing_key_sealed.to_owned(),
            signing_key_public: link.signing_key_public.to_owned(),
            master_key_version: link.master_key_version,
            app_id: link.app_id.to_owned(),
            device_id: link.device_id.to_owned(),
            now_ms: link.now_ms,
        }
    }

    fn as_new_link(&self) -> NewLink<'_> {
        NewLink {
            id: &self.id,
            account_id: &self.account_id,
            idp_id: &self.idp_id,
            partner_user_id: &self.partner_user_id,
            user_login_name: &self.user_login_name,
            link_token: &self.link_token,
            signing_key_sealed: &self.signing_key_sealed,
            signing_key_public: &self.signing_key_public,
            master_key_version: self.master_key_version,
            app_id: &self.app_id,
            device_id: &self.device_id,
            now_ms: self.now_ms,
        }
    }
}

type Answer = Result<LinkInsertOutcome, StoreError>;

/// One queued link creation and where its answer goes.
struct Pending {
    link: OwnedLink,
    max_links: usize,
    audit: AuditRow,
    answer: oneshot::Sender<Answer>,
}

/// Counters of the writer, for tests and diagnostics.
#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    batches: AtomicU64,
    largest_batch: AtomicU64,
    batch_failures: AtomicU64,
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkWriterStats {
    /// Requests the writer task has taken off the queue.
    pub received: u64,
    /// Transactions of more than one request that were attempted.
    pub batches: u64,
    /// The most requests attempted in one transaction.
    pub largest_batch: u64,
    /// Batch transactions that failed (their requests were retried one by one).
    pub batch_failures: u64,
    /// Requests queued and not yet taken by the writer.
    pub queued: u64,
}

/// The link creation path: group commit on SQLite, the store's own
/// transaction per request on PostgreSQL. Lives in the `AppState`.
///
/// Shutdown: the state (and with it this writer) is shared by every handler,
/// so the queue cannot close by itself when axum stops. [`LinkWriter::shutdown`]
/// (called by `serve` after axum returned, before the pools close) drops the
/// writer's own sender; handlers only ever hold clones for the time of one
/// `send`, and after axum's graceful shutdown no handler is left, so the
/// queue closes, the task commits and answers what it holds, and returns;
/// `shutdown` awaits it. A request after `shutdown` takes the direct path.
pub struct LinkWriter {
    store: Store,
    sender: Mutex<Option<mpsc::Sender<Pending>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    counters: std::sync::Arc<Counters>,
}

impl std::fmt::Debug for LinkWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkWriter")
            .field("dialect", &self.store.dialect)
            .field("stats", &self.stats())
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are plain options: usable after a panic elsewhere.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LinkWriter {
    /// On SQLite, spawns the writer task (call inside the tokio runtime).
    pub fn new(store: Store) -> Self {
        let counters = std::sync::Arc::new(Counters::default());
        let (sender, task) = if store.dialect == Dialect::Sqlite {
            let (sender, queue) = mpsc::channel(QUEUE_CAPACITY);
            let task = tokio::spawn(run(store.clone(), queue, counters.clone()));
            (Some(sender), Some(task))
        } else {
            (None, None)
        };
        Self {
            store,
            sender: Mutex::new(sender),
            task: Mutex::new(task),
            counters,
        }
    }

    /// [`Store::insert_link_deduplicated`], through the writer on SQLite.
    /// Returns only after the outcome is committed.
    pub async fn insert_link_deduplicated(
        &self,
        link: &NewLink<'_>,
        max_links: usize,
        audit: &AuditRow,
    ) -> Result<LinkInsertOutcome, StoreError> {
        let sender = lock(&self.sender).clone();
        if let Some(sender) = sender {
            let (answer, answered) = oneshot::channel();
            let pending = Pending {
                link: OwnedLink::new(link),
                max_links,
                audit: audit.clone(),
                answer,
            };
            if sender.send(pending).await.is_ok() {
                drop(sender);
                if let Ok(answer) = answered.await {
                    return answer;
                }
                // The task ended without answering (it panicked): whatever it
                // committed is found again below by the de-duplication.
                tracing::error!("the link writer stopped without answering");
            }
        }
        self.store
            .insert_link_deduplicated(link, max_links, audit)
            .await
    }

    /// Stops taking requests, then waits until the writer committed and
    /// answered every queued one. Idempotent.
    pub async fn shutdown(&self) {
        drop(lock(&self.sender).take());
        let task = lock(&self.task).take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the link writer failed");
        }
    }

    pub fn stats(&self) -> LinkWriterStats {
        let queued = lock(&self.sender).as_ref().map_or(0, |sender| {
            (sender.max_capacity() - sender.capacity()) as u64
        });
        LinkWriterStats {
            received: self.counters.received.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
            batch_failures: self.counters.batch_failures.load(Ordering::Relaxed),
            queued,
        }
    }
}

/// The writer task: until every sender is gone and the queue is empty, take
/// what is queued (at least one request, at most [`MAX_BATCH`]) and write it.
async fn run(store: Store, mut queue: mpsc::Receiver<Pending>, counters: std::sync::Arc<Counters>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        counters
            .received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        write(&store, &mut batch, &counters).await;
    }
}

/// Writes and answers (and empties) `batch`.
async fn write(store: &Store, batch: &mut Vec<Pending>, counters: &Counters) {
    if batch.len() > 1 {
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .largest_batch
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        match write_together(store, batch).await {
            Ok(outcomes) => {
                for (pending, outcome) in batch.drain(..).zip(outcomes) {
                    // A handler that went away (client gone) gets no answer;
                    // its link stays committed, as it would have on its own.
                    let _ = pending.answer.send(Ok(outcome));
                }
                return;
            }
            Err(e) => {
                counters.batch_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    error = %e,
                    requests = batch.len(),
                    "batched link creation failed; retrying each request on its own"
                );
            }
        }
    }
    for pending in batch.drain(..) {
        let answer = store
            .insert_link_deduplicated(
                &pending.link.as_new_link(),
                pending.max_links,
                &pending.audit,
            )
            .await;
        let _ = pending.answer.send(answer);
    }
}

/// One transaction for the whole batch; the outcomes in request order, valid
/// only once this returned `Ok` (the commit returned).
async fn write_together(
    store: &Store,
    batch: &[Pending],
) -> Result<Vec<LinkInsertOutcome>, StoreError> {
    let mut tx = store.write.begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for pending in batch {
        match insert_link_on(
            &mut tx,
            &pending.link.as_new_link(),
            pending.max_links,
            &pending.audit,
        )
        .await
        {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                // Dropping the transaction would roll back too; explicit is
                // clearer, and its own error adds nothing to `e`.
                let _ = tx.rollback().await;
                return Err(e);
            }
        }
    }
    if outcomes
        .iter()
        .any(|outcome| matches!(outcome, LinkInsertOutcome::Established(_)))
    {
        tx.commit().await?;
    } else {
        // Nothing was written but the no-op account locks.
        tx.rollback().await?;
    }
    Ok(outcomes)
}
