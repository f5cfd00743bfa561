//! What a downtime entry says: who recorded it and when, which patient and episode it
//! belongs to, and the record itself (an administration, vital signs or a note).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The longest free text of an entry (a note, a reason, a drug's name), in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The longest short field (dose, route, site, consciousness), in characters.
pub const MAX_FIELD_CHARS: usize = 200;

/// The person behind the emergency account, as they declared (copied into the entry: the
/// record must name them even after the account is re-sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub staff_number: String,
    pub profession: String,
    pub department: String,
}

/// Who recorded an entry, and in which session and episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorder {
    pub account_id: String,
    pub session_id: String,
    pub person: Person,
    /// The emergency or drill episode the entry belongs to.
    pub episode: u64,
    /// Recorded during a drill (never to be entered back into the hospital's records).
    pub drill: bool,
}

/// Who the patient is in the source system, copied into the entry when it is recorded, so
/// the export names the patient even if a later snapshot no longer holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The source's logical id of the Patient resource.
    pub source_id: String,
    /// The hospital ID (院内患者ID), or "".
    pub hospital_id: String,
    /// The patient's name as the snapshot had it, for the reconciliation list.
    pub name: String,
}

/// One downtime entry as stored. Never edited or deleted: a correction is a later entry
/// whose [`Entry::supersedes`] names this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Sequence number in the store (1, 2, …), unique for the node.
    pub id: u64,
    /// The snapshot's opaque patient key.
    pub patient: String,
    #[serde(default)]
    pub subject: Subject,
    pub recorder: Recorder,
    /// When the entry was stored (the node's clock).
    pub recorded_at: DateTime<Utc>,
    /// The time the entry is about (when the dose was given, the reading taken).
    pub refers_to: DateTime<Utc>,
    /// The patient's ward when the entry was made ("" when on no ward).
    pub ward: String,
    /// The patient was outside the account's wards (allowed, flagged in the review).
    pub outside_ward: bool,
    /// The audit ledger entry written before this one was stored.
    pub audit_seq: u64,
    pub supersedes: Option<Supersedes>,
    pub record: Record,
}

/// The earlier entry a correction replaces, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supersedes {
    pub entry: u64,
    pub reason: String,
}

/// What was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Record {
    Administration(Administration),
    Vitals(Vitals),
    Note(Note),
}

impl Record {
    /// `administration`, `vitals` or `note`: the ledger's and the forms' name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Administration(_) => "administration",
            Record::Vitals(_) => "vitals",
            Record::Note(_) => "note",
        }
    }

    /// Checks the record's fields (lengths, ranges, something recorded at all).
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Record::Administration(a) => a.validate(),
            Record::Vitals(v) => v.validate(),
            Record::Note(n) => {
                text("note", &n.text, MAX_TEXT_CHARS, true)?;
                Ok(())
            }
        }
    }
}

/// A medication administration: against a dose due from the snapshot's prescriptions, or
/// one the snapshot does not list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Administration {
    pub dose_ref: DoseRef,
    pub outcome: Outcome,
    /// The dose given, as written ("1錠", "500mg").
    pub dose: String,
    pub route: String,
    pub site: String,
    pub note: String,
}

impl Administration {
    fn validate(&self) -> Result<(), Error> {
        match &self.dose_ref {
            DoseRef::Due {
                prescription_id,
                medication,
                ..
            } => {
                text("prescription", prescription_id, MAX_FIELD_CHARS, true)?;
                text("medication", medication, MAX_FIELD_CHARS, false)?;
            }
            DoseRef::Unlisted { drug } => text("drug", drug, MAX_FIELD_CHARS, true)?,
        }
        text("dose", &self.dose, MAX_FIELD_CHARS, false)?;
        text("route", &self.route, MAX_FIELD_CHARS, false)?;
        text("site", &self.site, MAX_FIELD_CHARS, false)?;
        text("note", &self.note, MAX_TEXT_CHARS, false)
    }

    /// The drug's name as recorded (the prescription's, or the typed one).
    pub fn medication(&self) -> &str {
        match &self.dose_ref {
            DoseRef::Due { medication, .. } => medication,
            DoseRef::Unlisted { drug } => drug,
        }
    }
}

