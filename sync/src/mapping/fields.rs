//! Reading the FHIR fields every resource family uses: the resource's id, its subject
//! reference, date-times (a FHIR date is midnight JST), status codes; and turning a
//! JSON error into a data-free [`Reject`].

use std::collections::HashMap;

use serde::Deserialize;

use super::{reject, Reject, RejectReason, Subject};
use crate::fhir;
use crate::model::Instant;
use crate::text::parse_fhir_datetime;

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

pub(super) fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], rt: &str) -> Result<T, Reject> {
    serde_json::from_slice(bytes).map_err(|e| json_reject(&e, rt))
}

/// References inside a Bundle, `urn:uuid:...` → subject, built from the Bundle's entries.
pub(super) type LocalSubjects = HashMap<String, Subject>;

pub(super) fn require_id(id: Option<String>, rt: &str) -> Result<String, Reject> {
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

pub(super) fn time_field(
    v: Option<&String>,
    rt: &str,
    field: &str,
) -> Result<Option<Instant>, Reject> {
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

pub(super) fn has_code_in(list: &[fhir::CodeableConcept], code: &str) -> bool {
    list.iter().any(|c| c.has_code(code))
}

pub(super) fn status_code(cc: Option<&fhir::CodeableConcept>) -> Option<String> {
    cc.and_then(|c| c.first_code())
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
