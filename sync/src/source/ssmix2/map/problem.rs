//! PPR-01: problems (PRB) → Condition.

use super::*;

/// PPR-01 (PPR^ZD1): one Condition per PRB. PRB-1 `DE` is an entry in error; PRB-4 is
/// the stable instance key; PRB-9 / PRB-14 `F` resolved; PRB-13 suspected (疑い).
pub fn problems(msg: &Message, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    for (n, seg) in msg.segments.iter().filter(|s| s.id == "PRB").enumerate() {
        let instance = seg.comp(4, 1);
        let id = if instance.is_empty() {
            rid(&[cx.pid(), "PPR-01", "PRB#", &n.to_string()])
        } else {
            rid(&[cx.pid(), "PPR-01", "PRB", &instance])
        };
        let action = seg.comp(1, 1);
        let medis = coded(seg, 3);
        let icd = seg.rep(10);
        let (icd_code, icd_text) = (icd.comp(1), icd.comp(2));
        let resolved_at = cx.time(seg, 9, 1);
        let outcome = seg.comp(14, 1);
        let clinical = if resolved_at.is_some() || outcome == "F" {
            "resolved"
        } else if outcome == "D" {
            "inactive"
        } else {
            "active"
        };
        let confirmation = seg.rep(13);
        let suspected = matches!(confirmation.comp(1).as_str(), "S" | "1")
            || confirmation.comp(2).contains('疑');
        let verification = if action == "DE" {
            "entered-in-error"
        } else if suspected {
            "provisional"
        } else {
            "confirmed"
        };
        let mut text = if medis.text.is_empty() {
            icd_text.clone()
        } else {
            medis.text.clone()
        };
        if text.is_empty() {
            text = seg.comp(17, 1);
        }
        if suspected && !text.contains('疑') && !text.is_empty() {
            text.push_str("の疑い");
        }
        let recorded = cx.time(seg, 7, 1);
        let onset = cx.time(seg, 16, 1);
        let subject = cx.subject();
        let mut j = cx.resource("Condition", &id, "JP_Condition");
        if !instance.is_empty() {
            j.arr("identifier", |a| {
                a.item(|i| {
                    i.str("value", &instance);
                });
            });
        }
        j.obj("clinicalStatus", |c| {
            c.arr("coding", |a| {
                a.item(|x| {
                    x.str(
                        "system",
                        "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    )
                    .str("code", clinical);
                });
            });
        })
        .obj("verificationStatus", |c| {
            c.arr("coding", |a| {
                a.item(|x| {
                    x.str(
                        "system",
                        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    )
                    .str("code", verification);
                });
            });
        })
        .arr("category", |a| {
            a.item(|c| {
                c.arr("coding", |cc| {
                    cc.item(|x| {
                        x.str(
                            "system",
                            "http://terminology.hl7.org/CodeSystem/condition-category",
                        )
                        .str("code", "problem-list-item");
                    });
                });
            });
        })
        .obj("code", |c| {
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
        })
        .obj("subject", |s| {
            s.str("reference", &subject);
        });
        if let Some(t) = &onset {
            j.str("onsetDateTime", &t.fhir());
        }
        if let Some(t) = &resolved_at {
            j.str("abatementDateTime", &t.fhir());
        }
        if let Some(t) = &recorded {
            j.str("recordedDate", &t.fhir());
        }
        cx.upsert("Condition", id, j.finish());
    }
    Ok(())
}
