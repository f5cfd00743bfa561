//! End to end: synthetic hospital → test FHIR server over HTTP → source → sync engine →
//! redb generation → reader, compared field by field with the generator's truth.
//!
//! What it shows: (1) ≥ 1,000 patients over HTTP equal the truth; (2) a ~1 % delta
//! is picked up exactly, a deleted allergy disappears; (3) dropped connections, 401 and
//! 500s past the retry budget leave the current generation unchanged and served, with
//! the error in status; (5) REST search and Bulk $export paths and SMART auth.

mod common;

use std::collections::BTreeMap;

use akari_sync::engine::CancellationToken;
use akari_sync::model::PatientRecord;
use akari_sync::source::{self, AuthKind, SmartAlgorithm, SourceKind};
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions, SyncError};
use akari_testkit::pki::SmartKey;
use akari_testkit::server::{Fault, FhirServer, ServerAuth, ServerOptions, SmartClient};
use akari_testkit::synth::{self, DeltaConfig, Hospital, SynthConfig};
use common::*;

struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    engine: Engine,
    reader: SnapshotReader,
}

fn node(source_cfg: &source::Config) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("snapshot.redb"), StoreOptions::default()).unwrap();
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let src = source::build(source_cfg).unwrap();
    let engine = Engine::new(store.clone(), src, config).with_reader(reader.clone());
    Node {
        _dir: dir,
        store,
        engine,
        reader,
    }
}

