//! MedicationRequest → prescription, MedicationAdministration → administration (MAR),
//! Medication → a drug's readable name.
//!
//! Rules: a drug named by reference (`Medication/<id>`) gets its name at read time; a
//! contained Medication is read in place. **Prescription dose** is "1回 " + doseQuantity
//! value + unit; an administration's dose is value + unit. **Days** are the dispense's
//! expected supply duration (投与日数), else the timing's bounds duration; the course ends
//! at the period of use's end, else start + the bounds (or supplied) days. A request is
//! **in effect** at the data time when active or on hold, or — completed (dispensed) or
//! of unknown status — while its course lasts ([`model::Prescription::in_effect_at`]).
//! Draft and cancelled requests are retracted; requests not in effect leave after the
//! prescriptions window, administrations after the administrations window. A request or administration that
//! names no drug at all (no code, no text, no reference) is rejected (`missing_code`); an
//! administration without a valid time is rejected naming the field (a dose cannot be
//! placed on the MAR). **Profile**: a MedicationRequest claiming the JP-CLINS
//! `JP_MedicationRequest_eCS` profile without a YJ, general-name or "no code" drug coding
//! is a `profile_violation` warning (kept: its drug name still says what it is).

use super::fields::{
    parse, participant, reference_id, require_id, required_time, subject_of, LocalSubjects, Notes,
};
use super::{
    item, reject, retract, DropReason, Item, MapContext, Mapped, Reject, RejectReason,
    ResourceType, Subject, WarningReason,
};
use crate::fhir;
use crate::model;

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
        let display = r.display.as_deref().unwrap_or_default().to_string();
        if by_ref.is_some() || !display.is_empty() {
            return Ok((display, by_ref));
        }
    }
    Err(reject(
        RejectReason::MissingCode,
        rt,
        "medication[x] missing (no code, text or reference): nothing says which drug",
    ))
}

fn quantity_text(q: &fhir::Quantity) -> Option<String> {
    let mut v = q.value_text()?;
    if let Some(u) = q.unit_text() {
        v.push_str(&u);
    }
    Some(v)
}

pub(super) fn map_medication_request(
    m: fhir::MedicationRequest,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "MedicationRequest";
    let id = require_id(m.id.clone(), rt)?;
    let subject = subject_of(m.subject.as_ref(), local);
    let status = m.status.as_deref().unwrap_or("unknown").to_string();
    let dropped = match status.as_str() {
        "entered-in-error" => Some(DropReason::EnteredInError),
        "cancelled" | "draft" => Some(DropReason::Cancelled),
        _ => None,
    };
    if let Some(why) = dropped {
        return Ok(retract(ResourceType::MedicationRequest, id, subject, why));
    }
    let mut notes = Notes::default();
    super::fields::check_vocabulary(
        &mut notes,
        Some(status.as_str()),
        &crate::model::status::PRESCRIPTION,
        "status",
    );
    check_request_profile(&m, &mut notes);
    let (medication, medication_ref) = medication_of(
        m.medication_codeable_concept.as_ref(),
        m.medication_reference.as_ref(),
        &m.contained,
        rt,
    )?;
    let rx = prescription(id.clone(), medication, status, &m, &mut notes);
    let current = rx.in_effect_at(ctx.now.fixed_offset());
    if !current
        && rx
            .last_time()
            .is_some_and(|t| t < ctx.windows.prescriptions_from(ctx.now))
    {
        return Ok(retract(
            ResourceType::MedicationRequest,
            id,
            subject,
            DropReason::OutOfWindow,
        ));
    }
    Ok(notes.into(item(
        ResourceType::MedicationRequest,
        id,
        subject,
        Item::Prescription { rx, medication_ref },
    )))
}

