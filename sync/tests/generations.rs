//! Generations end to end through the engine: full and incremental syncs, atomic switch,
//! aborts that keep the current generation, retention, pin, rollback and verify, reject
//! counting, search and census on the result.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use akari_sync::engine::{
    CancellationToken, MemorySource, PullSummary, SinkStopped, Source, SourceError,
};
use akari_sync::mapping::{map_resource, MapContext};
use akari_sync::model::{FlagKind, PatientRecord};
use akari_sync::reader::SearchKind;
use akari_sync::source::{Change, PullKind};
use akari_sync::store::{prepare, GenerationKind, StoreError};
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions, SyncError};
use chrono::{NaiveDate, Utc};
use common::*;
use serde_json::json;

struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    source: MemorySource,
    engine: Engine,
    reader: SnapshotReader,
}

fn node_with(source: Arc<dyn Source>, memory: MemorySource) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("snapshot.redb"), StoreOptions::default()).unwrap();
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let engine = Engine::new(store.clone(), source, config).with_reader(reader.clone());
    Node {
        _dir: dir,
        store,
        source: memory,
        engine,
        reader,
    }
}

fn node(n: usize) -> Node {
    let source = MemorySource::new(hospital(n, Utc::now()));
    node_with(Arc::new(source.clone()), source)
}

fn sync(node: &Node, full: bool) -> akari_sync::SyncReport {
    node.engine
        .sync_now(full, &CancellationToken::new())
        .expect("sync succeeds")
}

fn record(node: &Node, i: usize) -> PatientRecord {
    node.reader
        .patient_by_hospital_id(&hospital_id(i))
        .unwrap()
        .unwrap_or_else(|| panic!("patient {i}"))
}

