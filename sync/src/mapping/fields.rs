//! Reading the FHIR fields every resource family uses: the resource's id, its subject
//! reference, date-times (a value that does not parse fully is unknown, with a warning;
//! a FHIR date is its first instant in JST), statuses, participants; and turning a JSON
//! error into a data-free [`Reject`].

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;

use super::{reject, Mapped, Reject, RejectReason, Subject, Warning, WarningReason};
use crate::fhir;
use crate::model::{self, Instant, Moment};
use crate::text::{parse_fhir_datetime, parse_fhir_moment};

pub(super) fn json_reject(e: &serde_json::Error, rt: &str) -> Reject {
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

/// Parse a resource. Its UTF-8 is checked once, in one vectorised pass over the whole
/// text (Japanese text is mostly multi-byte), instead of string by string inside the
/// parser; text that is not UTF-8 goes to the byte parser, which says where it breaks.
pub(super) fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], rt: &str) -> Result<T, Reject> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
    .map_err(|e| json_reject(&e, rt))
}

/// References inside a Bundle, `urn:uuid:...` → subject, built from the Bundle's entries.
pub(super) type LocalSubjects = HashMap<String, Subject>;

pub(super) fn require_id(id: Option<Cow<'_, str>>, rt: &str) -> Result<String, Reject> {
    match id {
        Some(id) if !id.trim().is_empty() => Ok(id.into_owned()),
        _ => Err(reject(RejectReason::MissingId, rt, "id missing")),
    }
}

/// The warnings a resource collects while it is mapped, and the field readers that add
/// to them.
#[derive(Debug, Default)]
pub(super) struct Notes(pub Vec<Warning>);

impl Notes {
    pub fn warn(&mut self, reason: WarningReason, detail: impl Into<String>) {
        self.0.push(Warning::new(reason, detail));
    }

    /// A date/time field: `None` when absent, and when it does not parse fully (with an
    /// `invalid_time` warning naming the field): unknown, never midnight.
    pub fn time<S: AsRef<str> + ?Sized>(&mut self, v: Option<&S>, field: &str) -> Option<Instant> {
        let s = v?.as_ref();
        let t = parse_fhir_datetime(s);
        if t.is_none() {
            self.warn(WarningReason::InvalidTime, invalid_time(field));
        }
        t
    }

    /// [`Notes::time`] keeping the precision the source gave.
    pub fn moment<S: AsRef<str> + ?Sized>(&mut self, v: Option<&S>, field: &str) -> Option<Moment> {
        let s = v?.as_ref();
        let t = parse_fhir_moment(s);
        if t.is_none() {
            self.warn(WarningReason::InvalidTime, invalid_time(field));
        }
        t
    }

    /// Hand the warnings to the mapped resource.
    pub fn into(self, mut m: Mapped) -> Mapped {
        m.warnings.extend(self.0);
        m
    }
}

fn invalid_time(field: &str) -> String {
    format!("{field} is not a FHIR date or dateTime; the time is shown as unknown")
}

/// A time the item cannot be shown without (a MAR dose, a vital sign): absent or not
/// parsing fully, the resource is rejected naming the field.
pub(super) fn required_time<S: AsRef<str> + ?Sized>(
    v: Option<&S>,
    rt: &str,
    field: &str,
) -> Result<Instant, Reject> {
    let Some(s) = v.map(AsRef::as_ref) else {
        return Err(reject(
            RejectReason::InvalidValue,
            rt,
            format!("{field} missing: the item cannot be placed in time"),
        ));
    };
    parse_fhir_datetime(s).ok_or_else(|| {
        reject(
            RejectReason::InvalidValue,
            rt,
            format!("{field} is not a FHIR dateTime: the item cannot be placed in time"),
        )
    })
}

pub(super) fn subject_of(r: Option<&fhir::Reference>, local: Option<&LocalSubjects>) -> Subject {
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
                system: system.to_string(),
                value: value.to_string(),
            };
        }
    }
    Subject::Missing
}