/// The prescription a request describes (its drug already named): dose, route, timing,
/// course and prescriber from its first dosage instruction and dispense request.
fn prescription(
    id: String,
    medication: String,
    status: String,
    m: &fhir::MedicationRequest,
    notes: &mut Notes,
) -> model::Prescription {
    let dosage = m.dosage_instruction.first();
    // Per-dose amount, written the Japanese way: "1回 2錠".
    let dose = dosage
        .and_then(|d| d.dose_and_rate.first())
        .and_then(|d| d.dose_quantity.as_ref())
        .and_then(quantity_text)
        .map(|q| format!("1回 {q}"));
    let period = period_of_use(m, dosage);
    let bounds = dosage
        .and_then(|d| d.timing.as_ref())
        .and_then(|t| t.repeat.as_ref())
        .and_then(|r| r.bounds_duration.as_ref());
    let supply = m
        .dispense_request
        .as_ref()
        .and_then(|d| d.expected_supply_duration.as_ref());
    let span_days = bounds.and_then(|q| whole_days(q, "boundsDuration", notes));
    let days = supply
        .and_then(|q| whole_days(q, "dispenseRequest.expectedSupplyDuration", notes))
        .or(span_days);
    model::Prescription {
        id,
        medication,
        dose,
        route: dosage
            .and_then(|d| d.route.as_ref())
            .and_then(fhir::CodeableConcept::readable),
        timing: dosage.and_then(dosage_timing),
        status,
        as_needed: dosage.is_some_and(|d| {
            d.as_needed_boolean == Some(true) || d.as_needed_codeable_concept.is_some()
        }),
        authored_on: notes.time(m.authored_on.as_ref(), "authoredOn"),
        period_start: notes.time(period.and_then(|p| p.start.as_ref()), "period.start"),
        period_end: notes.time(period.and_then(|p| p.end.as_ref()), "period.end"),
        days,
        span_days: span_days.filter(|s| Some(*s) != days),
        prescriber: m.requester.as_ref().and_then(|r| participant(r, None)),
    }
}

/// A duration as a whole number of days: `d` as given, `wk` times seven. Any other unit
/// (months differ in length, hours are not days) or a fraction is a warning naming the
/// field, and no number of days is shown (never a guessed one).
fn whole_days(q: &fhir::Quantity, field: &str, notes: &mut Notes) -> Option<u32> {
    let value = q.value_text()?;
    let per = match q.code.as_deref().or(q.unit.as_deref()).map(str::trim) {
        Some("d" | "日" | "day" | "days") => 1,
        Some("wk" | "週" | "週間") => 7,
        _ => 0,
    };
    let n = value
        .parse::<f64>()
        .ok()
        .filter(|v| per > 0 && v.fract() == 0.0 && (0.0..=36_500.0).contains(v))
        .map(|v| v as u32);
    if n.is_none() {
        notes.warn(
            WarningReason::InvalidValue,
            format!("{field} is not a whole number of days or weeks; the days are not shown"),
        );
    }
    n.and_then(|n| n.checked_mul(per))
}

/// A request claiming the JP-CLINS eCS profile should carry a YJ, general-name or "no
/// code" drug coding (or name its drug by reference): otherwise a warning.
fn check_request_profile(m: &fhir::MedicationRequest, notes: &mut Notes) {
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
            notes.warn(
                WarningReason::ProfileViolation,
                "claims JP_MedicationRequest_eCS but has no YJ, general-name or no-code drug coding",
            );
        }
    }
}

/// The period of use: the JP Core extension, else the timing's bounds, else the dispense
/// request's validity period.
fn period_of_use<'a, 'r>(
    m: &'a fhir::MedicationRequest<'r>,
    dosage: Option<&'a fhir::Dosage<'r>>,
) -> Option<&'a fhir::Period<'r>> {
    dosage
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
            .and_then(|d| d.validity_period.as_ref()))
}

/// Timing text: the JP usage code's text (or first display); without a timing code, the
/// dosage text; without either, the structured repeat written as a 用法 text (see
/// [`repeat_text`]). The days supplied are a field of their own.
fn dosage_timing(d: &fhir::Dosage) -> Option<String> {
    d.timing
        .as_ref()
        .and_then(|t| t.code.as_ref())
        .and_then(fhir::CodeableConcept::readable)
        .or_else(|| {
            d.text
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_string())
        })
        .or_else(|| d.timing.as_ref()?.repeat.as_ref().and_then(repeat_text))
}