#[test]
fn full_sync_serves_records_search_and_census() {
    let n = 60;
    let node = node(n);
    let report = sync(&node, true);
    assert!(report.full);
    assert!(report.rejects.is_empty(), "{:?}", report.rejects);
    assert_eq!(report.resources as usize, n * RESOURCES_PER_PATIENT);
    assert_eq!(node.reader.patient_count(), n);
    let m = node.reader.generation().unwrap();
    assert_eq!(m.patients(), n as u64);
    assert!(node.store.verify(m.generation).unwrap().ok());

    let r = record(&node, 7);
    let (kanji, kana) = names(7);
    assert_eq!(r.patient.name_kanji.as_deref(), Some(kanji.as_str()));
    assert_eq!(r.patient.name_kana.as_deref(), Some(kana.as_str()));
    assert_eq!(
        r.patient.birth_date.map(|d| d.to_string()),
        Some(birth_date(7))
    );
    assert_eq!(
        (r.allergies.len(), r.conditions.len(), r.infections.len()),
        (2, 3, 1)
    );
    assert_eq!(r.prescriptions.len(), 2);
    assert_eq!(r.prescriptions[0].dose.as_deref(), Some("1回 1錠"));
    assert_eq!(r.administrations.len(), 4);
    assert!(
        r.administrations.windows(2).all(|w| w[0].time >= w[1].time),
        "newest first"
    );
    assert_eq!(r.labs.len(), 8);
    assert_eq!(r.labs[0].value, "4.25");
    let range = r.labs[0].reference_range.as_ref().unwrap();
    assert_eq!(range.numbers().as_deref(), Some("3.5–5.0 mEq/L"));
    assert_eq!(range.text.as_deref(), Some("3.5-5.0"));
    assert_eq!(r.vitals.len(), 6);
    assert!(r.vitals.iter().any(|v| v.value == "120/80"));
    assert_eq!(r.flags[0].kind, FlagKind::FallRisk);
    assert_eq!(r.documents.len(), 1);
    assert!(
        r.documents[0].text.contains("<script>alert(1)</script>"),
        "document text kept as text"
    );
    assert!(!r.infections[0].positive);
    assert!(record(&node, 8).infections[0].positive);

    // The opaque key is not the hospital ID and gives the same record.
    assert!(!r.key.0.contains(&hospital_id(7)));
    assert_eq!(node.reader.patient(&r.key).unwrap().unwrap(), r);

    // Search: variant kanji, kana in any width or script, spaces, birth dates, IDs.
    let found = |q: &str, i: usize| {
        let (_, hits) = node.reader.search(q).unwrap();
        hits.iter()
            .any(|h| h.hospital_id.as_deref() == Some(hospital_id(i).as_str()))
    };
    assert!(found("高橋", 0) && found("髙橋", 0));
    assert!(found("ﾀｶﾊｼ ﾀﾛｳ", 0) && found("たかはし　たろう", 0) && found("タカハシタロウ", 0));
    assert!(found("山崎", 1) && found("渡辺", 2) && found("渡邉", 2) && found("斎藤", 3));
    assert!(found("齊藤", 3) && found("沢田", 4) && found("浜口", 5));
    assert!(found("太郎", 0), "given name alone");
    assert!(!found("高橋", 1));
    // A name narrowed by a birth date (either order): only the patient born that day.
    let born = |i: usize| NaiveDate::parse_from_str(&birth_date(i), "%Y-%m-%d").unwrap();
    assert!(found(&format!("高橋 {}", birth_date(0)), 0));
    assert!(found(&format!("{} ﾀｶﾊｼ", born(0).format("%Y/%-m/%-d")), 0));
    let other = (1..8).find(|&i| born(i) != born(0)).unwrap();
    assert!(
        node.reader
            .search(&format!("高橋 {}", birth_date(other)))
            .unwrap()
            .1
            .is_empty(),
        "a different birth date finds no 高橋"
    );
    let (kind, hits) = node.reader.search("100007").unwrap();
    assert_eq!(kind, SearchKind::HospitalId);
    assert_eq!(hits.len(), 1);
    let b = NaiveDate::parse_from_str(&birth_date(7), "%Y-%m-%d").unwrap();
    for q in [
        b.format("%Y%m%d").to_string(),
        b.format("%Y/%-m/%-d").to_string(),
    ] {
        let (kind, hits) = node.reader.search(&q).unwrap();
        assert_eq!(kind, SearchKind::BirthDate(b));
        assert!(
            hits.iter().any(|h| h.hospital_id == Some(hospital_id(7))),
            "{q}"
        );
    }
    let showa = format!(
        "S{}.{}.{}",
        b.format("%Y").to_string().parse::<i32>().unwrap() - 1925,
        b.format("%-m"),
        b.format("%-d")
    );
    assert!(found(&showa, 7), "{showa}");

    // Census: inpatients by ward, rooms and beds in order.
    let census = node.reader.census().unwrap();
    let total: usize = census.iter().map(|w| w.beds.len()).sum();
    assert_eq!(total, (0..n).filter(|i| is_inpatient(*i)).count());
    for w in &census {
        for pair in w.beds.windows(2) {
            let a = (pair[0].room.clone().unwrap(), pair[0].bed.clone().unwrap());
            let b = (pair[1].room.clone().unwrap(), pair[1].bed.clone().unwrap());
            assert!(
                akari_sync::reader::natural_cmp(&a.0, &b.0)
                    .then(akari_sync::reader::natural_cmp(&a.1, &b.1))
                    != std::cmp::Ordering::Greater
            );
        }
        for e in &w.beds {
            let i: usize = e
                .patient
                .hospital_id
                .as_ref()
                .unwrap()
                .parse::<usize>()
                .unwrap()
                - 100_000;
            assert_eq!(ward_of(i).0, w.ward);
        }
    }
}

#[test]
fn an_id_that_reads_as_a_date_finds_its_patient_and_other_dates_stay_birth_dates() {
    let now = Utc::now();
    let mut changes = hospital(8, now);
    let mut dated = patient(8);
    dated["identifier"][0]["value"] = json!("19500401");
    changes.push(upsert(&dated));
    let source = MemorySource::new(changes);
    let node = node_with(Arc::new(source.clone()), source);
    sync(&node, true);

    // A wristband's ID typed by a scanner: the one patient who holds it.
    let (kind, hits) = node.reader.search("19500401").unwrap();
    assert_eq!(kind, SearchKind::HospitalId);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].hospital_id.as_deref(), Some("19500401"));

    // A date no patient holds as an ID is still a birth date.
    let b = NaiveDate::parse_from_str(&birth_date(3), "%Y-%m-%d").unwrap();
    let (kind, hits) = node.reader.search(&b.format("%Y%m%d").to_string()).unwrap();
    assert_eq!(kind, SearchKind::BirthDate(b));
    assert!(hits.iter().any(|h| h.hospital_id == Some(hospital_id(3))));
}

