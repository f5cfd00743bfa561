//! Observations: OML-11 lab results and extended-storage vital signs → Observation.

use super::*;

/// Normalise a range or value the way laboratories write it with full-width signs.
fn ascii_signs(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '～' | '〜' => '-',
            '－' | '−' => '-',
            '＜' => '<',
            '＞' => '>',
            '．' => '.',
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            c => c,
        })
        .collect()
}

/// The non-empty first components of the repetitions of field `n`.
fn first_components(seg: &Segment, n: usize) -> Vec<String> {
    seg.reps(n)
        .iter()
        .map(|r| r.comp(1).into_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// OBX-5 by OBX-2 → the value[x] of an Observation; `false` when OBX-5 is empty.
fn obx_value(j: &mut Json, seg: &Segment, notes: &mut Vec<Note>) -> bool {
    let vt = seg.comp(2, 1);
    let unit = coded(seg, 6);
    let unit_text = unit.text_or_code();
    let values = first_components(seg, 5);
    let raw = seg.rep(5);
    if raw.is_empty() {
        return false;
    }
    match vt.as_ref() {
        "NM" => numeric_value(j, seg, &values, unit_text, notes),
        "SN" => structured_numeric_value(j, &raw, unit_text),
        "CWE" | "CE" | "CNE" | "CF" => {
            let c = Coded {
                code: raw.comp(1),
                text: raw.comp(2),
                system: raw.comp(3),
                alt: None,
            };
            concept(j, "valueCodeableConcept", &c);
        }
        _ => {
            let mut text = values.join(" ");
            if !unit_text.is_empty() && vt != "TX" && vt != "FT" {
                text.push(' ');
                text.push_str(unit_text);
            }
            j.str("valueString", &text);
        }
    }
    true
}

/// `"valueQuantity": {value, comparator, unit}`.
fn value_quantity(j: &mut Json, comparator: Option<&str>, num: &str, unit: &str) {
    j.obj("valueQuantity", |q| {
        q.num("value", num)
            .opt_str("comparator", comparator)
            .opt_str("unit", Some(unit));
    });
}

/// An NM value (full-width signs allowed, a leading comparator kept); one that is not
/// a number is a warning and shown as text.
fn numeric_value(
    j: &mut Json,
    seg: &Segment,
    values: &[String],
    unit: &str,
    notes: &mut Vec<Note>,
) {
    let v = ascii_signs(&values.join(""));
    if let Some(n) = json_number(&v) {
        value_quantity(j, None, &n, unit);
        return;
    }
    for c in ["<=", ">=", "<", ">"] {
        if let Some(n) = v.strip_prefix(c).and_then(json_number) {
            value_quantity(j, Some(c), &n, unit);
            return;
        }
    }
    notes.push(Note::new(
        Place::field(seg, 5),
        "is not a number although OBX-2 says NM; shown as text",
    ));
    j.str("valueString", &values.join(" "));
}

/// An SN value (comparator ^ number ^ separator ^ number): a quantity when it is one
/// number, else the text as written.
fn structured_numeric_value(j: &mut Json, raw: &Rep, unit: &str) {
    let (cmp, n1, sep, n2) = (raw.comp(1), raw.comp(2), raw.comp(3), raw.comp(4));
    if sep.is_empty() && n2.is_empty() {
        if let Some(n) = json_number(&n1) {
            let c = match cmp.as_ref() {
                "<" | ">" | "<=" | ">=" => Some(cmp.as_ref()),
                _ => None,
            };
            value_quantity(j, c, &n, unit);
            return;
        }
    }
    let mut text = format!("{cmp}{n1}{sep}{n2}");
    if !unit.is_empty() {
        text.push(' ');
        text.push_str(unit);
    }
    j.str("valueString", &text);
}

fn obx_status(seg: &Segment) -> &'static str {
    match seg.comp(11, 1).as_ref() {
        "C" => "corrected",
        "P" | "R" | "S" | "I" | "O" => "preliminary",
        "D" | "W" => "entered-in-error",
        "X" => "cancelled",
        _ => "final",
    }
}

fn reference_range(j: &mut Json, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    let norm = ascii_signs(text);
    let bounds = norm
        .split_once('-')
        .and_then(|(a, b)| Some((json_number(a)?, json_number(b)?)));
    j.arr("referenceRange", |a| {
        a.item(|r| {
            if let Some((lo, hi)) = &bounds {
                r.obj("low", |q| {
                    q.num("value", lo);
                })
                .obj("high", |q| {
                    q.num("value", hi);
                });
            } else {
                // Only when the limits are not numbers: the text would repeat them.
                r.str("text", text.trim());
            }
        });
    });
}

fn interpretation(j: &mut Json, seg: &Segment) {
    let flags = first_components(seg, 8);
    if flags.is_empty() {
        return;
    }
    j.arr("interpretation", |a| {
        for f in &flags {
            a.item(|i| one_coding(i, INTERPRETATION, f));
        }
    });
}

fn observation_code(j: &mut Json, seg: &Segment, loinc: Option<(&str, &str)>) {
    let c = coded(seg, 3);
    let text = if c.text.is_empty() {
        c.alt
            .as_ref()
            .map(|a| a.1.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or(c.code.clone())
    } else {
        c.text.clone()
    };
    j.obj("code", |o| {
        o.arr("coding", |a| {
            if let Some((code, display)) = loinc {
                a.item(|x| {
                    x.str("system", LOINC)
                        .str("code", code)
                        .str("display", display);
                });
            }
            coding(a, &c.code, &c.text, &c.system);
            if let Some((code, text, sys)) = &c.alt {
                coding(a, code, text, sys);
            }
        })
        .opt_str("text", Some(&text));
    });
}

/// OML-11 (OUL^R22): one Observation (laboratory) per result OBX. Time: OBX-14, else
/// the specimen's collection time (SPM-17), else the observation time (OBR-7), else the
/// storage date.
pub fn lab_results(msg: &Message, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    let mut spm_index = 0usize;
    let mut obx_in_spm = 0usize;
    let mut spm_time: Option<Hl7Time> = None;
    let mut obr_time: Option<Hl7Time> = None;
    let mut in_result = false;
    let mut any = false;
    let folder_date = super::super::layout::parse_date(&cx.key().date).map(Hl7Time::Date);
    for seg in &msg.segments {
        match seg.id {
            "SPM" => {
                spm_index += 1;
                obx_in_spm = 0;
                spm_time = cx.time(seg, 17, 1);
                obr_time = None;
                in_result = false;
            }
            "OBR" => {
                obr_time = cx.time(seg, 7, 1);
                in_result = true;
            }
            "OBX" if in_result || spm_index == 0 => {
                any = true;
                let id = cx.position_id(&[spm_index, obx_in_spm]);
                obx_in_spm += 1;
                if seg.comp(3, 1).is_empty() && seg.comp(3, 2).is_empty() {
                    cx.warn(
                        Place::field(seg, 3),
                        "the test code is empty; the result is not shown",
                    );
                    continue;
                }
                let when = cx
                    .time(seg, 14, 1)
                    .or_else(|| spm_time.clone())
                    .or_else(|| obr_time.clone())
                    .or_else(|| folder_date.clone());
                lab_result(cx, seg, id, when);
            }
            "OBX" => {
                // Specimen observations (under SPM, before OBR) are not results.
                obx_in_spm += 1;
            }
            _ => {}
        }
    }
    found(
        any,
        "the lab result message has no OBX result under an OBR (truncated file?)",
    )
}

/// The laboratory Observation of one result OBX; an empty OBX-5 is "結果なし".
fn lab_result(cx: &mut Ctx<'_>, seg: &Segment, id: String, when: Option<Hl7Time>) {
    let subject = cx.subject();
    let mut j = cx.resource("Observation", &id, "JP_Observation_LabResult");
    j.str("status", obx_status(seg));
    category(&mut j, OBS_CATEGORY, "laboratory");
    observation_code(&mut j, seg, None);
    reference(&mut j, "subject", &subject);
    opt_time(&mut j, "effectiveDateTime", when.as_ref());
    let mut notes = Vec::new();
    if !obx_value(&mut j, seg, &mut notes) {
        j.obj("dataAbsentReason", |d| {
            d.str("text", "結果なし");
        });
    }
    cx.notes.extend(notes);
    interpretation(&mut j, seg);
    reference_range(&mut j, &seg.text(7));
    cx.upsert("Observation", id, j.finish());
}

/// What a vital-sign OBX measures: (LOINC code, display, kind key for pairing).
fn vital_loinc(code: &str, system: &str) -> Option<(&'static str, &'static str)> {
    if system == "LN" {
        return Some(match code {
            "8480-6" => ("8480-6", "収縮期血圧"),
            "8462-4" => ("8462-4", "拡張期血圧"),
            "8867-4" => ("8867-4", "心拍数"),
            "8310-5" => ("8310-5", "体温"),
            "9279-1" => ("9279-1", "呼吸数"),
            "2708-6" | "59408-5" => ("2708-6", "SpO2"),
            "29463-7" => ("29463-7", "体重"),
            "8302-2" => ("8302-2", "身長"),
            _ => return None,
        });
    }
    let p = code.get(..4)?;
    Some(match p {
        "9A75" => ("8480-6", "収縮期血圧"),
        "9A76" => ("8462-4", "拡張期血圧"),
        "9P30" | "9P31" | "9P32" | "9P33" | "9P34" | "9P35" | "9P36" | "9P37" | "9P38" => {
            ("8867-4", "心拍数")
        }
        "9P10" | "9P11" | "9P12" | "9P15" | "9P16" | "9P17" => ("8310-5", "体温"),
        "9P20" | "9P21" | "9P22" => ("9279-1", "呼吸数"),
        "9N00" if code.starts_with("9N006") => ("29463-7", "体重"),
        "9N00" if code.starts_with("9N001") => ("8302-2", "身長"),
        _ => return None,
    })
}

pub(super) fn vital_single(cx: &mut Ctx<'_>, seg: &Segment, id: String, when: Option<Hl7Time>) {
    let c = coded(seg, 3);
    let loinc = vital_loinc(&c.code, &c.system);
    let subject = cx.subject();
    let mut j = cx.resource("Observation", &id, "JP_Observation_VitalSigns");
    j.str("status", obx_status(seg));
    category(&mut j, OBS_CATEGORY, "vital-signs");
    observation_code(&mut j, seg, loinc.filter(|_| c.system != "LN"));
    reference(&mut j, "subject", &subject);
    opt_time(&mut j, "effectiveDateTime", when.as_ref());
    let mut notes = Vec::new();
    obx_value(&mut j, seg, &mut notes);
    cx.notes.extend(notes);
    interpretation(&mut j, seg);
    cx.upsert("Observation", id, j.finish());
}

/// Extended storage vital signs (ORU^R30): one Observation (vital-signs, LOINC + JLAC10)
/// per OBX; a systolic and a diastolic pressure taken at the same time become one
/// blood-pressure Observation with two components.
pub fn vitals(msg: &Message, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    let obx: Vec<&Segment> = msg.segments.iter().filter(|s| s.id == "OBX").collect();
    found(
        !obx.is_empty(),
        "the vital-sign message has no OBX segment (truncated file?)",
    )?;
    let obr_time = msg
        .first("OBR")
        .and_then(|o| time::parse(&o.comp(7, 1)).ok().flatten());
    let mut used = vec![false; obx.len()];
    for i in 0..obx.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let seg = obx[i];
        let when = cx.time(seg, 14, 1).or_else(|| obr_time.clone());
        let id = cx.position_id(&[i]);
        let kind = vital_kind(seg);
        let Some(m) = pressure_partner(&obx, &used, seg, kind) else {
            vital_single(cx, seg, id, when);
            continue;
        };
        used[m] = true;
        let (sys, dia) = if kind == Some("8480-6") {
            (seg, obx[m])
        } else {
            (obx[m], seg)
        };
        blood_pressure(cx, [sys, dia], id, when);
    }
    Ok(())
}

/// The LOINC code of what a vital-sign OBX measures.
fn vital_kind(seg: &Segment) -> Option<&'static str> {
    let c = coded(seg, 3);
    vital_loinc(&c.code, &c.system).map(|l| l.0)
}

