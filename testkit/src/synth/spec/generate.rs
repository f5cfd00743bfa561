//! Generating one patient from `(seed, index)` alone: demographics, then each kind of
//! item in a fixed order (the order of random draws is part of the seed's meaning).

use akari_sync::model::{
    Administration, Allergy, Condition, Document, DocumentKind, Encounter, Flag, FlagKind,
    Infection, Instant, Moment, Onset, Participant, Prescription, Sex, VitalKind,
};
use chrono::Duration;

use super::catalog::{
    document_text, hours_ago, lab_result, vital, ALLERGENS, CONDITIONS, INFECTIONS, LABS, MEDS,
    PRESCRIBERS, XSS_NAME, XSS_TEXT,
};
use super::{
    bed_of, inpatient_slot, AllergySpec, ConditionSpec, DocumentSpec, EncounterSpec, FlagSpec,
    InfectionSpec, Item, MarSpec, PatientSpec, RxSpec,
};
use crate::synth::names::{to_halfwidth_katakana, FAMILY, GIVEN_FEMALE, GIVEN_MALE};
use crate::synth::{Rng, SynthConfig};

/// What every step of generating one patient needs.
#[derive(Clone, Copy)]
struct Ctx {
    now: Instant,
    index: u64,
    xss: bool,
    inpatient: bool,
    slot: Option<u64>,
    base_updated: Instant,
    age_days: i64,
}

/// An item as generated: current, last updated with its patient.
fn item<T>(last_updated: Instant, v: T) -> Item<T> {
    Item {
        v,
        last_updated,
        entered_in_error: false,
    }
}

pub(crate) fn generate(cfg: &SynthConfig, index: u64) -> PatientSpec {
    let mut rng = Rng::for_patient(cfg.seed, index, 0);
    let (mut p, c) = demographics(&mut rng, cfg, index);
    let rng = &mut rng;
    allergies(rng, &c, &mut p);
    conditions(rng, &c, &mut p);
    infections(rng, &c, &mut p);
    prescriptions(rng, &c, &mut p);
    administrations(rng, &c, &mut p);
    labs(rng, &c, &mut p);
    vitals(rng, &c, &mut p);
    flags(rng, &c, &mut p);
    encounters(rng, &c, &mut p);
    documents(rng, &c, &mut p);
    p
}

/// The patient without items: sex, name (8% with half-width kana; the XSS knob's
/// patients carry a payload), birth date, ids.
fn demographics(rng: &mut Rng, cfg: &SynthConfig, index: u64) -> (PatientSpec, Ctx) {
    let now = cfg.now;
    let sex = if rng.chance(0.5) {
        Sex::Male
    } else {
        Sex::Female
    };
    let sex = if rng.chance(0.003) { Sex::Other } else { sex };
    let (fam_k, fam_kana) = *rng.pick(FAMILY);
    let (giv_k, giv_kana) = *rng.pick(if sex == Sex::Male {
        GIVEN_MALE
    } else {
        GIVEN_FEMALE
    });
    let halfwidth = rng.chance(0.08);
    let xss = cfg.xss && index % 25 == 3;
    let mut given_kanji = giv_k.to_string();
    if xss {
        given_kanji.push_str(XSS_NAME);
    }
    let (family_kana, given_kana) = if halfwidth {
        (
            to_halfwidth_katakana(fam_kana),
            to_halfwidth_katakana(giv_kana),
        )
    } else {
        (fam_kana.to_string(), giv_kana.to_string())
    };
    let age_days = rng.range(20 * 365, 98 * 365) as i64;
    let birth_date = now.date_naive() - Duration::days(age_days);
    let base_updated = now - Duration::hours(2) - Duration::minutes(rng.below(600) as i64);
    let id = format!("pt{index:07}");
    let hospital_id = format!("{:010}", 20_000_000 + index);
    let p = PatientSpec {
        index,
        id: id.clone(),
        hospital_id,
        family_kanji: fam_k.to_string(),
        given_kanji,
        family_kana,
        given_kana,
        sex,
        birth_date,
        last_updated: base_updated,
        next_item: 0,
        allergies: vec![],
        conditions: vec![],
        infections: vec![],
        prescriptions: vec![],
        administrations: vec![],
        labs: vec![],
        vitals: vec![],
        flags: vec![],
        encounters: vec![],
        documents: vec![],
    };
    let slot = inpatient_slot(cfg.patients, index);
    let c = Ctx {
        now,
        index,
        xss,
        inpatient: slot.is_some(),
        slot,
        base_updated,
        age_days,
    };
    (p, c)
}

