//! Deltas: each item of a patient may be changed, deleted or marked entered-in-error,
//! and a few items are added; the changes are rendered as a source would deliver them.

use akari_sync::model::{Allergy, Criticality, Instant, VitalKind};
use chrono::Duration;

use super::catalog::{fmt_num, lab_result, vital, ALLERGENS, LABS};
use super::{
    AllergySpec, ConditionSpec, DocumentSpec, EncounterSpec, FlagSpec, InfectionSpec, Item,
    LabSpec, MarSpec, PatientSpec, RxSpec, VitalSpec,
};
use crate::synth::names::FAMILY;
use crate::synth::render::render_one;
use crate::synth::{DeltaChange, DeltaConfig, DeltaReport, Rng, SynthConfig};

/// What a delta may do to an item.
enum Op {
    Change,
    Delete,
    EnteredInError,
}

fn pick_op(rng: &mut Rng) -> Op {
    let x = rng.below(100);
    if x < 60 {
        Op::Change
    } else if x < 85 {
        Op::Delete
    } else {
        Op::EnteredInError
    }
}

/// Mutations a delta can make to each kind of item.
pub(crate) trait Mutate {
    fn mutate(&mut self, rng: &mut Rng, at: Instant);
}

impl Mutate for AllergySpec {
    fn mutate(&mut self, rng: &mut Rng, _at: Instant) {
        self.0.criticality = Some(if self.0.criticality == Some(Criticality::High) {
            Criticality::Low
        } else {
            Criticality::High
        });
        self.0
            .reactions
            .push(["嘔吐", "発疹", "血圧低下"][rng.below(3) as usize].into());
        self.0.verification_status = Some("confirmed".into());
    }
}
impl Mutate for ConditionSpec {
    fn mutate(&mut self, _rng: &mut Rng, _at: Instant) {
        self.0.clinical_status = Some(
            if self.0.clinical_status.as_deref() == Some("active") {
                "resolved"
            } else {
                "active"
            }
            .into(),
        );
    }
}
impl Mutate for InfectionSpec {
    fn mutate(&mut self, _rng: &mut Rng, at: Instant) {
        self.m.positive = !self.m.positive;
        self.m.result = if self.m.positive {
            "陽性 (+)"
        } else {
            "陰性 (-)"
        }
        .into();
        self.interpretation = if self.m.positive { "POS" } else { "NEG" };
        self.m.time = Some(at - Duration::hours(1));
    }
}
impl Mutate for RxSpec {
    fn mutate(&mut self, _rng: &mut Rng, at: Instant) {
        self.m.status = if self.m.status == "active" {
            "stopped"
        } else {
            "active"
        }
        .into();
        self.m.period_end = Some(at);
    }
}
impl Mutate for MarSpec {
    fn mutate(&mut self, _rng: &mut Rng, _at: Instant) {
        self.m.status = if self.m.status == "completed" {
            "not-done"
        } else {
            "completed"
        }
        .into();
    }
}
impl Mutate for LabSpec {
    fn mutate(&mut self, rng: &mut Rng, _at: Instant) {
        // A corrected result: new value, same test.
        let v: f64 = self.m.value.parse().unwrap_or(1.0);
        let nv = fmt_num(v + 1.0 + rng.below(20) as f64, 0);
        self.m.value = nv;
        let hi: f64 = self.high.parse().unwrap_or(f64::MAX);
        let lo: f64 = self.low.parse().unwrap_or(0.0);
        let vv: f64 = self.m.value.parse().unwrap_or(0.0);
        let w = (hi - lo).max(0.1);
        self.m.interpretation = Some(
            if vv > hi + 2.0 * w {
                "HH"
            } else if vv > hi {
                "H"
            } else if vv < lo {
                "L"
            } else {
                "N"
            }
            .into(),
        );
    }
}
impl Mutate for VitalSpec {
    fn mutate(&mut self, rng: &mut Rng, _at: Instant) {
        let id = self.m.id.clone();
        let time = self.m.time;
        *self = vital(rng, id, self.m.kind, time);
    }
}
impl Mutate for FlagSpec {
    fn mutate(&mut self, _rng: &mut Rng, _at: Instant) {
        self.0.text.push_str("（再評価済）");
    }
}
impl Mutate for EncounterSpec {
    fn mutate(&mut self, rng: &mut Rng, _at: Instant) {
        if self.0.bed.is_some() {
            self.0.bed = Some(((rng.below(4)) + 1).to_string());
        } else {
            self.0.class = Some("EMER".into());
        }
    }
}
impl Mutate for DocumentSpec {
    fn mutate(&mut self, _rng: &mut Rng, _at: Instant) {
        self.0.text.push_str("\n追記: 内容を修正しました。");
    }
}

