//! Allergies: ADT-61 IAM segments and ADT-00 AL1 segments → AllergyIntolerance.

use super::*;

pub(super) struct AllergyFields<'a> {
    pub(super) category: String,
    pub(super) substance: Coded<'a>,
    pub(super) severity: String,
    pub(super) reactions: Vec<String>,
    pub(super) onset: Option<Hl7Time>,
    pub(super) recorded: Option<Hl7Time>,
    /// HL7 table 0438 (IAM-17): C confirmed, U unconfirmed, E erroneous, I inactive, …
    pub(super) status: String,
}

pub(super) fn allergy(cx: &mut Ctx<'_>, id: String, a: AllergyFields) {
    let category = match a.category.as_str() {
        "DA" | "MC" => Some("medication"),
        "FA" => Some("food"),
        "EA" | "LA" | "AA" | "PA" => Some("environment"),
        _ => None,
    };
    let (criticality, severity) = match a.severity.as_str() {
        "SV" => (Some("high"), Some("severe")),
        "MO" => (Some("low"), Some("moderate")),
        "MI" => (Some("low"), Some("mild")),
        "U" => (Some("unable-to-assess"), None),
        _ => (None, None),
    };
    let (clinical, verification) = match a.status.as_str() {
        "E" => ("active", "entered-in-error"),
        "C" | "" => ("active", if a.status.is_empty() { "" } else { "confirmed" }),
        "I" => ("inactive", "confirmed"),
        "U" | "P" | "S" | "D" => ("active", "unconfirmed"),
        _ => ("active", ""),
    };
    let subject = cx.subject();
    let mut j = cx.resource("AllergyIntolerance", &id, "JP_AllergyIntolerance");
    fixed_concept(
        &mut j,
        "clinicalStatus",
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
        clinical,
    );
    if !verification.is_empty() {
        fixed_concept(
            &mut j,
            "verificationStatus",
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
            verification,
        );
    }
    j.str("type", "allergy");
    if let Some(c) = category {
        j.arr("category", |a| {
            a.item_str(c);
        });
    }
    j.opt_str("criticality", criticality);
    concept(&mut j, "code", &a.substance);
    reference(&mut j, "patient", &subject);
    opt_time(&mut j, "onsetDateTime", a.onset.as_ref());
    opt_time(&mut j, "recordedDate", a.recorded.as_ref());
    let reactions: Vec<&String> = a.reactions.iter().filter(|r| !r.is_empty()).collect();
    if !reactions.is_empty() {
        j.arr("reaction", |arr| {
            arr.item(|r| {
                r.arr("manifestation", |m| {
                    for text in &reactions {
                        m.item(|x| {
                            x.str("text", text);
                        });
                    }
                })
                .opt_str("severity", severity);
            });
        });
    }
    cx.upsert("AllergyIntolerance", id, j.finish());
}

/// ADT-61 (ADT^A60): one AllergyIntolerance per IAM; the newest file is the patient's
/// whole list. IAM-6 `D` deletes; IAM-7 (the allergy's unique identifier) keeps ids
/// stable when the list changes, else the position does.
pub fn allergies(msg: &Message, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    for (n, seg) in msg.segments.iter().filter(|s| s.id == "IAM").enumerate() {
        let uid = seg.comp(7, 1);
        let id = instance_id(cx.pid(), "ADT-61", "IAM", &uid, n);
        if seg.comp(6, 1) == "D" {
            cx.out.push(Out::Delete {
                rtype: "AllergyIntolerance",
                id,
            });
            continue;
        }
        let substance = coded(seg, 3);
        if substance.code.is_empty() && substance.text.is_empty() {
            cx.warn(
                Place::field(seg, 3),
                "the allergen is empty; the allergy is shown without a substance",
            );
        }
        let a = AllergyFields {
            category: seg.comp(2, 1).into_owned(),
            substance,
            severity: seg.comp(4, 1).into_owned(),
            reactions: seg.reps(5).iter().map(|r| r.comp(1).into_owned()).collect(),
            onset: cx.time(seg, 11, 1),
            recorded: cx.time(seg, 13, 1),
            status: seg.comp(17, 1).into_owned(),
        };
        allergy(cx, id, a);
    }
    Ok(())
}
