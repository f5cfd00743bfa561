//! Ingest benchmark: full sync of N synthetic patients from an NDJSON file (MB/s and
//! patients/s, end to end: read, parse, map, encode, hash, write, verify, commit), then
//! incremental syncs of a 1 % and a 0.1 % delta.
//!
//! Run: `cargo bench -p akari-sync --bench ingest -- 10000 100000`
//! (sizes optional; default 10000 and 100000). Temporary files go under $TMPDIR; each
//! size's snapshot is removed before the next. `AKARI_BENCH_MEMORY_BUDGET_MIB` sets the
//! full sync's memory budget (`[sync] memory_budget_mib`, default 512). Each sync's peak
//! RSS is the process's peak from just before it (VmHWM reset); an incremental sync's is
//! shown beside the RSS the process held when it started (the search index the reader
//! serves from, what the allocator kept of the full sync), so its own growth is the
//! difference.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use akari_sync::engine::CancellationToken;
use akari_sync::{Config, Engine, Store, StoreOptions};
use chrono::Utc;
use serde_json::json;
use support::{cpu_seconds, NdjsonFile};

/// A memory figure of this process from /proc/self/status (`VmHWM`: the peak resident
/// memory since the start or the last [`reset_peak_rss`]; `VmRSS`: resident now), in MB.
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Peak resident memory of this process (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    status_mb("VmHWM")
}

/// Start a new peak: VmHWM becomes VmRSS (Linux: writing 5 to clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The machine's 1-minute load average (other processes compete for the same cores).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// What each table of the snapshot file takes (after the incremental syncs): rows, the
/// bytes of keys and values, the B-tree's own pages and the unused room in pages.
fn table_sizes(n: usize, path: &Path) -> String {
    use redb::{ReadableDatabase, ReadableTableMetadata, TableHandle};
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let mut out = String::new();
    let mb = |b: u64| b as f64 / 1e6;
    for handle in txn.list_tables().unwrap() {
        let name = handle.name().to_string();
        let table = txn.open_untyped_table(handle).unwrap();
        let s = table.stats().unwrap();
        out.push_str(&format!(
            "| {n} | {name} | {} | {:.1} | {:.1} | {:.1} |\n",
            table.len().unwrap(),
            mb(s.stored_bytes()),
            mb(s.metadata_bytes()),
            mb(s.fragmented_bytes()),
        ));
    }
    drop(txn);
    let s = db.begin_write().unwrap().stats().unwrap();
    // The file's length and the blocks the filesystem gave it (less where redb's growth
    // step left a hole: the file is sparse there).
    let (file_len, on_disk) = std::fs::metadata(path)
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.len(), m.blocks() * 512)
        })
        .unwrap_or((0, 0));
    out.push_str(&format!(
        "| {n} | (whole file: {:.1} MB, on disk {:.1} MB, pages in use {:.1} MB) | | {:.1} | {:.1} | {:.1} |\n",
        mb(file_len),
        mb(on_disk),
        mb(s.allocated_pages() * s.page_size() as u64),
        mb(s.stored_bytes()),
        mb(s.metadata_bytes()),
        mb(s.fragmented_bytes()),
    ));
    out
}

