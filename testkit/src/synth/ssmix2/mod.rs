//! The synthetic hospital written as SS-MIX2 standardized storage: the standard storage
//! (HL7 v2.5, ISO-2022-JP, CR segment ends), the extended storage (vital signs as
//! ORU^R30) and both transaction storages (journals). A delta is written the way a
//! storage gateway does it: a changed key's `_1` is renamed `_2` and a new `_1` written;
//! a deleted key's files are renamed `_0` and a deletion message `_0` written; cancels
//! (A11, ORC CA, PRB DE, OBX D, RXA D) and transfers (A02) are messages of their own.
//!
//! What the record keeps but SS-MIX2 has no data type for (alerts/flags and documents)
//! is not written. Half-width kana, which ISO-2022-JP cannot carry, are written
//! full-width (as storage gateways do). Synthetic data only; drug and disease codes are
//! synthetic codes of the right shape.

mod delta;
mod messages;
mod segments;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use akari_sync::source::ssmix2::layout::{self, FileName, Flag, Key};
use akari_sync::source::ssmix2::txn;
use chrono::FixedOffset;

use super::{patient, SynthConfig};
use messages::messages_of;
use segments::MSH_TIME;

pub use delta::{write_ssmix2_delta, Ssmix2Delta, Ssmix2DeltaReport};
pub use segments::{encode_iso2022jp, fullwidth_kana};

/// The four folders of a written storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssmix2Paths {
    pub standard: PathBuf,
    pub extended: PathBuf,
    pub transaction: PathBuf,
    pub extended_transaction: PathBuf,
}

impl Ssmix2Paths {
    /// `<dir>/standard`, `<dir>/extended`, `<dir>/transaction`, `<dir>/extended-transaction`.
    pub fn under(dir: &Path) -> Ssmix2Paths {
        Ssmix2Paths {
            standard: dir.join("standard"),
            extended: dir.join("extended"),
            transaction: dir.join("transaction"),
            extended_transaction: dir.join("extended-transaction"),
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ssmix2Stats {
    pub patients: u64,
    /// Message files written (standard files and extended main documents).
    pub files: u64,
    pub bytes: u64,
    pub per_type: BTreeMap<String, u64>,
}

/// One message as stored: its key, department and text (UTF-8; `\u{1}` stands for the
/// message time, filled in when written).
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    key: Key,
    dept: &'static str,
    stamp: String,
    text: String,
}

const FACILITY: &str = "1318814790";

/// Bytes of a stored message with its time filled in.
fn bytes_of(s: &Stored) -> Vec<u8> {
    let t = &s.stamp[..14];
    encode_iso2022jp(&s.text.replace(MSH_TIME, t))
}

/// Where a stored message lives under the roots.
fn path_of(paths: &Ssmix2Paths, name: &FileName) -> PathBuf {
    let root = if name.key.extended {
        &paths.extended
    } else {
        &paths.standard
    };
    root.join(name.relative_path(&name.name()))
}

fn file_name(s: &Stored, flag: Flag) -> FileName {
    FileName {
        key: s.key.clone(),
        stamp: s.stamp.clone(),
        dept: s.dept.to_string(),
        flag,
    }
}

fn write_file(paths: &Ssmix2Paths, name: &FileName, bytes: &[u8]) -> std::io::Result<()> {
    let path = path_of(paths, name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}

/// Rename a stored version to another flag (the folder for the extended storage).
fn rename(paths: &Ssmix2Paths, name: &FileName, to: Flag) -> std::io::Result<()> {
    let root = if name.key.extended {
        &paths.extended
    } else {
        &paths.standard
    };
    let dir = root.join(name.key.folder());
    let mut renamed = name.clone();
    renamed.flag = to;
    std::fs::rename(dir.join(name.name()), dir.join(renamed.name()))
}

/// A journal being written: records per storage.
#[derive(Default)]
struct JournalOut {
    standard: Vec<u8>,
    extended: Vec<u8>,
    latest: String,
}

impl JournalOut {
    fn add(&mut self, s: &Stored, delete: bool, bytes: &[u8]) {
        let buf = if s.key.extended {
            &mut self.extended
        } else {
            &mut self.standard
        };
        buf.extend_from_slice(txn::header(FACILITY, &s.key, delete, s.dept, &s.stamp).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(bytes);
        buf.extend_from_slice(b"\r\n");
        if s.stamp > self.latest {
            self.latest = s.stamp.clone();
        }
    }

    /// Write `TR_<stamp>_<n>.DAT` in the year folder of `stamp`, dated `when`.
    fn write(
        &self,
        paths: &Ssmix2Paths,
        stamp: &str,
        n: u64,
        when: std::time::SystemTime,
    ) -> std::io::Result<()> {
        for (dir, data) in [
            (&paths.transaction, &self.standard),
            (&paths.extended_transaction, &self.extended),
        ] {
            if data.is_empty() {
                continue;
            }
            let ydir = dir.join(&stamp[..4]);
            std::fs::create_dir_all(&ydir)?;
            let path = ydir.join(format!("TR_{stamp}_{n:05}.DAT"));
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            f.write_all(data)?;
            f.set_modified(when)?;
        }
        Ok(())
    }
}

/// Write a stored message's file with `flag` and journal it (a `_0` as a deletion);
/// its size in bytes.
fn store(
    paths: &Ssmix2Paths,
    journal: &mut JournalOut,
    s: &Stored,
    flag: Flag,
) -> std::io::Result<usize> {
    let bytes = bytes_of(s);
    write_file(paths, &file_name(s, flag), &bytes)?;
    journal.add(s, flag == Flag::Deleted, &bytes);
    Ok(bytes.len())
}

/// Patients rendered per work unit.
const BLOCK: u64 = 256;

fn in_blocks<R: Send>(
    patients: u64,
    work: impl Fn(u64) -> std::io::Result<R> + Sync,
) -> std::io::Result<Vec<R>> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let blocks = patients.div_ceil(BLOCK);
    let next = AtomicU64::new(0);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= blocks {
                    break;
                }
                let r = work(b);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((b, r));
            });
        }
    });
    let mut v = results.into_inner().unwrap_or_else(|e| e.into_inner());
    v.sort_by_key(|(b, _)| *b);
    v.into_iter().map(|(_, r)| r).collect()
}

