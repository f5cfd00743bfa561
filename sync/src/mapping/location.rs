//! Location → a [`model::Place`] for the node's place book, and resolving an encounter's
//! Locations into ward, room and bed.
//!
//! Rules: a Location's **kind** is its `physicalType` (`wa`/`wi` ward, `ro` room, `bd`
//! bed), else read from its name (…病棟 ward, …号室/…室 room, …床/…ベッド bed). An
//! encounter at a Location is placed by following `partOf` from that Location upwards
//! (a bed's room, a room's ward): each step fills the ward, room or bed its kind says; a
//! chain's topmost untyped Location is the ward when no ward was found. Locations are
//! reference data, not patient data: the sync engine keeps them in the node's place book
//! (see `store::places`) and resolves in-house encounters with it before they enter the
//! census; the reader resolves the patient page's encounters with the same book.

use std::collections::HashMap;

use super::fields::{reference_id, require_id};
use super::{reject, Body, Mapped, Reject, RejectReason, ResourceType, Subject};
use crate::fhir;
use crate::model::{Place, PlaceKind};

/// How deep `partOf` chains are followed (bed → room → ward → floor → building → site).
const MAX_DEPTH: usize = 6;

/// The kind of place from a `physicalType` code and, failing that, the name.
pub fn place_kind(physical_type: Option<&fhir::CodeableConcept>, name: &str) -> PlaceKind {
    if let Some(pt) = physical_type {
        for c in &pt.coding {
            match c.code.as_deref() {
                Some("wa" | "wi") => return PlaceKind::Ward,
                Some("ro") => return PlaceKind::Room,
                Some("bd") => return PlaceKind::Bed,
                _ => {}
            }
        }
    }
    kind_from_name(name)
}

/// A place's kind from how Japanese hospitals name it.
pub(super) fn kind_from_name(name: &str) -> PlaceKind {
    let n = name.trim();
    if n.ends_with("病棟") || n.ends_with("病棟）") {
        PlaceKind::Ward
    } else if n.ends_with("号室") || n.ends_with('室') {
        PlaceKind::Room
    } else if n.ends_with('床') || n.ends_with("ベッド") || n.ends_with("番床") {
        PlaceKind::Bed
    } else {
        PlaceKind::Other
    }
}

pub(super) fn map_location(l: fhir::Location) -> Result<Mapped, Reject> {
    let rt = "Location";
    let id = require_id(l.id.clone(), rt)?;
    let Some(place) = place_of(&l, id.clone()) else {
        return Err(reject(
            RejectReason::MissingCode,
            rt,
            "name, alias and description missing: nothing says which place it is",
        ));
    };
    Ok(Mapped {
        rtype: ResourceType::Location,
        id,
        subject: Subject::Itself,
        body: Body::Place(place),
        identifiers: Vec::new(),
        warnings: Vec::new(),
    })
}

/// A Location (a resource or a contained one) as a place.
pub(super) fn place_of(l: &fhir::Location, id: String) -> Option<Place> {
    let name = l
        .name
        .as_deref()
        .or(l.alias.first().map(|a| &a[..]))
        .or(l.description.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())?
        .to_string();
    Some(Place {
        id,
        kind: place_kind(l.physical_type.as_ref(), &name),
        part_of: l
            .part_of
            .as_ref()
            .and_then(|r| r.reference.as_deref())
            .and_then(|r| {
                r.strip_prefix('#')
                    .map(str::to_string)
                    .or_else(|| reference_id(r, "Location"))
            }),
        name,
    })
}

/// Places by Location id: what the sync engine collects from a pull and stores, and what
/// encounters are resolved with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaceBook {
    places: HashMap<String, Place>,
}

impl PlaceBook {
    pub fn new() -> PlaceBook {
        PlaceBook::default()
    }

    pub fn insert(&mut self, place: Place) {
        self.places.insert(place.id.clone(), place);
    }

    pub fn get(&self, id: &str) -> Option<&Place> {
        self.places.get(id)
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    pub fn places(&self) -> impl Iterator<Item = &Place> {
        self.places.values()
    }

    /// Add every place of `other` (newer versions win).
    pub fn extend(&mut self, other: PlaceBook) {
        self.places.extend(other.places);
    }
}

impl FromIterator<Place> for PlaceBook {
    fn from_iter<I: IntoIterator<Item = Place>>(iter: I) -> Self {
        let mut book = PlaceBook::new();
        for p in iter {
            book.insert(p);
        }
        book
    }
}

/// Ward, room and bed.
pub type WardRoomBed = (Option<String>, Option<String>, Option<String>);

/// Ward, room and bed of the Locations `ids` (see the module doc), or `None` when none of
/// them is in `book`.
pub fn resolve_place(ids: &[String], book: &PlaceBook) -> Option<WardRoomBed> {
    let (mut ward, mut room, mut bed) = (None, None, None);
    let mut found = false;
    for id in ids {
        let mut next = book.get(id);
        let mut top_untyped = None;
        for _ in 0..MAX_DEPTH {
            let Some(p) = next else { break };
            found = true;
            let slot = match p.kind {
                PlaceKind::Ward => &mut ward,
                PlaceKind::Room => &mut room,
                PlaceKind::Bed => &mut bed,
                PlaceKind::Other => {
                    top_untyped = Some(p.name.clone());
                    next = p.part_of.as_deref().and_then(|id| book.get(id));
                    continue;
                }
            };
            if slot.is_none() {
                *slot = Some(p.name.clone());
            }
            next = p.part_of.as_deref().and_then(|id| book.get(id));
        }
        if ward.is_none() && (room.is_some() || bed.is_some() || ids.len() == 1) {
            ward = top_untyped;
        }
    }
    found.then_some((ward, room, bed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: &str, name: &str, kind: PlaceKind, part_of: Option<&str>) -> Place {
        Place {
            id: id.into(),
            name: name.into(),
            kind,
            part_of: part_of.map(str::to_string),
        }
    }

    #[test]
    fn a_bed_resolves_through_its_room_to_its_ward() {
        let book: PlaceBook = [
            place("w", "4W病棟", PlaceKind::Ward, Some("hosp")),
            place("r", "4W-06号室", PlaceKind::Room, Some("w")),
            place("b", "2", PlaceKind::Bed, Some("r")),
            place("hosp", "本院", PlaceKind::Other, None),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            resolve_place(&["b".into()], &book),
            Some((
                Some("4W病棟".into()),
                Some("4W-06号室".into()),
                Some("2".into())
            ))
        );
        assert_eq!(resolve_place(&["nowhere".into()], &book), None);
    }

    #[test]
    fn kinds_from_japanese_names() {
        assert_eq!(kind_from_name("4W病棟"), PlaceKind::Ward);
        assert_eq!(kind_from_name("4W-06号室"), PlaceKind::Room);
        assert_eq!(kind_from_name("個室"), PlaceKind::Room);
        assert_eq!(kind_from_name("3床"), PlaceKind::Bed);
        assert_eq!(kind_from_name("本院"), PlaceKind::Other);
    }
}
