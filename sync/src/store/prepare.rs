//! Preparing mapped resources for a build, on worker threads and without database
//! access: keyed hashes of ids and subjects, the stored value (header and encoded content,
//! sealed for an encrypted store) and the search-index entry.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::index_blob::Entry;
use super::keys::{
    self, meta_value, IdHash, Keyer, Pk, ALIVE, KIND_INDEXED, META_LEN, SPACE_MEDICATION,
    SPACE_RECORD,
};
use super::IndexEntry;
use crate::crypto::{Sealer, ValuePlace};
use crate::mapping::{Body, Item, ItemKind, Mapped, ResourceType, Subject};

/// Whom a prepared item belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Patient: its own key.
    SelfPatient(Pk),
    /// A Medication (not patient data).
    Medication,
    /// `Patient/<id>`, hashed.
    Patient(Pk),
    /// A reference by identifier, hashed.
    Identifier([u8; 32]),
    Missing,
}

/// Stored values (header + encoded content) and the content hashes.
#[derive(Debug, Clone)]
pub struct Payload {
    pub kind: ItemKind,
    /// Key id of the data key the content is sealed with (`None`: plaintext).
    pub sealed_by: Option<u64>,
    pub record: Vec<u8>,
    pub record_hash: [u8; 32],
    /// The resource's search-index entry, in plaintext with its search keys: it goes to
    /// the build's index blob (sealed there), never to a row of its own.
    pub index: Option<Arc<Entry>>,
}

/// What a patient's encounter says about scope (current inpatient, last contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncounterFact {
    pub inpatient_now: bool,
    pub last: Option<DateTime<Utc>>,
}

impl EncounterFact {
    /// Add this encounter's fact to what `facts` knows of patient `pk`: an inpatient if
    /// any encounter says so, the latest contact of all.
    pub(super) fn record(self, facts: &mut HashMap<Pk, EncounterFact>, pk: Pk) {
        let e = facts.entry(pk).or_insert(EncounterFact {
            inpatient_now: false,
            last: None,
        });
        e.inpatient_now |= self.inpatient_now;
        e.last = e.last.max(self.last);
    }
}

/// A mapped resource ready to write: hashed keys and encoded content.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub rtype: ResourceType,
    pub idh: IdHash,
    pub target: Target,
    /// `None`: remove any earlier version (retraction or deletion).
    pub payload: Option<Payload>,
    pub identifiers: Vec<[u8; 32]>,
    pub encounter: Option<EncounterFact>,
}

/// Encounter statuses that place a patient in a bed now.
fn in_house(status: &str) -> bool {
    matches!(status, "in-progress" | "arrived" | "onleave" | "triaged")
}

/// Prepares mapped resources for one build (runs on worker threads; clone freely): keyed
/// hashes under the node secret and, for an encrypted store, sealing under the build's
/// data key.
///
/// Each clone (one per worker thread) remembers the last subject it hashed: a pull
/// usually delivers a patient's resources together, so most subject keys are not
/// recomputed.
#[derive(Clone)]
pub struct Preparer {
    keyer: Keyer,
    sealer: Option<Arc<Sealer>>,
    last_subject: RefCell<Option<(String, Pk)>>,
}

impl std::fmt::Debug for Preparer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the remembered subject id.
        f.debug_struct("Preparer")
            .field("sealed", &self.sealer.is_some())
            .finish()
    }
}

impl Preparer {
    /// A preparer for a build sealing with `sealer` (`None`: a plaintext store).
    pub(super) fn new(keyer: Keyer, sealer: Option<Arc<Sealer>>) -> Preparer {
        Preparer {
            keyer,
            sealer,
            last_subject: RefCell::new(None),
        }
    }

    pub fn keyer(&self) -> &Keyer {
        &self.keyer
    }

    pub fn prepare(&self, m: Mapped) -> Prepared {
        prepare_with(
            &self.keyer,
            self.sealer.as_deref(),
            Some(&self.last_subject),
            m,
        )
    }
}

/// Prepare one mapped resource for a plaintext store (runs on worker threads). An
/// encrypted store refuses what this makes; use [`super::GenerationBuilder::preparer`].
pub fn prepare(keyer: &Keyer, m: Mapped) -> Prepared {
    prepare_with(keyer, None, None, m)
}

