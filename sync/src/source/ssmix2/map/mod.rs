//! HL7 v2.5 (SS-MIX2) messages → FHIR R4 JSON in JP Core shape, the same JSON a FHIR
//! source delivers, so every source shares one mapping into the minimal record.
//!
//! Resource ids are derived from the SS-MIX2 key and the position (or the stable
//! instance identifier) inside the message, so a newer version of a key replaces what
//! the older one produced, and what the older one produced beyond it can be deleted.
//! Ids are hashes: they carry no patient ID into URLs or logs.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::er7::{Message, Note, Place, Rep, Segment};
use super::json::{json_number, Json};
use super::layout::{FileName, Key};
use super::time::{self, Hl7Time};

mod allergy;
mod encounter;
mod medication;
mod observation;
mod patient;
mod problem;

pub use allergy::allergies;
pub use encounter::{encounter_json, location, patient_class, visit, EncounterFacts};
pub use medication::{administrations, order_id, orders};
pub use observation::{lab_results, vitals};
pub use patient::patient;
pub use problem::problems;

pub const JLAC10: &str = "urn:oid:1.2.392.200119.4.504";
const HOT9: &str = "urn:oid:1.2.392.200119.4.403.1";
const HOT13: &str = "urn:oid:1.2.392.200119.4.402.1";
const YJ: &str = "urn:oid:1.2.392.100495.20.2.74";
const JAMI_USAGE: &str = "urn:oid:1.2.392.200250.2.2.20.20";
const MERIT9_UNIT: &str = "urn:oid:1.2.392.100495.20.2.101";
const MEDIS_DISEASE: &str = "urn:oid:1.2.392.200119.4.101.6";
const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
const LOINC: &str = "http://loinc.org";
const V2_ROUTE: &str = "http://terminology.hl7.org/CodeSystem/v2-0162";
const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const EN_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
const PERIOD_OF_USE: &str =
    "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_MedicationDosage_PeriodOfUse";
/// The hospital patient ID system of JP Core; the 10-digit institution code follows.
pub const HOSPITAL_ID_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.1";

/// What converting one message gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Upsert {
        rtype: &'static str,
        id: String,
        json: Vec<u8>,
    },
    Delete {
        rtype: &'static str,
        id: String,
    },
}

impl Out {
    pub fn id(&self) -> (&'static str, &str) {
        match self {
            Out::Upsert { rtype, id, .. } | Out::Delete { rtype, id } => (rtype, id),
        }
    }
}

/// A resource id from the parts of an SS-MIX2 key: `s2-` and 32 hex digits of SHA-256.
pub fn rid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    let d = h.finalize();
    format!("s2-{}", hex::encode(&d[..16]))
}

/// The id of a list item of a patient's `data_type` messages: by the stable instance
/// identifier the message gives it, else by its position among the `segment`s.
fn instance_id(pid: &str, data_type: &str, segment: &str, instance: &str, n: usize) -> String {
    if instance.is_empty() {
        rid(&[pid, data_type, &format!("{segment}#"), &n.to_string()])
    } else {
        rid(&[pid, data_type, segment, instance])
    }
}

pub fn patient_id(pid: &str) -> String {
    rid(&["patient", pid])
}

/// Everything a conversion needs besides the message.
pub struct Ctx<'a> {
    pub name: &'a FileName,
    /// 10-digit institution code for the hospital patient ID system ("" if unknown).
    pub institution: &'a str,
    pub notes: &'a mut Vec<Note>,
    pub out: &'a mut Vec<Out>,
}

/// A reason the whole file cannot be used.
pub type Fatal = Note;

