//! FHIR R4 JSON (JP Core / JP-CLINS) → the minimal record.
//!
//! One resource maps to zero or more [`Mapped`] items (a document `Bundle` unpacks into
//! its entries). Mapping never looks at the store: linking an item to a patient (which may
//! arrive later in the same pull) is the engine's job, so the subject is kept as a
//! [`Subject`] reference here.
//!
//! Rules (the generator's "truth" follows them; see also the doc comments in `model.rs`):
//! - **Patient**: hospital ID = value of the identifier whose system starts with
//!   `urn:oid:1.2.392.100495.20.3.51.1` (or ends with `JP_Hospital_PatientID`); kanji name
//!   = the `HumanName` with `iso21090-EN-representation` = `IDE`, kana = `SYL` (without the
//!   extension: a name written only in kana is the kana name, otherwise the kanji name);
//!   a name's text is `text`, else `family` + " " + `given` joined by " ".
//! - **Infection** (documented rule): a Condition whose category has code `infection`, or
//!   whose code has an ICD-10 code in A00–B99, U07 or Z22; an Observation whose category
//!   has code `infection`, or whose code is one of [`INFECTION_CODE_PREFIXES`], or whose
//!   test name contains one of [`INFECTION_WORDS`]. Everything else: Condition →
//!   [`model::Condition`]; Observation by category `vital-signs` → vital,
//!   `laboratory` → lab; other Observation categories are out of scope.
//! - **Retraction**: `entered-in-error` (status or verificationStatus), cancelled orders,
//!   inactive flags and items outside their time window become [`Body::Retract`]: the
//!   engine removes any earlier version of that resource.
//! - **Prescription dose** is "1回 " + doseQuantity value + unit; an administration's dose is
//!   value + unit.
//! - **Profiles**: a resource claiming a JP-CLINS eCS profile must carry the code that
//!   profile requires (MedicationRequest: a YJ, general-name or "no code" coding; lab
//!   Observation: a JP-CLINS local lab code), else it is rejected as `ProfileViolation`.

use std::collections::HashMap;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::fhir;
use crate::model::{self, DocumentKind, FlagKind, Instant, Sex, VitalKind};
use crate::text::{html_to_text, parse_fhir_date, parse_fhir_datetime};

/// A resource larger than this is rejected before parsing.
pub const MAX_RESOURCE_BYTES: usize = 8 * 1024 * 1024;
/// A mapped non-document item whose encoding exceeds this has an absurdly large field.
pub const MAX_ITEM_BYTES: usize = 64 * 1024;
/// A mapped document's text may be at most this large.
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;

/// JLAC10 analyte prefixes (first 5 characters of the 17-digit code) and LOINC codes that
/// name an infection test: HBs antigen, HCV antibody, syphilis (TP antibody, RPR/STS),
/// HIV, HTLV-1, MRSA and SARS-CoV-2.
pub const INFECTION_CODE_PREFIXES: &[&str] = &[
    "5F016", "5F360", "5E071", "5E072", "5E073", "5E011", "5F421", "5F601", "5F602", "5F603",
    "5F470", "6B010", "5195-3", "16128-1", "20507-0", "5393-4", "7917-8", "56888-1", "13317-3",
    "94500-6",
];
/// Words in a test or condition name that mark it as an infection (screening) result.
pub const INFECTION_WORDS: &[&str] = &[
    "HBs",
    "HCV",
    "梅毒",
    "TPHA",
    "RPR",
    "HIV",
    "HTLV",
    "MRSA",
    "VRE",
    "ESBL",
    "CRE",
    "結核",
    "COVID",
    "SARS-CoV-2",
    "疥癬",
    "ノロ",
];

/// Does this test or condition name contain one of [`INFECTION_WORDS`]? (One pass over
/// the text for all words.)
fn names_infection(text: &str) -> bool {
    static WORDS: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::new(INFECTION_WORDS).expect("fixed word list builds")
    });
    WORDS.is_match(text)
}

/// Time windows; items outside them are dropped (and retracted in incremental syncs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Windows {
    /// Medication administrations (MAR) newer than this many hours.
    pub administrations_hours: u32,
    /// Vital signs newer than this many hours.
    pub vitals_hours: u32,
    /// Lab results newer than this many days.
    pub labs_days: u32,
    /// Finished encounters that ended within this many days (in-progress ones always).
    pub encounters_days: u32,
    /// Prescriptions not active any more, authored or ended within this many days.
    pub prescriptions_days: u32,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            administrations_hours: 72,
            vitals_hours: 72,
            labs_days: 180,
            encounters_days: 90,
            prescriptions_days: 90,
        }
    }
}

/// What mapping needs besides the bytes.
#[derive(Debug, Clone, Copy)]
pub struct MapContext {
    pub now: DateTime<Utc>,
    pub windows: Windows,
}

/// The FHIR resource types that are kept. The byte is part of storage keys: never reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum ResourceType {
    Patient = 1,
    AllergyIntolerance = 2,
    Condition = 3,
    Observation = 4,
    MedicationRequest = 5,
    MedicationAdministration = 6,
    Medication = 7,
    Flag = 8,
    Encounter = 9,
    Composition = 10,
    DocumentReference = 11,
}

impl ResourceType {
    pub fn from_name(name: &str) -> Option<Self> {
        use ResourceType::*;
        Some(match name {
            "Patient" => Patient,
            "AllergyIntolerance" => AllergyIntolerance,
            "Condition" => Condition,
            "Observation" => Observation,
            "MedicationRequest" => MedicationRequest,
            "MedicationAdministration" => MedicationAdministration,
            "Medication" => Medication,
            "Flag" => Flag,
            "Encounter" => Encounter,
            "Composition" => Composition,
            "DocumentReference" => DocumentReference,
            _ => return None,
        })
    }

    pub fn from_byte(b: u8) -> Option<Self> {
        use ResourceType::*;
        [
            Patient,
            AllergyIntolerance,
            Condition,
            Observation,
            MedicationRequest,
            MedicationAdministration,
            Medication,
            Flag,
            Encounter,
            Composition,
            DocumentReference,
        ]
        .into_iter()
        .find(|t| *t as u8 == b)
    }
}

/// The kind of a stored item, for counts and for assembling a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum ItemKind {
    Patient = 1,
    Allergy = 2,
    Condition = 3,
    Infection = 4,
    Prescription = 5,
    Administration = 6,
    Lab = 7,
    Vital = 8,
    Flag = 9,
    Encounter = 10,
    Document = 11,
    Medication = 12,
}

