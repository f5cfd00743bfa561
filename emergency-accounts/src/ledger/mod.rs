//! The tamper-evident audit ledger: an append-only, hash-chained log of [`AuditEvent`]s in
//! its own redb file, with signed checkpoints that leave the machine, export, and offline
//! verification.
//!
//! Appends go through one writer thread that batches concurrent [`AuditSink::record`] calls
//! into a single durable redb transaction (group commit) and acknowledges each caller only
//! after that commit. If the commit fails, every caller in the batch gets an
//! [`AuditError`] and nothing of the batch is in the ledger: the caller must not show data.
//!
//! # Storage failures (disk full, I/O errors)
//! redb refuses every later transaction once a write to its file has failed. The writer
//! then reopens the file (redb repairs it from the last durable commit) before its next
//! batch, so the ledger works again by itself once space is back; until the reopen
//! succeeds every append is refused (fail closed) and reads report the ledger as
//! unavailable. Nothing acknowledged is lost: acknowledgement follows the durable commit.
//!
//! # Size
//! Every text field of an event is bounded before it is written ([`bounds`]): whatever a
//! request sends, one entry stays within a few kilobytes.
//!
//! # Time
//! The sequence number is the order; time never reorders anything. An entry records the
//! time its caller gave, as given, even when the wall clock went back (NTP step, a wrong
//! manual setting, a restored VM); such an entry is flagged `clock_back` (its time is
//! earlier than the latest time recorded before it, remembered across restarts). Callers
//! that record "now" use [`AuditSink::record_now`], which reads the clock in queue order,
//! so concurrent appends on a steady clock are never flagged. Exports
//! carry the flag, and verification counts the flagged entries. Checkpoints are signed
//! with the writer's clock time, also as given; their order and validity rest on the size
//! and the chain head, never on the time. Clamping the time instead would record a time
//! that is wrong in the other direction and hide the jump from the reviewer.
//!
//! # Where things are
//! This module holds the [`Ledger`] handle, its configuration and errors; `writer` is the
//! single writer thread (group commit, chain, checkpoints); `storage` is the redb file
//! (tables, schema, reopening) and the reads (scans, chain heads, re-verification).

pub mod bounds;
pub mod checkpoint;
pub mod details;
pub mod entry;
pub mod export;
pub mod fhir;
pub mod space;
mod storage;
pub mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use redb::Database;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::event::{AuditError, AuditEvent, AuditReceipt, AuditSink};
use crate::pseudonym::PseudonymKind;
pub use checkpoint::{Checkpoint, PublishStatus, REMOVABLE_FILE_NAME};
pub use entry::{Hash, LedgerEntry};
pub use export::{ExportFormat, ExportRange, ExportSummary};
pub use space::{DiskSpace, SpaceProbe, SpaceStatus};
pub use storage::Reopen;
pub use verify::{verify, VerifyError, VerifyReport};

use storage::{storage, DbSlot, SCHEMA_VERSION};
use writer::{Msg, Writer};

/// The `[accounts.ledger]` configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// Sign a checkpoint after this many entries since the last one.
    pub checkpoint_every_entries: u64,
    /// Sign a checkpoint when entries have waited this long without one.
    pub checkpoint_every_secs: u64,
    /// Most events one group commit may carry.
    pub max_batch: usize,
    /// A directory (e.g. a mounted USB stick) to which the latest checkpoint is written
    /// atomically as [`REMOVABLE_FILE_NAME`].
    pub removable_path: Option<PathBuf>,
    /// An HTTPS URL to which every checkpoint is POSTed as JSON, retried in the background.
    pub remote_url: Option<String>,
    /// Extra PEM root certificate to trust for `remote_url` (e.g. the hospital's own CA).
    pub remote_ca_file: Option<PathBuf>,
    /// Thresholds for the review's anomaly flags.
    pub review: crate::review::ReviewConfig,
    /// Alert administrators when the ledger's disk has less free space than this (bytes)
    /// or than `disk_reserve_percent` of its size, whichever is smaller.
    pub disk_reserve_bytes: u64,
    /// The reserve as a share of the ledger disk's size (percent, 0–100).
    pub disk_reserve_percent: u8,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            checkpoint_every_entries: 1000,
            checkpoint_every_secs: 60,
            max_batch: 4096,
            removable_path: None,
            remote_url: None,
            remote_ca_file: None,
            review: crate::review::ReviewConfig::default(),
            disk_reserve_bytes: 1 << 30,
            disk_reserve_percent: 5,
        }
    }
}

