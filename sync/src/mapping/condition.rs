//! Condition → a problem ([`model::Condition`]) or, when [`super::infection`] says it is
//! one, an infection ([`model::Infection`]: positive unless inactive, resolved, in
//! remission or refuted).

use super::fields::{require_id, status_code, subject_of, time_field, LocalSubjects};
use super::infection::is_infection_condition;
use super::{item, retract, DropReason, Item, Mapped, Reject, ResourceType};
use crate::fhir;
use crate::model;
use crate::text::parse_fhir_datetime;

pub(super) fn map_condition(
    c: fhir::Condition,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "Condition";
    let id = require_id(c.id.clone(), rt)?;
    let subject = subject_of(c.subject.as_ref(), local);
    let verification = status_code(c.verification_status.as_ref());
    if verification.as_deref() == Some("entered-in-error") {
        return Ok(retract(
            ResourceType::Condition,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let text = c
        .code
        .as_ref()
        .and_then(fhir::CodeableConcept::readable)
        .unwrap_or_else(|| "(病名の記載なし)".to_string());
    let clinical_status = status_code(c.clinical_status.as_ref());
    let recorded = time_field(c.recorded_date.as_ref(), rt, "recordedDate")?;
    let onset = c
        .onset_date_time
        .clone()
        .or_else(|| c.onset_string.clone())
        .or_else(|| c.onset_period.as_ref().and_then(|p| p.start.clone()));
    if is_infection_condition(&c) {
        let positive = !matches!(
            clinical_status.as_deref(),
            Some("inactive" | "remission" | "resolved")
        ) && verification.as_deref() != Some("refuted");
        let result = match (&clinical_status, positive) {
            (Some(s), true) => format!("あり ({s})"),
            (Some(s), false) => format!("なし ({s})"),
            (None, _) => "あり".to_string(),
        };
        let time = match recorded {
            Some(t) => Some(t),
            None => onset.as_deref().and_then(parse_fhir_datetime),
        };
        return Ok(item(
            ResourceType::Condition,
            id.clone(),
            subject,
            Item::Infection(model::Infection {
                id,
                name: text,
                result,
                positive,
                time,
            }),
        ));
    }
    Ok(item(
        ResourceType::Condition,
        id.clone(),
        subject,
        Item::Condition(model::Condition {
            id,
            text,
            code: c.code.as_ref().and_then(fhir::CodeableConcept::first_code),
            clinical_status,
            onset,
            recorded,
        }),
    ))
}