#[test]
fn incremental_sync_applies_exactly_the_delta() {
    let n = 200;
    let node = node(n);
    let now = Utc::now();
    sync(&node, true);
    let g1 = node.reader.generation().unwrap();
    let before_10 = record(&node, 10);
    let before_5 = record(&node, 5);

    let mut changed_allergy = allergy(5, 0);
    changed_allergy["code"]["text"] = json!("ラテックス");
    let mut eie = condition(8, 0);
    eie["verificationStatus"] = json!({"coding": [{"code": "entered-in-error"}]});
    let mut new_lab = lab(6, 0, now);
    new_lab["id"] = json!("lab6-new");
    new_lab["valueQuantity"]["value"] = json!(6.1);
    let mut delta: Vec<Change> = vec![
        upsert(&changed_allergy),
        upsert(&new_lab),
        Change::Delete {
            resource_type: "AllergyIntolerance".into(),
            id: "a7-1".into(),
        },
        upsert(&eie),
        Change::Delete {
            resource_type: "Patient".into(),
            id: "p9".into(),
        },
    ];
    // A new patient arrives with all of their data.
    delta.extend(patient_resources(n + 1, now).iter().map(upsert));
    node.source.replace(delta);
    let report = sync(&node, false);
    assert!(!report.full);
    assert!(report.rejects.is_empty(), "{:?}", report.rejects);
    let g2 = node.reader.generation().unwrap();
    assert_eq!(g2.parent, Some(g1.generation));
    assert_eq!(g2.kind, GenerationKind::Incremental);
    // Cost ∝ delta: only the changed versions were written or ended.
    assert!(g2.written <= 40, "written {}", g2.written);
    assert!(g2.removed <= 40, "removed {}", g2.removed);

    let r5 = record(&node, 5);
    assert!(r5.allergies.iter().any(|a| a.substance == "ラテックス"));
    assert_eq!(r5.allergies.len(), 2);
    assert_eq!(r5.conditions, before_5.conditions);
    assert!(record(&node, 6)
        .labs
        .iter()
        .any(|l| l.id == "lab6-new" && l.value == "6.1"));
    let r7 = record(&node, 7);
    assert_eq!(r7.allergies.len(), 1, "deleted allergy disappears");
    assert!(r7.allergies.iter().all(|a| a.id != "a7-1"));
    assert!(
        record(&node, 8).conditions.iter().all(|c| c.id != "c8-0"),
        "entered-in-error removed"
    );
    assert!(node
        .reader
        .patient_by_hospital_id(&hospital_id(9))
        .unwrap()
        .is_none());
    assert_eq!(record(&node, n + 1).labs.len(), 8);
    assert_eq!(record(&node, 10), before_10, "untouched patient unchanged");
    assert_eq!(node.reader.patient_count(), n);

    // Counts moved by exactly the delta, both generations verify.
    let c = |m: &akari_sync::store::Manifest, k: &str| *m.counts.get(k).unwrap_or(&0) as i64;
    assert_eq!(c(&g2, "allergy") - c(&g1, "allergy"), -1 - 2 + 2);
    assert_eq!(c(&g2, "patient") - c(&g1, "patient"), 0);
    assert_eq!(c(&g2, "lab") - c(&g1, "lab"), 1 - 8 + 8);
    for g in [g1.generation, g2.generation] {
        let v = node.store.verify(g).unwrap();
        assert!(v.ok(), "{v:?}");
    }
    // The old generation still reads as it was (retained, immutable).
    assert_eq!(node.store.manifest(g1.generation).unwrap(), g1);
}

/// A source that delivers some resources, then fails.
struct FailingSource {
    changes: Vec<Change>,
    after: usize,
    error: fn() -> SourceError,
}

impl Source for FailingSource {
    fn describe(&self) -> String {
        "failing".into()
    }
    fn pull(
        &self,
        _: PullKind,
        _: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        for c in self.changes.iter().take(self.after) {
            sink(c.clone()).map_err(|_| SourceError::Stopped)?;
        }
        Err((self.error)())
    }
}