fn delta_list<T: Mutate + Clone>(
    list: &mut Vec<Item<T>>,
    rng: &mut Rng,
    d: &DeltaConfig,
    changed: &mut Vec<usize>,
    deleted: &mut Vec<Item<T>>,
    report: &mut DeltaReport,
) {
    let mut i = 0;
    while i < list.len() {
        if list[i].entered_in_error || !rng.chance(d.fraction) {
            i += 1;
            continue;
        }
        match pick_op(rng) {
            Op::Change => {
                list[i].v.mutate(rng, d.at);
                list[i].last_updated = d.at;
                changed.push(i);
                report.changed += 1;
                i += 1;
            }
            Op::EnteredInError => {
                list[i].entered_in_error = true;
                list[i].last_updated = d.at;
                changed.push(i);
                report.entered_in_error += 1;
                i += 1;
            }
            Op::Delete => {
                deleted.push(list.remove(i));
                // Indices after i shift down by one.
                for c in changed.iter_mut() {
                    if *c > i {
                        *c -= 1;
                    }
                }
                report.deleted += 1;
            }
        }
    }
}

/// Apply `d` to one patient: mutate its spec and append the resulting changes.
pub(crate) fn apply_delta(
    p: &mut PatientSpec,
    cfg: &SynthConfig,
    d: &DeltaConfig,
    report: &mut DeltaReport,
) {
    let mut rng = Rng::for_patient(cfg.seed ^ d.seed.wrapping_mul(0x9e37), p.index, 1 + d.seed);
    let before = report.changes.len();
    let mut upserts: Vec<crate::synth::Resource> = vec![];
    let mut deletes: Vec<(&'static str, String)> = vec![];

    // The patient itself: a rare name change (e.g. marriage) or kana correction.
    if rng.chance(d.fraction) {
        let (fam_k, fam_kana) = *rng.pick(FAMILY);
        p.family_kanji = fam_k.into();
        p.family_kana = fam_kana.into();
        p.given_kana = p.given_kana.clone();
        p.last_updated = d.at;
        report.changed += 1;
        upserts.push(crate::synth::render::render_patient(p, cfg));
    }

    macro_rules! run {
        ($field:ident, $ty:literal) => {{
            let mut changed = vec![];
            let mut deleted = vec![];
            delta_list(
                &mut p.$field,
                &mut rng,
                d,
                &mut changed,
                &mut deleted,
                report,
            );
            for i in changed {
                upserts.push(render_one(p, &p.$field[i], cfg));
            }
            for it in deleted {
                let id = crate::synth::render::Render::id(&it.v).to_string();
                if $ty == "AllergyIntolerance" {
                    report
                        .deleted_allergies
                        .push((p.hospital_id.clone(), id.clone()));
                }
                deletes.push(($ty, id));
            }
        }};
    }
    run!(allergies, "AllergyIntolerance");
    run!(conditions, "Condition");
    run!(infections, "Observation");
    run!(prescriptions, "MedicationRequest");
    run!(administrations, "MedicationAdministration");
    run!(labs, "Observation");
    run!(vitals, "Observation");
    run!(flags, "Flag");
    run!(encounters, "Encounter");
    run!(documents, "DocumentReference");

    // Additions: about a quarter as many as the changes.
    let add_p = (d.fraction * 10.0).min(1.0);
    if rng.chance(add_p) {
        upserts.push(add_item(p, &mut rng, cfg, d));
        report.added += 1;
    }

    for r in upserts {
        report.changes.push(DeltaChange::Upsert(r));
    }
    for (resource_type, id) in deletes {
        report
            .changes
            .push(DeltaChange::Delete { resource_type, id });
    }
    if report.changes.len() > before {
        report.touched_patients.insert(p.hospital_id.clone());
    }
}

/// Add one new item (an allergy, a lab result or a heart rate) to `p`; returns it rendered.
fn add_item(
    p: &mut PatientSpec,
    rng: &mut Rng,
    cfg: &SynthConfig,
    d: &DeltaConfig,
) -> crate::synth::Resource {
    let n = p.next_item;
    p.next_item += 1;
    let tag = format!("d{}n{}", d.seed, n);
    match rng.below(3) {
        0 => {
            let (sub, cat, reaction, crit) = *rng.pick(ALLERGENS);
            p.allergies.push(Item {
                v: AllergySpec(Allergy {
                    id: format!("alg-{}-{tag}", p.index),
                    substance: sub.into(),
                    categories: vec![cat.into()],
                    criticality: Some(crit),
                    clinical_status: Some("active".into()),
                    verification_status: Some("confirmed".into()),
                    reactions: vec![reaction.into()],
                    recorded: Some(d.at - Duration::minutes(30)),
                    severity: None,
                    none_known: false,
                }),
                last_updated: d.at,
                entered_in_error: false,
            });
            let last = p.allergies.len() - 1;
            render_one(p, &p.allergies[last], cfg)
        }
        1 => {
            let lab = &LABS[rng.below(LABS.len() as u64) as usize];
            let spec = lab_result(
                rng,
                format!("lab-{}-{tag}", p.index),
                lab,
                d.at - Duration::hours(1),
            );
            p.labs.push(Item {
                v: spec,
                last_updated: d.at,
                entered_in_error: false,
            });
            let last = p.labs.len() - 1;
            render_one(p, &p.labs[last], cfg)
        }
        _ => {
            let spec = vital(
                rng,
                format!("vs-{}-{tag}", p.index),
                VitalKind::HeartRate,
                d.at - Duration::minutes(20),
            );
            p.vitals.push(Item {
                v: spec,
                last_updated: d.at,
                entered_in_error: false,
            });
            let last = p.vitals.len() - 1;
            render_one(p, &p.vitals[last], cfg)
        }
    }
}
