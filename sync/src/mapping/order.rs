//! ServiceRequest → [`model::Order`]: what is ordered and not yet done (tests not yet
//! resulted, planned procedures).
//!
//! Rules: kept while `active` or `on-hold`; `draft`, `revoked`, `completed` and
//! `entered-in-error` requests are retracted (an order that is done or withdrawn is not
//! pending). A request not to do something (`doNotPerform`) is shown as such
//! ("(実施しない)"). An order with no code and no text says nothing and is rejected
//! (`missing_code`).

use super::fields::{notes_text, participant, require_id, subject_of, LocalSubjects, Notes};
use super::{item, reject, retract, DropReason, Item, Mapped, Reject, RejectReason, ResourceType};
use crate::fhir;
use crate::model;

pub(super) fn map_service_request(
    r: fhir::ServiceRequest,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "ServiceRequest";
    let id = require_id(r.id.clone(), rt)?;
    let subject = subject_of(r.subject.as_ref(), local);
    let status = r.status.as_deref().unwrap_or("unknown").to_string();
    let why = match status.as_str() {
        "entered-in-error" => Some(DropReason::EnteredInError),
        "draft" | "revoked" => Some(DropReason::Cancelled),
        "completed" => Some(DropReason::Completed),
        _ => None,
    };
    if let Some(why) = why {
        return Ok(retract(ResourceType::ServiceRequest, id, subject, why));
    }
    let Some(mut text) = r.code.as_ref().and_then(fhir::CodeableConcept::readable) else {
        return Err(reject(
            RejectReason::MissingCode,
            rt,
            "code missing (no coding and no text): nothing says what is ordered",
        ));
    };
    if r.do_not_perform == Some(true) {
        text.push_str(" (実施しない)");
    }
    let mut notes = Notes::default();
    super::fields::check_vocabulary(
        &mut notes,
        Some(status.as_str()),
        &crate::model::status::ORDER,
        "status",
    );
    let occurrence = match (&r.occurrence_date_time, &r.occurrence_period) {
        (Some(t), _) => notes.time(Some(t), "occurrenceDateTime"),
        (None, Some(p)) => notes.time(p.start.as_ref(), "occurrencePeriod.start"),
        (None, None) => None,
    };
    let authored_on = notes.time(r.authored_on.as_ref(), "authoredOn");
    let mut note: Vec<String> = notes_text(&r.note).into_iter().collect();
    note.extend(
        r.patient_instruction
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    );
    Ok(notes.into(item(
        ResourceType::ServiceRequest,
        id.clone(),
        subject,
        Item::Order(model::Order {
            id,
            text,
            category: r.category.iter().find_map(fhir::CodeableConcept::readable),
            status,
            intent: r.intent.as_deref().map(str::to_string),
            priority: r.priority.as_deref().map(str::to_string),
            authored_on,
            occurrence,
            requester: r.requester.as_ref().and_then(|p| participant(p, None)),
            note: (!note.is_empty()).then(|| note.join("\n")),
        }),
    )))
}