impl ItemKind {
    pub const ALL: [ItemKind; 12] = [
        ItemKind::Patient,
        ItemKind::Allergy,
        ItemKind::Condition,
        ItemKind::Infection,
        ItemKind::Prescription,
        ItemKind::Administration,
        ItemKind::Lab,
        ItemKind::Vital,
        ItemKind::Flag,
        ItemKind::Encounter,
        ItemKind::Document,
        ItemKind::Medication,
    ];

    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == b)
    }

    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Patient => "patient",
            ItemKind::Allergy => "allergy",
            ItemKind::Condition => "condition",
            ItemKind::Infection => "infection",
            ItemKind::Prescription => "prescription",
            ItemKind::Administration => "administration",
            ItemKind::Lab => "lab",
            ItemKind::Vital => "vital",
            ItemKind::Flag => "flag",
            ItemKind::Encounter => "encounter",
            ItemKind::Document => "document",
            ItemKind::Medication => "medication",
        }
    }
}

/// One stored item: what a resource contributes to the minimal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Item {
    Patient(model::Patient),
    Allergy(model::Allergy),
    Condition(model::Condition),
    Infection(model::Infection),
    /// `medication_ref`: id of a `Medication` resource whose name fills in `medication`
    /// at read time (the Medication may arrive after the request, or change later).
    Prescription {
        rx: model::Prescription,
        medication_ref: Option<String>,
    },
    Administration {
        given: model::Administration,
        medication_ref: Option<String>,
    },
    Lab(model::LabResult),
    Vital(model::VitalSign),
    Flag(model::Flag),
    Encounter(model::Encounter),
    Document(model::Document),
    /// A drug, not patient data: its readable name.
    Medication {
        name: String,
    },
}

impl Item {
    pub fn kind(&self) -> ItemKind {
        match self {
            Item::Patient(_) => ItemKind::Patient,
            Item::Allergy(_) => ItemKind::Allergy,
            Item::Condition(_) => ItemKind::Condition,
            Item::Infection(_) => ItemKind::Infection,
            Item::Prescription { .. } => ItemKind::Prescription,
            Item::Administration { .. } => ItemKind::Administration,
            Item::Lab(_) => ItemKind::Lab,
            Item::Vital(_) => ItemKind::Vital,
            Item::Flag(_) => ItemKind::Flag,
            Item::Encounter(_) => ItemKind::Encounter,
            Item::Document(_) => ItemKind::Document,
            Item::Medication { .. } => ItemKind::Medication,
        }
    }
}

/// Who an item belongs to, as the resource said it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The item is a Patient (it is its own subject) or a Medication (no subject).
    Itself,
    /// `Patient/<id>`.
    PatientId(String),
    /// A logical reference by identifier (JP-CLINS often uses the insurance member ID).
    Identifier { system: String, value: String },
    /// The resource names no subject (or one we cannot follow).
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DropReason {
    EnteredInError,
    Cancelled,
    Inactive,
    OutOfWindow,
    OutOfScopeCategory,
}

impl DropReason {
    pub fn name(self) -> &'static str {
        match self {
            DropReason::EnteredInError => "entered_in_error",
            DropReason::Cancelled => "cancelled",
            DropReason::Inactive => "inactive",
            DropReason::OutOfWindow => "out_of_window",
            DropReason::OutOfScopeCategory => "out_of_scope_category",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per resource, moved, never stored in bulk
pub enum Body {
    Item(Item),
    /// Not kept: remove any earlier version of this resource.
    Retract(DropReason),
}

/// One mapped resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub rtype: ResourceType,
    pub id: String,
    pub subject: Subject,
    pub body: Body,
    /// For patients: every identifier (system, value), used to resolve references by
    /// identifier. Empty otherwise.
    pub identifiers: Vec<(String, String)>,
}

/// Why a resource was rejected. Names are stable (status, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RejectReason {
    InvalidJson,
    WrongType,
    MissingId,
    MissingSubject,
    UnknownPatient,
    TooLarge,
    FieldTooLarge,
    InvalidValue,
    ProfileViolation,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::InvalidJson,
        RejectReason::WrongType,
        RejectReason::MissingId,
        RejectReason::MissingSubject,
        RejectReason::UnknownPatient,
        RejectReason::TooLarge,
        RejectReason::FieldTooLarge,
        RejectReason::InvalidValue,
        RejectReason::ProfileViolation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::WrongType => "wrong_type",
            RejectReason::MissingId => "missing_id",
            RejectReason::MissingSubject => "missing_subject",
            RejectReason::UnknownPatient => "unknown_patient",
            RejectReason::TooLarge => "too_large",
            RejectReason::FieldTooLarge => "field_too_large",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::ProfileViolation => "profile_violation",
        }
    }
}

/// A rejection with a data-free explanation (what was wrong, never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub reason: RejectReason,
    /// The resource type if known (a FHIR type name, or "?" ).
    pub resource_type: String,
    /// Which field or rule, e.g. "effective[x] missing" or "JSON syntax error at line 1
    /// column 17". Contains no resource content.
    pub detail: String,
}

/// What happened to one input resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Items were appended to the output (a Bundle may append many, or none).
    Mapped,
    /// A resource type we do not keep (Practitioner, Organization, unknown...).
    Ignored(String),
}

/// Map one resource (or Bundle) given as JSON bytes, appending to `out`.
pub fn map_resource(
    bytes: &[u8],
    ctx: &MapContext,
    out: &mut Vec<Mapped>,
) -> Result<Outcome, Reject> {
    if bytes.len() > MAX_RESOURCE_BYTES {
        return Err(reject(
            RejectReason::TooLarge,
            "?",
            format!(
                "resource of {} bytes exceeds {MAX_RESOURCE_BYTES}",
                bytes.len()
            ),
        ));
    }
    let rt = resource_type_of(bytes)?;
    let start = out.len();
    let result = map_typed(&rt, bytes, ctx, out, None);
    if let Err(e) = &result {
        out.truncate(start);
        return Err(e.clone());
    }
    // Absurd field sizes, checked on what we would store. Every mapped field comes from
    // the resource's own text, so a resource smaller than the limit cannot exceed it.
    let may_be_oversize = bytes.len() > MAX_ITEM_BYTES;
    for m in &out[start..] {
        if let Body::Item(item) = &m.body {
            if let Some(detail) = may_be_oversize.then(|| oversize(item)).flatten() {
                out.truncate(start);
                return Err(reject(RejectReason::FieldTooLarge, &rt, detail));
            }
        }
        if m.id.len() > 256 {
            out.truncate(start);
            return Err(reject(
                RejectReason::FieldTooLarge,
                &rt,
                "id longer than 256",
            ));
        }
    }
    result
}

fn reject(reason: RejectReason, rt: &str, detail: impl Into<String>) -> Reject {
    Reject {
        reason,
        resource_type: safe_type_name(rt),
        detail: detail.into(),
    }
}

/// A type name from input, trimmed to something safe to log and count.
fn safe_type_name(s: &str) -> String {
    if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        s.to_string()
    } else {
        "?".to_string()
    }
}

