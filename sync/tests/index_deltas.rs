//! The search index across incremental syncs: a reader that follows `current` applies each
//! generation's index delta to the index it holds (it never reloads the epoch's base), a
//! reader opened afresh loads base + deltas, and both answer every search and census
//! exactly as a node that made one full sync of the same data — renames, new hospital
//! IDs and birth dates, admissions, discharges, bed moves, a second admission that wins
//! and then goes, an encounter moved to another patient, deleted and new patients.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use akari_sync::crypto::{generate, SnapshotSecret};
use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::reader::PatientSummary;
use akari_sync::source::Change;
use akari_sync::store::index_blob::corrupt_blob_for_test;
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreError, StoreOptions};
use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::{json, Value};

const N: usize = 60;

struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    source: MemorySource,
    engine: Engine,
    reader: SnapshotReader,
    secret: Option<SnapshotSecret>,
}

fn node(encrypted: bool, changes: Vec<Change>) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let (pk, secret) = generate();
    let store = Store::open(
        &dir.path().join("snapshot.redb"),
        StoreOptions {
            public_key: encrypted.then_some(pk),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let source = MemorySource::new(changes);
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let engine =
        Engine::new(store.clone(), Arc::new(source.clone()), config).with_reader(reader.clone());
    Node {
        _dir: dir,
        store,
        source,
        engine,
        reader,
        secret: encrypted.then_some(secret),
    }
}

fn sync(node: &Node, full: bool) -> u64 {
    let report = node
        .engine
        .sync_now(full, &CancellationToken::new())
        .expect("sync succeeds");
    assert!(report.rejects.is_empty(), "{:?}", report.rejects);
    report.generation
}

/// A reader opened now on the node's store (unlocked if the store is encrypted).
fn fresh_reader(node: &Node) -> Result<SnapshotReader, StoreError> {
    let r = SnapshotReader::open(node.store.clone(), Config::default().windows)?;
    if let Some(s) = &node.secret {
        r.unlock(s)?;
    }
    Ok(r)
}

/// What the source holds, by "Type/id".
type Model = BTreeMap<String, Value>;

fn key_of(v: &Value) -> String {
    format!(
        "{}/{}",
        v["resourceType"].as_str().unwrap(),
        v["id"].as_str().unwrap()
    )
}

fn model(now: DateTime<Utc>) -> Model {
    (0..N)
        .flat_map(|i| patient_resources(i, now))
        .map(|v| (key_of(&v), v))
        .collect()
}

fn in_house(
    id: &str,
    patient: usize,
    ward: &str,
    room: &str,
    bed: &str,
    start: DateTime<Utc>,
) -> Value {
    let pt = |c: &str| json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": c}]});
    json!({
        "resourceType": "Encounter", "id": id, "status": "in-progress",
        "class": {"code": "IMP"}, "subject": {"reference": format!("Patient/p{patient}")},
        "period": {"start": ts(start)},
        "location": [
            {"location": {"display": ward}, "physicalType": pt("wa")},
            {"location": {"display": room}, "physicalType": pt("ro")},
            {"location": {"display": bed}, "physicalType": pt("bd")}
        ]
    })
}

/// The incremental changes, one generation each.
fn steps(now: DateTime<Utc>) -> Vec<Vec<Change>> {
    let mut renamed = patient(3);
    renamed["name"][0]["text"] = json!("澤田 美咲");
    renamed["name"][1]["text"] = json!("ｻﾜﾀﾞ ﾐｻｷ");
    let mut new_id = patient(4);
    new_id["identifier"][0]["value"] = json!("000777001");
    let mut new_birth = patient(5);
    new_birth["birthDate"] = json!("1999-12-31");
    let mut discharged = encounter(0, now);
    discharged["status"] = json!("finished");
    discharged["period"]["end"] = json!(ts(now - Duration::hours(1)));
    let admitted = in_house("e1", 1, "東3病棟", "305号室", "2", now - Duration::hours(3));
    let moved = in_house("e6", 6, "西5病棟", "999号室", "9", now - Duration::days(4));
    let second = in_house("e12-b", 12, "ICU", "1号室", "1", now - Duration::hours(2));
    let mut repointed = encounter(15, now);
    repointed["subject"] = json!({"reference": "Patient/p16"});
    let mut allergy_changed = allergy(20, 0);
    allergy_changed["code"]["text"] = json!("ラテックス");
    let del = |t: &str, id: &str| Change::Delete {
        resource_type: t.into(),
        id: id.into(),
    };
    vec![
        vec![upsert(&renamed), upsert(&new_id), upsert(&new_birth)],
        vec![upsert(&discharged), upsert(&admitted), upsert(&moved)],
        {
            let mut v = vec![del("Patient", "p9")];
            v.extend(
                patient_resources(N, now)
                    .iter()
                    .chain(patient_resources(N + 1, now).iter())
                    .map(upsert),
            );
            v
        },
        vec![upsert(&second)],
        vec![del("Encounter", "e12-b"), upsert(&repointed)],
        // No index change at all: no delta blob.
        vec![upsert(&allergy_changed)],
        // The renamed patient renamed again, and back to a common name.
        vec![upsert(&patient(3))],
    ]
}

fn apply(model: &mut Model, changes: &[Change]) {
    for c in changes {
        match c {
            Change::Upsert(bytes) => {
                let v: Value = serde_json::from_slice(bytes).unwrap();
                model.insert(key_of(&v), v);
            }
            Change::Delete { resource_type, id } => {
                model.remove(&format!("{resource_type}/{id}"));
                if resource_type == "Patient" {
                    // The source deletes the patient's data with them.
                    let subject = format!("Patient/{id}");
                    model.retain(|_, v| {
                        v["subject"]["reference"] != subject && v["patient"]["reference"] != subject
                    });
                }
            }
        }
    }
}

/// A summary without the node-specific key.
fn shown(s: &PatientSummary) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        s.hospital_id, s.name_kanji, s.name_kana, s.sex, s.birth_date, s.ward, s.room, s.bed
    )
}

