//! A full sync writes its generation in a sorted load (rows collected during the pull,
//! settled and written in key order at the end). It must give exactly what applying the same pull one
//! resource at a time gives (the incremental path): same items, counts, set hash and
//! rejects, for the awkward orders a real pull can have.

mod common;

use std::sync::Arc;

use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::model::PatientRecord;
use akari_sync::source::Change;
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions};
use chrono::Utc;
use common::*;
use serde_json::json;

/// A pull of 12 patients with duplicates, retractions before and after upserts, items
/// before their Patient, a Patient deleted after its items (and one item after that),
/// an orphan, a resource that moves to another patient, and a reference by identifier
/// that arrives before its Patient.
fn awkward_pull() -> Vec<Change> {
    let now = Utc::now();
    let mut out: Vec<Change> = Vec::new();
    // Patient 4's lab arrives before patient 4; patient 8 is referenced by identifier
    // before it arrives.
    let mut early = lab(4, 7, now);
    early["id"] = json!("early-lab");
    out.push(upsert(&early));
    let mut by_ident = allergy(8, 5);
    by_ident["id"] = json!("by-identifier");
    by_ident["patient"] =
        json!({"identifier": {"system": HOSPITAL_SYSTEM, "value": hospital_id(8)}});
    out.push(upsert(&by_ident));
    // A condition retracted before it is sent again: the later version stays.
    let mut retracted_first = condition(3, 1);
    retracted_first["verificationStatus"] = json!({"coding": [{"code": "entered-in-error"}]});
    out.push(upsert(&retracted_first));
    for i in 0..12 {
        for v in patient_resources(i, now) {
            out.push(upsert(&v));
        }
    }
    out.extend(awkward_tail(now));
    // A deletion of something never sent.
    out.push(Change::Delete {
        resource_type: "Flag".into(),
        id: "never-sent".into(),
    });
    out
}

fn records(reader: &SnapshotReader) -> Vec<Option<PatientRecord>> {
    (0..12)
        .map(|i| reader.patient_by_hospital_id(&hospital_id(i)).unwrap())
        .collect()
}

#[test]
fn sorted_load_full_sync_equals_applying_the_pull_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), StoreOptions::default()).unwrap();
    let pull = awkward_pull();
    let source = MemorySource::new(pull.clone());
    let reader = SnapshotReader::open(store.clone(), Default::default()).unwrap();
    let engine = Engine::new(store.clone(), Arc::new(source.clone()), Config::default())
        .with_reader(reader.clone());
    let cancel = CancellationToken::new();

    // Sorted load: a full sync of the pull.
    let loaded = engine.sync_now(true, &cancel).unwrap();
    let loaded_manifest = store.current().unwrap().unwrap();
    let loaded_records = records(&reader);
    assert!(store.verify(loaded_manifest.generation).unwrap().ok());

    // One by one: an empty full generation (the guard quarantines it; promoted by hand),
    // then the same pull as an incremental sync.
    source.replace(Vec::new());
    let generation = match engine.sync_now(true, &cancel) {
        Err(akari_sync::SyncError::Quarantined { generation, .. }) => generation,
        other => panic!("an emptied pull is quarantined, got {other:?}"),
    };
    engine.promote(generation).unwrap();
    assert_eq!(store.current().unwrap().unwrap().total_items(), 0);
    source.replace(pull);
    let applied = engine.sync_now(false, &cancel).unwrap();
    let applied_manifest = store.current().unwrap().unwrap();
    assert!(store.verify(applied_manifest.generation).unwrap().ok());

    assert_eq!(loaded_manifest.counts, applied_manifest.counts);
    assert_eq!(
        loaded_manifest.index_entries,
        applied_manifest.index_entries
    );
    assert_eq!(loaded_manifest.set_hash, applied_manifest.set_hash);
    assert_eq!(loaded.rejects, applied.rejects);
    assert_eq!(loaded.rejects.get("unknown_patient"), Some(&2));
    assert_eq!(loaded_records, records(&reader));

    // And what that means for a clinician.
    let r = |i: usize| {
        loaded_records[i]
            .clone()
            .unwrap_or_else(|| panic!("patient {i}"))
    };
    assert!(loaded_records[5].is_none(), "deleted patient is gone");
    let a1 = r(1);
    let first_allergy: Vec<&str> = a1
        .allergies
        .iter()
        .filter(|a| a.id == "a1-0")
        .map(|a| a.substance.as_str())
        .collect();
    assert_eq!(first_allergy, ["二度目"]);
    assert!(a1.labs.iter().all(|l| l.id != "orphan"));
    assert!(r(2).conditions.iter().all(|c| c.id != "c2-1"));
    assert!(r(3).conditions.iter().any(|c| c.id == "c3-1"));
    assert!(r(4).labs.iter().any(|l| l.id == "early-lab"));
    assert!(r(6).labs.iter().all(|l| l.id != "lab6-0"));
    assert!(r(7).labs.iter().any(|l| l.id == "lab6-0"));
    assert!(r(8).allergies.iter().any(|a| a.id == "by-identifier"));
}
