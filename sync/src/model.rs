//! The minimal record: exactly what a clinician needs during a downtime (3文書6情報 plus
//! census, MAR, vital signs, flags, reports, pending orders, immunisations and who to
//! call), nothing more. Every item carries the FHIR logical id of the resource it came
//! from so incremental sync can replace or delete it.
//!
//! Items are stored one per resource (keyed by patient, kind and resource id) and a
//! patient's [`PatientRecord`] is assembled at read time.
//!
//! **Times.** A time the source gave is kept as it was given: an [`Instant`] (offset kept)
//! where FHIR requires a time or the item is always timed (MAR, vital signs, labs), and a
//! [`Moment`] where sources often send only a date or a month (onset, date of death,
//! vaccination), so a date is never shown with a made-up time. A time that does not parse
//! is `None` ("unknown") with a sync warning, never midnight.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use serde::{Deserialize, Serialize};

pub mod status;
mod stored_time;

/// Opaque key naming a patient in URLs and audit entries. Never the hospital ID, never
/// derived from anything a person could reverse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PatientKey(pub String);

/// A point or period in time as the source gave it (FHIR dateTime keeps its offset; JST
/// is +09:00).
pub type Instant = DateTime<FixedOffset>;

/// A point in time as precise as the source gave it: a FHIR `date` or `dateTime` of year,
/// month, day or second precision. Partial dates are never widened to a made-up day or
/// time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Moment {
    Year(i32),
    /// Year and month (1–12).
    Month(i32, u32),
    Day(#[serde(with = "stored_time::date")] NaiveDate),
    Time(#[serde(with = "stored_time")] Instant),
}

impl Moment {
    /// The first instant the moment covers, in JST for partial dates: for sorting and for
    /// comparing against windows, never for display.
    pub fn start(&self) -> Option<Instant> {
        let jst = FixedOffset::east_opt(9 * 3600)?;
        let day = match *self {
            Moment::Year(y) => NaiveDate::from_ymd_opt(y, 1, 1)?,
            Moment::Month(y, m) => NaiveDate::from_ymd_opt(y, m, 1)?,
            Moment::Day(d) => d,
            Moment::Time(t) => return Some(t),
        };
        jst.from_local_datetime(&day.and_time(NaiveTime::MIN))
            .single()
    }

    /// The calendar date in JST, when the moment is at least that precise.
    pub fn date(&self) -> Option<NaiveDate> {
        match *self {
            Moment::Day(d) => Some(d),
            Moment::Time(t) => Some(
                t.with_timezone(&FixedOffset::east_opt(9 * 3600)?)
                    .date_naive(),
            ),
            Moment::Year(_) | Moment::Month(..) => None,
        }
    }

    /// The year, whatever the precision.
    pub fn year(&self) -> i32 {
        match *self {
            Moment::Year(y) | Moment::Month(y, _) => y,
            Moment::Day(d) => d.year(),
            Moment::Time(t) => t.year(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    Male,
    Female,
    Other,
    #[default]
    Unknown,
}

/// That a patient has died (`deceasedBoolean` true, or `deceasedDateTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Deceased {
    /// Deceased, date not given.
    Yes,
    /// Deceased on or at this date or time.
    At(Moment),
}

/// Who the patient is (JP_Patient).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// FHIR logical id of the Patient resource.
    pub id: String,
    /// 院内患者ID (medical record number) as the source wrote it: see
    /// `mapping::patient` for how it is recognised.
    pub hospital_id: Option<String>,
    /// Ideographic name (IDE), e.g. "牧野 爛漫".
    pub name_kanji: Option<String>,
    /// Syllabic name (SYL), e.g. "マキノ ランマン".
    pub name_kana: Option<String>,
    pub sex: Sex,
    #[serde(with = "stored_time::date::option")]
    pub birth_date: Option<NaiveDate>,
    /// `None`: not known to be deceased.
    pub deceased: Option<Deceased>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Criticality {
    Low,
    High,
    UnableToAssess,
}

/// Severity of an allergic reaction (AllergyIntolerance.reaction.severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    Mild,
    Moderate,
    Severe,
}

/// An allergy or intolerance (AllergyIntolerance). Drug contraindications (薬剤禁忌) are
/// allergies whose category is medication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    #[serde(with = "stored_time::option")]
    pub recorded: Option<Instant>,
    /// The most severe reaction severity the source gave.
    pub severity: Option<Severity>,
    /// The entry states that the patient has *no* known allergy (of its categories, if
    /// any): "no known allergy" codes or text. Not an allergy: shown as
    /// アレルギーなし（確認済み） when confirmed.
    pub none_known: bool,
}

impl Allergy {
    /// Shown at all: not inactive, resolved or refuted.
    pub fn is_current(&self) -> bool {
        !matches!(
            self.clinical_status.as_deref(),
            Some("inactive" | "resolved")
        ) && self.verification_status.as_deref() != Some("refuted")
    }

    /// A current allergy or intolerance, not a "no known allergy" statement: what puts the
    /// allergy marker on a patient's row.
    pub fn warns(&self) -> bool {
        self.is_current() && !self.none_known
    }
}

/// When a problem began (Condition.onset[x]), as the source gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Onset {
    /// onsetDateTime.
    At(Moment),
    /// onsetPeriod.
    Period {
        start: Option<Moment>,
        end: Option<Moment>,
    },
    /// onsetAge (or onsetRange) as text, e.g. "65 歳".
    Age(String),
    /// onsetString.
    Text(String),
}