/// Everything search and census answer, for patients 0..N+2 and the changed values.
fn answers(reader: &SnapshotReader) -> Vec<String> {
    let mut queries = vec![
        "澤田 美咲".to_string(),
        "さわだ みさき".to_string(),
        "777001".to_string(),
        "1999-12-31".to_string(),
        "S25.1.2".to_string(),
        "高橋".to_string(),
        "ﾀｶﾊｼ".to_string(),
    ];
    for i in 0..N + 2 {
        let (kanji, kana) = names(i);
        queries.extend([
            hospital_id(i),
            kanji.clone(),
            kana,
            birth_date(i),
            format!("{kanji} {}", birth_date(i)),
        ]);
    }
    let mut out = vec![format!("patients {}", reader.patient_count())];
    for q in queries {
        let (kind, hits) = reader.search(&q).unwrap();
        let hits: Vec<String> = hits.iter().map(shown).collect();
        out.push(format!("{q} {kind:?} {hits:?}"));
    }
    for w in reader.census().unwrap() {
        let mut beds: Vec<String> = w
            .beds
            .iter()
            .map(|b| format!("{:?} {:?} {}", b.room, b.bed, shown(&b.patient)))
            .collect();
        beds.sort();
        out.push(format!("{} {beds:?}", w.ward));
        let one = reader.ward(&w.ward).unwrap().expect("ward by name");
        assert_eq!(one.beds.len(), w.beds.len());
    }
    out
}

