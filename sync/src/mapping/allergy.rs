//! AllergyIntolerance → [`model::Allergy`]: substance, categories, criticality (all three
//! values), statuses, every reaction's manifestation and description, and the most severe
//! reaction severity.
//!
//! **No known allergy**: an entry coded SNOMED CT 716186003 (no known allergy),
//! 409137002 (no known drug allergy), 429625007 (no known food allergy), 428607008 (no
//! known environmental allergy) or IPS `no-known-allergies` (and its drug, food and
//! environmental variants), or whose substance text says none ("なし", "無し",
//! "アレルギーなし", "NKA", "NKDA"), records that the patient has *no* known allergy: it
//! is kept with `none_known` and never shown or counted as an allergy. (IPS
//! `no-allergy-info` means "not known", not "none": it is an ordinary entry.)
//!
//! An entry with neither a substance nor a reaction says nothing and is rejected
//! (`missing_code`); one with only a reaction is kept as "(物質の記載なし)".

use super::fields::{require_id, status_code, subject_of, LocalSubjects, Notes};
use super::{item, reject, retract, DropReason, Item, Mapped, Reject, RejectReason, ResourceType};
use crate::fhir;
use crate::model::{self, Severity};

const NONE_KNOWN_CODES: &[&str] = &[
    "716186003",
    "409137002",
    "429625007",
    "428607008",
    "no-known-allergies",
    "no-known-medication-allergies",
    "no-known-food-allergies",
    "no-known-environmental-allergies",
];

/// Does this substance say "no known allergy"?
fn says_none(code: Option<&fhir::CodeableConcept>) -> bool {
    let Some(cc) = code else { return false };
    if cc.coding.iter().any(|c| {
        c.code
            .as_deref()
            .is_some_and(|k| NONE_KNOWN_CODES.contains(&k))
    }) {
        return true;
    }
    cc.readable_str().is_some_and(|t| {
        let t = t.trim();
        let upper = t.to_ascii_uppercase();
        matches!(upper.as_str(), "NKA" | "NKDA" | "NKFA")
            || t.ends_with("なし")
            || t.ends_with("無し")
            || t.ends_with("ナシ")
            || upper.starts_with("NO KNOWN")
    })
}

/// Criticality; a value outside FHIR's set is a warning and left out.
fn criticality_of(c: Option<&str>, notes: &mut Notes) -> Option<model::Criticality> {
    match c {
        Some("low") => Some(model::Criticality::Low),
        Some("high") => Some(model::Criticality::High),
        Some("unable-to-assess") => Some(model::Criticality::UnableToAssess),
        None => None,
        Some(_) => {
            notes.warn(
                super::WarningReason::InvalidValue,
                "criticality is not low, high or unable-to-assess; left out",
            );
            None
        }
    }
}

/// Every reaction's manifestations and description, and the most severe severity.
fn reactions_of(reactions: &[fhir::Reaction]) -> (Vec<String>, Option<Severity>) {
    let mut out = Vec::new();
    let mut severity = None;
    for r in reactions {
        for m in &r.manifestation {
            if let Some(t) = m.readable() {
                out.push(t);
            }
        }
        if let Some(d) = r.description.as_deref().filter(|d| !d.trim().is_empty()) {
            out.push(d.trim().to_string());
        }
        let s = match r.severity.as_deref() {
            Some("mild") => Some(Severity::Mild),
            Some("moderate") => Some(Severity::Moderate),
            Some("severe") => Some(Severity::Severe),
            _ => None,
        };
        severity = severity.max(s);
    }
    (out, severity)
}

pub(super) fn map_allergy(
    a: fhir::AllergyIntolerance,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "AllergyIntolerance";
    let id = require_id(a.id, rt)?;
    let subject = subject_of(a.patient.as_ref(), local);
    let verification = status_code(a.verification_status.as_ref());
    if verification.as_deref() == Some("entered-in-error") {
        return Ok(retract(
            ResourceType::AllergyIntolerance,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let mut notes = Notes::default();
    let clinical_status = status_code(a.clinical_status.as_ref());
    super::fields::check_vocabulary(
        &mut notes,
        clinical_status.as_deref(),
        &crate::model::status::ALLERGY_CLINICAL,
        "clinicalStatus",
    );
    super::fields::check_vocabulary(
        &mut notes,
        verification.as_deref(),
        &crate::model::status::ALLERGY_VERIFICATION,
        "verificationStatus",
    );
    let criticality = criticality_of(a.criticality.as_deref(), &mut notes);
    let (reactions, severity) = reactions_of(&a.reaction);
    let none_known = says_none(a.code.as_ref());
    let substance = a.code.as_ref().and_then(fhir::CodeableConcept::readable);
    if substance.is_none() && reactions.is_empty() && severity.is_none() {
        return Err(reject(
            RejectReason::MissingCode,
            rt,
            "neither code (substance) nor reaction: nothing says what the allergy is",
        ));
    }
    let allergy = model::Allergy {
        id: id.clone(),
        substance: substance.unwrap_or_else(|| "(物質の記載なし)".to_string()),
        categories: a.category.iter().map(|c| c.to_string()).collect(),
        criticality,
        clinical_status,
        verification_status: verification,
        reactions,
        recorded: notes.time(a.recorded_date.as_ref(), "recordedDate"),
        severity,
        none_known,
    };
    Ok(notes.into(item(
        ResourceType::AllergyIntolerance,
        id,
        subject,
        Item::Allergy(allergy),
    )))
}
