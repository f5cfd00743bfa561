//! SS-MIX2 standardized storage (標準化ストレージ) as a source: the HL7 v2.5 messages a
//! Japanese hospital's EHR files into a folder tree, converted into the same FHIR R4
//! (JP Core) JSON the FHIR sources deliver, so the engine, mapping, generations, guards
//! and search are shared.
//!
//! - [`er7`]: ISO-2022-JP decoding and the ER7 syntax; [`layout`]: the tree, file names,
//!   keys and condition flags; [`map`]: messages → FHIR; [`census`]: admissions,
//!   transfers and discharges → stays; [`txn`]: the transaction storage (journal).
//! - **Full pull**: every patient folder; per key the newest `_1` file is read.
//! - **Incremental pull** since a high-water mark: with a transaction storage, the keys
//!   journaled since then; without one, folders whose modification time is newer
//!   (one `stat` per patient, date and data-type folder, listing only changed ones:
//!   `walked` keeps what the last walk listed; no file is opened unless its folder
//!   changed). For a changed key the new `_1` is read, and
//!   the versions renamed since then (`_2`, `_0`) are read to delete what they produced
//!   that the new one no longer does; a key left without `_1` is deleted.
//! - Problems name the file (relative to its root), the segment and field, and what was
//!   wrong; never patient data. A file that cannot be used is skipped and counted.

pub mod census;
pub mod er7;
pub mod json;
pub mod layout;
pub mod map;
pub mod time;
pub mod txn;

mod folder;
mod read;
mod walked;
mod work;

pub use read::convert_file;
use work::Since;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, Utc};

use super::{Change, PullKind, PullSummary, SinkStopped, Source, SourceError};
use crate::engine::{CancellationToken, SourceProblem, MAX_SOURCE_PROBLEMS};
use er7::{Message, Note, Place};
use folder::Folder;
use layout::{FileName, Flag, Key, Kind};
use map::{Ctx, Out};

/// Where the storage is and how to read it (from `[sync.source]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Standard storage root.
    pub root: PathBuf,
    /// Extended storage root (vital signs).
    pub extended_root: Option<PathBuf>,
    /// Transaction storage of the standard storage.
    pub transaction_dir: Option<PathBuf>,
    /// Transaction storage of the extended storage.
    pub extended_transaction_dir: Option<PathBuf>,
    /// 10-digit institution code for the JP Core hospital patient ID system.
    pub institution: String,
    /// Threads reading and converting files (default [`default_threads`]).
    pub threads: usize,
}

/// Reading threads by default: one per core, at least 8 and at most 16. On a local disk
/// the full pull's folder and file work spreads over the cores; on a network mount (NFS,
/// SMB) each listing, open and read waits for the server, and the threads spend most of
/// their time waiting, so more of them than cores keep more requests in flight. Measured
/// (docs/benchmarks.md): over a mount answering each request after 0.5 ms, 8 threads took
/// half the time of 2; on a local disk with 2 cores, 8 threads were no slower than 2.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(8, |n| n.get().clamp(8, 16))
}

impl Settings {
    pub fn new(root: impl Into<PathBuf>) -> Settings {
        Settings {
            root: root.into(),
            extended_root: None,
            transaction_dir: None,
            extended_transaction_dir: None,
            institution: String::new(),
            threads: default_threads(),
        }
    }
}

/// What the source did, for tests and benchmarks (how much of the tree a pull touched).
#[derive(Debug, Default)]
pub struct Counters {
    /// Message files read because they changed (or, in a full pull, are current).
    pub files_read: AtomicU64,
    /// Unchanged files read for context (the other events of a changed stay).
    pub context_files_read: AtomicU64,
    /// Folders listed.
    pub dirs_listed: AtomicU64,
    /// Folders whose modification time was checked.
    pub dirs_checked: AtomicU64,
    /// Files whose change time was checked (only in changed folders).
    pub files_checked: AtomicU64,
    /// Transaction journal files read.
    pub journal_files_read: AtomicU64,
}

/// A copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValues {
    pub files_read: u64,
    pub context_files_read: u64,
    pub dirs_listed: u64,
    pub dirs_checked: u64,
    pub files_checked: u64,
    pub journal_files_read: u64,
}