#[test]
fn failed_pulls_keep_the_current_generation_and_report_the_error() {
    let node = node(30);
    sync(&node, true);
    let g1 = node.reader.generation().unwrap();
    let before = record(&node, 3);
    let cases: [fn() -> SourceError; 3] = [
        || SourceError::Connection("connection reset mid-page".into()),
        || SourceError::Unauthorized("HTTP 401".into()),
        || SourceError::Http {
            status: 500,
            detail: "retry budget exhausted".into(),
        },
    ];
    for error in cases {
        let failing = FailingSource {
            changes: hospital(30, Utc::now()),
            after: 500,
            error,
        };
        let dir_store = node.store.clone();
        let engine = Engine::new(dir_store, Arc::new(failing), Config::default())
            .with_reader(node.reader.clone());
        let err = engine
            .sync_now(true, &CancellationToken::new())
            .unwrap_err();
        assert!(matches!(err, SyncError::Source(_)), "{err}");
        let status = engine.status();
        assert!(status.last_error.is_some());
        assert_eq!(status.current_generation, Some(g1.generation));
        assert_eq!(node.store.current().unwrap().unwrap(), g1);
        assert_eq!(record(&node, 3), before);
        assert_eq!(
            node.store.list().unwrap().len(),
            1,
            "no partial generation left"
        );
    }
}

#[test]
fn an_unfinished_generation_is_invisible_and_discarded() {
    let node = node(20);
    sync(&node, true);
    let g1 = node.reader.generation().unwrap();
    let mut builder = node.store.begin(true, "test").unwrap();
    let ctx = MapContext::new(Utc::now(), Default::default());
    let keyer = node.store.keyer_handle();
    let mut prepared = Vec::new();
    for c in hospital(5, Utc::now()) {
        let Change::Upsert(bytes) = c else { continue };
        let mut out = Vec::new();
        map_resource(&bytes, &ctx, &mut out).unwrap();
        prepared.extend(out.into_iter().map(|m| prepare(&keyer, m)));
    }
    builder.apply(&prepared).unwrap();
    // Mid-build: readers and the store still see generation 1 only.
    assert!(!node.reader.refresh().unwrap());
    assert_eq!(node.store.current().unwrap().unwrap(), g1);
    assert_eq!(node.reader.patient_count(), 20);
    drop(builder);
    assert_eq!(node.store.list().unwrap().len(), 1);
    assert_eq!(node.reader.patient_count(), 20);
    let report = sync(&node, true);
    assert!(report.generation > g1.generation);
}

#[test]
fn retention_pin_rollback_and_verify() {
    assert!(matches!(
        Store::open(
            &tempfile::tempdir().unwrap().path().join("s.redb"),
            StoreOptions {
                keep: 2,
                ..StoreOptions::default()
            }
        ),
        Err(StoreError::KeepTooSmall(2))
    ));
    let node = node(40);
    let now = Utc::now();
    sync(&node, true); // 1
    let mut a = allergy(4, 0);
    a["code"]["text"] = json!("そば");
    node.source.replace(vec![upsert(&a)]);
    sync(&node, false); // 2
    let at_2 = record(&node, 4);
    assert!(at_2.allergies.iter().any(|x| x.substance == "そば"));
    node.store.set_pinned(2, true).unwrap();
    for k in 0..4 {
        let mut a = allergy(4, 0);
        a["code"]["text"] = json!(format!("変更{k}"));
        let mut changes = vec![upsert(&a)];
        if k == 1 {
            changes = hospital(40, now);
        }
        node.source.replace(changes);
        sync(&node, k == 1); // 3..=6, generation 4 is full (new epoch)
    }
    let list = node.store.list().unwrap();
    let gens: Vec<u64> = list.iter().map(|g| g.manifest.generation).collect();
    assert_eq!(gens, vec![2, 4, 5, 6], "newest 3 plus the pinned one");
    assert!(
        list.iter()
            .find(|g| g.manifest.generation == 6)
            .unwrap()
            .current
    );
    for g in &gens {
        let v = node.store.verify(*g).unwrap();
        assert!(v.ok(), "{v:?}");
    }
    // Roll back to the pinned generation: a new current generation equal to it.
    // Through the engine: the reader and the status follow at once.
    let m = node.engine.rollback(2).unwrap();
    assert_eq!(m.generation, 7);
    assert_eq!(m.kind, GenerationKind::Rollback { from: 2 });
    assert_eq!(m.set_hash, node.store.manifest(2).unwrap().set_hash);
    assert_eq!(node.engine.status().current_generation, Some(7));
    assert_eq!(node.reader.generation().unwrap().generation, 7);
    assert!(!node.reader.refresh().unwrap(), "already refreshed");
    assert_eq!(record(&node, 4), at_2);
    assert!(node.store.verify(7).unwrap().ok());
    // Incremental syncs continue from the rolled-back generation.
    let mut a = allergy(4, 1);
    a["code"]["text"] = json!("卵");
    node.source.replace(vec![upsert(&a)]);
    sync(&node, false);
    let r = record(&node, 4);
    assert!(r.allergies.iter().any(|x| x.substance == "卵"));
    assert!(r.allergies.iter().any(|x| x.substance == "そば"));
    // Unpinning lets retention drop generation 2 on the next sync.
    node.store.set_pinned(2, false).unwrap();
    assert!(node
        .store
        .list()
        .unwrap()
        .iter()
        .all(|g| g.manifest.generation != 2));

    // A damaged generation is detected and cannot be rolled back to.
    let current = node.store.current().unwrap().unwrap();
    assert!(node.store.corrupt_one_item_for_test(&current).unwrap());
    let v = node.store.verify(current.generation).unwrap();
    assert!(!v.ok());
    assert_eq!(v.corrupt_items, 1);
    let older = node.store.list().unwrap()[0].manifest.generation;
    assert!(node.store.verify(older).unwrap().ok() || older == current.generation);
    assert!(matches!(
        node.store.rollback(current.generation),
        Err(StoreError::VerifyFailed { .. })
    ));
}