/// Allergies: about 45% have one to three; a few have one entered in error that the
/// engine must drop.
fn allergies(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let index = c.index;
    let xss = c.xss;
    let base_updated = c.base_updated;
    // Allergies: ~45% have at least one.
    let n_alg = if rng.chance(0.45) { rng.range(1, 3) } else { 0 };
    for k in 0..n_alg {
        let (sub, cat, reaction, crit) = *rng.pick(ALLERGENS);
        let mut substance = sub.to_string();
        if xss && k == 0 {
            substance.push_str(XSS_TEXT);
        }
        let vs = if rng.chance(0.8) {
            "confirmed"
        } else {
            "unconfirmed"
        };
        p.allergies.push(item(
            base_updated,
            AllergySpec(Allergy {
                id: format!("alg-{index}-{k}"),
                substance,
                categories: vec![cat.to_string()],
                criticality: Some(crit),
                clinical_status: Some("active".into()),
                verification_status: Some(vs.into()),
                reactions: vec![reaction.to_string()],
                recorded: Some(now - Duration::days(rng.range(30, 3000) as i64)),
                severity: None,
                none_known: false,
            }),
        ));
    }
    // An entered-in-error allergy the engine must drop.
    if rng.chance(0.03) {
        let (sub, cat, reaction, crit) = *rng.pick(ALLERGENS);
        p.allergies.push(Item {
            entered_in_error: true,
            ..item(
                base_updated,
                AllergySpec(Allergy {
                    id: format!("alg-{index}-e"),
                    substance: sub.into(),
                    categories: vec![cat.into()],
                    criticality: Some(crit),
                    clinical_status: Some("active".into()),
                    verification_status: Some("entered-in-error".into()),
                    reactions: vec![reaction.into()],
                    recorded: Some(now - Duration::days(40)),
                    severity: None,
                    none_known: false,
                }),
            )
        });
    }
}

/// One to three conditions.
fn conditions(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let index = c.index;
    let base_updated = c.base_updated;
    // Conditions.
    for k in 0..rng.range(1, 3) {
        let (text, code) = *rng.pick(CONDITIONS);
        let onset = now - Duration::days(rng.range(10, 4000) as i64);
        p.conditions.push(item(
            base_updated,
            ConditionSpec(Condition {
                id: format!("cnd-{index}-{k}"),
                text: text.into(),
                code: Some(code.into()),
                clinical_status: Some(
                    if rng.chance(0.85) {
                        "active"
                    } else {
                        "resolved"
                    }
                    .into(),
                ),
                onset: Some(Onset::At(Moment::Day(onset.date_naive()))),
                recorded: Some(onset + Duration::days(1)),
            }),
        ));
    }
}

/// Infection screening: inpatients always, outpatients sometimes.
fn infections(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let index = c.index;
    let inpatient = c.inpatient;
    let base_updated = c.base_updated;
    // Infection screening: inpatients always, outpatients sometimes.
    if inpatient || rng.chance(0.3) {
        let t =
            now - Duration::days(rng.range(1, 20) as i64) - Duration::hours(rng.below(12) as i64);
        for (k, (name, code)) in INFECTIONS.iter().enumerate() {
            if k == 4 && !inpatient {
                continue;
            }
            let pos = rng.chance(if k == 4 { 0.08 } else { 0.03 });
            p.infections.push(item(
                base_updated,
                InfectionSpec {
                    m: Infection {
                        id: format!("inf-{index}-{k}"),
                        name: name.to_string(),
                        result: if pos { "陽性 (+)" } else { "陰性 (-)" }.into(),
                        positive: pos,
                        time: Some(t),
                    },
                    code: code.to_string(),
                    interpretation: if pos { "POS" } else { "NEG" },
                },
            ));
        }
    }
}