/// Errors reading, exporting or opening the ledger. Messages never carry entry contents.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// redb failed: I/O, a full disk, a damaged file. The source is redb's own error.
    #[error("the audit ledger storage failed: {0}")]
    Storage(#[source] redb::Error),
    /// The ledger cannot be written or read now (being reopened after a storage failure, or
    /// a failure injected by a test); the reason is in the message.
    #[error("the audit ledger is unavailable: {0}")]
    Unavailable(&'static str),
    #[error("a ledger checkpoint could not be encoded: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("the ledger could not start its writer threads: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the audit ledger file was written by a newer Akari (schema {found}, this build knows {SCHEMA_VERSION}); upgrade Akari")]
    Schema { found: u64 },
    #[error("ledger entry {seq} is unreadable or inconsistent: {what}")]
    Corrupt { seq: u64, what: String },
    #[error("the ledger writer has stopped; restart the node")]
    Closed,
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Audit(#[from] AuditError),
}

/// The audit ledger. Cheap to share behind an `Arc`; dropping the last handle stops the
/// writer after a final checkpoint.
pub struct Ledger {
    db: Arc<DbSlot>,
    tx: Option<Sender<Msg>>,
    writer: Option<JoinHandle<()>>,
    publisher: Option<JoinHandle<()>>,
    public_key: VerifyingKey,
    signing_key: Arc<SigningKey>,
    #[cfg(feature = "test-hooks")]
    fault: crate::testing::FaultInjector,
    latest: Arc<Mutex<Option<Checkpoint>>>,
    publish_status: Arc<Mutex<PublishStatus>>,
    /// Durable commits (each one fsync) since the ledger opened.
    commits: Arc<AtomicU64>,
    /// Where the disk's free space is read from (`None`: not known, e.g. in memory).
    space: Mutex<Option<SpaceProbe>>,
    disk_reserve_bytes: u64,
    disk_reserve_percent: u8,
    /// The last reading was below the reserve (logged once per crossing).
    space_low: AtomicBool,
    /// Held while [`AuditSink::record_now`] reads the clock and hands the event to the
    /// writer, so times taken "now" follow the sequence.
    order: Mutex<()>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("public_key", &hex::encode(self.public_key.as_bytes()))
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (or creates) the ledger file at `path`, e.g. `<data>/ledger.redb`.
    pub fn open(
        path: &Path,
        key: SigningKey,
        config: &LedgerConfig,
    ) -> Result<Ledger, LedgerError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let path = path.to_path_buf();
        let ledger = Ledger::with_reopen(
            Box::new(move || Database::create(&path)),
            key,
            config,
            Arc::new(SystemClock),
        )?;
        ledger.set_space_probe(space::statvfs_probe(dir));
        Ok(ledger)
    }

    /// Opens the database with `open`, and again with `open` after a storage failure (tests
    /// pass a fault-injecting backend over a real file); checkpoints get `clock`'s time.
    pub fn with_reopen(
        open: Reopen,
        key: SigningKey,
        config: &LedgerConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Ledger, LedgerError> {
        let db = open().map_err(storage)?;
        Ledger::start(db, Some(open), key, config, clock)
    }

    /// Uses an already opened database (tests may pass an in-memory one).
    pub fn with_database(
        db: Database,
        key: SigningKey,
        config: &LedgerConfig,
    ) -> Result<Ledger, LedgerError> {
        Ledger::with_database_and_clock(db, key, config, Arc::new(SystemClock))
    }

    // Each public constructor shares `start`; only their signatures look alike.
    /// Like [`Ledger::with_database`], signing checkpoints with `clock`'s time (tests move
    /// it, e.g. backwards, instead of changing the system clock).
    pub fn with_database_and_clock(
        db: Database,
        key: SigningKey,
        config: &LedgerConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Ledger, LedgerError> {
        Ledger::start(db, None, key, config, clock)
    }

    fn start(
        db: Database,
        reopen: Option<Reopen>,
        key: SigningKey,
        config: &LedgerConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Ledger, LedgerError> {
        let tip = storage::init_and_load_tip(&db)?;
        let latest = Arc::new(Mutex::new(storage::load_latest_checkpoint(&db)?));
        let db = Arc::new(DbSlot {
            db: std::sync::RwLock::new(Some(Arc::new(db))),
            reopen,
        });
        let publish_status = Arc::new(Mutex::new(PublishStatus::default()));
        let public_key = key.verifying_key();
        let signing_key = Arc::new(key);
        #[cfg(feature = "test-hooks")]
        let fault = crate::testing::FaultInjector::default();

        let (pub_tx, pub_rx) = mpsc::channel::<Checkpoint>();
        let targets = checkpoint::PublishTargets {
            removable_dir: config.removable_path.clone(),
            remote_url: config.remote_url.clone(),
            remote_ca_file: config.remote_ca_file.clone(),
        };
        let status = publish_status.clone();
        let publisher = std::thread::Builder::new()
            .name("ledger-publisher".into())
            .spawn(move || checkpoint::run_publisher(pub_rx, targets, public_key, status))
            .map_err(LedgerError::Thread)?;
        // The newest checkpoint goes out again at start-up, in case it never did.
        if let Some(cp) = lock(&latest).clone() {
            let _ = pub_tx.send(cp);
        }

        let commits = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel::<Msg>();
        let writer = Writer {
            db: db.clone(),
            key: signing_key.clone(),
            tip,
            every_entries: config.checkpoint_every_entries.max(1),
            every: Duration::from_secs(config.checkpoint_every_secs.max(1)),
            max_batch: config.max_batch.max(1),
            #[cfg(feature = "test-hooks")]
            fault: fault.clone(),
            latest: latest.clone(),
            commits: commits.clone(),
            publish: pub_tx,
            oldest_unchecked: None,
            clock,
            failed: false,
        };
        let writer = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(LedgerError::Thread)?;
        Ok(Ledger {
            db,
            tx: Some(tx),
            writer: Some(writer),
            publisher: Some(publisher),
            public_key,
            signing_key,
            #[cfg(feature = "test-hooks")]
            fault,
            latest,
            publish_status,
            commits,
            space: Mutex::new(None),
            disk_reserve_bytes: config.disk_reserve_bytes,
            disk_reserve_percent: config.disk_reserve_percent,
            space_low: AtomicBool::new(false),
            order: Mutex::new(()),
        })
    }

    /// Reads the disk's free space through `probe` from now on ([`Ledger::open`] sets
    /// `statvfs` of the file's directory; tests inject readings).
    pub fn set_space_probe(&self, probe: SpaceProbe) {
        *lock(&self.space) = Some(probe);
    }

    /// The ledger disk's free space against the configured reserve, read now: `None` when
    /// the ledger has no disk to read (in memory), an error message when the reading
    /// failed. Crossing below the reserve (and back) is logged once.
    pub fn disk_space(&self) -> Option<Result<SpaceStatus, String>> {
        let probe = lock(&self.space).clone()?;
        let status = match probe() {
            Ok(space) => {
                SpaceStatus::new(space, self.disk_reserve_bytes, self.disk_reserve_percent)
            }
            Err(e) => return Some(Err(format!("the ledger disk's free space is unknown: {e}"))),
        };
        let low = status.is_low();
        if self.space_low.swap(low, Ordering::SeqCst) != low {
            if low {
                tracing::warn!(
                    free_bytes = status.space.free_bytes,
                    reserve_bytes = status.reserve_bytes,
                    "{}",
                    status.message()
                );
            } else {
                tracing::info!(
                    free_bytes = status.space.free_bytes,
                    "the audit ledger's disk has free space above its reserve again"
                );
            }
        }
        Some(Ok(status))
    }

    /// The node's public key, which verifies this ledger's checkpoints and exports.
    pub fn public_key(&self) -> VerifyingKey {
        self.public_key
    }

    /// A handle that makes commits fail, for fail-closed tests.
    #[cfg(feature = "test-hooks")]
    pub fn fault_injector(&self) -> crate::testing::FaultInjector {
        self.fault.clone()
    }

    /// How many write transactions the ledger has committed durably (each one fsync) since
    /// it opened: a group commit of many appends counts once, and so does a checkpoint
    /// signed on its own.
    pub fn durable_commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    /// The newest signed checkpoint (for the admin page), if any.
    pub fn latest_checkpoint(&self) -> Option<Checkpoint> {
        lock(&self.latest).clone()
    }

    /// How copying checkpoints off the box is going.
    pub fn publish_status(&self) -> PublishStatus {
        lock(&self.publish_status).clone()
    }

    /// Signs a checkpoint over everything committed so far (ordered after every append
    /// already handed to the writer) and returns it; returns the latest one if nothing was
    /// appended since.
    pub fn checkpoint_now(&self) -> Result<Checkpoint, LedgerError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Msg::Checkpoint(reply))?;
        rx.recv().map_err(|_| LedgerError::Closed)?
    }

    fn send(&self, msg: Msg) -> Result<(), LedgerError> {
        self.tx
            .as_ref()
            .ok_or(LedgerError::Closed)?
            .send(msg)
            .map_err(|_| LedgerError::Closed)
    }

    /// Signs the manifest of an export the node writes (a downtime export) with the key
    /// that signs this ledger's checkpoints. A message of the ledger's own kinds
    /// (`akari-ledger-…`: checkpoints, ledger exports) is refused (`None`), so code that
    /// holds the ledger to write such an export cannot forge them.
    pub fn sign_export_manifest(&self, message: &[u8]) -> Option<ed25519_dalek::Signature> {
        use ed25519_dalek::Signer;
        if message.starts_with(b"akari-ledger-") || !message.starts_with(b"akari-") {
            return None;
        }
        Some(self.signing_key.sign(message))
    }

    /// The pseudonym of `text` under this ledger's key (see [`crate::pseudonym`]).
    pub fn pseudonym(&self, kind: PseudonymKind, text: &str) -> Option<String> {
        let secret = zeroize::Zeroizing::new(self.signing_key.to_bytes());
        let key = zeroize::Zeroizing::new(crate::pseudonym::derive_key(&*secret));
        crate::pseudonym::compute(&key, kind, text)
    }
}

impl Ledger {
    /// Hand an event to the writer, every text field bounded first (the one way in, so no
    /// path can write an unbounded entry); the receipt comes on the returned channel.
    fn queue(&self, event: AuditEvent) -> Result<mpsc::Receiver<Receipt>, AuditError> {
        let (reply, rx) = mpsc::sync_channel(1);
        let event = checked(event)?;
        self.send(Msg::Record(Box::new(event), reply))
            .map_err(|e| AuditError::Unavailable(e.to_string()))?;
        Ok(rx)
    }

    /// Records `events` in one durable commit: every one is written, in order and with
    /// consecutive sequence numbers, or none is (fail closed). For an action written as
    /// several entries, such as a large reconciliation
    /// ([`bounds::reconciled_actions`]). Blocking, like [`AuditSink::record`].
    pub fn record_all(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditReceipt>, AuditError> {
        let mut batch = Vec::with_capacity(events.len());
        let mut waits = Vec::with_capacity(events.len());
        for event in events {
            let (reply, rx) = mpsc::sync_channel(1);
            batch.push((checked(event)?, reply));
            waits.push(rx);
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        {
            let _order = lock(&self.order);
            self.send(Msg::RecordAll(batch))
                .map_err(|e| AuditError::Unavailable(e.to_string()))?;
        }
        waits.into_iter().map(wait).collect()
    }
}

/// `event` with every text field bounded, or refused when a field bounded by count is
/// over its bound (the one way in, so no path can write an unbounded entry).
fn checked(event: AuditEvent) -> Result<AuditEvent, AuditError> {
    if let Some(why) = bounds::refusal(&event) {
        return Err(AuditError::Unavailable(why));
    }
    Ok(bounds::bound_event(event))
}

/// What the writer answers for one event.
type Receipt = Result<AuditReceipt, AuditError>;

fn wait(rx: mpsc::Receiver<Receipt>) -> Receipt {
    rx.recv()
        .map_err(|_| AuditError::Unavailable("the ledger writer stopped".into()))?
}

impl AuditSink for Ledger {
    fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        wait(self.queue(event)?)
    }

    /// The time is read and the event queued under one lock: the writer takes events in
    /// queue order, so the times follow the sequence. Only the hand-over is serialised;
    /// the durable commit is still shared by the whole batch.
    fn record_now(&self, clock: &dyn Clock, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        let rx = {
            let _order = lock(&self.order);
            self.queue(AuditEvent {
                time: clock.now(),
                ..event
            })?
        };
        wait(rx)
    }

    fn pseudonym(&self, kind: PseudonymKind, text: &str) -> Option<String> {
        Ledger::pseudonym(self, kind, text)
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish its queue, sign a last checkpoint and
        // stop; its publisher channel then closes and the publisher makes a last attempt.
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        if let Some(p) = self.publisher.take() {
            let _ = p.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
