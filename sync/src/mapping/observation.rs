//! Observation → a lab result, a blood type, a vital sign (or other bedside observation)
//! or an infection result.
//!
//! **Which one** (categories compare ignoring case; `category` codes of the FHIR
//! observation-category, JP Core and HL7 v2-0074 code systems are all read):
//! 1. an infection test (see [`super::infection`]) that is not categorised as vital
//!    signs → an infection result;
//! 2. a blood typing test (ABO, Rh(D): LOINC 882-1, 883-9, 10331-7, 1305-2, 34474-7;
//!    JLAC10 5H010, 5H020; or a name with 血液型 / ABO / Rh) → a blood type, whatever
//!    its age;
//! 3. category `vital-signs` → a vital sign: its kind by LOINC code, else an
//!    [`VitalKind::Other`] reading under its own name;
//! 4. a laboratory category (`laboratory`, v2-0074 `LAB`, `HM`, `CH`, `MB`, `BLB`,
//!    `SR`, ...) → a lab result;
//! 5. no vital-signs or laboratory category: a vital-sign or bedside LOINC code (BMI, O2
//!    flow, GCS, pain) → a vital sign; a lab code system (JLAC10, JLAC11, JP-CLINS local
//!    lab code, LOINC) without a known other category → a lab result; anything else
//!    (exam, survey, social history, no category) → a [`model::Finding`] under its own
//!    name. A missing or unknown category is an `unrecognised_category` warning.
//!
//! **Windows**: vital signs within the vitals window (they must have a valid time:
//! without one they are rejected naming the field, as they cannot be placed on the
//! chart); lab results and findings within the labs window (without a valid time they
//! are kept, time unknown). **Profile**: a JP-CLINS
//! `JP_Observation_LabResult_eCS` claim without a JP-CLINS local lab code is a
//! `profile_violation` warning. **Reference range**: `low`–`high` with their unit; the
//! range's text is a note. Units are shown as people write them (℃, mmHg).

use super::fields::{has_code_in, require_id, required_time, subject_of, LocalSubjects, Notes};
use super::infection::{infection_positive, is_infection_observation};
use super::{
    reject, Body, DropReason, Item, MapContext, Mapped, Reject, RejectReason, ResourceType,
    WarningReason,
};
use crate::fhir;
use crate::model::{self, BloodGroup, Instant, ReferenceRange, VitalKind};

/// Category codes of laboratory results: FHIR / JP Core `laboratory` and the HL7 v2-0074
/// diagnostic service sections of the laboratory.
const LAB_CATEGORIES: &[&str] = &[
    "laboratory",
    "LAB",
    "HM",
    "HEM",
    "CH",
    "CHEM",
    "MB",
    "MCB",
    "MYC",
    "BLB",
    "SR",
    "IMM",
    "UR",
    "BG",
    "CP",
    "CG",
    "TX",
    "VR",
    "OSL",
    "SP",
    "PAT",
];

/// Categories that are neither lab nor vital signs but known: no warning.
const OTHER_CATEGORIES: &[&str] = &[
    "exam",
    "survey",
    "social-history",
    "imaging",
    "procedure",
    "therapy",
    "activity",
];

/// LOINC codes of bedside observations kept with the vital signs under their name: BMI,
/// oxygen flow and concentration, GCS and its parts, pain score, head circumference.
const BEDSIDE_LOINC: &[&str] = &[
    "39156-5", "3151-8", "3150-0", "19994-3", "9269-2", "9268-4", "9270-0", "9267-6", "72514-3",
    "38208-5", "9843-4", "8478-0",
];

fn has_category(o: &fhir::Observation, codes: &[&str]) -> bool {
    o.category
        .iter()
        .any(|cc| codes.iter().any(|c| cc.has_code_ignore_case(c)))
}

/// Coded with a lab code system (JLAC10/11, JP-CLINS local lab code, LOINC)?
fn lab_coded(code: &fhir::CodeableConcept) -> bool {
    code.coding.iter().any(|c| {
        c.system.as_deref().is_some_and(|s| {
            ["jlac10", "jlac11", "obslabresult_localcode", "loinc.org"]
                .iter()
                .any(|needle| contains_ignore_ascii_case(s, needle))
        })
    })
}