/// A problem or diagnosis (Condition). Infections are recorded as [`Infection`] instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub id: String,
    pub text: String,
    pub code: Option<String>,
    /// active / recurrence / relapse / inactive / remission / resolved.
    pub clinical_status: Option<String>,
    pub onset: Option<Onset>,
    #[serde(with = "stored_time::option")]
    pub recorded: Option<Instant>,
}

/// An infection that matters on the ward (HBs, HCV, syphilis, HIV, MRSA, ...), from an
/// Observation or a Condition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Infection {
    pub id: String,
    pub name: String,
    /// Result or status as text, e.g. "陽性 (+)".
    pub result: String,
    pub positive: bool,
    #[serde(with = "stored_time::option")]
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
    #[serde(with = "stored_time::option")]
    pub authored_on: Option<Instant>,
    #[serde(with = "stored_time::option")]
    pub period_start: Option<Instant>,
    #[serde(with = "stored_time::option")]
    pub period_end: Option<Instant>,
    /// Days supplied (投与日数, "28日分"): the dispense's expected supply duration, else
    /// the dosage's bounds duration in days.
    pub days: Option<u32>,
    /// Calendar days the dosage covers from its start (the timing's bounds duration),
    /// when it differs from the days supplied (a course that starts at lunch spans one
    /// more day than it supplies).
    pub span_days: Option<u32>,
    /// Who prescribed (the requester), named at read time from the staff it refers to.
    pub prescriber: Option<Participant>,
}

/// Prescription statuses that mean the prescription is current whatever its dates.
const CURRENT_STATUSES: [&str; 2] = ["active", "on-hold"];

impl Prescription {
    /// When the patient starts taking it: the period of use's start, else when it was
    /// written.
    pub fn start(&self) -> Option<Instant> {
        self.period_start.or(self.authored_on)
    }

    /// When it runs out: the period of use's end, else its start plus the days it spans
    /// (or supplies). `None` when the source says neither.
    pub fn end(&self) -> Option<Instant> {
        self.period_end.or_else(|| {
            let days = self.span_days.or(self.days)?;
            Some(self.start()? + chrono::Duration::days(days.into()))
        })
    }

    /// Is the prescription in effect at `t` (the data time)? An active or on-hold one
    /// always is; a completed one (many systems mark a prescription completed once it
    /// is dispensed) or one of unknown status is while its course lasts; a stopped,
    /// cancelled or erroneous one never is.
    pub fn in_effect_at(&self, t: Instant) -> bool {
        match self.status.as_str() {
            s if CURRENT_STATUSES.contains(&s) => true,
            "completed" | "unknown" => self.end().is_some_and(|end| end > t),
            _ => false,
        }
    }

    /// The latest time the source gives for it (end, else start): what "recent" is
    /// measured by for a prescription no longer in effect.
    pub fn last_time(&self) -> Option<Instant> {
        self.end().or(self.start())
    }
}

/// One administration of a medication (MedicationAdministration): a MAR cell. An
/// administration without a valid time is rejected (a dose cannot be placed on the grid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Administration {
    pub id: String,
    pub medication: String,
    pub dose: Option<String>,
    pub route: Option<String>,
    /// completed / not-done / in-progress / ...
    pub status: String,
    #[serde(with = "stored_time")]
    pub time: Instant,
    /// FHIR id of the MedicationRequest this administers, when known.
    pub prescription_id: Option<String>,
}

/// A lab result's reference range (Observation.referenceRange): its numbers, and the
/// source's text as a note (e.g. "JCCLS共用基準範囲2022").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceRange {
    pub low: Option<String>,
    pub high: Option<String>,
    /// Unit of the limits (their own, else the result's), as people write it.
    pub unit: Option<String>,
    pub text: Option<String>,
}