fn run(encrypted: bool) {
    let now = Utc::now();
    let mut truth = model(now);
    let a = node(encrypted, truth.values().map(upsert).collect());
    sync(&a, true);
    if let Some(s) = &a.secret {
        a.reader.unlock(s).unwrap();
    }
    for (step, changes) in steps(now).into_iter().enumerate() {
        apply(&mut truth, &changes);
        a.source.replace(changes);
        let g = sync(&a, false);
        let held = answers(&a.reader);
        assert_eq!(a.reader.generation().unwrap().generation, g);
        // A reader opened now: base + every delta.
        let fresh = fresh_reader(&a).unwrap();
        assert_eq!(fresh.generation().unwrap().generation, g);
        assert_eq!(held, answers(&fresh), "step {step}: refreshed vs fresh");
        // A node that full-synced the same data.
        let b = node(false, truth.values().map(upsert).collect());
        sync(&b, true);
        assert_eq!(held, answers(&b.reader), "step {step}: delta vs full sync");
        assert!(a.store.verify(g).unwrap().ok());
    }
    // Spot checks that the steps did what they say.
    let r = &a.reader;
    assert!(
        r.search("沢田美咲")
            .unwrap()
            .1
            .iter()
            .all(|h| h.hospital_id != Some(hospital_id(3))),
        "renamed back"
    );
    assert_eq!(
        r.search(&hospital_id(3)).unwrap().1[0].name_kanji,
        Some(names(3).0)
    );
    assert_eq!(
        r.search("1999-12-31").unwrap().1[0].hospital_id,
        Some(hospital_id(5))
    );
    assert!(
        r.search(&hospital_id(9)).unwrap().1.is_empty(),
        "deleted patient"
    );
    assert_eq!(r.search("777001").unwrap().1.len(), 1);
    assert_eq!(r.search(&hospital_id(4)).unwrap().1.len(), 0, "old ID gone");
    let bed_of = |i: usize| {
        r.search(&hospital_id(i)).unwrap().1[0]
            .ward
            .clone()
            .unwrap_or_default()
    };
    assert_eq!(bed_of(0), "", "discharged");
    assert_eq!(bed_of(1), "東3病棟", "admitted");
    assert_eq!(bed_of(6), "西5病棟");
    assert_eq!(bed_of(12), ward_of(12).0, "the second admission went");
    assert_eq!(bed_of(15), "", "encounter moved away");
    assert_eq!(bed_of(16), ward_of(15).0, "encounter moved here");
    assert_eq!(r.patient_count(), N + 1);
}

#[test]
fn deltas_give_the_same_answers_as_a_full_sync() {
    run(false);
}

#[test]
fn deltas_give_the_same_answers_as_a_full_sync_encrypted() {
    run(true);
}

#[test]
fn a_second_admission_wins_while_it_lasts() {
    let now = Utc::now();
    let a = node(false, model(now).values().map(upsert).collect());
    sync(&a, true);
    a.source.replace(vec![upsert(&in_house(
        "e12-b",
        12,
        "ICU",
        "1号室",
        "1",
        now - Duration::hours(2),
    ))]);
    sync(&a, false);
    let hit = a.reader.search(&hospital_id(12)).unwrap().1.remove(0);
    assert_eq!(hit.ward.as_deref(), Some("ICU"));
    assert_eq!(a.reader.ward("ICU").unwrap().unwrap().beds.len(), 1);
    assert!(a
        .reader
        .ward(&ward_of(12).0)
        .unwrap()
        .unwrap()
        .beds
        .iter()
        .all(|b| b.patient.key != hit.key));
}

