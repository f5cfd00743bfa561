//! Practitioner and PractitionerRole → [`model::Staff`] (reference data: who a
//! participant is, and how to reach them), CareTeam → [`model::CareTeam`].
//!
//! Rules: a Practitioner's name is its kanji (IDE) name, else its first name; its contact
//! is the first phone or pager `telecom`. A PractitionerRole's role is its `code` (else
//! `specialty`) as text, its name the practitioner reference's display, its contact its
//! own phone. A CareTeam is kept while `proposed`, `active` or `suspended` (and retracted
//! when `inactive` or its period ended before the data time); members with a person are kept with their role.

use super::fields::{participant, reference_id, require_id, subject_of, LocalSubjects, Notes};
use super::patient::names;
use super::{item, retract, DropReason, Item, MapContext, Mapped, Reject, ResourceType, Subject};
use crate::fhir;
use crate::model;

/// The first phone, pager or other reachable number.
fn contact(telecom: &[fhir::ContactPoint]) -> Option<String> {
    let rank = |c: &fhir::ContactPoint| match c.system.as_deref() {
        Some("phone") => 0,
        Some("pager") => 1,
        Some("sms" | "other") | None => 2,
        _ => 3,
    };
    telecom
        .iter()
        .filter(|c| rank(c) < 3)
        .min_by_key(|c| rank(c))
        .and_then(|c| c.value.as_deref())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

pub(super) fn map_practitioner(p: fhir::Practitioner) -> Result<Mapped, Reject> {
    let id = require_id(p.id.clone(), "Practitioner")?;
    let (kanji, kana) = names(&p.name);
    Ok(item(
        ResourceType::Practitioner,
        id,
        Subject::Itself,
        Item::Staff(model::Staff {
            name: kanji.or(kana),
            role: None,
            contact: contact(&p.telecom),
            practitioner: None,
        }),
    ))
}

pub(super) fn map_practitioner_role(r: fhir::PractitionerRole) -> Result<Mapped, Reject> {
    let id = require_id(r.id.clone(), "PractitionerRole")?;
    let role = r
        .code
        .iter()
        .chain(r.specialty.iter())
        .find_map(fhir::CodeableConcept::readable);
    let practitioner = r.practitioner.as_ref();
    Ok(item(
        ResourceType::PractitionerRole,
        id,
        Subject::Itself,
        Item::Staff(model::Staff {
            name: practitioner
                .and_then(|p| p.display.as_deref())
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            role,
            contact: contact(&r.telecom),
            practitioner: practitioner
                .and_then(|p| p.reference.as_deref())
                .and_then(|p| reference_id(p, "Practitioner"))
                .map(|id| format!("Practitioner/{id}")),
        }),
    ))
}

/// Has a period ended before `now`?
fn ended(p: Option<&fhir::Period>, now: chrono::DateTime<chrono::Utc>) -> bool {
    p.and_then(|p| p.end.as_deref())
        .and_then(crate::text::parse_fhir_datetime)
        .is_some_and(|end| end < now)
}

pub(super) fn map_care_team(
    c: fhir::CareTeam,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "CareTeam";
    let id = require_id(c.id.clone(), rt)?;
    let subject = subject_of(c.subject.as_ref(), local);
    let status = c.status.as_deref().unwrap_or("active").to_string();
    let why = match status.as_str() {
        "entered-in-error" => Some(DropReason::EnteredInError),
        "inactive" => Some(DropReason::Inactive),
        _ if ended(c.period.as_ref(), ctx.now) => Some(DropReason::Completed),
        _ => None,
    };
    if let Some(why) = why {
        return Ok(retract(ResourceType::CareTeam, id, subject, why));
    }
    let mut notes = Notes::default();
    super::fields::check_status(
        &mut notes,
        Some(status.as_str()),
        &["proposed", "active", "suspended"],
        "status",
    );
    let members = c
        .participant
        .iter()
        .filter(|p| !ended(p.period.as_ref(), ctx.now))
        .filter_map(|p| participant(p.member.as_ref()?, p.role.first()))
        .collect();
    Ok(notes.into(item(
        ResourceType::CareTeam,
        id.clone(),
        subject,
        Item::CareTeam(model::CareTeam {
            id,
            name: c
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            status,
            members,
        }),
    )))
}