impl ReferenceRange {
    /// The range as numbers, e.g. "3.5–5.0 mmol/L", "≥ 60 mL/min", "≤ 0.3";
    /// `None` when the source gave only text.
    pub fn numbers(&self) -> Option<String> {
        let mut s = match (&self.low, &self.high) {
            (Some(l), Some(h)) => format!("{l}–{h}"),
            (Some(l), None) => format!("≥ {l}"),
            (None, Some(h)) => format!("≤ {h}"),
            (None, None) => return None,
        };
        if let Some(u) = self.unit.as_deref().filter(|u| !u.is_empty()) {
            s.push(' ');
            s.push_str(u);
        }
        Some(s)
    }
}

/// A laboratory result (Observation recognised as a lab result: see
/// `mapping::observation`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabResult {
    pub id: String,
    /// Test name as text, e.g. "カリウム".
    pub test: String,
    pub code: Option<String>,
    /// Value as text (numeric values keep their source precision).
    pub value: String,
    /// Unit as people write it ("mg/dL", "℃"), not a UCUM code.
    pub unit: Option<String>,
    pub reference_range: Option<ReferenceRange>,
    /// Interpretation code: H, L, HH, LL, A, N, ...
    pub interpretation: Option<String>,
    #[serde(with = "stored_time::option")]
    pub time: Option<Instant>,
}

/// Which blood group system a typing result is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BloodGroup {
    Abo,
    Rh,
    /// One result giving both, e.g. "A Rh(+)".
    AboRh,
}

/// A blood typing result (ABO, Rh(D)): shown at the top of the patient page, kept
/// whatever its age (a transfusion in an outage needs it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BloodType {
    pub id: String,
    pub group: BloodGroup,
    /// As the source gave it, e.g. "A", "Rh(+)", "O Rh(D) 陽性".
    pub value: String,
    #[serde(with = "stored_time::option")]
    pub time: Option<Instant>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VitalKind {
    BloodPressure,
    HeartRate,
    BodyTemperature,
    RespiratoryRate,
    OxygenSaturation,
    BodyWeight,
    BodyHeight,
    /// Any other observation kept with the vital signs (O2 flow, consciousness level,
    /// BMI, pain score, ...): shown under its own `name`.
    #[default]
    Other,
}

/// A vital sign or another bedside reading kept with them (Observation, category
/// vital-signs: O2 flow, consciousness level, BMI, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VitalSign {
    pub id: String,
    pub kind: VitalKind,
    /// What was observed, as the source named it (e.g. "酸素流量", "JCS"): the label of an
    /// [`VitalKind::Other`] reading.
    pub name: Option<String>,
    /// Value as text, e.g. "120/80" for blood pressure.
    pub value: String,
    /// Unit as people write it ("mmHg", "℃", "L/min").
    pub unit: Option<String>,
    #[serde(with = "stored_time")]
    pub time: Instant,
}

/// An observation that is neither a lab result nor a vital sign: a physical finding, a
/// score, a survey answer, social history (category exam, survey, social-history, ..., or
/// none that says lab or vital signs). Shown under its own name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    /// What was observed, e.g. "腹部所見", "喫煙".
    pub name: String,
    /// The category as text (e.g. "exam", "survey"), when given.
    pub category: Option<String>,
    pub value: String,
    pub unit: Option<String>,
    /// `None`: the source gave no time (or one that does not parse).
    #[serde(with = "stored_time::option")]
    pub time: Option<Instant>,
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
    #[serde(with = "stored_time::option")]
    pub start: Option<Instant>,
}

/// A person involved in the patient's care: an encounter participant, a care team
/// member, an order's requester, a report's performer. Who to call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Role as text, e.g. "主治医", "担当看護師".
    pub role: Option<String>,
    /// Role code as the source gave it (e.g. `ATND` attending, `ADM`, `CON`).
    pub role_code: Option<String>,
    /// Name as the source gave it (the reference's display) or, at read time, from the
    /// referenced Practitioner.
    pub name: Option<String>,
    /// Phone or pager (PHS) as text, when known.
    pub contact: Option<String>,
    /// `Practitioner/<id>` or `PractitionerRole/<id>`: filled in at read time from the
    /// stored [`Staff`] when `name` (or `contact`) is missing.
    pub reference: Option<String>,
}

