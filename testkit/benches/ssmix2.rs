//! SS-MIX2 pull benchmark: the synthetic hospital written as an SS-MIX2 storage and as
//! FHIR NDJSON; a full pull of each through the engine (same machine, same run, so the
//! ratio is what counts), then a 1 % delta stored the way a gateway stores it and the
//! incremental pull, once by walking the folder tree and once from the transaction
//! storage. After the full pull, the storage's floor: every folder listed and every file
//! read in as many threads, nothing decoded.
//!
//! `cargo bench -p akari-testkit --bench ssmix2 [-- PATIENTS [threads=N] [storage=DIR]]`
//! (default 100000 patients; `threads`: the SS-MIX2 source's reading threads, default its
//! own; `storage`: only the full pull and the floor of a storage already written under
//! DIR by `akari-synth --format ss-mix2`, e.g. one on a network mount).
//! Temporary files go under $TMPDIR (about 3 GB at 100,000 patients).

use std::ffi::{CStr, CString};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use akari_sync::engine::CancellationToken;
use akari_sync::source::ssmix2::{default_threads, Settings, Ssmix2Source};
use akari_sync::source::NdjsonDirSource;
use akari_sync::{Config, Engine, Store, StoreOptions};
use akari_testkit::synth::ssmix2::{
    write_ssmix2_delta, write_ssmix2_tree, Ssmix2Delta, Ssmix2Paths,
};
use akari_testkit::synth::{self, SynthConfig};
use rustix::fs::{openat, statat, AtFlags, FileType, Mode, OFlags, RawDir, CWD};

/// Peak resident memory since the last reset (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Reset the peak (Linux: writing 5 to clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// (user, system) CPU seconds of this process so far.
fn cpu_split() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

fn cpu_seconds() -> f64 {
    let (u, s) = cpu_split();
    u + s
}

/// "CPU user + system s" since `from`.
fn cpu_since(from: (f64, f64)) -> String {
    let (u, s) = cpu_split();
    format!(
        "CPU {:.1} s (user {:.1}, system {:.1})",
        u + s - from.0 - from.1,
        u - from.0,
        s - from.1
    )
}

fn du(path: &std::path::Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(e.path());
            } else {
                files += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (files, bytes)
}

fn engine(path: &std::path::Path, source: Arc<dyn akari_sync::Source>) -> Engine {
    let store = Store::open(path, StoreOptions::default()).unwrap();
    // The storage was written minutes before the pull: no clock-skew overlap, so the
    // incremental pull sees only the delta (the default 300 s would also re-read what
    // changed in the five minutes before the full pull).
    let config = Config {
        overlap_secs: 0,
        ..Config::default()
    };
    Engine::new(store, source, config)
}

/// What listing and reading a storage took.
#[derive(Default)]
struct Floor {
    files: u64,
    bytes: u64,
    folders: u64,
}

const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOATIME);
const FILE: OFlags = OFlags::RDONLY.union(OFlags::CLOEXEC).union(OFlags::NOATIME);

/// The entries of an open folder (not `.` and `..`), each with whether it is a folder;
/// where the file system gives no entry type (some network and FUSE ones) it is asked
/// with a `stat`, as the source does.
fn entries(fd: &OwnedFd, buf: &mut Vec<u8>) -> Vec<(CString, bool)> {
    let mut out = Vec::new();
    let mut dir = RawDir::new(fd, buf.spare_capacity_mut());
    while let Some(e) = dir.next() {
        let e = e.unwrap();
        let name = e.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let is_dir = match e.file_type() {
            FileType::Unknown => {
                let st = statat(fd, name, AtFlags::SYMLINK_NOFOLLOW).unwrap();
                FileType::from_raw_mode(st.st_mode) == FileType::Directory
            }
            t => t == FileType::Directory,
        };
        out.push((name.to_owned(), is_dir));
    }
    out
}

/// List the folder `name` in `parent` and everything below it, and read every file to
/// the `read` that returns 0, as the source does.
fn walk(parent: &OwnedFd, name: &CStr, bufs: &mut (Vec<u8>, Vec<u8>), f: &mut Floor) {
    let fd = openat(parent, name, FOLDER, Mode::empty()).unwrap();
    f.folders += 1;
    for (child, is_dir) in entries(&fd, &mut bufs.0) {
        if is_dir {
            walk(&fd, &child, bufs, f);
            continue;
        }
        let file = openat(&fd, &child, FILE, Mode::empty()).unwrap();
        loop {
            match rustix::io::read(&file, &mut bufs.1[..]).unwrap() {
                0 => break,
                n => f.bytes += n as u64,
            }
        }
        f.files += 1;
    }
}

