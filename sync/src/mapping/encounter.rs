//! Encounter → who is in which ward, room and bed, and who cares for them. Finished
//! encounters leave after the encounters window; in-progress ones always stay.
//!
//! **Where**: the current `location` entries (those not `completed`, when others are
//! not). A reference to a Location resource (`Location/<id>`) is kept in
//! `location_ids` and resolved through the Locations' `partOf` / `physicalType` (see
//! [`super::location`]) by the engine and the reader; a contained Location is resolved
//! here the same way. What the entry itself says is the fallback: its display, typed by
//! the entry's `physicalType`, or read word by word ("4W-06号室 4W病棟": …病棟 ward,
//! …号室 room, …床 bed); a single untyped location is the ward.
//!
//! **Who**: `participant` with an individual (Practitioner or PractitionerRole
//! reference, its display the name): role from `type` (ATND attending first).

use super::fields::{
    parse, participant, reference_id, require_id, subject_of, LocalSubjects, Notes,
};
use super::location::{kind_from_name, place_kind, place_of, resolve_place, PlaceBook};
use super::{item, retract, DropReason, Item, MapContext, Mapped, Reject, ResourceType};
use crate::fhir;
use crate::model::{self, PlaceKind};

/// Ward, room and bed.
type Place = (Option<String>, Option<String>, Option<String>);

/// Where the encounter is: the fallback ward/room/bed from the resource itself, and the
/// Location ids to resolve.
fn encounter_place(e: &fhir::Encounter, rt: &str) -> Result<(Place, Vec<String>), Reject> {
    let contained = contained_places(e, rt)?;
    let mut slots = Slots::default();
    let mut ids = Vec::new();
    for l in current_locations(e) {
        let reference = l.location.reference.as_deref();
        if let Some(local) = reference.and_then(|r| r.strip_prefix('#')) {
            if let Some((w, r, b)) = resolve_place(&[local.to_string()], &contained) {
                for (kind, v) in [
                    (PlaceKind::Ward, w),
                    (PlaceKind::Room, r),
                    (PlaceKind::Bed, b),
                ] {
                    if let Some(v) = v {
                        slots.set(kind, v);
                    }
                }
                continue;
            }
        }
        if let Some(id) = reference.and_then(|r| reference_id(r, "Location")) {
            ids.push(id);
        }
        if let Some(text) = l
            .location
            .display
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            slots.set_display(l.physical_type.as_ref(), text);
        }
    }
    Ok((slots.place(), ids))
}

/// The Locations contained in the encounter, by their local id.
fn contained_places(e: &fhir::Encounter, rt: &str) -> Result<PlaceBook, Reject> {
    let mut contained = PlaceBook::new();
    for raw in &e.contained {
        let head: fhir::ContainedHead = parse(raw.get().as_bytes(), rt)?;
        if head.resource_type == "Location" {
            let loc: fhir::Location = parse(raw.get().as_bytes(), rt)?;
            if let Some(p) = loc
                .id
                .as_deref()
                .and_then(|id| place_of(&loc, id.to_string()))
            {
                contained.insert(p);
            }
        }
    }
    Ok(contained)
}

/// The locations the patient is at: those not completed, else (all completed) every one.
fn current_locations<'e, 'a>(e: &'e fhir::Encounter<'a>) -> Vec<&'e fhir::EncounterLocation<'a>> {
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
}

/// Ward, room and bed as they are found (the first of each wins), and texts whose kind
/// is unknown.
#[derive(Default)]
struct Slots {
    ward: Option<String>,
    room: Option<String>,
    bed: Option<String>,
    untyped: Vec<String>,
}

impl Slots {
    fn set(&mut self, kind: PlaceKind, text: String) {
        match kind {
            PlaceKind::Ward => {
                self.ward.get_or_insert(text);
            }
            PlaceKind::Room => {
                self.room.get_or_insert(text);
            }
            PlaceKind::Bed => {
                self.bed.get_or_insert(text);
            }
            PlaceKind::Other => self.untyped.push(text),
        }
    }

