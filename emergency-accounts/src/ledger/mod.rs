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
//! # Time
//! The sequence number is the order; time never reorders anything. An entry records the
//! time its caller gave, as given, even when the wall clock went back (NTP step, a wrong
//! manual setting, a restored VM); such an entry is flagged `clock_back` (its time is
//! earlier than the latest time recorded before it, remembered across restarts), exports
//! carry the flag, and verification counts the flagged entries. Checkpoints are signed
//! with the writer's clock time, also as given; their order and validity rest on the size
//! and the chain head, never on the time. Clamping the time instead would record a time
//! that is wrong in the other direction and hide the jump from the reviewer.

pub mod checkpoint;
pub mod details;
pub mod entry;
pub mod export;
pub mod fhir;
pub mod verify;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::event::{Action, AuditError, AuditEvent, AuditReceipt, AuditSink};
pub use checkpoint::{Checkpoint, PublishStatus, REMOVABLE_FILE_NAME};
pub use entry::{Hash, LedgerEntry};
pub use export::{ExportFormat, ExportRange, ExportSummary};
pub use verify::{verify, VerifyError, VerifyReport};

/// Entries: sequence → chain head (32 bytes) ‖ canonical entry bytes.
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("ledger_entries");
/// Checkpoints: size → checkpoint as JSON.
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("ledger_checkpoints");
/// Metadata: "schema_version" → 1; [`LATEST_TIME`] → the latest entry time recorded.
const META: TableDefinition<&str, u64> = TableDefinition::new("ledger_meta");
/// Microseconds since the epoch of the latest entry time ever recorded (not the last
/// entry's, which may be earlier after the clock went back).
const LATEST_TIME: &str = "latest_time_micros";
const SCHEMA_VERSION: u64 = 1;

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
        }
    }
}

/// Errors reading, exporting or opening the ledger. Messages never carry entry contents.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the audit ledger storage failed: {0}")]
    Storage(String),
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

fn storage<E: std::fmt::Display>(e: E) -> LedgerError {
    LedgerError::Storage(e.to_string())
}

/// Opens the ledger's database again (the file at its path, or a test backend).
pub type Reopen = Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// The open database, shared by the writer and readers, which the writer replaces after a
/// storage failure.
struct DbSlot {
    db: std::sync::RwLock<Option<Arc<Database>>>,
    reopen: Option<Reopen>,
}

impl DbSlot {
    fn get(&self) -> Result<Arc<Database>, LedgerError> {
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                LedgerError::Storage(
                    "the ledger file is being reopened after a storage failure (disk full?)".into(),
                )
            })
    }

    /// Drop the failed database (once no reader uses it) and open the file again.
    fn reopen(&self) -> Result<Arc<Database>, LedgerError> {
        let Some(reopen) = &self.reopen else {
            return Err(LedgerError::Storage(
                "an earlier write to the ledger failed; restart the node".into(),
            ));
        };
        let old = self.db.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(old) = old {
            // Readers hold their handle only for one call; wait for them to finish.
            let deadline = Instant::now() + Duration::from_secs(30);
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if Arc::strong_count(&old) > 1 {
                *self.db.write().unwrap_or_else(|p| p.into_inner()) = Some(old);
                return Err(LedgerError::Storage(
                    "the ledger file could not be reopened: still in use by a reader".into(),
                ));
            }
        }
        let db = Arc::new(reopen().map_err(storage)?);
        *self.db.write().unwrap_or_else(|p| p.into_inner()) = Some(db.clone());
        Ok(db)
    }
}

/// Makes the ledger's commits fail on demand, so callers can prove they fail closed.
/// While set, every batch is aborted before commit and its callers get [`AuditError`].
#[derive(Debug, Clone, Default)]
pub struct FaultInjector(Arc<AtomicBool>);

impl FaultInjector {
    pub fn fail_commits(&self, fail: bool) {
        self.0.store(fail, Ordering::SeqCst);
    }