impl Ctx<'_> {
    fn key(&self) -> &Key {
        &self.name.key
    }
    fn pid(&self) -> &str {
        &self.name.key.pid
    }
    fn subject(&self) -> String {
        format!("Patient/{}", patient_id(self.pid()))
    }
    fn warn(&mut self, place: Place, what: impl Into<String>) {
        self.notes.push(Note::new(place, what));
    }
    /// An HL7 time field; a malformed one is a warning and reads as unknown.
    fn time(&mut self, seg: &Segment, n: usize, c: usize) -> Option<Hl7Time> {
        let raw = seg.comp(n, c);
        match time::parse(&raw) {
            Ok(t) => t,
            Err(_) => {
                self.warn(
                    Place::field(seg, n),
                    "is not a valid HL7 time; the time is shown as unknown",
                );
                None
            }
        }
    }
    /// A resource id from this file's key and a position inside the message.
    fn position_id(&self, position: &[usize]) -> String {
        let k = self.key();
        let position: Vec<String> = position.iter().map(usize::to_string).collect();
        let mut parts = vec![k.pid.as_str(), &k.date, &k.data_type, &k.order];
        parts.extend(position.iter().map(String::as_str));
        rid(&parts)
    }
    fn upsert(&mut self, rtype: &'static str, id: String, json: Vec<u8>) {
        self.out.push(Out::Upsert { rtype, id, json });
    }
    fn resource(&self, rtype: &str, id: &str, profile: &str) -> Json {
        let mut j = Json::object();
        j.str("resourceType", rtype).str("id", id).obj("meta", |m| {
            m.arr("profile", |a| {
                a.item_str(&format!(
                    "http://jpfhir.jp/fhir/core/StructureDefinition/{profile}"
                ));
            });
        });
        j
    }
}

/// The patient ID check every message passes: PID-3 must name the patient whose folder
/// holds the file (data filed under the wrong patient must never be shown).
pub fn check_patient(msg: &Message, pid: &str) -> Result<(), Fatal> {
    let Some(seg) = msg.first("PID") else {
        return Err(Note::new(
            Place::none(),
            "the message has no PID segment, so it cannot be tied to a patient",
        ));
    };
    let ids: Vec<String> = seg
        .reps(3)
        .iter()
        .map(|r| r.comp(1).into_owned())
        .chain(std::iter::once(seg.comp(2, 1).into_owned()))
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(Note::new(
            Place::field(seg, 3),
            "the patient ID is empty (truncated or incomplete PID segment)",
        ));
    }
    if !ids.iter().any(|i| i.trim() == pid) {
        return Err(Note::new(
            Place::field(seg, 3),
            "names a different patient than the storage folder the file is in; the file was not used",
        ));
    }
    Ok(())
}

/// MSH-9 must be a message that belongs in the data type folder.
pub fn check_message_type(msg: &Message, data_type: &str) -> Result<(String, String), Fatal> {
    let (t, e) = msg.message_type();
    let ok = match data_type {
        "ADT-00" | "ADT-12" | "ADT-22" | "ADT-42" | "ADT-52" | "ADT-61" => t == "ADT",
        "PPR-01" => t == "PPR",
        "OMP-01" | "OMP-02" => t == "RDE",
        "OMP-11" | "OMP-12" => t == "RAS",
        "OML-11" => t == "OUL" || t == "ORU",
        super::layout::VITALS_TYPE => t == "ORU",
        _ => true,
    };
    if ok {
        Ok((t, e))
    } else {
        Err(Note::new(
            Place::msh(9),
            format!(
                "the message type {}^{} does not belong in a {data_type} folder",
                safe_code(&t),
                safe_code(&e)
            ),
        ))
    }
}

/// A code from the file, shown in a note only if it looks like a code (short, ASCII).
fn safe_code(s: &str) -> String {
    if s.len() <= 8 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        s.to_string()
    } else {
        "?".into()
    }
}

/// A coded element (CE/CWE) `code^text^system[^alt code^alt text^alt system]`.
struct Coded<'a> {
    code: Cow<'a, str>,
    text: Cow<'a, str>,
    system: Cow<'a, str>,
    alt: Option<(Cow<'a, str>, Cow<'a, str>, Cow<'a, str>)>,
}

