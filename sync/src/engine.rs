//! The sync engine: pulls from a [`Source`], maps every resource into the minimal record,
//! and builds a new generation in the store; the scheduler runs it periodically.
//!
//! Pipeline of one sync (designed for ≥ 100 MB/s of NDJSON on 2 cores): the source runs
//! on its own thread and hands raw resources to the sink, which copies them into batch
//! buffers; worker threads parse, map, encode, hash (and seal) batches in parallel; the
//! calling thread takes prepared batches in their original order. An incremental sync
//! applies each batch to the generation's single write transaction at once (cost ∝ the
//! delta); a full sync only collects compact rows while the pull runs and then writes the
//! new epoch in one sorted load, in key order, sorting on helper threads (see
//! `store::sorted_load`). Any failure
//! (source error, storage error, too many rejects, cancel) drops the transaction: the
//! current generation stays, and the error goes into [`SyncStatus`]. A finished build goes
//! through the store's guard (`store::guard`): unchanged data writes no generation, a pull
//! that would lose too much is kept quarantined ([`SyncError::Quarantined`]) until an
//! administrator promotes it ([`Engine::promote`]). After a new generation is served the
//! engine rewrites the second copy of the snapshot (`store::copy`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant as StdInstant;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::mapping::{
    map_resource, place_encounter, Body, Item, MapContext, Mapped, Outcome, PlaceBook,
    RejectReason, ResourceType, Warning, WarningReason,
};
use crate::reader::SnapshotReader;
use crate::source::{Change, PullKind};
use crate::store::build::Scope;
use crate::store::copy::CopyInfo;
use crate::store::{Finished, Manifest, QuarantineAlert};
use crate::store::{Payload, Preparer, Target};
use crate::store::{Prepared, Store, StoreError};
use crate::{Config, ScopeConfig};
pub use tokio_util::sync::CancellationToken;

/// Why the sink stopped the pull (disk full, too many rejects, cancelled). The source just
/// returns [`SourceError::Stopped`]; the engine keeps the real reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkStopped;

/// Where resources come from. Implementations live in `crate::source`.
pub trait Source: Send + Sync {
    /// Short, data-free label for logs and status, e.g. `fhir-rest https://ehr.example/fhir`.
    fn describe(&self) -> String;

    /// The time the source's data is current as of, when the source knows it before the
    /// pull (an export made earlier, replayed data). Windows at sync time are measured back
    /// from it; `None` (a live source): from the pull's start.
    fn data_time(&self) -> Option<DateTime<Utc>> {
        None
    }

    /// Blocking. Called on a plain thread that is not inside a tokio runtime, so an HTTP
    /// source owns its runtime and blocks on it. Delivers every resource through `sink`;
    /// stops promptly if `cancel` fires ([`SourceError::Cancelled`]) or the sink returns
    /// [`SinkStopped`] ([`SourceError::Stopped`]).
    fn pull(
        &self,
        kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError>;
}

/// What a source reports at the end of a successful pull.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullSummary {
    /// Time the data is current as of, used for the next [`PullKind::Since`]. `None`: the
    /// engine uses the local time at which the pull started.
    pub high_water: Option<chrono::DateTime<chrono::Utc>>,
    /// JSON bytes received.
    pub bytes: u64,
    /// Upserts delivered.
    pub resources: u64,
    /// Deletions delivered.
    pub deletions: u64,
    /// Items of the source (files) that could not be used at all; counted with the
    /// rejected resources against `max_reject_share`.
    pub skipped: u64,
    /// Problems with single items of the source (data-free), at most
    /// [`MAX_SOURCE_PROBLEMS`] of them; `skipped` and the warnings are counted in full.
    pub problems: Vec<SourceProblem>,
    /// Items of the source the record does not use, by kind (e.g. SS-MIX2 data types).
    pub not_kept: BTreeMap<String, u64>,
    /// An incremental pull that could not learn what was deleted since the last pull
    /// (no history read, an export manifest listing no deleted resources): deletions wait
    /// for the next full pull.
    pub deletions_unreported: bool,
}

/// Problems kept per pull for the sync report.
pub const MAX_SOURCE_PROBLEMS: usize = 200;

/// One problem with one item of the source, e.g. an SS-MIX2 file: which file (its path
/// relative to the storage root), where in it (segment and field), what was wrong, and
/// whether the file was skipped or used with a warning. Never patient data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceProblem {
    pub file: String,
    pub place: String,
    pub problem: String,
    pub skipped: bool,
}

impl std::fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.skipped { "skipped" } else { "warning" };
        if self.place.is_empty() {
            write!(f, "{} ({what}): {}", self.file, self.problem)
        } else {
            write!(f, "{} {} ({what}): {}", self.file, self.place, self.problem)
        }
    }
}

/// Why a pull failed. Messages carry no patient data and no secrets.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the source refused our credentials: {0}")]
    Unauthorized(String),
    #[error("connection to the source failed: {0}")]
    Connection(String),
    #[error("the source answered HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    #[error("the source sent something we cannot follow: {0}")]
    Protocol(String),
    /// Reading a file or directory of the source failed; `detail` names it (never its
    /// content) and repeats the I/O error's text, which `source` keeps.
    #[error("reading the source failed: {detail}")]
    Io {
        detail: String,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error("the source is misconfigured: {0}")]
    Config(String),
    #[error("the pull was cancelled")]
    Cancelled,
    #[error("the pull was stopped by the engine")]
    Stopped,
}

impl SourceError {
    /// A failed read: `detail` says what was read and repeats `e`'s text.
    pub fn io(detail: String, e: std::io::Error) -> SourceError {
        SourceError::Io {
            detail,
            source: Some(e),
        }
    }
}