    fn failing(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// An [`AuditSink`] that never records anything: every call fails. For fail-closed tests
/// of callers that don't need a real ledger.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailingSink;

impl AuditSink for FailingSink {
    fn record(&self, _event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        Err(AuditError::Unavailable(
            "audit storage failure injected for testing".into(),
        ))
    }
}

/// The chain's tip as the writer knows it.
#[derive(Debug, Clone, Copy)]
struct Tip {
    seq: u64,
    head: Hash,
    time: Option<DateTime<Utc>>,
    /// Size of the last checkpoint.
    checkpointed: u64,
}

type RecordReply = SyncSender<Result<AuditReceipt, AuditError>>;
type CheckpointReply = SyncSender<Result<Checkpoint, LedgerError>>;

enum Msg {
    Record(Box<AuditEvent>, RecordReply),
    Checkpoint(CheckpointReply),
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
    fault: FaultInjector,
    latest: Arc<Mutex<Option<Checkpoint>>>,
    publish_status: Arc<Mutex<PublishStatus>>,
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
        let path = path.to_path_buf();
        Ledger::with_reopen(
            Box::new(move || Database::create(&path)),
            key,
            config,
            Arc::new(SystemClock),
        )
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
        let tip = init_and_load_tip(&db)?;
        let latest = Arc::new(Mutex::new(load_latest_checkpoint(&db)?));
        let db = Arc::new(DbSlot {
            db: std::sync::RwLock::new(Some(Arc::new(db))),
            reopen,
        });
        let publish_status = Arc::new(Mutex::new(PublishStatus::default()));
        let public_key = key.verifying_key();
        let signing_key = Arc::new(key);
        let fault = FaultInjector::default();

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
            .map_err(storage)?;
        // The newest checkpoint goes out again at start-up, in case it never did.
        if let Some(cp) = lock(&latest).clone() {
            let _ = pub_tx.send(cp);
        }

        let (tx, rx) = mpsc::channel::<Msg>();
        let writer = Writer {
            db: db.clone(),
            key: signing_key.clone(),
            tip,
            every_entries: config.checkpoint_every_entries.max(1),
            every: Duration::from_secs(config.checkpoint_every_secs.max(1)),
            max_batch: config.max_batch.max(1),
            fault: fault.clone(),
            latest: latest.clone(),
            publish: pub_tx,
            oldest_unchecked: None,
            clock,
            failed: false,
        };
        let writer = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(storage)?;
        Ok(Ledger {
            db,
            tx: Some(tx),
            writer: Some(writer),
            publisher: Some(publisher),
            public_key,
            signing_key,
            fault,
            latest,
            publish_status,
        })
    }

    /// The node's public key, which verifies this ledger's checkpoints and exports.
    pub fn public_key(&self) -> VerifyingKey {
        self.public_key
    }

    /// A handle that makes commits fail, for fail-closed tests.
    pub fn fault_injector(&self) -> FaultInjector {
        self.fault.clone()
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

    /// The sequence number of the newest committed entry (0 when empty).
    pub fn last_seq(&self) -> Result<u64, LedgerError> {
        // Hold the handle for the whole read, so a reopen waits for it.
        let db = self.db.get()?;
        let txn = db.begin_read().map_err(storage)?;
        let table = match txn.open_table(ENTRIES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(storage(e)),
        };
        let last = table.last().map_err(storage)?.map(|(k, _)| k.value());
        Ok(last.unwrap_or(0))
    }

    /// Calls `f` with every committed entry in `seqs`, in sequence order, with its chain
    /// head. Stops at the first error `f` returns.
    pub fn scan<E: From<LedgerError>>(
        &self,
        seqs: RangeInclusive<u64>,
        mut f: impl FnMut(LedgerEntry, Hash) -> Result<(), E>,
    ) -> Result<(), E> {
        self.scan_raw(seqs, |seq, head, bytes| {
            let entry: LedgerEntry =
                serde_json::from_slice(bytes).map_err(|e| LedgerError::Corrupt {
                    seq,
                    what: format!("entry does not parse: {e}"),
                })?;
            f(entry, head)
        })
    }

    /// Like [`Ledger::scan`] with the canonical bytes instead of the parsed entry.
    pub(crate) fn scan_raw<E: From<LedgerError>>(
        &self,
        seqs: RangeInclusive<u64>,
        mut f: impl FnMut(u64, Hash, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        // Hold the handle for the whole read, so a reopen waits for it.
        let db = self.db.get()?;
        let txn = db.begin_read().map_err(storage)?;
        let table = match txn.open_table(ENTRIES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(storage(e).into()),
        };
        for item in table.range(seqs).map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            let seq = k.value();
            let (head, bytes) = split_value(seq, v.value())?;
            f(seq, head, bytes)?;
        }
        Ok(())
    }

    /// The chain head after entry `seq` (`Hash::GENESIS` for 0).
    pub fn head_at(&self, seq: u64) -> Result<Hash, LedgerError> {
        if seq == 0 {
            return Ok(Hash::GENESIS);
        }
        // Hold the handle for the whole read, so a reopen waits for it.
        let db = self.db.get()?;
        let txn = db.begin_read().map_err(storage)?;
        let table = txn.open_table(ENTRIES).map_err(storage)?;
        let value = table
            .get(seq)
            .map_err(storage)?
            .ok_or_else(|| LedgerError::Corrupt {
                seq,
                what: "entry is missing".into(),
            })?;
        Ok(split_value(seq, value.value())?.0)
    }

    /// All stored checkpoints with sizes in `sizes`, in order.
    pub fn checkpoints(&self, sizes: RangeInclusive<u64>) -> Result<Vec<Checkpoint>, LedgerError> {
        let db = self.db.get()?;
        read_checkpoints(&db, sizes)
    }

    /// Re-checks the whole stored chain and every stored checkpoint's signature and head.
    /// Returns the number of entries checked.
    pub fn verify_stored(&self) -> Result<u64, LedgerError> {
        let checkpoints = self.checkpoints(0..=u64::MAX)?;
        let mut cps = checkpoints.iter().peekable();
        let mut head = Hash::GENESIS;
        let mut expected = 1u64;
        let check_cp = |cp: &Checkpoint, seq: u64, head: &Hash| -> Result<(), LedgerError> {
            if !cp.verify(&self.public_key) {
                return Err(LedgerError::Corrupt {
                    seq,
                    what: format!("checkpoint {} has a bad signature", cp.size),
                });
            }
            if cp.head != *head {
                return Err(LedgerError::Corrupt {
                    seq,
                    what: format!("checkpoint {} does not match the chain", cp.size),
                });
            }
            Ok(())
        };
        while let Some(cp) = cps.next_if(|cp| cp.size == 0) {
            check_cp(cp, 0, &head)?;
        }
        self.scan_raw(1..=u64::MAX, |seq, stored, bytes| {
            if seq != expected {
                return Err(LedgerError::Corrupt {
                    seq: expected,
                    what: "entry is missing".into(),
                });
            }
            head = entry::chain(&head, &entry::leaf_hash(bytes));
            if head != stored {
                return Err(LedgerError::Corrupt {
                    seq,
                    what: "hash chain mismatch".into(),
                });
            }
            while let Some(cp) = cps.next_if(|cp| cp.size == seq) {
                check_cp(cp, seq, &head)?;
            }
            expected += 1;
            Ok(())
        })?;
        if let Some(cp) = cps.next() {
            return Err(LedgerError::Corrupt {
                seq: expected,
                what: format!("checkpoint {} is beyond the last entry", cp.size),
            });
        }
        Ok(expected - 1)
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }
}

impl AuditSink for Ledger {
    fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Msg::Record(Box::new(event), reply))
            .map_err(|e| AuditError::Unavailable(e.to_string()))?;
        rx.recv()
            .map_err(|_| AuditError::Unavailable("the ledger writer stopped".into()))?
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

fn split_value(seq: u64, value: &[u8]) -> Result<(Hash, &[u8]), LedgerError> {
    if value.len() < 32 {
        return Err(LedgerError::Corrupt {
            seq,
            what: "stored value is too short".into(),
        });
    }
    let mut head = [0u8; 32];
    head.copy_from_slice(&value[..32]);
    Ok((Hash(head), &value[32..]))
}

fn init_and_load_tip(db: &Database) -> Result<Tip, LedgerError> {
    let txn = db.begin_write().map_err(storage)?;
    let tip = {
        let mut meta = txn.open_table(META).map_err(storage)?;
        let version = meta
            .get("schema_version")
            .map_err(storage)?
            .map(|v| v.value());
        match version {
            None => {
                meta.insert("schema_version", SCHEMA_VERSION)
                    .map_err(storage)?;
            }
            Some(v) if v > SCHEMA_VERSION => return Err(LedgerError::Schema { found: v }),
            Some(_) => {}
        }
        let entries = txn.open_table(ENTRIES).map_err(storage)?;
        let checkpoints = txn.open_table(CHECKPOINTS).map_err(storage)?;
        let checkpointed = checkpoints
            .last()
            .map_err(storage)?
            .map(|(k, _)| k.value())
            .unwrap_or(0);
        let last = entries.last().map_err(storage)?;
        let latest = meta
            .get(LATEST_TIME)
            .map_err(storage)?
            .and_then(|v| i64::try_from(v.value()).ok())
            .and_then(DateTime::from_timestamp_micros);
        let tip = match last {
            None => Tip {
                seq: 0,
                head: Hash::GENESIS,
                time: None,
                checkpointed,
            },
            Some((k, v)) => {
                let seq = k.value();
                let (head, bytes) = split_value(seq, v.value())?;
                let entry: LedgerEntry =
                    serde_json::from_slice(bytes).map_err(|e| LedgerError::Corrupt {
                        seq,
                        what: format!("entry does not parse: {e}"),
                    })?;
                Tip {
                    seq,
                    head,
                    // The latest time ever recorded, so an entry after a restart is still
                    // flagged if the clock is behind it (older files: the last entry's).
                    time: Some(latest.map_or(entry.time, |t| t.max(entry.time))),
                    checkpointed,
                }
            }
        };
        tip
    };
    txn.commit().map_err(storage)?;
    Ok(tip)
}

fn read_checkpoints(
    db: &Database,
    sizes: RangeInclusive<u64>,
) -> Result<Vec<Checkpoint>, LedgerError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = match txn.open_table(CHECKPOINTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(storage(e)),
    };
    let mut out = Vec::new();
    for item in table.range(sizes).map_err(storage)? {
        let (k, v) = item.map_err(storage)?;
        let cp: Checkpoint =
            serde_json::from_slice(v.value()).map_err(|e| LedgerError::Corrupt {
                seq: k.value(),
                what: format!("checkpoint does not parse: {e}"),
            })?;
        out.push(cp);
    }
    Ok(out)
}

fn load_latest_checkpoint(db: &Database) -> Result<Option<Checkpoint>, LedgerError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = match txn.open_table(CHECKPOINTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(storage(e)),
    };
    let last = table.last().map_err(storage)?;
    match last {
        None => Ok(None),
        Some((k, v)) => {
            serde_json::from_slice(v.value())
                .map(Some)
                .map_err(|e| LedgerError::Corrupt {
                    seq: k.value(),
                    what: format!("checkpoint does not parse: {e}"),
                })
        }
    }
}

