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
//!   (one `stat` per data-type folder, one listing per patient and date folder; no file
//!   is opened unless its folder changed). For a changed key the new `_1` is read, and
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, Utc};

use super::{Change, PullKind, PullSummary, SinkStopped, Source, SourceError};
use crate::engine::{CancellationToken, SourceProblem, MAX_SOURCE_PROBLEMS};
use er7::{Message, Note, Place};
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
    /// Threads reading and converting files.
    pub threads: usize,
}

impl Settings {
    pub fn new(root: impl Into<PathBuf>) -> Settings {
        Settings {
            root: root.into(),
            extended_root: None,
            transaction_dir: None,
            extended_transaction_dir: None,
            institution: String::new(),
            threads: 2,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Storage {
    Standard,
    Extended,
}

/// The result of reading one patient.
#[derive(Default)]
struct PatientResult {
    changes: Vec<Change>,
    problems: Vec<SourceProblem>,
    skipped: u64,
    bytes: u64,
    not_kept: BTreeMap<String, u64>,
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
        }
    }

    /// The counters of the pulls so far (and reset them).
    pub fn take_counters(&self) -> CounterValues {
        self.counters.take()
    }

    fn root(&self, st: Storage) -> Option<&Path> {
        match st {
            Storage::Standard => Some(&self.s.root),
            Storage::Extended => self.s.extended_root.as_deref(),
        }
    }

    fn label(st: Storage, rel: &Path) -> String {
        let p = rel.to_string_lossy();
        match st {
            Storage::Standard => p.into_owned(),
            Storage::Extended => format!("extended:{p}"),
        }
    }

    fn list(&self, dir: &Path) -> std::io::Result<Vec<(String, bool)>> {
        bump(&self.counters.dirs_listed);
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let is_dir = e.file_type()?.is_dir();
            out.push((e.file_name().to_string_lossy().into_owned(), is_dir));
        }
        out.sort();
        Ok(out)
    }

    /// Patient folders of a storage, `<a>/<b>/<pid>` relative to its root.
    fn patient_folders(
        &self,
        st: Storage,
        cancel: &CancellationToken,
        mut f: impl FnMut(PathBuf, String) -> bool,
    ) -> Result<(), SourceError> {
        let Some(root) = self.root(st) else {
            return Ok(());
        };
        let top = self.list(root).map_err(|e| {
            SourceError::io(format!(
                "cannot read the SS-MIX2 {} storage at {}: {e}; check [sync.source] and that the storage is mounted",
                if st == Storage::Standard { "standard" } else { "extended" },
                root.display()
            ), e)
        })?;
        for (a, is_dir) in top {
            if !is_dir || a.starts_with('.') {
                continue;
            }
            let Ok(second) = self.list(&root.join(&a)) else {
                continue;
            };
            for (b, is_dir) in second {
                if !is_dir {
                    continue;
                }
                let Ok(third) = self.list(&root.join(&a).join(&b)) else {
                    continue;
                };
                for (pid, is_dir) in third {
                    if cancel.is_cancelled() {
                        return Err(SourceError::Cancelled);
                    }
                    if is_dir && !f(PathBuf::from(&a).join(&b).join(&pid), pid) {
                        return Err(SourceError::Stopped);
                    }
                }
            }
        }
        Ok(())
    }

    /// Every file of one patient folder: (file, folder problems).
    fn patient_files(
        &self,
        st: Storage,
        rel_pid: &Path,
        pid: &str,
        r: &mut PatientResult,
    ) -> Vec<Entry> {
        let Some(root) = self.root(st) else {
            return vec![];
        };
        let mut out = Vec::new();
        let dates = match self.list(&root.join(rel_pid)) {
            Ok(d) => d,
            Err(e) => {
                self.folder_problem(st, rel_pid, &e, r);
                return out;
            }
        };
        for (date, is_dir) in dates {
            if !is_dir {
                continue;
            }
            let rel_date = rel_pid.join(&date);
            let types = match self.list(&root.join(&rel_date)) {
                Ok(t) => t,
                Err(e) => {
                    self.folder_problem(st, &rel_date, &e, r);
                    continue;
                }
            };
            for (dtype, is_dir) in types {
                if !is_dir {
                    continue;
                }
                let rel_type = rel_date.join(&dtype);
                if !self.known_type(st, &dtype, &rel_type, r) {
                    continue;
                }
                match self.list(&root.join(&rel_type)) {
                    Ok(files) => {
                        out.extend(self.entries(st, &rel_type, pid, &date, &dtype, files, None, r))
                    }
                    Err(e) => self.folder_problem(st, &rel_type, &e, r),
                }
            }
        }
        out
    }