fn oversize(item: &Item) -> Option<String> {
    let size = postcard::to_allocvec(item)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    match item {
        Item::Document(d) => {
            let rest = size.saturating_sub(d.text.len());
            if d.text.len() > MAX_DOCUMENT_BYTES {
                Some(format!(
                    "document text larger than {MAX_DOCUMENT_BYTES} bytes"
                ))
            } else if rest > MAX_ITEM_BYTES {
                Some(format!(
                    "document fields larger than {MAX_ITEM_BYTES} bytes"
                ))
            } else {
                None
            }
        }
        _ if size > MAX_ITEM_BYTES => Some(format!(
            "{} fields larger than {MAX_ITEM_BYTES} bytes",
            item.kind().name()
        )),
        _ => None,
    }
}

/// Find `resourceType` without a full parse: a byte scan for the first occurrence, which
/// is the top-level one when it comes before `contained` (as every server writes it). The
/// typed parse checks it again and we fall back to a full parse on a mismatch.
fn resource_type_of(bytes: &[u8]) -> Result<String, Reject> {
    if let Some(rt) = scan_resource_type(bytes) {
        return Ok(rt);
    }
    match serde_json::from_slice::<fhir::TypeOnly>(bytes) {
        Ok(t) => Ok(t.resource_type),
        Err(e) => Err(json_reject(&e, "?")),
    }
}

fn scan_resource_type(bytes: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"resourceType\"";
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let pos = FINDER.find(bytes)?;
    let mut i = pos + KEY.len();
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let len = bytes[start..].iter().take(65).position(|b| *b == b'"')?;
    let name = std::str::from_utf8(&bytes[start..start + len]).ok()?;
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric())
        .then(|| name.to_string())
}

fn json_reject(e: &serde_json::Error, rt: &str) -> Reject {
    // serde_json's message may quote the offending value: keep only its category and
    // position.
    let reason = match e.classify() {
        serde_json::error::Category::Data => RejectReason::WrongType,
        _ => RejectReason::InvalidJson,
    };
    let what = match e.classify() {
        serde_json::error::Category::Data => "a field has the wrong JSON type",
        serde_json::error::Category::Eof => "JSON ends too early",
        serde_json::error::Category::Io => "JSON could not be read",
        serde_json::error::Category::Syntax => "JSON syntax error",
    };
    reject(
        reason,
        rt,
        format!("{what} at line {} column {}", e.line(), e.column()),
    )
}

fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], rt: &str) -> Result<T, Reject> {
    serde_json::from_slice(bytes).map_err(|e| json_reject(&e, rt))
}

/// References inside a Bundle, `urn:uuid:...` → subject, built from the Bundle's entries.
type LocalSubjects = HashMap<String, Subject>;

fn map_typed(
    rt: &str,
    bytes: &[u8],
    ctx: &MapContext,
    out: &mut Vec<Mapped>,
    local: Option<&LocalSubjects>,
) -> Result<Outcome, Reject> {
    macro_rules! typed {
        ($ty:ty) => {{
            let r: $ty = parse(bytes, rt)?;
            if r.resource_type != rt {
                // The scan hit a contained resource's type first: parse the real one.
                let real: fhir::TypeOnly = parse(bytes, rt)?;
                return map_typed(&real.resource_type, bytes, ctx, out, local);
            }
            r
        }};
    }
    let m = match rt {
        "Patient" => map_patient(typed!(fhir::Patient))?,
        "AllergyIntolerance" => map_allergy(typed!(fhir::AllergyIntolerance), local)?,
        "Condition" => map_condition(typed!(fhir::Condition), local)?,
        "Observation" => map_observation(typed!(fhir::Observation), ctx, local)?,
        "MedicationRequest" => map_medication_request(typed!(fhir::MedicationRequest), ctx, local)?,
        "MedicationAdministration" => {
            map_administration(typed!(fhir::MedicationAdministration), ctx, local)?
        }
        "Medication" => map_medication(typed!(fhir::Medication))?,
        "Flag" => map_flag(typed!(fhir::Flag), local)?,
        "Encounter" => map_encounter(typed!(fhir::Encounter), ctx, local)?,
        "Composition" => map_composition(typed!(fhir::Composition), None, local)?,
        "DocumentReference" => map_document_reference(typed!(fhir::DocumentReference), local)?,
        "Bundle" => {
            let b = typed!(fhir::Bundle);
            return map_bundle(b, ctx, out, local.is_some());
        }
        other => return Ok(Outcome::Ignored(safe_type_name(other))),
    };
    out.push(m);
    Ok(Outcome::Mapped)
}

fn require_id(id: Option<String>, rt: &str) -> Result<String, Reject> {
    match id {
        Some(id) if !id.trim().is_empty() => Ok(id),
        _ => Err(reject(RejectReason::MissingId, rt, "id missing")),
    }
}

/// `YYYY-MM-DD` (a FHIR date, the common case) as midnight JST without chrono's format
/// parser; anything else goes to [`parse_fhir_datetime`], which gives the same result
/// for this form.
fn plain_date_jst(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let jst = chrono::FixedOffset::east_opt(9 * 3600)?;
    date.and_time(chrono::NaiveTime::MIN)
        .and_local_timezone(jst)
        .single()
}

fn time_field(v: Option<&String>, rt: &str, field: &str) -> Result<Option<Instant>, Reject> {
    match v {
        None => Ok(None),
        Some(s) => plain_date_jst(s)
            .or_else(|| parse_fhir_datetime(s))
            .map(Some)
            .ok_or_else(|| {
                reject(
                    RejectReason::InvalidValue,
                    rt,
                    format!("{field} is not a FHIR dateTime"),
                )
            }),
    }
}

fn subject_of(r: Option<&fhir::Reference>, local: Option<&LocalSubjects>) -> Subject {
    let Some(r) = r else { return Subject::Missing };
    if let Some(reference) = r.reference.as_deref() {
        if let Some(found) = local.and_then(|l| l.get(reference)) {
            return found.clone();
        }
        if let Some(id) = reference_id(reference, "Patient") {
            return Subject::PatientId(id);
        }
    }
    if let Some(ident) = &r.identifier {
        if let (Some(system), Some(value)) = (&ident.system, &ident.value) {
            return Subject::Identifier {
                system: system.clone(),
                value: value.clone(),
            };
        }
    }
    Subject::Missing
}

/// The id in a literal reference to `rtype` (`Patient/1`, `https://x/fhir/Patient/1`,
/// `Patient/1/_history/2`).
pub fn reference_id(reference: &str, rtype: &str) -> Option<String> {
    let parts: Vec<&str> = reference.split('/').collect();
    let pos = parts.iter().rposition(|p| *p == rtype)?;
    let id = parts.get(pos + 1)?;
    (!id.is_empty()).then(|| id.to_string())
}

fn has_code_in(list: &[fhir::CodeableConcept], code: &str) -> bool {
    list.iter().any(|c| c.has_code(code))
}

fn status_code(cc: Option<&fhir::CodeableConcept>) -> Option<String> {
    cc.and_then(|c| c.first_code())
}