/// Does `haystack` contain `needle` (lowercase ASCII), ignoring ASCII case? Without the
/// lowercase copy of the haystack (this runs for every coding of every Observation).
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
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

/// The time field the Observation gave, with its FHIR name.
fn observation_time_field<'o>(o: &'o fhir::Observation<'_>) -> Option<(&'o str, &'static str)> {
    o.effective_date_time
        .as_deref()
        .map(|s| (s, "effectiveDateTime"))
        .or(o
            .effective_instant
            .as_deref()
            .map(|s| (s, "effectiveInstant")))
        .or(o
            .effective_period
            .as_ref()
            .and_then(|p| p.start.as_deref())
            .map(|s| (s, "effectivePeriod.start")))
        .or(o.issued.as_deref().map(|s| (s, "issued")))
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
        return Ok(super::retract(ResourceType::Observation, id, subject, why));
    }
    let mut notes = Notes::default();
    super::fields::check_status(
        &mut notes,
        o.status.as_deref(),
        &[
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "unknown",
        ],
        "status",
    );
    check_lab_profile(&o, &mut notes);
    let reading = Reading::of(&o, id.clone())?;
    let vital_category = has_code_in(&o.category, "vital-signs")
        || has_category(&o, &["vital-signs", "vital signs"]);
    let lab_category = has_category(&o, LAB_CATEGORIES);
    let known_other = has_category(&o, OTHER_CATEGORIES);
    let kind = vital_kind(&o.code);
    if !(vital_category || lab_category || known_other) {
        notes.warn(
            WarningReason::UnrecognisedCategory,
            "category missing or not one of laboratory / vital-signs / exam / survey / ...: placed by its code",
        );
    }
    let body = if !vital_category && is_infection_observation(&o) {
        // Screening results are read as infections whatever their category says.
        let t = lab_time(&o, &mut notes);
        Body::Item(infection_result(&o, reading, t))
    } else if let Some(group) = blood_group(&o.code) {
        let time = lab_time(&o, &mut notes);
        Body::Item(Item::BloodType(model::BloodType {
            id: reading.id,
            group,
            value: reading.value,
            time,
        }))
    } else if vital_category {
        vital_sign(&o, ctx, reading, kind)?
    } else if lab_category {
        lab_result(&o, ctx, reading, &mut notes)
    } else if kind != VitalKind::Other || is_bedside(&o.code) {
        vital_sign(&o, ctx, reading, kind)?
    } else if lab_coded(&o.code) && !known_other {
        lab_result(&o, ctx, reading, &mut notes)
    } else {
        finding(&o, ctx, reading, &mut notes)
    };
    Ok(notes.into(Mapped {
        rtype: ResourceType::Observation,
        id,
        subject,
        body,
        identifiers: Vec::new(),
        warnings: Vec::new(),
    }))
}

fn is_bedside(code: &fhir::CodeableConcept) -> bool {
    code.coding.iter().any(|c| {
        c.code
            .as_deref()
            .is_some_and(|k| BEDSIDE_LOINC.contains(&k))
    })
}

/// A JP-CLINS lab profile claim without a JP-CLINS local code: warned, kept.
fn check_lab_profile(o: &fhir::Observation, notes: &mut Notes) {
    let lab_profile = o
        .meta
        .profile
        .iter()
        .any(|p| p.contains("JP_Observation_LabResult_eCS"));
    if lab_profile && !o.code.has_system("JP_CLINS_ObsLabResult_LocalCode_CS") {
        notes.warn(
            WarningReason::ProfileViolation,
            "claims JP_Observation_LabResult_eCS but has no JP-CLINS local lab code",
        );
    }
}

/// What every kind of Observation shows: the test's name, its value (or why there is
/// none).
struct Reading {
    id: String,
    test: String,
    value: String,
    unit: Option<String>,
}

impl Reading {
    fn of(o: &fhir::Observation, id: String) -> Result<Self, Reject> {
        let Some(test) = o.code.readable() else {
            return Err(reject(
                RejectReason::MissingCode,
                "Observation",
                "code missing (no coding and no text): nothing says what was measured",
            ));
        };
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
        })
    }
}