    fn known_type(&self, st: Storage, dtype: &str, rel_type: &Path, r: &mut PatientResult) -> bool {
        match layout::kind_of(dtype, st == Storage::Extended) {
            None => {
                r.skipped += 1;
                push_problem(
                    r,
                    SourceProblem {
                        file: Self::label(st, rel_type),
                        place: String::new(),
                        problem: "unknown data type folder (not an SS-MIX2 data type); its files were not read".into(),
                        skipped: true,
                    },
                );
                false
            }
            Some(Kind::NotKept) => {
                *r.not_kept
                    .entry(format!(
                        "ss-mix2 {}",
                        if st == Storage::Extended {
                            "extended"
                        } else {
                            dtype
                        }
                    ))
                    .or_default() += 1;
                false
            }
            Some(_) => true,
        }
    }

    fn folder_problem(&self, st: Storage, rel: &Path, e: &std::io::Error, r: &mut PatientResult) {
        r.skipped += 1;
        push_problem(
            r,
            SourceProblem {
                file: Self::label(st, rel),
                place: String::new(),
                problem: format!("cannot list the folder: {}", e.kind()),
                skipped: true,
            },
        );
    }

    /// Parse the names in a data type folder; names that do not fit are problems.
    /// `since`: mark files changed at or after it (by 発生日時 or change time).
    #[allow(clippy::too_many_arguments)]
    fn entries(
        &self,
        st: Storage,
        rel_type: &Path,
        pid: &str,
        date: &str,
        dtype: &str,
        files: Vec<(String, bool)>,
        since: Option<&Since>,
        r: &mut PatientResult,
    ) -> Vec<Entry> {
        let root = self.root(st).unwrap_or(Path::new(""));
        let extended = st == Storage::Extended;
        let mut out = Vec::new();
        for (raw, is_dir) in files {
            if raw.starts_with('.') || is_dir != extended {
                continue;
            }
            let name = match FileName::parse(&raw, extended) {
                Ok(n) => n,
                Err(why) => {
                    r.skipped += 1;
                    push_problem(
                        r,
                        SourceProblem {
                            file: Self::label(st, &rel_type.join(&raw)),
                            place: String::new(),
                            problem: format!("file name does not parse: {why}"),
                            skipped: true,
                        },
                    );
                    continue;
                }
            };
            if name.key.pid != pid || name.key.date != date || name.key.data_type != dtype {
                r.skipped += 1;
                push_problem(
                    r,
                    SourceProblem {
                        file: Self::label(st, &rel_type.join(&raw)),
                        place: String::new(),
                        problem: "the file name's patient ID, date or data type differs from the folder it is in".into(),
                        skipped: true,
                    },
                );
                continue;
            }
            let changed = match since {
                None => true,
                Some(s) => {
                    name.stamp.as_str() >= s.stamp.as_str() || {
                        bump(&self.counters.files_checked);
                        std::fs::symlink_metadata(root.join(rel_type).join(&raw))
                            .map(|m| changed_at(&m) >= s.time)
                            .unwrap_or(true)
                    }
                }
            };
            out.push(Entry { name, raw, changed });
        }
        out
    }