/// Why a sync failed. The current generation is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("pull from the source failed: {0}")]
    Source(#[from] SourceError),
    #[error("writing the new generation failed: {0}")]
    Store(#[from] StoreError),
    #[error("sync refused: {rejected} of {total} resources rejected ({}), more than the allowed share of {max_share}; the new generation was discarded and the current one stays in service — `akari sync report` lists them by reason and resource type; check the source", reasons_text(.reasons))]
    TooManyRejects {
        rejected: u64,
        total: u64,
        max_share: f64,
        /// Rejected resources by reason.
        reasons: BTreeMap<String, u64>,
    },
    /// The pull would lose more than the guard allows: kept as a quarantined generation,
    /// not served (see `store::guard`). `new` is false when it equals the newest
    /// quarantined generation (nothing new was written).
    #[error("{}", quarantined_message(*.generation, *.current, .losses, *.share, *.new))]
    Quarantined {
        generation: u64,
        current: u64,
        /// What it would lose, e.g. `patient 1000 → 0 (−100.0 %)`.
        losses: String,
        /// The configured share (`quarantine_loss_share`).
        share: f64,
        new: bool,
    },
    #[error("a sync is already running")]
    AlreadyRunning,
    #[error("the sync was cancelled")]
    Cancelled,
    #[error("internal error in the sync pipeline: {0}")]
    Internal(String),
}

fn quarantined_message(
    generation: u64,
    current: u64,
    losses: &str,
    share: f64,
    new: bool,
) -> String {
    let kept = if new {
        format!("kept as quarantined generation {generation}")
    } else {
        format!("the same as quarantined generation {generation} (nothing new written)")
    };
    format!(
        "the pull would lose {losses}, more than the allowed {:.0} % of the current \
         generation: {kept}, not served; generation {current} stays in service. Check the \
         source; if the loss is real, promote it (`akari snapshot promote {generation}` or \
         the admin sync page)",
        share * 100.0
    )
}

/// "invalid_json 3, missing_subject 1", largest first.
pub fn reasons_text(reasons: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = reasons.iter().filter(|(_, n)| **n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SyncReport {
    /// The report as `akari sync report` prints it: what was received, stored, rejected
    /// (by reason, then FHIR type), kept with warnings (by reason and type), ignored and
    /// dropped.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} sync, generation {}, started {}: {} resources received ({} bytes), {} deletions, {} ms\n",
            if self.full { "full" } else { "incremental" },
            self.generation,
            self.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.resources,
            self.bytes,
            self.deletions,
            self.duration_ms,
        );
        out.push_str(&format!(
            "  stored: {} upserts, {} removals; {} Locations for the census\n",
            self.upserts, self.removals, self.places
        ));
        let rejected: u64 = self.rejects.values().sum();
        out.push_str(&format!(
            "  rejected (not stored; count towards the reject limit): {rejected}\n"
        ));
        for (reason, n) in &self.rejects {
            out.push_str(&format!("    {reason:<24} {n:>8}\n"));
            for (rtype, m) in self.reject_types.get(reason).into_iter().flatten() {
                out.push_str(&format!("      {rtype:<22} {m:>8}\n"));
            }
        }
        out.push_str(&format!(
            "  kept with a warning (stored and shown; never rejects): {} resources\n",
            self.warned_resources
        ));
        for (reason, by_type) in &self.warnings {
            for (rtype, n) in by_type {
                out.push_str(&format!("    {reason:<24} {rtype:<22} {n:>8}\n"));
            }
        }
        let list = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.ignored.is_empty() {
            out.push_str(&format!("  types not kept: {}\n", list(&self.ignored)));
        }
        if !self.dropped.is_empty() {
            out.push_str(&format!(
                "  not kept by rule (retracted): {}\n",
                list(&self.dropped)
            ));
        }
        if self.deletions_pending_full {
            out.push_str("  DELETIONS WAIT FOR THE NEXT FULL SYNC: the source did not say what was deleted since the last pull\n");
        }
        if self.out_of_scope_patients > 0 {
            out.push_str(&format!(
                "  patients out of scope: {}\n",
                self.out_of_scope_patients
            ));
        }
        out
    }
}

impl SyncError {
    /// Did the source fail to answer (so the main system may be down), as opposed to
    /// answering with something the node refused or could not store?
    pub fn source_unreachable(&self) -> bool {
        match self {
            SyncError::Source(SourceError::Connection(_) | SourceError::Io { .. }) => true,
            SyncError::Source(SourceError::Http { status, .. }) => *status >= 500,
            _ => false,
        }
    }
}

/// The outcome of one sync (a committed one, or one refused for too many rejects).
/// Data-free: counts, reason names and FHIR type names only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    pub generation: u64,
    pub full: bool,
    /// The pull left the data as it was: no generation was written, `generation` (the
    /// current one) is current as of this pull.
    #[serde(default)]
    pub unchanged: bool,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Bytes of JSON received.
    pub bytes: u64,
    /// Resources received (upserts, before mapping) and deletions.
    pub resources: u64,
    pub deletions: u64,
    pub upserts: u64,
    pub removals: u64,
    /// Rejected resources by reason (mapping and linking to patients together).
    pub rejects: BTreeMap<String, u64>,
    /// Rejected resources by reason, then FHIR type (mapping rejects only: linking
    /// rejects name no type).
    pub reject_types: BTreeMap<String, BTreeMap<String, u64>>,
    /// Data-quality warnings on kept resources by reason, then FHIR type. Never counted
    /// as rejects.
    pub warnings: BTreeMap<String, BTreeMap<String, u64>>,
    /// Kept resources with at least one warning.
    pub warned_resources: u64,
    pub ignored: BTreeMap<String, u64>,
    pub dropped: BTreeMap<String, u64>,
    pub out_of_scope_patients: u64,
    /// Source items (files) skipped as unusable, and the first problems found with the
    /// source's items (see [`SourceProblem`]).
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub source_problems: Vec<SourceProblem>,
    /// Locations received for the place book.
    pub places: u64,
    /// An incremental pull whose source could not say what was deleted: deletions since
    /// the last pull show only after the next full sync.
    #[serde(default)]
    pub deletions_pending_full: bool,
}

