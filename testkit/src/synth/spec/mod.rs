//! The structured form of a synthetic patient: everything needed to render its FHIR
//! resources *and* to state its truth. Deltas mutate this form and re-render.
//!
//! [`generate`] makes a patient, [`catalog`] holds what it draws from, [`delta`] changes
//! it.

mod catalog;
mod delta;
mod generate;
#[cfg(test)]
pub(crate) use generate::dose_hours;

use akari_sync::model::{
    Administration, Allergy, Condition, Document, Encounter, Flag, Infection, Instant, LabResult,
    Patient, PatientKey, PatientRecord, Prescription, Sex, VitalSign,
};
use chrono::{Duration, NaiveDate};

pub(crate) use catalog::PRESCRIBERS;
pub(crate) use delta::apply_delta;
pub(crate) use generate::generate;

use super::{ENCOUNTER_WINDOW_DAYS, RECENT_WINDOW_HOURS};

/// An item of a patient plus its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<T> {
    pub v: T,
    pub last_updated: Instant,
    /// Rendered with status / verificationStatus `entered-in-error`; absent from the truth.
    pub entered_in_error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AllergySpec(pub Allergy);
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionSpec(pub Condition);
#[derive(Debug, Clone, PartialEq)]
pub struct InfectionSpec {
    pub m: Infection,
    /// JLAC10 code (17 digits).
    pub code: String,
    /// POS / NEG.
    pub interpretation: &'static str,
}
#[derive(Debug, Clone, PartialEq)]
pub struct RxSpec {
    pub m: Prescription,
    /// Dose as JSON number text, e.g. "2" or "0.5".
    pub dose_value: String,
    pub dose_unit: String,
}
#[derive(Debug, Clone, PartialEq)]
pub struct MarSpec {
    pub m: Administration,
    pub dose_value: String,
    pub dose_unit: String,
}
#[derive(Debug, Clone, PartialEq)]
pub struct LabSpec {
    pub m: LabResult,
    pub low: String,
    pub high: String,
}
#[derive(Debug, Clone, PartialEq)]
pub struct VitalSpec {
    pub m: VitalSign,
    /// (systolic, diastolic) for blood pressure.
    pub bp: Option<(String, String)>,
}
#[derive(Debug, Clone, PartialEq)]
pub struct FlagSpec(pub Flag);
#[derive(Debug, Clone, PartialEq)]
pub struct EncounterSpec(pub Encounter);
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSpec(pub Document);

/// One synthetic patient.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientSpec {
    pub index: u64,
    pub id: String,
    pub hospital_id: String,
    pub family_kanji: String,
    pub given_kanji: String,
    /// Kana as the source gives it (half-width for some patients).
    pub family_kana: String,
    pub given_kana: String,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub last_updated: Instant,
    /// Counter for ids of items added by deltas.
    pub next_item: u64,
    pub allergies: Vec<Item<AllergySpec>>,
    pub conditions: Vec<Item<ConditionSpec>>,
    pub infections: Vec<Item<InfectionSpec>>,
    pub prescriptions: Vec<Item<RxSpec>>,
    pub administrations: Vec<Item<MarSpec>>,
    pub labs: Vec<Item<LabSpec>>,
    pub vitals: Vec<Item<VitalSpec>>,
    pub flags: Vec<Item<FlagSpec>>,
    pub encounters: Vec<Item<EncounterSpec>>,
    pub documents: Vec<Item<DocumentSpec>>,
}

/// How many of a hospital's `patients` are in a bed today: a quarter of a small test
/// hospital, a few hundred at 10k patients, 2,000 (a large hospital) from 100k on. The rest
/// are outpatients (past visits only).
pub fn inpatient_count(patients: u64) -> u64 {
    patients.div_ceil(4).min(200 + patients / 50).min(2_000)
}