    /// Convert one file. Problems go to `r`; `None` if the file was skipped.
    fn convert(
        &self,
        st: Storage,
        e: &Entry,
        context: bool,
        r: &mut PatientResult,
    ) -> Option<Converted> {
        let root = self.root(st)?;
        let rel = e.name.relative_path(&e.raw);
        let label = Self::label(st, &rel);
        let counter = if context {
            &self.counters.context_files_read
        } else {
            &self.counters.files_read
        };
        bump(counter);
        let bytes = match std::fs::read(root.join(&rel)) {
            Ok(b) => b,
            Err(err) => {
                r.skipped += 1;
                push_problem(
                    r,
                    SourceProblem {
                        file: label,
                        place: String::new(),
                        problem: format!("cannot read the file: {}", err.kind()),
                        skipped: true,
                    },
                );
                return None;
            }
        };
        r.bytes += bytes.len() as u64;
        let mut notes = Vec::new();
        let result = self.convert_bytes(&bytes, &e.name, &mut notes);
        for n in notes {
            push_problem(
                r,
                SourceProblem {
                    file: label.clone(),
                    place: n.place.to_string(),
                    problem: n.what,
                    skipped: false,
                },
            );
        }
        if let Err(n) = &result {
            r.skipped += 1;
            push_problem(
                r,
                SourceProblem {
                    file: label,
                    place: n.place.to_string(),
                    problem: n.what.clone(),
                    skipped: true,
                },
            );
        }
        result.ok()
    }

    fn convert_bytes(
        &self,
        bytes: &[u8],
        name: &FileName,
        notes: &mut Vec<Note>,
    ) -> Result<Converted, Note> {
        convert_message(bytes, name, &self.s.institution, notes)
    }
}

/// Convert one stored message (its bytes and its parsed file name) into FHIR resources,
/// or say why the file cannot be used. Warnings go to `notes`.
pub fn convert_file(
    bytes: &[u8],
    name: &FileName,
    institution: &str,
    notes: &mut Vec<Note>,
) -> Result<(Vec<Out>, Option<census::StayEvent>), Note> {
    convert_message(bytes, name, institution, notes).map(|c| (c.outs, c.stay))
}

fn convert_message(
    bytes: &[u8],
    name: &FileName,
    institution: &str,
    notes: &mut Vec<Note>,
) -> Result<Converted, Note> {
    if bytes.is_empty() {
        return Err(Note::new(Place::none(), "the file is empty"));
    }
    let (text, _) = er7::decode(bytes, notes);
    let msg = Message::parse(&text, notes).map_err(|e| e.0)?;
    let kind = layout::kind_of(&name.key.data_type, name.key.extended)
        .ok_or_else(|| Note::new(Place::none(), "unknown data type"))?;
    let (_, event) = map::check_message_type(&msg, &name.key.data_type)?;
    map::check_patient(&msg, &name.key.pid)?;
    let mut outs = Vec::new();
    let mut stay = None;
    {
        let mut cx = Ctx {
            name,
            institution,
            notes,
            out: &mut outs,
        };
        match kind {
            Kind::Patient => map::patient(&msg, &event, &mut cx)?,
            Kind::Visit => map::visit(&msg, &event, &mut cx)?,
            Kind::Allergies => map::allergies(&msg, &mut cx)?,
            Kind::Problems => map::problems(&msg, &mut cx)?,
            Kind::Orders => map::orders(&msg, &mut cx)?,
            Kind::Administrations => map::administrations(&msg, &mut cx)?,
            Kind::LabResults => map::lab_results(&msg, &mut cx)?,
            Kind::Vitals => map::vitals(&msg, &mut cx)?,
            Kind::Stay => stay = Some(census::read_event(&msg, name, &event, cx.notes)?),
            Kind::NotKept => {}
        }
    }
    Ok(Converted { outs, stay })
}

fn push_problem(r: &mut PatientResult, p: SourceProblem) {
    if r.problems.len() < MAX_SOURCE_PROBLEMS {
        r.problems.push(p);
    }
}

/// An incremental pull's cut-off.
#[derive(Debug, Clone)]
struct Since {
    time: SystemTime,
    /// The same instant as a 17-digit JST stamp.
    stamp: String,
}

fn changed_at(m: &std::fs::Metadata) -> SystemTime {
    use std::os::unix::fs::MetadataExt;
    let ctime = SystemTime::UNIX_EPOCH
        + std::time::Duration::new(
            m.ctime().max(0) as u64,
            m.ctime_nsec().clamp(0, 999_999_999) as u32,
        );
    let mtime = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    ctime.max(mtime)
}

