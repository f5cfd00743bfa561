//! A full sync whose rows outgrow its memory budget writes them to sorted runs in
//! temporary files and merges them back: the generation is exactly the one an in-memory
//! sync writes, the files are gone when the sync ends, and a SIGKILL during the merge
//! leaves the previous generation current and the files are removed at the next open.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::model::PatientRecord;
use akari_sync::source::Change;
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions};
use chrono::{DateTime, Utc};
use common::*;
use serde_json::json;

/// Large enough for dozens of runs at a 1 MiB budget (about 9 KB of rows a patient).
const PATIENTS: usize = 6000;
const DIR_ENV: &str = "AKARI_SPILL_TEST_DIR";
const PAUSE_ENV: &str = "AKARI_SPILL_MERGE_PAUSE";

fn spill_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("spill-"))
        })
        .collect()
}

/// A hospital with, before and after it, what makes settling hard when versions of one
/// resource lie in different runs: duplicates (the last wins), a retraction, a resource
/// that moves to another patient, a Patient deleted after its items (and one item after
/// that), an orphan, and a reference by identifier before its Patient arrives.
fn pull(now: DateTime<Utc>) -> Vec<Change> {
    let mut out = Vec::new();
    let mut by_ident = allergy(8, 5);
    by_ident["id"] = json!("by-identifier");
    by_ident["patient"] =
        json!({"identifier": {"system": HOSPITAL_SYSTEM, "value": hospital_id(8)}});
    out.push(upsert(&by_ident));
    let mut first = allergy(1, 0);
    first["code"]["text"] = json!("一度目");
    out.push(upsert(&first));
    out.extend(hospital(PATIENTS, now));
    out.extend(awkward_tail(now));
    out
}

fn engine(store: &Store, changes: Vec<Change>, budget_mib: u64) -> Engine {
    let config = Config {
        memory_budget_mib: budget_mib,
        ..Config::default()
    };
    Engine::new(store.clone(), Arc::new(MemorySource::new(changes)), config)
}

/// Every patient's record (every 7th, and the awkward ones: debug builds are slow).
fn records(store: &Store) -> Vec<Option<PatientRecord>> {
    let reader = SnapshotReader::open(store.clone(), Default::default()).unwrap();
    (0..PATIENTS)
        .filter(|i| *i < 12 || i % 7 == 0)
        .map(|i| reader.patient_by_hospital_id(&hospital_id(i)).unwrap())
        .collect()
}

#[test]
fn a_full_sync_over_its_memory_budget_spills_and_equals_the_in_memory_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("snapshot.redb"), StoreOptions::default()).unwrap();
    let cancel = CancellationToken::new();
    let now = Utc::now();

    // In memory: the default budget holds the whole pull.
    let in_memory = engine(&store, pull(now), 512)
        .sync_now(true, &cancel)
        .unwrap();
    assert_eq!(in_memory.spilled_runs, 0);
    let m1 = store.current().unwrap().unwrap();
    let r1 = records(&store);

    // A 1 MiB budget: far below the rows' size.
    let spilled = engine(&store, pull(now), 1)
        .sync_now(true, &cancel)
        .unwrap();
    let m2 = store.current().unwrap().unwrap();
    assert!(
        m2.generation > m1.generation,
        "a new generation was written"
    );
    assert!(
        spilled.spilled_runs >= 10,
        "rows went to sorted runs: {spilled:?}"
    );
    assert!(spilled.spilled_bytes > 10 << 20, "{spilled:?}");
    assert!(
        spill_files(dir.path()).is_empty(),
        "runs removed at the end"
    );
    assert!(store.verify(m2.generation).unwrap().ok());

    assert_eq!(m1.counts, m2.counts);
    assert_eq!(m1.index_entries, m2.index_entries);
    assert_eq!(m1.set_hash, m2.set_hash);
    assert_eq!(m1.patients(), PATIENTS as u64 - 1);
    assert_eq!(in_memory.rejects, spilled.rejects);
    assert_eq!(spilled.rejects.get("unknown_patient"), Some(&2));
    assert_eq!(in_memory.removals, spilled.removals);
    assert_eq!(in_memory.upserts, spilled.upserts);
    let r2 = records(&store);
    assert_eq!(r1, r2);

    // What the settled rules mean, on the spilled generation.
    let r = |i: usize| r2[i].clone().unwrap_or_else(|| panic!("patient {i}"));
    assert!(r2[5].is_none(), "a deleted patient is gone with its items");
    let p1 = r(1);
    let a1: Vec<&str> = p1
        .allergies
        .iter()
        .filter(|a| a.id == "a1-0")
        .map(|a| a.substance.as_str())
        .collect();
    assert_eq!(a1, ["二度目"]);
    assert!(r(1).labs.iter().all(|l| l.id != "orphan"));
    assert!(r(2).conditions.iter().all(|c| c.id != "c2-1"));
    assert!(r(6).labs.iter().all(|l| l.id != "lab6-0"));
    assert!(r(7).labs.iter().any(|l| l.id == "lab6-0"));
    assert!(r(8).allergies.iter().any(|a| a.id == "by-identifier"));
}

#[test]
fn a_memory_budget_of_zero_is_refused_naming_the_key() {
    let config = Config {
        memory_budget_mib: 0,
        ..Config::default()
    };
    let (key, why) = config.validate().unwrap_err();
    assert_eq!(key, "memory_budget_mib");
    assert!(why.contains("at least 1"), "{why}");
    assert!(Config::default().validate().is_ok());
}

#[test]
fn sigkill_during_the_merge_leaves_the_previous_generation_and_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.redb");
    let before = {
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        engine(&store, hospital(200, Utc::now()), 512)
            .sync_now(true, &CancellationToken::new())
            .unwrap();
        store.current().unwrap().unwrap()
    };

    let marker = dir.path().join("merging");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "spill_kill_child", "--nocapture", "--ignored"])
        .env(DIR_ENV, dir.path())
        .env(PAUSE_ENV, &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut waited = 0;
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before the merge: {status}");
        }
        assert!(waited < 6000, "the child never reached the merge");
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    // Paused inside the merge: its sorted runs are on disk, the new generation is not
    // committed.
    let runs = spill_files(dir.path());
    assert!(runs.len() >= 2, "runs on disk during the merge: {runs:?}");
    // The runs are in use: opening the store meanwhile does not take them away.
    assert_eq!(akari_sync::store::remove_spill_leftovers(dir.path()), 0);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert_eq!(spill_files(dir.path()), runs, "left behind by the kill");

    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert!(
        spill_files(dir.path()).is_empty(),
        "opening the store removes what the killed sync left"
    );
    let current = store.current().unwrap().unwrap();
    assert_eq!(current.generation, before.generation);
    assert_eq!(current.set_hash, before.set_hash);
    assert!(store.verify(current.generation).unwrap().ok());
    let reader = SnapshotReader::open(store.clone(), Default::default()).unwrap();
    assert_eq!(reader.patient_count(), 200);
}

/// The child: a full sync of a larger hospital with a 1 MiB budget (it pauses in the
/// merge; the parent kills it there).
#[test]
#[ignore = "run by sigkill_during_the_merge_leaves_the_previous_generation_and_no_temporary_files"]
fn spill_kill_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let store = Store::open(
        &Path::new(&dir).join("snapshot.redb"),
        StoreOptions::default(),
    )
    .unwrap();
    let _ = engine(&store, hospital(1500, Utc::now()), 1).sync_now(true, &CancellationToken::new());
}
