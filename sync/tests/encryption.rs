//! Encryption at rest, through the engine: a standby sync writes nothing
//! readable about patients; incremental syncs need only the public key and stay ∝ delta;
//! unlock with the secret gives exactly the records a plaintext node serves; a wrong
//! secret decrypts nothing; a copied file opens only with the secret.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use akari_sync::crypto::{generate, SnapshotPublicKey};
use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::model::PatientRecord;
use akari_sync::source::Change;
use akari_sync::store::GenerationKind;
use akari_sync::{Config, Engine, Error, SnapshotReader, Store, StoreOptions};
use chrono::{DateTime, Utc};
use common::*;
use serde_json::json;

struct Node {
    dir: tempfile::TempDir,
    store: Store,
    source: MemorySource,
    engine: Engine,
    reader: SnapshotReader,
}

/// A node as the composition root builds it in standby: the store knows only the public
/// key (from `<data>/keys/snapshot.pub`); nobody has unlocked the reader.
fn node(n: usize, public_key: Option<SnapshotPublicKey>) -> Node {
    node_at(n, public_key, Utc::now())
}

/// Same, with the synthetic data's clock given (two nodes fed identical data).
fn node_at(n: usize, public_key: Option<SnapshotPublicKey>, now: DateTime<Utc>) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let public_key = public_key.map(|pk| {
        let path = dir.path().join("keys/snapshot.pub");
        pk.write_file(&path).unwrap();
        SnapshotPublicKey::read_file(&path).unwrap()
    });
    let store = Store::open(
        &dir.path().join("snapshot.redb"),
        StoreOptions {
            public_key,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let source = MemorySource::new(hospital(n, now));
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let engine =
        Engine::new(store.clone(), Arc::new(source.clone()), config).with_reader(reader.clone());
    Node {
        dir,
        store,
        source,
        engine,
        reader,
    }
}

fn sync(node: &Node, full: bool) -> akari_sync::SyncReport {
    node.engine
        .sync_now(full, &CancellationToken::new())
        .expect("sync succeeds")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every way a patient's identifying data could appear in a file: names (kanji, kana,
/// half-width kana, with and without the space; UTF-8 and UTF-16), hospital IDs (padded
/// and not), birth dates (YYYY-MM-DD as JSON and the store's serde form, YYYYMMDD,
/// YYYY/MM/DD). Needles shorter than 8 bytes (a lone 2-kanji family name, an unpadded
/// 6-digit ID) are left out: megabytes of random ciphertext match those by chance.
fn needles(patients: impl Iterator<Item = usize>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for i in patients {
        let p = patient(i);
        let (kanji, kana) = names(i);
        let sent_kana = p["name"][1]["text"].as_str().unwrap().to_string();
        let mut strings = vec![];
        for name in [&kanji, &kana, &sent_kana] {
            strings.push(name.clone());
            strings.push(name.replace(' ', ""));
            strings.push(name.replace(' ', "　"));
            strings.extend(name.split(' ').map(str::to_string));
        }
        let id = hospital_id(i);
        strings.push(id.trim_start_matches('0').to_string());
        strings.push(id);
        let bd = birth_date(i);
        strings.push(bd.replace('-', ""));
        strings.push(bd.replace('-', "/"));
        strings.push(bd);
        for s in strings {
            let utf16: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
            out.extend([utf16, s.into_bytes()].into_iter().filter(|b| b.len() >= 8));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// (file, needle) pairs found in every file under `dir`.
fn scan(dir: &Path, needles: &[Vec<u8>]) -> Vec<(PathBuf, String)> {
    let ac = AhoCorasick::new(needles).unwrap();
    let mut found = Vec::new();
    for f in files_under(dir) {
        let bytes = std::fs::read(&f).unwrap();
        for m in ac.find_overlapping_iter(&bytes) {
            let needle = &needles[m.pattern().as_usize()];
            found.push((f.clone(), String::from_utf8_lossy(needle).into_owned()));
        }
    }
    found
}

#[test]
fn a_standby_sync_leaves_no_patient_data_in_the_data_directory() {
    let n = 1000;
    let (pk, _secret) = generate();
    let node = node(n, Some(pk));
    assert!(node.store.is_encrypted());
    assert!(node.reader.is_locked());
    sync(&node, true);
    // An incremental sync too (changed names, a new patient, a deletion).
    let now = Utc::now();
    let mut renamed = patient(3);
    renamed["name"][0]["text"] = json!("澤田 美咲");
    let mut delta = vec![
        upsert(&renamed),
        Change::Delete {
            resource_type: "Patient".into(),
            id: "p4".into(),
        },
    ];
    delta.extend(patient_resources(n, now).iter().map(upsert));
    node.source.replace(delta);
    let report = sync(&node, false);
    assert!(!report.full);

    // Standby: counts and times readable, patient data not.
    let m = node
        .reader
        .generation()
        .expect("manifest readable while locked");
    assert_eq!(m.patients(), n as u64);
    let locked = node.reader.patient_by_hospital_id(&hospital_id(5));
    assert!(matches!(locked, Err(Error::Locked)), "{locked:?}");
    let msg = Error::Locked.to_string();
    assert!(msg.contains("locked") && msg.contains("log in"), "{msg}");
    assert!(matches!(
        node.reader.search(&names(5).0),
        Err(Error::Locked)
    ));
    assert!(matches!(
        node.reader.search(&hospital_id(5)),
        Err(Error::Locked)
    ));
    assert!(matches!(node.reader.census(), Err(Error::Locked)));
    assert!(matches!(node.reader.ward("ICU"), Err(Error::Locked)));
    assert!(node.store.verify(m.generation).unwrap().ok());

    // Close the database, then read every byte under the data directory.
    let Node {
        dir,
        store,
        engine,
        reader,
        ..
    } = node;
    drop((engine, reader, store));
    let wanted = needles(0..=n);
    assert!(wanted.len() > 5 * n, "{} needles", wanted.len());
    let found = scan(dir.path(), &wanted);
    assert!(
        found.is_empty(),
        "{} patient strings found in the data directory, e.g. {:?}",
        found.len(),
        &found[..found.len().min(5)]
    );

    // The scan does find them in a plaintext store (the test can fail).
    let plain = node_plain(50);
    let Node {
        dir: plain_dir,
        store,
        engine,
        reader,
        ..
    } = plain;
    drop((engine, reader, store));
    let found = scan(plain_dir.path(), &needles(0..50));
    // (Birth dates are stored as day numbers, not text, so only the texts are looked for.)
    for what in [hospital_id(7), names(7).0, names(7).1] {
        assert!(
            found.iter().any(|(_, s)| *s == what),
            "control scan should find {what}"
        );
    }
}

fn node_plain(n: usize) -> Node {
    let node = node(n, None);
    assert!(!node.store.is_encrypted());
    sync(&node, true);
    node
}

/// A record without its node-specific opaque key, to compare across stores.
fn comparable(mut r: PatientRecord) -> PatientRecord {
    r.key.0.clear();
    r
}

fn record_of(reader: &SnapshotReader, i: usize) -> Option<PatientRecord> {
    reader
        .patient_by_hospital_id(&hospital_id(i))
        .expect("readable")
        .map(comparable)
}

#[test]
fn incremental_sync_needs_only_the_public_key_and_unlock_gives_the_truth() {
    let n = 150;
    let (pk, secret) = generate();
    let now = Utc::now();
    let enc = node_at(n, Some(pk), now);
    let plain = node_at(n, None, now);
    for node in [&enc, &plain] {
        sync(node, true);
    }
    let g1 = enc.reader.generation().unwrap();

    // The same ~1 % delta to both nodes; the encrypted one has no secret in the process.
    let mut changed_allergy = allergy(5, 0);
    changed_allergy["code"]["text"] = json!("ラテックス");
    let mut renamed = patient(12);
    renamed["name"][1]["text"] = json!("サワダ ミサキ");
    let mut delta: Vec<Change> = vec![
        upsert(&changed_allergy),
        upsert(&renamed),
        Change::Delete {
            resource_type: "AllergyIntolerance".into(),
            id: "a7-1".into(),
        },
        Change::Delete {
            resource_type: "Patient".into(),
            id: "p9".into(),
        },
    ];
    delta.extend(patient_resources(n + 1, now).iter().map(upsert));
    for node in [&enc, &plain] {
        node.source.replace(delta.clone());
    }
    let report = sync(&enc, false);
    sync(&plain, false);
    assert!(!report.full);
    assert!(report.rejects.is_empty(), "{:?}", report.rejects);
    assert!(enc.reader.is_locked(), "a sync does not unlock");
    let g2 = enc.reader.generation().unwrap();
    assert_eq!(g2.kind, GenerationKind::Incremental);
    assert_eq!(g2.parent, Some(g1.generation));
    // Cost ∝ delta: only the changed versions were written or ended.
    assert!(g2.written <= 45, "written {}", g2.written);
    assert!(g2.removed <= 45, "removed {}", g2.removed);
    assert_eq!(g2.counts, plain.reader.generation().unwrap().counts);
    // Verify works without the secret and says what it checked.
    let v = enc.store.verify(g2.generation).unwrap();
    assert!(v.ok() && v.encrypted, "{v:?}");
    assert!(v.summary().contains("ciphertext"), "{}", v.summary());

    // A wrong secret decrypts nothing and leaves the reader locked.
    let (_, wrong) = generate();
    let err = enc.reader.unlock(&wrong).unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err:?}");
    assert!(err.to_string().contains("nothing was decrypted"), "{err}");
    assert!(enc.reader.is_locked());
    assert!(matches!(
        enc.reader.patient_by_hospital_id(&hospital_id(5)),
        Err(Error::Locked)
    ));
    assert!(enc.store.keyring(&wrong, None).is_err());

    // Unlock: every record equals the plaintext node's (field by field).
    let stats = enc.reader.unlock(&secret).unwrap();
    assert_eq!(stats.generation, Some(g2.generation));
    assert_eq!(stats.patients, n);
    assert_eq!(stats.data_keys, 2, "one data key per build");
    assert!(!enc.reader.is_locked());
    for i in 0..=n + 1 {
        assert_eq!(
            record_of(&enc.reader, i),
            record_of(&plain.reader, i),
            "patient {i}"
        );
    }
    let r5 = record_of(&enc.reader, 5).unwrap();
    assert!(r5.allergies.iter().any(|a| a.substance == "ラテックス"));
    assert!(record_of(&enc.reader, 9).is_none(), "deleted patient gone");
    assert_eq!(
        enc.reader.search("サワダ ミサキ").unwrap().1.len(),
        plain.reader.search("サワダ ミサキ").unwrap().1.len()
    );
    // Census summaries carry node-specific keys: compare the rest.
    let shape = |c: Vec<akari_sync::reader::WardCensus>| {
        c.into_iter()
            .map(|w| {
                let beds: Vec<_> = w
                    .beds
                    .into_iter()
                    .map(|b| (b.room, b.bed, b.patient.hospital_id, b.patient.name_kana))
                    .collect();
                (w.ward, beds)
            })
            .collect::<Vec<_>>()
    };
    let census = shape(enc.reader.census().unwrap());
    assert!(!census.is_empty());
    assert_eq!(census, shape(plain.reader.census().unwrap()));

    // A new generation while unlocked stays readable after the engine's refresh.
    let mut lab_new = lab(6, 0, now);
    lab_new["id"] = json!("lab6-new");
    enc.source.replace(vec![upsert(&lab_new)]);
    sync(&enc, false);
    assert!(!enc.reader.is_locked());
    assert!(record_of(&enc.reader, 6)
        .unwrap()
        .labs
        .iter()
        .any(|l| l.id == "lab6-new"));

    // Lock wipes: reads fail again.
    enc.reader.lock();
    assert!(enc.reader.is_locked());
    assert!(matches!(
        enc.reader.patient_by_hospital_id(&hospital_id(6)),
        Err(Error::Locked)
    ));
    assert_eq!(enc.reader.patient_count(), 0);
    // Rollback without the secret copies ciphertext; it reads back after unlock.
    let rolled = enc.store.rollback(g2.generation).unwrap();
    enc.reader.refresh().unwrap();
    assert!(enc.reader.is_locked());
    assert!(enc.store.verify(rolled.generation).unwrap().ok());
    enc.reader.unlock(&secret).unwrap();
    assert_eq!(record_of(&enc.reader, 5), record_of(&plain.reader, 5));
    assert!(record_of(&enc.reader, 6)
        .unwrap()
        .labs
        .iter()
        .all(|l| l.id != "lab6-new"));
}

#[test]
fn a_copied_snapshot_opens_only_with_the_secret_and_keys_are_checked_at_open() {
    let (pk, secret) = generate();
    let original = node(30, Some(pk));
    sync(&original, true);
    let want = {
        original.reader.unlock(&secret).unwrap();
        record_of(&original.reader, 4).unwrap()
    };
    let Node {
        dir,
        store,
        engine,
        reader,
        ..
    } = original;
    drop((engine, reader, store));
    // Copied to removable media and opened on another node that knows no key.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("snapshot.redb");
    std::fs::copy(dir.path().join("snapshot.redb"), &copy).unwrap();
    let store = Store::open(&copy, StoreOptions::default()).unwrap();
    assert!(store.is_encrypted(), "the file says it is encrypted");
    assert_eq!(store.public_key(), Some(pk));
    let reader = SnapshotReader::open(store.clone(), Config::default().windows).unwrap();
    assert!(reader.is_locked());
    assert!(matches!(
        reader.patient_by_hospital_id(&hospital_id(4)),
        Err(Error::Locked)
    ));
    let (_, other) = generate();
    assert!(reader.unlock(&other).is_err());
    reader.unlock(&secret).unwrap();
    assert_eq!(record_of(&reader, 4), Some(want));
    drop((reader, store));

    // Another node's key is refused at open, with a clear error.
    let (other_pk, _) = generate();
    let err = Store::open(
        &copy,
        StoreOptions {
            public_key: Some(other_pk),
            ..StoreOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::KeyMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("sync now --full"), "{err}");

    // A plaintext store with generations is not silently half-encrypted.
    let plain = node_plain(5);
    let path = plain.dir.path().join("snapshot.redb");
    let Node {
        dir: _keep,
        store,
        engine,
        reader,
        ..
    } = plain;
    drop((engine, reader, store));
    let err = Store::open(
        &path,
        StoreOptions {
            public_key: Some(pk),
            ..StoreOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Unencrypted), "{err:?}");
}

#[test]
fn retention_drops_data_keys_no_retained_generation_uses() {
    let (pk, secret) = generate();
    let node = node(20, Some(pk));
    sync(&node, true);
    for _ in 0..4 {
        node.source.replace(vec![upsert(&patient(3))]);
        sync(&node, false);
    }
    // One epoch: the full build's key and each incremental's.
    assert_eq!(node.store.keyring(&secret, None).unwrap().len(), 5);
    node.source.replace(hospital(20, Utc::now()));
    for _ in 0..3 {
        sync(&node, true);
    }
    // Three full generations kept (K = 3), each sealed under its own key only.
    assert_eq!(node.store.list().unwrap().len(), 3);
    assert_eq!(node.store.keyring(&secret, None).unwrap().len(), 3);
    let stats = node.reader.unlock(&secret).unwrap();
    assert_eq!(stats.patients, 20);
    assert!(record_of(&node.reader, 3).is_some());
}