/// Choose the current version of each key among `entries`: the newest `_1`. Order data
/// (OMP-01/02) is keyed by order number across dates: an order re-filed under another
/// date replaces the earlier one.
fn current_of(entries: &[Entry]) -> Vec<&Entry> {
    let mut best: HashMap<(String, String, String), &Entry> = HashMap::new();
    for e in entries.iter().filter(|e| e.name.flag == Flag::Current) {
        let k = &e.name.key;
        let date = if matches!(k.data_type.as_str(), "OMP-01" | "OMP-02") {
            String::new()
        } else {
            k.date.clone()
        };
        let slot = best
            .entry((k.data_type.clone(), date, k.order.clone()))
            .or_insert(e);
        if e.name.stamp > slot.name.stamp {
            *slot = e;
        }
    }
    let mut v: Vec<&Entry> = best.into_values().collect();
    v.sort_by(|a, b| a.raw.cmp(&b.raw));
    v
}

impl Ssmix2Source {
    /// Read and convert a patient's work, emitting upserts, then deletions of what
    /// retired versions produced and the current ones no longer do.
    fn run(&self, pid: &str, work: Work, r: &mut PatientResult) {
        let mut produced: HashSet<(&'static str, String)> = HashSet::new();
        let mut deletes: Vec<(&'static str, String)> = Vec::new();
        let mut stays: Vec<census::StayEvent> = Vec::new();
        let mut stay_keys: HashSet<Key> = HashSet::new();
        for (st, e) in &work.current {
            let Some(c) = self.convert(*st, e, false, r) else {
                continue;
            };
            if let Some(s) = c.stay {
                stay_keys.insert(s.key.clone());
                stays.push(s);
            }
            for o in c.outs {
                match o {
                    Out::Upsert { rtype, id, json } => {
                        produced.insert((rtype, id));
                        r.changes.push(Change::Upsert(json));
                    }
                    Out::Delete { rtype, id } => deletes.push((rtype, id)),
                }
            }
        }
        if work.stays_changed {
            // The other events of the patient's stays, unchanged, for context.
            for e in self.stay_files(pid, r) {
                if stay_keys.contains(&e.name.key) {
                    continue;
                }
                if let Some(s) = self
                    .convert(Storage::Standard, &e, true, r)
                    .and_then(|c| c.stay)
                {
                    stays.push(s);
                }
            }
        }
        if !stays.is_empty() || work.stays_changed {
            for e in census::stays(&stays) {
                produced.insert(("Encounter", e.id.clone()));
                r.changes.push(Change::Upsert(map::encounter_json(pid, &e)));
            }
        }
        for (st, e) in &work.retired {
            // A stay's encounter is named by its admission key: no need to read.
            if e.name.key.data_type == "ADT-22" {
                deletes.push(("Encounter", census::stay_id(&e.name.key)));
                continue;
            }
            if e.name.key.data_type == "ADT-42" || e.name.key.data_type == "ADT-52" {
                continue;
            }
            let mut scratch = PatientResult::default();
            if let Some(c) = self.convert(*st, e, false, &mut scratch) {
                for o in c.outs {
                    let (rtype, id) = o.id();
                    deletes.push((rtype, id.to_string()));
                }
            }
            r.bytes += scratch.bytes;
        }
        let mut seen = HashSet::new();
        for (rtype, id) in deletes {
            if produced.contains(&(rtype, id.clone())) || !seen.insert((rtype, id.clone())) {
                continue;
            }
            r.changes.push(Change::Delete {
                resource_type: rtype.to_string(),
                id,
            });
        }
    }

    /// The current files of a patient's ADT-22/42/52 keys (all dates).
    fn stay_files(&self, pid: &str, r: &mut PatientResult) -> Vec<Entry> {
        let rel_pid = layout::patient_folder(pid);
        let root = &self.s.root;
        let mut all = Vec::new();
        let Ok(dates) = self.list(&root.join(&rel_pid)) else {
            return all;
        };
        for (date, is_dir) in dates {
            if !is_dir || date == "-" {
                continue;
            }
            for dtype in ["ADT-22", "ADT-42", "ADT-52"] {
                let rel = rel_pid.join(&date).join(dtype);
                let dir = root.join(&rel);
                if !dir.is_dir() {
                    continue;
                }
                if let Ok(files) = self.list(&dir) {
                    all.extend(self.entries(
                        Storage::Standard,
                        &rel,
                        pid,
                        &date,
                        dtype,
                        files,
                        None,
                        r,
                    ));
                }
            }
        }
        current_of(&all).into_iter().cloned().collect()
    }

    /// Full pull work for a patient folder.
    fn full_work(&self, st: Storage, rel_pid: &Path, pid: &str, r: &mut PatientResult) -> Work {
        let files = self.patient_files(st, rel_pid, pid, r);
        Work {
            current: current_of(&files)
                .into_iter()
                .map(|e| (st, e.clone()))
                .collect(),
            retired: Vec::new(),
            stays_changed: false,
        }
    }

    /// Incremental work for the changed entries of some keys (all versions of each key
    /// listed in `entries`).
    fn key_work(&self, st: Storage, entries: Vec<Entry>, work: &mut Work) {
        let mut by_key: BTreeMap<Key, Vec<Entry>> = BTreeMap::new();
        for e in entries {
            by_key.entry(e.name.key.clone()).or_default().push(e);
        }
        for (key, versions) in by_key {
            if !versions.iter().any(|e| e.changed) {
                continue;
            }
            if matches!(key.data_type.as_str(), "ADT-22" | "ADT-42" | "ADT-52") {
                work.stays_changed = true;
            }
            let current = current_of(&versions).into_iter().next().cloned();
            for e in &versions {
                if current.as_ref().is_some_and(|c| c.raw == e.raw) {
                    continue;
                }
                if e.changed {
                    work.retired.push((st, e.clone()));
                }
            }
            if let Some(c) = current {
                if matches!(key.data_type.as_str(), "ADT-22" | "ADT-42" | "ADT-52") {
                    // Re-read with the patient's other stay events below.
                    work.current.push((st, c));
                } else if c.changed || work.retired.iter().any(|(_, r)| r.name.key == key) {
                    work.current.push((st, c));
                }
            }
        }
    }

    /// Incremental work of one patient found by walking its folders' modification times.
    fn walked_work(
        &self,
        st: Storage,
        rel_pid: &Path,
        pid: &str,
        since: &Since,
        r: &mut PatientResult,
        work: &mut Work,
    ) {
        let Some(root) = self.root(st) else { return };
        let dates = match self.list(&root.join(rel_pid)) {
            Ok(d) => d,
            Err(e) => return self.folder_problem(st, rel_pid, &e, r),
        };
        let mut entries = Vec::new();
        for (date, is_dir) in dates {
            if !is_dir {
                continue;
            }
            let rel_date = rel_pid.join(&date);
            let types = match self.list(&root.join(&rel_date)) {
                Ok(t) => t,
                Err(e) => {
                    self.folder_problem(st, &rel_date, &e, r);
                    continue;
                }
            };
            for (dtype, is_dir) in types {
                if !is_dir {
                    continue;
                }
                let rel_type = rel_date.join(&dtype);
                bump(&self.counters.dirs_checked);
                let changed = std::fs::metadata(root.join(&rel_type))
                    .map(|m| changed_at(&m) >= since.time)
                    .unwrap_or(true);
                if !changed || !self.known_type(st, &dtype, &rel_type, r) {
                    continue;
                }
                match self.list(&root.join(&rel_type)) {
                    Ok(files) => entries.extend(self.entries(
                        st,
                        &rel_type,
                        pid,
                        &date,
                        &dtype,
                        files,
                        Some(since),
                        r,
                    )),
                    Err(e) => self.folder_problem(st, &rel_type, &e, r),
                }
            }
        }
        self.key_work(st, entries, work);
    }

    /// Incremental work for journaled keys of one patient.
    fn journal_work(
        &self,
        st: Storage,
        pid: &str,
        keys: &BTreeMap<Key, ()>,
        since: &Since,
        r: &mut PatientResult,
        work: &mut Work,
    ) {
        let Some(root) = self.root(st) else { return };
        let mut folders: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
        for k in keys.keys() {
            folders.insert(k.folder(), (k.date.clone(), k.data_type.clone()));
        }
        let mut entries = Vec::new();
        for (rel_type, (date, dtype)) in folders {
            if !self.known_type(st, &dtype, &rel_type, r) {
                continue;
            }
            match self.list(&root.join(&rel_type)) {
                Ok(files) => {
                    let e = self.entries(st, &rel_type, pid, &date, &dtype, files, Some(since), r);
                    entries.extend(e.into_iter().filter(|e| keys.contains_key(&e.name.key)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => self.folder_problem(st, &rel_type, &e, r),
            }
        }
        self.key_work(st, entries, work);
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
        // Journaled keys, per storage and patient, when a transaction storage is set.
        let mut journaled: BTreeMap<(Storage, String), BTreeMap<Key, ()>> = BTreeMap::new();
        let mut journal_problems = Vec::new();
        let mut journal_bytes = 0u64;
        if let Some(s) = &since {
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
                journal_bytes += j.bytes;
                for (file, what) in j.problems {
                    journal_problems.push(SourceProblem {
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
        let walk_standard = since.is_none() || self.s.transaction_dir.is_none();
        let walk_extended = self.s.extended_root.is_some()
            && (since.is_none() || self.s.extended_transaction_dir.is_none());

        enum Job {
            Folder(Storage, PathBuf, String),
            Journal(Storage, String, BTreeMap<Key, ()>),
        }
        let threads = self.s.threads.clamp(1, 16);
        let (job_tx, job_rx) = sync_channel::<Job>(threads * 8);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx) = sync_channel::<PatientResult>(threads * 2);
        let stop = AtomicBool::new(false);
        let mut summary = PullSummary {
            bytes: journal_bytes,
            problems: journal_problems,
            ..PullSummary::default()
        };
        let outcome = std::thread::scope(|scope| -> Result<(), SourceError> {
            let stop = &stop;
            let since = &since;
            let producer = scope.spawn(move || -> Result<(), SourceError> {
                for ((st, pid), keys) in journaled {
                    if stop.load(Ordering::Relaxed)
                        || job_tx.send(Job::Journal(st, pid, keys)).is_err()
                    {
                        return Ok(());
                    }
                }
                for (st, walk) in [
                    (Storage::Standard, walk_standard),
                    (Storage::Extended, walk_extended),
                ] {
                    if !walk {
                        continue;
                    }
                    self.patient_folders(st, cancel, |rel, pid| {
                        !stop.load(Ordering::Relaxed)
                            && job_tx.send(Job::Folder(st, rel, pid)).is_ok()
                    })?;
                }
                Ok(())
            });
            for _ in 0..threads {
                let rx = job_rx.clone();
                let tx = res_tx.clone();
                let worker = move || loop {
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(job) = job else { break };
                    if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                        continue;
                    }
                    let mut r = PatientResult::default();
                    let mut work = Work::default();
                    let pid = match job {
                        Job::Folder(st, rel, pid) => {
                            match since {
                                None => work = self.full_work(st, &rel, &pid, &mut r),
                                Some(s) => self.walked_work(st, &rel, &pid, s, &mut r, &mut work),
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
                    if tx.send(r).is_err() {
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
            for r in res_rx {
                if delivered.is_err() {
                    continue;
                }
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
                    match &c {
                        Change::Upsert(_) => summary.resources += 1,
                        Change::Delete { .. } => summary.deletions += 1,
                    }
                    if sink(c).is_err() {
                        stop.store(true, Ordering::Relaxed);
                        delivered = Err(SourceError::Stopped);
                        break;
                    }
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
        outcome?;
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

/// The high-water mark as a 17-digit JST stamp (for tests and tools).
pub fn stamp_of_utc(t: DateTime<Utc>) -> String {
    layout::stamp_of(t.with_timezone(&jst()).naive_local())
}