#[test]
fn rejects_are_counted_by_reason_and_too_many_abort() {
    let now = Utc::now();
    let mut changes = hospital(50, now);
    let mut orphan = lab(1, 0, now);
    orphan["id"] = json!("orphan");
    orphan["subject"] = json!({"reference": "Patient/nobody"});
    let mut no_subject = lab(1, 0, now);
    no_subject["id"] = json!("nosubject");
    no_subject.as_object_mut().unwrap().remove("subject");
    let mut huge = condition(2, 0);
    huge["id"] = json!("huge");
    huge["code"]["text"] = json!("長".repeat(50_000));
    changes.extend([
        Change::Upsert(b"{\"resourceType\":\"Observation\",".to_vec()),
        Change::Upsert(br#"{"resourceType":"Patient","id":"x","birthDate":42}"#.to_vec()),
        upsert(&orphan),
        upsert(&no_subject),
        upsert(&huge),
        upsert(&json!({"resourceType": "Organization", "id": "org1"})),
    ]);
    let source = MemorySource::new(changes);
    let node = node_with(Arc::new(source.clone()), source);
    let report = sync(&node, true);
    let want: BTreeMap<String, u64> = [
        ("invalid_json", 1),
        ("wrong_type", 1),
        ("unknown_patient", 1),
        ("missing_subject", 1),
        ("field_too_large", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(report.rejects, want);
    assert_eq!(report.ignored.get("Organization"), Some(&1));
    assert_eq!(node.engine.status().rejects_total, want);
    assert!(record(&node, 1).labs.iter().all(|l| l.id != "orphan"));
    let g1 = node.store.current().unwrap().unwrap();

    // A poisoned pull (half the lines garbage) is discarded.
    let mut bad = hospital(20, now);
    bad.extend((0..600).map(|_| Change::Upsert(b"<html>oops".to_vec())));
    node.source.replace(bad);
    let err = node
        .engine
        .sync_now(true, &CancellationToken::new())
        .unwrap_err();
    assert!(matches!(err, SyncError::TooManyRejects { .. }), "{err}");
    assert_eq!(node.store.current().unwrap().unwrap(), g1);
    let status = node.engine.status();
    let message = status.last_error.unwrap();
    assert!(
        message.starts_with("sync refused: 600 of ") && message.contains("invalid_json 600"),
        "{message}"
    );
    assert!(!message.contains("unreachable"), "{message}");
    assert!(!err.source_unreachable());
    let refused = status.last_refused.expect("the refused pull's report");
    assert_eq!(refused.rejects.get("invalid_json"), Some(&600));
    assert_eq!(node.reader.patient_count(), 50);
}

/// A device that can fill up; clones share one medium (a reopened file sees the data).
#[derive(Debug, Clone)]
struct FullDisk {
    inner: Arc<redb::backends::InMemoryBackend>,
    full: Arc<AtomicBool>,
}

impl redb::StorageBackend for FullDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        if self.full.load(Ordering::SeqCst) && len > self.inner.len()? {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "No space left on device",
            ));
        }
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if self.full.load(Ordering::SeqCst) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "No space left on device",
            ));
        }
        self.inner.write(offset, data)
    }
}

