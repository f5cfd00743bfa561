//! Serde types for exactly the FHIR R4 fields the mapping reads. Everything else in a
//! resource is skipped by serde without being materialised; a field we read that has the
//! wrong JSON type makes the whole resource fail to parse (rejected as `WrongType`).
//!
//! The resource structs repeat the same few fields (`resourceType`, `id`, `meta`,
//! `status`, `subject`, …) on purpose: each mirrors one FHIR resource as the spec defines
//! it, so a reader checks a struct against the spec one to one, and a shared base struct
//! (`#[serde(flatten)]`) would make serde buffer every field of every resource.

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Coding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeableConcept {
    pub coding: Vec<Coding>,
    pub text: Option<String>,
}

impl CodeableConcept {
    /// Text a person can read: `text`, else the first coding's display, else its code.
    pub fn readable(&self) -> Option<String> {
        self.readable_str().map(str::to_string)
    }

    /// What [`CodeableConcept::readable`] gives, without allocating.
    pub fn readable_str(&self) -> Option<&str> {
        if let Some(t) = self.text.as_deref().filter(|t| !t.trim().is_empty()) {
            return Some(t.trim());
        }
        self.coding
            .iter()
            .find_map(|c| c.display.as_deref().filter(|d| !d.trim().is_empty()))
            .or_else(|| self.coding.iter().find_map(|c| c.code.as_deref()))
            .map(str::trim)
    }

    pub fn first_code(&self) -> Option<String> {
        self.coding.iter().find_map(|c| c.code.clone())
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.coding.iter().any(|c| c.code.as_deref() == Some(code))
    }

    pub fn has_system(&self, needle: &str) -> bool {
        self.coding
            .iter()
            .any(|c| c.system.as_deref().is_some_and(|s| s.contains(needle)))
    }