impl Counters {
    pub fn take(&self) -> CounterValues {
        let t = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        CounterValues {
            files_read: t(&self.files_read),
            context_files_read: t(&self.context_files_read),
            dirs_listed: t(&self.dirs_listed),
            dirs_checked: t(&self.dirs_checked),
            files_checked: t(&self.files_checked),
            journal_files_read: t(&self.journal_files_read),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// The SS-MIX2 source.
#[derive(Debug)]
pub struct Ssmix2Source {
    s: Settings,
    counters: Arc<Counters>,
    /// What the last walk of each storage found, for the next incremental walk.
    walked: walked::Walked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Storage {
    Standard,
    Extended,
}

/// The result of reading one patient.
#[derive(Default)]
struct PatientResult {
    changes: Vec<Pending>,
    /// The JSON of the upserts, one after the other. The reading thread hands the
    /// patient's resources over in this one buffer, and the thread delivering them
    /// allocates each `Change` itself: allocations freed on the thread that made them
    /// are far cheaper than a million freed across threads.
    json: Vec<u8>,
    problems: Vec<SourceProblem>,
    skipped: u64,
    bytes: u64,
    not_kept: BTreeMap<String, u64>,
}

/// A change of a [`PatientResult`].
enum Pending {
    /// `json[start..end]`.
    Upsert { start: usize, end: usize },
    Delete {
        resource_type: &'static str,
        id: String,
    },
}

impl PatientResult {
    fn upsert(&mut self, json: &[u8]) {
        let start = self.json.len();
        self.json.extend_from_slice(json);
        self.changes.push(Pending::Upsert {
            start,
            end: self.json.len(),
        });
    }
}

/// A file of a patient to read: its parsed name and the name as written.
#[derive(Debug, Clone)]
struct Entry {
    name: FileName,
    raw: String,
    changed: bool,
}

/// The work for one patient.
#[derive(Default)]
struct Work {
    /// Current files to convert.
    current: Vec<(Storage, Entry)>,
    /// Superseded or deleted versions whose resources are deleted unless produced again.
    retired: Vec<(Storage, Entry)>,
    /// An incremental pull touched a stay: re-read the patient's ADT stay events.
    stays_changed: bool,
    /// The patient's folder of the storage the files are in.
    folder: Option<Folder>,
}

/// A converted file.
struct Converted {
    outs: Vec<Out>,
    stay: Option<census::StayEvent>,
}

impl Ssmix2Source {
    pub fn new(s: Settings) -> Ssmix2Source {
        Ssmix2Source {
            s,
            counters: Arc::new(Counters::default()),
            walked: walked::Walked::default(),
        }
    }

    /// The counters of the pulls so far (and reset them).
    pub fn take_counters(&self) -> CounterValues {
        self.counters.take()
    }
}

/// JST, the time of SS-MIX2 file names.
fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

impl Source for Ssmix2Source {
    fn describe(&self) -> String {
        let mut d = format!("ss-mix2 {}", self.s.root.display());
        if let Some(e) = &self.s.extended_root {
            d.push_str(&format!(" (extended {})", e.display()));
        }
        if self.s.transaction_dir.is_some() {
            d.push_str(" with transaction storage");
        }
        d
    }

    fn pull(
        &self,
        kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        if !self.s.root.is_dir() {
            return Err(SourceError::Io {
                detail: format!(
                    "the SS-MIX2 root {} is not a readable folder; check `root` in [sync.source] and that the storage is mounted",
                    self.s.root.display()
                ),
                source: None,
            });
        }
        let since = match kind {
            PullKind::Full => None,
            PullKind::Since(t) => Some(Since {
                time: SystemTime::from(t),
                stamp: layout::stamp_of(t.with_timezone(&jst()).naive_local()),
            }),
        };
        let mut summary = PullSummary::default();
        let plan = self.plan(since.as_ref(), &mut summary)?;
        self.read_in_threads(plan, since.as_ref(), cancel, sink, &mut summary)?;
        if summary.skipped > 0 {
            tracing::warn!(
                skipped = summary.skipped,
                problems = summary.problems.len(),
                "some SS-MIX2 files could not be used; see the sync report"
            );
        }
        Ok(summary)
    }
}

/// What a pull reads: the journaled keys, and which storages' folders are walked.
struct Plan {
    /// Journaled keys, per storage and patient, when a transaction storage is set.
    journaled: BTreeMap<(Storage, String), BTreeMap<Key, ()>>,
    walk_standard: bool,
    walk_extended: bool,
}

/// One patient to read: a patient folder found by walking, or a patient's journaled keys.
enum Job {
    /// The folder holding the patient's folder, the latter's path from the root, the ID.
    Folder(Storage, Arc<Folder>, PathBuf, String),
    Journal(Storage, String, BTreeMap<Key, ()>),
}

impl Ssmix2Source {
    /// The plan of a pull: an incremental pull with a transaction storage reads its
    /// journal (the bytes and problems go to `summary`); the folders of a storage are
    /// walked in a full pull or when it has no transaction storage.
    fn plan(&self, since: Option<&Since>, summary: &mut PullSummary) -> Result<Plan, SourceError> {
        let mut journaled: BTreeMap<(Storage, String), BTreeMap<Key, ()>> = BTreeMap::new();
        if let Some(s) = since {
            for (st, dir) in [
                (Storage::Standard, self.s.transaction_dir.as_ref()),
                (Storage::Extended, self.s.extended_transaction_dir.as_ref()),
            ] {
                let Some(dir) = dir else { continue };
                if self.root(st).is_none() {
                    continue;
                }
                let j = txn::read_since(dir, st == Storage::Extended, &s.stamp, s.time).map_err(|e| {
                    SourceError::io(format!(
                        "cannot read the SS-MIX2 transaction storage at {}: {e}; check `transaction_dir` in [sync.source]",
                        dir.display()
                    ), e)
                })?;
                self.counters
                    .journal_files_read
                    .fetch_add(j.files, Ordering::Relaxed);
                summary.bytes += j.bytes;
                for (file, what) in j.problems {
                    summary.problems.push(SourceProblem {
                        file: format!("transaction:{file}"),
                        place: String::new(),
                        problem: what,
                        skipped: false,
                    });
                }
                for rec in j.records {
                    journaled
                        .entry((st, rec.key.pid.clone()))
                        .or_default()
                        .insert(rec.key, ());
                }
            }
        }
        Ok(Plan {
            journaled,
            walk_standard: since.is_none() || self.s.transaction_dir.is_none(),
            walk_extended: self.s.extended_root.is_some()
                && (since.is_none() || self.s.extended_transaction_dir.is_none()),
        })
    }

    /// Run a plan: one thread lists the patients to read, `threads` read them, and the
    /// results are folded into `summary` and delivered to `sink` as they come. Patients
    /// travel between the threads in batches (a patient takes well under a millisecond:
    /// handing each over alone would spend much of that waking threads).
    fn read_in_threads(
        &self,
        plan: Plan,
        since: Option<&Since>,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
        summary: &mut PullSummary,
    ) -> Result<(), SourceError> {
        let threads = self.s.threads.clamp(1, 16);
        let (job_tx, job_rx) = sync_channel::<Vec<Job>>(threads * 2);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx) = sync_channel::<Vec<PatientResult>>(threads * 2);
        let stop = AtomicBool::new(false);
        let walks = plan.walk_standard || plan.walk_extended;
        let result = std::thread::scope(|scope| -> Result<(), SourceError> {
            let stop = &stop;
            let producer = scope.spawn(move || self.produce(plan, stop, cancel, job_tx));
            for _ in 0..threads {
                let rx = job_rx.clone();
                let tx = res_tx.clone();
                let worker = move || loop {
                    let jobs = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(jobs) = jobs else { break };
                    if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                        continue;
                    }
                    let results = jobs
                        .into_iter()
                        .map(|job| self.read_patient(job, since))
                        .collect();
                    if tx.send(results).is_err() {
                        break;
                    }
                };
                std::thread::Builder::new()
                    .name("ss-mix2 read".into())
                    .spawn_scoped(scope, worker)
                    .map_err(|e| {
                        SourceError::io(format!("cannot start a reading thread: {e}"), e)
                    })?;
            }
            drop(res_tx);
            let mut delivered: Result<(), SourceError> = Ok(());
            for r in res_rx.into_iter().flatten() {
                if delivered.is_err() {
                    continue;
                }
                if fold(summary, r, sink).is_err() {
                    stop.store(true, Ordering::Relaxed);
                    delivered = Err(SourceError::Stopped);
                }
            }
            let produced = producer.join().map_err(|_| SourceError::Io {
                detail: "the SS-MIX2 folder walk panicked".into(),
                source: None,
            })?;
            delivered?;
            if cancel.is_cancelled() {
                return Err(SourceError::Cancelled);
            }
            produced
        });
        if walks {
            self.walked.finish(result.is_ok());
        }
        result
    }

    /// Send the plan's jobs: the journaled patients, then the patient folders of the
    /// storages walked; stop early when the readers stop.
    fn produce(
        &self,
        plan: Plan,
        stop: &AtomicBool,
        cancel: &CancellationToken,
        job_tx: SyncSender<Vec<Job>>,
    ) -> Result<(), SourceError> {
        let mut batch = Batch {
            jobs: Vec::new(),
            tx: job_tx,
            stop,
        };
        for ((st, pid), keys) in plan.journaled {
            if !batch.push(Job::Journal(st, pid, keys)) {
                return Ok(());
            }
        }
        for (st, walk) in [
            (Storage::Standard, plan.walk_standard),
            (Storage::Extended, plan.walk_extended),
        ] {
            if !walk {
                continue;
            }
            self.patient_folders(st, cancel, |parent, rel, pid| {
                batch.push(Job::Folder(st, parent.clone(), rel, pid))
            })?;
        }
        batch.flush();
        Ok(())
    }

    /// Read one patient: find its work (every current file, or what changed since the
    /// cut-off) and run it into changes.
    fn read_patient(&self, job: Job, since: Option<&Since>) -> PatientResult {
        let mut r = PatientResult::default();
        let mut work = Work::default();
        let pid = match job {
            Job::Folder(st, parent, rel, pid) => {
                match parent.open(&pid) {
                    Ok(folder) => match since {
                        None => work = self.full_work(st, folder, &rel, &pid, &mut r),
                        Some(s) => self.walked_work(st, folder, &rel, &pid, s, &mut r, &mut work),
                    },
                    Err(e) => self.folder_problem(st, &rel, &e, &mut r),
                }
                pid
            }
            Job::Journal(st, pid, keys) => {
                if let Some(s) = since {
                    self.journal_work(st, &pid, &keys, s, &mut r, &mut work);
                }
                pid
            }
        };
        self.run(&pid, work, &mut r);
        r
    }
}

/// Patients per batch handed to a reading thread.
const BATCH: usize = 32;

/// The batch of jobs being filled.
struct Batch<'a> {
    jobs: Vec<Job>,
    tx: SyncSender<Vec<Job>>,
    stop: &'a AtomicBool,
}

impl Batch<'_> {
    /// Add a job (sending the batch when full); `false` when the readers stopped.
    fn push(&mut self, job: Job) -> bool {
        self.jobs.push(job);
        self.jobs.len() < BATCH || self.flush()
    }