/// The single writer: group commit, chain, checkpoints.
struct Writer {
    db: Arc<DbSlot>,
    key: Arc<SigningKey>,
    tip: Tip,
    every_entries: u64,
    every: Duration,
    max_batch: usize,
    fault: FaultInjector,
    latest: Arc<Mutex<Option<Checkpoint>>>,
    publish: Sender<Checkpoint>,
    /// When the oldest entry not yet covered by a checkpoint was committed (monotonic, so
    /// a wall clock that jumps neither stalls nor hurries timed checkpoints).
    oldest_unchecked: Option<Instant>,
    /// Wall-clock time for checkpoints.
    clock: Arc<dyn Clock>,
    /// A write to the file failed: reopen it before the next transaction.
    failed: bool,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
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

    fn commit_batch(&mut self, records: Vec<(AuditEvent, RecordReply)>) {
        let db = match self.database() {
            Ok(db) => db,
            Err(e) => {
                tracing::error!(error = %e, events = records.len(), "the ledger cannot write; the batch is refused");
                let message = e.to_string();
                for (_, reply) in records {
                    let _ = reply.send(Err(AuditError::Unavailable(message.clone())));
                }
                return;
            }
        };
        let mut tip = self.tip;
        let mut replies = Vec::with_capacity(records.len());
        let mut mode_changed = false;
        let mut injected = false;
        let result = (|| -> Result<Option<Checkpoint>, LedgerError> {
            let txn = db.begin_write().map_err(storage)?;
            let mut value = Vec::with_capacity(512);
            {
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
                    // Keep the latest time seen, so a clock that went back is flagged until
                    // it has caught up again.
                    tip.time = Some(tip.time.map_or(entry.time, |t| t.max(entry.time)));
                    replies.push((seq, reply));
                }
            }
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
            if self.fault.failing() {
                injected = true;
                txn.abort().map_err(storage)?;
                return Err(LedgerError::Storage(
                    "audit storage failure injected for testing".into(),
                ));
            }
            txn.commit().map_err(storage)?;
            Ok(checkpoint)
        })();
        drop(db);
        if result.is_err() && !injected {
            self.failed = true;
        }
        match result {
            Ok(checkpoint) => {
                self.tip = tip;
                if self.oldest_unchecked.is_none() {
                    self.oldest_unchecked = Some(Instant::now());
                }
                if let Some(cp) = checkpoint {
                    self.published(cp);
                }
                for (seq, reply) in replies {
                    let _ = reply.send(Ok(AuditReceipt { sequence: seq }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = replies.len(), "ledger commit failed; the batch is refused");
                let message = e.to_string();
                for (_, reply) in replies {
                    let _ = reply.send(Err(AuditError::Unavailable(message.clone())));
                }
                // Requests not yet moved into `replies` (an error before the loop ended) are
                // dropped with their reply senders, which their callers see as an error too.
            }
        }
    }

    /// A checkpoint in its own transaction, over the current tip.
    fn checkpoint_alone(&mut self) -> Result<Checkpoint, LedgerError> {
        let db = self.database()?;
        let cp = Checkpoint::sign(self.tip.seq, self.tip.head, self.clock.now(), &self.key);
        if self.fault.failing() {
            return Err(LedgerError::Storage(
                "audit storage failure injected for testing".into(),
            ));
        }
        let written = (|| -> Result<(), LedgerError> {
            let txn = db.begin_write().map_err(storage)?;
            store_checkpoint(&txn, &cp)?;
            txn.commit().map_err(storage)
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

    fn published(&mut self, cp: Checkpoint) {
        self.oldest_unchecked = None;
        *lock(&self.latest) = Some(cp.clone());
        let _ = self.publish.send(cp);
    }
}

fn store_checkpoint(txn: &redb::WriteTransaction, cp: &Checkpoint) -> Result<(), LedgerError> {
    let mut table = txn.open_table(CHECKPOINTS).map_err(storage)?;
    let json = serde_json::to_vec(cp).map_err(storage)?;
    table.insert(cp.size, json.as_slice()).map_err(storage)?;
    Ok(())
}
