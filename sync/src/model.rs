//! The minimal record: exactly what a clinician needs during a downtime (3文書6情報 plus
//! census, MAR, vital signs and flags), nothing more. Every item carries the FHIR logical
//! id of the resource it came from so incremental sync can replace or delete it.
//!
//! Items are stored one per resource (keyed by patient, kind and resource id) and a
//! patient's [`PatientRecord`] is assembled at read time.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

/// Opaque key naming a patient in URLs and audit entries. Never the hospital ID, never
/// derived from anything a person could reverse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PatientKey(pub String);

/// A point or period in time as the source gave it (FHIR dateTime keeps its offset; JST
/// is +09:00).
pub type Instant = DateTime<FixedOffset>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    Male,
    Female,
    Other,
    Unknown,
}

/// Who the patient is (JP_Patient).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// FHIR logical id of the Patient resource.
    pub id: String,
    /// 院内患者ID: identifier with system `urn:oid:1.2.392.100495.20.3.51.1<institution>`.
    pub hospital_id: Option<String>,
    /// Ideographic name (IDE), e.g. "牧野 爛漫".
    pub name_kanji: Option<String>,
    /// Syllabic name (SYL), e.g. "マキノ ランマン".
    pub name_kana: Option<String>,
    pub sex: Sex,
    pub birth_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Criticality {
    Low,
    High,
    UnableToAssess,
}

/// An allergy or intolerance (AllergyIntolerance). Drug contraindications (薬剤禁忌) are
/// allergies whose category is medication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allergy {
    pub id: String,
    /// What the patient reacts to, as text a nurse can read.
    pub substance: String,
    /// FHIR categories: food, medication, environment, biologic.
    pub categories: Vec<String>,
    pub criticality: Option<Criticality>,
    /// active / inactive / resolved.
    pub clinical_status: Option<String>,
    /// unconfirmed / confirmed / refuted.
    pub verification_status: Option<String>,
    /// Reaction manifestations, as text.
    pub reactions: Vec<String>,
    pub recorded: Option<Instant>,
}

/// A problem or diagnosis (Condition). Infections are recorded as [`Infection`] instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub id: String,
    pub text: String,
    pub code: Option<String>,
    /// active / recurrence / relapse / inactive / remission / resolved.
    pub clinical_status: Option<String>,
    pub onset: Option<String>,
    pub recorded: Option<Instant>,
}

/// An infection that matters on the ward (HBs, HCV, syphilis, HIV, MRSA, ...), from an
/// Observation or a Condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Infection {
    pub id: String,
    pub name: String,
    /// Result or status as text, e.g. "陽性 (+)".
    pub result: String,
    pub positive: bool,
    pub time: Option<Instant>,
}

/// A prescription (MedicationRequest, with its Medication).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prescription {
    pub id: String,
    pub medication: String,
    /// Dose as text, e.g. "1回 1錠".
    pub dose: Option<String>,
    pub route: Option<String>,
    /// Timing as text, e.g. "1日3回 毎食後 7日分".
    pub timing: Option<String>,
    /// active / on-hold / completed / stopped / ...
    pub status: String,
    pub as_needed: bool,
    pub authored_on: Option<Instant>,
    pub period_start: Option<Instant>,
    pub period_end: Option<Instant>,
}

/// One administration of a medication (MedicationAdministration): a MAR cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Administration {
    pub id: String,
    pub medication: String,
    pub dose: Option<String>,
    pub route: Option<String>,
    /// completed / not-done / in-progress / ...
    pub status: String,
    pub time: Instant,
    /// FHIR id of the MedicationRequest this administers, when known.
    pub prescription_id: Option<String>,
}

/// A laboratory result (Observation, category laboratory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabResult {
    pub id: String,
    /// Test name as text, e.g. "カリウム".
    pub test: String,
    pub code: Option<String>,
    /// Value as text (numeric values keep their source precision).
    pub value: String,
    pub unit: Option<String>,
    /// Reference range as text, e.g. "3.5-5.0".
    pub reference_range: Option<String>,
    /// Interpretation code: H, L, HH, LL, A, N, ...
    pub interpretation: Option<String>,
    pub time: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VitalKind {
    BloodPressure,
    HeartRate,
    BodyTemperature,
    RespiratoryRate,
    OxygenSaturation,
    BodyWeight,
    BodyHeight,
    Other,
}

/// A vital sign (Observation, category vital-signs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VitalSign {
    pub id: String,
    pub kind: VitalKind,
    /// Value as text, e.g. "120/80" for blood pressure.
    pub value: String,
    pub unit: Option<String>,
    pub time: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlagKind {
    Dnr,
    Isolation,
    FallRisk,
    Other,
}

/// An alert (Flag): DNR, isolation, fall risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub id: String,
    pub kind: FlagKind,
    pub text: String,
    pub start: Option<Instant>,
}

/// An encounter (Encounter) with where the patient is: the census.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encounter {
    pub id: String,
    /// in-progress / finished / planned / ...
    pub status: String,
    /// IMP (inpatient), AMB (outpatient), EMER, ...
    pub class: Option<String>,
    pub ward: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
    pub start: Option<Instant>,
    pub end: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocumentKind {
    /// 診療情報提供書
    Referral,
    /// 退院時サマリー
    DischargeSummary,
    /// 健診結果報告書
    HealthCheck,
    Other,
}

/// One of the three documents, as plain text (source HTML is never kept as markup).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub kind: DocumentKind,
    pub title: String,
    pub date: Option<Instant>,
    pub text: String,
}

/// Everything the node holds on one patient, assembled at read time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientRecord {
    pub key: PatientKey,
    pub patient: Patient,
    pub allergies: Vec<Allergy>,
    pub conditions: Vec<Condition>,
    pub infections: Vec<Infection>,
    pub prescriptions: Vec<Prescription>,
    pub administrations: Vec<Administration>,
    pub labs: Vec<LabResult>,
    pub vitals: Vec<VitalSign>,
    pub flags: Vec<Flag>,
    pub encounters: Vec<Encounter>,
    pub documents: Vec<Document>,
}

impl PatientRecord {
    /// Put every list in the order the reader returns: newest first by the item's time
    /// (allergy/condition `recorded`, infection/lab/vital/administration `time`,
    /// prescription `authored_on`, flag/encounter `start`, document `date`; items
    /// without a time last), ties by id.
    pub fn sort_canonical(&mut self) {
        fn by<T>(v: &mut [T], time: impl Fn(&T) -> Option<Instant>, id: impl Fn(&T) -> &str) {
            v.sort_by(|a, b| {
                let (ta, tb) = (time(a), time(b));
                match (ta, tb) {
                    (Some(x), Some(y)) => y.cmp(&x),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then_with(|| id(a).cmp(id(b)))
            });
        }
        by(&mut self.allergies, |x| x.recorded, |x| &x.id);
        by(&mut self.conditions, |x| x.recorded, |x| &x.id);
        by(&mut self.infections, |x| x.time, |x| &x.id);
        by(&mut self.prescriptions, |x| x.authored_on, |x| &x.id);
        by(&mut self.administrations, |x| Some(x.time), |x| &x.id);
        by(&mut self.labs, |x| x.time, |x| &x.id);
        by(&mut self.vitals, |x| Some(x.time), |x| &x.id);
        by(&mut self.flags, |x| x.start, |x| &x.id);
        by(&mut self.encounters, |x| x.start, |x| &x.id);
        by(&mut self.documents, |x| x.date, |x| &x.id);
    }
}
