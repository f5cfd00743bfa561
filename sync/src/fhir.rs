//! Serde types for exactly the FHIR R4 fields the mapping reads. Everything else in a
//! resource is skipped by serde without being materialised; a field we read that has the
//! wrong JSON type makes the whole resource fail to parse (rejected as `WrongType`).
//!
//! The resource structs repeat the same few fields (`resourceType`, `id`, `meta`,
//! `status`, `subject`, …) on purpose: each mirrors one FHIR resource as the spec defines
//! it, so a reader checks a struct against the spec one to one, and a shared base struct
//! (`#[serde(flatten)]`) would make serde buffer every field of every resource.
//!
//! Text fields are `Cow<'a, str>`: parsed from a resource's text they borrow from it (no
//! allocation per field; owned only when the JSON string has an escape). A source that
//! builds a struct itself gives owned text with `.into()` (`Cow<'static, str>`). Parse
//! with `serde_json::from_str` / `from_slice`; `from_value` cannot lend its strings.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Coding<'a> {
    #[serde(borrow)]
    pub system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub display: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeableConcept<'a> {
    #[serde(borrow)]
    pub coding: Vec<Coding<'a>>,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
}

impl CodeableConcept<'_> {
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
        self.coding
            .iter()
            .find_map(|c| c.code.as_deref().map(str::to_string))
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
pub struct Identifier<'a> {
    #[serde(borrow)]
    pub system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub value: Option<Cow<'a, str>>,
    #[serde(rename = "type")]
    #[serde(borrow)]
    pub type_: Option<CodeableConcept<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Reference<'a> {
    #[serde(borrow)]
    pub reference: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub identifier: Option<Identifier<'a>>,
    #[serde(borrow)]
    pub display: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Quantity<'a> {
    /// Kept as the source's literal so precision ("3.50") survives.
    pub value: Option<Box<RawValue>>,
    #[serde(borrow)]
    pub unit: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub comparator: Option<Cow<'a, str>>,
}

impl Quantity<'_> {
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
pub struct Period<'a> {
    #[serde(borrow)]
    pub start: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub end: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Narrative<'a> {
    #[serde(borrow)]
    pub div: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Extension<'a> {
    #[serde(borrow)]
    pub url: Cow<'a, str>,
    #[serde(borrow)]
    pub value_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub value_period: Option<Period<'a>>,
    #[serde(borrow)]
    pub value_string: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta<'a> {
    #[serde(borrow)]
    pub last_updated: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub profile: Vec<Cow<'a, str>>,
}

