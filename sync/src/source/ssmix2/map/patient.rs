//! ADT-00: the patient (Patient, AL1 allergies, OBX height and weight).

use super::allergy::{allergy, AllergyFields};
use super::observation::vital_single;
use super::*;

/// ADT-00 (ADT^A08 update, ADT^A23 delete): Patient, AL1 allergies, OBX height/weight.
pub fn patient(msg: &Message, event: &str, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    let id = patient_id(cx.pid());
    if event == "A23" || event == "A29" {
        cx.out.push(Out::Delete {
            rtype: "Patient",
            id,
        });
        return Ok(());
    }
    let pid = msg.first("PID").expect("checked");
    patient_resource(cx, pid, id);
    al1_allergies(msg, cx);
    height_and_weight(msg, cx);
    Ok(())
}

/// A patient's names (family, given): the first written in kanji and the first in kana.
#[derive(Default)]
struct Names {
    kanji: Option<(String, String)>,
    kana: Option<(String, String)>,
}

/// PID-5: the name representation (XPN-8 `I` ideographic, `P` phonetic) tells kanji
/// from kana; without one, a name all in kana is the phonetic one.
fn names(pid: &Segment) -> Names {
    let mut names = Names::default();
    for rep in pid.reps(5) {
        let (family, given) = (rep.comp(1), rep.comp(2));
        if family.is_empty() && given.is_empty() {
            continue;
        }
        // Name representation: XPN-8 I/P; some writers shift it one component.
        let repr = [rep.comp(8), rep.comp(9), rep.comp(7)]
            .into_iter()
            .find(|c| c == "I" || c == "P" || c == "A");
        let is_kana = |s: &str| {
            s.chars().all(|c| {
                c.is_whitespace() || matches!(c, '\u{3040}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}')
            })
        };
        let phonetic = match repr.as_deref() {
            Some("P") => true,
            Some("I") => false,
            _ => is_kana(&family) && is_kana(&given),
        };
        let slot = if phonetic {
            &mut names.kana
        } else {
            &mut names.kanji
        };
        if slot.is_none() {
            *slot = Some((family.into_owned(), given.into_owned()));
        }
    }
    names
}

/// `"name"`: the kanji name (IDE) and the kana name (SYL), when there are any.
fn name_json(j: &mut Json, names: &Names) {
    if names.kanji.is_none() && names.kana.is_none() {
        return;
    }
    j.arr("name", |a| {
        for (n, code) in [(&names.kanji, "IDE"), (&names.kana, "SYL")] {
            if let Some((family, given)) = n {
                a.item(|o| {
                    o.arr("extension", |e| {
                        e.item(|x| {
                            x.str("url", EN_REPRESENTATION).str("valueCode", code);
                        });
                    })
                    .str("use", "official")
                    .str("text", format!("{family} {given}").trim())
                    .opt_str("family", Some(family));
                    if !given.is_empty() {
                        o.arr("given", |g| {
                            g.item_str(given);
                        });
                    }
                });
            }
        }
    });
}

/// The Patient of a PID: hospital ID, names, sex (PID-8), birth date (PID-7, partial
/// dates kept), death (PID-29 time, else PID-30 `Y`).
fn patient_resource(cx: &mut Ctx<'_>, pid: &Segment, id: String) {
    let names = names(pid);
    let birth = cx.time(pid, 7, 1);
    let sex = match pid.comp(8, 1).as_ref() {
        "M" => "male",
        "F" => "female",
        "O" => "other",
        _ => "unknown",
    };
    let death = cx.time(pid, 29, 1);
    let dead = pid.comp(30, 1) == "Y";
    let system = format!("{HOSPITAL_ID_SYSTEM}{}", cx.institution);
    let mut j = cx.resource("Patient", &id, "JP_Patient");
    j.arr("identifier", |a| {
        a.item(|i| {
            i.str("system", &system).str("value", cx.pid());
        });
    })
    .bool("active", true);
    name_json(&mut j, &names);
    j.str("gender", sex);
    if let Some(d) = birth.as_ref().and_then(Hl7Time::date) {
        j.str("birthDate", &d.format("%Y-%m-%d").to_string());
    } else if let Some(Hl7Time::Partial(p)) = &birth {
        j.str("birthDate", p);
    }
    if let Some(t) = death {
        j.str("deceasedDateTime", &t.fhir());
    } else if dead {
        j.bool("deceasedBoolean", true);
    }
    cx.upsert("Patient", id, j.finish());
}

/// AL1: allergies, often repeated in one message: keep the first of each.
fn al1_allergies(msg: &Message, cx: &mut Ctx<'_>) {
    let mut seen = std::collections::HashSet::new();
    for (n, seg) in msg.segments.iter().filter(|s| s.id == "AL1").enumerate() {
        let c = coded(seg, 3);
        let k = (seg.comp(2, 1), c.code.clone(), c.text.clone());
        if !seen.insert(k) {
            continue;
        }
        let id = rid(&[cx.pid(), "ADT-00", "AL1", &n.to_string()]);
        let a = AllergyFields {
            category: seg.comp(2, 1).into_owned(),
            substance: c,
            severity: seg.comp(4, 1).into_owned(),
            reactions: seg.reps(5).iter().map(|r| r.comp(1).into_owned()).collect(),
            onset: None,
            recorded: cx.time(seg, 6, 1),
            status: String::new(),
        };
        allergy(cx, id, a);
    }
}

/// OBX: height and weight as vital signs, measured at OBX-14 (else when the EHR
/// recorded the message).
fn height_and_weight(msg: &Message, cx: &mut Ctx<'_>) {
    let recorded = msg
        .first("EVN")
        .and_then(|e| time::parse(&e.comp(2, 1)).ok().flatten())
        .or_else(|| {
            msg.first("MSH")
                .and_then(|m| time::parse(&m.comp(7, 1)).ok().flatten())
        });
    for (n, seg) in msg.segments.iter().filter(|s| s.id == "OBX").enumerate() {
        let code = seg.comp(3, 1);
        if !(code.starts_with("9N001") || code.starts_with("9N006")) {
            continue;
        }
        let id = rid(&[cx.pid(), "ADT-00", "OBX", &n.to_string()]);
        let when = cx.time(seg, 14, 1).or_else(|| recorded.clone());
        vital_single(cx, seg, id, when);
    }
}
