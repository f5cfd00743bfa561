//! The guard against a poisoned or emptied source, through the real engine and a real
//! source (a directory of NDJSON files, what removable-media transfer and a hospital's
//! export job deliver): a pull that would lose too much is quarantined — kept, listed,
//! never served — until promoted; a pull that changes nothing writes no generation; and
//! however many such pulls come, retention keeps the good generations.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use akari_sync::engine::CancellationToken;
use akari_sync::source::NdjsonDirSource;
use akari_sync::store::{GenerationKind, Manifest, StoreError};
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions, SyncError, SyncReport};
use chrono::{DateTime, Utc};
use common::*;
use serde_json::Value;

struct Node {
    _dir: tempfile::TempDir,
    feed: PathBuf,
    store: Store,
    engine: Engine,
    reader: SnapshotReader,
    quarantined: Arc<Mutex<Vec<u64>>>,
}

fn node(config: Config) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed");
    std::fs::create_dir(&feed).unwrap();
    let store = Store::open(&dir.path().join("snapshot.redb"), StoreOptions::default()).unwrap();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let quarantined = Arc::new(Mutex::new(Vec::new()));
    let seen = quarantined.clone();
    let engine = Engine::new(
        store.clone(),
        Arc::new(NdjsonDirSource::new(feed.clone())),
        config,
    )
    .with_reader(reader.clone())
    .with_quarantine_hook(Arc::new(move |m: &Manifest| {
        seen.lock().unwrap().push(m.generation)
    }));
    Node {
        _dir: dir,
        feed,
        store,
        engine,
        reader,
        quarantined,
    }
}

/// Replace the feed with these resources (an empty list leaves an empty file, as
/// `: > feed.ndjson` does).
fn write_feed(dir: &Path, resources: &[Value]) {
    let mut f = std::fs::File::create(dir.join("feed.ndjson")).unwrap();
    for r in resources {
        writeln!(f, "{}", serde_json::to_string(r).unwrap()).unwrap();
    }
    f.sync_all().unwrap();
}

fn patients(range: std::ops::Range<usize>, now: DateTime<Utc>) -> Vec<Value> {
    range.flat_map(|i| patient_resources(i, now)).collect()
}

fn sync(node: &Node, full: bool) -> Result<SyncReport, SyncError> {
    node.engine.sync_now(full, &CancellationToken::new())
}

fn generations(store: &Store) -> Vec<u64> {
    store
        .list()
        .unwrap()
        .iter()
        .map(|g| g.manifest.generation)
        .collect()
}

fn quarantined_generation(e: SyncError) -> (u64, bool) {
    match e {
        SyncError::Quarantined {
            generation, new, ..
        } => (generation, new),
        other => panic!("expected the pull to be quarantined, got {other}"),
    }
}

#[test]
fn an_emptied_feed_then_one_patient_are_quarantined_and_no_op_syncs_keep_the_good_generation() {
    const N: usize = 300;
    let now = Utc::now();
    let node = node(Config::default());
    // A first sync into an empty store has nothing to lose: never quarantined.
    write_feed(&node.feed, &patients(0..N, now));
    let g1 = sync(&node, true).unwrap();
    assert!(!g1.unchanged);
    let good = node.reader.generation().unwrap();
    assert_eq!(good.patients(), N as u64);
    let before = node.reader.patient_by_hospital_id(&hospital_id(7)).unwrap();

    // Ransomware empties the feed: `: > feed.ndjson; akari sync now --full`.
    write_feed(&node.feed, &[]);
    let e = sync(&node, true).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("patient 300 → 0") && text.contains("promote"),
        "{text}"
    );
    let (empty, new) = quarantined_generation(e);
    assert!(new);
    // Kept and listed, never served: readers, status and the store still say generation 1.
    let m = node.store.manifest(empty).unwrap();
    assert!(m.is_quarantined());
    assert_eq!(m.patients(), 0);
    assert_eq!(
        node.store.current().unwrap().unwrap().generation,
        good.generation
    );
    assert_eq!(
        node.reader.generation().unwrap().generation,
        good.generation
    );
    assert_eq!(
        node.reader.patient_by_hospital_id(&hospital_id(7)).unwrap(),
        before
    );
    let status = node.engine.status();
    assert_eq!(status.current_generation, Some(good.generation));
    let alert = status.quarantine.expect("admins are alerted");
    assert_eq!(alert.generation, empty);
    assert_eq!(alert.current, Some(good.generation));
    assert!(
        alert.message().contains("not served"),
        "{}",
        alert.message()
    );
    assert!(status.last_error.unwrap().contains("quarantined"));

    // Then a feed of a single patient.
    write_feed(&node.feed, &patients(0..1, now));
    let (one, new) = quarantined_generation(sync(&node, true).unwrap_err());
    assert!(new && one > empty);
    assert_eq!(node.store.manifest(one).unwrap().patients(), 1);
    // The same poisoned pull again writes nothing new.
    let (again, new) = quarantined_generation(sync(&node, true).unwrap_err());
    assert_eq!((again, new), (one, false));

    // Two no-op incremental syncs (the directory delivers its one patient again, unchanged).
    for _ in 0..2 {
        let r = sync(&node, false).unwrap();
        assert!(r.unchanged, "{r:?}");
        assert_eq!(r.generation, good.generation);
    }
    // The good generation is still current and still listed; nothing was rotated out.
    assert_eq!(generations(&node.store), vec![good.generation, empty, one]);
    assert_eq!(
        node.store.current().unwrap().unwrap().generation,
        good.generation
    );
    assert_eq!(node.reader.patient_count(), N);
    assert!(node.store.verify(good.generation).unwrap().ok());
    // Each new quarantine was reported once to the hook (the audit ledger in a node).
    assert_eq!(*node.quarantined.lock().unwrap(), vec![empty, one]);
    // A quarantined generation is not a rollback target: it must be promoted.
    assert!(matches!(
        node.engine.rollback(one),
        Err(StoreError::Quarantined(g)) if g == one
    ));

    // The source comes back: a full pull that passes the guard clears the alert.
    write_feed(&node.feed, &patients(0..N, now));
    let back = sync(&node, true).unwrap();
    assert!(!back.unchanged);
    assert_eq!(node.engine.status().quarantine, None);
    assert_eq!(node.reader.patient_count(), N);
}