/// The storage's floor: every folder of `roots` listed and every file read, with the
/// system calls the source makes (folder-relative `openat`, `getdents`, `read` until it
/// returns 0, `close`), patient folders shared among `threads` threads, and nothing
/// decoded, converted or stored. No reader of this storage lists and reads less.
fn list_and_read(roots: &[&Path], threads: usize) -> Floor {
    let mut total = Floor::default();
    let mut patients: Vec<(Arc<OwnedFd>, CString)> = Vec::new();
    let mut buf = Vec::with_capacity(32 * 1024);
    for root in roots {
        let root = Arc::new(openat(CWD, *root, FOLDER, Mode::empty()).unwrap());
        total.folders += 1;
        // <root>/<first 3 digits>/<next 3 digits>/<patient ID>
        let mut level = vec![root];
        for _ in 0..2 {
            let mut next = Vec::new();
            for fd in &level {
                for (name, is_dir) in entries(fd, &mut buf) {
                    if is_dir {
                        next.push(Arc::new(
                            openat(&**fd, &name, FOLDER, Mode::empty()).unwrap(),
                        ));
                        total.folders += 1;
                    }
                }
            }
            level = next;
        }
        for fd in &level {
            for (name, is_dir) in entries(fd, &mut buf) {
                if is_dir {
                    patients.push((fd.clone(), name));
                }
            }
        }
    }
    let next = AtomicUsize::new(0);
    let parts: Vec<Floor> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut f = Floor::default();
                    let mut bufs = (Vec::with_capacity(32 * 1024), vec![0u8; 64 * 1024]);
                    loop {
                        let i = next.fetch_add(32, Ordering::Relaxed);
                        if i >= patients.len() {
                            return f;
                        }
                        for (parent, name) in &patients[i..(i + 32).min(patients.len())] {
                            walk(parent, name, &mut bufs, &mut f);
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for p in parts {
        total.files += p.files;
        total.bytes += p.bytes;
        total.folders += p.folders;
    }
    total
}

/// `storage=DIR`: only the full pull (and the floor) of a storage already written under
/// DIR (`akari-synth --format ss-mix2 --out DIR`), e.g. on a network mount.
fn full_pull_of(dir: &Path, threads: Option<usize>, tmp: &Path) {
    let paths = Ssmix2Paths::under(dir);
    let settings = Settings {
        extended_root: Some(paths.extended.clone()),
        institution: synth::DEFAULT_INSTITUTION.into(),
        threads: threads.unwrap_or_else(default_threads),
        ..Settings::new(&paths.standard)
    };
    let threads = settings.threads;
    let source = Arc::new(Ssmix2Source::new(settings));
    let e = engine(&tmp.join("pull.redb"), source.clone());
    let (l0, c0, t) = (load(), cpu_split(), Instant::now());
    let r = e.sync_now(true, &CancellationToken::new()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let c = source.take_counters();
    println!(
        "| SS-MIX2 full, {threads} threads | {} files read | {:.0} MB | {secs:.1} s | {:.0} files/s | {} | {} resources | load {l0} → {} |",
        c.files_read,
        r.bytes as f64 / 1e6,
        c.files_read as f64 / secs,
        cpu_since(c0),
        r.resources,
        load()
    );
    floor_row(&paths, threads);
}

/// Measure the floor of both storages under `paths` and print its row; its seconds.
fn floor_row(paths: &Ssmix2Paths, threads: usize) -> f64 {
    let (l0, c0, t) = (load(), cpu_split(), Instant::now());
    let f = list_and_read(&[&paths.standard, &paths.extended], threads);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "| SS-MIX2 list and read only, {threads} threads | {} files read | {:.0} MB | {} folders listed | {secs:.1} s | {} | load {l0} → {} |",
        f.files,
        f.bytes as f64 / 1e6,
        f.folders,
        cpu_since(c0),
        load()
    );
    secs
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let threads: Option<usize> = std::env::args()
        .skip(1)
        .find_map(|a| a.strip_prefix("threads=")?.parse().ok());
    let tmp = tempfile::tempdir().unwrap();
    if let Some(dir) = std::env::args()
        .skip(1)
        .find_map(|a| a.strip_prefix("storage=").map(std::path::PathBuf::from))
    {
        full_pull_of(&dir, threads, tmp.path());
        return;
    }
    let cfg = SynthConfig {
        patients: n,
        ..SynthConfig::default()
    };
    println!(
        "SS-MIX2 pull benchmark, {n} patients, SS-MIX2 reading threads {}; load {} at start",
        threads.map_or("default".to_string(), |t| t.to_string()),
        load()
    );

    // FHIR NDJSON, the reference.
    let nd = tmp.path().join("ndjson");
    let t = Instant::now();
    let s = synth::write_ndjson_dir(&cfg, &nd).unwrap();
    println!(
        "wrote NDJSON: {} resources, {:.0} MB in {:.1} s",
        s.resources,
        s.bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    reset_peak_rss();
    let e = engine(
        &tmp.path().join("fhir.redb"),
        Arc::new(NdjsonDirSource::new(nd.clone())),
    );
    let (l0, c0, t) = (load(), cpu_split(), Instant::now());
    let r = e.sync_now(true, &CancellationToken::new()).unwrap();
    let fhir_s = t.elapsed().as_secs_f64();
    println!(
        "| FHIR NDJSON full | {} resources | {:.0} MB | {fhir_s:.1} s | {:.0} MB/s | {} | peak RSS {:.0} MB | load {l0} → {} |",
        r.resources,
        r.bytes as f64 / 1e6,
        r.bytes as f64 / 1e6 / fhir_s,
        cpu_since(c0),
        peak_rss_mb(),
        load()
    );
    drop(e);
    std::fs::remove_dir_all(&nd).unwrap();
    let _ = std::fs::remove_file(tmp.path().join("fhir.redb"));

    // The same hospital as SS-MIX2.
    let tree = tmp.path().join("ssmix2");
    let t = Instant::now();
    let st = write_ssmix2_tree(&cfg, &tree).unwrap();
    println!(
        "wrote SS-MIX2: {} message files, {:.0} MB in {:.1} s ({:?})",
        st.files,
        st.bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        st.per_type
    );
    let paths = Ssmix2Paths::under(&tree);
    let settings = |journal: bool| Settings {
        extended_root: Some(paths.extended.clone()),
        transaction_dir: journal.then(|| paths.transaction.clone()),
        extended_transaction_dir: journal.then(|| paths.extended_transaction.clone()),
        institution: synth::DEFAULT_INSTITUTION.into(),
        threads: threads.unwrap_or_else(default_threads),
        ..Settings::new(&paths.standard)
    };
    let walk = Arc::new(Ssmix2Source::new(settings(false)));
    reset_peak_rss();
    let a_path = tmp.path().join("walk.redb");
    let e = engine(&a_path, walk.clone());
    let (l0, c0, t) = (load(), cpu_split(), Instant::now());
    let r = e.sync_now(true, &CancellationToken::new()).unwrap();
    let ss_s = t.elapsed().as_secs_f64();
    let c = walk.take_counters();
    assert_eq!(r.skipped, 0, "{:?}", r.source_problems);
    println!(
        "| SS-MIX2 full | {} files read | {:.0} MB | {ss_s:.1} s | {:.0} files/s | {:.1} MB/s | {} | peak RSS {:.0} MB | {} resources | load {l0} → {} |",
        c.files_read,
        r.bytes as f64 / 1e6,
        c.files_read as f64 / ss_s,
        r.bytes as f64 / 1e6 / ss_s,
        cpu_since(c0),
        peak_rss_mb(),
        r.resources,
        load()
    );
    println!("SS-MIX2 full / FHIR NDJSON full = {:.2}", ss_s / fhir_s);
    drop(e);

    // The floor under any reader of this storage, measured after the full pull so it
    // finds the tree at least as cached as the pull did.
    let floor_s = floor_row(&paths, threads.unwrap_or_else(default_threads));
    println!(
        "list and read only / FHIR NDJSON full = {:.2}",
        floor_s / fhir_s
    );
    // The journal variant starts from a copy of the same generation.
    let b_path = tmp.path().join("journal.redb");
    std::fs::copy(&a_path, &b_path).unwrap();

    let delta = Ssmix2Delta::one_percent(7, synth::jst_now());
    let t = Instant::now();
    let d = write_ssmix2_delta(&cfg, &delta, &tree).unwrap();
    println!(
        "delta: {} patients changed, {} files written, {} renamed in {:.1} s",
        d.patients.len(),
        d.written,
        d.renamed,
        t.elapsed().as_secs_f64()
    );
    let (files, bytes) = du(&paths.standard);
    println!(
        "standard storage now: {files} files, {:.0} MB",
        bytes as f64 / 1e6
    );

    let journal = Arc::new(Ssmix2Source::new(settings(true)));
    for (what, path, src) in [
        ("folder walk", &a_path, walk.clone()),
        ("transaction storage", &b_path, journal.clone()),
    ] {
        let e = engine(path, src.clone());
        let (l0, c0, t) = (load(), cpu_seconds(), Instant::now());
        let r = e.sync_now(false, &CancellationToken::new()).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let c = src.take_counters();
        println!(
            "| SS-MIX2 incremental 1 %, {what} | {secs:.2} s | CPU {:.2} s | {} resources, {} deletions | files read {} (+{} context) | folders listed {} | folders checked {} | files checked {} | journal files {} | load {l0} → {} |",
            cpu_seconds() - c0,
            r.resources,
            r.deletions,
            c.files_read,
            c.context_files_read,
            c.dirs_listed,
            c.dirs_checked,
            c.files_checked,
            c.journal_files_read,
            load()
        );
    }
    println!("load {} at end", load());
}
