//! the FHIR export validates against the published FHIR R4 JSON schema
//! (fhir.schema.json from a registry package, installed by scripts/fetch-fhir-schema.sh).
//! A missing schema fails the test with the command that installs it.

mod ledger_common;

use akari_accounts::event::{Action, Actor, AuditEvent, AuditSink, Mode, Reason};
use akari_accounts::ledger::{ExportFormat, ExportRange, LedgerConfig};
use akari_accounts::Zone;
use akari_testkit::fhir_schema::{errors, load as load_schema, validator_for};
use ledger_common::*;
use serde_json::{json, Value};

fn every_kind_of_event() -> Vec<AuditEvent> {
    let c = clinician("EMERG-01", "sess-1", 1);
    let undeclared = Actor::Emergency {
        account_id: "EMERG-02".into(),
        session_id: "sess-2".into(),
        declared: None,
    };
    let m = Mode::Emergency;
    let mut v = vec![
        mode_change(at(0), Mode::Standby, Mode::Emergency, "EHR down"),
        ev(
            at(1),
            Actor::Anonymous,
            Action::LoginFailed {
                reason: "bad credential".into(),
            },
            m,
        ),
        ev(at(1), undeclared.clone(), Action::LoginSucceeded, m),
        ev(at(1), undeclared, Action::SealBroken, m),
        ev(
            at(2),
            c.clone(),
            Action::Declared {
                reason: Reason::EmergencyTreatment,
            },
            m,
        ),
        ev(
            at(2),
            c.clone(),
            Action::Declared {
                reason: Reason::Other("transfer".into()),
            },
            m,
        ),
        ev(
            at(3),
            c.clone(),
            Action::PatientSearch {
                query_kind: "name_kana".into(),
                results: 4,
                keys: vec!["pk-00001".into(), "pk-00002".into()],
            },
            m,
        ),
        read(at(4), c.clone(), "pk-00001", "4-East", m),
        ev(
            at(4),
            c.clone(),
            Action::PatientNotFound {
                key: "pk-stale".into(),
            },
            m,
        ),
        AuditEvent {
            patient: Some("pk-00001".into()),
            ..ev(at(5), c.clone(), Action::PatientPrint, m)
        },
        ev(
            at(6),
            c.clone(),
            Action::WardCensus {
                ward: "4-East".into(),
                keys: vec!["pk-00001".into(), "pk-00003".into()],
            },
            m,
        ),
        ev(
            at(6),
            c.clone(),
            Action::WardPrint {
                ward: "4-East".into(),
                patients: 2,
                keys: vec!["pk-00001".into(), "pk-00003".into()],
            },
            m,
        ),
        ev(at(7), c.clone(), Action::Logout, m),
        ev(at(8), c, Action::SessionExpired, m),
        mode_change(at(9), Mode::Emergency, Mode::Recovery, "EHR back"),
        ev(at(10), Actor::System, Action::AdminCreated, Mode::Recovery),
        ev(
            at(10),
            Actor::Console {
                os_user: "root".into(),
            },
            Action::AdminCredentialEnrolled,
            Mode::Recovery,
        ),
        ev(
            at(10),
            admin(),
            Action::AdminRecovered {
                admin_id: "it-2".into(),
                change: akari_accounts::event::AdminRecovery::PasskeysReplaced,
            },
            Mode::Recovery,
        ),
        ev(
            at(11),
            admin(),
            Action::AccountProvisioned {
                account_id: "EMERG-03".into(),
            },
            Mode::Recovery,
        ),
        ev(
            at(11),
            admin(),
            Action::KeyEnrolled {
                account_id: "EMERG-03".into(),
            },
            Mode::Recovery,
        ),
        ev(
            at(11),
            admin(),
            Action::AccountRetired {
                account_id: "EMERG-01".into(),
            },
            Mode::Recovery,
        ),
        ev(
            at(11),
            admin(),
            Action::AccountResealed {
                account_id: "EMERG-01".into(),
            },
            Mode::Recovery,
        ),
        ev(
            at(11),
            admin(),
            Action::AccountRevoked {
                account_id: "EMERG-02".into(),
            },
            Mode::Recovery,
        ),
        ev(
            at(12),
            admin(),
            Action::AuditExported {
                format: "fhir".into(),
            },
            Mode::Recovery,
        ),
        ev(
            at(12),
            admin(),
            Action::ReviewVerdict {
                session_id: "sess-1".into(),
                verdict: "legitimate_emergency".into(),
                comment: "ER shift".into(),
            },
            Mode::Recovery,
        ),
        mode_change(at(13), Mode::Recovery, Mode::Drill, "quarterly drill"),
    ];
    // No client address on one event: optional parts stay optional.
    v[1].client = Default::default();
    // A reviewer's names, patient lookup and sign-off, after the episodes above.
    v.extend([
        ev(
            at(14),
            admin(),
            Action::ReviewResolved {
                keys: vec!["pk-00001".into()],
                purpose: "complaint".into(),
            },
            Mode::Drill,
        ),
        AuditEvent {
            patient: Some("pk-00001".into()),
            ..ev(
                at(14),
                admin(),
                Action::ReviewPatientLookup {
                    purpose: "complaint".into(),
                },
                Mode::Drill,
            )
        },
        ev(
            at(15),
            admin(),
            Action::ReviewSignOff {
                episode: 1,
                verdict: "no_issues".into(),
                comment: String::new(),
            },
            Mode::Drill,
        ),
    ]);
    // Downtime records: an entry (audited before it is stored), reconciliation, export.
    v.extend([
        AuditEvent {
            patient: Some("pk-00001".into()),
            ..ev(
                at(12),
                clinician("EMERG-01", "sess-9", 1),
                Action::DowntimeRecorded {
                    record: "administration".into(),
                    supersedes: Some(3),
                },
                Mode::Drill,
            )
        },
        ev(
            at(13),
            admin(),
            Action::DowntimeReconciled {
                entries: vec![1, 2],
            },
            Mode::Recovery,
        ),
        ev(
            at(13),
            admin(),
            Action::DowntimeExported {
                episode: Some(1),
                format: "fhir".into(),
            },
            Mode::Recovery,
        ),
    ]);
    v
}

