//! Condition → a problem ([`model::Condition`]) or, when [`super::infection`] says it is
//! one, an infection ([`model::Infection`]: positive unless inactive, resolved, in
//! remission or refuted).
//!
//! **Onset** is `onset[x]` as the source gave it: `onsetDateTime` at its own precision
//! (a date stays a date), `onsetPeriod`, `onsetAge` / `onsetRange` as text ("65 歳"),
//! `onsetString`. A time that does not parse is unknown (with a warning), never another
//! date. A Condition with neither code nor text is rejected (`missing_code`).

use super::fields::{require_id, status_code, subject_of, LocalSubjects, Notes};
use super::infection::is_infection_condition;
use super::{item, reject, retract, DropReason, Item, Mapped, Reject, RejectReason, ResourceType};
use crate::fhir;
use crate::model::status::CONDITION_CLINICAL;
use crate::model::{self, Onset};

/// An age or range as text: "65 歳", "40–50 歳".
fn age_text(q: &fhir::Quantity) -> Option<String> {
    let v = q.value_text()?;
    let unit = match q.code.as_deref().or(q.unit.as_deref()) {
        Some("a") | Some("歳") => "歳",
        Some("mo") => "か月",
        Some("wk") => "週",
        Some("d") => "日",
        Some(_) => {
            return Some(
                format!("{v} {}", q.unit_text().unwrap_or_default())
                    .trim()
                    .to_string(),
            )
        }
        None => "歳",
    };
    Some(format!("{v}{unit}"))
}

fn onset_of(c: &fhir::Condition, notes: &mut Notes) -> Option<Onset> {
    if c.onset_date_time.is_some() {
        return notes
            .moment(c.onset_date_time.as_ref(), "onsetDateTime")
            .map(Onset::At);
    }
    if let Some(p) = &c.onset_period {
        let start = notes.moment(p.start.as_ref(), "onsetPeriod.start");
        let end = notes.moment(p.end.as_ref(), "onsetPeriod.end");
        return (start.is_some() || end.is_some()).then_some(Onset::Period { start, end });
    }
    if let Some(a) = c.onset_age.as_ref().and_then(age_text) {
        return Some(Onset::Age(a));
    }
    if let Some(r) = &c.onset_range {
        let low = r.low.as_ref().and_then(age_text);
        let high = r.high.as_ref().and_then(age_text);
        return match (low, high) {
            (Some(l), Some(h)) => Some(Onset::Age(format!("{l}–{h}"))),
            (Some(l), None) => Some(Onset::Age(format!("{l}〜"))),
            (None, Some(h)) => Some(Onset::Age(format!("〜{h}"))),
            (None, None) => None,
        };
    }
    c.onset_string
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Onset::Text(s.to_string()))
}

/// Condition clinical statuses of FHIR's value set.
/// An infection recorded as a Condition: positive unless it is over or refuted.
fn infection(
    id: String,
    name: String,
    clinical_status: Option<&str>,
    verification: Option<&str>,
    time: Option<model::Instant>,
) -> model::Infection {
    let positive = !matches!(clinical_status, Some("inactive" | "remission" | "resolved"))
        && verification != Some("refuted");
    // The status in Japanese (the ward's language); a code outside the value set as
    // the source gave it.
    let status = clinical_status.map(|s| match CONDITION_CLINICAL.get(s) {
        Some(c) => c.ja.to_owned(),
        None => format!("未知の状態: {s}"),
    });
    let result = match (status, positive) {
        (Some(s), true) => format!("あり（{s}）"),
        (Some(s), false) => format!("なし（{s}）"),
        (None, _) => "あり".to_string(),
    };
    model::Infection {
        id,
        name,
        result,
        positive,
        time,
    }
}

/// The first instant an onset names (a point or a period's start).
fn onset_start(onset: &Onset) -> Option<model::Instant> {
    match onset {
        Onset::At(m) => m.start(),
        Onset::Period { start, .. } => start.and_then(|m| m.start()),
        _ => None,
    }
}

pub(super) fn map_condition(
    c: fhir::Condition,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
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
    let Some(text) = c.code.as_ref().and_then(fhir::CodeableConcept::readable) else {
        return Err(reject(
            RejectReason::MissingCode,
            rt,
            "code missing (no coding and no text): nothing says what the problem is",
        ));
    };
    let mut notes = Notes::default();
    let clinical_status = status_code(c.clinical_status.as_ref());
    super::fields::check_vocabulary(
        &mut notes,
        clinical_status.as_deref(),
        &crate::model::status::CONDITION_CLINICAL,
        "clinicalStatus",
    );
    let recorded = notes.time(c.recorded_date.as_ref(), "recordedDate");
    let onset = onset_of(&c, &mut notes);
    if is_infection_condition(&c) {
        let infection = infection(
            id.clone(),
            text,
            clinical_status.as_deref(),
            verification.as_deref(),
            recorded.or_else(|| onset.as_ref().and_then(onset_start)),
        );
        return Ok(notes.into(item(
            ResourceType::Condition,
            id,
            subject,
            Item::Infection(infection),
        )));
    }
    Ok(notes.into(item(
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
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_infection_condition_states_its_status_in_japanese() {
        let of = |status: Option<&str>| {
            let i = infection("c1".into(), "MRSA".into(), status, None, None);
            (i.result, i.positive)
        };
        assert_eq!(of(Some("active")), ("あり（活動性）".into(), true));
        assert_eq!(of(Some("resolved")), ("なし（治癒）".into(), false));
        assert_eq!(of(None), ("あり".into(), true));
        assert_eq!(
            of(Some("x-local")),
            ("あり（未知の状態: x-local）".into(), true),
            "a code outside the value set is kept, marked unknown"
        );
    }
}