fn assert_matches_truth(reader: &SnapshotReader, truth: &BTreeMap<String, PatientRecord>) {
    assert_eq!(reader.patient_count(), truth.len(), "patient count");
    let mut bad = Vec::new();
    for (hid, want) in truth {
        match reader.patient_by_hospital_id(hid).unwrap() {
            None => bad.push(format!("{hid}: missing")),
            Some(got) => {
                let d = synth::diff_records(&got, want);
                if !d.is_empty() {
                    bad.push(format!("{hid}: {}", d.join("; ")));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} patients differ from the truth, e.g.:\n{}",
        bad.len(),
        truth.len(),
        bad.iter().take(3).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn hiragana(s: &str) -> String {
    s.chars()
        .map(|c| {
            if ('ァ'..='ヶ').contains(&c) {
                char::from_u32(c as u32 - 0x60).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn full_kana(table: &[(&str, &str)], kanji: &str) -> Option<String> {
    table
        .iter()
        .find(|(k, _)| *k == kanji)
        .map(|(_, k)| k.to_string())
}

/// Staff find patients whatever their keyboard gives (hiragana for a half-width kana
/// source, common kanji for a variant), and the ward census puts every inpatient in the
/// bed the truth says.
fn check_search_and_census(reader: &SnapshotReader, h: &Hospital) {
    use synth::names::{FAMILY, GIVEN_FEMALE, GIVEN_MALE};
    let halfwidth = h
        .patients
        .iter()
        .find(|p| {
            p.family_kana
                .chars()
                .any(|c| ('\u{ff66}'..='\u{ff9f}').contains(&c))
                && !p.given_kanji.contains('<')
        })
        .expect("a half-width kana patient");
    let fam = full_kana(FAMILY, &halfwidth.family_kanji).unwrap();
    let giv = full_kana(GIVEN_MALE, &halfwidth.given_kanji)
        .or_else(|| full_kana(GIVEN_FEMALE, &halfwidth.given_kanji))
        .unwrap();
    let q = format!("{}{}", hiragana(&fam), hiragana(&giv));
    let (_, hits) = reader.search(&q).unwrap();
    assert!(
        hits.iter()
            .any(|s| s.hospital_id.as_deref() == Some(halfwidth.hospital_id.as_str())),
        "hiragana search finds the half-width kana patient"
    );
    let variant = h
        .patients
        .iter()
        .find(|p| p.family_kanji.contains(['髙', '﨑', '濱', '澤']) && !p.given_kanji.contains('<'))
        .expect("a variant-kanji patient");
    let common: String = variant
        .family_kanji
        .chars()
        .map(|c| match c {
            '髙' => '高',
            '﨑' => '崎',
            '濱' => '浜',
            '澤' => '沢',
            other => other,
        })
        .collect();
    let (_, hits) = reader
        .search(&format!("{common} {}", variant.given_kanji))
        .unwrap();
    assert!(
        hits.iter()
            .any(|s| s.hospital_id.as_deref() == Some(variant.hospital_id.as_str())),
        "common-kanji search finds the variant-kanji patient"
    );

    let mut want: Vec<(String, String, String, String)> = h
        .truth()
        .iter()
        .flat_map(|(hid, r)| {
            r.encounters
                .iter()
                .filter(|e| e.status == "in-progress")
                .map(|e| {
                    (
                        e.ward.clone().unwrap_or_default(),
                        e.room.clone().unwrap_or_default(),
                        e.bed.clone().unwrap_or_default(),
                        hid.clone(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut got: Vec<(String, String, String, String)> = reader
        .census()
        .unwrap()
        .into_iter()
        .flat_map(|w| {
            let ward = w.ward.clone();
            w.beds.into_iter().map(move |b| {
                (
                    ward.clone(),
                    b.room.unwrap_or_default(),
                    b.bed.unwrap_or_default(),
                    b.patient.hospital_id.unwrap_or_default(),
                )
            })
        })
        .collect();
    want.sort();
    got.sort();
    // 1,000 patients: 200 + 1,000/50 = 220 inpatients (see `synth::inpatient_count`).
    assert_eq!(
        got.len(),
        220,
        "the generator's inpatients are all in a bed"
    );
    assert_eq!(got, want, "ward census equals the truth");
}

fn sync(n: &Node, full: bool) -> Result<akari_sync::SyncReport, SyncError> {
    n.engine.sync_now(full, &CancellationToken::new())
}

fn fast(mut cfg: source::Config) -> source::Config {
    cfg.page_size = 500;
    cfg.max_attempts = 3;
    cfg.retry_budget = 5;
    cfg.backoff_initial_ms = 10;
    cfg
}

/// Full sync, 1 % delta and faults over REST search.
#[test]
fn rest_sync_equals_truth_then_delta_then_faults_keep_the_current_generation() {
    let mut h = Hospital::generate(SynthConfig {
        patients: 1_000,
        seed: 2026,
        xss: true,
        ..SynthConfig::default()
    });
    let server = FhirServer::with_resources(ServerOptions::default(), h.resources());
    let n = node(&fast(http_config(SourceKind::FhirRest, &server.base_url())));

    // (1) Full sync: every patient equals the truth, field by field.
    let first = sync(&n, true).expect("full sync");
    assert!(first.rejects.is_empty(), "{:?}", first.rejects);
    assert_matches_truth(&n.reader, &h.truth());

    check_search_and_census(&n.reader, &h);

    // (2) ~1 % delta: changed, added, deleted, entered-in-error.
    let delta = h.apply_delta(&DeltaConfig::one_percent(77, synth::jst_now()));
    assert!(
        !delta.deleted_allergies.is_empty(),
        "the delta deletes an allergy"
    );
    server.apply(&delta.changes);
    let before_delta = n.store.current().unwrap().unwrap().generation;
    let rep = sync(&n, false).expect("incremental sync");
    assert!(!rep.full);
    assert!(rep.generation > before_delta);
    // The incremental pull moved only the delta (plus the overlap window, which holds
    // nothing else here), not the snapshot.
    assert_eq!(rep.deletions, delta.deleted, "deletions delivered");
    assert!(
        rep.resources < 3 * delta.changes.len() as u64,
        "incremental pulled {} resources for a delta of {}",
        rep.resources,
        delta.changes.len()
    );
    let truth = h.truth();
    assert_matches_truth(&n.reader, &truth);
    for (hid, allergy) in &delta.deleted_allergies {
        let rec = n.reader.patient_by_hospital_id(hid).unwrap().unwrap();
        assert!(
            !rec.allergies.iter().any(|a| &a.id == allergy),
            "deleted allergy still shown"
        );
    }

    // (3) Faults: the server has new data, but every failed sync leaves the current
    // generation as it was, still served, with the error in status.
    let mut h2 = h.clone();
    let delta2 = h2.apply_delta(&DeltaConfig::one_percent(78, synth::jst_now()));
    server.apply(&delta2.changes);
    let current = n.store.current().unwrap().unwrap().generation;
    let faults: [(Fault, &str); 3] = [
        (Fault::DropMidBody, "connection"),
        (
            Fault::Status {
                status: 401,
                retry_after: None,
            },
            "credentials",
        ),
        (
            Fault::Status {
                status: 500,
                retry_after: None,
            },
            "500",
        ),
    ];
    for (fault, expect) in faults {
        server.clear_faults();
        server.inject(None, fault.clone(), u64::MAX);
        let e = sync(&n, false).expect_err("the sync must fail");
        assert!(e.to_string().contains(expect), "{fault:?}: {e}");
        let st = n.engine.status();
        assert!(
            st.last_error.as_deref().is_some_and(|m| m.contains(expect)),
            "status shows the error: {:?}",
            st.last_error
        );
        assert_eq!(n.store.current().unwrap().unwrap().generation, current);
        assert_eq!(st.current_generation, Some(current));
        assert_matches_truth(&n.reader, &truth);
    }
    // Once the source recovers, the next sync catches up and clears the error.
    server.clear_faults();
    sync(&n, false).expect("sync after recovery");
    assert!(n.engine.status().last_error.is_none());
    assert_matches_truth(&n.reader, &h2.truth());
}

/// Full sync, 1 % delta and SMART auth over Bulk $export with SMART Backend Services (RS384).
#[test]
fn bulk_export_with_smart_auth_equals_truth_then_delta() {
    let mut h = Hospital::generate(SynthConfig {
        patients: 1_000,
        seed: 7,
        ..SynthConfig::default()
    });
    let key = SmartKey::rs384();
    let server = FhirServer::with_resources(
        ServerOptions {
            auth: ServerAuth::Smart {
                clients: vec![SmartClient {
                    client_id: "akari-node".into(),
                    algorithm: "RS384",
                    public_pem: key.public_pem.clone(),
                }],
                token_lifetime_secs: 600,
            },
            bulk_polls_before_ready: 1,
            bulk_retry_after_secs: 1,
            ..ServerOptions::default()
        },
        h.resources(),
    );
    let keydir = tempfile::tempdir().unwrap();
    let mut cfg = fast(http_config(SourceKind::Bulk, &server.base_url()));
    cfg.auth.kind = AuthKind::Smart;
    cfg.auth.client_id = Some("akari-node".into());
    cfg.auth.algorithm = Some(SmartAlgorithm::RS384);
    cfg.auth.private_key_file = Some(write(keydir.path(), "key.pem", &key.private_pem));
    let n = node(&cfg);

    let first = sync(&n, true).expect("full sync over Bulk");
    assert!(first.rejects.is_empty(), "{:?}", first.rejects);
    assert_matches_truth(&n.reader, &h.truth());

    let delta = h.apply_delta(&DeltaConfig::one_percent(3, synth::jst_now()));
    server.apply(&delta.changes);
    let rep = sync(&n, false).expect("incremental Bulk sync");
    assert_eq!(rep.deletions, delta.deleted);
    assert_matches_truth(&n.reader, &h.truth());
    for (hid, allergy) in &delta.deleted_allergies {
        let rec = n.reader.patient_by_hospital_id(hid).unwrap().unwrap();
        assert!(!rec.allergies.iter().any(|a| &a.id == allergy));
    }
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path == "/fhir/$export" && r.query.contains("_since=")));
    assert_eq!(
        server.tokens_issued(),
        1,
        "one SMART token served both syncs"
    );
}

/// A malformed NDJSON line is rejected and counted; the rest of the sync goes through.
#[test]
fn malformed_bulk_lines_are_counted_not_fatal() {
    let h = Hospital::generate(SynthConfig {
        patients: 200,
        seed: 8,
        ..SynthConfig::default()
    });
    let server = FhirServer::with_resources(
        ServerOptions {
            bulk_polls_before_ready: 0,
            ..ServerOptions::default()
        },
        h.resources(),
    );
    server.set_malformed_ndjson_lines(1);
    let n = node(&fast(http_config(SourceKind::Bulk, &server.base_url())));
    let rep = sync(&n, true).expect("sync with a few bad lines");
    let rejected: u64 = rep.rejects.values().sum();
    assert!(rejected >= 1, "{:?}", rep.rejects);
    assert_matches_truth(&n.reader, &h.truth());
}
