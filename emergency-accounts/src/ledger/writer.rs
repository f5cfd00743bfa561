//! The single writer thread: it batches concurrent appends into one durable redb
//! transaction (group commit), extends the hash chain, signs checkpoints, and reopens the
//! file after a storage failure before its next batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use redb::{Database, WriteTransaction};

use super::entry::{self, LedgerEntry};
use super::storage::{
    init_and_load_tip, storage, store_checkpoint, DbSlot, Tip, ENTRIES, LATEST_TIME, META,
};
use super::{lock, Checkpoint, LedgerError};
use crate::clock::Clock;
use crate::event::{Action, AuditError, AuditEvent, AuditReceipt};

pub(super) type RecordReply = SyncSender<Result<AuditReceipt, AuditError>>;
pub(super) type CheckpointReply = SyncSender<Result<Checkpoint, LedgerError>>;

pub(super) enum Msg {
    Record(Box<AuditEvent>, RecordReply),
    /// Events written in the same durable commit, or none of them.
    RecordAll(Vec<(AuditEvent, RecordReply)>),
    Checkpoint(CheckpointReply),
}

/// The single writer: group commit, chain, checkpoints.
pub(super) struct Writer {
    pub(super) db: Arc<DbSlot>,
    pub(super) key: Arc<SigningKey>,
    pub(super) tip: Tip,
    pub(super) every_entries: u64,
    pub(super) every: Duration,
    pub(super) max_batch: usize,
    #[cfg(feature = "test-hooks")]
    pub(super) fault: crate::testing::FaultInjector,
    pub(super) latest: Arc<Mutex<Option<Checkpoint>>>,
    /// Counts every durable commit, for [`super::Ledger::durable_commits`].
    pub(super) commits: Arc<AtomicU64>,
    pub(super) publish: Sender<Checkpoint>,
    /// When the oldest entry not yet covered by a checkpoint was committed (monotonic, so
    /// a wall clock that jumps neither stalls nor hurries timed checkpoints).
    pub(super) oldest_unchecked: Option<Instant>,
    /// Wall-clock time for checkpoints.
    pub(super) clock: Arc<dyn Clock>,
    /// A write to the file failed: reopen it before the next transaction.
    pub(super) failed: bool,
}