/// The patient key of `Patient/<id>`, from `cache` when it was the last one hashed.
fn subject_key(keyer: &Keyer, cache: Option<&RefCell<Option<(String, Pk)>>>, id: &str) -> Pk {
    let Some(cache) = cache else {
        return keyer.patient(id);
    };
    let mut cache = cache.borrow_mut();
    match &mut *cache {
        Some((last, pk)) if last == id => *pk,
        slot => {
            let pk = keyer.patient(id);
            match slot {
                Some((last, last_pk)) => {
                    last.clear();
                    last.push_str(id);
                    *last_pk = pk;
                }
                None => *slot = Some((id.to_string(), pk)),
            }
            pk
        }
    }
}

fn prepare_with(
    keyer: &Keyer,
    sealer: Option<&Sealer>,
    cache: Option<&RefCell<Option<(String, Pk)>>>,
    m: Mapped,
) -> Prepared {
    let idh = keyer.id_hash(m.rtype, &m.id);
    let target = match &m.subject {
        Subject::Itself if m.rtype == ResourceType::Patient => Target::SelfPatient(idh),
        Subject::Itself => Target::Medication,
        Subject::PatientId(id) => Target::Patient(subject_key(keyer, cache, id)),
        Subject::Identifier { system, value } => {
            Target::Identifier(keyer.identifier(system, value))
        }
        Subject::Missing => Target::Missing,
    };
    let identifiers = m
        .identifiers
        .iter()
        .map(|(s, v)| keyer.identifier(s, v))
        .collect();
    let mut encounter = None;
    let payload = match m.body {
        // A place never becomes an item (the engine keeps it in the place book).
        Body::Retract(_) | Body::Place(_) => None,
        Body::Item(item) => {
            let (index, fact) = index_entry(&item);
            encounter = fact;
            let record_space = if matches!(target, Target::Medication) {
                SPACE_MEDICATION
            } else {
                SPACE_RECORD
            };
            let place = ValuePlace {
                space: record_space,
                rtype: m.rtype as u8,
                id_hash: &idh,
            };
            let (record, record_hash) = stored_value(sealer, place, &item, index.is_some());
            Some(Payload {
                kind: item.kind(),
                sealed_by: sealer.map(Sealer::key_id),
                record,
                record_hash,
                index: index.map(|i| Arc::new(Entry::new(i))),
            })
        }
    };
    Prepared {
        rtype: m.rtype,
        idh,
        target,
        payload,
        identifiers,
        encounter,
    }
}

/// The search-index entry of an item (a Patient; an encounter placing its patient in a
/// bed now) and what an encounter says about scope.
fn index_entry(item: &Item) -> (Option<IndexEntry>, Option<EncounterFact>) {
    match item {
        Item::Patient(p) => (
            Some(IndexEntry::Patient {
                hospital_id: p.hospital_id.clone(),
                name_kanji: p.name_kanji.clone(),
                name_kana: p.name_kana.clone(),
                sex: p.sex,
                birth_date: p.birth_date,
            }),
            None,
        ),
        Item::Encounter(e) => {
            let now = in_house(&e.status);
            let fact = EncounterFact {
                inpatient_now: now && e.class.as_deref() == Some("IMP"),
                last: e.end.or(e.start).map(|t| t.with_timezone(&Utc)),
            };
            let located = now && (e.ward.is_some() || e.room.is_some() || e.bed.is_some());
            let entry = located.then(|| IndexEntry::Location {
                ward: e.ward.clone(),
                room: e.room.clone(),
                bed: e.bed.clone(),
                class: e.class.clone(),
                start: e.start.map(|t| t.with_timezone(&Utc)),
            });
            (entry, Some(fact))
        }
        _ => (None, None),
    }
}

/// The stored value of `item`, built in one buffer without copies: header, then the
/// content — plaintext, or sealed in place at `place` to the store's key — and the
/// content hash (in the header, the set hash and verify), over what is stored.
fn stored_value(
    sealer: Option<&Sealer>,
    place: ValuePlace<'_>,
    item: &Item,
    indexed: bool,
) -> (Vec<u8>, [u8; 32]) {
    let reserve = META_LEN + sealer.map_or(0, |_| Sealer::HEADER_LEN);
    // Room for a typical item and the seal's tag, so encoding rarely reallocates.
    let mut buf = Vec::with_capacity(reserve + 320);
    buf.resize(reserve, 0);
    let mut buf = postcard::to_extend(item, buf).expect("items serialise");
    if let Some(s) = sealer {
        s.seal_in_place(place, &mut buf, META_LEN);
    }
    let hash = keys::sha256(&buf[META_LEN..]);
    let flag = if indexed { KIND_INDEXED } else { 0 };
    buf[..META_LEN].copy_from_slice(&meta_value(&hash, ALIVE, item.kind() as u8 | flag));
    (buf, hash)
}