fn write_ndjson(path: &Path, lines: impl Iterator<Item = serde_json::Value>) -> u64 {
    let mut w = BufWriter::with_capacity(8 << 20, std::fs::File::create(path).unwrap());
    let mut bytes = 0;
    for v in lines {
        let b = serde_json::to_vec(&v).unwrap();
        bytes += b.len() as u64 + 1;
        w.write_all(&b).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
    bytes
}

fn delta(
    n: usize,
    share_per_mille: usize,
    now: chrono::DateTime<Utc>,
) -> impl Iterator<Item = serde_json::Value> {
    // Change share of patients' resources: every k-th patient gets an updated allergy,
    // a new lab and an updated encounter; plus deletions expressed as entered-in-error.
    // Streamed to the file, not collected: the bench process's own memory stays out of
    // the incremental sync's figures.
    let step = 1000 / share_per_mille.max(1);
    (0..n)
        .step_by(step.max(1))
        .flat_map(move |i| common::patient_resources(i, now))
        .map(|mut v| {
            if v["resourceType"] == "AllergyIntolerance" {
                v["code"]["text"] = json!("変更済み");
            }
            if v["resourceType"] == "Condition" && v["id"].as_str().unwrap().ends_with("-2") {
                v["verificationStatus"] = json!({"coding": [{"code": "entered-in-error"}]});
            }
            v
        })
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        memory_budget_mib: std::env::var("AKARI_BENCH_MEMORY_BUDGET_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Config::default().memory_budget_mib),
        ..Config::default()
    };
    println!(
        "Full sync memory budget: {} MiB.\n",
        config.memory_budget_mib
    );
    println!("| patients | resources | NDJSON MB | full sync s | MB/s | patients/s | resources/s | CPU s | MB per CPU s | peak RSS MB | spilled runs (MB) | snapshot MB | load before → after |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut incremental = Vec::new();
    let mut tables = Vec::new();
    let mut reads = Vec::new();
    for &n in &sizes {
        let now = Utc::now();
        let file = tmp.path().join(format!("full-{n}.ndjson"));
        let bytes = write_ndjson(
            &file,
            (0..n).flat_map(|i| common::patient_resources(i, now)),
        );
        let db = tmp.path().join(format!("snapshot-{n}.redb"));
        let store = Store::open(&db, StoreOptions::default()).unwrap();
        // Opened, then unlinked: its disk space comes back once the pull has read it (at
        // 1M patients the file, the spilled rows and the snapshot would not fit at once).
        let opened = std::fs::File::open(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        let engine = Engine::new(
            store.clone(),
            Arc::new(NdjsonFile::Opened(Mutex::new(Some(opened)))),
            config.clone(),
        );
        let load0 = load_average();
        reset_peak_rss();
        let t = Instant::now();
        let cpu0 = cpu_seconds();
        let report = engine.sync_now(true, &CancellationToken::new()).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let load1 = load_average();
        assert!(report.rejects.is_empty());
        let mb = bytes as f64 / 1e6;
        let db_size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        println!(
            "| {n} | {} | {mb:.0} | {secs:.2} | {:.0} | {:.0} | {:.0} | {cpu:.1} | {:.0} | {:.0} | {} ({:.0}) | {:.0} | {load0} → {load1} |",
            report.resources,
            mb / secs,
            n as f64 / secs,
            report.resources as f64 / secs,
            mb / cpu,
            peak_rss_mb(),
            report.spilled_runs,
            report.spilled_bytes as f64 / 1e6,
            db_size as f64 / 1e6,
        );
        // Opening the read side: building the in-memory search index, then searches.
        let t = Instant::now();
        let reader = akari_sync::SnapshotReader::open(store.clone(), Default::default()).unwrap();
        let open_s = t.elapsed().as_secs_f64();
        let queries = [
            "高橋",
            "ﾀｶﾊｼ",
            "さとう はなこ",
            "渡辺",
            "S45.3.10",
            "19700310",
            "100123",
        ];
        let t = Instant::now();
        let mut hits = 0;
        for _ in 0..100 {
            for q in queries {
                hits += reader.search(q).expect("search").1.len();
            }
        }
        let per_query_us = t.elapsed().as_secs_f64() * 1e6 / (100 * queries.len()) as f64;
        let t = Instant::now();
        for i in (0..n).step_by((n / 200).max(1)) {
            reader
                .patient_by_hospital_id(&common::hospital_id(i))
                .unwrap()
                .unwrap();
        }
        let per_record_us = t.elapsed().as_secs_f64() * 1e6 / 200.0;
        reads.push(format!(
            "| {n} | {open_s:.2} | {per_query_us:.0} | {per_record_us:.0} | {hits} |"
        ));
        if n >= 100_000 || sizes.len() == 1 {
            for per_mille in [10usize, 1] {
                let dfile = tmp.path().join(format!("delta-{n}-{per_mille}.ndjson"));
                let dbytes = write_ndjson(&dfile, delta(n, per_mille, now));
                let engine = Engine::new(
                    store.clone(),
                    Arc::new(NdjsonFile::Path(dfile)),
                    config.clone(),
                );
                // The incremental sync's own peak: from what the process holds when it
                // starts (the snapshot's search index the reader serves from, the
                // allocator's retained pages), which the table shows beside it.
                reset_peak_rss();
                let rss0 = status_mb("VmRSS");
                let t = Instant::now();
                let cpu0 = cpu_seconds();
                let r = engine.sync_now(false, &CancellationToken::new()).unwrap();
                let secs = t.elapsed().as_secs_f64();
                let cpu = cpu_seconds() - cpu0;
                let peak = peak_rss_mb();
                let m = store.current().unwrap().unwrap();
                incremental.push(format!(
                    "| {n} | {:.1} % | {} | {:.1} | {secs:.2} | {cpu:.2} | {rss0:.0} | {peak:.0} | {} | {} |",
                    per_mille as f64 / 10.0,
                    r.resources,
                    dbytes as f64 / 1e6,
                    m.written,
                    m.removed
                ));
            }
        }
        drop((reader, engine, store));
        tables.push(table_sizes(n, &db));
        std::fs::remove_file(&db).unwrap();
    }
    println!();
    println!(
        "| patients | reader open (index build) s | search µs/query | record read µs | (hits) |"
    );
    println!("|---|---|---|---|---|");
    for l in reads {
        println!("{l}");
    }
    println!();
    println!("| patients | table | rows | stored MB (keys + values) | B-tree overhead MB | fragmented MB |");
    println!("|---|---|---|---|---|---|");
    for l in tables {
        print!("{l}");
    }
    if !incremental.is_empty() {
        println!();
        println!("| patients | delta | resources pulled | NDJSON MB | incremental s | CPU s | RSS at start MB | peak RSS MB | versions written | versions ended |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for l in incremental {
            println!("{l}");
        }
    }
}
