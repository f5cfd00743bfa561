//! Patient → [`model::Patient`].
//!
//! Rules: **hospital ID** (院内患者ID, the medical record number) = the value of the first
//! identifier, in this order, whose system is one of the site's configured
//! `hospital_id_systems`; whose system is the JP Core patient-ID OID with its
//! institution suffix (`urn:oid:1.2.392.100495.20.3.51.1<institution>`); whose system is
//! that OID bare or with another suffix, or ends with `JP_Hospital_PatientID`; or whose
//! `type` is `MR` (v2-0203 medical record number). Values are kept as written (letters,
//! hyphens and leading zeros included); search compares them normalised
//! ([`crate::text::normalize_hospital_id`]). Kanji name = the `HumanName` with
//! `iso21090-EN-representation` = `IDE`, kana = `SYL` (without the extension: a name
//! written only in kana is the kana name, otherwise the kanji name); a name's text is
//! `text`, else `family` + " " + `given` joined by " ". **Deceased**:
//! `deceasedDateTime` (as precise as given) or `deceasedBoolean` true. A `birthDate` that
//! does not parse is unknown (with a warning). Every identifier is kept on the
//! [`Mapped`] so references by identifier resolve.

use super::fields::{require_id, Notes};
use super::{Body, Item, MapContext, Mapped, Reject, ResourceType, Subject, WarningReason};
use crate::fhir;
use crate::model::{self, Deceased, Sex};
use crate::text::parse_fhir_date;

/// The JP Core OID under which hospitals name their patient IDs.
const JP_PATIENT_ID_OID: &str = "urn:oid:1.2.392.100495.20.3.51";

/// Is this a system that names a hospital patient ID (JP OID with or without suffix, or
/// a `JP_Hospital_PatientID` URL)?
pub fn is_hospital_id_system(system: &str) -> bool {
    system == JP_PATIENT_ID_OID
        || system
            .strip_prefix(JP_PATIENT_ID_OID)
            .is_some_and(|rest| rest.starts_with('.'))
        || system
            .to_ascii_lowercase()
            .ends_with("jp_hospital_patientid")
}

/// The hospital ID among `identifiers` by the rules in the module doc (`configured`:
/// the site's systems, tried first).
pub fn hospital_id_of(identifiers: &[fhir::Identifier], configured: &[String]) -> Option<String> {
    let value = |i: &fhir::Identifier| {
        i.value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    fn system<'i>(i: &'i fhir::Identifier<'_>) -> &'i str {
        i.system.as_deref().unwrap_or("")
    }
    let rules: [&dyn Fn(&fhir::Identifier) -> bool; 4] = [
        &|i| configured.iter().any(|c| c == system(i)),
        &|i| {
            system(i)
                .strip_prefix(JP_PATIENT_ID_OID)
                .is_some_and(|rest| rest.starts_with(".1"))
        },
        &|i| is_hospital_id_system(system(i)),
        &|i| i.type_.as_ref().is_some_and(|t| t.has_code("MR")),
    ];
    rules
        .iter()
        .find_map(|rule| identifiers.iter().filter(|i| rule(i)).find_map(value))
}

fn name_text(n: &fhir::HumanName) -> Option<String> {
    if let Some(t) = n.text.as_deref().filter(|t| !t.trim().is_empty()) {
        return Some(t.trim().to_string());
    }
    let mut parts: Vec<&str> = Vec::new();
    if let Some(f) = n.family.as_deref() {
        parts.push(f);
    }
    parts.extend(n.given.iter().map(|g| &g[..]));
    let s = parts.join(" ");
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

fn is_kana(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{3040}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}')
    })
}

/// Kanji and kana name (see the module doc).
pub(super) fn names(names: &[fhir::HumanName]) -> (Option<String>, Option<String>) {
    let mut kanji = None;
    let mut kana = None;
    for n in names {
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
    (kanji, kana)
}

pub(super) fn map_patient(p: fhir::Patient, ctx: &MapContext) -> Result<Mapped, Reject> {
    let rt = "Patient";
    let id = require_id(p.id.clone(), rt)?;
    let mut notes = Notes::default();
    let hospital_id = hospital_id_of(&p.identifier, &ctx.hospital_id_systems);
    let (kanji, kana) = names(&p.name);
    let sex = match p.gender.as_deref() {
        Some("male") => Sex::Male,
        Some("female") => Sex::Female,
        Some("other") => Sex::Other,
        _ => Sex::Unknown,
    };
    let birth_date = p.birth_date.as_deref().and_then(|s| {
        let d = parse_fhir_date(s);
        if d.is_none() {
            notes.warn(
                WarningReason::InvalidTime,
                "birthDate is not a FHIR date; the birth date is shown as unknown",
            );
        }
        d
    });
    let deceased = match (
        notes.moment(p.deceased_date_time.as_ref(), "deceasedDateTime"),
        p.deceased_date_time.is_some(),
        p.deceased_boolean,
    ) {
        (Some(m), _, _) => Some(Deceased::At(m)),
        // A date of death that does not parse still says the patient died.
        (None, true, _) | (None, false, Some(true)) => Some(Deceased::Yes),
        _ => None,
    };
    let identifiers = p
        .identifier
        .iter()
        .filter_map(|i| {
            Some((
                i.system.as_deref()?.to_string(),
                i.value.as_deref()?.to_string(),
            ))
        })
        .collect();
    Ok(notes.into(Mapped {
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
            deceased,
        })),
        identifiers,
        warnings: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(system: Option<&str>, value: &str, mr: bool) -> fhir::Identifier<'static> {
        let type_ = mr.then(|| {
            serde_json::from_str::<fhir::CodeableConcept>(
                r#"{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]}"#,
            )
            .unwrap()
        });
        fhir::Identifier {
            system: system.map(|s| s.to_string().into()),
            value: Some(value.to_string().into()),
            type_,
        }
    }

    #[test]
    fn hospital_id_by_jp_oid_with_or_without_suffix_type_mr_or_configured_system() {
        let jp = ident(
            Some("urn:oid:1.2.392.100495.20.3.51.11318814790"),
            "0000123",
            false,
        );
        let bare = ident(Some("urn:oid:1.2.392.100495.20.3.51"), "POP-000712", false);
        let mr = ident(Some("https://his.example/mrn"), "A-77", true);
        let insurance = ident(Some("urn:oid:1.2.392.100495.20.3.61.1"), "12345", false);
        let lookalike = ident(Some("urn:oid:1.2.392.100495.20.3.511"), "999", false);
        assert_eq!(
            hospital_id_of(&[insurance, jp], &[]).as_deref(),
            Some("0000123")
        );
        assert_eq!(hospital_id_of(&[bare], &[]).as_deref(), Some("POP-000712"));
        assert_eq!(hospital_id_of(&[mr], &[]).as_deref(), Some("A-77"));
        assert_eq!(hospital_id_of(&[lookalike], &[]), None);
        let site = ident(Some("https://his.example/id"), "K-1", false);
        let jp2 = ident(
            Some("urn:oid:1.2.392.100495.20.3.51.11318814790"),
            "1",
            false,
        );
        assert_eq!(
            hospital_id_of(&[jp2, site], &["https://his.example/id".to_string()]).as_deref(),
            Some("K-1")
        );
    }
}
