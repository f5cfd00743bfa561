//! FHIR R4 JSON (JP Core / JP-CLINS) → the minimal record.
//!
//! One resource maps to zero or more [`Mapped`] items (a document `Bundle` unpacks into
//! its entries). Mapping never looks at the store: linking an item to a patient (which may
//! arrive later in the same pull) is the engine's job, so the subject is kept as a
//! [`Subject`] reference here.
//!
//! This module owns what every resource family shares: the types a mapping produces
//! ([`Mapped`], [`Item`], [`Reject`], [`Outcome`], [`ResourceType`], [`Windows`]), the
//! entry point [`map_resource`] with its size limits and the dispatch by resource type.
//! [`fields`] reads the FHIR fields every family uses (ids, times, subjects, codes). Each
//! family has its own module with its rules (the generator's "truth" follows them; see
//! also the doc comments in `model.rs`): [`patient`], [`allergy`], [`condition`],
//! [`observation`] (labs, blood type, vital signs and other observations), [`infection`]
//! (what counts as an infection result, from a Condition or an Observation),
//! [`medication`] (requests, administrations and Medication), [`flag`], [`encounter`]
//! and [`location`] (where a patient is, who cares for them), [`staff`] (Practitioner,
//! PractitionerRole, CareTeam), [`document`] (Composition and DocumentReference),
//! [`report`] (DiagnosticReport), [`order`] (ServiceRequest), [`immunization`] and
//! [`bundle`] (unpacking a Bundle, a document Bundle's patient copies).
//!
//! # Liberal in, honest out
//!
//! A resource is **rejected** ([`Reject`]) only when it cannot be shown safely: it is not
//! JSON or not the FHIR shape of its type, it has no id, it names no patient, nothing
//! says what it is (no code and no text), or it is a MAR dose or vital sign without a
//! valid time (it cannot be placed on its grid). Everything else is kept, and what is
//! imperfect about it is a counted **warning** ([`Warning`], on the [`Mapped`] item): a
//! profile claim the resource does not fully meet, a time that does not parse (kept as
//! unknown, never as midnight), an unexpected status or category. The sync report counts
//! warnings by reason and resource type; they never count towards the reject limit.
//! `docs/sync-source.md` states the rules.
//!
//! Rule shared by every family — **retraction**: `entered-in-error` (status or
//! verificationStatus), cancelled orders, inactive flags and items outside their time
//! window become [`Body::Retract`]: the engine removes any earlier version of that
//! resource.
//!
//! # Windows and the data time
//!
//! Every "recent" window ([`Windows`]) is measured back from the **data time** — the
//! time the source's data is current as of — never from the wall clock: at sync time
//! from [`MapContext::now`] (what the source says its data is current as of, else — a
//! live source — the pull's start, which is what its high-water mark is), at read time
//! from the served generation's data time (`Manifest::data_time`). A node frozen on one generation during a long outage keeps
//! showing that generation's last 72 hours of MAR and vital signs.

mod allergy;
mod bundle;
mod condition;
mod document;
mod encounter;
mod fields;
mod flag;
mod immunization;
mod infection;
mod location;
mod medication;
mod observation;
mod order;
mod patient;
mod report;
mod staff;
mod windows;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fhir;
use crate::model;

pub use document::document_kind;
pub use encounter::place_encounter;
pub use fields::reference_id;
pub use flag::flag_kind;
pub use infection::{INFECTION_CODE_PREFIXES, INFECTION_WORDS};
pub use location::{place_kind, resolve_place, PlaceBook};
pub use patient::{hospital_id_of, is_hospital_id_system};
pub use windows::Windows;

use allergy::map_allergy;
use bundle::map_bundle;
use condition::map_condition;
use document::{map_composition, map_document_reference};
use encounter::map_encounter;
use fields::{json_reject, parse, LocalSubjects};
use flag::map_flag;
use immunization::map_immunization;
use location::map_location;
use medication::{map_administration, map_medication, map_medication_request};
use observation::map_observation;
use order::map_service_request;
use patient::map_patient;
use report::map_diagnostic_report;
use staff::{map_care_team, map_practitioner, map_practitioner_role};

/// A resource larger than this is rejected before parsing.
pub const MAX_RESOURCE_BYTES: usize = 8 * 1024 * 1024;
/// A mapped non-document item whose encoding exceeds this has an absurdly large field.
pub const MAX_ITEM_BYTES: usize = 64 * 1024;
/// A mapped document's text may be at most this large.
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;