impl Participant {
    /// Is this the attending physician (主治医)?
    pub fn is_attending(&self) -> bool {
        self.role_code.as_deref() == Some("ATND")
            || self.role.as_deref().is_some_and(|r| {
                r.contains("主治医")
                    || r.eq_ignore_ascii_case("attender")
                    || r.eq_ignore_ascii_case("attending")
            })
    }
}

/// A member of staff (Practitioner or PractitionerRole): reference data, not patient
/// data, used to name [`Participant`]s at read time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staff {
    pub name: Option<String>,
    /// PractitionerRole: the role or specialty as text.
    pub role: Option<String>,
    pub contact: Option<String>,
    /// PractitionerRole: `Practitioner/<id>` it is a role of.
    pub practitioner: Option<String>,
}

/// An encounter (Encounter) with where the patient is (the census) and who cares for
/// them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Encounter {
    pub id: String,
    /// in-progress / finished / planned / ...
    pub status: String,
    /// IMP (inpatient), AMB (outpatient), EMER, ...
    pub class: Option<String>,
    pub ward: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
    #[serde(with = "stored_time::option")]
    pub start: Option<Instant>,
    #[serde(with = "stored_time::option")]
    pub end: Option<Instant>,
    /// Participants (attending physician first when there is one).
    pub participants: Vec<Participant>,
    /// Logical ids of the Location resources the encounter is at now (innermost first):
    /// resolved through the Locations' `partOf` and `physicalType` into ward, room and
    /// bed by the sync engine and the reader; `ward`/`room`/`bed` above hold what the
    /// resource itself said (contained Locations, typed or parsed display text) and are
    /// the fallback.
    pub location_ids: Vec<String>,
}

impl Encounter {
    /// Whether the encounter places the patient in the hospital now (in a bed, in the
    /// emergency room, on leave from a ward).
    pub fn is_in_house(&self) -> bool {
        matches!(
            self.status.as_str(),
            "in-progress" | "arrived" | "onleave" | "triaged"
        )
    }
}

/// Kind of place a Location is (`physicalType`: wa/wi ward, ro room, bd bed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlaceKind {
    Ward,
    Room,
    Bed,
    Other,
}

/// A Location: reference data (not patient data) the census resolves encounters with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// FHIR logical id of the Location.
    pub id: String,
    pub name: String,
    pub kind: PlaceKind,
    /// Logical id of the Location this one is part of (a bed's room, a room's ward).
    pub part_of: Option<String>,
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
    #[serde(with = "stored_time::option")]
    pub date: Option<Instant>,
    pub text: String,
}

/// What a diagnostic report reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportKind {
    /// Radiology: X-ray, CT, MRI, ultrasound, nuclear medicine.
    Imaging,
    /// Pathology and cytology.
    Pathology,
    /// Laboratory (results themselves are [`LabResult`]s).
    Laboratory,
    /// Endoscopy, ECG, physiology and anything else.
    Other,
}

/// A diagnostic report (DiagnosticReport): an imaging or pathology report's conclusion
/// and presented text. A CT report matters in an outage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    pub kind: ReportKind,
    /// What was examined, e.g. "胸部CT".
    pub title: String,
    /// registered / partial / preliminary / final / amended / ...
    pub status: String,
    /// When the examination took place (effective[x]).
    #[serde(with = "stored_time::option")]
    pub time: Option<Instant>,
    /// When the report was issued.
    #[serde(with = "stored_time::option")]
    pub issued: Option<Instant>,
    /// The conclusion (and conclusion codes) as text.
    pub conclusion: Option<String>,
    /// The presented report (text or HTML attachments) as plain text.
    pub text: String,
    pub performer: Option<Participant>,
}

/// An order not yet done (ServiceRequest): tests not yet resulted, planned procedures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    /// What is ordered, as text.
    pub text: String,
    /// Category as text (検体検査, 画像検査, 処置, ...).
    pub category: Option<String>,
    /// active / on-hold (others are not kept).
    pub status: String,
    /// order / plan / proposal / ...
    pub intent: Option<String>,
    /// routine / urgent / asap / stat.
    pub priority: Option<String>,
    #[serde(with = "stored_time::option")]
    pub authored_on: Option<Instant>,
    /// When it is to be done (occurrence[x]; a period's start).
    #[serde(with = "stored_time::option")]
    pub occurrence: Option<Instant>,
    pub requester: Option<Participant>,
    /// Notes and patient instructions as text.
    pub note: Option<String>,
}