/// For `/healthz`, `/metrics` and the admin pages. No patient data.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncStatus {
    /// The source, data-free (e.g. `ss-mix2 /mnt/ssmix2`): named on the admin pages only.
    pub source: String,
    pub running: bool,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_full_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub current_generation: Option<u64>,
    /// What the source said the current generation's data is current as of.
    pub data_as_of: Option<DateTime<Utc>>,
    /// Items in the current generation by kind.
    pub counts: BTreeMap<String, u64>,
    /// Rejected resources by reason, since this process started.
    pub rejects_total: BTreeMap<String, u64>,
    /// Warnings on kept resources by reason, since this process started.
    pub warnings_total: BTreeMap<String, u64>,
    /// The last sync refused for too many rejects (what it found; nothing was stored),
    /// until a later sync succeeds.
    pub last_refused: Option<SyncReport>,
    /// Resources of types not kept, since this process started.
    pub ignored_total: BTreeMap<String, u64>,
    pub last_report: Option<SyncReport>,
    /// Damage found in stored snapshot data and what the node did about it (data-free;
    /// show `message()` to administrators until one clears it).
    pub integrity_alert: Option<crate::store::IntegrityAlert>,
    /// The newest pulls were quarantined (data-free; show `message()` to administrators
    /// until a later pull passes the guard or one of them promotes it).
    pub quarantine: Option<QuarantineAlert>,
    /// What the second copy of the snapshot holds.
    pub copy: Option<CopyInfo>,
    /// Why the second copy could not be written or read, if it could not.
    pub copy_error: Option<String>,
}

impl SyncStatus {
    /// How old the served data is (now − data_as_of).
    pub fn data_age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.data_as_of.map(|t| now - t)
    }
}

/// One batch travelling through the pipeline. Upserted resources are copied into one
/// buffer on the source thread (which frees its own per-resource allocation at once, a
/// cheap same-thread free) instead of travelling, and being freed, one by one.
struct RawBatch {
    seq: u64,
    bytes: Vec<u8>,
    entries: Vec<RawEntry>,
}

enum RawEntry {
    /// `bytes[start..end]`.
    Upsert {
        start: usize,
        end: usize,
    },
    Delete {
        resource_type: String,
        id: String,
    },
}

impl RawBatch {
    fn new(seq: u64) -> RawBatch {
        RawBatch {
            seq,
            bytes: Vec::with_capacity(BATCH_BYTES + 64 * 1024),
            entries: Vec::with_capacity(BATCH_CHANGES),
        }
    }

    fn push(&mut self, c: Change) {
        match c {
            Change::Upsert(b) => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(&b);
                self.entries.push(RawEntry::Upsert {
                    start,
                    end: self.bytes.len(),
                });
            }
            Change::Delete { resource_type, id } => {
                self.entries.push(RawEntry::Delete { resource_type, id })
            }
        }
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= BATCH_CHANGES || self.bytes.len() >= BATCH_BYTES
    }
}

#[derive(Default)]
struct Tally {
    rejects: BTreeMap<RejectReason, u64>,
    reject_types: BTreeMap<(RejectReason, String), u64>,
    warnings: BTreeMap<(WarningReason, ResourceType), u64>,
    warned: u64,
    ignored: BTreeMap<String, u64>,
    dropped: BTreeMap<String, u64>,
    places: PlaceBook,
    logged: u32,
    warnings_logged: u32,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        fn add<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
            for (k, v) in from {
                *into.entry(k).or_default() += v;
            }
        }
        add(&mut self.rejects, other.rejects);
        add(&mut self.reject_types, other.reject_types);
        add(&mut self.warnings, other.warnings);
        add(&mut self.ignored, other.ignored);
        add(&mut self.dropped, other.dropped);
        self.warned += other.warned;
        self.places.extend(other.places);
    }

    fn warn(&mut self, rtype: ResourceType, warnings: &[Warning]) {
        if warnings.is_empty() {
            return;
        }
        self.warned += 1;
        for w in warnings {
            *self.warnings.entry((w.reason, rtype)).or_default() += 1;
            if self.warnings_logged < LOG_REJECTS {
                self.warnings_logged += 1;
                tracing::info!(
                    reason = w.reason.name(),
                    resource_type = rtype.name(),
                    detail = %w.detail,
                    "kept a resource with a data-quality warning"
                );
            }
        }
    }
}

struct PreparedBatch {
    seq: u64,
    items: Vec<Prepared>,
    /// In-house encounters that name Location resources: resolved into ward, room and
    /// bed once the whole pull (and its Locations) is in, then prepared. Each with the
    /// number of `items` that came before it in the pull.
    held: Vec<(usize, Mapped)>,
    tally: Tally,
}

/// Encounter statuses that place a patient in a bed now (the census).
fn in_house(status: &str) -> bool {
    matches!(status, "in-progress" | "arrived" | "onleave" | "triaged")
}

/// Does this mapped resource wait for the pull's Locations before it is stored?
fn waits_for_places(m: &Mapped) -> bool {
    matches!(&m.body, Body::Item(Item::Encounter(e)) if in_house(&e.status) && !e.location_ids.is_empty())
}

/// At most this many reject reasons are logged per sync (without patient data).
const LOG_REJECTS: u32 = 10;
const BATCH_CHANGES: usize = 2048;
const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Run the source's pull, handing its changes on in batches until the pull ends, the
/// engine stops it (`stop`) or the sync is cancelled.
fn pull_in_batches(
    source: &dyn Source,
    kind: PullKind,
    stop: &AtomicBool,
    cancel: &CancellationToken,
    raw_tx: SyncSender<RawBatch>,
) -> Result<PullSummary, SourceError> {
    let mut seq = 0u64;
    let mut batch = RawBatch::new(seq);
    let result = {
        let mut sink = |c: Change| -> Result<(), SinkStopped> {
            if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                return Err(SinkStopped);
            }
            batch.push(c);
            if batch.is_full() {
                seq += 1;
                let full = std::mem::replace(&mut batch, RawBatch::new(seq));
                raw_tx.send(full).map_err(|_| SinkStopped)?;
            }
            Ok(())
        };
        source.pull(kind, cancel, &mut sink)
    };
    if result.is_ok() && !batch.entries.is_empty() {
        let _ = raw_tx.send(batch);
    }
    drop(raw_tx);
    result
}