/// The inpatient slot of patient `index` (0-based, dense), if it is an inpatient:
/// [`inpatient_count`] indices spread evenly over the hospital.
pub(super) fn inpatient_slot(patients: u64, index: u64) -> Option<u64> {
    let n = patients.max(1);
    let count = inpatient_count(n);
    if index >= n {
        return None;
    }
    let (a, b) = (index * count / n, (index + 1) * count / n);
    (b > a).then_some(a)
}

/// Beds of ward `w`: 40 to 60, as in Japanese general wards.
fn ward_beds(w: u64) -> u64 {
    40 + (w * 7) % 21
}

/// Rooms of a ward, in room order: mostly 4-bed rooms, then 2-bed and private rooms
/// (each entry: beds in that room). Covers at least 60 beds; a ward uses its first beds.
const ROOM_PLAN: &[u64] = &[
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 4, 4, 4,
];

/// Where inpatient `slot` lies: (ward name, room number, bed number). Wards are filled
/// one after another, four wings a floor from the 3rd: 3階東病棟 (rooms 301–),
/// 3階西病棟 (326–), 3階南病棟 (351–), 3階北病棟 (376–), 4階東病棟, …
pub(crate) fn bed_of(slot: u64) -> (String, String, String) {
    let (mut w, mut first) = (0, 0);
    while slot >= first + ward_beds(w) {
        first += ward_beds(w);
        w += 1;
    }
    let floor = 3 + w / 4;
    let wing = w % 4;
    let mut left = slot - first;
    let mut room = 0;
    while left >= ROOM_PLAN[room] {
        left -= ROOM_PLAN[room];
        room += 1;
    }
    (
        format!("{floor}階{}病棟", ["東", "西", "南", "北"][wing as usize]),
        (floor * 100 + wing * 25 + room as u64 + 1).to_string(),
        (left + 1).to_string(),
    )
}

impl PatientSpec {
    pub fn name_kanji(&self) -> String {
        format!("{} {}", self.family_kanji, self.given_kanji)
    }
    pub fn name_kana(&self) -> String {
        format!("{} {}", self.family_kana, self.given_kana)
    }

    pub(crate) fn truth(&self, now: Instant) -> PatientRecord {
        let recent = |t: &Instant| now - *t <= Duration::hours(RECENT_WINDOW_HOURS);
        fn live<T>(v: &[Item<T>]) -> impl Iterator<Item = &T> {
            v.iter().filter(|i| !i.entered_in_error).map(|i| &i.v)
        }
        PatientRecord {
            key: PatientKey(String::new()),
            patient: Patient {
                id: self.id.clone(),
                hospital_id: Some(self.hospital_id.clone()),
                name_kanji: Some(self.name_kanji()),
                name_kana: Some(self.name_kana()),
                sex: self.sex,
                birth_date: Some(self.birth_date),
                deceased: None,
            },
            allergies: live(&self.allergies).map(|a| a.0.clone()).collect(),
            conditions: live(&self.conditions).map(|a| a.0.clone()).collect(),
            infections: live(&self.infections).map(|a| a.m.clone()).collect(),
            prescriptions: live(&self.prescriptions).map(|a| a.m.clone()).collect(),
            administrations: live(&self.administrations)
                .filter(|a| recent(&a.m.time))
                .map(|a| a.m.clone())
                .collect(),
            labs: live(&self.labs).map(|a| a.m.clone()).collect(),
            vitals: live(&self.vitals)
                .filter(|a| recent(&a.m.time))
                .map(|a| a.m.clone())
                .collect(),
            flags: live(&self.flags).map(|a| a.0.clone()).collect(),
            encounters: live(&self.encounters)
                .filter(|e| {
                    e.0.status != "finished"
                        || e.0
                            .end
                            .is_some_and(|end| now - end <= Duration::days(ENCOUNTER_WINDOW_DAYS))
                })
                .map(|a| a.0.clone())
                .collect(),
            documents: live(&self.documents).map(|a| a.0.clone()).collect(),
            ..PatientRecord::default()
        }
    }
}