/// What mapping needs besides the bytes.
#[derive(Debug, Clone)]
pub struct MapContext {
    /// The data time of the pull (see the module doc): windows are measured back from it.
    pub now: DateTime<Utc>,
    pub windows: Windows,
    /// Identifier systems that name the hospital patient ID (院内患者ID) at this site, tried
    /// before the JP Core rules (`[sync] hospital_id_systems`).
    pub hospital_id_systems: Vec<String>,
}

impl MapContext {
    /// A context with no site-specific hospital ID systems.
    pub fn new(now: DateTime<Utc>, windows: Windows) -> MapContext {
        MapContext {
            now,
            windows,
            hospital_id_systems: Vec::new(),
        }
    }
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
    Practitioner = 12,
    PractitionerRole = 13,
    DiagnosticReport = 14,
    ServiceRequest = 15,
    Immunization = 16,
    CareTeam = 17,
    Location = 18,
}

impl ResourceType {
    pub const ALL: [ResourceType; 18] = [
        ResourceType::Patient,
        ResourceType::AllergyIntolerance,
        ResourceType::Condition,
        ResourceType::Observation,
        ResourceType::MedicationRequest,
        ResourceType::MedicationAdministration,
        ResourceType::Medication,
        ResourceType::Flag,
        ResourceType::Encounter,
        ResourceType::Composition,
        ResourceType::DocumentReference,
        ResourceType::Practitioner,
        ResourceType::PractitionerRole,
        ResourceType::DiagnosticReport,
        ResourceType::ServiceRequest,
        ResourceType::Immunization,
        ResourceType::CareTeam,
        ResourceType::Location,
    ];

    /// The FHIR type name.
    pub fn name(self) -> &'static str {
        use ResourceType::*;
        match self {
            Patient => "Patient",
            AllergyIntolerance => "AllergyIntolerance",
            Condition => "Condition",
            Observation => "Observation",
            MedicationRequest => "MedicationRequest",
            MedicationAdministration => "MedicationAdministration",
            Medication => "Medication",
            Flag => "Flag",
            Encounter => "Encounter",
            Composition => "Composition",
            DocumentReference => "DocumentReference",
            Practitioner => "Practitioner",
            PractitionerRole => "PractitionerRole",
            DiagnosticReport => "DiagnosticReport",
            ServiceRequest => "ServiceRequest",
            Immunization => "Immunization",
            CareTeam => "CareTeam",
            Location => "Location",
        }
    }

    /// Reference data shared by every patient (not patient data): stored once, outside
    /// any patient's items, and looked up by id at read time.
    pub fn is_reference_data(self) -> bool {
        matches!(
            self,
            ResourceType::Medication | ResourceType::Practitioner | ResourceType::PractitionerRole
        )
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| *t as u8 == b)
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
    BloodType = 13,
    Report = 14,
    Order = 15,
    Immunization = 16,
    CareTeam = 17,
    Staff = 18,
    Finding = 19,
}

impl ItemKind {
    pub const ALL: [ItemKind; 19] = [
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
        ItemKind::BloodType,
        ItemKind::Report,
        ItemKind::Order,
        ItemKind::Immunization,
        ItemKind::CareTeam,
        ItemKind::Staff,
        ItemKind::Finding,
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
            ItemKind::BloodType => "blood_type",
            ItemKind::Report => "report",
            ItemKind::Order => "order",
            ItemKind::Immunization => "immunization",
            ItemKind::CareTeam => "care_team",
            ItemKind::Staff => "staff",
            ItemKind::Finding => "finding",
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
    BloodType(model::BloodType),
    Report(model::Report),
    Order(model::Order),
    Immunization(model::Immunization),
    CareTeam(model::CareTeam),
    /// A member of staff (Practitioner, PractitionerRole), not patient data.
    Staff(model::Staff),
    Finding(model::Finding),
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
            Item::BloodType(_) => ItemKind::BloodType,
            Item::Report(_) => ItemKind::Report,
            Item::Order(_) => ItemKind::Order,
            Item::Immunization(_) => ItemKind::Immunization,
            Item::CareTeam(_) => ItemKind::CareTeam,
            Item::Staff(_) => ItemKind::Staff,
            Item::Finding(_) => ItemKind::Finding,
        }
    }
}

/// Who an item belongs to, as the resource said it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The item is a Patient (it is its own subject) or reference data (no subject).
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
    /// An order or care team that is over (completed, revoked, ended).
    Completed,
    /// A lab report that only groups results stored on their own (no conclusion, no
    /// presented text).
    NoContent,
}

