//! A patient's downtime records as a FHIR R4 transaction Bundle: it validates against the
//! published R4 JSON schema (fhir.schema.json, installed by scripts/fetch-fhir-schema.sh;
//! a missing schema fails with the command that installs it), and posted as a
//! transaction to the project's FHIR test server holding the source hospital, it is
//! accepted whole, its references resolve to the source's own Patient and
//! MedicationRequest, and posting it again creates no record twice.

use std::sync::Arc;

use akari_downtime::fhir::{patient_bundle, PatientRef, ENTRY_SYSTEM};
use akari_downtime::{
    Administration, DoseRef, DowntimeStore, Draft, Note, NoteKind, Outcome, Person, Plain, Record,
    Recorder, Supersedes, Vitals,
};
use akari_testkit::fhir_schema::{errors, load as load_schema, validator_for};
use akari_testkit::server::{FhirServer, ServerOptions};
use akari_testkit::synth::{Hospital, SynthConfig};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

/// A synthetic hospital and one of its patients with a prescription: (hospital, patient
/// reference, prescription id).
fn hospital() -> (Hospital, PatientRef, String) {
    let hospital = Hospital::generate(SynthConfig {
        patients: 6,
        ..SynthConfig::default()
    });
    let resources: Vec<Value> = hospital
        .resources()
        .map(|r| serde_json::from_slice(&r.json).unwrap())
        .collect();
    let request = resources
        .iter()
        .find(|r| r["resourceType"] == "MedicationRequest")
        .expect("a prescription");
    let patient_ref = request["subject"]["reference"].as_str().unwrap();
    let patient_id = patient_ref.trim_start_matches("Patient/").to_owned();
    let patient = resources
        .iter()
        .find(|r| r["resourceType"] == "Patient" && r["id"] == patient_id.as_str())
        .unwrap();
    let hospital_id = patient["identifier"][0]["value"]
        .as_str()
        .map(str::to_owned);
    (
        hospital,
        PatientRef {
            source_id: patient_id,
            hospital_id,
        },
        request["id"].as_str().unwrap().to_owned(),
    )
}

fn entries(prescription: &str) -> Vec<akari_downtime::Listed> {
    let db = redb::Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .unwrap();
    let store = DowntimeStore::with_database(db, Arc::new(Plain)).unwrap();
    let t0 = Utc::now() - Duration::hours(3);
    let draft = |n: i64, record: Record, supersedes: Option<Supersedes>| Draft {
        patient: "pk-1".into(),
        subject: akari_downtime::Subject::default(),
        recorder: Recorder {
            account_id: "EA-K7QH3X".into(),
            session_id: "s-1".into(),
            person: Person {
                name: "灯 花子".into(),
                staff_number: "N-20931".into(),
                profession: "看護師".into(),
                department: "5階西".into(),
            },
            episode: 2,
            drill: false,
        },
        refers_to: t0 + Duration::minutes(n),
        ward: "5階西".into(),
        outside_ward: false,
        audit_seq: 100 + n as u64,
        supersedes,
        record,
    };
    let adm = |dose_ref: DoseRef, outcome: Outcome| {
        Record::Administration(Administration {
            dose_ref,
            outcome,
            dose: "1錠".into(),
            route: "経口".into(),
            site: String::new(),
            note: "食後".into(),
        })
    };
    let due = DoseRef::Due {
        prescription_id: prescription.into(),
        scheduled: Some(t0),
        medication: "アムロジピン錠5mg".into(),
    };
    let note = |text: &str| {
        Record::Note(Note {
            author: NoteKind::Nursing,
            text: text.into(),
        })
    };
    store
        .append(draft(1, adm(due.clone(), Outcome::Given), None))
        .unwrap();
    store
        .append(draft(
            2,
            adm(
                DoseRef::Unlisted {
                    drug: "アセトアミノフェン錠200mg".into(),
                },
                Outcome::Refused,
            ),
            None,
        ))
        .unwrap();
    store
        .append(draft(3, adm(due, Outcome::Held), None))
        .unwrap();
    store
        .append(draft(
            4,
            Record::Vitals(Vitals {
                temperature: Some(38.2),
                pulse: Some(96),
                systolic: Some(132),
                diastolic: Some(78),
                respiration: Some(20),
                spo2: Some(95),
                pain: Some(3),
                consciousness: Some("JCS 0".into()),
            }),
            None,
        ))
        .unwrap();
    store.append(draft(5, note("悪寒あり"), None)).unwrap();
    store
        .append(draft(
            6,
            note("悪寒なし"),
            Some(Supersedes {
                entry: 5,
                reason: "記載誤り".into(),
            }),
        ))
        .unwrap();
    store.patient("pk-1").unwrap()
}

