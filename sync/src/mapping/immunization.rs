//! Immunization → [`model::Immunization`]: the vaccine, when (as precise as given), dose
//! number and lot. `entered-in-error` is retracted; `not-done` is kept (a refusal
//! matters). No vaccine code or text: rejected (`missing_code`).

use super::fields::{notes_text, require_id, subject_of, LocalSubjects, Notes};
use super::{item, reject, retract, DropReason, Item, Mapped, Reject, RejectReason, ResourceType};
use crate::fhir;
use crate::model;

pub(super) fn map_immunization(
    i: fhir::Immunization,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "Immunization";
    let id = require_id(i.id.clone(), rt)?;
    let subject = subject_of(i.patient.as_ref(), local);
    let status = i.status.as_deref().unwrap_or("completed").to_string();
    if status == "entered-in-error" {
        return Ok(retract(
            ResourceType::Immunization,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let Some(vaccine) = i.vaccine_code.readable() else {
        return Err(reject(
            RejectReason::MissingCode,
            rt,
            "vaccineCode missing (no coding and no text): nothing says which vaccine",
        ));
    };
    let mut notes = Notes::default();
    super::fields::check_vocabulary(
        &mut notes,
        Some(status.as_str()),
        &crate::model::status::IMMUNIZATION,
        "status",
    );
    let occurred = notes.moment(i.occurrence_date_time.as_ref(), "occurrenceDateTime");
    let dose = i.protocol_applied.first().and_then(|p| {
        p.dose_number_positive_int
            .as_ref()
            .map(|raw| raw.get().trim().trim_matches('"').to_string())
            .or_else(|| p.dose_number_string.as_deref().map(str::to_string))
            .filter(|d| !d.is_empty() && d != "null")
    });
    let mut note: Vec<String> = i
        .occurrence_string
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .into_iter()
        .collect();
    note.extend(notes_text(&i.note));
    Ok(notes.into(item(
        ResourceType::Immunization,
        id.clone(),
        subject,
        Item::Immunization(model::Immunization {
            id,
            vaccine,
            status,
            occurred,
            dose,
            lot: i
                .lot_number
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
            note: (!note.is_empty()).then(|| note.join("\n")),
        }),
    )))
}
