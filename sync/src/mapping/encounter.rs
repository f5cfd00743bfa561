//! Encounter → who is in which ward, room and bed. Finished encounters leave after the
//! encounters window; in-progress ones always stay.

use std::collections::HashMap;

use chrono::Duration;

use super::fields::{parse, require_id, subject_of, time_field, LocalSubjects};
use super::{item, retract, DropReason, Item, MapContext, Mapped, Reject, ResourceType};
use crate::fhir;
use crate::model;

/// Ward / room / bed of an encounter: each `location` entry is typed by its own
/// `physicalType` (or the contained Location's) `wa`/`ro`/`bd`; its text is the
/// reference's `display` or the contained Location's `name`. Entries whose status is
/// `completed` are skipped when others exist. A single untyped location is the ward.
/// Ward, room and bed.
type Place = (Option<String>, Option<String>, Option<String>);

fn encounter_place(e: &fhir::Encounter, rt: &str) -> Result<Place, Reject> {
    let mut contained: HashMap<String, fhir::Location> = HashMap::new();
    for raw in &e.contained {
        let head: fhir::ContainedHead = parse(raw.get().as_bytes(), rt)?;
        if head.resource_type == "Location" {
            let loc: fhir::Location = parse(raw.get().as_bytes(), rt)?;
            if let Some(id) = loc.id.clone() {
                contained.insert(id, loc);
            }
        }
    }
    let current: Vec<&fhir::EncounterLocation> = {
        let open: Vec<_> = e
            .location
            .iter()
            .filter(|l| l.status.as_deref() != Some("completed"))
            .collect();
        if open.is_empty() {
            e.location.iter().collect()
        } else {
            open
        }
    };
    let (mut ward, mut room, mut bed) = (None, None, None);
    let mut untyped = Vec::new();
    for l in &current {
        let c = l
            .location
            .reference
            .as_deref()
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|id| contained.get(id));
        let kind = l
            .physical_type
            .as_ref()
            .and_then(fhir::CodeableConcept::first_code)
            .or_else(|| {
                c.and_then(|c| c.physical_type.as_ref())
                    .and_then(fhir::CodeableConcept::first_code)
            });
        let text = l
            .location
            .display
            .clone()
            .or_else(|| c.and_then(|c| c.name.clone()))
            .filter(|t| !t.trim().is_empty());
        let Some(text) = text else { continue };
        match kind.as_deref() {
            Some("wa") | Some("wi") => ward = ward.or(Some(text)),
            Some("ro") => room = room.or(Some(text)),
            Some("bd") => bed = bed.or(Some(text)),
            _ => untyped.push(text),
        }
    }
    if ward.is_none() && untyped.len() == 1 {
        ward = untyped.pop();
    }
    Ok((ward, room, bed))
}

pub(super) fn map_encounter(
    e: fhir::Encounter,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "Encounter";
    let id = require_id(e.id.clone(), rt)?;
    let subject = subject_of(e.subject.as_ref(), local);
    let status = e.status.clone().unwrap_or_else(|| "unknown".to_string());
    match status.as_str() {
        "entered-in-error" => {
            return Ok(retract(
                ResourceType::Encounter,
                id,
                subject,
                DropReason::EnteredInError,
            ))
        }
        "cancelled" => {
            return Ok(retract(
                ResourceType::Encounter,
                id,
                subject,
                DropReason::Cancelled,
            ))
        }
        _ => {}
    }
    let start = time_field(
        e.period.as_ref().and_then(|p| p.start.as_ref()),
        rt,
        "period.start",
    )?;
    let end = time_field(
        e.period.as_ref().and_then(|p| p.end.as_ref()),
        rt,
        "period.end",
    )?;
    if status == "finished" {
        let last = end.or(start);
        if last.is_some_and(|t| t < ctx.now - Duration::days(ctx.windows.encounters_days.into())) {
            return Ok(retract(
                ResourceType::Encounter,
                id,
                subject,
                DropReason::OutOfWindow,
            ));
        }
    }
    let (ward, room, bed) = encounter_place(&e, rt)?;
    Ok(item(
        ResourceType::Encounter,
        id.clone(),
        subject,
        Item::Encounter(model::Encounter {
            id,
            status,
            class: e.class.as_ref().and_then(|c| c.code.clone()),
            ward,
            room,
            bed,
            start,
            end,
        }),
    ))
}
