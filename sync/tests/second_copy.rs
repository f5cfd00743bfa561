//! Fault suite: one damaged file never loses every generation. The snapshot file is
//! zeroed, truncated, emptied to 0 bytes or removed while the node is stopped, or its
//! generations all stop verifying; the node must still open, serve the newest generation
//! that verifies — from the second copy (`snapshot-copy.redb`) when the file has none —
//! and tell the administrators, never start silently empty.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::model::PatientRecord;
use akari_sync::source::Change;
use akari_sync::store::{GenerationKind, Integrity};
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions};
use chrono::Utc;
use common::*;
use serde_json::json;

const N: usize = 30;

struct Node {
    store: Store,
    source: MemorySource,
    engine: Engine,
    reader: SnapshotReader,
}

struct Files {
    _dir: tempfile::TempDir,
    snapshot: PathBuf,
    copy: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    Files {
        snapshot: dir.path().join("snapshot.redb"),
        copy: dir.path().join("snapshot-copy.redb"),
        _dir: dir,
    }
}

fn open_with(f: &Files, config: Config, options: StoreOptions) -> Node {
    let store = Store::open_with_copy(&f.snapshot, &f.copy, options).expect("the node opens");
    let reader = SnapshotReader::open(store.clone(), config.windows).expect("reader opens");
    let source = MemorySource::new(vec![]);
    let engine =
        Engine::new(store.clone(), Arc::new(source.clone()), config).with_reader(reader.clone());
    Node {
        store,
        source,
        engine,
        reader,
    }
}

fn open(f: &Files) -> Node {
    open_with(f, Config::default(), StoreOptions::default())
}

fn sync(node: &Node, full: bool, changes: Vec<Change>) -> u64 {
    node.source.replace(changes);
    node.engine
        .sync_now(full, &CancellationToken::new())
        .expect("sync succeeds")
        .generation
}

fn hospital_with(first_allergy: &str) -> Vec<Change> {
    static NOW: std::sync::OnceLock<chrono::DateTime<Utc>> = std::sync::OnceLock::new();
    let now = *NOW.get_or_init(Utc::now);
    (0..N)
        .flat_map(|i| patient_resources(i, now))
        .map(|mut v| {
            if v["resourceType"] == "AllergyIntolerance"
                && v["id"].as_str().unwrap().ends_with("-0")
            {
                v["code"]["text"] = json!(first_allergy);
            }
            upsert(&v)
        })
        .collect()
}

fn records(reader: &SnapshotReader) -> BTreeMap<usize, PatientRecord> {
    (0..N)
        .map(|i| {
            let r = reader
                .patient_by_hospital_id(&hospital_id(i))
                .expect("read")
                .expect("patient present");
            (i, r)
        })
        .collect()
}

fn renamed_allergy(to: &str) -> Vec<Change> {
    let mut a = allergy(4, 1);
    a["code"]["text"] = json!(to);
    vec![upsert(&a)]
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Zeroed,
    TruncatedHalf,
    TruncatedHeader,
    Empty,
    Removed,
}

fn damage(path: &Path, how: Damage) {
    let len = std::fs::metadata(path).unwrap().len() as usize;
    match how {
        Damage::Zeroed => std::fs::write(path, vec![0u8; len]).unwrap(),
        Damage::TruncatedHalf => {
            let bytes = std::fs::read(path).unwrap();
            std::fs::write(path, &bytes[..len / 2]).unwrap()
        }
        Damage::TruncatedHeader => {
            let bytes = std::fs::read(path).unwrap();
            std::fs::write(path, &bytes[..100]).unwrap()
        }
        Damage::Empty => std::fs::write(path, b"").unwrap(),
        Damage::Removed => std::fs::remove_file(path).unwrap(),
    }
}

/// Files next to `path` whose name starts with its name followed by `.damaged-`.
fn moved_aside(path: &Path) -> Vec<PathBuf> {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}.damaged-"))
        })
        .collect()
}

#[test]
fn every_kind_of_damaged_file_starts_from_the_second_copy_and_says_so() {
    for how in [
        Damage::Zeroed,
        Damage::TruncatedHalf,
        Damage::TruncatedHeader,
        Damage::Empty,
        Damage::Removed,
    ] {
        let f = files();
        let (copied, g1) = {
            let node = open(&f);
            assert_eq!(sync(&node, true, hospital_with("ペニシリン")), 1);
            let g1 = records(&node.reader);
            // An incremental sync within `copy_every_secs` does not rewrite the copy.
            assert_eq!(sync(&node, false, renamed_allergy("そば")), 2);
            let copy = node.engine.status().copy.expect("a copy was written");
            assert_eq!(copy.generation, 1, "{how:?}");
            assert!(node.engine.status().copy_error.is_none());
            (copy, g1)
        };
        damage(&f.snapshot, how);

        let node = open(&f);
        let current = node.store.current().unwrap().expect("not started empty");
        assert_eq!(current.generation, copied.generation, "{how:?}");
        assert_eq!(
            records(&node.reader),
            g1,
            "{how:?}: the copy's data is served"
        );
        let alert = node
            .store
            .integrity_alert()
            .unwrap()
            .unwrap_or_else(|| panic!("{how:?}: administrators are told"));
        assert!(alert.file.is_some(), "{how:?}");
        assert_eq!(alert.restored_from, Some(1), "{how:?}");
        let message = alert.message();
        assert!(
            message.contains("restored from the second copy"),
            "{how:?}: {message}"
        );
        assert_eq!(node.engine.status().integrity_alert, Some(alert.clone()));
        let aside = moved_aside(&f.snapshot);
        match how {
            Damage::Removed => assert!(aside.is_empty()),
            _ => {
                assert_eq!(aside.len(), 1, "{how:?}: the damaged file is kept aside");
                assert!(message.contains(".damaged-"), "{message}");
            }
        }
        // The restored file is a whole store: it verifies and incremental syncs go on.
        assert_eq!(
            node.engine.check_integrity().unwrap(),
            Integrity::Verified(1),
            "{how:?}"
        );
        assert_eq!(sync(&node, false, renamed_allergy("そば")), 2, "{how:?}");
        let r4 = node
            .reader
            .patient_by_hospital_id(&hospital_id(4))
            .unwrap()
            .unwrap();
        assert!(
            r4.allergies.iter().any(|a| a.substance == "そば"),
            "{how:?}"
        );
    }
}

