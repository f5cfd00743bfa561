//! Downtime records as FHIR R4, for back-entry: one `transaction` Bundle per patient that
//! the hospital's EHR (or its interface engine) can import.
//!
//! * an administration → `MedicationAdministration` (given: `completed`; held or refused:
//!   `not-done` with the reason), referring to the prescription by the source's own id
//!   (`MedicationRequest/<id>`) when it was a due dose;
//! * vital signs → one `Observation` (category `vital-signs`) per sign, coded with LOINC
//!   and UCUM as the vital-signs profile asks (blood pressure as the 85354-9 panel);
//! * a note → `Communication` (its text as the payload, nursing or physician as the
//!   category);
//! * each with a `Provenance` naming the declared person (author) and the emergency
//!   account (enterer), the time recorded, and for a correction the entry it corrects.
//!
//! The patient is referred to by the source's own id (`Patient/<id>`) and, where known,
//! the hospital ID as an identifier. Each resource carries the entry's identifier
//! (`urn:akari:downtime-entry`, `<node>-<entry>`) and its create is conditional on it
//! (`ifNoneExist`), so importing the same bundle twice creates no record twice (R4's
//! Provenance has no identifier: it has an id derived from the entry's and is written
//! with `PUT`). Entries
//! that a correction superseded are not exported (the reconciliation list shows them).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{DoseRef, Entry, Listed, NoteKind, Outcome, Record, Vitals};

/// The identifier system of a downtime entry's resources.
pub const ENTRY_SYSTEM: &str = "urn:akari:downtime-entry";
/// The tag every exported resource carries.
pub const TAG_SYSTEM: &str = "urn:akari:downtime";
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
const PROVENANCE_AGENT: &str = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
const DATA_OPERATION: &str = "http://terminology.hl7.org/CodeSystem/v3-DataOperation";

/// Who the patient is in the source system.
#[derive(Debug, Clone)]
pub struct PatientRef {
    /// The source's logical id of the Patient resource.
    pub source_id: String,
    /// The hospital ID (院内患者ID), if the snapshot has one.
    pub hospital_id: Option<String>,
}

