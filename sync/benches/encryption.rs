//! Encryption-at-rest benchmark:
//!
//! 1. ingest throughput of a full sync with encryption as a ratio to without, same NDJSON
//!    file, same run (plaintext and encrypted syncs alternate; best of `runs` each);
//! 2. unlock time — from `SnapshotReader::unlock` to a searchable index — on the encrypted
//!    stores of (1), and on index-only stores of larger sizes (Patient + in-house
//!    Encounter per patient: every search-index entry a full store would hold, without the
//!    clinical items, which unlock does not touch).
//!
//! Run: `cargo bench -p akari-sync --bench encryption -- 10000 100000 unlock 1000000`
//! (sizes before `unlock`: ingest comparisons; after: index-only unlock stores).
//! Temporary files go under $TMPDIR.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use akari_sync::crypto::{generate, SnapshotSecret};
use akari_sync::engine::{CancellationToken, PullSummary, SinkStopped, Source, SourceError};
use akari_sync::source::{Change, PullKind};
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions};
use chrono::{DateTime, Utc};
use support::{cpu_seconds, NdjsonFile};

/// Generates Patient + in-house Encounter for `n` patients on the fly (no file).
struct IndexOnly {
    n: usize,
    now: DateTime<Utc>,
}

impl Source for IndexOnly {
    fn describe(&self) -> String {
        "bench-index-only".into()
    }

    fn pull(
        &self,
        _: PullKind,
        _: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        let mut s = PullSummary::default();
        for i in 0..self.n {
            for v in [common::patient(i), common::encounter(i, self.now)] {
                let b = serde_json::to_vec(&v).expect("serialises");
                s.bytes += b.len() as u64;
                s.resources += 1;
                sink(Change::Upsert(b)).map_err(|_| SourceError::Stopped)?;
            }
        }
        Ok(s)
    }
}

