//! The generator's truth agrees with the sync engine's mapping: a synthetic hospital fed
//! straight into the engine (no HTTP) yields, for every patient, exactly the expected
//! record, field by field. Also the 1 % delta through the engine.

use std::sync::Arc;

use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::source::Change;
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions};
use akari_testkit::synth::{self, DeltaChange, DeltaConfig, Hospital, SynthConfig};

fn changes(h: &Hospital) -> Vec<Change> {
    h.resources().map(|r| Change::Upsert(r.json)).collect()
}

fn check_all(reader: &SnapshotReader, h: &Hospital) {
    let mut bad = Vec::new();
    let mut listed = Vec::new();
    for (hid, want) in h.truth() {
        let got = reader
            .patient_by_hospital_id(&hid)
            .unwrap()
            .unwrap_or_else(|| panic!("patient {hid} missing"));
        // A result list's row reads only the patient, allergy and infection items: the
        // same patient and markers as the assembled record.
        let row = reader.row_facts(&got.key).unwrap().expect("listed patient");
        assert_eq!(row.patient, got.patient, "{hid}");
        assert_eq!(
            row.allergy,
            got.allergies.iter().any(|a| a.warns()),
            "{hid}"
        );
        let infected = got.infections.iter().any(|i| i.positive);
        assert_eq!(row.infection, infected, "{hid}");
        listed.push((got.key.clone(), Some(row)));
        if listed.len() % 7 == 3 {
            // A key no patient has, among the listed ones.
            listed.push((akari_sync::model::PatientKey("00".repeat(16)), None));
        }
        let d = synth::diff_records(&got, &want);
        if !d.is_empty() {
            bad.push(format!("{hid}: {}", d.join("\n  ")));
        }
    }
    // Every listed row read in one go: the same rows, in the order asked, and none for
    // an unknown key.
    let keys: Vec<_> = listed.iter().map(|(k, _)| k.clone()).collect();
    let rows: Vec<_> = listed.into_iter().map(|(_, r)| r).collect();
    assert_eq!(reader.rows_facts(&keys).unwrap(), rows);
    assert!(
        bad.is_empty(),
        "{} patients differ; first:\n{}",
        bad.len(),
        bad.iter().take(3).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn engine_records_equal_generator_truth_full_and_delta() {
    let cfg = SynthConfig {
        patients: 300,
        xss: true,
        ..SynthConfig::default()
    };
    let mut h = Hospital::generate(cfg);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), StoreOptions::default()).unwrap();
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let source = MemorySource::new(changes(&h));
    let engine = Engine::new(store, Arc::new(source.clone()), config).with_reader(reader.clone());
    let rep = engine.sync_now(true, &CancellationToken::new()).unwrap();
    assert!(rep.rejects.is_empty(), "rejects: {:?}", rep.rejects);
    assert_eq!(reader.patient_count(), 300);
    check_all(&reader, &h);

    let delta = h.apply_delta(&DeltaConfig::one_percent(5, synth::jst_now()));
    source.replace(
        delta
            .changes
            .iter()
            .map(|c| match c {
                DeltaChange::Upsert(r) => Change::Upsert(r.json.clone()),
                DeltaChange::Delete { resource_type, id } => Change::Delete {
                    resource_type: resource_type.to_string(),
                    id: id.clone(),
                },
            })
            .collect(),
    );
    engine.sync_now(false, &CancellationToken::new()).unwrap();
    check_all(&reader, &h);
}

/// The ward list (the census) is in the hospital's order — the wings of a floor as its room
/// numbers run (東 301–, 西 326–, 南 351–, 北 376–) — not in the order of the characters.
#[test]
fn wards_are_listed_in_the_hospitals_order() {
    let h = Hospital::generate(SynthConfig {
        patients: 600,
        ..SynthConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), StoreOptions::default()).unwrap();
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let engine = Engine::new(store, Arc::new(MemorySource::new(changes(&h))), config)
        .with_reader(reader.clone());
    engine.sync_now(true, &CancellationToken::new()).unwrap();
    let wards: Vec<String> = reader
        .census()
        .unwrap()
        .into_iter()
        .map(|w| w.ward)
        .collect();
    assert_eq!(wards, ["3階東病棟", "3階西病棟", "3階南病棟", "3階北病棟"]);
}