/// The id in a literal reference to `rtype` (`Patient/1`, `https://x/fhir/Patient/1`,
/// `Patient/1/_history/2`).
/// The segment after the last `rtype` segment is the id (none when `rtype` is the last
/// segment); found in one pass without collecting the segments (it runs for every
/// resource's subject).
pub fn reference_id(reference: &str, rtype: &str) -> Option<String> {
    // `Some(None)`: the last `rtype` seen so far has no segment after it (yet).
    let mut after_last: Option<Option<&str>> = None;
    let mut previous_is_type = false;
    for part in reference.split('/') {
        if previous_is_type {
            after_last = Some(Some(part));
        }
        previous_is_type = part == rtype;
        if previous_is_type {
            after_last = Some(None);
        }
    }
    after_last
        .flatten()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

pub(super) fn has_code_in(list: &[fhir::CodeableConcept], code: &str) -> bool {
    list.iter().any(|c| c.has_code(code))
}

pub(super) fn status_code(cc: Option<&fhir::CodeableConcept>) -> Option<String> {
    cc.and_then(|c| c.first_code())
}

/// A status outside `allowed` (the FHIR value set of that field) is shown as given,
/// with an `unexpected_status` warning.
pub(super) fn check_status(notes: &mut Notes, status: Option<&str>, allowed: &[&str], field: &str) {
    if let Some(s) = status {
        if !allowed.contains(&s) {
            notes.warn(
                WarningReason::UnexpectedStatus,
                format!("{field} is not in the FHIR value set; shown as the source gave it"),
            );
        }
    }
}

/// [`check_status`] against one of the record's status vocabularies.
pub(super) fn check_vocabulary(
    notes: &mut Notes,
    status: Option<&str>,
    vocabulary: &crate::model::status::Vocabulary,
    field: &str,
) {
    if let Some(s) = status {
        if !vocabulary.contains(s) {
            check_status(notes, Some(s), &[], field);
        }
    }
}

/// The id in a reference to a Practitioner or PractitionerRole, as `Type/<id>`.
pub(super) fn staff_reference(r: &fhir::Reference) -> Option<String> {
    let reference = r.reference.as_deref()?;
    for t in ["PractitionerRole", "Practitioner"] {
        if let Some(id) = reference_id(reference, t) {
            return Some(format!("{t}/{id}"));
        }
    }
    None
}

/// A participant from a reference (its display is the name) and a role.
pub(super) fn participant(
    r: &fhir::Reference,
    role: Option<&fhir::CodeableConcept>,
) -> Option<model::Participant> {
    let name = r
        .display
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let reference = staff_reference(r);
    if name.is_none() && reference.is_none() {
        return None;
    }
    Some(model::Participant {
        role: role.and_then(fhir::CodeableConcept::readable),
        role_code: role.and_then(fhir::CodeableConcept::first_code),
        name,
        contact: None,
        reference,
    })
}

/// Text of annotations (`note`), joined by line breaks.
pub(super) fn notes_text(notes: &[fhir::Annotation]) -> Option<String> {
    let t: Vec<&str> = notes
        .iter()
        .filter_map(|n| n.text.as_deref())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    (!t.is_empty()).then(|| t.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_the_segment_after_the_last_type_segment() {
        let id = |r: &str| reference_id(r, "Patient");
        assert_eq!(id("Patient/1").as_deref(), Some("1"));
        assert_eq!(id("https://x/fhir/Patient/p-7").as_deref(), Some("p-7"));
        assert_eq!(id("Patient/1/_history/2").as_deref(), Some("1"));
        assert_eq!(id("Patient/Patient/9").as_deref(), Some("9"));
        assert_eq!(id("Patient/1/Patient").as_deref(), None);
        assert_eq!(id("Patient/Patient").as_deref(), None);
        assert_eq!(id("Patient/").as_deref(), None);
        assert_eq!(id("Patient").as_deref(), None);
        assert_eq!(id("Group/1").as_deref(), None);
        assert_eq!(id("").as_deref(), None);
    }

    #[test]
    fn an_invalid_time_is_unknown_with_a_warning_naming_the_field() {
        let mut notes = Notes::default();
        let bad = "2026-12-06T99:99:99+09:00".to_string();
        assert_eq!(notes.time(Some(&bad), "recordedDate"), None);
        assert_eq!(notes.0.len(), 1);
        assert_eq!(notes.0[0].reason, WarningReason::InvalidTime);
        assert!(notes.0[0].detail.contains("recordedDate"));
        let err =
            required_time(Some(&bad), "MedicationAdministration", "effectiveDateTime").unwrap_err();
        assert_eq!(err.reason, RejectReason::InvalidValue);
        assert!(err.detail.contains("effectiveDateTime"));
        let good = "2026-12-06T09:30:00+09:00".to_string();
        assert!(notes.time(Some(&good), "x").is_some());
        assert_eq!(notes.0.len(), 1);
    }
}