fn write_ndjson(path: &Path, n: usize, now: DateTime<Utc>) -> u64 {
    let mut w = BufWriter::with_capacity(8 << 20, std::fs::File::create(path).unwrap());
    let mut bytes = 0;
    for v in (0..n).flat_map(|i| common::patient_resources(i, now)) {
        let b = serde_json::to_vec(&v).unwrap();
        bytes += b.len() as u64 + 1;
        w.write_all(&b).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
    bytes
}

fn open_store(path: &Path, encrypted: Option<&SnapshotSecret>) -> Store {
    let _ = std::fs::remove_file(path);
    Store::open(
        path,
        StoreOptions {
            public_key: encrypted.map(SnapshotSecret::public_key),
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

/// Full sync: (wall s, CPU s).
fn full_sync(store: &Store, source: Arc<dyn Source>) -> (f64, f64) {
    let engine = Engine::new(store.clone(), source, Config::default());
    let t = Instant::now();
    let cpu = cpu_seconds();
    let report = engine.sync_now(true, &CancellationToken::new()).unwrap();
    assert!(report.rejects.is_empty(), "{:?}", report.rejects);
    (t.elapsed().as_secs_f64(), cpu_seconds() - cpu)
}

/// Unlock an encrypted store: (wall s to a searchable index, CPU s, read+decrypt s,
/// patients, entries, plaintext MB of the index).
fn unlock(store: &Store, secret: &SnapshotSecret, probe: usize) -> Unlocked {
    let reader = SnapshotReader::open(store.clone(), Default::default()).unwrap();
    assert!(reader.is_locked());
    let t = Instant::now();
    let cpu = cpu_seconds();
    let stats = reader.unlock(secret).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    // Searchable: a hospital ID, a birth date and a name find the patient.
    let hits = reader
        .search(&common::hospital_id(probe))
        .expect("search")
        .1;
    assert_eq!(hits.len(), 1, "patient {probe} found after unlock");
    let born = reader.search(&common::birth_date(probe)).expect("search").1;
    assert!(born.iter().any(|h| h.key == hits[0].key));
    assert!(!reader
        .search(&common::names(probe).0)
        .expect("search")
        .1
        .is_empty());
    reader.lock();
    // The read + decrypt share alone (unwrap the keys, read and open every blob chunk).
    let t = Instant::now();
    let m = store.current().unwrap().unwrap();
    let keys = store.keyring(secret, None).unwrap();
    let blobs = store.read_index(&m, Some(&keys), None).unwrap();
    let read = t.elapsed().as_secs_f64();
    let mb = blobs.plaintext_bytes() as f64 / 1e6;
    drop(blobs);
    Unlocked {
        secs,
        cpu,
        read,
        patients: stats.patients,
        entries: stats.index_entries,
        mb,
    }
}

struct Unlocked {
    secs: f64,
    cpu: f64,
    read: f64,
    patients: usize,
    entries: usize,
    mb: f64,
}

impl Unlocked {
    fn row(&self, n: usize, what: &str) -> String {
        format!(
            "| {n} | {what} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} |",
            self.patients, self.entries, self.mb, self.secs, self.cpu, self.read
        )
    }
}

/// Load average (1, 5, 15 min) as the kernel reports it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "unlock");
    let parse = |v: &[String]| -> Vec<usize> { v.iter().filter_map(|a| a.parse().ok()).collect() };
    let (ingest, index_only) = match split {
        Some(p) => (parse(&args[..p]), parse(&args[p + 1..])),
        None => (parse(&args), Vec::new()),
    };
    let ingest = if ingest.is_empty() && split.is_none() {
        vec![10_000, 100_000]
    } else {
        ingest
    };
    let index_only = if index_only.is_empty() && split.is_none() {
        vec![1_000_000]
    } else {
        index_only
    };
    let tmp = tempfile::tempdir().unwrap();
    let (_, secret) = generate();
    println!("load average at the start: {}", load_average());
    let mut unlocks = Vec::new();

    if !ingest.is_empty() {
        println!("| patients | NDJSON MB | runs | plaintext s (MB/s) | encrypted s (MB/s) | ratio enc/plain (wall) | CPU s plain / enc | ratio (CPU) | file MB plain / enc |");
        println!("|---|---|---|---|---|---|---|---|---|");
    }
    for &n in &ingest {
        let now = Utc::now();
        let file = tmp.path().join(format!("full-{n}.ndjson"));
        let mb = write_ndjson(&file, n, now) as f64 / 1e6;
        let runs = if n <= 20_000 { 3 } else { 1 };
        let plain_db = tmp.path().join(format!("plain-{n}.redb"));
        let enc_db = tmp.path().join(format!("enc-{n}.redb"));
        let (mut best_plain, mut best_enc) = (f64::MAX, f64::MAX);
        let (mut cpu_plain, mut cpu_enc) = (f64::MAX, f64::MAX);
        let (mut plain_mb, mut enc_mb) = (0.0, 0.0);
        for _ in 0..runs {
            let store = open_store(&plain_db, None);
            let (wall, cpu) = full_sync(&store, Arc::new(NdjsonFile::Path(file.clone())));
            best_plain = best_plain.min(wall);
            cpu_plain = cpu_plain.min(cpu);
            drop(store);
            plain_mb = std::fs::metadata(&plain_db).unwrap().len() as f64 / 1e6;
            std::fs::remove_file(&plain_db).unwrap();
            let store = open_store(&enc_db, Some(&secret));
            let (wall, cpu) = full_sync(&store, Arc::new(NdjsonFile::Path(file.clone())));
            best_enc = best_enc.min(wall);
            cpu_enc = cpu_enc.min(cpu);
            drop(store);
            enc_mb = std::fs::metadata(&enc_db).unwrap().len() as f64 / 1e6;
        }
        std::fs::remove_file(&file).unwrap();
        println!(
            "| {n} | {mb:.0} | {runs} | {best_plain:.2} ({:.0}) | {best_enc:.2} ({:.0}) | {:.2} | {cpu_plain:.1} / {cpu_enc:.1} | {:.2} | {plain_mb:.0} / {enc_mb:.0} |",
            mb / best_plain,
            mb / best_enc,
            best_plain / best_enc,
            cpu_plain / cpu_enc
        );
        let store = Store::open(&enc_db, StoreOptions::default()).unwrap();
        let u = unlock(&store, &secret, n / 2);
        unlocks.push(u.row(n, "full records"));
        drop(store);
        std::fs::remove_file(&enc_db).unwrap();
    }
    for &n in &index_only {
        let db = tmp.path().join(format!("index-only-{n}.redb"));
        let store = open_store(&db, Some(&secret));
        let (build, build_cpu) = full_sync(&store, Arc::new(IndexOnly { n, now: Utc::now() }));
        eprintln!(
            "index-only store of {n} patients built in {build:.1} s ({build_cpu:.1} CPU s); load {}",
            load_average()
        );
        let u = unlock(&store, &secret, n / 2);
        unlocks.push(u.row(n, "index only (Patient + Encounter)"));
        drop(store);
        std::fs::remove_file(&db).unwrap();
    }
    println!();
    println!("load average at the end: {}", load_average());
    println!("| patients | store | patients indexed | index entries | index MB | unlock wall s (to searchable) | unlock CPU s | read+decrypt wall s |");
    println!("|---|---|---|---|---|---|---|---|");
    for l in unlocks {
        println!("{l}");
    }
}