#[test]
fn a_loss_of_one_kind_is_quarantined_small_changes_pass_and_promotion_serves_it() {
    let now = Utc::now();
    let node = node(Config::default());
    let all = patients(0..100, now);
    write_feed(&node.feed, &all);
    sync(&node, true).unwrap();
    let g1 = node.store.current().unwrap().unwrap();

    // Every lab result gone (patients all still there): quarantined for that kind alone.
    let no_labs: Vec<Value> = all
        .iter()
        .filter(|r| !r["id"].as_str().unwrap().starts_with("lab"))
        .cloned()
        .collect();
    write_feed(&node.feed, &no_labs);
    let e = sync(&node, true).unwrap_err();
    assert!(e.to_string().contains("lab 800 → 0"), "{e}");
    let (q, _) = quarantined_generation(e);

    // Five patients discharged out of a hundred (5 %), and a small kind losing fewer items
    // than `quarantine_min_loss`: a normal day, served.
    let fewer: Vec<Value> = patients(5..100, now);
    write_feed(&node.feed, &fewer);
    let r = sync(&node, true).unwrap();
    assert!(!r.unchanged);
    assert_eq!(node.reader.patient_count(), 95);
    assert_eq!(
        node.engine.status().quarantine,
        None,
        "a later good pull clears it"
    );

    // The lab system really was retired: an administrator promotes the quarantined pull.
    let promoted = node.engine.promote(q).unwrap();
    assert_eq!(promoted.generation, q);
    assert!(!promoted.is_quarantined());
    assert!(promoted.quarantine.unwrap().promoted_at.is_some());
    assert_eq!(node.store.current().unwrap().unwrap().generation, q);
    assert_eq!(node.reader.generation().unwrap().generation, q);
    assert_eq!(node.reader.patient_count(), 100);
    let r7 = node
        .reader
        .patient_by_hospital_id(&hospital_id(7))
        .unwrap()
        .unwrap();
    assert!(r7.labs.is_empty());
    // Only a quarantined generation can be promoted.
    assert!(matches!(
        node.engine.promote(g1.generation),
        Err(StoreError::NotQuarantined(_))
    ));
    // Incremental syncs go on from the promoted generation.
    write_feed(&node.feed, &no_labs);
    let r = sync(&node, false).unwrap();
    assert!(r.unchanged, "{r:?}");
}