    /// A location's display text: placed by its physical type, else word by word by
    /// their names ("4W-06号室 4W病棟"), else whole by its name.
    fn set_display(&mut self, physical_type: Option<&fhir::CodeableConcept>, text: &str) {
        if let Some(pt) = physical_type {
            return self.set(place_kind(Some(pt), text), text.to_string());
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        let kinds: Vec<PlaceKind> = words.iter().map(|w| kind_from_name(w)).collect();
        if words.len() > 1 && kinds.iter().all(|k| *k != PlaceKind::Other) {
            for (w, k) in words.iter().zip(kinds) {
                self.set(k, w.to_string());
            }
        } else {
            self.set(kind_from_name(text), text.to_string());
        }
    }

    /// The place; a single text of unknown kind is taken as the ward.
    fn place(mut self) -> Place {
        if self.ward.is_none() && self.untyped.len() == 1 {
            self.ward = self.untyped.pop();
        }
        (self.ward, self.room, self.bed)
    }
}

/// Participants with an individual; the attending physician first.
fn participants(e: &fhir::Encounter) -> Vec<model::Participant> {
    let mut out: Vec<model::Participant> = e
        .participant
        .iter()
        .filter_map(|p| {
            let role = p
                .type_
                .iter()
                .find(|t| t.has_code("ATND"))
                .or(p.type_.first());
            participant(p.individual.as_ref()?, role)
        })
        .collect();
    out.sort_by_key(|p| !p.is_attending());
    out
}

pub(super) fn map_encounter(
    e: fhir::Encounter,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "Encounter";
    let id = require_id(e.id.clone(), rt)?;
    let subject = subject_of(e.subject.as_ref(), local);
    let status = e.status.as_deref().unwrap_or("unknown").to_string();
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
    let mut notes = Notes::default();
    super::fields::check_status(
        &mut notes,
        Some(status.as_str()),
        &[
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "unknown",
        ],
        "status",
    );
    let start = notes.time(
        e.period.as_ref().and_then(|p| p.start.as_ref()),
        "period.start",
    );
    let end = notes.time(e.period.as_ref().and_then(|p| p.end.as_ref()), "period.end");
    if status == "finished" {
        let last = end.or(start);
        if last.is_some_and(|t| t < ctx.windows.encounters_from(ctx.now)) {
            return Ok(retract(
                ResourceType::Encounter,
                id,
                subject,
                DropReason::OutOfWindow,
            ));
        }
    }
    let ((ward, room, bed), location_ids) = encounter_place(&e, rt)?;
    Ok(notes.into(item(
        ResourceType::Encounter,
        id.clone(),
        subject,
        Item::Encounter(model::Encounter {
            id,
            status,
            class: e
                .class
                .as_ref()
                .and_then(|c| c.code.as_deref().map(str::to_string)),
            ward,
            room,
            bed,
            start,
            end,
            participants: participants(&e),
            location_ids,
        }),
    )))
}

/// Fill an encounter's ward, room and bed from its Locations in `book` (they win over
/// what the resource itself said). Returns whether any of its Locations was found; an
/// encounter without Location references counts as resolved.
pub fn place_encounter(e: &mut model::Encounter, book: &PlaceBook) -> bool {
    if e.location_ids.is_empty() {
        return true;
    }
    let Some((w, r, b)) = resolve_place(&e.location_ids, book) else {
        return false;
    };
    let keep = |resolved: Option<String>, own: &mut Option<String>| {
        if resolved.is_some() {
            *own = resolved;
        }
    };
    keep(w, &mut e.ward);
    keep(r, &mut e.room);
    keep(b, &mut e.bed);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Body, MapContext, Windows};

    fn map(json: &str) -> model::Encounter {
        let e: fhir::Encounter = serde_json::from_str(json).unwrap();
        let ctx = MapContext::new(chrono::Utc::now(), Windows::default());
        match map_encounter(e, &ctx, None).unwrap().body {
            Body::Item(Item::Encounter(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn display_words_are_ward_room_and_bed_and_location_ids_are_kept() {
        let e = map(
            r#"{"resourceType":"Encounter","id":"e1","status":"in-progress","class":{"code":"IMP"},
               "location":[{"location":{"reference":"Location/bed-4w-06-2","display":"4W-06号室 4W病棟"}}],
               "participant":[{"type":[{"coding":[{"code":"CON"}]}],"individual":{"display":"相談 医師"}},
                              {"type":[{"coding":[{"code":"ATND"}],"text":"主治医"}],"individual":{"reference":"Practitioner/d1","display":"主治 太郎"}}]}"#,
        );
        assert_eq!(e.ward.as_deref(), Some("4W病棟"));
        assert_eq!(e.room.as_deref(), Some("4W-06号室"));
        assert_eq!(e.location_ids, vec!["bed-4w-06-2".to_string()]);
        assert_eq!(e.participants[0].name.as_deref(), Some("主治 太郎"));
        assert_eq!(
            e.participants[0].reference.as_deref(),
            Some("Practitioner/d1")
        );
        assert!(e.participants[0].is_attending());
    }
}
