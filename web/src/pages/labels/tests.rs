//! What a label shows, scan-to-open's rule, and the ledger after label prints and a
//! scan, with the real ledger and a synthetic hospital.

use akari_accounts::event::Action;
use akari_sync::model::{
    Allergy, BloodGroup, BloodType, Criticality, Patient, PatientKey, PatientRecord, Sex,
};
use axum::http::StatusCode;
use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use crate::i18n::Lang;
use crate::pages::test_node::*;

fn tr() -> Tr {
    Tr {
        lang: Lang::Ja,
        zone: akari_accounts::Zone::default(),
    }
}

fn allergy(substance: &str, criticality: Option<Criticality>) -> Allergy {
    Allergy {
        id: substance.into(),
        substance: substance.into(),
        categories: vec!["medication".into()],
        criticality,
        clinical_status: Some("active".into()),
        verification_status: Some("confirmed".into()),
        ..Allergy::default()
    }
}

fn makino() -> PatientRecord {
    PatientRecord {
        key: PatientKey("k-maki".into()),
        patient: Patient {
            id: "pt-1".into(),
            hospital_id: Some("0020000123".into()),
            name_kanji: Some("牧野 爛漫".into()),
            name_kana: Some("マキノ ランマン".into()),
            sex: Sex::Female,
            birth_date: NaiveDate::from_ymd_opt(1950, 4, 1),
            deceased: None,
        },
        allergies: vec![
            allergy("卵", None),
            allergy("ペニシリン系抗生物質", Some(Criticality::High)),
        ],
        blood_types: vec![
            BloodType {
                id: "b1".into(),
                group: BloodGroup::Abo,
                value: "A型".into(),
                time: Some(
                    chrono::FixedOffset::east_opt(9 * 3600)
                        .unwrap()
                        .with_ymd_and_hms(2019, 4, 2, 10, 0, 0)
                        .unwrap(),
                ),
            },
            BloodType {
                id: "b2".into(),
                group: BloodGroup::Rh,
                value: "Rh(+)".into(),
                time: None,
            },
        ],
        ..PatientRecord::default()
    }
}

#[test]
fn a_label_has_kana_blood_type_and_the_allergy_mark_and_symbols_of_the_id() {
    let label = Label::new(tr(), makino(), Utc::now());
    assert_eq!(label.id.name, "牧野 爛漫");
    assert_eq!(label.id.kana, "マキノ ランマン");
    assert_eq!(label.id.hospital_id, "0020000123");
    assert_eq!(label.id.born, "1950-04-01");
    assert!(label.id.age_sex.ends_with('女'), "{}", label.id.age_sex);
    assert_eq!(
        label.blood_type, "A型 Rh(+)",
        "the type without its test date"
    );
    assert!(label.allergy);
    assert_eq!(
        label.allergy_text, "ペニシリン系抗生物質・卵",
        "the critical one first"
    );
    let bars = label.code128.as_ref().unwrap().to_string();
    assert!(bars.starts_with("<svg class=\"code128\""), "{bars}");
    assert!(label
        .qr
        .as_ref()
        .unwrap()
        .to_string()
        .starts_with("<svg class=\"qr\""));
}

#[test]
fn a_label_never_leaves_the_allergy_question_blank() {
    let mut record = makino();
    record.allergies.clear();
    let label = Label::new(tr(), record.clone(), Utc::now());
    assert!(!label.allergy);
    assert_eq!(label.no_allergy, "no_known_allergies");
    record.allergies = vec![Allergy {
        none_known: true,
        ..allergy("なし", None)
    }];
    let label = Label::new(tr(), record, Utc::now());
    assert!(!label.allergy);
    assert_eq!(label.no_allergy, "allergy_none_confirmed");
}

#[test]
fn a_long_allergy_list_is_cut_with_a_mark() {
    let mut record = makino();
    record.allergies = (0..20)
        .map(|i| allergy(&format!("薬剤{i:02}"), None))
        .collect();
    let label = Label::new(tr(), record, Utc::now());
    assert_eq!(label.allergy_text.chars().count(), ALLERGY_TEXT_CHARS + 1);
    assert!(label.allergy_text.ends_with('…'));
}

#[test]
fn a_patient_without_an_id_gets_no_symbols() {
    let mut record = makino();
    record.patient.hospital_id = None;
    let label = Label::new(tr(), record, Utc::now());
    assert!(label.code128.is_none() && label.qr.is_none());
    // An ID Code 128 cannot carry still has its QR.
    let mut record = makino();
    record.patient.hospital_id = Some("患者１２３".into());
    let label = Label::new(tr(), record, Utc::now());
    assert!(label.code128.is_none() && label.qr.is_some());
}

fn summary(key: &str, id: &str) -> PatientSummary {
    PatientSummary {
        key: PatientKey(key.into()),
        patient: Patient {
            hospital_id: Some(id.into()),
            ..Patient::default()
        },
        ward: None,
        room: None,
        bed: None,
        has_allergy: false,
        has_infection: false,
    }
}