impl Writer {
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let wait = match self.oldest_unchecked {
                Some(t) => (t + self.every).saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            let first = match rx.recv_timeout(wait) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    if self.oldest_unchecked.is_some() {
                        if let Err(e) = self.checkpoint_alone() {
                            tracing::error!(error = %e, "timed ledger checkpoint failed");
                            // Try again after another interval rather than spinning.
                            self.oldest_unchecked = Some(Instant::now());
                        }
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut records = Vec::new();
            let mut checkpoint_requests = Vec::new();
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Record(event, reply) => records.push((*event, reply)),
                    Msg::RecordAll(events) => records.extend(events),
                    Msg::Checkpoint(reply) => checkpoint_requests.push(reply),
                }
                if records.len() < self.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            if !records.is_empty() {
                self.commit_batch(records);
            }
            for reply in checkpoint_requests {
                let current = lock(&self.latest)
                    .clone()
                    .filter(|cp| cp.size == self.tip.seq && self.tip.checkpointed == self.tip.seq);
                let result = match current {
                    Some(cp) => Ok(cp),
                    None => self.checkpoint_alone(),
                };
                let _ = reply.send(result);
            }
        }
        // Graceful stop: leave a signed checkpoint over everything.
        if self.tip.checkpointed != self.tip.seq {
            if let Err(e) = self.checkpoint_alone() {
                tracing::error!(error = %e, "final ledger checkpoint failed");
            }
        }
    }

    /// The database to write to, reopened first if a write failed before.
    fn database(&mut self) -> Result<Arc<Database>, LedgerError> {
        if !self.failed {
            return self.db.get();
        }
        let db = self.db.reopen()?;
        // The file holds exactly what was acknowledged (a failed batch never was).
        self.tip = init_and_load_tip(&db)?;
        self.failed = false;
        tracing::warn!(
            entries = self.tip.seq,
            "the ledger file was reopened after a storage failure; appends work again"
        );
        Ok(db)
    }

    /// Appends a batch of events in one durable transaction (group commit) and answers
    /// each caller. A caller gets its receipt only after the commit succeeded; a batch that
    /// cannot be written is refused as a whole (fail closed), and after a storage failure
    /// the file is reopened before the next write.
    fn commit_batch(&mut self, records: Vec<(AuditEvent, RecordReply)>) {
        let db = match self.database() {
            Ok(db) => db,
            Err(e) => {
                tracing::error!(error = %e, events = records.len(), "the ledger cannot write; the batch is refused");
                refuse(records.into_iter().map(|(_, reply)| reply), &e.to_string());
                return;
            }
        };
        let mut tip = self.tip;
        let mut replies = Vec::with_capacity(records.len());
        let result = self.write_batch(&db, records, &mut tip, &mut replies);
        drop(db);
        match result {
            Ok(checkpoint) => self.acknowledge(tip, checkpoint, replies),
            Err(failure) => {
                let e = match failure {
                    BatchError::Storage(e) => {
                        self.failed = true;
                        e
                    }
                    BatchError::Injected(e) => e,
                };
                tracing::error!(error = %e, events = replies.len(), "ledger commit failed; the batch is refused");
                refuse(replies.into_iter().map(|(_, reply)| reply), &e.to_string());
                // Requests not yet moved into `replies` (an error before the loop ended) are
                // dropped with their reply senders, which their callers see as an error too.
            }
        }
    }

    /// The batch's transaction: the entries appended to the chain, the latest time kept,
    /// a checkpoint signed when one is due (always after a mode change), then the commit.
    /// `tip` and `replies` grow as entries are appended; nothing is acknowledged here.
    fn write_batch(
        &self,
        db: &Database,
        records: Vec<(AuditEvent, RecordReply)>,
        tip: &mut Tip,
        replies: &mut Vec<(u64, RecordReply)>,
    ) -> Result<Option<Checkpoint>, BatchError> {
        let txn = db.begin_write().map_err(storage)?;
        let mode_changed = append_entries(&txn, records, tip, replies)?;
        if tip.time != self.tip.time {
            if let Some(latest) = tip.time {
                let micros = u64::try_from(latest.timestamp_micros()).unwrap_or(0);
                txn.open_table(META)
                    .map_err(storage)?
                    .insert(LATEST_TIME, micros)
                    .map_err(storage)?;
            }
        }
        let checkpoint = if mode_changed || tip.seq - tip.checkpointed >= self.every_entries {
            let cp = Checkpoint::sign(tip.seq, tip.head, self.clock.now(), &self.key);
            store_checkpoint(&txn, &cp)?;
            tip.checkpointed = cp.size;
            Some(cp)
        } else {
            None
        };
        if self.injected_failure() {
            txn.abort().map_err(|e| BatchError::Injected(storage(e)))?;
            return Err(BatchError::Injected(LedgerError::Unavailable(
                "audit storage failure injected for testing",
            )));
        }
        txn.commit().map_err(storage)?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(checkpoint)
    }

    /// After the commit: the tip advances, a due checkpoint is published, and each caller
    /// gets its receipt.
    fn acknowledge(
        &mut self,
        tip: Tip,
        checkpoint: Option<Checkpoint>,
        replies: Vec<(u64, RecordReply)>,
    ) {
        self.tip = tip;
        if self.oldest_unchecked.is_none() {
            self.oldest_unchecked = Some(Instant::now());
        }
        if let Some(cp) = checkpoint {
            self.published(cp);
        }
        for (seq, reply) in replies {
            let _ = reply.send(Ok(AuditReceipt::new(seq)));
        }
    }

    /// A checkpoint in its own transaction, over the current tip.
    fn checkpoint_alone(&mut self) -> Result<Checkpoint, LedgerError> {
        let db = self.database()?;
        let cp = Checkpoint::sign(self.tip.seq, self.tip.head, self.clock.now(), &self.key);
        if self.injected_failure() {
            return Err(LedgerError::Unavailable(
                "audit storage failure injected for testing",
            ));
        }
        let written = (|| -> Result<(), LedgerError> {
            let txn = db.begin_write().map_err(storage)?;
            store_checkpoint(&txn, &cp)?;
            txn.commit().map_err(storage)?;
            self.commits.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })();
        drop(db);
        if let Err(e) = written {
            self.failed = true;
            return Err(e);
        }
        self.tip.checkpointed = cp.size;
        self.published(cp.clone());
        Ok(cp)
    }

    /// Whether a test asked commits to fail (always `false` without the `test-hooks`
    /// feature).
    fn injected_failure(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        if self.fault.failing() {
            return true;
        }
        false
    }

    fn published(&mut self, cp: Checkpoint) {
        self.oldest_unchecked = None;
        *lock(&self.latest) = Some(cp.clone());
        let _ = self.publish.send(cp);
    }
}

/// Why a batch's transaction did not commit.
enum BatchError {
    /// A storage failure: the file is reopened before the next write.
    Storage(LedgerError),
    /// A test asked the commit to fail; the transaction was aborted and the file is fine.
    Injected(LedgerError),
}

impl From<LedgerError> for BatchError {
    fn from(e: LedgerError) -> Self {
        BatchError::Storage(e)
    }
}

/// Appends the batch's entries to the chain in `txn`, advancing `tip` and collecting each
/// caller's reply with its seq. Returns whether any entry changed the mode.
fn append_entries(
    txn: &WriteTransaction,
    records: Vec<(AuditEvent, RecordReply)>,
    tip: &mut Tip,
    replies: &mut Vec<(u64, RecordReply)>,
) -> Result<bool, LedgerError> {
    let mut mode_changed = false;
    let mut value = Vec::with_capacity(512);
    let mut table = txn.open_table(ENTRIES).map_err(storage)?;
    for (event, reply) in records {
        let seq = tip.seq + 1;
        if matches!(event.action, Action::ModeChanged { .. }) {
            mode_changed = true;
        }
        let entry = LedgerEntry::from_event(seq, event, tip.time);
        let bytes = entry.canonical_bytes();
        let head = entry::chain(&tip.head, &entry::leaf_hash(&bytes));
        value.clear();
        value.extend_from_slice(&head.0);
        value.extend_from_slice(&bytes);
        table.insert(seq, value.as_slice()).map_err(storage)?;
        tip.seq = seq;
        tip.head = head;
        // Keep the latest time seen, so a clock that went back is flagged until it has
        // caught up again.
        tip.time = Some(tip.time.map_or(entry.time, |t| t.max(entry.time)));
        replies.push((seq, reply));
    }
    Ok(mode_changed)
}

/// Refuses every caller of a batch that could not be written.
fn refuse(replies: impl Iterator<Item = RecordReply>, message: &str) {
    for reply in replies {
        let _ = reply.send(Err(AuditError::Unavailable(message.to_owned())));
    }
}
