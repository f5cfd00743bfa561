//! Assembling one patient's record from its stored items: the read's windows (from the
//! served generation's data time) and the reference data (drug names, staff) looked up
//! once per record.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};

use super::{SnapshotReader, View};
use crate::crypto::Keyring;
use crate::mapping::{place_encounter, Item, ResourceType, Windows};
use crate::model::{Participant, PatientRecord, Staff};
use crate::store::StoreError;

/// The windows of one read, measured back from the served generation's data time (never
/// the wall clock: a node frozen on one generation keeps showing its last 72 hours).
pub(super) struct Recent {
    administrations: DateTime<FixedOffset>,
    vitals: DateTime<FixedOffset>,
    labs: DateTime<FixedOffset>,
    reports: DateTime<FixedOffset>,
    encounters: DateTime<FixedOffset>,
    prescriptions: DateTime<FixedOffset>,
    data_time: DateTime<FixedOffset>,
}

impl Recent {
    pub(super) fn new(w: &Windows, data_time: DateTime<Utc>) -> Recent {
        let utc = |t: DateTime<Utc>| t.fixed_offset();
        Recent {
            administrations: utc(w.administrations_from(data_time)),
            vitals: utc(w.vitals_from(data_time)),
            labs: utc(w.labs_from(data_time)),
            reports: utc(w.reports_from(data_time)),
            encounters: utc(w.encounters_from(data_time)),
            prescriptions: utc(w.prescriptions_recent_from(data_time)),
            data_time: utc(data_time),
        }
    }

    /// Finished encounters within the encounters window; others always.
    fn encounter(&self, e: &crate::model::Encounter) -> bool {
        e.status != "finished" || e.end.or(e.start).is_none_or(|t| t >= self.encounters)
    }

    /// Prescriptions in effect at the data time, or ended within the recent-prescriptions
    /// window (shown greyed); one that gives no time at all is shown rather than hidden.
    fn prescription(&self, rx: &crate::model::Prescription) -> bool {
        rx.in_effect_at(self.data_time) || rx.last_time().is_none_or(|t| t >= self.prescriptions)
    }
}

/// Reference data looked up while one record is assembled (each id once).
pub(super) struct References<'a> {
    reader: &'a SnapshotReader,
    view: &'a View,
    keys: Option<&'a Keyring>,
    medications: BTreeMap<String, Option<String>>,
    staff: BTreeMap<String, Option<Staff>>,
}

impl<'a> References<'a> {
    pub(super) fn new(
        reader: &'a SnapshotReader,
        view: &'a View,
        keys: Option<&'a Keyring>,
    ) -> References<'a> {
        References {
            reader,
            view,
            keys,
            medications: BTreeMap::new(),
            staff: BTreeMap::new(),
        }
    }

    /// Place one stored item in the record being assembled (within its window, its
    /// references named); the patient item itself is handed back. One arm per item kind,
    /// kept in one match so every kind's window and naming rule reads side by side.
    pub(super) fn add(
        &mut self,
        r: &mut PatientRecord,
        recent: &Recent,
        item: Item,
    ) -> Result<Option<crate::model::Patient>, StoreError> {
        match item {
            Item::Patient(pt) => return Ok(Some(pt)),
            Item::Allergy(a) => r.allergies.push(a),
            Item::Condition(c) => r.conditions.push(c),
            Item::Infection(x) => r.infections.push(x),
            Item::Prescription {
                mut rx,
                medication_ref,
            } => {
                if let Some(name) = self.medication(medication_ref.as_deref())? {
                    rx.medication = name;
                }
                if recent.prescription(&rx) {
                    if let Some(p) = &mut rx.prescriber {
                        self.name(p)?;
                    }
                    r.prescriptions.push(rx);
                }
            }
            Item::Administration {
                mut given,
                medication_ref,
            } => {
                if let Some(name) = self.medication(medication_ref.as_deref())? {
                    given.medication = name;
                }
                if given.time >= recent.administrations {
                    r.administrations.push(given);
                }
            }
            Item::Lab(l) => {
                if l.time.is_none_or(|t| t >= recent.labs) {
                    r.labs.push(l)
                }
            }
            Item::BloodType(b) => r.blood_types.push(b),
            Item::Vital(v) => {
                if v.time >= recent.vitals {
                    r.vitals.push(v);
                }
            }
            Item::Finding(f) => {
                if f.time.is_none_or(|t| t >= recent.labs) {
                    r.findings.push(f);
                }
            }
            Item::Flag(f) => r.flags.push(f),
            Item::Encounter(mut e) => {
                if recent.encounter(&e) {
                    place_encounter(&mut e, &self.view.places);
                    for p in &mut e.participants {
                        self.name(p)?;
                    }
                    r.encounters.push(e);
                }
            }
            Item::Document(d) => r.documents.push(d),
            Item::Report(mut rep) => {
                if rep.time.or(rep.issued).is_none_or(|t| t >= recent.reports) {
                    if let Some(p) = &mut rep.performer {
                        self.name(p)?;
                    }
                    r.reports.push(rep);
                }
            }
            Item::Order(mut o) => {
                if let Some(p) = &mut o.requester {
                    self.name(p)?;
                }
                r.orders.push(o);
            }
            Item::Immunization(i) => r.immunizations.push(i),
            Item::CareTeam(mut t) => {
                for p in &mut t.members {
                    self.name(p)?;
                }
                r.care_teams.push(t);
            }
            Item::Medication { .. } | Item::Staff(_) => {}
        }
        Ok(None)
    }

    fn medication(&mut self, id: Option<&str>) -> Result<Option<String>, StoreError> {
        let Some(id) = id else { return Ok(None) };
        if let Some(n) = self.medications.get(id) {
            return Ok(n.clone());
        }
        let n = self
            .reader
            .shared
            .store
            .medication_name(&self.view.manifest, id, self.keys)?;
        self.medications.insert(id.to_string(), n.clone());
        Ok(n)
    }

    /// The staff item `Practitioner/<id>` or `PractitionerRole/<id>`.
    fn staff(&mut self, reference: &str) -> Result<Option<Staff>, StoreError> {
        if let Some(s) = self.staff.get(reference) {
            return Ok(s.clone());
        }
        let found = match reference.split_once('/') {
            Some((t, id)) => match ResourceType::from_name(t) {
                Some(rt) if rt.is_reference_data() => self.reader.shared.store.reference_item(
                    &self.view.manifest,
                    rt,
                    id,
                    self.keys,
                )?,
                _ => None,
            },
            None => None,
        };
        let staff = match found {
            Some(Item::Staff(s)) => Some(s),
            _ => None,
        };
        self.staff.insert(reference.to_string(), staff.clone());
        Ok(staff)
    }

    /// Fill in a participant's missing name, role and contact from the staff it refers
    /// to (a PractitionerRole, then its Practitioner).
    fn name(&mut self, p: &mut Participant) -> Result<(), StoreError> {
        let mut next = p.reference.clone();
        for _ in 0..2 {
            let Some(reference) = next.take() else { break };
            let Some(s) = self.staff(&reference)? else {
                break;
            };
            if p.name.is_none() {
                p.name = s.name;
            }
            if p.role.is_none() {
                p.role = s.role;
            }
            if p.contact.is_none() {
                p.contact = s.contact;
            }
            next = s.practitioner;
        }
        Ok(())
    }
}