    /// Is any coding's code `code`, ignoring ASCII case?
    pub fn has_code_ignore_case(&self, code: &str) -> bool {
        self.coding.iter().any(|c| {
            c.code
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(code))
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Identifier {
    pub system: Option<String>,
    pub value: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Reference {
    pub reference: Option<String>,
    pub identifier: Option<Identifier>,
    pub display: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Quantity {
    /// Kept as the source's literal so precision ("3.50") survives.
    pub value: Option<Box<RawValue>>,
    pub unit: Option<String>,
    pub code: Option<String>,
    pub comparator: Option<String>,
}

impl Quantity {
    pub fn value_text(&self) -> Option<String> {
        let v = self.value.as_ref()?.get().trim();
        if v == "null" {
            return None;
        }
        let v = v.trim_matches('"');
        let comparator = self.comparator.as_deref().unwrap_or("");
        let mut out = String::with_capacity(comparator.len() + v.len());
        out.push_str(comparator);
        out.push_str(v);
        Some(out)
    }

    /// The unit as people write it ([`crate::text::readable_unit`]): the `unit` text,
    /// else the `code`.
    pub fn unit_text(&self) -> Option<String> {
        self.unit
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .or(self.code.as_deref())
            .and_then(crate::text::readable_unit)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Period {
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Narrative {
    pub div: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Extension {
    pub url: String,
    pub value_code: Option<String>,
    pub value_period: Option<Period>,
    pub value_string: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta {
    pub last_updated: Option<String>,
    pub profile: Vec<String>,
}

/// First pass when the byte scan for `resourceType` is ambiguous.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeOnly {
    pub resource_type: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HumanName {
    pub extension: Vec<Extension>,
    pub text: Option<String>,
    pub family: Option<String>,
    pub given: Vec<String>,
    #[serde(rename = "use")]
    pub use_: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Patient {
    pub resource_type: String,
    pub id: Option<String>,
    pub identifier: Vec<Identifier>,
    pub name: Vec<HumanName>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub active: Option<bool>,
    pub deceased_boolean: Option<bool>,
    pub deceased_date_time: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Reaction {
    pub manifestation: Vec<CodeableConcept>,
    pub description: Option<String>,
    pub severity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AllergyIntolerance {
    pub resource_type: String,
    pub id: Option<String>,
    pub meta: Meta,
    pub clinical_status: Option<CodeableConcept>,
    pub verification_status: Option<CodeableConcept>,
    pub category: Vec<String>,
    pub criticality: Option<String>,
    pub code: Option<CodeableConcept>,
    pub patient: Option<Reference>,
    pub recorded_date: Option<String>,
    pub reaction: Vec<Reaction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    pub resource_type: String,
    pub id: Option<String>,
    pub meta: Meta,
    pub clinical_status: Option<CodeableConcept>,
    pub verification_status: Option<CodeableConcept>,
    pub category: Vec<CodeableConcept>,
    pub code: Option<CodeableConcept>,
    pub subject: Option<Reference>,
    pub onset_date_time: Option<String>,
    pub onset_string: Option<String>,
    pub onset_period: Option<Period>,
    pub onset_age: Option<Quantity>,
    pub onset_range: Option<Range>,
    pub recorded_date: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Range {
    pub low: Option<Quantity>,
    pub high: Option<Quantity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Annotation {
    pub text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReferenceRange {
    pub low: Option<Quantity>,
    pub high: Option<Quantity>,
    pub text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Component {
    pub code: CodeableConcept,
    pub value_quantity: Option<Quantity>,
    pub value_string: Option<String>,
    pub value_codeable_concept: Option<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Observation {
    pub resource_type: String,
    pub id: Option<String>,
    pub meta: Meta,
    pub status: Option<String>,
    pub category: Vec<CodeableConcept>,
    pub code: CodeableConcept,
    pub subject: Option<Reference>,
    pub effective_date_time: Option<String>,
    pub effective_instant: Option<String>,
    pub effective_period: Option<Period>,
    pub issued: Option<String>,
    pub value_quantity: Option<Quantity>,
    pub value_string: Option<String>,
    pub value_codeable_concept: Option<CodeableConcept>,
    pub value_boolean: Option<bool>,
    pub value_integer: Option<Box<RawValue>>,
    pub data_absent_reason: Option<CodeableConcept>,
    pub interpretation: Vec<CodeableConcept>,
    pub reference_range: Vec<ReferenceRange>,
    pub component: Vec<Component>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Repeat {
    pub bounds_duration: Option<Quantity>,
    pub bounds_period: Option<Period>,
    // The schedule: kept as JSON so that an unexpected type is read as "no schedule",
    // never a rejected prescription.
    pub frequency: Option<serde_json::Value>,
    pub period: Option<serde_json::Value>,
    pub period_unit: Option<serde_json::Value>,
    pub when: Option<serde_json::Value>,
    pub time_of_day: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Timing {
    pub code: Option<CodeableConcept>,
    pub repeat: Option<Repeat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DoseAndRate {
    pub dose_quantity: Option<Quantity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Dosage {
    pub extension: Vec<Extension>,
    pub text: Option<String>,
    pub timing: Option<Timing>,
    pub as_needed_boolean: Option<bool>,
    pub as_needed_codeable_concept: Option<CodeableConcept>,
    pub route: Option<CodeableConcept>,
    pub dose_and_rate: Vec<DoseAndRate>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DispenseRequest {
    pub validity_period: Option<Period>,
    /// Days supplied (JP Core: 投与日数).
    pub expected_supply_duration: Option<Quantity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MedicationRequest {
    pub resource_type: String,
    pub id: Option<String>,
    pub meta: Meta,
    pub status: Option<String>,
    pub contained: Vec<Box<RawValue>>,
    pub medication_codeable_concept: Option<CodeableConcept>,
    pub medication_reference: Option<Reference>,
    pub subject: Option<Reference>,
    pub authored_on: Option<String>,
    pub dosage_instruction: Vec<Dosage>,
    pub dispense_request: Option<DispenseRequest>,
    pub requester: Option<Reference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AdministrationDosage {
    pub text: Option<String>,
    pub route: Option<CodeableConcept>,
    pub dose: Option<Quantity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MedicationAdministration {
    pub resource_type: String,
    pub id: Option<String>,
    pub status: Option<String>,
    pub contained: Vec<Box<RawValue>>,
    pub medication_codeable_concept: Option<CodeableConcept>,
    pub medication_reference: Option<Reference>,
    pub subject: Option<Reference>,
    pub effective_date_time: Option<String>,
    pub effective_period: Option<Period>,
    pub request: Option<Reference>,
    pub dosage: Option<AdministrationDosage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Medication {
    pub resource_type: String,
    pub id: Option<String>,
    pub code: Option<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Flag {
    pub resource_type: String,
    pub id: Option<String>,
    pub status: Option<String>,
    pub category: Vec<CodeableConcept>,
    pub code: CodeableConcept,
    pub subject: Option<Reference>,
    pub period: Option<Period>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EncounterLocation {
    pub location: Reference,
    pub status: Option<String>,
    pub physical_type: Option<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EncounterParticipant {
    #[serde(rename = "type")]
    pub type_: Vec<CodeableConcept>,
    pub individual: Option<Reference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Encounter {
    pub resource_type: String,
    pub id: Option<String>,
    pub status: Option<String>,
    pub class: Option<Coding>,
    pub subject: Option<Reference>,
    pub period: Option<Period>,
    pub location: Vec<EncounterLocation>,
    pub participant: Vec<EncounterParticipant>,
    pub contained: Vec<Box<RawValue>>,
}

/// A Location (a resource of its own or contained in an Encounter): ward / room / bed.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Location {
    pub resource_type: String,
    pub id: Option<String>,
    pub status: Option<String>,
    pub name: Option<String>,
    pub alias: Vec<String>,
    pub description: Option<String>,
    pub physical_type: Option<CodeableConcept>,
    pub part_of: Option<Reference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContactPoint {
    pub system: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Practitioner {
    pub resource_type: String,
    pub id: Option<String>,
    pub name: Vec<HumanName>,
    pub telecom: Vec<ContactPoint>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PractitionerRole {
    pub resource_type: String,
    pub id: Option<String>,
    pub active: Option<bool>,
    pub practitioner: Option<Reference>,
    pub code: Vec<CodeableConcept>,
    pub specialty: Vec<CodeableConcept>,
    pub telecom: Vec<ContactPoint>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CareTeamParticipant {
    pub role: Vec<CodeableConcept>,
    pub member: Option<Reference>,
    pub period: Option<Period>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CareTeam {
    pub resource_type: String,
    pub id: Option<String>,
    pub status: Option<String>,
    pub name: Option<String>,
    pub subject: Option<Reference>,
    pub period: Option<Period>,
    pub participant: Vec<CareTeamParticipant>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DiagnosticReport {
    pub resource_type: String,
    pub id: Option<String>,
    pub meta: Meta,
    pub status: Option<String>,
    pub category: Vec<CodeableConcept>,
    pub code: CodeableConcept,
    pub subject: Option<Reference>,
    pub effective_date_time: Option<String>,
    pub effective_period: Option<Period>,
    pub issued: Option<String>,
    pub performer: Vec<Reference>,
    pub results_interpreter: Vec<Reference>,
    pub conclusion: Option<String>,
    pub conclusion_code: Vec<CodeableConcept>,
    pub presented_form: Vec<Attachment>,
    pub text: Option<Narrative>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceRequest {
    pub resource_type: String,
    pub id: Option<String>,
    pub status: Option<String>,
    pub intent: Option<String>,
    pub category: Vec<CodeableConcept>,
    pub priority: Option<String>,
    pub do_not_perform: Option<bool>,
    pub code: Option<CodeableConcept>,
    pub subject: Option<Reference>,
    pub occurrence_date_time: Option<String>,
    pub occurrence_period: Option<Period>,
    pub authored_on: Option<String>,
    pub requester: Option<Reference>,
    pub note: Vec<Annotation>,
    pub patient_instruction: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProtocolApplied {
    /// positiveInt or string in R4: kept as the source's literal.
    pub dose_number_positive_int: Option<Box<RawValue>>,
    pub dose_number_string: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Immunization {
    pub resource_type: String,
    pub id: Option<String>,
    pub status: Option<String>,
    pub vaccine_code: CodeableConcept,
    pub patient: Option<Reference>,
    pub occurrence_date_time: Option<String>,
    pub occurrence_string: Option<String>,
    pub lot_number: Option<String>,
    pub note: Vec<Annotation>,
    pub protocol_applied: Vec<ProtocolApplied>,
}

/// Only to find the type and id of a contained resource.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainedHead {
    pub resource_type: String,
    pub id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Section {
    pub title: Option<String>,
    pub code: Option<CodeableConcept>,
    pub text: Option<Narrative>,
    pub section: Vec<Section>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Composition {
    pub resource_type: String,
    pub id: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub type_: CodeableConcept,
    pub subject: Option<Reference>,
    pub date: Option<String>,
    pub title: Option<String>,
    pub section: Vec<Section>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: Option<String>,
    /// base64
    pub data: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DocumentContent {
    pub attachment: Attachment,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DocumentReference {
    pub resource_type: String,
    pub id: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<CodeableConcept>,
    pub subject: Option<Reference>,
    pub date: Option<String>,
    pub description: Option<String>,
    pub content: Vec<DocumentContent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BundleRequest {
    pub method: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BundleEntry {
    pub full_url: Option<String>,
    pub resource: Option<Box<RawValue>>,
    pub request: Option<BundleRequest>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Bundle {
    pub resource_type: String,
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub entry: Vec<BundleEntry>,
}