/// Write the whole hospital as an SS-MIX2 storage under `dir` (see [`Ssmix2Paths`]),
/// streaming patient by patient, with a transaction storage journaling every file.
pub fn write_ssmix2_tree(cfg: &SynthConfig, dir: &Path) -> std::io::Result<Ssmix2Stats> {
    let paths = Ssmix2Paths::under(dir);
    for d in [
        &paths.standard,
        &paths.extended,
        &paths.transaction,
        &paths.extended_transaction,
    ] {
        std::fs::create_dir_all(d)?;
    }
    let per_block = in_blocks(cfg.patients, |b| {
        let mut stats = Ssmix2Stats::default();
        let mut journal = JournalOut::default();
        for i in b * BLOCK..((b + 1) * BLOCK).min(cfg.patients) {
            let p = patient(cfg, i);
            stats.patients += 1;
            for s in messages_of(&p, None) {
                let len = store(&paths, &mut journal, &s, Flag::Current)?;
                stats.files += 1;
                stats.bytes += len as u64;
                *stats.per_type.entry(s.key.data_type.clone()).or_default() += 1;
            }
        }
        // The journal of data stored in the past: named and dated by its last record.
        let when = layout::stamp_time(&journal.latest)
            .and_then(|t| {
                t.and_local_timezone(FixedOffset::east_opt(9 * 3600).expect("offset"))
                    .single()
            })
            .map(std::time::SystemTime::from)
            .unwrap_or_else(std::time::SystemTime::now);
        if !journal.latest.is_empty() {
            journal.write(&paths, &journal.latest, b, when)?;
        }
        Ok(stats)
    })?;
    let mut total = Ssmix2Stats::default();
    for s in per_block {
        total.patients += s.patients;
        total.files += s.files;
        total.bytes += s.bytes;
        for (k, v) in s.per_type {
            *total.per_type.entry(k).or_default() += v;
        }
    }
    Ok(total)
}