fn instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stable `urn:uuid:` for one resource of one entry of one node.
fn uuid(node: &str, entry: u64, part: &str) -> String {
    let d = Sha256::digest(format!("{node}/{entry}/{part}").as_bytes());
    let h = hex::encode(&d[..16]);
    format!(
        "urn:uuid:{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn patient_reference(p: &PatientRef) -> Value {
    let mut r = json!({ "reference": format!("Patient/{}", p.source_id) });
    if let Some(id) = &p.hospital_id {
        r["identifier"] = json!({
            "type": { "coding": [{ "system": V2_0203, "code": "MR" }] },
            "value": id,
        });
    }
    r
}

fn person_reference(e: &Entry) -> Value {
    let p = &e.recorder.person;
    json!({
        "identifier": { "system": "urn:akari:staff-number", "value": p.staff_number },
        "display": format!("{}（{}・{}）", p.name, p.profession, p.department),
    })
}

fn account_reference(e: &Entry) -> Value {
    json!({
        "identifier": { "system": "urn:akari:emergency-account", "value": e.recorder.account_id },
        "display": format!("{} ({})", e.recorder.account_id, e.recorder.session_id),
    })
}

fn meta(e: &Entry) -> Value {
    let mut tags =
        vec![json!({ "system": TAG_SYSTEM, "code": "downtime-record", "display": "停電中記録" })];
    if e.recorder.drill {
        tags.push(json!({ "system": TAG_SYSTEM, "code": "drill", "display": "訓練" }));
    }
    json!({ "tag": tags })
}

fn entry_identifier(node: &str, e: &Entry, part: &str) -> (Value, String) {
    let value = if part.is_empty() {
        format!("{node}-{}", e.id)
    } else {
        format!("{node}-{}-{part}", e.id)
    };
    (
        json!([{ "system": ENTRY_SYSTEM, "value": value }]),
        format!("identifier={ENTRY_SYSTEM}|{value}"),
    )
}

fn quantity(value: f64, unit: &str, code: &str) -> Value {
    json!({ "value": value, "unit": unit, "system": UCUM, "code": code })
}

fn loinc(code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": LOINC, "code": code, "display": display }], "text": display })
}

/// The Observations of one vital-signs entry: (part name, resource) per sign.
fn observations(e: &Entry, v: &Vitals, subject: &Value) -> Vec<(&'static str, Value)> {
    let base = |code: Value| {
        json!({
            "resourceType": "Observation",
            "meta": meta(e),
            "status": "final",
            "category": [{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": "vital-signs", "display": "Vital Signs" }] }],
            "code": code,
            "subject": subject,
            "effectiveDateTime": instant(&e.refers_to),
            "performer": [person_reference(e)],
        })
    };
    let mut out = Vec::new();
    let mut simple = |part: &'static str, code: &str, display: &str, value: Value| {
        let mut o = base(loinc(code, display));
        o["valueQuantity"] = value;
        out.push((part, o));
    };
    if let Some(t) = v.temperature {
        simple(
            "temperature",
            "8310-5",
            "Body temperature",
            quantity(t, "Cel", "Cel"),
        );
    }
    if let Some(p) = v.pulse {
        simple(
            "pulse",
            "8867-4",
            "Heart rate",
            quantity(p.into(), "/min", "/min"),
        );
    }
    if let Some(r) = v.respiration {
        simple(
            "respiration",
            "9279-1",
            "Respiratory rate",
            quantity(r.into(), "/min", "/min"),
        );
    }
    if let Some(s) = v.spo2 {
        simple(
            "spo2",
            "59408-5",
            "Oxygen saturation in Arterial blood by Pulse oximetry",
            quantity(s.into(), "%", "%"),
        );
    }
    if let (Some(s), Some(d)) = (v.systolic, v.diastolic) {
        let mut o = base(loinc(
            "85354-9",
            "Blood pressure panel with all children optional",
        ));
        o["component"] = json!([
            { "code": loinc("8480-6", "Systolic blood pressure"), "valueQuantity": quantity(s.into(), "mmHg", "mm[Hg]") },
            { "code": loinc("8462-4", "Diastolic blood pressure"), "valueQuantity": quantity(d.into(), "mmHg", "mm[Hg]") },
        ]);
        out.push(("blood-pressure", o));
    }
    if let Some(p) = v.pain {
        let mut o = base(loinc(
            "72514-3",
            "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        ));
        o["valueInteger"] = json!(p);
        out.push(("pain", o));
    }
    if let Some(c) = &v.consciousness {
        let mut o = base(loinc("80288-4", "Level of consciousness"));
        o["valueString"] = json!(c);
        out.push(("consciousness", o));
    }
    out
}

/// The resources of one entry: (part name, resource).
fn resources(e: &Entry, subject: &Value) -> Vec<(&'static str, Value)> {
    match &e.record {
        Record::Administration(a) => {
            let mut r = json!({
                "resourceType": "MedicationAdministration",
                "meta": meta(e),
                "status": match a.outcome { Outcome::Given => "completed", _ => "not-done" },
                "medicationCodeableConcept": { "text": a.medication() },
                "subject": subject,
                "effectiveDateTime": instant(&e.refers_to),
                "performer": [{ "actor": person_reference(e) }],
            });
            if a.outcome != Outcome::Given {
                r["statusReason"] = json!([{ "text": match a.outcome {
                    Outcome::Held => "held (保留)",
                    _ => "refused by the patient (拒否)",
                } }]);
            }
            if let DoseRef::Due {
                prescription_id,
                scheduled,
                ..
            } = &a.dose_ref
            {
                r["request"] =
                    json!({ "reference": format!("MedicationRequest/{prescription_id}") });
                if let Some(s) = scheduled {
                    r["note"] = json!([{ "text": format!("scheduled {}", instant(s)) }]);
                }
            }
            if !a.note.is_empty() {
                let mut notes = r["note"].as_array().cloned().unwrap_or_default();
                notes.push(json!({ "text": a.note }));
                r["note"] = json!(notes);
            }
            let mut dosage = serde_json::Map::new();
            if !a.dose.is_empty() {
                dosage.insert("text".into(), json!(a.dose));
            }
            if !a.site.is_empty() {
                dosage.insert("site".into(), json!({ "text": a.site }));
            }
            if !a.route.is_empty() {
                dosage.insert("route".into(), json!({ "text": a.route }));
            }
            if !dosage.is_empty() {
                r["dosage"] = Value::Object(dosage);
            }
            vec![("", r)]
        }
        Record::Vitals(v) => observations(e, v, subject),
        Record::Note(n) => vec![(
            "",
            json!({
                "resourceType": "Communication",
                "meta": meta(e),
                "status": "completed",
                "category": [{ "text": match n.author {
                    NoteKind::Nursing => "看護記事 (nursing note)",
                    NoteKind::Physician => "医師記事 (physician note)",
                } }],
                "subject": subject,
                "sent": instant(&e.refers_to),
                "sender": person_reference(e),
                "payload": [{ "contentString": n.text }],
            }),
        )],
    }
}

/// The Provenance id of an entry: `akari-<node>-<entry>`, kept to FHIR's id characters
/// and length.
fn provenance_id(node: &str, entry: u64) -> String {
    let node: String = node
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect();
    format!("akari-{node}-{entry}")
}

/// The transaction Bundle of one patient's entries (those not superseded). `node` names
/// the node in the entries' identifiers (its signing key's fingerprint, say).
pub fn patient_bundle(node: &str, patient: &PatientRef, entries: &[Listed]) -> Value {
    let subject = patient_reference(patient);
    let mut out = Vec::new();
    for l in entries.iter().filter(|l| l.superseded_by.is_none()) {
        let e = &l.entry;
        let mut targets = Vec::new();
        for (part, mut resource) in resources(e, &subject) {
            let (identifier, if_none_exist) = entry_identifier(node, e, part);
            resource["identifier"] = identifier;
            let full_url = uuid(node, e.id, part);
            let rtype = resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            targets.push(json!({ "reference": full_url }));
            out.push(json!({
                "fullUrl": full_url,
                "resource": resource,
                "request": { "method": "POST", "url": rtype, "ifNoneExist": if_none_exist },
            }));
        }
        let mut provenance = json!({
            "resourceType": "Provenance",
            "meta": meta(e),
            "target": targets,
            "occurredDateTime": instant(&e.refers_to),
            "recorded": instant(&e.recorded_at),
            "activity": { "coding": [{ "system": DATA_OPERATION, "code": "CREATE", "display": "create" }] },
            "agent": [
                {
                    "type": { "coding": [{ "system": PROVENANCE_AGENT, "code": "author", "display": "Author" }] },
                    "who": person_reference(e),
                    "onBehalfOf": account_reference(e),
                },
                {
                    "type": { "coding": [{ "system": PROVENANCE_AGENT, "code": "enterer", "display": "Enterer" }] },
                    "who": account_reference(e),
                },
            ],
        });
        if let Some(s) = &e.supersedes {
            provenance["reason"] = json!([{ "text": format!(
                "correction of downtime entry {node}-{}: {}", s.entry, s.reason
            ) }]);
        }
        // Provenance has no identifier in R4: it gets an id of its own, derived from the
        // entry's, and is written with PUT (update as create), so an import repeated
        // replaces it instead of adding another.
        let id = provenance_id(node, e.id);
        provenance["id"] = json!(id);
        out.push(json!({
            "fullUrl": uuid(node, e.id, "provenance"),
            "resource": provenance,
            "request": { "method": "PUT", "url": format!("Provenance/{id}") },
        }));
    }
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "timestamp": instant(&Utc::now()),
        "entry": out,
    })
}