/// A FHIR Timing.repeat as the 用法 text a Japanese order would carry: times of day
/// ("1日2回 08:00 20:00"), meal events (when: PCM → 朝食後, HS → 就寝前, ...), or an
/// interval in hours ("8時間毎"); a count per day alone ("1日3回") when that is all it
/// says. `None` when it says nothing usable.
fn repeat_text(r: &fhir::Repeat) -> Option<String> {
    let number = |v: &Option<serde_json::Value>| v.as_ref().and_then(serde_json::Value::as_f64);
    let frequency = number(&r.frequency).filter(|f| *f >= 1.0 && f.fract() == 0.0);
    let period = number(&r.period).filter(|p| *p > 0.0);
    let unit = r.period_unit.as_ref().and_then(serde_json::Value::as_str);
    let strings = |v: &Option<serde_json::Value>| -> Vec<String> {
        match v {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let times: Vec<String> = strings(&r.time_of_day)
        .iter()
        .filter_map(|t| t.get(..5).filter(|hm| hm.as_bytes().get(2) == Some(&b':')))
        .map(str::to_owned)
        .collect();
    let when: Vec<&str> = strings(&r.when)
        .iter()
        .filter_map(|w| {
            Some(match w.as_str() {
                "ACM" => "朝食前",
                "ACD" => "昼食前",
                "ACV" => "夕食前",
                "AC" => "毎食前",
                "PCM" => "朝食後",
                "PCD" => "昼食後",
                "PCV" => "夕食後",
                "PC" => "毎食後",
                "CM" => "朝食直後",
                "CD" => "昼食直後",
                "CV" => "夕食直後",
                "HS" => "就寝前",
                _ => return None,
            })
        })
        .collect();
    let per_day = match (frequency, period, unit) {
        (Some(f), Some(1.0), Some("d")) => Some(f as u32),
        _ => None,
    };
    let count = || per_day.map(|n| format!("1日{n}回 ")).unwrap_or_default();
    if !times.is_empty() {
        return Some(format!("{}{}", count(), times.join(" ")));
    }
    if !when.is_empty() {
        return Some(format!("{}{}", count(), when.join(" ")));
    }
    match (frequency, period, unit) {
        (Some(f), Some(p), Some("h")) if f == 1.0 && p.fract() == 0.0 => Some(format!("{p}時間毎")),
        _ => per_day.map(|n| format!("1日{n}回")),
    }
}

/// MedicationAdministration statuses of FHIR's value set (besides entered-in-error).
pub(super) fn map_administration(
    a: fhir::MedicationAdministration,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "MedicationAdministration";
    let id = require_id(a.id.clone(), rt)?;
    let subject = subject_of(a.subject.as_ref(), local);
    let status = a.status.as_deref().unwrap_or("unknown").to_string();
    if status == "entered-in-error" {
        return Ok(retract(
            ResourceType::MedicationAdministration,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let (when, field) = match (&a.effective_date_time, &a.effective_period) {
        (Some(t), _) => (Some(t), "effectiveDateTime"),
        (None, Some(p)) => (p.start.as_ref(), "effectivePeriod.start"),
        (None, None) => (None, "effective[x]"),
    };
    let time = required_time(when, rt, field)?;
    let mut notes = Notes::default();
    super::fields::check_vocabulary(
        &mut notes,
        Some(status.as_str()),
        &crate::model::status::ADMINISTRATION,
        "status",
    );
    if time < ctx.windows.administrations_from(ctx.now) {
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
    let dosage = a.dosage.as_ref();
    let dose = dosage
        .and_then(|d| d.dose.as_ref())
        .and_then(quantity_text)
        .or_else(|| dosage.and_then(|d| d.text.as_deref().map(str::to_string)));
    let route = dosage
        .and_then(|d| d.route.as_ref())
        .and_then(fhir::CodeableConcept::readable);
    let prescription_id = a
        .request
        .as_ref()
        .and_then(|r| r.reference.as_deref())
        .and_then(|r| reference_id(r, "MedicationRequest"));
    Ok(notes.into(item(
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
    )))
}

pub(super) fn map_medication(m: fhir::Medication) -> Result<Mapped, Reject> {
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

#[cfg(test)]
mod repeat_tests {
    use super::*;

    fn repeat(json: serde_json::Value) -> fhir::Repeat<'static> {
        // The FHIR structs borrow from the text they are parsed from: keep it for the test.
        let text: &'static str = Box::leak(json.to_string().into_boxed_str());
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_structured_timing_is_written_as_the_usage_text_it_means() {
        let cases = [
            (
                serde_json::json!({"frequency": 2, "period": 1, "periodUnit": "d", "timeOfDay": ["08:00:00", "20:00:00"]}),
                Some("1日2回 08:00 20:00"),
            ),
            (
                serde_json::json!({"frequency": 2, "period": 1, "periodUnit": "d", "when": ["PCM", "PCV"]}),
                Some("1日2回 朝食後 夕食後"),
            ),
            (serde_json::json!({"when": ["HS"]}), Some("就寝前")),
            (
                serde_json::json!({"frequency": 1, "period": 8, "periodUnit": "h"}),
                Some("8時間毎"),
            ),
            (
                serde_json::json!({"frequency": 3, "period": 1, "periodUnit": "d"}),
                Some("1日3回"),
            ),
            // Unexpected types are no schedule, not a rejected prescription.
            (serde_json::json!({"frequency": "often", "when": 7}), None),
            (
                serde_json::json!({"boundsPeriod": {"start": "2026-12-01"}}),
                None,
            ),
        ];
        for (json, want) in cases {
            let got = repeat_text(&repeat(json.clone()));
            assert_eq!(got.as_deref(), want, "{json}");
        }
    }
}
