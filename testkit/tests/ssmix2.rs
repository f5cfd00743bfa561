//! The synthetic hospital written as SS-MIX2 storage (ISO-2022-JP files, condition flags,
//! cancels, transfers, extended-storage vitals, transaction storage) and synced through
//! the SS-MIX2 source gives what a clinician sees from the same hospital synced over
//! FHIR; an incremental pull reads only the changed files and ends where a full pull does.

use std::collections::BTreeMap;
use std::sync::Arc;

use akari_sync::engine::CancellationToken;
use akari_sync::model::PatientRecord;
use akari_sync::source::ssmix2::{Settings, Ssmix2Source};
use akari_sync::source::{RestSource, SourceKind};
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions};
use akari_testkit::server::{FhirServer, ServerOptions};
use akari_testkit::synth::ssmix2::{
    fullwidth_kana, write_ssmix2_delta, write_ssmix2_tree, Ssmix2Delta, Ssmix2Paths,
};
use akari_testkit::synth::{self, patient, resources_of, SynthConfig};

mod common;

fn settings(paths: &Ssmix2Paths, journal: bool) -> Settings {
    Settings {
        extended_root: Some(paths.extended.clone()),
        transaction_dir: journal.then(|| paths.transaction.clone()),
        extended_transaction_dir: journal.then(|| paths.extended_transaction.clone()),
        institution: synth::DEFAULT_INSTITUTION.into(),
        ..Settings::new(&paths.standard)
    }
}

fn engine(
    dir: &std::path::Path,
    name: &str,
    source: Arc<dyn akari_sync::Source>,
) -> (Engine, SnapshotReader) {
    let store = Store::open(&dir.join(name), StoreOptions::default()).unwrap();
    let config = Config {
        // The test writes the storage moments before pulling: no clock-skew overlap.
        overlap_secs: 0,
        ..Config::default()
    };
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    (
        Engine::new(store, source, config).with_reader(reader.clone()),
        reader,
    )
}

/// Half-width kana as SS-MIX2 carries them (full-width; ISO-2022-JP has no others).
fn as_stored(s: &str) -> String {
    fullwidth_kana(s)
}

/// What a clinician sees of a record, independent of the sources' resource ids: every
/// list sorted by content, the administration → prescription link followed to the
/// prescription it names.
fn clinician_view(r: &PatientRecord) -> String {
    let mut r = r.clone();
    r.key = akari_sync::model::PatientKey(String::new());
    r.patient.id.clear();
    r.patient.name_kana = r.patient.name_kana.as_deref().map(as_stored);
    let rx: BTreeMap<String, String> = r
        .prescriptions
        .iter()
        .map(|p| {
            let mut p = p.clone();
            let id = std::mem::take(&mut p.id);
            (id, format!("{p:?}"))
        })
        .collect();
    for a in &mut r.administrations {
        a.prescription_id = Some(match a.prescription_id.as_ref().and_then(|id| rx.get(id)) {
            Some(p) => p.clone(),
            None => "(no prescription)".into(),
        });
    }
    // IAM-4 is both the criticality and the reactions' severity; the synthetic FHIR
    // allergy gives only the criticality.
    for a in &mut r.allergies {
        a.severity = None;
    }
    // A vital sign's name is the source's own label (JLAC10 9P3 脈拍, LOINC 8867-4 心拍数);
    // its kind, value, unit and time must agree.
    for v in &mut r.vitals {
        v.name = None;
    }
    // OBX-7 carries a range's limits, not its name (the FHIR range's text).
    for l in &mut r.labs {
        if let Some(range) = &mut l.reference_range {
            range.text = None;
        }
    }
    macro_rules! clean {
        ($($f:ident),*) => {{
            let mut out = format!("{:?}\n", r.patient);
            $(
                let mut v: Vec<String> = r.$f.iter().map(|x| {
                    let mut x = x.clone();
                    x.id.clear();
                    format!("{x:?}")
                }).collect();
                v.sort();
                out.push_str(&format!("{}: {v:?}\n", stringify!($f)));
            )*
            out
        }};
    }
    clean!(
        allergies,
        conditions,
        infections,
        prescriptions,
        administrations,
        labs,
        vitals,
        encounters
    )
}