impl DropReason {
    pub fn name(self) -> &'static str {
        match self {
            DropReason::EnteredInError => "entered_in_error",
            DropReason::Cancelled => "cancelled",
            DropReason::Inactive => "inactive",
            DropReason::OutOfWindow => "out_of_window",
            DropReason::Completed => "completed",
            DropReason::NoContent => "no_content",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per resource, moved, never stored in large numbers
pub enum Body {
    Item(Item),
    /// Not kept: remove any earlier version of this resource.
    Retract(DropReason),
    /// A Location: reference data the engine keeps in the node's place book (not an
    /// item of any generation) to resolve encounters into ward, room and bed.
    Place(model::Place),
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
    /// What is imperfect about the resource (it is kept all the same).
    pub warnings: Vec<Warning>,
}

/// Why a kept resource was warned about. Names are stable (sync report, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WarningReason {
    /// It claims a profile (JP-CLINS eCS, ...) whose rules it does not fully meet.
    ProfileViolation,
    /// A date or time field does not parse as FHIR: the time is shown as unknown.
    InvalidTime,
    /// A field other than a time has a value that cannot be used (e.g. an attachment
    /// that is not base64): that field is left out.
    InvalidValue,
    /// A status outside the FHIR value set: shown as the source gave it.
    UnexpectedStatus,
    /// An Observation whose category is missing or unknown, placed by its code.
    UnrecognisedCategory,
    /// An encounter's Location is not among the Locations the source sent: its ward,
    /// room and bed come from the reference's display text, if any.
    UnresolvedLocation,
}

impl WarningReason {
    pub const ALL: [WarningReason; 6] = [
        WarningReason::ProfileViolation,
        WarningReason::InvalidTime,
        WarningReason::InvalidValue,
        WarningReason::UnexpectedStatus,
        WarningReason::UnrecognisedCategory,
        WarningReason::UnresolvedLocation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WarningReason::ProfileViolation => "profile_violation",
            WarningReason::InvalidTime => "invalid_time",
            WarningReason::InvalidValue => "invalid_value",
            WarningReason::UnexpectedStatus => "unexpected_status",
            WarningReason::UnrecognisedCategory => "unrecognised_category",
            WarningReason::UnresolvedLocation => "unresolved_location",
        }
    }
}

/// A data-quality warning on a kept resource: what was imperfect, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub reason: WarningReason,
    /// Which field or rule, e.g. "effectiveDateTime is not a FHIR dateTime". Contains no
    /// resource content.
    pub detail: String,
}

impl Warning {
    pub fn new(reason: WarningReason, detail: impl Into<String>) -> Warning {
        Warning {
            reason,
            detail: detail.into(),
        }
    }
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
    MissingCode,
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
        RejectReason::MissingCode,
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
            RejectReason::MissingCode => "missing_code",
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

pub(super) fn reject(reason: RejectReason, rt: &str, detail: impl Into<String>) -> Reject {
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
        Ok(t) => Ok(t.resource_type.into_owned()),
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

pub(super) fn map_typed(
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
        "Patient" => map_patient(typed!(fhir::Patient), ctx)?,
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
        "Location" => map_location(typed!(fhir::Location))?,
        "Practitioner" => map_practitioner(typed!(fhir::Practitioner))?,
        "PractitionerRole" => map_practitioner_role(typed!(fhir::PractitionerRole))?,
        "CareTeam" => map_care_team(typed!(fhir::CareTeam), ctx, local)?,
        "DiagnosticReport" => map_diagnostic_report(typed!(fhir::DiagnosticReport), ctx, local)?,
        "ServiceRequest" => map_service_request(typed!(fhir::ServiceRequest), local)?,
        "Immunization" => map_immunization(typed!(fhir::Immunization), local)?,
        "Bundle" => {
            let b = typed!(fhir::Bundle);
            return map_bundle(b, ctx, out, local.is_some());
        }
        other => return Ok(Outcome::Ignored(safe_type_name(other))),
    };
    out.push(m);
    Ok(Outcome::Mapped)
}

pub(super) fn retract(
    rtype: ResourceType,
    id: String,
    subject: Subject,
    why: DropReason,
) -> Mapped {
    Mapped {
        rtype,
        id,
        subject,
        body: Body::Retract(why),
        identifiers: Vec::new(),
        warnings: Vec::new(),
    }
}

pub(super) fn item(rtype: ResourceType, id: String, subject: Subject, item: Item) -> Mapped {
    Mapped {
        rtype,
        id,
        subject,
        body: Body::Item(item),
        identifiers: Vec::new(),
        warnings: Vec::new(),
    }
}
