//! AllergyIntolerance → [`model::Allergy`]: substance, categories, criticality, statuses
//! and every reaction's manifestation and description.

use super::fields::{require_id, status_code, subject_of, time_field, LocalSubjects};
use super::{item, retract, DropReason, Item, Mapped, Reject, ResourceType};
use crate::fhir;
use crate::model;

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
    let criticality = match a.criticality.as_deref() {
        Some("low") => Some(model::Criticality::Low),
        Some("high") => Some(model::Criticality::High),
        Some("unable-to-assess") => Some(model::Criticality::UnableToAssess),
        _ => None,
    };
    let mut reactions = Vec::new();
    for r in &a.reaction {
        for m in &r.manifestation {
            if let Some(t) = m.readable() {
                reactions.push(t);
            }
        }
        if let Some(d) = r.description.as_deref().filter(|d| !d.trim().is_empty()) {
            reactions.push(d.trim().to_string());
        }
    }
    let allergy = model::Allergy {
        id: id.clone(),
        substance: a
            .code
            .as_ref()
            .and_then(fhir::CodeableConcept::readable)
            .unwrap_or_else(|| "(物質の記載なし)".to_string()),
        categories: a.category.clone(),
        criticality,
        clinical_status: status_code(a.clinical_status.as_ref()),
        verification_status: verification,
        reactions,
        recorded: time_field(a.recorded_date.as_ref(), rt, "recordedDate")?,
    };
    Ok(item(
        ResourceType::AllergyIntolerance,
        id,
        subject,
        Item::Allergy(allergy),
    ))
}