impl Coded<'_> {
    /// Its text, else its code.
    fn text_or_code(&self) -> &str {
        if self.text.is_empty() {
            &self.code
        } else {
            &self.text
        }
    }
}

fn coded<'a>(seg: &Segment<'a>, n: usize) -> Coded<'a> {
    let r = seg.rep(n);
    let alt = (!r.comp(4).is_empty()).then(|| (r.comp(4), r.comp(5), r.comp(6)));
    Coded {
        code: r.comp(1),
        text: r.comp(2),
        system: r.comp(3),
        alt,
    }
}

/// FHIR system URI of an HL7 v2 coding system name, `None` for local (99xxx) ones.
fn system_uri(name: &str) -> Option<&'static str> {
    Some(match name {
        "JC10" => JLAC10,
        "HOT9" => HOT9,
        "HOT13" | "HOT" => HOT13,
        "YJ" => YJ,
        "MDCDX2" => MEDIS_DISEASE,
        "I10" | "ICD10" => ICD10,
        "LN" => LOINC,
        "JAMISDP01" => JAMI_USAGE,
        "MR9P" => MERIT9_UNIT,
        "HL70162" => V2_ROUTE,
        _ => return None,
    })
}

fn coding(j: &mut Json, code: &str, text: &str, system: &str) {
    if code.is_empty() && text.is_empty() {
        return;
    }
    j.item(|c| {
        c.opt_str("system", system_uri(system))
            .opt_str("code", Some(code))
            .opt_str("display", Some(text));
    });
}

/// `"k": {coding: [...], text}` of a coded element (text: its text, else its code).
fn concept(j: &mut Json, k: &str, c: &Coded) {
    let text = if c.text.is_empty() {
        c.alt
            .as_ref()
            .map(|a| a.1.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| c.code.clone())
    } else {
        c.text.clone()
    };
    j.obj(k, |o| {
        o.arr("coding", |a| {
            coding(a, &c.code, &c.text, &c.system);
            if let Some((code, text, sys)) = &c.alt {
                coding(a, code, text, sys);
            }
        })
        .opt_str("text", Some(&text));
    });
}

/// `"k": {"reference": to}`.
fn reference(j: &mut Json, k: &str, to: &str) {
    j.obj(k, |r| {
        r.str("reference", to);
    });
}

/// `"k": "<FHIR time>"` when the time is known.
fn opt_time(j: &mut Json, k: &str, t: Option<&Hl7Time>) {
    if let Some(t) = t {
        j.str(k, &t.fhir());
    }
}

/// `"coding": [{system, code}]`: a code of a FHIR code system.
fn one_coding(j: &mut Json, system: &str, code: &str) {
    j.arr("coding", |a| {
        a.item(|x| {
            x.str("system", system).str("code", code);
        });
    });
}

/// `"k": {coding: [{system, code}]}`: a status or kind from a FHIR code system.
fn fixed_concept(j: &mut Json, k: &str, system: &str, code: &str) {
    j.obj(k, |c| one_coding(c, system, code));
}

/// `"category": [{coding: [{system, code}]}]`.
fn category(j: &mut Json, system: &str, code: &str) {
    j.arr("category", |a| {
        a.item(|c| one_coding(c, system, code));
    });
}

/// The whole message is unusable when it holds nothing to convert (a truncated file).
fn found(any: bool, missing: &str) -> Result<(), Fatal> {
    if any {
        Ok(())
    } else {
        Err(Note::new(Place::none(), missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_hashes() {
        assert_eq!(rid(&["a", "b"]), rid(&["a", "b"]));
        assert_ne!(rid(&["a", "b"]), rid(&["ab"]));
        assert!(rid(&["x"]).starts_with("s2-"));
        assert_eq!(rid(&["x"]).len(), 35);
    }
}