fn map_batch(preparer: &Preparer, ctx: &MapContext, batch: RawBatch) -> PreparedBatch {
    let mut tally = Tally::default();
    let mut items = Vec::with_capacity(batch.entries.len());
    let mut held = Vec::new();
    let mut mapped = Vec::new();
    for entry in batch.entries {
        match entry {
            RawEntry::Upsert { start, end } => {
                mapped.clear();
                match map_resource(&batch.bytes[start..end], ctx, &mut mapped) {
                    Ok(Outcome::Mapped) => {
                        for mut m in mapped.drain(..) {
                            tally.warn(m.rtype, &m.warnings);
                            match m.body {
                                Body::Retract(why) => {
                                    *tally.dropped.entry(why.name().to_string()).or_default() += 1;
                                }
                                Body::Place(place) => {
                                    tally.places.insert(place);
                                    continue;
                                }
                                Body::Item(_) => {}
                            }
                            if waits_for_places(&m) {
                                m.warnings.clear();
                                held.push((items.len(), m));
                            } else {
                                items.push(preparer.prepare(m));
                            }
                        }
                    }
                    Ok(Outcome::Ignored(t)) => *tally.ignored.entry(t).or_default() += 1,
                    Err(r) => {
                        if tally.logged < LOG_REJECTS {
                            tally.logged += 1;
                            tracing::warn!(
                                reason = r.reason.name(),
                                resource_type = %r.resource_type,
                                detail = %r.detail,
                                "rejected a resource"
                            );
                        }
                        *tally.rejects.entry(r.reason).or_default() += 1;
                        *tally
                            .reject_types
                            .entry((r.reason, r.resource_type))
                            .or_default() += 1;
                    }
                }
            }
            RawEntry::Delete { resource_type, id } => {
                if let Some(rtype) = ResourceType::from_name(&resource_type) {
                    items.push(Prepared {
                        rtype,
                        idh: preparer.keyer().id_hash(rtype, &id),
                        target: Target::Missing,
                        payload: None::<Payload>,
                        identifiers: Vec::new(),
                        encounter: None,
                    });
                }
            }
        }
    }
    PreparedBatch {
        seq: batch.seq,
        items,
        held,
        tally,
    }
}

/// Called with each newly quarantined generation (e.g. to record it in the audit ledger).
pub type QuarantineHook = Arc<dyn Fn(&Manifest) + Send + Sync>;

/// A change kept back until the pull's Locations are in: an encounter to place, or a
/// later change to one (applied after it, in pull order).
enum Held {
    Place(Box<Mapped>),
    Prepared(Prepared),
}

/// Runs syncs against one store and source. Share it in an `Arc`.
pub struct Engine {
    store: Store,
    source: Arc<dyn Source>,
    config: Config,
    reader: Option<SnapshotReader>,
    status: Mutex<SyncStatus>,
    running: Mutex<()>,
    on_quarantine: Option<QuarantineHook>,
    /// Serialises writing the second copy.
    copying: Mutex<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("source", &self.source.describe())
            .finish()
    }
}

impl Engine {
    pub fn new(store: Store, source: Arc<dyn Source>, config: Config) -> Engine {
        let mut status = SyncStatus {
            source: source.describe(),
            ..SyncStatus::default()
        };
        match store.copy_info() {
            Ok(info) => status.copy = info,
            Err(e) => status.copy_error = Some(format!("the second copy is unreadable: {e}")),
        }
        if let Ok((report, refused)) = store.saved_sync_reports() {
            let parse = |b: Option<Vec<u8>>| b.and_then(|b| serde_json::from_slice(&b).ok());
            status.last_report = parse(report);
            status.last_refused = parse(refused);
        }
        let engine = Engine {
            store,
            source,
            config,
            reader: None,
            status: Mutex::new(status),
            running: Mutex::new(()),
            on_quarantine: None,
            copying: Mutex::new(()),
        };
        engine.refresh_status();
        engine
    }

    /// Call `hook` with every generation the guard newly quarantines.
    pub fn with_quarantine_hook(mut self, hook: QuarantineHook) -> Engine {
        self.on_quarantine = Some(hook);
        self
    }

    /// Re-read what the status shows of the store: the current generation, the integrity
    /// and quarantine alerts.
    fn refresh_status(&self) {
        let current = self.store.current();
        let integrity = self.store.integrity_alert();
        let quarantine = self.store.quarantine_alert();
        self.update_status(|s| {
            if let Ok(alert) = integrity {
                s.integrity_alert = alert;
            }
            if let Ok(alert) = quarantine {
                s.quarantine = alert;
            }
            if let Ok(Some(m)) = current {
                s.current_generation = Some(m.generation);
                s.data_as_of = m.high_water;
                s.counts = m.counts.clone();
            }
        });
    }

