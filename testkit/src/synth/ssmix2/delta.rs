//! A delta written the way a storage gateway writes one: renamed versions, new versions,
//! deletion messages and their journal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use akari_sync::model::Instant;
use akari_sync::source::ssmix2::layout::{Flag, Key};

use super::messages::messages_of;
use super::segments::stamp;
use super::{file_name, in_blocks, rename, store, JournalOut, Ssmix2Paths, Stored, BLOCK};
use crate::synth::spec::{self, PatientSpec};
use crate::synth::{patient, DeltaConfig, DeltaReport, Rng, SynthConfig};

/// A delta that changes a share of the patients (several items each), as stored.
#[derive(Debug, Clone)]
pub struct Ssmix2Delta {
    pub seed: u64,
    /// Share of patients changed (e.g. 0.01).
    pub patients_share: f64,
    /// Share of a changed patient's items that change.
    pub item_fraction: f64,
    /// When the changes happen (their 発生日時).
    pub at: Instant,
}

impl Ssmix2Delta {
    /// 1 % of the patients, a third of their items each.
    pub fn one_percent(seed: u64, at: Instant) -> Ssmix2Delta {
        Ssmix2Delta {
            seed,
            patients_share: 0.01,
            item_fraction: 0.35,
            at,
        }
    }

    /// Is patient `index` one of the changed ones?
    pub fn selects(&self, index: u64) -> bool {
        Rng::for_patient(self.seed, index, 77).chance(self.patients_share)
    }

    /// Apply this delta to one patient (a no-op for patients it does not select).
    pub fn apply(&self, cfg: &SynthConfig, p: &mut PatientSpec) {
        if !self.selects(p.index) {
            return;
        }
        let d = DeltaConfig {
            seed: self.seed,
            fraction: self.item_fraction,
            at: self.at,
        };
        spec::apply_delta(p, cfg, &d, &mut DeltaReport::default());
    }
}

/// What writing a delta did to the storage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ssmix2DeltaReport {
    /// Files written (new `_1` versions and `_0` deletion messages).
    pub written: u64,
    /// Files renamed (`_1` → `_2` or `_0`).
    pub renamed: u64,
    /// Hospital IDs of the patients whose storage changed.
    pub patients: BTreeSet<String>,
    /// Patients whose admission, transfer or discharge keys changed.
    pub stay_patients: BTreeSet<String>,
}

impl Ssmix2DeltaReport {
    /// Every file whose name or content changed.
    pub fn changed_files(&self) -> u64 {
        self.written + self.renamed
    }
}

/// Apply `delta` to a storage written by [`write_ssmix2_tree`](super::write_ssmix2_tree)
/// for `cfg`: renames, new versions, deletion messages and their journal.
pub fn write_ssmix2_delta(
    cfg: &SynthConfig,
    delta: &Ssmix2Delta,
    dir: &Path,
) -> std::io::Result<Ssmix2DeltaReport> {
    let paths = Ssmix2Paths::under(dir);
    let at_stamp = {
        let mut s = stamp(&delta.at);
        s.replace_range(14.., "500");
        s
    };
    let per_block = in_blocks(cfg.patients, |b| {
        let mut w = DeltaWriter {
            paths: &paths,
            at_stamp: &at_stamp,
            journal: JournalOut::default(),
            report: Ssmix2DeltaReport::default(),
        };
        for i in b * BLOCK..((b + 1) * BLOCK).min(cfg.patients) {
            if !delta.selects(i) {
                continue;
            }
            let before = patient(cfg, i);
            let mut after = before.clone();
            delta.apply(cfg, &mut after);
            w.patient(&before, &after)?;
        }
        if !w.journal.latest.is_empty() {
            w.journal
                .write(&paths, &at_stamp, 50_000 + b, std::time::SystemTime::now())?;
        }
        Ok(w.report)
    })?;
    let mut total = Ssmix2DeltaReport::default();
    for r in per_block {
        total.written += r.written;
        total.renamed += r.renamed;
        total.patients.extend(r.patients);
        total.stay_patients.extend(r.stay_patients);
    }
    Ok(total)
}

/// A delta being written for a block of patients.
struct DeltaWriter<'a> {
    paths: &'a Ssmix2Paths,
    /// The 発生日時 of every file the delta writes.
    at_stamp: &'a str,
    journal: JournalOut,
    report: Ssmix2DeltaReport,
}

impl DeltaWriter<'_> {
    /// Store what changed from `before` to `after`: a changed key's `_1` becomes `_2`
    /// beside a new `_1`, a deleted key's `_1` becomes `_0` beside a deletion message,
    /// a new key gets its `_1`.
    fn patient(&mut self, before: &PatientSpec, after: &PatientSpec) -> std::io::Result<()> {
        let keyed = |v: Vec<Stored>| -> BTreeMap<Key, Stored> {
            v.into_iter().map(|s| (s.key.clone(), s)).collect()
        };
        let old = keyed(messages_of(before, None));
        let new = keyed(messages_of(after, Some(before)));
        let is_stay = |k: &Key| matches!(k.data_type.as_str(), "ADT-22" | "ADT-42" | "ADT-52");
        let mut touched = false;
        for (k, o) in &old {
            match new.get(k) {
                Some(n) if n.text == o.text => continue,
                Some(n) => {
                    rename(self.paths, &file_name(o, Flag::Current), Flag::Superseded)?;
                    self.store_now(n, Flag::Current)?;
                }
                None => {
                    rename(self.paths, &file_name(o, Flag::Current), Flag::Deleted)?;
                    self.store_now(o, Flag::Deleted)?;
                }
            }
            self.report.renamed += 1;
            self.report.written += 1;
            touched = true;
            if is_stay(k) {
                self.report.stay_patients.insert(before.hospital_id.clone());
            }
        }
        for (k, n) in &new {
            if old.contains_key(k) {
                continue;
            }
            self.store_now(n, Flag::Current)?;
            self.report.written += 1;
            touched = true;
            if is_stay(k) {
                self.report.stay_patients.insert(before.hospital_id.clone());
            }
        }
        if touched {
            self.report.patients.insert(before.hospital_id.clone());
        }
        Ok(())
    }

    /// Store a message as happening at the delta's time.
    fn store_now(&mut self, s: &Stored, flag: Flag) -> std::io::Result<()> {
        let mut s = s.clone();
        s.stamp = self.at_stamp.to_string();
        store(self.paths, &mut self.journal, &s, flag)?;
        Ok(())
    }
}