/// First pass when the byte scan for `resourceType` is ambiguous.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeOnly<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HumanName<'a> {
    #[serde(borrow)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub family: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub given: Vec<Cow<'a, str>>,
    #[serde(rename = "use")]
    #[serde(borrow)]
    pub use_: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Patient<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub identifier: Vec<Identifier<'a>>,
    #[serde(borrow)]
    pub name: Vec<HumanName<'a>>,
    #[serde(borrow)]
    pub gender: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub birth_date: Option<Cow<'a, str>>,
    pub active: Option<bool>,
    pub deceased_boolean: Option<bool>,
    #[serde(borrow)]
    pub deceased_date_time: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Reaction<'a> {
    #[serde(borrow)]
    pub manifestation: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub severity: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AllergyIntolerance<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub meta: Meta<'a>,
    #[serde(borrow)]
    pub clinical_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub verification_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub category: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    pub criticality: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub patient: Option<Reference<'a>>,
    #[serde(borrow)]
    pub recorded_date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub reaction: Vec<Reaction<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub meta: Meta<'a>,
    #[serde(borrow)]
    pub clinical_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub verification_status: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub category: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub onset_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub onset_string: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub onset_period: Option<Period<'a>>,
    #[serde(borrow)]
    pub onset_age: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub onset_range: Option<Range<'a>>,
    #[serde(borrow)]
    pub recorded_date: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Range<'a> {
    #[serde(borrow)]
    pub low: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub high: Option<Quantity<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Annotation<'a> {
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReferenceRange<'a> {
    #[serde(borrow)]
    pub low: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub high: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Component<'a> {
    #[serde(borrow)]
    pub code: CodeableConcept<'a>,
    #[serde(borrow)]
    pub value_quantity: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub value_string: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub value_codeable_concept: Option<CodeableConcept<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Observation<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub meta: Meta<'a>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub category: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub code: CodeableConcept<'a>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub effective_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub effective_instant: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub effective_period: Option<Period<'a>>,
    #[serde(borrow)]
    pub issued: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub value_quantity: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub value_string: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub value_codeable_concept: Option<CodeableConcept<'a>>,
    pub value_boolean: Option<bool>,
    pub value_integer: Option<Box<RawValue>>,
    #[serde(borrow)]
    pub data_absent_reason: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub interpretation: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub reference_range: Vec<ReferenceRange<'a>>,
    #[serde(borrow)]
    pub component: Vec<Component<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Repeat<'a> {
    #[serde(borrow)]
    pub bounds_duration: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub bounds_period: Option<Period<'a>>,
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
pub struct Timing<'a> {
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub repeat: Option<Repeat<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DoseAndRate<'a> {
    #[serde(borrow)]
    pub dose_quantity: Option<Quantity<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Dosage<'a> {
    #[serde(borrow)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub timing: Option<Timing<'a>>,
    pub as_needed_boolean: Option<bool>,
    #[serde(borrow)]
    pub as_needed_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub route: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub dose_and_rate: Vec<DoseAndRate<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DispenseRequest<'a> {
    #[serde(borrow)]
    pub validity_period: Option<Period<'a>>,
    /// Days supplied (JP Core: 投与日数).
    #[serde(borrow)]
    pub expected_supply_duration: Option<Quantity<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MedicationRequest<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub meta: Meta<'a>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    pub contained: Vec<Box<RawValue>>,
    #[serde(borrow)]
    pub medication_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub medication_reference: Option<Reference<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub authored_on: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub dosage_instruction: Vec<Dosage<'a>>,
    #[serde(borrow)]
    pub dispense_request: Option<DispenseRequest<'a>>,
    #[serde(borrow)]
    pub requester: Option<Reference<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AdministrationDosage<'a> {
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub route: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub dose: Option<Quantity<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MedicationAdministration<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    pub contained: Vec<Box<RawValue>>,
    #[serde(borrow)]
    pub medication_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub medication_reference: Option<Reference<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub effective_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub effective_period: Option<Period<'a>>,
    #[serde(borrow)]
    pub request: Option<Reference<'a>>,
    #[serde(borrow)]
    pub dosage: Option<AdministrationDosage<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Medication<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Flag<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub category: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub code: CodeableConcept<'a>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub period: Option<Period<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EncounterLocation<'a> {
    #[serde(borrow)]
    pub location: Reference<'a>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub physical_type: Option<CodeableConcept<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EncounterParticipant<'a> {
    #[serde(rename = "type")]
    #[serde(borrow)]
    pub type_: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub individual: Option<Reference<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Encounter<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub class: Option<Coding<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub period: Option<Period<'a>>,
    #[serde(borrow)]
    pub location: Vec<EncounterLocation<'a>>,
    #[serde(borrow)]
    pub participant: Vec<EncounterParticipant<'a>>,
    pub contained: Vec<Box<RawValue>>,
}

/// A Location (a resource of its own or contained in an Encounter): ward / room / bed.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Location<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub alias: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    pub description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub physical_type: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub part_of: Option<Reference<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContactPoint<'a> {
    #[serde(borrow)]
    pub system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub value: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Practitioner<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Vec<HumanName<'a>>,
    #[serde(borrow)]
    pub telecom: Vec<ContactPoint<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PractitionerRole<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    pub active: Option<bool>,
    #[serde(borrow)]
    pub practitioner: Option<Reference<'a>>,
    #[serde(borrow)]
    pub code: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub specialty: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub telecom: Vec<ContactPoint<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CareTeamParticipant<'a> {
    #[serde(borrow)]
    pub role: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub member: Option<Reference<'a>>,
    #[serde(borrow)]
    pub period: Option<Period<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CareTeam<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub period: Option<Period<'a>>,
    #[serde(borrow)]
    pub participant: Vec<CareTeamParticipant<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DiagnosticReport<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub meta: Meta<'a>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub category: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub code: CodeableConcept<'a>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub effective_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub effective_period: Option<Period<'a>>,
    #[serde(borrow)]
    pub issued: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub performer: Vec<Reference<'a>>,
    #[serde(borrow)]
    pub results_interpreter: Vec<Reference<'a>>,
    #[serde(borrow)]
    pub conclusion: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub conclusion_code: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub presented_form: Vec<Attachment<'a>>,
    #[serde(borrow)]
    pub text: Option<Narrative<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceRequest<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub intent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub category: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub priority: Option<Cow<'a, str>>,
    pub do_not_perform: Option<bool>,
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub occurrence_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub occurrence_period: Option<Period<'a>>,
    #[serde(borrow)]
    pub authored_on: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub requester: Option<Reference<'a>>,
    #[serde(borrow)]
    pub note: Vec<Annotation<'a>>,
    #[serde(borrow)]
    pub patient_instruction: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProtocolApplied<'a> {
    /// positiveInt or string in R4: kept as the source's literal.
    pub dose_number_positive_int: Option<Box<RawValue>>,
    #[serde(borrow)]
    pub dose_number_string: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Immunization<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub vaccine_code: CodeableConcept<'a>,
    #[serde(borrow)]
    pub patient: Option<Reference<'a>>,
    #[serde(borrow)]
    pub occurrence_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub occurrence_string: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub lot_number: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub note: Vec<Annotation<'a>>,
    #[serde(borrow)]
    pub protocol_applied: Vec<ProtocolApplied<'a>>,
}

/// Only to find the type and id of a contained resource.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainedHead<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Section<'a> {
    #[serde(borrow)]
    pub title: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub text: Option<Narrative<'a>>,
    #[serde(borrow)]
    pub section: Vec<Section<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Composition<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(rename = "type")]
    #[serde(borrow)]
    pub type_: CodeableConcept<'a>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub title: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub section: Vec<Section<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Attachment<'a> {
    #[serde(borrow)]
    pub content_type: Option<Cow<'a, str>>,
    /// base64
    #[serde(borrow)]
    pub data: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub title: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DocumentContent<'a> {
    #[serde(borrow)]
    pub attachment: Attachment<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DocumentReference<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(rename = "type")]
    #[serde(borrow)]
    pub type_: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub content: Vec<DocumentContent<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BundleRequest<'a> {
    #[serde(borrow)]
    pub method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub url: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BundleEntry<'a> {
    #[serde(borrow)]
    pub full_url: Option<Cow<'a, str>>,
    pub resource: Option<Box<RawValue>>,
    #[serde(borrow)]
    pub request: Option<BundleRequest<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Bundle<'a> {
    #[serde(borrow)]
    pub resource_type: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(rename = "type")]
    #[serde(borrow)]
    pub type_: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub entry: Vec<BundleEntry<'a>>,
}