/// The time of a result that can be shown without one (lab, infection, blood type).
fn lab_time(o: &fhir::Observation, notes: &mut Notes) -> Option<Instant> {
    let (s, field) = observation_time_field(o)?;
    notes.time(Some(s), field)
}

fn infection_result(o: &fhir::Observation, r: Reading, time: Option<Instant>) -> Item {
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
        time,
    })
}

/// A vital sign (or other bedside observation) must say when it was taken; older than
/// the vitals window it is dropped.
fn vital_sign(
    o: &fhir::Observation,
    ctx: &MapContext,
    r: Reading,
    kind: VitalKind,
) -> Result<Body, Reject> {
    let (s, field) = observation_time_field(o).unzip();
    let time = required_time(s, "Observation", field.unwrap_or("effective[x]"))?;
    if time < ctx.windows.vitals_from(ctx.now) {
        return Ok(Body::Retract(DropReason::OutOfWindow));
    }
    let (value, unit) = if kind == VitalKind::BloodPressure {
        blood_pressure(o).unwrap_or((r.value, r.unit))
    } else {
        (r.value, r.unit)
    };
    Ok(Body::Item(Item::Vital(model::VitalSign {
        id: r.id,
        kind,
        name: Some(r.test),
        value,
        unit,
        time,
    })))
}

/// A finding older than the labs window is dropped; one without a time is kept.
fn finding(o: &fhir::Observation, ctx: &MapContext, r: Reading, notes: &mut Notes) -> Body {
    let time = lab_time(o, notes);
    if time.is_some_and(|t| t < ctx.windows.labs_from(ctx.now)) {
        return Body::Retract(DropReason::OutOfWindow);
    }
    let category = o.category.iter().find_map(|c| {
        c.coding
            .iter()
            .find_map(|c| c.display.as_deref().or(c.code.as_deref()))
            .or(c.text.as_deref())
            .map(str::to_string)
    });
    Body::Item(Item::Finding(model::Finding {
        id: r.id,
        name: r.test,
        category,
        value: r.value,
        unit: r.unit,
        time,
    }))
}

/// A lab result older than the labs window is dropped; one without a time is kept.
fn lab_result(o: &fhir::Observation, ctx: &MapContext, r: Reading, notes: &mut Notes) -> Body {
    let time = lab_time(o, notes);
    if time.is_some_and(|t| t < ctx.windows.labs_from(ctx.now)) {
        return Body::Retract(DropReason::OutOfWindow);
    }
    let reference_range = o.reference_range.first().and_then(|range| {
        let low = range.low.as_ref().and_then(fhir::Quantity::value_text);
        let high = range.high.as_ref().and_then(fhir::Quantity::value_text);
        let unit = range
            .low
            .as_ref()
            .or(range.high.as_ref())
            .and_then(fhir::Quantity::unit_text)
            .or_else(|| r.unit.clone());
        let text = range
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        (low.is_some() || high.is_some() || text.is_some()).then(|| ReferenceRange {
            unit: unit.filter(|_| low.is_some() || high.is_some()),
            low,
            high,
            text,
        })
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
        time,
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

/// Is this a blood typing test, and of which group?
fn blood_group(code: &fhir::CodeableConcept) -> Option<BloodGroup> {
    for c in &code.coding {
        let Some(k) = c.code.as_deref() else { continue };
        match k {
            "882-1" | "34474-7" => return Some(BloodGroup::AboRh),
            "883-9" => return Some(BloodGroup::Abo),
            "10331-7" | "1305-2" => return Some(BloodGroup::Rh),
            _ if k.starts_with("5H010") => return Some(BloodGroup::Abo),
            _ if k.starts_with("5H020") => return Some(BloodGroup::Rh),
            _ => {}
        }
    }
    let name = code.readable_str()?;
    if name.contains("不規則") || name.contains("抗体") || name.contains("Hr") {
        return None;
    }
    let abo = name.contains("ABO");
    let rh = name.contains("Rh");
    match (abo, rh, name.contains("血液型")) {
        (true, true, _) => Some(BloodGroup::AboRh),
        (true, false, _) => Some(BloodGroup::Abo),
        (false, true, true) => Some(BloodGroup::Rh),
        (false, false, true) => Some(BloodGroup::AboRh),
        _ => None,
    }
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