#[test]
fn only_one_exact_id_match_opens_the_patient() {
    let one = [summary("pk/1 ä", "P-0042")];
    assert_eq!(
        scanned("P-0042", &one).as_deref(),
        Some("/patients/pk%2F1%20%C3%A4"),
        "the key is one path segment"
    );
    assert_eq!(scanned("p-0042", &one), None, "not exactly the ID");
    assert_eq!(scanned("P0042", &one), None, "not exactly the ID");
    assert_eq!(scanned("P-0042", &[]), None);
    let two = [summary("a", "P-0042"), summary("b", "P-0042")];
    assert_eq!(scanned("P-0042", &two), None, "two patients: the list");
}

/// A declared clinician in a drill on the real node, the ward with the most patients and
/// their keys, and the record of the first of them.
async fn ward_and_clinician(node: &Node) -> (Browser, String, Vec<String>, PatientRecord) {
    let (account_id, credential) = drill_account(node);
    let b = clinician(node, &account_id, &credential).await;
    let ward = node
        .reader
        .census()
        .unwrap()
        .into_iter()
        .max_by_key(|w| w.beds.len())
        .unwrap();
    let keys: Vec<String> = ward.beds.iter().map(|b| b.patient.key.0.clone()).collect();
    let first = node
        .reader
        .patient(&PatientKey(keys[0].clone()))
        .unwrap()
        .unwrap();
    (b, ward.ward, keys, first)
}

#[tokio::test]
async fn label_and_wristband_prints_are_audited_as_prints() {
    let node = node();
    let (mut b, ward, keys, record) = ward_and_clinician(&node).await;
    let key = &keys[0];
    let id = record.patient.hospital_id.clone().unwrap();
    for (path, copies) in [("labels", LABELS_PER_SHEET), ("wristband", 1)] {
        let seq = node.ledger.last_seq().unwrap();
        let page = b.get(&format!("/patients/{}/{path}", urlencode(key))).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let entries = entries_after(&node, seq);
        assert!(
            matches!(&entries[..], [e] if e.action == Action::PatientPrint && e.patient.as_deref() == Some(key.as_str())),
            "{path}: one patient print: {entries:?}"
        );
        assert_eq!(
            page.body.matches("<svg class=\"qr\"").count(),
            copies,
            "{path}"
        );
        assert_eq!(
            page.body.matches("<svg class=\"code128\"").count(),
            copies,
            "{path}"
        );
        assert!(page.body.contains(&id), "{path}");
        assert!(
            page.body
                .contains(record.patient.name_kana.as_deref().unwrap()),
            "{path}"
        );
        assert!(
            page.body.contains("label-drill"),
            "{path}: marked as a drill"
        );
    }
    for path in ["labels", "wristbands"] {
        let seq = node.ledger.last_seq().unwrap();
        let page = b.get(&format!("/wards/{}/{path}", urlencode(&ward))).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let entries = entries_after(&node, seq);
        let [entry] = &entries[..] else {
            panic!("{path}: one entry for the whole ward: {entries:?}")
        };
        let Action::WardPrint {
            ward: printed,
            patients,
            keys: listed,
        } = &entry.action
        else {
            panic!("{path}: not a ward print: {entry:?}")
        };
        assert_eq!(printed, &ward);
        assert_eq!(*patients as usize, keys.len());
        assert_eq!(listed.len(), keys.len(), "{path}: every patient listed");
        let per = if path == "labels" {
            LABELS_PER_WARD_PATIENT
        } else {
            1
        };
        assert_eq!(
            page.body.matches("<svg class=\"qr\"").count(),
            per * keys.len(),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_scanned_id_opens_the_patient_after_an_audited_lookup_by_id() {
    let node = node();
    let (mut b, _, keys, record) = ward_and_clinician(&node).await;
    let key = &keys[0];
    let id = record.patient.hospital_id.clone().unwrap();
    let csrf = b.get("/search").await.csrf();
    let seq = node.ledger.last_seq().unwrap();
    // What a scanner types: the ID and Enter (the browser sends the field).
    let page = b.post("/search", &[("csrf", &csrf), ("q", &id)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.unwrap();
    assert_eq!(location, format!("/patients/{}", urlencode(key)));
    assert!(!location.contains(&id), "the ID is not in the URL");
    let entries = entries_after(&node, seq);
    assert!(
        matches!(&entries[..], [e] if e.action == Action::PatientSearch {
            query_kind: "hospital_id".into(),
            results: 1,
            keys: vec![key.clone()],
        }),
        "the lookup by ID is in the ledger before the redirect: {entries:?}"
    );
    assert!(
        !format!("{entries:?}").contains(&id),
        "never the ID in clear"
    );

    // Part of an ID: the results list, no redirect.
    let partial = &id[..id.len() - 2];
    let page = b.post("/search", &[("csrf", &csrf), ("q", partial)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.location.is_none());
}
