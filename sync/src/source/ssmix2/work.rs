//! What a pull reads for one patient: every current file (full pull), or the keys that
//! changed since the cut-off, found by folder modification times or in the transaction
//! storage's journal (incremental pull); and running that work into changes.

use super::*;

/// An incremental pull's cut-off.
#[derive(Debug, Clone)]
pub(super) struct Since {
    pub(super) time: SystemTime,
    /// The same instant as a 17-digit JST stamp.
    pub(super) stamp: String,
}

/// Choose the current version of each key among `entries`: the newest `_1`. Order data
/// (OMP-01/02) is keyed by order number across dates: an order re-filed under another
/// date replaces the earlier one.
pub(super) fn current_of(entries: &[Entry]) -> Vec<&Entry> {
    let mut best: HashMap<(&str, &str, &str), &Entry> = HashMap::new();
    for e in entries.iter().filter(|e| e.name.flag == Flag::Current) {
        let k = &e.name.key;
        let date = if matches!(k.data_type.as_str(), "OMP-01" | "OMP-02") {
            ""
        } else {
            k.date.as_str()
        };
        let slot = best
            .entry((k.data_type.as_str(), date, k.order.as_str()))
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
    pub(super) fn run(&self, pid: &str, work: Work, r: &mut PatientResult) {
        let mut produced: HashSet<(&'static str, String)> = HashSet::new();
        let mut deletes: Vec<(&'static str, String)> = Vec::new();
        let mut stays: Vec<census::StayEvent> = Vec::new();
        let mut stay_keys: HashSet<Key> = HashSet::new();
        let folder = work.folder.as_ref();
        for (st, e) in &work.current {
            let Some(c) = folder.and_then(|f| self.convert(*st, f, e, false, r)) else {
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
                        r.upsert(&json);
                    }
                    Out::Delete { rtype, id } => deletes.push((rtype, id)),
                }
            }
        }
        if work.stays_changed {
            // The other events of the patient's stays, unchanged, for context.
            if let Some((stay_folder, files)) = self.stay_files(pid, r) {
                for e in files {
                    if stay_keys.contains(&e.name.key) {
                        continue;
                    }
                    if let Some(s) = self
                        .convert(Storage::Standard, &stay_folder, &e, true, r)
                        .and_then(|c| c.stay)
                    {
                        stays.push(s);
                    }
                }
            }
        }
        if !stays.is_empty() || work.stays_changed {
            for e in census::stays(&stays) {
                produced.insert(("Encounter", e.id.clone()));
                r.upsert(&map::encounter_json(pid, &e));
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
            if let Some(c) = folder.and_then(|f| self.convert(*st, f, e, false, &mut scratch)) {
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
            r.changes.push(Pending::Delete {
                resource_type: rtype,
                id,
            });
        }
    }

    /// The patient's standard-storage folder and the current files of its
    /// ADT-22/42/52 keys (all dates).
    pub(super) fn stay_files(
        &self,
        pid: &str,
        r: &mut PatientResult,
    ) -> Option<(Folder, Vec<Entry>)> {
        let folder = self.patient_folder(Storage::Standard, pid, r)?;
        let mut all = Vec::new();
        let Ok(dates) = self.list(&folder) else {
            return None;
        };
        for (date, is_dir) in dates {
            if !is_dir || date == "-" {
                continue;
            }
            for dtype in ["ADT-22", "ADT-42", "ADT-52"] {
                let Ok(type_folder) = folder.open(Path::new(&date).join(dtype)) else {
                    continue;
                };
                if let Ok(files) = self.list(&type_folder) {
                    all.extend(self.entries(
                        Storage::Standard,
                        &type_folder,
                        (pid, &date, dtype),
                        files,
                        None,
                        r,
                    ));
                }
            }
        }
        let current = current_of(&all).into_iter().cloned().collect();
        Some((folder, current))
    }

    /// Full pull work for a patient folder.
    pub(super) fn full_work(
        &self,
        st: Storage,
        folder: Folder,
        rel_pid: &Path,
        pid: &str,
        r: &mut PatientResult,
    ) -> Work {
        let files = self.patient_files(st, &folder, rel_pid, pid, None, r);
        Work {
            current: current_of(&files)
                .into_iter()
                .map(|e| (st, e.clone()))
                .collect(),
            retired: Vec::new(),
            stays_changed: false,
            folder: Some(folder),
        }
    }

    /// Incremental work for the changed entries of some keys (all versions of each key
    /// listed in `entries`).
    pub(super) fn key_work(&self, st: Storage, entries: Vec<Entry>, work: &mut Work) {
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
    #[allow(clippy::too_many_arguments)]
    pub(super) fn walked_work(
        &self,
        st: Storage,
        folder: Folder,
        rel_pid: &Path,
        pid: &str,
        since: &Since,
        r: &mut PatientResult,
        work: &mut Work,
    ) {
        let entries = self.patient_files(st, &folder, rel_pid, pid, Some(since), r);
        self.key_work(st, entries, work);
        work.folder = Some(folder);
    }

    /// Incremental work for journaled keys of one patient.
    pub(super) fn journal_work(
        &self,
        st: Storage,
        pid: &str,
        keys: &BTreeMap<Key, ()>,
        since: &Since,
        r: &mut PatientResult,
        work: &mut Work,
    ) {
        let Some(folder) = self.patient_folder(st, pid, r) else {
            return;
        };
        let mut folders: BTreeMap<(String, String), ()> = BTreeMap::new();
        for k in keys.keys() {
            folders.insert((k.date.clone(), k.data_type.clone()), ());
        }
        let mut entries = Vec::new();
        for (date, dtype) in folders.into_keys() {
            let rel_type = || layout::patient_folder(pid).join(&date).join(&dtype);
            if !self.known_type(st, &dtype, rel_type, r) {
                continue;
            }
            match folder
                .open(Path::new(&date).join(&dtype))
                .and_then(|t| Ok((self.list(&t)?, t)))
            {
                Ok((files, type_folder)) => {
                    let e = self.entries(
                        st,
                        &type_folder,
                        (pid, &date, &dtype),
                        files,
                        Some(since),
                        r,
                    );
                    entries.extend(e.into_iter().filter(|e| keys.contains_key(&e.name.key)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => self.folder_problem(st, &rel_type(), &e, r),
            }
        }
        self.key_work(st, entries, work);
        work.folder = Some(folder);
    }
}
