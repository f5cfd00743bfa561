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
    let mut contained = PlaceBook::new();
    for raw in &e.contained {
        let head: fhir::ContainedHead = parse(raw.get().as_bytes(), rt)?;
        if head.resource_type == "Location" {
            let loc: fhir::Location = parse(raw.get().as_bytes(), rt)?;
            if let Some(p) = loc.id.clone().and_then(|id| place_of(&loc, id)) {
                contained.insert(p);
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
    let mut ids = Vec::new();
    let mut set = |kind: PlaceKind, text: String, untyped: &mut Vec<String>| match kind {
        PlaceKind::Ward => {
            ward.get_or_insert(text);
        }
        PlaceKind::Room => {
            room.get_or_insert(text);
        }
        PlaceKind::Bed => {
            bed.get_or_insert(text);
        }
        PlaceKind::Other => untyped.push(text),
    };
    for l in &current {
        let reference = l.location.reference.as_deref();
        if let Some(local) = reference.and_then(|r| r.strip_prefix('#')) {
            if let Some((w, r, b)) = resolve_place(&[local.to_string()], &contained) {
                for (kind, v) in [
                    (PlaceKind::Ward, w),
                    (PlaceKind::Room, r),
                    (PlaceKind::Bed, b),
                ] {
                    if let Some(v) = v {
                        set(kind, v, &mut untyped);
                    }
                }
                continue;
            }
        }
        if let Some(id) = reference.and_then(|r| reference_id(r, "Location")) {
            ids.push(id);
        }
        let Some(text) = l
            .location
            .display
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            continue;
        };
        match l.physical_type.as_ref() {
            Some(pt) => set(place_kind(Some(pt), text), text.to_string(), &mut untyped),
            None => {
                // "4W-06号室 4W病棟": each word placed by its name.
                let words: Vec<&str> = text.split_whitespace().collect();
                let kinds: Vec<PlaceKind> = words.iter().map(|w| kind_from_name(w)).collect();
                if words.len() > 1 && kinds.iter().all(|k| *k != PlaceKind::Other) {
                    for (w, k) in words.iter().zip(kinds) {
                        set(k, w.to_string(), &mut untyped);
                    }
                } else {
                    set(kind_from_name(text), text.to_string(), &mut untyped);
                }
            }
        }
    }
    if ward.is_none() && untyped.len() == 1 {
        ward = untyped.pop();
    }
    Ok(((ward, room, bed), ids))
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
            class: e.class.as_ref().and_then(|c| c.code.clone()),
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
