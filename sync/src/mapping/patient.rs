//! Patient → [`model::Patient`].
//!
//! Rules: hospital ID = value of the identifier whose system starts with
//! `urn:oid:1.2.392.100495.20.3.51.1` (or ends with `JP_Hospital_PatientID`); kanji name
//! = the `HumanName` with `iso21090-EN-representation` = `IDE`, kana = `SYL` (without the
//! extension: a name written only in kana is the kana name, otherwise the kanji name);
//! a name's text is `text`, else `family` + " " + `given` joined by " ". Every identifier
//! is kept on the [`Mapped`] so references by identifier resolve.

use super::fields::require_id;
use super::{reject, Body, Item, Mapped, Reject, RejectReason, ResourceType, Subject};
use crate::fhir;
use crate::model::{self, Sex};
use crate::text::parse_fhir_date;

pub fn is_hospital_id_system(system: &str) -> bool {
    system.starts_with("urn:oid:1.2.392.100495.20.3.51.1")
        || system
            .to_ascii_lowercase()
            .ends_with("jp_hospital_patientid")
}

fn name_text(n: &fhir::HumanName) -> Option<String> {
    if let Some(t) = n.text.as_deref().filter(|t| !t.trim().is_empty()) {
        return Some(t.trim().to_string());
    }
    let mut parts: Vec<&str> = Vec::new();
    if let Some(f) = n.family.as_deref() {
        parts.push(f);
    }
    parts.extend(n.given.iter().map(String::as_str));
    let s = parts.join(" ");
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

fn is_kana(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{3040}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}')
    })
}

pub(super) fn map_patient(p: fhir::Patient) -> Result<Mapped, Reject> {
    let rt = "Patient";
    let id = require_id(p.id, rt)?;
    let hospital_id = p
        .identifier
        .iter()
        .find(|i| i.system.as_deref().is_some_and(is_hospital_id_system))
        .and_then(|i| i.value.clone());
    let mut kanji = None;
    let mut kana = None;
    for n in &p.name {
        let repr = n
            .extension
            .iter()
            .find(|e| e.url == "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation")
            .and_then(|e| e.value_code.as_deref());
        let Some(text) = name_text(n) else { continue };
        match repr {
            Some("IDE") => kanji = kanji.or(Some(text)),
            Some("SYL") => kana = kana.or(Some(text)),
            Some(_) => {}
            None if is_kana(&text) => kana = kana.or(Some(text)),
            None => kanji = kanji.or(Some(text)),
        }
    }
    let sex = match p.gender.as_deref() {
        Some("male") => Sex::Male,
        Some("female") => Sex::Female,
        Some("other") => Sex::Other,
        _ => Sex::Unknown,
    };
    let birth_date = match p.birth_date.as_deref() {
        None => None,
        Some(s) => Some(parse_fhir_date(s).ok_or_else(|| {
            reject(
                RejectReason::InvalidValue,
                rt,
                "birthDate is not a FHIR date",
            )
        })?),
    };
    let identifiers = p
        .identifier
        .iter()
        .filter_map(|i| Some((i.system.clone()?, i.value.clone()?)))
        .collect();
    Ok(Mapped {
        rtype: ResourceType::Patient,
        id: id.clone(),
        subject: Subject::Itself,
        body: Body::Item(Item::Patient(model::Patient {
            id,
            hospital_id,
            name_kanji: kanji,
            name_kana: kana,
            sex,
            birth_date,
        })),
        identifiers,
    })
}