fn retract(rtype: ResourceType, id: String, subject: Subject, why: DropReason) -> Mapped {
    Mapped {
        rtype,
        id,
        subject,
        body: Body::Retract(why),
        identifiers: Vec::new(),
    }
}

fn item(rtype: ResourceType, id: String, subject: Subject, item: Item) -> Mapped {
    Mapped {
        rtype,
        id,
        subject,
        body: Body::Item(item),
        identifiers: Vec::new(),
    }
}

pub fn is_hospital_id_system(system: &str) -> bool {
    system.starts_with("urn:oid:1.2.392.100495.20.3.51.1")
        || system
            .to_ascii_lowercase()
            .ends_with("jp_hospital_patientid")
}

fn name_text(n: &fhir::HumanName) -> Option<String> {
    if let Some(t) = n.text.as_deref().filter(|t| !t.trim().is_empty()) {
        return Some(t.trim().to_string());
    }
    let mut parts: Vec<&str> = Vec::new();
    if let Some(f) = n.family.as_deref() {
        parts.push(f);
    }
    parts.extend(n.given.iter().map(String::as_str));
    let s = parts.join(" ");
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

fn is_kana(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{3040}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}')
    })
}

fn map_patient(p: fhir::Patient) -> Result<Mapped, Reject> {
    let rt = "Patient";
    let id = require_id(p.id, rt)?;
    let hospital_id = p
        .identifier
        .iter()
        .find(|i| i.system.as_deref().is_some_and(is_hospital_id_system))
        .and_then(|i| i.value.clone());
    let mut kanji = None;
    let mut kana = None;
    for n in &p.name {
        let repr = n
            .extension
            .iter()
            .find(|e| e.url == "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation")
            .and_then(|e| e.value_code.as_deref());
        let Some(text) = name_text(n) else { continue };
        match repr {
            Some("IDE") => kanji = kanji.or(Some(text)),
            Some("SYL") => kana = kana.or(Some(text)),
            Some(_) => {}
            None if is_kana(&text) => kana = kana.or(Some(text)),
            None => kanji = kanji.or(Some(text)),
        }
    }
    let sex = match p.gender.as_deref() {
        Some("male") => Sex::Male,
        Some("female") => Sex::Female,
        Some("other") => Sex::Other,
        _ => Sex::Unknown,
    };
    let birth_date = match p.birth_date.as_deref() {
        None => None,
        Some(s) => Some(parse_fhir_date(s).ok_or_else(|| {
            reject(
                RejectReason::InvalidValue,
                rt,
                "birthDate is not a FHIR date",
            )
        })?),
    };
    let identifiers = p
        .identifier
        .iter()
        .filter_map(|i| Some((i.system.clone()?, i.value.clone()?)))
        .collect();
    Ok(Mapped {
        rtype: ResourceType::Patient,
        id: id.clone(),
        subject: Subject::Itself,
        body: Body::Item(Item::Patient(model::Patient {
            id,
            hospital_id,
            name_kanji: kanji,
            name_kana: kana,
            sex,
            birth_date,
        })),
        identifiers,
    })
}

