//! PPR-01: problems (PRB) → Condition.

use super::*;

/// PPR-01 (PPR^ZD1): one Condition per PRB. PRB-1 `DE` is an entry in error; PRB-4 is
/// the stable instance key; PRB-9 / PRB-14 `F` resolved; PRB-13 suspected (疑い).
pub fn problems(msg: &Message, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    for (n, seg) in msg.segments.iter().filter(|s| s.id == "PRB").enumerate() {
        let instance = seg.comp(4, 1);
        let id = instance_id(cx.pid(), "PPR-01", "PRB", &instance, n);
        condition(cx, seg, id, &instance);
    }
    Ok(())
}

/// A problem's clinical and verification status.
struct ProblemStatus {
    clinical: &'static str,
    verification: &'static str,
    /// PRB-13 says suspected (疑い).
    suspected: bool,
}

/// Resolved (PRB-9 resolution time or PRB-14 `F`), inactive (PRB-14 `D`) or active;
/// PRB-1 `DE` entered in error, PRB-13 suspected provisional, else confirmed.
fn problem_status(seg: &Segment, resolved: bool) -> ProblemStatus {
    let outcome = seg.comp(14, 1);
    let clinical = if resolved || outcome == "F" {
        "resolved"
    } else if outcome == "D" {
        "inactive"
    } else {
        "active"
    };
    let confirmation = seg.rep(13);
    let suspected =
        matches!(confirmation.comp(1).as_ref(), "S" | "1") || confirmation.comp(2).contains('疑');
    let verification = if seg.comp(1, 1) == "DE" {
        "entered-in-error"
    } else if suspected {
        "provisional"
    } else {
        "confirmed"
    };
    ProblemStatus {
        clinical,
        verification,
        suspected,
    }
}

/// The problem's name: the MEDIS name (PRB-3), else the ICD-10 name, else PRB-17; a
/// suspected problem is named "…の疑い".
fn problem_text(seg: &Segment, medis: &Coded, icd_text: &str, suspected: bool) -> String {
    let mut text = if medis.text.is_empty() {
        icd_text.to_string()
    } else {
        medis.text.to_string()
    };
    if text.is_empty() {
        text = seg.comp(17, 1).into_owned();
    }
    if suspected && !text.contains('疑') && !text.is_empty() {
        text.push_str("の疑い");
    }
    text
}

/// The Condition of one PRB (code: ICD-10 from PRB-10, MEDIS from PRB-3).
fn condition(cx: &mut Ctx<'_>, seg: &Segment, id: String, instance: &str) {
    let medis = coded(seg, 3);
    let icd = seg.rep(10);
    let (icd_code, icd_text) = (icd.comp(1), icd.comp(2));
    let resolved_at = cx.time(seg, 9, 1);
    let status = problem_status(seg, resolved_at.is_some());
    let text = problem_text(seg, &medis, &icd_text, status.suspected);
    let recorded = cx.time(seg, 7, 1);
    let onset = cx.time(seg, 16, 1);
    let subject = cx.subject();
    let mut j = cx.resource("Condition", &id, "JP_Condition");
    if !instance.is_empty() {
        j.arr("identifier", |a| {
            a.item(|i| {
                i.str("value", instance);
            });
        });
    }
    fixed_concept(
        &mut j,
        "clinicalStatus",
        "http://terminology.hl7.org/CodeSystem/condition-clinical",
        status.clinical,
    );
    fixed_concept(
        &mut j,
        "verificationStatus",
        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        status.verification,
    );
    category(
        &mut j,
        "http://terminology.hl7.org/CodeSystem/condition-category",
        "problem-list-item",
    );
    j.obj("code", |c| {
        c.arr("coding", |a| {
            if !icd_code.is_empty() {
                a.item(|x| {
                    x.str("system", ICD10)
                        .str("code", &icd_code)
                        .opt_str("display", Some(&icd_text));
                });
            }
            coding(a, &medis.code, &medis.text, &medis.system);
        })
        .opt_str("text", Some(&text));
    });
    reference(&mut j, "subject", &subject);
    opt_time(&mut j, "onsetDateTime", onset.as_ref());
    opt_time(&mut j, "abatementDateTime", resolved_at.as_ref());
    opt_time(&mut j, "recordedDate", recorded.as_ref());
    cx.upsert("Condition", id, j.finish());
}