#[test]
fn disk_full_discards_the_new_generation_and_heals_once_space_is_back() {
    let full = Arc::new(AtomicBool::new(false));
    let backend = FullDisk {
        inner: Arc::new(redb::backends::InMemoryBackend::new()),
        full: full.clone(),
    };
    let db = redb::Database::builder()
        .create_with_backend(backend.clone())
        .unwrap();
    let reopen = move || redb::Database::builder().create_with_backend(backend.clone());
    let store = Store::reopening(db, StoreOptions::default(), Some(Box::new(reopen))).unwrap();
    let source = MemorySource::new(hospital(30, Utc::now()));
    let reader = SnapshotReader::open(store.clone(), Default::default()).unwrap();
    let engine = Engine::new(store.clone(), Arc::new(source.clone()), Config::default())
        .with_reader(reader.clone());
    engine.sync_now(true, &CancellationToken::new()).unwrap();
    let g1 = store.current().unwrap().unwrap();
    let before = reader
        .patient_by_hospital_id(&hospital_id(4))
        .unwrap()
        .unwrap();

    full.store(true, Ordering::SeqCst);
    source.replace(hospital(300, Utc::now()));
    let err = engine
        .sync_now(true, &CancellationToken::new())
        .unwrap_err();
    assert!(
        matches!(&err, SyncError::Store(e) if e.is_storage()),
        "{err}"
    );
    // The device's error is kept as the source (an operator's tooling can tell a full
    // disk from a failing one), and the message says what happened.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    let mut io_kind = None;
    while let Some(e) = cause {
        if let Some(redb::Error::Io(io)) = e.downcast_ref::<redb::Error>() {
            io_kind = Some(io.kind());
        }
        cause = e.source();
    }
    assert_eq!(io_kind, Some(std::io::ErrorKind::StorageFull), "{err}");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(engine.status().last_error.is_some());
    // Still served from memory index + read transactions of generation 1.
    assert_eq!(reader.generation().unwrap(), g1);
    assert_eq!(reader.patient_count(), 30);
    full.store(false, Ordering::SeqCst);
    assert_eq!(store.current().unwrap().unwrap(), g1);
    assert_eq!(
        reader
            .patient_by_hospital_id(&hospital_id(4))
            .unwrap()
            .unwrap(),
        before
    );
    // Still full: the next sync fails the same way, and reading goes on.
    full.store(true, Ordering::SeqCst);
    assert!(engine.sync_now(true, &CancellationToken::new()).is_err());
    assert_eq!(reader.patient_count(), 30);
    full.store(false, Ordering::SeqCst);
    // Space is back: the next sync works without a restart.
    engine
        .sync_now(true, &CancellationToken::new())
        .expect("a sync after the disk was full");
    assert_eq!(reader.patient_count(), 300);
}

#[test]
fn scheduler_syncs_at_once_and_stops_on_cancel() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let node = node(10);
    let engine = Arc::new(node.engine);
    let cancel = CancellationToken::new();
    rt.block_on(async {
        let task = tokio::spawn(engine.clone().run_scheduler(cancel.clone()));
        let mut waited = 0;
        while engine.status().last_success.is_none() {
            assert!(waited < 600, "first sync did not run");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            waited += 1;
        }
        let s = engine.status();
        assert!(s.last_full_success.is_some());
        assert_eq!(s.counts.get("patient"), Some(&10));
        assert!(s.data_age(Utc::now()).unwrap() < chrono::Duration::minutes(5));
        cancel.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(30), task)
            .await
            .expect("scheduler stops on cancel")
            .unwrap();
    });
}