#[test]
fn the_fhir_export_validates_against_the_published_r4_schema() {
    let schema = load_schema();
    let (_, patient, prescription) = hospital();
    let bundle = patient_bundle("node-1", &patient, &entries(&prescription));

    let root = jsonschema::validator_for(&schema).expect("the R4 schema compiles");
    let errs = errors(&root, &bundle);
    assert!(errs.is_empty(), "Bundle invalid: {errs:#?}");

    let items = bundle["entry"].as_array().unwrap();
    let kinds: Vec<&str> = items
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    // 3 administrations, 7 vital signs, 1 note in force (the superseded one is not
    // exported), each entry with its Provenance.
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count("MedicationAdministration"), 3);
    assert_eq!(count("Observation"), 7);
    assert_eq!(count("Communication"), 1);
    assert_eq!(count("Provenance"), 5);
    for e in items {
        let resource = &e["resource"];
        let rtype = resource["resourceType"].as_str().unwrap();
        let errs = errors(&validator_for(&schema, rtype), resource);
        assert!(errs.is_empty(), "{rtype} invalid: {errs:#?}");
    }
    // LOINC-coded vital signs; the prescription and patient by the source's ids.
    let text = bundle.to_string();
    for code in [
        "8310-5", "8867-4", "85354-9", "8480-6", "8462-4", "9279-1", "59408-5",
    ] {
        assert!(text.contains(code), "LOINC {code}");
    }
    assert!(text.contains(&format!("MedicationRequest/{prescription}")));
    assert!(text.contains(&format!("Patient/{}", patient.source_id)));
    // Provenance names the declared person and the account.
    let provenance = items
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Provenance")
        .unwrap();
    let agents = provenance["resource"]["agent"].to_string();
    assert!(
        agents.contains("灯 花子") && agents.contains("EA-K7QH3X"),
        "{agents}"
    );

    // The validator is not vacuous: a broken resource is refused.
    let mut broken = items[0]["resource"].clone();
    broken["effectiveDateTime"] = json!("yesterday");
    assert!(!validator_for(&schema, "MedicationAdministration").is_valid(&broken));
}

#[test]
fn the_fhir_export_round_trips_into_the_fhir_server_as_a_transaction() {
    let (hospital, patient, prescription) = hospital();
    let server = FhirServer::with_resources(ServerOptions::default(), hospital.resources());
    let bundle = patient_bundle("node-1", &patient, &entries(&prescription));
    let client = reqwest::blocking::Client::new();
    let post = |b: &Value| -> Value {
        let r = client
            .post(server.base_url())
            .header("content-type", "application/fhir+json")
            .body(b.to_string())
            .send()
            .unwrap();
        let status = r.status();
        let body: Value = r.json().unwrap();
        assert!(status.is_success(), "{status}: {body}");
        body
    };
    let response = post(&bundle);
    assert_eq!(response["type"], "transaction-response");
    let statuses: Vec<&str> = response["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 16);
    assert!(statuses.iter().all(|s| *s == "201 Created"), "{statuses:?}");

    // Stored with their references resolved: the source's patient and prescription, and
    // each Provenance's target the id the server gave.
    let ours = |rtype: &str| -> Vec<Value> {
        server
            .resources_of(rtype)
            .into_iter()
            .filter(|r| r["identifier"][0]["system"] == ENTRY_SYSTEM)
            .collect()
    };
    let given = ours("MedicationAdministration");
    assert_eq!(given.len(), 3);
    for m in &given {
        assert_eq!(
            m["subject"]["reference"],
            format!("Patient/{}", patient.source_id)
        );
    }
    assert!(given
        .iter()
        .any(|m| m["request"]["reference"] == format!("MedicationRequest/{prescription}")));
    let observation_ids: Vec<String> = ours("Observation")
        .iter()
        .map(|o| format!("Observation/{}", o["id"].as_str().unwrap()))
        .collect();
    assert_eq!(observation_ids.len(), 7);
    let provenance = server.resources_of("Provenance");
    assert_eq!(provenance.len(), 5);
    let targets: Vec<String> = provenance
        .iter()
        .flat_map(|p| p["target"].as_array().unwrap().clone())
        .map(|t| t["reference"].as_str().unwrap().to_owned())
        .collect();
    assert!(targets.iter().all(|t| !t.starts_with("urn:uuid:")));
    assert!(observation_ids.iter().all(|o| targets.contains(o)));

    // Imported again (a retry after a lost answer): no record twice.
    let again = post(&bundle);
    let statuses: Vec<&str> = again["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert!(statuses.iter().all(|s| *s == "200 OK"), "{statuses:?}");
    assert_eq!(ours("MedicationAdministration").len(), 3);
    assert_eq!(ours("Communication").len(), 1);
    assert_eq!(server.resources_of("Provenance").len(), 5);

    // A bundle naming a patient the source does not have is refused whole.
    let stranger = PatientRef {
        source_id: "no-such-patient".into(),
        hospital_id: None,
    };
    let refused = client
        .post(server.base_url())
        .body(patient_bundle("node-2", &stranger, &entries(&prescription)).to_string())
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(ours("MedicationAdministration").len(), 3);
    assert_eq!(server.resources_of("Provenance").len(), 5);
}