/// Prescriptions: two to five for an inpatient, up to three for an outpatient.
fn prescriptions(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let index = c.index;
    let inpatient = c.inpatient;
    let base_updated = c.base_updated;
    // Prescriptions.
    let n_rx = if inpatient {
        rng.range(2, 5)
    } else {
        rng.range(0, 3)
    };
    for k in 0..n_rx {
        let (med, dose, unit, route, timing, prn) = *rng.pick(MEDS);
        let start =
            now - Duration::days(rng.range(1, 25) as i64) - Duration::hours(rng.below(10) as i64);
        let days = if inpatient { 30 } else { 28 };
        let end = start + Duration::days(days);
        // Drawn from the patient's index, not the seed's stream: adding the prescriber
        // kept every other generated value as it was.
        let (_, family, given) = PRESCRIBERS[(index as usize + k as usize) % PRESCRIBERS.len()];
        let status = if rng.chance(0.85) {
            "active"
        } else {
            "completed"
        };
        p.prescriptions.push(item(
            base_updated,
            RxSpec {
                m: Prescription {
                    id: format!("rx-{index}-{k}"),
                    medication: med.into(),
                    dose: Some(format!("1回 {dose}{unit}")),
                    route: Some(route.into()),
                    timing: Some(timing.into()),
                    status: status.into(),
                    as_needed: prn,
                    authored_on: Some(start - Duration::hours(1)),
                    period_start: Some(start),
                    period_end: Some(end),
                    days: Some(days as u32),
                    span_days: None,
                    prescriber: Some(Participant {
                        name: Some(format!("{family} {given}")),
                        ..Participant::default()
                    }),
                },
                dose_value: dose.into(),
                dose_unit: unit.into(),
            },
        ));
    }
}

/// The MAR of an inpatient's active scheduled prescriptions: each dose at the times of day
/// its timing names (see [`dose_hours`]) over the last two days and a bit, plus the two
/// doses before 96 h ago (outside the viewer's window), never before the prescription
/// started.
fn administrations(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let base_updated = c.base_updated;
    if !c.inpatient {
        return;
    }
    for rx in p.prescriptions.clone() {
        let rx = &rx.v;
        if rx.m.status != "active" || rx.m.as_needed {
            continue;
        }
        let minute = (rng.below(120) % 60) as u32;
        let hours = dose_hours(rx.m.timing.as_deref().unwrap_or(""));
        let started = rx.m.period_start.unwrap_or(now - Duration::days(30));
        let times = dose_times(now, hours, minute)
            .filter(|t| *t >= started)
            .filter(|t| now - *t >= Duration::hours(1));
        let recent = times
            .clone()
            .take_while(|t| now - *t <= Duration::hours(54));
        let old = times.filter(|t| now - *t >= Duration::hours(96)).take(2);
        for (slot, t) in recent.chain(old).enumerate() {
            let status = if rng.chance(0.05) {
                "not-done"
            } else {
                "completed"
            };
            p.administrations.push(item(
                base_updated,
                MarSpec {
                    m: Administration {
                        id: format!("{}-a{slot}", rx.m.id.replacen("rx-", "mar-", 1)),
                        medication: rx.m.medication.clone(),
                        dose: Some(format!("{}{}", rx.dose_value, rx.dose_unit)),
                        route: rx.m.route.clone(),
                        status: status.into(),
                        time: t,
                        prescription_id: Some(rx.m.id.clone()),
                    },
                    dose_value: rx.dose_value.clone(),
                    dose_unit: rx.dose_unit.clone(),
                },
            ));
        }
    }
}