    /// Refresh this reader after every successful sync.
    pub fn with_reader(mut self, reader: SnapshotReader) -> Engine {
        self.reader = Some(reader);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn status(&self) -> SyncStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Verify the current generation and fall back to an older one that verifies if it is
    /// damaged ([`Store::check_current`]); refreshes the reader and the status. Run at
    /// start-up before serving and periodically. Waits for a running sync to finish.
    pub fn check_integrity(&self) -> Result<crate::store::Integrity, SyncError> {
        let _guard = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = self.store.check_current()?;
        if let Some(reader) = &self.reader {
            reader.refresh()?;
        }
        self.refresh_status();
        if matches!(outcome, crate::store::Integrity::FellBack(_)) {
            self.refresh_copy(true);
        }
        Ok(outcome)
    }

    /// Roll back to a copy of `generation` ([`Store::rollback`]: verified first, needs no
    /// secret), then refresh the reader and the status, so web and CLI share one path.
    /// Waits for a running sync to finish.
    pub fn rollback(&self, generation: u64) -> Result<crate::store::Manifest, StoreError> {
        self.switch_by_hand(|store| store.rollback(generation))
    }

    /// Promote a quarantined generation ([`Store::promote`]: verified first) to current,
    /// then refresh the reader, the status and the second copy. Waits for a running sync.
    pub fn promote(&self, generation: u64) -> Result<Manifest, StoreError> {
        self.switch_by_hand(|store| store.promote(generation))
    }

    /// An administrator's switch of the current generation (rollback, promotion), then the
    /// reader, the status and the second copy follow.
    fn switch_by_hand(
        &self,
        switch: impl FnOnce(&Store) -> Result<Manifest, StoreError>,
    ) -> Result<Manifest, StoreError> {
        let _guard = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let manifest = switch(&self.store)?;
        if let Some(reader) = &self.reader {
            reader.refresh()?;
        }
        self.refresh_status();
        self.refresh_copy(true);
        Ok(manifest)
    }

    /// Rewrite the second copy of the snapshot if it does not hold the current generation
    /// and either `force` or it is older than `copy_every_secs` (or there is none). A
    /// failure is logged and shown in the status; it never fails the caller.
    pub fn refresh_copy(&self, force: bool) {
        if self.store.copy_path().is_none() {
            return;
        }
        let _copying = self.copying.lock().unwrap_or_else(|e| e.into_inner());
        let status = self.status();
        let due = match &status.copy {
            None => true,
            Some(c) => {
                Some(c.generation) != status.current_generation
                    && (force
                        || Utc::now() - c.written_at
                            >= Duration::seconds(self.config.copy_every_secs as i64))
            }
        };
        if !due || status.current_generation.is_none() {
            return;
        }
        let t0 = StdInstant::now();
        match self.store.write_copy() {
            Ok(info) => {
                if let Some(c) = &info {
                    tracing::info!(
                        generation = c.generation,
                        ms = t0.elapsed().as_millis() as u64,
                        "second copy of the snapshot written"
                    );
                }
                self.update_status(|s| {
                    s.copy = info;
                    s.copy_error = None;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "the second copy of the snapshot could not be written");
                self.update_status(|s| {
                    s.copy_error = Some(format!("the second copy could not be written: {e}"))
                });
            }
        }
    }

    /// An administrator acknowledged the integrity alert.
    pub fn clear_integrity_alert(&self) -> Result<(), SyncError> {
        self.store.clear_integrity_alert()?;
        self.update_status(|s| s.integrity_alert = None);
        Ok(())
    }

    /// Keep the report of a committed or refused sync in the store (see
    /// [`Store::save_sync_report`]); failing to is logged, never fatal.
    fn save_report(&self, result: &Result<SyncReport, SyncError>) {
        let (report, refused) = match result {
            Ok(r) => (Some(r.clone()), false),
            Err(SyncError::TooManyRejects { .. }) => (self.status().last_refused, true),
            Err(_) => (None, false),
        };
        let Some(report) = report else { return };
        let saved = serde_json::to_vec(&report)
            .map_err(|e| StoreError::Build(e.to_string()))
            .and_then(|json| self.store.save_sync_report(&json, refused));
        if let Err(e) = saved {
            tracing::warn!(error = %e, "the sync report could not be kept");
        }
    }

    fn update_status(&self, f: impl FnOnce(&mut SyncStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Run one sync now (blocking): `full`, or incremental from the current generation's
    /// high-water mark (a full sync when there is none yet).
    pub fn sync_now(
        &self,
        full: bool,
        cancel: &CancellationToken,
    ) -> Result<SyncReport, SyncError> {
        let _guard = self
            .running
            .try_lock()
            .map_err(|_| SyncError::AlreadyRunning)?;
        let started = Utc::now();
        self.update_status(|s| {
            s.running = true;
            s.last_attempt = Some(started);
        });
        let result = self.run_sync(full, cancel, started);
        self.save_report(&result);
        self.update_status(|s| {
            s.running = false;
            match &result {
                Ok(report) => {
                    s.last_success = Some(Utc::now());
                    if report.full {
                        s.last_full_success = s.last_success;
                    }
                    s.last_error = None;
                    for (k, v) in &report.rejects {
                        *s.rejects_total.entry(k.clone()).or_default() += v;
                    }
                    for (k, v) in &report.ignored {
                        *s.ignored_total.entry(k.clone()).or_default() += v;
                    }
                    for (k, by_type) in &report.warnings {
                        *s.warnings_total.entry(k.clone()).or_default() +=
                            by_type.values().sum::<u64>();
                    }
                    s.last_report = Some(report.clone());
                    s.last_refused = None;
                }
                Err(e) => {
                    s.last_error = Some(e.to_string());
                    s.last_error_at = Some(Utc::now());
                    if !matches!(e, SyncError::TooManyRejects { .. }) {
                        s.last_refused = None;
                    }
                }
            }
        });
        self.refresh_status();
        match &result {
            Ok(r) => tracing::info!(
                generation = r.generation,
                full = r.full,
                unchanged = r.unchanged,
                resources = r.resources,
                duration_ms = r.duration_ms,
                "sync finished"
            ),
            Err(e @ SyncError::Quarantined { .. }) => {
                tracing::error!(error = %e, "sync quarantined; the current generation stays in service")
            }
            Err(e) => {
                tracing::error!(error = %e, "sync failed; the current generation stays in service")
            }
        }
        result
    }

    fn run_sync(
        &self,
        full_requested: bool,
        cancel: &CancellationToken,
        started: DateTime<Utc>,
    ) -> Result<SyncReport, SyncError> {
        let t0 = StdInstant::now();
        let current = self.store.current()?;
        let since = current.as_ref().and_then(|m| m.high_water);
        let full = full_requested || since.is_none();
        let kind = match (full, since) {
            (false, Some(t)) => {
                PullKind::Since(t - Duration::seconds(self.config.overlap_secs as i64))
            }
            _ => PullKind::Full,
        };
        let mut builder = self.store.begin(full, &self.source.describe())?;
        // The data time: what the source says, else (a live source) the pull's start (see
        // `mapping`'s module doc).
        let ctx = MapContext {
            now: self.source.data_time().unwrap_or(started),
            windows: self.config.windows,
            hospital_id_systems: self.config.hospital_id_systems.clone(),
        };
        let (mut tally, held, summary) = self.pull_and_write(&mut builder, kind, &ctx, cancel)?;
        self.place_held(&mut builder, &mut tally, held)?;

        let scope = match self.config.scope {
            ScopeConfig::All => Scope::All,
            ScopeConfig::RecentEncounter { days } => Scope::RecentEncounter { days },
            ScopeConfig::CurrentInpatients => Scope::CurrentInpatients,
        };
        builder.resolve(scope, ctx.now)?;
        let mut rejects = tally.rejects;
        for (k, v) in &builder.stats().rejects {
            *rejects.entry(*k).or_default() += v;
        }
        let mut report = SyncReport {
            generation: builder.generation(),
            full,
            unchanged: false,
            started_at: started,
            duration_ms: 0,
            bytes: summary.bytes,
            resources: summary.resources,
            deletions: summary.deletions,
            upserts: 0,
            removals: 0,
            rejects: rejects
                .iter()
                .map(|(k, v)| (k.name().to_string(), *v))
                .collect(),
            reject_types: by_reason_and_type(
                tally
                    .reject_types
                    .into_iter()
                    .map(|((r, t), n)| (r.name(), t, n)),
            ),
            warnings: by_reason_and_type(
                tally
                    .warnings
                    .into_iter()
                    .map(|((r, t), n)| (r.name(), t.name().to_string(), n)),
            ),
            warned_resources: tally.warned,
            ignored: {
                let mut ignored = tally.ignored;
                for (k, v) in &summary.not_kept {
                    *ignored.entry(k.clone()).or_default() += v;
                }
                ignored
            },
            dropped: tally.dropped,
            skipped: summary.skipped,
            source_problems: summary.problems.clone(),
            out_of_scope_patients: 0,
            places: tally.places.len() as u64,
            // Until a full sync, deletions the source did not report stay unknown.
            deletions_pending_full: !full
                && (summary.deletions_unreported
                    || self
                        .status()
                        .last_report
                        .is_some_and(|r| r.deletions_pending_full)),
        };
        if let Err(e) = self.check_rejects(&rejects, &summary) {
            report.duration_ms = t0.elapsed().as_millis() as u64;
            self.update_status(|s| s.last_refused = Some(report));
            return Err(e);
        }
        if !tally.places.is_empty() {
            builder.record_places(tally.places, full);
        }
        let high_water = summary.high_water.or(Some(started));
        let guard = self.config.guard();
        let (finished, stats) = builder.finish(high_water, Utc::now(), Some(&guard))?;
        if let Some(reader) = &self.reader {
            reader.refresh()?;
        }
        let (manifest, unchanged) = match finished {
            Finished::Current(m) => {
                // A full sync always renews the second copy; an incremental one when due.
                self.update_status(|s| s.current_generation = Some(m.generation));
                self.refresh_copy(full);
                (m, false)
            }
            Finished::Unchanged(m) => (m, true),
            Finished::Quarantined { manifest, new } => {
                return Err(self.quarantined(&manifest, new));
            }
        };
        report.generation = manifest.generation;
        report.unchanged = unchanged;
        report.duration_ms = t0.elapsed().as_millis() as u64;
        report.upserts = stats.upserts;
        report.removals = stats.removals;
        report.out_of_scope_patients = stats.out_of_scope_patients;
        Ok(report)
    }

    /// Report (and hand to the hook) a quarantined generation.
    fn quarantined(&self, m: &Manifest, new: bool) -> SyncError {
        let q = m
            .quarantine
            .clone()
            .unwrap_or_else(|| crate::store::Quarantine {
                at: Utc::now(),
                compared_with: 0,
                losses: Vec::new(),
                promoted_at: None,
            });
        if new {
            if let Some(hook) = &self.on_quarantine {
                hook(m);
            }
        }
        SyncError::Quarantined {
            generation: m.generation,
            current: q.compared_with,
            losses: q.losses_text(),
            share: self.config.quarantine_loss_share,
            new,
        }
    }

    /// The pipeline of one sync: the source on its own thread hands batches of raw
    /// resources to `parse_threads` workers, which parse, map, encode and hash them; this
    /// thread applies the prepared batches in their original order. Returns the merged
    /// tally, what was held back for the pull's Locations (see [`Engine::place_held`])
    /// and what the source pulled.
    fn pull_and_write(
        &self,
        builder: &mut crate::store::GenerationBuilder,
        kind: PullKind,
        ctx: &MapContext,
        cancel: &CancellationToken,
    ) -> Result<(Tally, Vec<Held>, PullSummary), SyncError> {
        let preparer = builder.preparer();
        let stop = Arc::new(AtomicBool::new(false));
        let workers = self.config.parse_threads.clamp(1, 16);
        let (raw_tx, raw_rx) = sync_channel::<RawBatch>(workers * 2);
        let raw_rx = Arc::new(Mutex::new(raw_rx));
        let (prep_tx, prep_rx) = sync_channel::<PreparedBatch>(workers * 2);
        let (written, pulled) = std::thread::scope(|scope| {
            let source = self.source.clone();
            let stop_src = stop.clone();
            let cancel_src = cancel.clone();
            let pull = scope
                .spawn(move || pull_in_batches(&*source, kind, &stop_src, &cancel_src, raw_tx));
            // Workers: parse, map, encode, hash.
            for _ in 0..workers {
                let rx = raw_rx.clone();
                let tx = prep_tx.clone();
                let preparer = preparer.clone();
                scope.spawn(move || loop {
                    let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(batch) = next else { break };
                    if tx.send(map_batch(&preparer, ctx, batch)).is_err() {
                        break;
                    }
                });
            }
            drop(prep_tx);
            // Writer (this thread): apply batches in order.
            let written = self.write_in_order(builder, prep_rx, &stop);
            if written.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            let pulled = pull
                .join()
                .map_err(|_| SyncError::Internal("the source thread panicked".into()))?;
            Ok::<_, SyncError>((written, pulled))
        })?;
        let (tally, held) = written?;
        if cancel.is_cancelled() {
            return Err(SyncError::Cancelled);
        }
        Ok((tally, held, pulled?))
    }

    /// Place the in-house encounters held back during the pull (ward, room and bed from
    /// the pull's Locations, else the stored place book) and store them, with the later
    /// changes held with them, in pull order. An encounter none of whose Locations is
    /// known keeps what its own display said, with an `unresolved_location` warning.
    fn place_held(
        &self,
        builder: &mut crate::store::GenerationBuilder,
        tally: &mut Tally,
        held: Vec<Held>,
    ) -> Result<(), SyncError> {
        if held.is_empty() {
            return Ok(());
        }
        let preparer = builder.preparer();
        let mut book = self.store.places()?;
        book.extend(tally.places.clone());
        let mut ready = Vec::with_capacity(held.len());
        for h in held {
            match h {
                Held::Prepared(p) => ready.push(p),
                Held::Place(mut m) => {
                    if let Body::Item(Item::Encounter(e)) = &mut m.body {
                        if !place_encounter(e, &book) {
                            m.warnings.push(Warning::new(
                                WarningReason::UnresolvedLocation,
                                "none of the encounter's Locations was sent; ward, room and bed from its display text",
                            ));
                        }
                    }
                    tally.warn(m.rtype, &m.warnings);
                    ready.push(preparer.prepare(*m));
                }
            }
        }
        builder.apply(&ready)?;
        Ok(())
    }

    /// Too large a share of malformed resources discards the new generation.
    fn check_rejects(
        &self,
        rejects: &BTreeMap<RejectReason, u64>,
        summary: &PullSummary,
    ) -> Result<(), SyncError> {
        // Source items (files) skipped as unusable count like rejected resources.
        let rejected: u64 = rejects.values().sum::<u64>() + summary.skipped;
        let total = (summary.resources + summary.skipped).max(rejected);
        if rejected > self.config.min_rejects_to_abort
            && (rejected as f64) > self.config.max_reject_share * total as f64
        {
            return Err(SyncError::TooManyRejects {
                rejected,
                total,
                max_share: self.config.max_reject_share,
                reasons: rejects
                    .iter()
                    .map(|(k, v)| (k.name().to_string(), *v))
                    .collect(),
            });
        }
        Ok(())
    }

    /// Apply prepared batches in sequence order; returns the merged tally and what was
    /// held back for the pull's Locations.
    fn write_in_order(
        &self,
        builder: &mut crate::store::GenerationBuilder,
        rx: Receiver<PreparedBatch>,
        stop: &AtomicBool,
    ) -> Result<(Tally, Vec<Held>), SyncError> {
        let (dropper, garbage) = sync_channel::<Vec<Prepared>>(8);
        let dropping = std::thread::spawn(move || {
            for batch in garbage {
                drop(batch)
            }
        });
        let result = self.write_batches(builder, rx, stop, &dropper);
        drop(dropper);
        let _ = dropping.join();
        result
    }

    fn write_batches(
        &self,
        builder: &mut crate::store::GenerationBuilder,
        rx: Receiver<PreparedBatch>,
        stop: &AtomicBool,
        dropper: &SyncSender<Vec<Prepared>>,
    ) -> Result<(Tally, Vec<Held>), SyncError> {
        let mut pending: HashMap<u64, PreparedBatch> = HashMap::new();
        let mut next = 0u64;
        let mut total = Tally::default();
        let mut held: Vec<Held> = Vec::new();
        let mut held_ids: std::collections::HashSet<crate::store::keys::IdHash> =
            std::collections::HashSet::new();
        let keyer = builder.preparer().keyer().clone();
        for b in rx {
            pending.insert(b.seq, b);
            while let Some(b) = pending.remove(&next) {
                next += 1;
                total.merge(b.tally);
                let items = if b.held.is_empty() && held_ids.is_empty() {
                    b.items
                } else {
                    // Keep pull order between a held encounter and later changes to it.
                    let mut now = Vec::with_capacity(b.items.len());
                    let mut waiting = b.held.into_iter().peekable();
                    for (i, p) in b.items.into_iter().enumerate() {
                        while let Some((_, m)) = waiting.next_if(|(pos, _)| *pos <= i) {
                            held_ids.insert(keyer.id_hash(m.rtype, &m.id));
                            held.push(Held::Place(Box::new(m)));
                        }
                        if p.rtype == ResourceType::Encounter && held_ids.contains(&p.idh) {
                            held.push(Held::Prepared(p));
                        } else {
                            now.push(p);
                        }
                    }
                    for (_, m) in waiting {
                        held_ids.insert(keyer.id_hash(m.rtype, &m.id));
                        held.push(Held::Place(Box::new(m)));
                    }
                    now
                };
                if let Err(e) = builder.apply(&items) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e.into());
                }
                // Buffers were allocated on the workers: free them off the writer thread.
                let _ = dropper.send(items);
            }
        }
        Ok((total, held))
    }

    /// Run incremental syncs every `interval` and a full one every `full_every`, each
    /// with random jitter, until `cancel` fires. A sync in progress is cancelled too (its
    /// generation is discarded). The first sync runs at once.
    pub async fn run_scheduler(self: Arc<Self>, cancel: CancellationToken) {
        let mut first = true;
        loop {
            if !first {
                let jitter = if self.config.jitter_secs > 0 {
                    rand::random::<u64>() % (self.config.jitter_secs + 1)
                } else {
                    0
                };
                let wait = std::time::Duration::from_secs(self.config.interval_secs + jitter);
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            first = false;
            let status = self.status();
            let full = status.last_full_success.is_none_or(|t| {
                Utc::now() - t >= Duration::seconds(self.config.full_every_secs as i64)
            });
            let engine = self.clone();
            let token = cancel.child_token();
            let run = tokio::task::spawn_blocking(move || engine.sync_now(full, &token));
            if run.await.is_err() {
                tracing::error!("the sync task panicked; the current generation stays in service");
            }
            if cancel.is_cancelled() {
                break;
            }
        }
    }
}

/// Counts by reason, then resource type.
fn by_reason_and_type(
    counts: impl Iterator<Item = (&'static str, String, u64)>,
) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (reason, rtype, n) in counts {
        *out.entry(reason.to_string())
            .or_default()
            .entry(rtype)
            .or_default() += n;
    }
    out
}

/// What administrators may do with the snapshot, and nothing more: its sync status and lock
/// state, "sync now", and list, verify, roll back, promote and pin generations by number. Nothing here
/// reads a patient: the admin pages get this handle, never the [`Store`], the [`Engine`] or a
/// [`SnapshotReader`], so an admin page cannot show patient data unaudited.
#[derive(Debug, Clone)]
pub struct SnapshotControl {
    engine: Arc<Engine>,
}

impl Engine {
    /// The administrators' handle on this engine.
    pub fn control(self: &Arc<Self>) -> SnapshotControl {
        SnapshotControl {
            engine: self.clone(),
        }
    }
}

impl SnapshotControl {
    /// Progress and outcome of syncs, the current generation, the integrity and quarantine
    /// alerts.
    pub fn status(&self) -> SyncStatus {
        self.engine.status()
    }

    /// Whether the encrypted snapshot is locked (its key not in memory); `None` when this
    /// engine serves no reader.
    pub fn is_locked(&self) -> Option<bool> {
        self.engine.reader.as_ref().map(SnapshotReader::is_locked)
    }

    /// Every generation kept, oldest first (counts and times, no patient data).
    pub fn generations(&self) -> Result<Vec<crate::store::GenerationInfo>, StoreError> {
        self.engine.store.list()
    }

    /// The current generation's manifest, if any.
    pub fn current(&self) -> Result<Option<crate::store::Manifest>, StoreError> {
        self.engine.store.current()
    }

    /// One generation's manifest ([`StoreError`] if there is none with that number).
    pub fn manifest(&self, generation: u64) -> Result<crate::store::Manifest, StoreError> {
        self.engine.store.manifest(generation)
    }

    /// Re-checks a generation's items against its manifest ([`Store::verify`]).
    pub fn verify(&self, generation: u64) -> Result<crate::store::VerifyReport, StoreError> {
        self.engine.store.verify(generation)
    }

    /// [`Engine::rollback`].
    pub fn rollback(&self, generation: u64) -> Result<crate::store::Manifest, StoreError> {
        self.engine.rollback(generation)
    }

    /// [`Engine::promote`]: serve a quarantined generation after all.
    pub fn promote(&self, generation: u64) -> Result<crate::store::Manifest, StoreError> {
        self.engine.promote(generation)
    }

    /// Keeps a generation through retention (or lets it go).
    pub fn set_pinned(
        &self,
        generation: u64,
        pinned: bool,
    ) -> Result<crate::store::Manifest, StoreError> {
        self.engine.store.set_pinned(generation, pinned)
    }

    /// [`Engine::sync_now`].
    pub fn sync_now(
        &self,
        full: bool,
        cancel: &CancellationToken,
    ) -> Result<SyncReport, SyncError> {
        self.engine.sync_now(full, cancel)
    }

    /// [`Engine::clear_integrity_alert`].
    pub fn clear_integrity_alert(&self) -> Result<(), SyncError> {
        self.engine.clear_integrity_alert()
    }
}

/// A source that replays a fixed list of changes (tests, benchmarks, and air-gapped
/// transfer already read into memory).
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    pub changes: Arc<Mutex<Vec<Change>>>,
    pub high_water: Option<DateTime<Utc>>,
}

impl MemorySource {
    pub fn new(changes: Vec<Change>) -> Self {
        MemorySource {
            changes: Arc::new(Mutex::new(changes)),
            high_water: None,
        }
    }

    /// Every `*.json` file of `dir` (one resource or Bundle each), in name order: JSON
    /// files carried across an air gap, and conformance sets.
    pub fn from_json_files(dir: &std::path::Path) -> std::io::Result<MemorySource> {
        let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        names.retain(|p| p.extension().is_some_and(|e| e == "json"));
        names.sort();
        let changes = names
            .iter()
            .map(|p| std::fs::read(p).map(Change::Upsert))
            .collect::<Result<_, _>>()?;
        Ok(MemorySource::new(changes))
    }

    pub fn replace(&self, changes: Vec<Change>) {
        *self.changes.lock().unwrap_or_else(|e| e.into_inner()) = changes;
    }
}

impl Source for MemorySource {
    fn describe(&self) -> String {
        "memory".to_string()
    }

    fn data_time(&self) -> Option<DateTime<Utc>> {
        self.high_water
    }

    fn pull(
        &self,
        _kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        let changes = self
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut summary = PullSummary {
            high_water: self.high_water,
            ..PullSummary::default()
        };
        for c in changes {
            if cancel.is_cancelled() {
                return Err(SourceError::Cancelled);
            }
            match &c {
                Change::Upsert(b) => {
                    summary.resources += 1;
                    summary.bytes += b.len() as u64;
                }
                Change::Delete { .. } => summary.deletions += 1,
            }
            sink(c).map_err(|_| SourceError::Stopped)?;
        }
        Ok(summary)
    }
}