fn map_allergy(
    a: fhir::AllergyIntolerance,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "AllergyIntolerance";
    let id = require_id(a.id, rt)?;
    let subject = subject_of(a.patient.as_ref(), local);
    let verification = status_code(a.verification_status.as_ref());
    if verification.as_deref() == Some("entered-in-error") {
        return Ok(retract(
            ResourceType::AllergyIntolerance,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let criticality = match a.criticality.as_deref() {
        Some("low") => Some(model::Criticality::Low),
        Some("high") => Some(model::Criticality::High),
        Some("unable-to-assess") => Some(model::Criticality::UnableToAssess),
        _ => None,
    };
    let mut reactions = Vec::new();
    for r in &a.reaction {
        for m in &r.manifestation {
            if let Some(t) = m.readable() {
                reactions.push(t);
            }
        }
        if let Some(d) = r.description.as_deref().filter(|d| !d.trim().is_empty()) {
            reactions.push(d.trim().to_string());
        }
    }
    let allergy = model::Allergy {
        id: id.clone(),
        substance: a
            .code
            .as_ref()
            .and_then(fhir::CodeableConcept::readable)
            .unwrap_or_else(|| "(物質の記載なし)".to_string()),
        categories: a.category.clone(),
        criticality,
        clinical_status: status_code(a.clinical_status.as_ref()),
        verification_status: verification,
        reactions,
        recorded: time_field(a.recorded_date.as_ref(), rt, "recordedDate")?,
    };
    Ok(item(
        ResourceType::AllergyIntolerance,
        id,
        subject,
        Item::Allergy(allergy),
    ))
}

fn is_infection_condition(c: &fhir::Condition) -> bool {
    if has_code_in(&c.category, "infection") {
        return true;
    }
    let icd = c.code.iter().flat_map(|cc| cc.coding.iter()).any(|coding| {
        coding
            .system
            .as_deref()
            .is_some_and(|s| s.contains("ICD10"))
            && coding.code.as_deref().is_some_and(|code| {
                code.starts_with('A')
                    || code.starts_with('B')
                    || code.starts_with("U07")
                    || code.starts_with("Z22")
            })
    });
    icd || c
        .code
        .as_ref()
        .and_then(fhir::CodeableConcept::readable_str)
        .is_some_and(names_infection)
}

fn map_condition(c: fhir::Condition, local: Option<&LocalSubjects>) -> Result<Mapped, Reject> {
    let rt = "Condition";
    let id = require_id(c.id.clone(), rt)?;
    let subject = subject_of(c.subject.as_ref(), local);
    let verification = status_code(c.verification_status.as_ref());
    if verification.as_deref() == Some("entered-in-error") {
        return Ok(retract(
            ResourceType::Condition,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let text = c
        .code
        .as_ref()
        .and_then(fhir::CodeableConcept::readable)
        .unwrap_or_else(|| "(病名の記載なし)".to_string());
    let clinical_status = status_code(c.clinical_status.as_ref());
    let recorded = time_field(c.recorded_date.as_ref(), rt, "recordedDate")?;
    let onset = c
        .onset_date_time
        .clone()
        .or_else(|| c.onset_string.clone())
        .or_else(|| c.onset_period.as_ref().and_then(|p| p.start.clone()));
    if is_infection_condition(&c) {
        let positive = !matches!(
            clinical_status.as_deref(),
            Some("inactive" | "remission" | "resolved")
        ) && verification.as_deref() != Some("refuted");
        let result = match (&clinical_status, positive) {
            (Some(s), true) => format!("あり ({s})"),
            (Some(s), false) => format!("なし ({s})"),
            (None, _) => "あり".to_string(),
        };
        let time = match recorded {
            Some(t) => Some(t),
            None => onset.as_deref().and_then(parse_fhir_datetime),
        };
        return Ok(item(
            ResourceType::Condition,
            id.clone(),
            subject,
            Item::Infection(model::Infection {
                id,
                name: text,
                result,
                positive,
                time,
            }),
        ));
    }
    Ok(item(
        ResourceType::Condition,
        id.clone(),
        subject,
        Item::Condition(model::Condition {
            id,
            text,
            code: c.code.as_ref().and_then(fhir::CodeableConcept::first_code),
            clinical_status,
            onset,
            recorded,
        }),
    ))
}

fn observation_value(o: &fhir::Observation) -> Option<(String, Option<String>)> {
    if let Some(q) = &o.value_quantity {
        return q.value_text().map(|v| (v, q.unit_text()));
    }
    if let Some(s) = &o.value_string {
        return Some((s.trim().to_string(), None));
    }
    if let Some(cc) = &o.value_codeable_concept {
        return cc.readable().map(|v| (v, None));
    }
    if let Some(b) = o.value_boolean {
        return Some((if b { "はい" } else { "いいえ" }.to_string(), None));
    }
    if let Some(i) = &o.value_integer {
        return Some((i.get().trim().to_string(), None));
    }
    None
}

fn observation_time(o: &fhir::Observation, rt: &str) -> Result<Option<Instant>, Reject> {
    let s = o
        .effective_date_time
        .as_ref()
        .or(o.effective_instant.as_ref())
        .or(o.effective_period.as_ref().and_then(|p| p.start.as_ref()))
        .or(o.issued.as_ref());
    time_field(s, rt, "effective[x]")
}

fn is_infection_observation(o: &fhir::Observation) -> bool {
    if has_code_in(&o.category, "infection") {
        return true;
    }
    let coded = o.code.coding.iter().any(|c| {
        c.code
            .as_deref()
            .is_some_and(|code| INFECTION_CODE_PREFIXES.iter().any(|p| code.starts_with(p)))
    });
    coded || o.code.readable_str().is_some_and(names_infection)
}

fn infection_positive(o: &fhir::Observation, value: &str) -> bool {
    let interp_pos = o.interpretation.iter().any(|i| {
        i.coding.iter().any(|c| {
            matches!(
                c.code.as_deref(),
                Some("POS" | "A" | "AA" | "H" | "HH" | "DET" | "R")
            )
        })
    });
    let value_pos = o.value_codeable_concept.as_ref().is_some_and(|v| {
        v.coding
            .iter()
            .any(|c| matches!(c.code.as_deref(), Some("POS" | "260373001" | "10828004")))
    });
    let negative_text = value.contains("陰性") || value.contains("(-)") || value.contains("（-）");
    let positive_text = value.contains("陽性")
        || value.contains("(+)")
        || value.contains("（+）")
        || value.starts_with('+');
    interp_pos || value_pos || (positive_text && !negative_text)
}

fn map_observation(
    o: fhir::Observation,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "Observation";
    let id = require_id(o.id.clone(), rt)?;
    let subject = subject_of(o.subject.as_ref(), local);
    match o.status.as_deref() {
        Some("entered-in-error") => {
            return Ok(retract(
                ResourceType::Observation,
                id,
                subject,
                DropReason::EnteredInError,
            ))
        }
        Some("cancelled") => {
            return Ok(retract(
                ResourceType::Observation,
                id,
                subject,
                DropReason::Cancelled,
            ))
        }
        _ => {}
    }
    let lab_profile = o
        .meta
        .profile
        .iter()
        .any(|p| p.contains("JP_Observation_LabResult_eCS"));
    if lab_profile && !o.code.has_system("JP_CLINS_ObsLabResult_LocalCode_CS") {
        return Err(reject(
            RejectReason::ProfileViolation,
            rt,
            "claims JP_Observation_LabResult_eCS but has no JP-CLINS local lab code",
        ));
    }
    let time = observation_time(&o, rt)?;
    let test = o
        .code
        .readable()
        .unwrap_or_else(|| "(項目名なし)".to_string());
    let (value, unit) = observation_value(&o).unwrap_or_else(|| {
        let absent = o
            .data_absent_reason
            .as_ref()
            .and_then(fhir::CodeableConcept::readable)
            .map(|r| format!("(値なし: {r})"))
            .unwrap_or_else(|| "(値なし)".to_string());
        (absent, None)
    });
    let vital = has_code_in(&o.category, "vital-signs");
    let lab = has_code_in(&o.category, "laboratory");
    if (lab || o.category.is_empty() || has_code_in(&o.category, "infection"))
        && is_infection_observation(&o)
    {
        let positive = infection_positive(&o, &value);
        let mut result = value;
        if let Some(u) = unit {
            result.push(' ');
            result.push_str(&u);
        }
        return Ok(item(
            ResourceType::Observation,
            id.clone(),
            subject,
            Item::Infection(model::Infection {
                id,
                name: test,
                result,
                positive,
                time,
            }),
        ));
    }
    if vital {
        let Some(time) = time else {
            return Err(reject(
                RejectReason::InvalidValue,
                rt,
                "vital sign without effective[x]",
            ));
        };
        if time < ctx.now - Duration::hours(ctx.windows.vitals_hours.into()) {
            return Ok(retract(
                ResourceType::Observation,
                id,
                subject,
                DropReason::OutOfWindow,
            ));
        }
        let kind = vital_kind(&o.code);
        let (value, unit) = if kind == VitalKind::BloodPressure {
            blood_pressure(&o).unwrap_or((value, unit))
        } else {
            (value, unit)
        };
        return Ok(item(
            ResourceType::Observation,
            id.clone(),
            subject,
            Item::Vital(model::VitalSign {
                id,
                kind,
                value,
                unit,
                time,
            }),
        ));
    }
    if lab {
        if let Some(t) = time {
            if t < ctx.now - Duration::days(ctx.windows.labs_days.into()) {
                return Ok(retract(
                    ResourceType::Observation,
                    id,
                    subject,
                    DropReason::OutOfWindow,
                ));
            }
        }
        let reference_range = o.reference_range.first().and_then(|r| {
            let low = r.low.as_ref().and_then(fhir::Quantity::value_text);
            let high = r.high.as_ref().and_then(fhir::Quantity::value_text);
            match (low, high, r.text.as_deref()) {
                (_, _, Some(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
                (Some(l), Some(h), _) => Some(format!("{l}-{h}")),
                (Some(l), None, _) => Some(format!("{l}-")),
                (None, Some(h), _) => Some(format!("-{h}")),
                _ => None,
            }
        });
        let interpretation = o
            .interpretation
            .first()
            .and_then(fhir::CodeableConcept::first_code);
        return Ok(item(
            ResourceType::Observation,
            id.clone(),
            subject,
            Item::Lab(model::LabResult {
                id,
                test,
                code: o.code.first_code(),
                value,
                unit,
                reference_range,
                interpretation,
                time,
            }),
        ));
    }
    Ok(retract(
        ResourceType::Observation,
        id,
        subject,
        DropReason::OutOfScopeCategory,
    ))
}

fn vital_kind(code: &fhir::CodeableConcept) -> VitalKind {
    for c in &code.coding {
        match c.code.as_deref() {
            Some("85354-9" | "55284-4" | "35094-2") => return VitalKind::BloodPressure,
            Some("8867-4") => return VitalKind::HeartRate,
            Some("8310-5" | "8331-1" | "8328-7") => return VitalKind::BodyTemperature,
            Some("9279-1") => return VitalKind::RespiratoryRate,
            Some("2708-6" | "59408-5" | "59417-6") => return VitalKind::OxygenSaturation,
            Some("29463-7" | "3141-9") => return VitalKind::BodyWeight,
            Some("8302-2" | "8306-3") => return VitalKind::BodyHeight,
            _ => {}
        }
    }
    VitalKind::Other
}

fn blood_pressure(o: &fhir::Observation) -> Option<(String, Option<String>)> {
    let find = |code: &str| {
        o.component
            .iter()
            .find(|c| c.code.has_code(code))
            .and_then(|c| c.value_quantity.as_ref())
    };
    let sys = find("8480-6")?;
    let dia = find("8462-4")?;
    Some((
        format!("{}/{}", sys.value_text()?, dia.value_text()?),
        sys.unit_text(),
    ))
}

/// The readable name of a medication given inline, as a contained Medication, or by
/// reference (`Medication/<id>`: resolved at read time).
fn medication_of(
    cc: Option<&fhir::CodeableConcept>,
    reference: Option<&fhir::Reference>,
    contained: &[Box<serde_json::value::RawValue>],
    rt: &str,
) -> Result<(String, Option<String>), Reject> {
    if let Some(name) = cc.and_then(fhir::CodeableConcept::readable) {
        return Ok((name, None));
    }
    if let Some(r) = reference {
        if let Some(local) = r.reference.as_deref().and_then(|s| s.strip_prefix('#')) {
            for raw in contained {
                let head: fhir::ContainedHead = parse(raw.get().as_bytes(), rt)?;
                if head.resource_type == "Medication" && head.id.as_deref() == Some(local) {
                    let med: fhir::Medication = parse(raw.get().as_bytes(), rt)?;
                    if let Some(name) = med.code.as_ref().and_then(fhir::CodeableConcept::readable)
                    {
                        return Ok((name, None));
                    }
                }
            }
        }
        let by_ref = r
            .reference
            .as_deref()
            .and_then(|s| reference_id(s, "Medication"));
        let display = r.display.clone().unwrap_or_default();
        if by_ref.is_some() || !display.is_empty() {
            return Ok((display, by_ref));
        }
    }
    Ok(("(薬剤名なし)".to_string(), None))
}

fn quantity_text(q: &fhir::Quantity) -> Option<String> {
    let mut v = q.value_text()?;
    if let Some(u) = q.unit.as_deref().or(q.code.as_deref()) {
        v.push_str(u);
    }
    Some(v)
}

fn map_medication_request(
    m: fhir::MedicationRequest,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "MedicationRequest";
    let id = require_id(m.id.clone(), rt)?;
    let subject = subject_of(m.subject.as_ref(), local);
    let status = m.status.clone().unwrap_or_else(|| "unknown".to_string());
    match status.as_str() {
        "entered-in-error" => {
            return Ok(retract(
                ResourceType::MedicationRequest,
                id,
                subject,
                DropReason::EnteredInError,
            ))
        }
        "cancelled" | "draft" => {
            return Ok(retract(
                ResourceType::MedicationRequest,
                id,
                subject,
                DropReason::Cancelled,
            ))
        }
        _ => {}
    }
    if m.meta
        .profile
        .iter()
        .any(|p| p.contains("JP_MedicationRequest_eCS"))
    {
        let ok = m.medication_codeable_concept.as_ref().is_some_and(|cc| {
            cc.has_system("YJ-code")
                || cc.has_system("MedicationGeneralOrderCode")
                || cc.has_system("MedicationCodeNocoded")
        });
        if !ok && m.medication_reference.is_none() {
            return Err(reject(
                RejectReason::ProfileViolation,
                rt,
                "claims JP_MedicationRequest_eCS but has no YJ, general-name or no-code drug coding",
            ));
        }
    }
    let (medication, medication_ref) = medication_of(
        m.medication_codeable_concept.as_ref(),
        m.medication_reference.as_ref(),
        &m.contained,
        rt,
    )?;
    let dosage = m.dosage_instruction.first();
    // Per-dose amount, written the Japanese way: "1回 2錠".
    let dose = dosage
        .and_then(|d| d.dose_and_rate.first())
        .and_then(|d| d.dose_quantity.as_ref())
        .and_then(quantity_text)
        .map(|q| format!("1回 {q}"));
    let route = dosage
        .and_then(|d| d.route.as_ref())
        .and_then(fhir::CodeableConcept::readable);
    let timing = dosage.and_then(dosage_timing);
    let as_needed = dosage.is_some_and(|d| {
        d.as_needed_boolean == Some(true) || d.as_needed_codeable_concept.is_some()
    });
    let period = dosage
        .and_then(|d| {
            d.extension
                .iter()
                .find(|e| e.url.ends_with("JP_MedicationDosage_PeriodOfUse"))
                .and_then(|e| e.value_period.as_ref())
                .or(d
                    .timing
                    .as_ref()
                    .and_then(|t| t.repeat.as_ref())
                    .and_then(|r| r.bounds_period.as_ref()))
        })
        .or(m
            .dispense_request
            .as_ref()
            .and_then(|d| d.validity_period.as_ref()));
    let period_start = time_field(period.and_then(|p| p.start.as_ref()), rt, "period.start")?;
    let period_end = time_field(period.and_then(|p| p.end.as_ref()), rt, "period.end")?;
    let authored_on = time_field(m.authored_on.as_ref(), rt, "authoredOn")?;
    if !matches!(status.as_str(), "active" | "on-hold") {
        let latest = period_end.or(period_start).or(authored_on);
        if latest
            .is_some_and(|t| t < ctx.now - Duration::days(ctx.windows.prescriptions_days.into()))
        {
            return Ok(retract(
                ResourceType::MedicationRequest,
                id,
                subject,
                DropReason::OutOfWindow,
            ));
        }
    }
    Ok(item(
        ResourceType::MedicationRequest,
        id.clone(),
        subject,
        Item::Prescription {
            rx: model::Prescription {
                id,
                medication,
                dose,
                route,
                timing,
                status,
                as_needed,
                authored_on,
                period_start,
                period_end,
            },
            medication_ref,
        },
    ))
}

/// Timing text: the JP usage code's text (or first display), followed by the duration
/// as "N日分" when `boundsDuration` is in days; without a timing code, the dosage text.
fn dosage_timing(d: &fhir::Dosage) -> Option<String> {
    let t = d.timing.as_ref();
    let code_text = t
        .and_then(|t| t.code.as_ref())
        .and_then(fhir::CodeableConcept::readable);
    let days = t
        .and_then(|t| t.repeat.as_ref())
        .and_then(|r| r.bounds_duration.as_ref())
        .filter(|q| q.code.as_deref() == Some("d"))
        .and_then(fhir::Quantity::value_text);
    match (code_text, days) {
        (Some(c), Some(n)) => Some(format!("{c} {n}日分")),
        (Some(c), None) => Some(c),
        (None, _) => d
            .text
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_string()),
    }
}

fn map_administration(
    a: fhir::MedicationAdministration,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "MedicationAdministration";
    let id = require_id(a.id.clone(), rt)?;
    let subject = subject_of(a.subject.as_ref(), local);
    let status = a.status.clone().unwrap_or_else(|| "unknown".to_string());
    if status == "entered-in-error" {
        return Ok(retract(
            ResourceType::MedicationAdministration,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let time = time_field(
        a.effective_date_time
            .as_ref()
            .or(a.effective_period.as_ref().and_then(|p| p.start.as_ref())),
        rt,
        "effective[x]",
    )?
    .ok_or_else(|| reject(RejectReason::InvalidValue, rt, "effective[x] missing"))?;
    if time < ctx.now - Duration::hours(ctx.windows.administrations_hours.into()) {
        return Ok(retract(
            ResourceType::MedicationAdministration,
            id,
            subject,
            DropReason::OutOfWindow,
        ));
    }
    let (medication, medication_ref) = medication_of(
        a.medication_codeable_concept.as_ref(),
        a.medication_reference.as_ref(),
        &a.contained,
        rt,
    )?;
    let dose = a
        .dosage
        .as_ref()
        .and_then(|d| d.dose.as_ref())
        .and_then(quantity_text)
        .or_else(|| a.dosage.as_ref().and_then(|d| d.text.clone()));
    let route = a
        .dosage
        .as_ref()
        .and_then(|d| d.route.as_ref())
        .and_then(fhir::CodeableConcept::readable);
    let prescription_id = a
        .request
        .as_ref()
        .and_then(|r| r.reference.as_deref())
        .and_then(|r| reference_id(r, "MedicationRequest"));
    Ok(item(
        ResourceType::MedicationAdministration,
        id.clone(),
        subject,
        Item::Administration {
            given: model::Administration {
                id,
                medication,
                dose,
                route,
                status,
                time,
                prescription_id,
            },
            medication_ref,
        },
    ))
}

fn map_medication(m: fhir::Medication) -> Result<Mapped, Reject> {
    let id = require_id(m.id, "Medication")?;
    let name = m
        .code
        .as_ref()
        .and_then(fhir::CodeableConcept::readable)
        .unwrap_or_else(|| "(薬剤名なし)".to_string());
    Ok(item(
        ResourceType::Medication,
        id,
        Subject::Itself,
        Item::Medication { name },
    ))
}

/// Flag kind (documented rule): code/category text or codes mentioning DNR/DNAR/蘇生
/// (SNOMED 304253006) → DNR; 隔離/isolation/感染対策 (SNOMED 40174006) → isolation;
/// 転倒/転落/fall (SNOMED 129839007) → fall risk.
pub fn flag_kind(f: &fhir::Flag) -> FlagKind {
    let mut words: Vec<String> = Vec::new();
    for cc in std::iter::once(&f.code).chain(f.category.iter()) {
        words.extend(cc.text.clone());
        for c in &cc.coding {
            words.extend(c.code.clone());
            words.extend(c.display.clone());
        }
    }
    let hay = words.join(" ").to_lowercase();
    if hay.contains("dnr")
        || hay.contains("dnar")
        || hay.contains("蘇生")
        || hay.contains("304253006")
    {
        FlagKind::Dnr
    } else if hay.contains("隔離")
        || hay.contains("isolation")
        || hay.contains("感染対策")
        || hay.contains("40174006")
    {
        FlagKind::Isolation
    } else if hay.contains("転倒")
        || hay.contains("転落")
        || hay.contains("fall")
        || hay.contains("129839007")
    {
        FlagKind::FallRisk
    } else {
        FlagKind::Other
    }
}

fn map_flag(f: fhir::Flag, local: Option<&LocalSubjects>) -> Result<Mapped, Reject> {
    let rt = "Flag";
    let id = require_id(f.id.clone(), rt)?;
    let subject = subject_of(f.subject.as_ref(), local);
    match f.status.as_deref() {
        Some("entered-in-error") => {
            return Ok(retract(
                ResourceType::Flag,
                id,
                subject,
                DropReason::EnteredInError,
            ))
        }
        Some("inactive") => {
            return Ok(retract(
                ResourceType::Flag,
                id,
                subject,
                DropReason::Inactive,
            ))
        }
        _ => {}
    }
    let kind = flag_kind(&f);
    Ok(item(
        ResourceType::Flag,
        id.clone(),
        subject,
        Item::Flag(model::Flag {
            id,
            kind,
            text: f
                .code
                .readable()
                .unwrap_or_else(|| "(内容なし)".to_string()),
            start: time_field(
                f.period.as_ref().and_then(|p| p.start.as_ref()),
                rt,
                "period.start",
            )?,
        }),
    ))
}

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

fn map_encounter(
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

/// Document kind from a LOINC / JP document type code.
pub fn document_kind(cc: Option<&fhir::CodeableConcept>) -> DocumentKind {
    let Some(cc) = cc else {
        return DocumentKind::Other;
    };
    if cc.has_code("57133-1") {
        DocumentKind::Referral
    } else if cc.has_code("18842-5") {
        DocumentKind::DischargeSummary
    } else if cc.has_code("53576-5") {
        DocumentKind::HealthCheck
    } else {
        let t = cc.readable().unwrap_or_default();
        if t.contains("診療情報提供") {
            DocumentKind::Referral
        } else if t.contains("退院") {
            DocumentKind::DischargeSummary
        } else if t.contains("健診") || t.contains("健康診断") {
            DocumentKind::HealthCheck
        } else {
            DocumentKind::Other
        }
    }
}

fn section_text(s: &fhir::Section, depth: usize, out: &mut String) {
    if depth > 8 {
        return;
    }
    if let Some(title) = s.title.as_deref().filter(|t| !t.trim().is_empty()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("■ ");
        out.push_str(title.trim());
        out.push('\n');
    }
    if let Some(div) = s.text.as_ref().and_then(|t| t.div.as_deref()) {
        let t = html_to_text(div);
        if !t.is_empty() {
            out.push_str(&t);
            out.push('\n');
        }
    }
    for sub in &s.section {
        section_text(sub, depth + 1, out);
    }
}

/// Text of a Composition: every section's title (as "■ title") followed by its narrative
/// as plain text, depth first. `bundle_id` names the document when the Composition has
/// no id.
fn map_composition(
    c: fhir::Composition,
    bundle_id: Option<&str>,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "Composition";
    let id = require_id(c.id.clone().or(bundle_id.map(str::to_string)), rt)?;
    let subject = subject_of(c.subject.as_ref(), local);
    if c.status.as_deref() == Some("entered-in-error") {
        return Ok(retract(
            ResourceType::Composition,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let mut text = String::new();
    for s in &c.section {
        section_text(s, 0, &mut text);
    }
    let kind = document_kind(Some(&c.type_));
    Ok(item(
        ResourceType::Composition,
        id.clone(),
        subject,
        Item::Document(model::Document {
            id,
            kind,
            title: c
                .title
                .clone()
                .or_else(|| c.type_.readable())
                .unwrap_or_else(|| "(文書)".to_string()),
            date: time_field(c.date.as_ref(), rt, "date")?,
            text: text.trim_end().to_string(),
        }),
    ))
}

fn map_document_reference(
    d: fhir::DocumentReference,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "DocumentReference";
    let id = require_id(d.id.clone(), rt)?;
    let subject = subject_of(d.subject.as_ref(), local);
    if d.status.as_deref() == Some("entered-in-error") {
        return Ok(retract(
            ResourceType::DocumentReference,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let mut parts = Vec::new();
    for c in &d.content {
        let a = &c.attachment;
        let ct = a.content_type.as_deref().unwrap_or("").to_ascii_lowercase();
        match &a.data {
            Some(data) if ct.starts_with("text/") || ct.contains("xhtml") || ct.is_empty() => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .map_err(|_| {
                        reject(
                            RejectReason::InvalidValue,
                            rt,
                            "attachment data is not base64",
                        )
                    })?;
                let s = String::from_utf8_lossy(&bytes);
                if ct.contains("html") {
                    parts.push(html_to_text(&s));
                } else {
                    parts.push(s.into_owned());
                }
            }
            _ => {
                let label = a.title.clone().unwrap_or_else(|| {
                    if ct.is_empty() {
                        "添付".to_string()
                    } else {
                        ct.clone()
                    }
                });
                parts.push(format!("[添付: {label}（本文はこのノードにありません）]"));
            }
        }
    }
    let title = d
        .description
        .clone()
        .or_else(|| d.type_.as_ref().and_then(fhir::CodeableConcept::readable))
        .unwrap_or_else(|| "(文書)".to_string());
    Ok(item(
        ResourceType::DocumentReference,
        id.clone(),
        subject,
        Item::Document(model::Document {
            id,
            kind: document_kind(d.type_.as_ref()),
            title,
            date: time_field(d.date.as_ref(), rt, "date")?,
            text: parts.join("\n"),
        }),
    ))
}

/// Unpack a Bundle. Patients inside a document/collection Bundle are copies made for the
/// document: references to them resolve to the node's patient with the same hospital ID
/// (or their first identifier); a copy without any identifier is kept as a patient.
/// Entries with `request.method = DELETE` (transaction/history) become retractions.
fn map_bundle(
    b: fhir::Bundle,
    ctx: &MapContext,
    out: &mut Vec<Mapped>,
    nested: bool,
) -> Result<Outcome, Reject> {
    let rt = "Bundle";
    if nested {
        return Err(reject(
            RejectReason::InvalidValue,
            rt,
            "Bundle nested in a Bundle",
        ));
    }
    let mut local: LocalSubjects = HashMap::new();
    let mut heads = Vec::with_capacity(b.entry.len());
    for e in &b.entry {
        let head = match &e.resource {
            Some(raw) => Some(parse::<fhir::ContainedHead>(raw.get().as_bytes(), rt)?),
            None => None,
        };
        if let (Some(h), Some(raw)) = (&head, &e.resource) {
            if h.resource_type == "Patient" {
                let p: fhir::Patient = parse(raw.get().as_bytes(), "Patient")?;
                let ident = p
                    .identifier
                    .iter()
                    .find(|i| i.system.as_deref().is_some_and(is_hospital_id_system))
                    .or(p.identifier.first())
                    .and_then(|i| Some((i.system.clone()?, i.value.clone()?)));
                let subject = match (ident, &p.id) {
                    (Some((system, value)), _) => Subject::Identifier { system, value },
                    (None, Some(id)) => Subject::PatientId(id.clone()),
                    (None, None) => Subject::Missing,
                };
                if let Some(url) = &e.full_url {
                    local.insert(url.clone(), subject.clone());
                }
                if let Some(id) = &p.id {
                    local.insert(format!("Patient/{id}"), subject);
                }
            }
        }
        heads.push(head);
    }
    let start = out.len();
    let mut document_subject = None;
    for (e, head) in b.entry.iter().zip(heads) {
        if let Some(req) = &e.request {
            if req.method.as_deref() == Some("DELETE") {
                if let Some(url) = &req.url {
                    let mut parts = url.split('/');
                    if let (Some(t), Some(id)) = (parts.next(), parts.next()) {
                        if let Some(rtype) = ResourceType::from_name(t) {
                            out.push(retract(
                                rtype,
                                id.to_string(),
                                Subject::Missing,
                                DropReason::EnteredInError,
                            ));
                        }
                    }
                }
                continue;
            }
        }
        let (Some(head), Some(raw)) = (head, &e.resource) else {
            continue;
        };
        let bytes = raw.get().as_bytes();
        match head.resource_type.as_str() {
            "Patient" => {
                let p: fhir::Patient = parse(bytes, "Patient")?;
                if p.identifier.is_empty() {
                    out.push(map_patient(p)?);
                }
            }
            "Composition" => {
                let c: fhir::Composition = parse(bytes, "Composition")?;
                let m = map_composition(c, b.id.as_deref(), Some(&local))?;
                if document_subject.is_none() && m.subject != Subject::Missing {
                    document_subject = Some(m.subject.clone());
                }
                out.push(m);
            }
            other => {
                // Ignored types inside a bundle are not counted separately.
                map_typed(other, bytes, ctx, out, Some(&local))?;
            }
        }
    }
    // A document is about one patient: entries that name no subject of their own (the
    // document's encounters, attached DocumentReferences) belong to the Composition's.
    if b.type_.as_deref() == Some("document") {
        if let Some(subject) = document_subject {
            for m in &mut out[start..] {
                if m.subject == Subject::Missing {
                    m.subject = subject.clone();
                }
            }
        }
    }
    Ok(Outcome::Mapped)
}

#[cfg(test)]
mod date_tests {
    use super::*;

    #[test]
    fn plain_dates_parse_as_the_general_parser_does() {
        for s in [
            "2020-04-10",
            "1999-12-31",
            "2024-02-29",
            "2023-02-29",
            "2020-13-01",
            "2020-4-10",
            "２０２０-04-10",
            "2020-04-10T10:00:00+09:00",
            "2020-04",
        ] {
            assert_eq!(
                plain_date_jst(s).or_else(|| parse_fhir_datetime(s)),
                parse_fhir_datetime(s),
                "{s}"
            );
        }
        assert!(plain_date_jst("2020-04-10").is_some());
    }
}