/// The hours of the day (in the hospital's clock, `now`'s offset) a scheduled prescription
/// is given at, from its timing text: how many times a day ("1日3回") and when (after
/// meals, before meals, at bedtime, every 8 or 12 hours). Unknown text: once a day.
pub(crate) fn dose_hours(timing: &str) -> &'static [u32] {
    let per_day = (1..=4u32)
        .rev()
        .find(|n| timing.contains(&format!("1日{n}回")))
        .unwrap_or(1);
    match per_day {
        _ if timing.contains("就寝前") => &[21],
        _ if timing.contains("朝夕") => &[8, 18],
        _ if timing.contains("8時間毎") => &[6, 14, 22],
        _ if timing.contains("12時間毎") => &[9, 21],
        3 if timing.contains("直前") => &[7, 12, 18],
        3 => &[8, 13, 19],
        2 => &[9, 21],
        4 => &[6, 12, 18, 22],
        _ if timing.contains("夕") => &[18],
        _ if timing.contains("昼") => &[13],
        _ => &[8],
    }
}

/// The dose times at `hours` (and `minute`) of each day, from `now` backwards.
fn dose_times(
    now: Instant,
    hours: &'static [u32],
    minute: u32,
) -> impl Iterator<Item = Instant> + Clone {
    let zone = *now.offset();
    let today = now.date_naive();
    (0..40i64)
        .flat_map(move |back| {
            let day = today - Duration::days(back);
            hours.iter().rev().filter_map(move |h| {
                day.and_hms_opt(*h, minute, 0)?
                    .and_local_timezone(zone)
                    .single()
            })
        })
        .filter(move |t| *t <= now)
}

/// Lab results.
fn labs(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let index = c.index;
    let inpatient = c.inpatient;
    let base_updated = c.base_updated;
    // Labs: inpatients 2 draws of 8 tests; outpatients 1 draw of 5.
    let (draws, tests) = if inpatient { (2, 8) } else { (1, 5) };
    for d in 0..draws {
        let t = now
            - Duration::days(rng.range(0, 25) as i64)
            - Duration::hours(rng.range(3, 20) as i64);
        let first = rng.below(LABS.len() as u64) as usize;
        for j in 0..tests {
            let lab = &LABS[(first + j) % LABS.len()];
            let spec = lab_result(rng, format!("lab-{index}-{d}-{j}"), lab, t);
            p.labs.push(item(base_updated, spec));
        }
    }
}

/// Vital signs of an inpatient.
fn vitals(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let index = c.index;
    let inpatient = c.inpatient;
    let base_updated = c.base_updated;
    // Vitals (inpatients): every 8 h over the last 56 h, plus an old set outside the window.
    if inpatient {
        let offset = rng.below(60) as i64;
        let kinds = [
            VitalKind::BloodPressure,
            VitalKind::HeartRate,
            VitalKind::BodyTemperature,
            VitalKind::RespiratoryRate,
            VitalKind::OxygenSaturation,
        ];
        for (slot, h) in [1i64, 9, 17, 25, 33, 41, 49, 100].iter().enumerate() {
            let t = hours_ago(now, *h, offset);
            for (j, kind) in kinds.iter().enumerate() {
                p.vitals.push(item(
                    base_updated,
                    vital(rng, format!("vs-{index}-{slot}-{j}"), *kind, t),
                ));
            }
        }
        p.vitals.push(item(
            base_updated,
            vital(
                rng,
                format!("vs-{index}-w"),
                VitalKind::BodyWeight,
                hours_ago(now, 30, offset),
            ),
        ));
    }
}