/// Which dose an administration is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DoseRef {
    /// A due dose of a prescription in the snapshot: its stable identity is the
    /// prescription's source id and the scheduled time (`None` for a dose with no
    /// computable time, an as-needed one say).
    Due {
        prescription_id: String,
        scheduled: Option<DateTime<Utc>>,
        /// The prescription's drug, as the snapshot named it.
        medication: String,
    },
    /// A drug the snapshot does not list (a verbal order, a stock drug).
    Unlisted { drug: String },
}

/// What happened to the dose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Given,
    Held,
    Refused,
}

impl Outcome {
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "given" => Some(Outcome::Given),
            "held" => Some(Outcome::Held),
            "refused" => Some(Outcome::Refused),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Given => "given",
            Outcome::Held => "held",
            Outcome::Refused => "refused",
        }
    }
}

/// Vital signs taken at the bedside. At least one is recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vitals {
    /// Body temperature, °C.
    pub temperature: Option<f64>,
    /// Pulse, /min.
    pub pulse: Option<u32>,
    /// Blood pressure, mmHg.
    pub systolic: Option<u32>,
    pub diastolic: Option<u32>,
    /// Respiratory rate, /min.
    pub respiration: Option<u32>,
    /// SpO2, %.
    pub spo2: Option<u32>,
    /// Pain score, 0–10 (NRS).
    pub pain: Option<u32>,
    /// Level of consciousness as written (JCS, GCS, AVPU: "JCS 0", "清明").
    pub consciousness: Option<String>,
}

impl Vitals {
    fn validate(&self) -> Result<(), Error> {
        let out = |field: &'static str, lo: f64, hi: f64, v: Option<f64>| match v {
            Some(v) if !(lo..=hi).contains(&v) => Err(Error::Invalid {
                field,
                problem: format!("must be between {lo} and {hi}"),
            }),
            _ => Ok(()),
        };
        let f = |v: Option<u32>| v.map(f64::from);
        out("temperature", 25.0, 45.0, self.temperature)?;
        out("pulse", 0.0, 300.0, f(self.pulse))?;
        out("systolic", 0.0, 300.0, f(self.systolic))?;
        out("diastolic", 0.0, 300.0, f(self.diastolic))?;
        out("respiration", 0.0, 100.0, f(self.respiration))?;
        out("spo2", 0.0, 100.0, f(self.spo2))?;
        out("pain", 0.0, 10.0, f(self.pain))?;
        if self.systolic.is_some() != self.diastolic.is_some() {
            return Err(Error::Invalid {
                field: "blood pressure",
                problem: "give both systolic and diastolic".into(),
            });
        }
        if let Some(c) = &self.consciousness {
            text("consciousness", c, MAX_FIELD_CHARS, true)?;
        }
        if *self == Vitals::default() {
            return Err(Error::Invalid {
                field: "vital signs",
                problem: "record at least one".into(),
            });
        }
        Ok(())
    }
}

/// A short note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub author: NoteKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Nursing,
    Physician,
}

impl NoteKind {
    pub fn parse(s: &str) -> Option<NoteKind> {
        match s {
            "nursing" => Some(NoteKind::Nursing),
            "physician" => Some(NoteKind::Physician),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::Nursing => "nursing",
            NoteKind::Physician => "physician",
        }
    }
}

/// Who marked entries reconciled (entered back into the hospital's records) and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub at: DateTime<Utc>,
    /// The admin or console user who marked it.
    pub by: String,
    pub audit_seq: u64,
}

/// Checks one text field: bounded, no control characters except line breaks and tabs in
/// long texts, and not empty when `required`.
pub(crate) fn text(field: &'static str, s: &str, max: usize, required: bool) -> Result<(), Error> {
    let invalid = |problem: String| Error::Invalid { field, problem };
    if required && s.trim().is_empty() {
        return Err(invalid("must not be empty".into()));
    }
    if s.chars().count() > max {
        return Err(invalid(format!("must be at most {max} characters")));
    }
    let multiline = max == MAX_TEXT_CHARS;
    if s.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(invalid("must not contain control characters".into()));
    }
    Ok(())
}