fn fhir_export() -> Value {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path(), &key(), &LedgerConfig::default());
    for e in every_kind_of_event() {
        let _ = ledger.record(e).unwrap();
    }
    let mut out = Vec::new();
    let summary = ledger
        .export(
            &ExportRange::all(),
            ExportFormat::Fhir,
            &Zone::default(),
            &mut out,
        )
        .unwrap();
    assert_eq!(summary.entries, 32);
    serde_json::from_slice(&out).expect("the FHIR export is one JSON document")
}

#[test]
fn fhir_export_validates_against_the_published_r4_schema() {
    let schema = load_schema();
    let bundle = fhir_export();

    // The whole Bundle against the schema's root (any FHIR resource).
    let root = jsonschema::validator_for(&schema).expect("the R4 schema compiles");
    let errs = errors(&root, &bundle);
    assert!(errs.is_empty(), "Bundle invalid: {errs:#?}");

    // Each resource against the AuditEvent definition itself.
    let audit = validator_for(&schema, "AuditEvent");
    let entries = bundle["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 32);
    for e in entries {
        let errs = errors(&audit, &e["resource"]);
        assert!(
            errs.is_empty(),
            "AuditEvent {} invalid: {errs:#?}",
            e["resource"]["id"]
        );
    }

    // The validator is not vacuous: broken resources are refused.
    let mut broken = entries[0]["resource"].clone();
    broken["recorded"] = json!("yesterday");
    assert!(!audit.is_valid(&broken));
    let mut broken = entries[0]["resource"].clone();
    broken["action"] = json!("X");
    assert!(!audit.is_valid(&broken));
    let mut broken = entries[0]["resource"].clone();
    broken.as_object_mut().unwrap().remove("agent");
    assert!(!audit.is_valid(&broken));
}

fn codes(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let (Some(Value::String(s)), Some(Value::String(c))) =
                    (m.get("system"), m.get("code"))
                {
                    out.push(format!("{s}#{c}"));
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

#[test]
fn fhir_export_follows_balp_and_the_override_codes() {
    let bundle = fhir_export();
    let r = |i: usize| bundle["entry"][i]["resource"].clone();
    let dcm = "http://dicom.nema.org/resources/ontology/DCM";
    // Emergency declared: override started; purpose ETREAT and BTG.
    let start = codes(&r(0));
    assert!(start.contains(&format!("{dcm}#110127")), "{start:?}");
    assert!(
        start.contains(&"http://terminology.hl7.org/CodeSystem/v3-ActReason#ETREAT".to_string())
    );
    // Failed login: user authentication/login with a failure outcome.
    let failed = r(1);
    assert!(codes(&failed).contains(&format!("{dcm}#110122")));
    assert_eq!(failed["outcome"], "4");
    // Patient read: BALP PatientRead, the patient entity with the opaque key.
    let read = r(7);
    assert!(read["meta"]["profile"][0]
        .as_str()
        .unwrap()
        .ends_with("IHE.BasicAudit.PatientRead"));
    assert_eq!(read["subtype"][0]["code"], "read");
    let patient = &read["entity"][0];
    assert_eq!(patient["role"]["code"], "1");
    assert_eq!(patient["what"]["identifier"]["value"], "pk-00001");
    let purposes = codes(&read["agent"][0]["purposeOfUse"]);
    assert!(
        purposes.iter().any(|c| c.ends_with("#BTG"))
            && purposes.iter().any(|c| c.ends_with("#ETREAT"))
    );
    assert_eq!(read["agent"][0]["network"]["address"], "192.0.2.10");
    // Search: BALP PatientQuery, never the query text.
    let search = r(6);
    assert!(search["meta"]["profile"][0]
        .as_str()
        .unwrap()
        .ends_with("IHE.BasicAudit.PatientQuery"));
    // ... with one Patient entity per patient listed (their names were shown).
    assert_eq!(patient_keys(&search), ["pk-00001", "pk-00002"]);
    // A key that names no patient: a read that failed, the key kept as the query.
    let unknown = r(8);
    assert_eq!(unknown["outcome"], "4");
    assert!(patient_keys(&unknown).is_empty());
    assert!(unknown.to_string().contains("pk-stale"));
    // A ward print lists every patient printed.
    assert_eq!(patient_keys(&r(11)), ["pk-00001", "pk-00003"]);
    // Logout.
    assert!(codes(&r(12)).contains(&format!("{dcm}#110123")));
    // Back to recovery: override stopped.
    assert!(codes(&r(14)).contains(&format!("{dcm}#110138")));
    // A reviewer's names and patient lookup: the audit log used, each naming the patient;
    // the sign-off: the audit log used, created.
    for i in [26, 27] {
        assert!(codes(&r(i)).contains(&format!("{dcm}#110101")), "{}", r(i));
        assert_eq!(r(i)["action"], "R");
        assert_eq!(patient_keys(&r(i)), ["pk-00001"]);
    }
    assert!(codes(&r(28)).contains(&format!("{dcm}#110101")));
    assert_eq!(r(28)["action"], "C");
}

/// The opaque keys of an AuditEvent's Patient entities.
fn patient_keys(event: &Value) -> Vec<String> {
    event["entity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["role"]["code"] == "1")
        .map(|e| {
            e["what"]["identifier"]["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}