#[test]
fn a_quarantined_incremental_pull_leaves_the_current_generation_extendable() {
    let now = Utc::now();
    let node = node(Config::default());
    write_feed(&node.feed, &patients(0..60, now));
    sync(&node, true).unwrap();
    let g1 = node.store.current().unwrap().unwrap();
    // A deletion file removing 40 of 60 patients arrives with an incremental pull (the
    // data files no longer hold them).
    write_feed(&node.feed, &patients(40..60, now));
    let deleted: Vec<u8> = (0..40)
        .flat_map(|i| {
            let mut line = serde_json::to_vec(&serde_json::json!({
                "resourceType": "Bundle", "type": "transaction",
                "entry": [{"request": {"method": "DELETE", "url": format!("Patient/p{i}")}}]
            }))
            .unwrap();
            line.push(b'\n');
            line
        })
        .collect();
    std::fs::write(node.feed.join("deleted.ndjson"), deleted).unwrap();
    let (q, _) = quarantined_generation(sync(&node, false).unwrap_err());
    let qm = node.store.manifest(q).unwrap();
    assert_eq!(qm.kind, GenerationKind::Incremental);
    assert_eq!(
        qm.epoch, g1.epoch,
        "the quarantined delta is kept in its epoch"
    );
    assert_eq!(qm.patients(), 20);

    // The deletions were a mistake; a real change arrives next. The next incremental
    // build extends generation 1 (not the quarantined delta): generation 1 moves to an
    // epoch of its own first, and the quarantined generation still reads as it was.
    std::fs::remove_file(node.feed.join("deleted.ndjson")).unwrap();
    let mut changed = patients(0..60, now);
    let allergy = changed
        .iter_mut()
        .find(|r| r["id"] == "a3-0")
        .expect("allergy a3-0");
    allergy["code"]["text"] = serde_json::json!("ラテックス");
    write_feed(&node.feed, &changed);
    let r = sync(&node, false).unwrap();
    assert!(!r.unchanged);
    let g = node.store.current().unwrap().unwrap();
    assert_eq!(g.parent, Some(g1.generation));
    assert_eq!(g.patients(), 60);
    let r3 = node
        .reader
        .patient_by_hospital_id(&hospital_id(3))
        .unwrap()
        .unwrap();
    assert!(r3.allergies.iter().any(|a| a.substance == "ラテックス"));
    assert_eq!(node.reader.patient_count(), 60);
    for generation in generations(&node.store) {
        let v = node.store.verify(generation).unwrap();
        assert!(v.ok(), "generation {generation}: {v:?}");
    }
    assert_eq!(node.store.manifest(q).unwrap().patients(), 20);
    // And the quarantined delta can still be promoted (its epoch is intact).
    node.engine.promote(q).unwrap();
    assert_eq!(node.reader.patient_count(), 20);
}

#[test]
fn retention_keeps_three_distinct_good_generations_whatever_follows() {
    let now = Utc::now();
    let node = node(Config::default());
    let mut good = Vec::new();
    for k in 0..3 {
        let mut feed = patients(0..40, now);
        feed[1]["code"]["text"] = serde_json::json!(format!("版{k}"));
        write_feed(&node.feed, &feed);
        sync(&node, true).unwrap();
        good.push(node.store.current().unwrap().unwrap().generation);
    }
    // Poisoned pulls of all sorts, full syncs of unchanged data, no-op incrementals.
    for k in 0..4 {
        write_feed(&node.feed, &patients(0..k, now));
        let _ = quarantined_generation(sync(&node, true).unwrap_err());
    }
    let mut feed = patients(0..40, now);
    feed[1]["code"]["text"] = serde_json::json!("版2");
    write_feed(&node.feed, &feed);
    for _ in 0..3 {
        sync(&node, false).unwrap();
        sync(&node, true).unwrap();
    }
    let list = node.store.list().unwrap();
    let kept: Vec<u64> = list.iter().map(|g| g.manifest.generation).collect();
    for g in &good[..2] {
        assert!(kept.contains(g), "good generation {g} dropped: {kept:?}");
    }
    let distinct: std::collections::BTreeSet<&str> = list
        .iter()
        .filter(|g| !g.manifest.is_quarantined())
        .map(|g| g.manifest.set_hash.as_str())
        .collect();
    assert!(distinct.len() >= 3, "{kept:?}");
    let quarantined = list.iter().filter(|g| g.manifest.is_quarantined()).count();
    assert_eq!(quarantined, akari_sync::store::QUARANTINE_KEEP, "{kept:?}");
    assert!(
        list.len() <= 3 + 3 + akari_sync::store::QUARANTINE_KEEP,
        "{kept:?}"
    );
}

#[test]
fn the_guard_is_configurable() {
    let now = Utc::now();
    let node = node(Config {
        quarantine_loss_share: 1.0,
        ..Config::default()
    });
    write_feed(&node.feed, &patients(0..30, now));
    sync(&node, true).unwrap();
    write_feed(&node.feed, &patients(0..1, now));
    // Only an empty pull is quarantined now: the loss is served (the administrator's
    // explicit choice).
    sync(&node, true).unwrap();
    assert_eq!(node.reader.patient_count(), 1);

    let strict = node_with_share(0.02);
    write_feed(&strict.feed, &patients(0..1000, now));
    sync(&strict, true).unwrap();
    write_feed(&strict.feed, &patients(0..970, now));
    let e = sync(&strict, true).unwrap_err();
    assert!(e.to_string().contains("patient 1000 → 970"), "{e}");
}

fn node_with_share(share: f64) -> Node {
    node(Config {
        quarantine_loss_share: share,
        ..Config::default()
    })
}