/// A vaccination (Immunization).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Immunization {
    pub id: String,
    pub vaccine: String,
    /// completed / not-done.
    pub status: String,
    /// occurrenceDateTime as precise as given; `None` when unknown (see `note`).
    pub occurred: Option<Moment>,
    /// Dose number in the series, as text ("2").
    pub dose: Option<String>,
    pub lot: Option<String>,
    /// occurrenceString and notes as text.
    pub note: Option<String>,
}

/// A care team (CareTeam): who to call for this patient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareTeam {
    pub id: String,
    pub name: Option<String>,
    /// proposed / active / suspended (inactive and ended teams are not kept).
    pub status: String,
    pub members: Vec<Participant>,
}

/// Everything the node holds on one patient, assembled at read time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientRecord {
    pub key: PatientKey,
    pub patient: Patient,
    pub allergies: Vec<Allergy>,
    pub conditions: Vec<Condition>,
    pub infections: Vec<Infection>,
    pub prescriptions: Vec<Prescription>,
    pub administrations: Vec<Administration>,
    pub labs: Vec<LabResult>,
    pub blood_types: Vec<BloodType>,
    pub vitals: Vec<VitalSign>,
    pub findings: Vec<Finding>,
    pub flags: Vec<Flag>,
    pub encounters: Vec<Encounter>,
    pub documents: Vec<Document>,
    pub reports: Vec<Report>,
    pub orders: Vec<Order>,
    pub immunizations: Vec<Immunization>,
    pub care_teams: Vec<CareTeam>,
}

impl PatientRecord {
    /// The encounter that places the patient in the hospital now, the newest when there
    /// are several (the reader serves encounters newest first).
    pub fn current_encounter(&self) -> Option<&Encounter> {
        self.encounters.iter().find(|e| e.is_in_house())
    }

    /// An empty record of `patient` under `key`.
    pub fn new(key: PatientKey, patient: Patient) -> PatientRecord {
        PatientRecord {
            key,
            patient,
            ..PatientRecord::default()
        }
    }

    /// Put every list in the order the reader returns: newest first by the item's time
    /// (allergy/condition `recorded`, infection/lab/blood type/vital/finding/administration
    /// `time`, prescription/order `authored_on`, flag/encounter `start`, document `date`,
    /// report `time` (else `issued`), immunisation `occurred`; items without a time
    /// last), ties by id. Care teams by id.
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
        by(&mut self.blood_types, |x| x.time, |x| &x.id);
        by(&mut self.vitals, |x| Some(x.time), |x| &x.id);
        by(&mut self.findings, |x| x.time, |x| &x.id);
        by(&mut self.flags, |x| x.start, |x| &x.id);
        by(&mut self.encounters, |x| x.start, |x| &x.id);
        by(&mut self.documents, |x| x.date, |x| &x.id);
        by(&mut self.reports, |x| x.time.or(x.issued), |x| &x.id);
        by(&mut self.orders, |x| x.authored_on, |x| &x.id);
        by(
            &mut self.immunizations,
            |x| x.occurred.and_then(|m| m.start()),
            |x| &x.id,
        );
        self.care_teams.sort_by(|a, b| a.id.cmp(&b.id));
    }

    /// The newest ABO and Rh(D) results (a combined result answers both).
    pub fn blood_type(&self) -> (Option<&BloodType>, Option<&BloodType>) {
        let newest = |want: BloodGroup| {
            self.blood_types
                .iter()
                .filter(|b| b.group == want || b.group == BloodGroup::AboRh)
                .max_by(|a, b| a.time.cmp(&b.time).then_with(|| b.id.cmp(&a.id)))
        };
        (newest(BloodGroup::Abo), newest(BloodGroup::Rh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_range_numbers() {
        let r = ReferenceRange {
            low: Some("3.5".into()),
            high: Some("5.0".into()),
            unit: Some("mmol/L".into()),
            text: Some("JCCLS共用基準範囲2022".into()),
        };
        assert_eq!(r.numbers().as_deref(), Some("3.5–5.0 mmol/L"));
        let low_only = ReferenceRange {
            low: Some("60".into()),
            ..ReferenceRange::default()
        };
        assert_eq!(low_only.numbers().as_deref(), Some("≥ 60"));
        let text_only = ReferenceRange {
            text: Some("陰性".into()),
            ..ReferenceRange::default()
        };
        assert_eq!(text_only.numbers(), None);
    }

    #[test]
    fn partial_moments_start_at_their_first_day_in_jst() {
        let m = Moment::Month(2026, 3);
        assert_eq!(
            m.start().map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-03-01T00:00:00+09:00")
        );
        assert_eq!(m.date(), None);
        assert_eq!(m.year(), 2026);
    }
}