fn census(reader: &SnapshotReader) -> Vec<(String, Vec<String>)> {
    reader
        .census()
        .expect("census")
        .into_iter()
        .map(|w| {
            let mut beds: Vec<String> = w
                .beds
                .iter()
                .map(|b| {
                    let mut b = b.clone();
                    b.patient.name_kana = b.patient.name_kana.as_deref().map(as_stored);
                    format!("{b:?}")
                })
                .collect();
            beds.iter_mut().for_each(|b| {
                // The opaque key differs per store; the rest must match.
                if let Some(i) = b.find("key: PatientKey(") {
                    if let Some(j) = b[i..].find(')') {
                        b.replace_range(i..i + j + 1, "key");
                    }
                }
            });
            beds.sort();
            (w.ward, beds)
        })
        .collect()
}

/// Census equality, reporting the first difference readably.
fn same_census(a: &[(String, Vec<String>)], b: &[(String, Vec<String>)]) {
    let wards = |c: &[(String, Vec<String>)]| c.iter().map(|w| w.0.clone()).collect::<Vec<_>>();
    assert_eq!(wards(a), wards(b), "wards");
    for ((w, x), (_, y)) in a.iter().zip(b) {
        let only_a: Vec<&String> = x.iter().filter(|e| !y.contains(e)).collect();
        let only_b: Vec<&String> = y.iter().filter(|e| !x.contains(e)).collect();
        assert!(
            only_a.is_empty() && only_b.is_empty(),
            "ward {w}: only in the first {only_a:?}\nonly in the second {only_b:?}"
        );
    }
}