/// Flags: DNR for some of the very old inpatients, isolation after a positive MRSA
/// screen, fall risk.
fn flags(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let index = c.index;
    let inpatient = c.inpatient;
    let base_updated = c.base_updated;
    let age_days = c.age_days;
    // Flags.
    let age_years = age_days / 365;
    if inpatient && age_years > 80 && rng.chance(0.4) {
        p.flags.push(item(
            base_updated,
            FlagSpec(Flag {
                id: format!("flg-{index}-dnr"),
                kind: FlagKind::Dnr,
                text: "DNR（心肺蘇生を行わない）".into(),
                start: Some(now - Duration::days(rng.range(1, 10) as i64)),
            }),
        ));
    }
    if p.infections
        .iter()
        .any(|i| i.v.m.positive && i.v.code.starts_with("6B010"))
    {
        p.flags.push(item(
            base_updated,
            FlagSpec(Flag {
                id: format!("flg-{index}-iso"),
                kind: FlagKind::Isolation,
                text: "接触感染予防策（MRSA）".into(),
                start: p.infections.iter().find_map(|i| i.v.m.time),
            }),
        ));
    }
    if inpatient && (age_years > 75 || rng.chance(0.15)) && rng.chance(0.6) {
        p.flags.push(item(
            base_updated,
            FlagSpec(Flag {
                id: format!("flg-{index}-fall"),
                kind: FlagKind::FallRisk,
                text: "転倒・転落リスク高".into(),
                start: Some(now - Duration::days(rng.range(0, 10) as i64)),
            }),
        ));
    }
}

/// Encounters: the current admission of an inpatient (in its bed), a finished visit.
fn encounters(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let index = c.index;
    let inpatient = c.inpatient;
    let base_updated = c.base_updated;
    let slot = c.slot;
    // Encounters.
    if let Some(slot) = slot {
        let (ward, room, bed) = bed_of(slot);
        p.encounters.push(item(
            base_updated,
            EncounterSpec(Encounter {
                id: format!("enc-{index}-0"),
                status: "in-progress".into(),
                class: Some("IMP".into()),
                ward: Some(ward),
                room: Some(room),
                bed: Some(bed),
                start: Some(
                    now - Duration::days(rng.range(1, 30) as i64)
                        - Duration::hours(rng.below(10) as i64),
                ),
                end: None,
                participants: Vec::new(),
                location_ids: Vec::new(),
            }),
        ));
    }
    if !inpatient || rng.chance(0.3) {
        // Mostly within the 90-day window for finished encounters; some far outside it.
        let days = if rng.chance(0.9) {
            rng.range(20, 80)
        } else {
            rng.range(150, 300)
        };
        let start = now - Duration::days(days as i64) - Duration::hours(rng.below(8) as i64);
        p.encounters.push(item(
            base_updated,
            EncounterSpec(Encounter {
                id: format!("enc-{index}-1"),
                status: "finished".into(),
                class: Some("AMB".into()),
                ward: None,
                room: None,
                bed: None,
                start: Some(start),
                end: Some(start + Duration::minutes(rng.range(15, 90) as i64)),
                participants: Vec::new(),
                location_ids: Vec::new(),
            }),
        ));
    }
}

/// Documents: referrals, discharge summaries, health checks.
fn documents(rng: &mut Rng, c: &Ctx, p: &mut PatientSpec) {
    let now = c.now;
    let index = c.index;
    let inpatient = c.inpatient;
    let xss = c.xss;
    let base_updated = c.base_updated;
    // Documents.
    let mut docs = vec![];
    if inpatient && rng.chance(0.35) {
        docs.push(DocumentKind::Referral);
    }
    if rng.chance(0.12) {
        docs.push(DocumentKind::DischargeSummary);
    }
    if rng.chance(0.1) {
        docs.push(DocumentKind::HealthCheck);
    }
    for (k, kind) in docs.into_iter().enumerate() {
        let (title, text) = document_text(kind, p, xss, rng);
        p.documents.push(item(
            base_updated,
            DocumentSpec(Document {
                id: format!("doc-{index}-{k}"),
                kind,
                title,
                date: Some(now - Duration::days(rng.range(2, 300) as i64)),
                text,
            }),
        ));
    }
}
