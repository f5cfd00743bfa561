//! Observation → a lab result, a vital sign or an infection result.
//!
//! Rules: an infection test (see [`super::infection`]) in the `laboratory` or `infection`
//! category, or uncategorised, is an infection result; category `vital-signs` → vital
//! (within the vitals window; blood pressure from its systolic/diastolic components),
//! `laboratory` → lab (within the labs window); other categories are out of scope.
//! **Profile**: an Observation claiming the JP-CLINS `JP_Observation_LabResult_eCS` profile
//! must carry a JP-CLINS local lab code, else it is rejected as `ProfileViolation`.

use chrono::Duration;

use super::fields::{has_code_in, require_id, subject_of, time_field, LocalSubjects};
use super::infection::{infection_positive, is_infection_observation};
use super::{
    reject, retract, Body, DropReason, Item, MapContext, Mapped, Reject, RejectReason, ResourceType,
};
use crate::fhir;
use crate::model::{self, Instant, VitalKind};

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

pub(super) fn map_observation(
    o: fhir::Observation,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "Observation";
    let id = require_id(o.id.clone(), rt)?;
    let subject = subject_of(o.subject.as_ref(), local);
    let dropped = match o.status.as_deref() {
        Some("entered-in-error") => Some(DropReason::EnteredInError),
        Some("cancelled") => Some(DropReason::Cancelled),
        _ => None,
    };
    if let Some(why) = dropped {
        return Ok(retract(ResourceType::Observation, id, subject, why));
    }
    check_lab_profile(&o)?;
    let reading = Reading::of(&o, id.clone())?;
    let vital = has_code_in(&o.category, "vital-signs");
    let lab = has_code_in(&o.category, "laboratory");
    let body = if (lab || o.category.is_empty() || has_code_in(&o.category, "infection"))
        && is_infection_observation(&o)
    {
        Body::Item(infection_result(&o, reading))
    } else if vital {
        vital_sign(&o, ctx, reading)?
    } else if lab {
        lab_result(&o, ctx, reading)
    } else {
        Body::Retract(DropReason::OutOfScopeCategory)
    };
    Ok(Mapped {
        rtype: ResourceType::Observation,
        id,
        subject,
        body,
        identifiers: Vec::new(),
    })
}

/// A lab Observation claiming the JP-CLINS eCS profile must carry a JP-CLINS local code.
fn check_lab_profile(o: &fhir::Observation) -> Result<(), Reject> {
    let lab_profile = o
        .meta
        .profile
        .iter()
        .any(|p| p.contains("JP_Observation_LabResult_eCS"));
    if lab_profile && !o.code.has_system("JP_CLINS_ObsLabResult_LocalCode_CS") {
        return Err(reject(
            RejectReason::ProfileViolation,
            "Observation",
            "claims JP_Observation_LabResult_eCS but has no JP-CLINS local lab code",
        ));
    }
    Ok(())
}

/// What every kind of Observation shows: the test's name, its value (or why there is
/// none) and when it was taken.
struct Reading {
    id: String,
    test: String,
    value: String,
    unit: Option<String>,
    time: Option<Instant>,
}

impl Reading {
    fn of(o: &fhir::Observation, id: String) -> Result<Self, Reject> {
        let time = observation_time(o, "Observation")?;
        let test = o
            .code
            .readable()
            .unwrap_or_else(|| "(項目名なし)".to_string());
        let (value, unit) = observation_value(o).unwrap_or_else(|| {
            let absent = o
                .data_absent_reason
                .as_ref()
                .and_then(fhir::CodeableConcept::readable)
                .map(|r| format!("(値なし: {r})"))
                .unwrap_or_else(|| "(値なし)".to_string());
            (absent, None)
        });
        Ok(Reading {
            id,
            test,
            value,
            unit,
            time,
        })
    }
}

fn infection_result(o: &fhir::Observation, r: Reading) -> Item {
    let positive = infection_positive(o, &r.value);
    let mut result = r.value;
    if let Some(u) = r.unit {
        result.push(' ');
        result.push_str(&u);
    }
    Item::Infection(model::Infection {
        id: r.id,
        name: r.test,
        result,
        positive,
        time: r.time,
    })
}

/// A vital sign must say when it was taken; older than the vitals window it is dropped.
fn vital_sign(o: &fhir::Observation, ctx: &MapContext, r: Reading) -> Result<Body, Reject> {
    let Some(time) = r.time else {
        return Err(reject(
            RejectReason::InvalidValue,
            "Observation",
            "vital sign without effective[x]",
        ));
    };
    if time < ctx.now - Duration::hours(ctx.windows.vitals_hours.into()) {
        return Ok(Body::Retract(DropReason::OutOfWindow));
    }
    let kind = vital_kind(&o.code);
    let (value, unit) = if kind == VitalKind::BloodPressure {
        blood_pressure(o).unwrap_or((r.value, r.unit))
    } else {
        (r.value, r.unit)
    };
    Ok(Body::Item(Item::Vital(model::VitalSign {
        id: r.id,
        kind,
        value,
        unit,
        time,
    })))
}

/// A lab result older than the labs window is dropped; one without a time is kept.
fn lab_result(o: &fhir::Observation, ctx: &MapContext, r: Reading) -> Body {
    if r.time
        .is_some_and(|t| t < ctx.now - Duration::days(ctx.windows.labs_days.into()))
    {
        return Body::Retract(DropReason::OutOfWindow);
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
    Body::Item(Item::Lab(model::LabResult {
        id: r.id,
        test: r.test,
        code: o.code.first_code(),
        value: r.value,
        unit: r.unit,
        reference_range,
        interpretation,
        time: r.time,
    }))
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