fn search(reader: &SnapshotReader, q: &str) -> Vec<String> {
    let mut v: Vec<String> = reader
        .search(q)
        .expect("search")
        .1
        .into_iter()
        .map(|s| {
            format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                s.hospital_id,
                s.name_kanji,
                s.name_kana.as_deref().map(as_stored),
                s.sex,
                s.birth_date,
                s.ward,
                s.room,
                s.bed
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn ssmix2_storage_and_fhir_give_the_same_records_census_and_search() {
    let cfg = SynthConfig {
        patients: 400,
        xss: true,
        ..SynthConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("ssmix2");
    write_ssmix2_tree(&cfg, &tree).unwrap();
    // A delta as stored: new versions (_1, the old renamed _2), deletions (_0), cancels,
    // transfers. The FHIR side gets the hospital after the same delta.
    let delta = Ssmix2Delta {
        patients_share: 0.2,
        ..Ssmix2Delta::one_percent(3, synth::jst_now())
    };
    let rep = write_ssmix2_delta(&cfg, &delta, &tree).unwrap();
    assert!(rep.renamed > 0 && rep.written > rep.renamed, "{rep:?}");
    assert!(!rep.stay_patients.is_empty(), "some stays change");
    let patients: Vec<_> = (0..cfg.patients)
        .map(|i| {
            let mut p = patient(&cfg, i);
            delta.apply(&cfg, &mut p);
            p
        })
        .collect();
    let server = FhirServer::with_resources(
        ServerOptions::default(),
        patients.iter().flat_map(|p| resources_of(p, &cfg)),
    );
    let fhir = Arc::new(
        RestSource::new(&common::http_config(
            SourceKind::FhirRest,
            &server.base_url(),
        ))
        .unwrap(),
    );
    let paths = Ssmix2Paths::under(&tree);
    let ss = Arc::new(Ssmix2Source::new(settings(&paths, true)));
    let (fe, fr) = engine(dir.path(), "fhir.redb", fhir);
    let (se, sr) = engine(dir.path(), "ss.redb", ss);
    let frep = fe.sync_now(true, &CancellationToken::new()).unwrap();
    let srep = se.sync_now(true, &CancellationToken::new()).unwrap();
    assert!(frep.rejects.is_empty(), "{:?}", frep.rejects);
    assert!(srep.rejects.is_empty(), "{:?}", srep.rejects);
    assert_eq!(srep.skipped, 0, "{:?}", srep.source_problems);
    assert!(
        srep.source_problems.is_empty(),
        "{:?}",
        srep.source_problems
    );
    assert_eq!(sr.patient_count(), cfg.patients as usize);

    let mut differ = Vec::new();
    let (mut flags, mut documents) = (0, 0);
    for p in &patients {
        let f = fr.patient_by_hospital_id(&p.hospital_id).unwrap().unwrap();
        let s = sr.patient_by_hospital_id(&p.hospital_id).unwrap().unwrap();
        // SS-MIX2 has no data type for alerts or documents: the FHIR side's are the only
        // difference, and the SS-MIX2 side has none.
        flags += f.flags.len();
        documents += f.documents.len();
        assert!(s.flags.is_empty() && s.documents.is_empty());
        let (a, b) = (clinician_view(&f), clinician_view(&s));
        if a != b {
            let lines: Vec<String> = a
                .lines()
                .zip(b.lines())
                .filter(|(x, y)| x != y)
                .map(|(x, y)| format!("FHIR    {x}\nSS-MIX2 {y}"))
                .collect();
            differ.push(format!("{}:\n{}", p.hospital_id, lines.join("\n")));
        }
    }
    assert!(flags > 0 && documents > 0);
    assert!(
        differ.is_empty(),
        "{} of {} patients differ; first:\n{}",
        differ.len(),
        patients.len(),
        differ.first().unwrap()
    );
    same_census(&census(&fr), &census(&sr));
    assert!(!census(&sr).is_empty());
    let some = &patients[7];
    for q in [
        some.hospital_id.clone(),
        some.family_kanji.clone(),
        as_stored(&some.family_kana),
        "髙橋".into(),
        "ﾀｶﾊｼ".into(),
        some.birth_date.format("%Y%m%d").to_string(),
    ] {
        assert_eq!(search(&fr, &q), search(&sr, &q), "search {q:?}");
    }
}

#[test]
fn incremental_pulls_read_only_changed_files_and_end_as_a_full_pull() {
    let cfg = SynthConfig {
        patients: 1_000,
        ..SynthConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("ssmix2");
    let stats = write_ssmix2_tree(&cfg, &tree).unwrap();
    let paths = Ssmix2Paths::under(&tree);
    let walk = Arc::new(Ssmix2Source::new(settings(&paths, false)));
    let journal = Arc::new(Ssmix2Source::new(settings(&paths, true)));
    let (we, wr) = engine(dir.path(), "walk.redb", walk.clone());
    let (je, jr) = engine(dir.path(), "journal.redb", journal.clone());
    we.sync_now(true, &CancellationToken::new()).unwrap();
    je.sync_now(true, &CancellationToken::new()).unwrap();
    let full_reads = walk.take_counters().files_read;
    journal.take_counters();
    assert!(
        full_reads as f64 >= stats.files as f64 * 0.9,
        "{full_reads} of {}",
        stats.files
    );

    let delta = Ssmix2Delta::one_percent(9, synth::jst_now());
    let rep = write_ssmix2_delta(&cfg, &delta, &tree).unwrap();
    let changed = rep.changed_files();
    assert!(
        (5..=30).contains(&rep.patients.len()),
        "about 1 % of 1,000 patients: {}",
        rep.patients.len()
    );
    assert!(changed > 0);

    for (engine, source, what) in [
        (&we, &walk, "folder walk"),
        (&je, &journal, "transaction storage"),
    ] {
        let r = engine.sync_now(false, &CancellationToken::new()).unwrap();
        assert!(!r.full);
        assert!(r.rejects.is_empty(), "{what}: {:?}", r.rejects);
        let c = source.take_counters();
        assert!(
            c.files_read > 0 && c.files_read <= changed,
            "{what}: read {} files, {changed} changed",
            c.files_read
        );
        // Context: the unchanged events of stays that changed, and nothing else.
        assert!(
            c.context_files_read <= 4 * rep.stay_patients.len() as u64,
            "{what}: {} context reads for {} stays",
            c.context_files_read,
            rep.stay_patients.len()
        );
        if what == "transaction storage" {
            assert_eq!(c.dirs_checked, 0, "no folder walk with a journal");
            assert!(c.journal_files_read > 0);
        } else {
            assert!(c.files_checked < stats.files / 10, "{what}: {c:?}");
        }
        eprintln!("{what}: {changed} files changed; {c:?}");
    }

    // A full pull of the same storage gives the same records.
    same_as_a_full_pull(
        dir.path(),
        &paths,
        &cfg,
        &[(&wr, "folder walk"), (&jr, "transaction storage")],
    );
}

/// A full pull of the storage as it is now gives every patient the same record, and
/// the same census, as each of `readers` (after incremental pulls).
fn same_as_a_full_pull(
    dir: &std::path::Path,
    paths: &Ssmix2Paths,
    cfg: &SynthConfig,
    readers: &[(&SnapshotReader, &str)],
) {
    let fresh = Arc::new(Ssmix2Source::new(settings(paths, false)));
    let (fe, fr) = engine(dir, "full.redb", fresh);
    fe.sync_now(true, &CancellationToken::new()).unwrap();
    let comparable = |reader: &SnapshotReader, hid: &str| {
        let mut r = reader.patient_by_hospital_id(hid).unwrap().unwrap();
        r.key = akari_sync::model::PatientKey(String::new());
        synth::sort_record(&mut r);
        r
    };
    for i in 0..cfg.patients {
        let hid = patient(cfg, i).hospital_id;
        let full = comparable(&fr, &hid);
        for (reader, what) in readers {
            assert_eq!(
                comparable(reader, &hid),
                full,
                "{what}: patient {hid} differs after the incremental pull"
            );
        }
    }
    for (reader, _) in readers {
        same_census(&census(reader), &census(&fr));
    }
}

/// The synthetic hospital of `patients` written as SS-MIX2 storage in a new temporary
/// folder, and a source walking it with its engine, after a full pull.
type WalkedStorage = (
    tempfile::TempDir,
    SynthConfig,
    Ssmix2Paths,
    Arc<Ssmix2Source>,
    Engine,
    SnapshotReader,
);

fn walked_storage(patients: u64) -> WalkedStorage {
    let cfg = SynthConfig {
        patients,
        ..SynthConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("ssmix2");
    write_ssmix2_tree(&cfg, &tree).unwrap();
    let paths = Ssmix2Paths::under(&tree);
    let walk = Arc::new(Ssmix2Source::new(settings(&paths, false)));
    let (we, wr) = engine(dir.path(), "walk.redb", walk.clone());
    we.sync_now(true, &CancellationToken::new()).unwrap();
    walk.take_counters();
    (dir, cfg, paths, walk, we, wr)
}

/// Folders at depth 0 to 2 under `root` (the root and the two levels above the patient
/// folders): what a walk lists when no patient folder changed.
fn top_folders(root: &std::path::Path) -> u64 {
    let mut n = 1;
    for a in std::fs::read_dir(root).unwrap().flatten() {
        if a.file_type().unwrap().is_dir() {
            n += 1;
            for b in std::fs::read_dir(a.path()).unwrap().flatten() {
                n += u64::from(b.file_type().unwrap().is_dir());
            }
        }
    }
    n
}

#[test]
fn incremental_walk_lists_only_changed_folders_and_finds_changes_under_times_set_back() {
    let (dir, cfg, paths, walk, we, wr) = walked_storage(40);

    // Nothing changed: the walk checks folder times and lists no patient folder.
    let r = we.sync_now(false, &CancellationToken::new()).unwrap();
    let c = walk.take_counters();
    assert_eq!((r.resources, r.deletions, c.files_read), (0, 0, 0), "{c:?}");
    assert_eq!(
        c.dirs_listed,
        top_folders(&paths.standard) + top_folders(&paths.extended),
        "{c:?}"
    );
    assert!(c.dirs_checked > cfg.patients, "{c:?}");

    // A lab result deleted (its `_1` renamed `_0`), then the times of its data type,
    // date and patient folders set back a year, as a copy that keeps times would leave
    // them: the change times still tell, and the pull still finds the file.
    let lab = walkdir(&paths.standard)
        .into_iter()
        .find(|p| {
            p.parent().and_then(|d| d.file_name()) == Some("OML-11".as_ref())
                && p.to_string_lossy().ends_with("_1")
        })
        .expect("a lab result file");
    let deleted = lab.with_file_name({
        let n = lab.file_name().unwrap().to_string_lossy().into_owned();
        format!("{}0", &n[..n.len() - 1])
    });
    std::fs::rename(&lab, &deleted).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(365 * 86_400);
    for folder in deleted.ancestors().skip(1).take(3) {
        std::fs::File::open(folder)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(std::fs::metadata(folder).unwrap().modified().unwrap() <= old);
    }
    let r = we.sync_now(false, &CancellationToken::new()).unwrap();
    let c = walk.take_counters();
    assert!(r.deletions > 0, "the lab result is deleted: {c:?}");
    assert_eq!(c.files_read, 1, "only the renamed file is read: {c:?}");

    // The same records as a full pull of the storage as it is now.
    same_as_a_full_pull(dir.path(), &paths, &cfg, &[(&wr, "folder walk")]);
}

/// Every file under `root`, sorted.
fn walkdir(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