#[test]
fn medication_references_resolve_at_read_time() {
    let now = Utc::now();
    let mut changes = hospital(3, now);
    let mut rx = prescription(1, 5, now);
    rx.as_object_mut()
        .unwrap()
        .remove("medicationCodeableConcept");
    rx["medicationReference"] = json!({"reference": "Medication/med-1"});
    changes.push(upsert(&rx));
    // The Medication arrives after the request that names it.
    changes.push(upsert(&json!({
        "resourceType": "Medication", "id": "med-1",
        "code": {"text": "ワルファリンカリウム錠1mg"}
    })));
    let source = MemorySource::new(changes);
    let node = node_with(Arc::new(source.clone()), source);
    sync(&node, true);
    let r = record(&node, 1);
    let p = r.prescriptions.iter().find(|p| p.id == "rx1-5").unwrap();
    assert_eq!(p.medication, "ワルファリンカリウム錠1mg");
    // A renamed Medication shows up in the next generation without touching the request.
    node.source.replace(vec![upsert(&json!({
        "resourceType": "Medication", "id": "med-1",
        "code": {"text": "ワーファリン錠1mg"}
    }))]);
    sync(&node, false);
    let r = record(&node, 1);
    let p = r.prescriptions.iter().find(|p| p.id == "rx1-5").unwrap();
    assert_eq!(p.medication, "ワーファリン錠1mg");
}

#[test]
fn scope_current_inpatients_keeps_only_inpatients() {
    let source = MemorySource::new(hospital(30, Utc::now()));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), StoreOptions::default()).unwrap();
    let config = Config {
        scope: akari_sync::ScopeConfig::CurrentInpatients,
        ..Config::default()
    };
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let engine = Engine::new(store.clone(), Arc::new(source), config).with_reader(reader.clone());
    let report = engine.sync_now(true, &CancellationToken::new()).unwrap();
    let inpatients = (0..30).filter(|i| is_inpatient(*i)).count();
    assert_eq!(reader.patient_count(), inpatients);
    assert_eq!(report.out_of_scope_patients as usize, 30 - inpatients);
    assert!(reader
        .patient_by_hospital_id(&hospital_id(1))
        .unwrap()
        .is_none());
    assert!(reader
        .patient_by_hospital_id(&hospital_id(3))
        .unwrap()
        .is_some());
    assert!(store.verify(report.generation).unwrap().ok());
}

#[test]
fn config_defaults_and_unknown_keys() {
    let c: Config =
        toml_like(r#"{"interval_secs": 60, "scope": {"kind": "recent_encounter", "days": 14}}"#);
    assert_eq!(c.interval_secs, 60);
    assert_eq!(
        c.scope,
        akari_sync::ScopeConfig::RecentEncounter { days: 14 }
    );
    assert_eq!(c.windows.administrations_hours, 72);
    assert_eq!(c.windows.vitals_hours, 72);
    assert_eq!(c.keep_generations, 3);
    assert_eq!(c.store_options().keep, 3);
    assert_eq!(Config::default().full_every_secs, 86_400);
    assert!(serde_json::from_str::<Config>(r#"{"intervall_secs": 60}"#).is_err());
    // `[sync.source]` nests in this section.
    let c: Config = toml_like(r#"{"source": {"kind": "ndjson-dir", "dir": "/media/akari"}}"#);
    assert_eq!(
        c.source.dir.as_deref(),
        Some(std::path::Path::new("/media/akari"))
    );
}

fn toml_like(s: &str) -> Config {
    serde_json::from_str(s).unwrap()
}

/// A snapshot file of an older item format (here: eight-byte `died` fields and owner
/// generations, schema 5) is not read as if it were the current one: opening it says what
/// to do, and the file is left as it was.
#[test]
fn a_snapshot_of_an_older_item_format_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.redb");
    {
        let node_store = Store::open(&path, StoreOptions::default()).unwrap();
        drop(node_store);
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, &[u8]>::new("akari_meta"))
                .unwrap();
            meta.insert("schema", 5u32.to_be_bytes().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Store::open(&path, StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::OldSchema(5)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("older Akari"), "{text}");
    assert!(text.contains("akari sync now --full"), "{text}");
    // Refused, not rewritten: the file still says schema 5.
    let db = redb::Database::create(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let meta = txn
        .open_table(redb::TableDefinition::<&str, &[u8]>::new("akari_meta"))
        .unwrap();
    let schema = redb::ReadableTable::get(&meta, "schema").unwrap().unwrap();
    assert_eq!(schema.value(), 5u32.to_be_bytes().as_slice());
}