/// For a systolic (diastolic) pressure, the first unused diastolic (systolic) one taken
/// at the same time (OBX-14).
fn pressure_partner(
    obx: &[&Segment],
    used: &[bool],
    seg: &Segment,
    kind: Option<&str>,
) -> Option<usize> {
    let partner = match kind {
        Some("8480-6") => "8462-4",
        Some("8462-4") => "8480-6",
        _ => return None,
    };
    (0..obx.len()).find(|&m| {
        !used[m] && vital_kind(obx[m]) == Some(partner) && obx[m].comp(14, 1) == seg.comp(14, 1)
    })
}

/// One blood-pressure Observation (LOINC 85354-9) with the systolic and the diastolic
/// pressure as components; its status is the systolic OBX's.
fn blood_pressure(cx: &mut Ctx<'_>, [sys, dia]: [&Segment; 2], id: String, when: Option<Hl7Time>) {
    let subject = cx.subject();
    let mut j = cx.resource("Observation", &id, "JP_Observation_VitalSigns");
    j.str("status", obx_status(sys));
    category(&mut j, OBS_CATEGORY, "vital-signs");
    j.obj("code", |o| {
        o.arr("coding", |a| {
            a.item(|x| {
                x.str("system", LOINC)
                    .str("code", "85354-9")
                    .str("display", "血圧");
            });
        })
        .str("text", "血圧");
    });
    reference(&mut j, "subject", &subject);
    opt_time(&mut j, "effectiveDateTime", when.as_ref());
    let mut notes = Vec::new();
    j.arr("component", |a| {
        for (s, code, name) in [(sys, "8480-6", "収縮期血圧"), (dia, "8462-4", "拡張期血圧")]
        {
            a.item(|comp| {
                comp.obj("code", |o| {
                    o.arr("coding", |cc| {
                        cc.item(|x| {
                            x.str("system", LOINC)
                                .str("code", code)
                                .str("display", name);
                        });
                        let c = coded(s, 3);
                        coding(cc, &c.code, &c.text, &c.system);
                    });
                });
                obx_value(comp, s, &mut notes);
            });
        }
    });
    cx.notes.extend(notes);
    cx.upsert("Observation", id, j.finish());
}