    fn flush(&mut self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        let jobs = std::mem::take(&mut self.jobs);
        jobs.is_empty() || self.tx.send(jobs).is_ok()
    }
}

/// Fold one patient's result into the summary and deliver its changes; the sink
/// stopping ends the delivery (what was counted stays counted).
fn fold(
    summary: &mut PullSummary,
    r: PatientResult,
    sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
) -> Result<(), SinkStopped> {
    summary.bytes += r.bytes;
    summary.skipped += r.skipped;
    for (k, v) in r.not_kept {
        *summary.not_kept.entry(k).or_default() += v;
    }
    for p in r.problems {
        if summary.problems.len() < MAX_SOURCE_PROBLEMS {
            summary.problems.push(p);
        }
    }
    for c in r.changes {
        let c = match c {
            Pending::Upsert { start, end } => {
                summary.resources += 1;
                Change::Upsert(r.json[start..end].to_vec())
            }
            Pending::Delete { resource_type, id } => {
                summary.deletions += 1;
                Change::Delete {
                    resource_type: resource_type.to_string(),
                    id,
                }
            }
        };
        sink(c)?;
    }
    Ok(())
}

/// The high-water mark as a 17-digit JST stamp (for tests and tools).
pub fn stamp_of_utc(t: DateTime<Utc>) -> String {
    layout::stamp_of(t.with_timezone(&jst()).naive_local())
}