/// A refresh applies only the new deltas: it works even though the base blob it loaded
/// earlier has since been damaged on disk, while a reader opened afresh (which must read
/// the base) refuses it.
#[test]
fn a_refresh_reads_only_the_new_delta() {
    let now = Utc::now();
    let a = node(true, model(now).values().map(upsert).collect());
    let g1 = sync(&a, true);
    a.reader.unlock(a.secret.as_ref().unwrap()).unwrap();
    assert!(corrupt_blob_for_test(&a.store, g1, g1).unwrap());
    let mut renamed = patient(3);
    renamed["name"][0]["text"] = json!("沢口 凛");
    a.source.replace(vec![upsert(&renamed)]);
    let g2 = sync(&a, false);
    assert_eq!(a.reader.generation().unwrap().generation, g2);
    assert_eq!(a.reader.search("沢口 凛").unwrap().1.len(), 1);
    assert_eq!(a.reader.patient_count(), N);
    let err = fresh_reader(&a).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

/// More namesakes than a search lists: the answer says so (the page then asks to narrow
/// the search), and the name with the birth date finds the one patient.
#[test]
fn a_search_with_more_namesakes_than_it_lists_says_so() {
    use akari_sync::reader::MAX_RESULTS;
    let namesakes = MAX_RESULTS + 5;
    let changes: Vec<Change> = (0..namesakes + 1)
        .map(|i| {
            let mut p = patient(i);
            if i < namesakes {
                p["name"][0]["text"] = json!("山田 太郎");
                p["name"][1]["text"] = json!("ヤマダ タロウ");
            } else {
                p["name"][0]["text"] = json!("山田 花子");
                p["name"][1]["text"] = json!("ヤマダ ハナコ");
            }
            upsert(&p)
        })
        .collect();
    let a = node(false, changes);
    sync(&a, true);
    for q in ["ヤマダ タロウ", "山田 太郎", "やまだ", "ﾔﾏﾀﾞ"] {
        let r = a.reader.search_results(q).unwrap();
        assert_eq!(r.patients.len(), MAX_RESULTS, "{q}");
        assert!(r.more, "{q}: more matched than are listed");
    }
    let one = a.reader.search_results("ヤマダ ハナコ").unwrap();
    assert_eq!(one.patients.len(), 1);
    assert!(!one.more);
    let q = format!("ヤマダ タロウ {}", birth_date(7));
    let narrowed = a.reader.search_results(&q).unwrap();
    assert!(!narrowed.more, "a name with a birth date is narrow");
    assert!(narrowed
        .patients
        .iter()
        .any(|s| s.hospital_id.as_deref() == Some(hospital_id(7).as_str())));
}

/// A name search with more namesakes than it lists lists the first of them in the order
/// results are listed (kana name, then hospital ID), whichever key matched (kanji or
/// kana, full or family name), says "more" exactly when more matched than it lists (one
/// more is enough), and stays so across incremental syncs that rename patients out of
/// and into the name.
#[test]
fn a_name_search_lists_the_first_namesakes_in_list_order_and_says_more_exactly() {
    use akari_sync::reader::MAX_RESULTS;
    const KANA: [&str; 7] = [
        "タロウ",
        "アキラ",
        "ハナコ",
        "ケンジ",
        "ミキ",
        "サクラ",
        "ジロウ",
    ];
    const KANJI: [&str; 5] = ["太郎", "明", "花子", "健二", "美樹"];
    let namesakes = MAX_RESULTS + 20;
    let named = |i: usize, family: (&str, &str)| {
        let mut p = patient(i);
        // Kana and kanji given names in orders unrelated to each other and to `i`, with
        // ties in the kana name (then the hospital ID decides).
        let kana = KANA[(i * 5 + 3) % KANA.len()];
        let kanji = KANJI[(i * 3 + 1) % KANJI.len()];
        p["name"][0]["text"] = json!(format!("{} {kanji}", family.0));
        p["name"][1]["text"] = json!(format!("{} {kana}", family.1));
        p
    };
    let yamada = ("山田", "ヤマダ");
    let mut model: BTreeMap<usize, Value> = (0..namesakes)
        .map(|i| (i, named(i, yamada)))
        .chain([(namesakes, named(namesakes, ("佐藤", "サトウ")))])
        .collect();
    let a = node(false, model.values().map(upsert).collect());
    sync(&a, true);

    // What a search for the family name must list: every namesake's summary (each found
    // by its hospital ID), in list order, the first MAX_RESULTS of them.
    let expect = |node: &Node, model: &BTreeMap<usize, Value>| {
        let mut all: Vec<PatientSummary> = model
            .iter()
            .filter(|(_, p)| p["name"][0]["text"].as_str().unwrap().starts_with("山田"))
            .map(|(i, _)| {
                let r = node.reader.search_results(&hospital_id(*i)).unwrap();
                assert_eq!(r.patients.len(), 1);
                r.patients[0].clone()
            })
            .collect();
        all.sort_by(|a, b| {
            (&a.name_kana, &a.hospital_id, &a.key).cmp(&(&b.name_kana, &b.hospital_id, &b.key))
        });
        all
    };
    let check = |node: &Node, model: &BTreeMap<usize, Value>, more: bool| {
        let all = expect(node, model);
        assert_eq!(all.len() > MAX_RESULTS, more);
        let ids = |v: &[PatientSummary]| -> Vec<Option<String>> {
            v.iter().map(|s| s.hospital_id.clone()).collect()
        };
        for q in ["やまだ", "ﾔﾏﾀﾞ", "山田", "山田 "] {
            let r = node.reader.search_results(q).unwrap();
            assert_eq!(r.more, more, "{q}");
            assert_eq!(
                ids(&r.patients),
                ids(&all[..all.len().min(MAX_RESULTS)]),
                "{q}"
            );
            // As many as a page lists: the first of the same order, "more" exact.
            for n in [1, 50, 51, all.len() - 1, all.len(), all.len() + 1] {
                let r = node.reader.search_results_up_to(q, n).unwrap();
                let n = n.min(MAX_RESULTS);
                assert_eq!(r.more, all.len() > n, "{q} {n}");
                assert_eq!(ids(&r.patients), ids(&all[..all.len().min(n)]), "{q} {n}");
            }
        }
    };
    check(&a, &model, true);

    // Twenty namesakes renamed away: exactly MAX_RESULTS match, all listed, no "more".
    let away: Vec<usize> = (0..namesakes).step_by(7).take(20).collect();
    for &i in &away {
        model.insert(i, named(i, ("佐藤", "サトウ")));
    }
    a.source
        .replace(away.iter().map(|i| upsert(&model[i])).collect());
    sync(&a, false);
    check(&a, &model, false);

    // Another patient renamed into the name with a kana name listed first: more again,
    // and the renamed patient (held by the index's overlay) is listed first.
    let mut first = named(namesakes, yamada);
    first["name"][1]["text"] = json!("ヤマダ アアア");
    model.insert(namesakes, first);
    a.source.replace(vec![upsert(&model[&namesakes])]);
    sync(&a, false);
    check(&a, &model, true);
    let r = a.reader.search_results("やまだ").unwrap();
    assert_eq!(r.patients[0].hospital_id, Some(hospital_id(namesakes)));

    // A reader opened afresh (base and deltas) answers the same.
    let b = Node {
        reader: fresh_reader(&a).unwrap(),
        ..a
    };
    check(&b, &model, true);
}

/// A date typed with separators is a birth date even where its digits are some patient's
/// hospital ID once hyphens and leading zeros are ignored; digits alone (a scanned or
/// keyed ID) and an ID written exactly as the hospital writes it still find the ID.
#[test]
fn a_date_written_with_separators_finds_birth_dates_and_digits_alone_find_the_id() {
    use akari_sync::reader::SearchKind;
    let with = |i: usize, id: &str, born: &str| {
        let mut p = patient(i);
        p["identifier"][0]["value"] = json!(id);
        p["birthDate"] = json!(born);
        p
    };
    let holder = with(0, "0020050304", "1961-07-08");
    let born = with(1, "000100001", "2005-03-04");
    let born_too = with(2, "000100002", "2005-03-04");
    // A hospital that writes its IDs with hyphens, one of which reads as a date.
    let hyphenated = with(3, "2005-04-01", "1970-01-02");
    let born_april = with(4, "000100004", "2005-04-01");
    let others = (5..20).map(patient);
    let all: Vec<Value> = [holder, born, born_too, hyphenated, born_april]
        .into_iter()
        .chain(others)
        .collect();
    let a = node(false, all.iter().map(upsert).collect());
    sync(&a, true);
    let ask = |q: &str| {
        let r = a.reader.search_results(q).unwrap();
        let mut ids: Vec<String> = r
            .patients
            .into_iter()
            .filter_map(|s| s.hospital_id)
            .collect();
        ids.sort();
        (r.kind, ids)
    };
    let birth = |y, m, d| SearchKind::BirthDate(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
    let born_march = vec!["000100001".to_string(), "000100002".to_string()];
    for q in [
        "2005-03-04",
        "2005/3/4",
        "2005.03.04",
        "２００５－０３－０４",
        "H17.3.4",
        "2005年3月4日",
    ] {
        assert_eq!(ask(q), (birth(2005, 3, 4), born_march.clone()), "{q}");
    }
    for q in ["20050304", "２００５０３０４", "0020050304"] {
        assert_eq!(
            ask(q),
            (SearchKind::HospitalId, vec!["0020050304".to_string()]),
            "{q}"
        );
    }
    // Written exactly as the hospital writes the ID: the ID; otherwise the birth date.
    assert_eq!(
        ask("2005-04-01"),
        (SearchKind::HospitalId, vec!["2005-04-01".to_string()])
    );
    assert_eq!(
        ask("2005/04/01"),
        (birth(2005, 4, 1), vec!["000100004".to_string()])
    );
    // A date that is nobody's ID is a birth date, digits alone included.
    assert_eq!(
        ask("19610708"),
        (birth(1961, 7, 8), vec!["0020050304".to_string()])
    );
}