#[test]
fn both_files_unusable_start_empty_and_loudly() {
    let f = files();
    {
        let node = open(&f);
        sync(&node, true, hospital_with("ペニシリン"));
    }
    damage(&f.snapshot, Damage::Zeroed);
    damage(&f.copy, Damage::TruncatedHalf);
    let node = open(&f);
    assert_eq!(node.store.current().unwrap(), None);
    let alert = node.engine.status().integrity_alert.expect("alert");
    assert_eq!(alert.restored_from, None);
    let message = alert.message();
    assert!(
        message.contains("no usable second copy") && message.contains("second copy: unreadable"),
        "{message}"
    );
    // A full sync fills the store again and writes a new copy.
    assert_eq!(sync(&node, true, hospital_with("ペニシリン")), 1);
    assert_eq!(node.engine.status().copy.unwrap().generation, 1);
}

#[test]
fn when_nothing_in_the_file_verifies_the_copy_is_brought_back() {
    let f = files();
    let g1 = {
        let node = open(&f);
        assert_eq!(sync(&node, true, hospital_with("ペニシリン")), 1);
        records(&node.reader)
    };
    // The file still opens, but its only generation no longer verifies.
    flip_stored_value(&f.snapshot, 1, 1, 1);
    let node = open(&f);
    let Integrity::FellBack(alert) = node.engine.check_integrity().unwrap() else {
        panic!("expected a fall-back to the second copy");
    };
    assert!(alert.from_copy);
    assert_eq!(alert.damaged, vec![1]);
    assert_eq!(alert.restored_from, Some(1));
    let current = node.store.current().unwrap().unwrap();
    assert_eq!(current.kind, GenerationKind::Restored { from: 1 });
    assert_eq!(Some(current.generation), alert.now_current);
    assert_eq!(records(&node.reader), g1);
    assert!(node.store.verify(current.generation).unwrap().ok());
    assert!(
        alert
            .message()
            .contains("brought back from the second copy"),
        "{}",
        alert.message()
    );
}

#[test]
fn the_copy_wins_over_an_older_generation_when_it_is_newer() {
    let f = files();
    let g2 = {
        let node = open(&f);
        assert_eq!(sync(&node, true, hospital_with("ペニシリン")), 1);
        assert_eq!(sync(&node, true, hospital_with("ラテックス")), 2);
        assert_eq!(node.engine.status().copy.unwrap().generation, 2);
        records(&node.reader)
    };
    // Generation 2 (epoch 2) rots; generation 1 still verifies but is older than the copy.
    flip_stored_value(&f.snapshot, 2, 1, 2);
    let node = open(&f);
    let Integrity::FellBack(alert) = node.engine.check_integrity().unwrap() else {
        panic!("expected a fall-back");
    };
    assert!(alert.from_copy, "{alert:?}");
    assert_eq!(alert.restored_from, Some(2));
    assert_eq!(records(&node.reader), g2, "the newest data that verifies");
}

#[test]
fn the_copy_follows_full_syncs_promotions_and_rollbacks_and_incrementals_when_due() {
    let f = files();
    let node = open_with(
        &f,
        Config {
            copy_every_secs: 0,
            ..Config::default()
        },
        StoreOptions::default(),
    );
    let copy = || node.engine.status().copy.unwrap().generation;
    sync(&node, true, hospital_with("ペニシリン"));
    assert_eq!(copy(), 1);
    // `copy_every_secs = 0`: every new generation is copied.
    sync(&node, false, renamed_allergy("そば"));
    assert_eq!(copy(), 2);
    let m = node.engine.rollback(1).unwrap();
    assert_eq!(copy(), m.generation);
    // What the status says is what the file holds.
    assert_eq!(
        node.store.copy_info().unwrap().unwrap().generation,
        m.generation
    );
}

#[test]
fn an_encrypted_snapshot_is_restored_from_its_copy_without_the_secret() {
    let (pk, secret) = akari_sync::crypto::generate();
    let options = StoreOptions {
        public_key: Some(pk),
        ..StoreOptions::default()
    };
    let f = files();
    {
        let node = open_with(&f, Config::default(), options);
        sync(&node, true, hospital_with("ペニシリン"));
        let raw = std::fs::read(&f.copy).unwrap();
        let name = names(3).0;
        assert!(
            !raw.windows(name.len()).any(|w| w == name.as_bytes()),
            "the copy holds ciphertext only"
        );
    }
    damage(&f.snapshot, Damage::Zeroed);
    let node = open_with(&f, Config::default(), options);
    assert!(node.reader.is_locked());
    assert_eq!(node.store.current().unwrap().unwrap().generation, 1);
    node.reader.unlock(&secret).unwrap();
    assert_eq!(records(&node.reader).len(), N);
}
