//! HL7 v2.5 (SS-MIX2) messages → FHIR R4 JSON in JP Core shape, the same JSON a FHIR
//! source delivers, so every source shares one mapping into the minimal record.
//!
//! Resource ids are derived from the SS-MIX2 key and the position (or the stable
//! instance identifier) inside the message, so a newer version of a key replaces what
//! the older one produced, and what the older one produced beyond it can be deleted.
//! Ids are hashes: they carry no patient ID into URLs or logs.

use sha2::{Digest, Sha256};

use super::er7::{Message, Note, Place, Segment};
use super::json::{json_number, Json};
use super::layout::{FileName, Key};
use super::time::{self, Hl7Time};

pub const JLAC10: &str = "urn:oid:1.2.392.200119.4.504";
const HOT9: &str = "urn:oid:1.2.392.200119.4.403.1";
const HOT13: &str = "urn:oid:1.2.392.200119.4.402.1";
const YJ: &str = "urn:oid:1.2.392.100495.20.2.74";
const JAMI_USAGE: &str = "urn:oid:1.2.392.200250.2.2.20.20";
const MERIT9_UNIT: &str = "urn:oid:1.2.392.100495.20.2.101";
const MEDIS_DISEASE: &str = "urn:oid:1.2.392.200119.4.101.6";
const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
const LOINC: &str = "http://loinc.org";
const V2_ROUTE: &str = "http://terminology.hl7.org/CodeSystem/v2-0162";
const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const EN_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
const PERIOD_OF_USE: &str =
    "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_MedicationDosage_PeriodOfUse";
/// The hospital patient ID system of JP Core; the 10-digit institution code follows.
pub const HOSPITAL_ID_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.1";

/// What converting one message gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Upsert {
        rtype: &'static str,
        id: String,
        json: Vec<u8>,
    },
    Delete {
        rtype: &'static str,
        id: String,
    },
}

impl Out {
    pub fn id(&self) -> (&'static str, &str) {
        match self {
            Out::Upsert { rtype, id, .. } | Out::Delete { rtype, id } => (rtype, id),
        }
    }
}

/// A resource id from the parts of an SS-MIX2 key: `s2-` and 32 hex digits of SHA-256.
pub fn rid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    let d = h.finalize();
    format!("s2-{}", hex::encode(&d[..16]))
}

pub fn patient_id(pid: &str) -> String {
    rid(&["patient", pid])
}

/// Everything a conversion needs besides the message.
pub struct Ctx<'a> {
    pub name: &'a FileName,
    /// 10-digit institution code for the hospital patient ID system ("" if unknown).
    pub institution: &'a str,
    pub notes: &'a mut Vec<Note>,
    pub out: &'a mut Vec<Out>,
}

/// A reason the whole file cannot be used.
pub type Fatal = Note;

impl Ctx<'_> {
    fn key(&self) -> &Key {
        &self.name.key
    }
    fn pid(&self) -> &str {
        &self.name.key.pid
    }
    fn subject(&self) -> String {
        format!("Patient/{}", patient_id(self.pid()))
    }
    fn warn(&mut self, place: Place, what: impl Into<String>) {
        self.notes.push(Note::new(place, what));
    }
    /// An HL7 time field; a malformed one is a warning and reads as unknown.
    fn time(&mut self, seg: &Segment, n: usize, c: usize) -> Option<Hl7Time> {
        let raw = seg.comp(n, c);
        match time::parse(&raw) {
            Ok(t) => t,
            Err(_) => {
                self.warn(
                    Place::field(seg, n),
                    "is not a valid HL7 time; the time is shown as unknown",
                );
                None
            }
        }
    }
    fn upsert(&mut self, rtype: &'static str, id: String, json: Vec<u8>) {
        self.out.push(Out::Upsert { rtype, id, json });
    }
    fn resource(&self, rtype: &str, id: &str, profile: &str) -> Json {
        let mut j = Json::object();
        j.str("resourceType", rtype).str("id", id).obj("meta", |m| {
            m.arr("profile", |a| {
                a.item_str(&format!(
                    "http://jpfhir.jp/fhir/core/StructureDefinition/{profile}"
                ));
            });
        });
        j
    }
}

/// The patient ID check every message passes: PID-3 must name the patient whose folder
/// holds the file (data filed under the wrong patient must never be shown).
pub fn check_patient(msg: &Message, pid: &str) -> Result<(), Fatal> {
    let Some(seg) = msg.first("PID") else {
        return Err(Note::new(
            Place::none(),
            "the message has no PID segment, so it cannot be tied to a patient",
        ));
    };
    let ids: Vec<String> = seg
        .reps(3)
        .iter()
        .map(|r| r.comp(1))
        .chain(std::iter::once(seg.comp(2, 1)))
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(Note::new(
            Place::field(seg, 3),
            "the patient ID is empty (truncated or incomplete PID segment)",
        ));
    }
    if !ids.iter().any(|i| i.trim() == pid) {
        return Err(Note::new(
            Place::field(seg, 3),
            "names a different patient than the storage folder the file is in; the file was not used",
        ));
    }
    Ok(())
}

/// MSH-9 must be a message that belongs in the data type folder.
pub fn check_message_type(msg: &Message, data_type: &str) -> Result<(String, String), Fatal> {
    let (t, e) = msg.message_type();
    let ok = match data_type {
        "ADT-00" | "ADT-12" | "ADT-22" | "ADT-42" | "ADT-52" | "ADT-61" => t == "ADT",
        "PPR-01" => t == "PPR",
        "OMP-01" | "OMP-02" => t == "RDE",
        "OMP-11" | "OMP-12" => t == "RAS",
        "OML-11" => t == "OUL" || t == "ORU",
        super::layout::VITALS_TYPE => t == "ORU",
        _ => true,
    };
    if ok {
        Ok((t, e))
    } else {
        Err(Note::new(
            Place {
                segment: Some("MSH[1]".into()),
                field: Some("MSH-9".into()),
            },
            format!(
                "the message type {}^{} does not belong in a {data_type} folder",
                safe_code(&t),
                safe_code(&e)
            ),
        ))
    }
}

/// A code from the file, shown in a note only if it looks like a code (short, ASCII).
fn safe_code(s: &str) -> String {
    if s.len() <= 8 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        s.to_string()
    } else {
        "?".into()
    }
}

/// A coded element (CE/CWE) `code^text^system[^alt code^alt text^alt system]`.
struct Coded {
    code: String,
    text: String,
    system: String,
    alt: Option<(String, String, String)>,
}

fn coded(seg: &Segment, n: usize) -> Coded {
    let r = seg.rep(n);
    let alt = (!r.comp(4).is_empty()).then(|| (r.comp(4), r.comp(5), r.comp(6)));
    Coded {
        code: r.comp(1),
        text: r.comp(2),
        system: r.comp(3),
        alt,
    }
}

/// FHIR system URI of an HL7 v2 coding system name, `None` for local (99xxx) ones.
fn system_uri(name: &str) -> Option<&'static str> {
    Some(match name {
        "JC10" => JLAC10,
        "HOT9" => HOT9,
        "HOT13" | "HOT" => HOT13,
        "YJ" => YJ,
        "MDCDX2" => MEDIS_DISEASE,
        "I10" | "ICD10" => ICD10,
        "LN" => LOINC,
        "JAMISDP01" => JAMI_USAGE,
        "MR9P" => MERIT9_UNIT,
        "HL70162" => V2_ROUTE,
        _ => return None,
    })
}

fn coding(j: &mut Json, code: &str, text: &str, system: &str) {
    if code.is_empty() && text.is_empty() {
        return;
    }
    j.item(|c| {
        c.opt_str("system", system_uri(system))
            .opt_str("code", Some(code))
            .opt_str("display", Some(text));
    });
}

/// `"k": {coding: [...], text}` of a coded element (text: its text, else its code).
fn concept(j: &mut Json, k: &str, c: &Coded) {
    let text = if c.text.is_empty() {
        c.alt
            .as_ref()
            .map(|a| a.1.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| c.code.clone())
    } else {
        c.text.clone()
    };
    j.obj(k, |o| {
        o.arr("coding", |a| {
            coding(a, &c.code, &c.text, &c.system);
            if let Some((code, text, sys)) = &c.alt {
                coding(a, code, text, sys);
            }
        })
        .opt_str("text", Some(&text));
    });
}

// ---------------------------------------------------------------------------------
// ADT-00: the patient.

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
    let mut kanji: Option<(String, String)> = None;
    let mut kana: Option<(String, String)> = None;
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
        let slot = if phonetic { &mut kana } else { &mut kanji };
        if slot.is_none() {
            *slot = Some((family, given));
        }
    }
    let birth = cx.time(pid, 7, 1);
    let sex = match pid.comp(8, 1).as_str() {
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
    if kanji.is_some() || kana.is_some() {
        j.arr("name", |a| {
            for (n, code) in [(&kanji, "IDE"), (&kana, "SYL")] {
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

    // AL1: allergies, often repeated in one message: keep the first of each.
    let mut seen = std::collections::HashSet::new();
    for (n, seg) in msg.segments.iter().filter(|s| s.id == "AL1").enumerate() {
        let c = coded(seg, 3);
        let k = (seg.comp(2, 1), c.code.clone(), c.text.clone());
        if !seen.insert(k) {
            continue;
        }
        let id = rid(&[cx.pid(), "ADT-00", "AL1", &n.to_string()]);
        let a = AllergyFields {
            category: seg.comp(2, 1),
            substance: c,
            severity: seg.comp(4, 1),
            reactions: seg.reps(5).iter().map(|r| r.comp(1)).collect(),
            onset: None,
            recorded: cx.time(seg, 6, 1),
            status: String::new(),
        };
        allergy(cx, id, a);
    }
    // OBX: height and weight as vital signs, measured at OBX-14 (else when the EHR
    // recorded the message).
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
    Ok(())
}

// ---------------------------------------------------------------------------------
// Allergies: ADT-61 IAM and ADT-00 AL1.

struct AllergyFields {
    category: String,
    substance: Coded,
    severity: String,
    reactions: Vec<String>,
    onset: Option<Hl7Time>,
    recorded: Option<Hl7Time>,
    /// HL7 table 0438 (IAM-17): C confirmed, U unconfirmed, E erroneous, I inactive, …
    status: String,
}

fn allergy(cx: &mut Ctx<'_>, id: String, a: AllergyFields) {
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
    j.obj("clinicalStatus", |c| {
        c.arr("coding", |a| {
            a.item(|x| {
                x.str(
                    "system",
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                )
                .str("code", clinical);
            });
        });
    });
    if !verification.is_empty() {
        j.obj("verificationStatus", |c| {
            c.arr("coding", |a| {
                a.item(|x| {
                    x.str(
                        "system",
                        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    )
                    .str("code", verification);
                });
            });
        });
    }
    j.str("type", "allergy");
    if let Some(c) = category {
        j.arr("category", |a| {
            a.item_str(c);
        });
    }
    j.opt_str("criticality", criticality);
    concept(&mut j, "code", &a.substance);
    j.obj("patient", |p| {
        p.str("reference", &subject);
    });
    if let Some(t) = &a.onset {
        j.str("onsetDateTime", &t.fhir());
    }
    if let Some(t) = &a.recorded {
        j.str("recordedDate", &t.fhir());
    }
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
        let id = if uid.is_empty() {
            rid(&[cx.pid(), "ADT-61", "IAM#", &n.to_string()])
        } else {
            rid(&[cx.pid(), "ADT-61", "IAM", &uid])
        };
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
            category: seg.comp(2, 1),
            substance,
            severity: seg.comp(4, 1),
            reactions: seg.reps(5).iter().map(|r| r.comp(1)).collect(),
            onset: cx.time(seg, 11, 1),
            recorded: cx.time(seg, 13, 1),
            status: seg.comp(17, 1),
        };
        allergy(cx, id, a);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// PPR-01: problems.

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

// ---------------------------------------------------------------------------------
// Orders and administrations.

/// Segments of a message split into groups, each starting at a segment with ID `head`.
fn groups<'m, 'a>(msg: &'m Message<'a>, head: &str) -> Vec<Vec<&'m Segment<'a>>> {
    let mut out: Vec<Vec<&Segment<'a>>> = Vec::new();
    for s in &msg.segments {
        if s.id == head {
            out.push(vec![s]);
        } else if let Some(g) = out.last_mut() {
            g.push(s);
        }
    }
    out
}

/// Id of the MedicationRequest for drug `index` of Rp `rp` of order `order`.
pub fn order_id(pid: &str, order_type: &str, order: &str, rp: &str, index: usize) -> String {
    rid(&[pid, order_type, order, "rp", rp, &index.to_string()])
}

fn route_text(seg: &Segment) -> String {
    let c = coded(seg, 1);
    if !c.text.is_empty() {
        return c.text;
    }
    match c.code.as_str() {
        "PO" => "経口",
        "IV" => "静脈内",
        "IM" => "筋肉内",
        "SC" => "皮下",
        "TD" => "経皮",
        "TP" => "局所",
        "IH" => "吸入",
        "PR" => "直腸内",
        "SL" => "舌下",
        "NS" => "経鼻",
        "OP" => "点眼",
        other => other,
    }
    .to_string()
}

fn quantity(
    j: &mut Json,
    k: &str,
    value: &str,
    unit: &Coded,
    seg: &Segment,
    n: usize,
    notes: &mut Vec<Note>,
) {
    let Some(v) = json_number(value) else {
        if !value.trim().is_empty() {
            notes.push(Note::new(
                Place::field(seg, n),
                "is not a number; the amount is not shown",
            ));
        }
        return;
    };
    let unit_text = if unit.text.is_empty() {
        unit.code.clone()
    } else {
        unit.text.clone()
    };
    j.obj(k, |q| {
        q.num("value", &v).opt_str("unit", Some(&unit_text));
        if let Some(s) = system_uri(&unit.system) {
            q.str("system", s).opt_str("code", Some(&unit.code));
        }
    });
}

/// OMP-01 / OMP-02 (RDE^O11): one MedicationRequest per ORC/RXE group (a drug of an
/// Rp). Injections (OMP-02) name their base and additives in RXC; their rate is RXE-23/24.
pub fn orders(msg: &Message, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    let data_type = cx.key().data_type.clone();
    let injection = data_type == "OMP-02";
    let mut per_rp: std::collections::HashMap<String, usize> = Default::default();
    let mut any = false;
    for g in groups(msg, "ORC") {
        let orc = g[0];
        let Some(rxe) = g.iter().find(|s| s.id == "RXE") else {
            continue;
        };
        any = true;
        let order = {
            let o = orc.comp(2, 1);
            if o.is_empty() {
                cx.key().order.clone()
            } else {
                o
            }
        };
        let rp = orc.comp(4, 1);
        let idx = per_rp.entry(format!("{order}\u{1f}{rp}")).or_default();
        let id = order_id(cx.pid(), &data_type, &order, &rp, *idx);
        *idx += 1;
        let control = orc.comp(1, 1);
        let status = match (control.as_str(), orc.comp(5, 1).as_str()) {
            ("CA" | "OC" | "CR", _) | (_, "CA") => "cancelled",
            ("DC" | "OD", _) | (_, "DC") => "stopped",
            (_, "CM") => "completed",
            (_, "HD") | ("HD", _) => "on-hold",
            _ => "active",
        };
        let authored = cx.time(orc, 9, 1);
        let tq1 = g
            .iter()
            .skip_while(|s| s.id != "RXE")
            .find(|s| s.id == "TQ1");
        let rxr = g
            .iter()
            .skip_while(|s| s.id != "RXE")
            .find(|s| s.id == "RXR");
        let components: Vec<&&Segment> = g.iter().filter(|s| s.id == "RXC").collect();
        let (start, end) = match tq1 {
            Some(t) => (cx.time(t, 7, 1), cx.time(t, 8, 1)),
            None => (None, None),
        };
        let subject = cx.subject();
        let profile = if injection {
            "JP_MedicationRequest_Injection"
        } else {
            "JP_MedicationRequest"
        };
        let mut j = cx.resource("MedicationRequest", &id, profile);
        let drug = coded(rxe, 2);
        if injection && !components.is_empty() {
            let names: Vec<String> = components
                .iter()
                .map(|c| {
                    let d = coded(c, 2);
                    if d.text.is_empty() {
                        d.code
                    } else {
                        d.text
                    }
                })
                .collect();
            let text = if components.len() == 1 {
                names[0].clone()
            } else {
                components
                    .iter()
                    .zip(&names)
                    .map(|(c, n)| {
                        format!("{n} {}{}", c.text(3), {
                            let u = coded(c, 4);
                            if u.text.is_empty() {
                                u.code
                            } else {
                                u.text
                            }
                        })
                    })
                    .collect::<Vec<_>>()
                    .join(" + ")
            };
            let mut notes = Vec::new();
            j.arr("contained", |a| {
                a.item(|m| {
                    m.str("resourceType", "Medication").str("id", "mix");
                    m.obj("code", |c| {
                        c.str("text", &text);
                    });
                    m.arr("ingredient", |ing| {
                        for c in &components {
                            ing.item(|i| {
                                concept(i, "itemCodeableConcept", &coded(c, 2));
                                i.bool("isActive", c.comp(1, 1) == "B" || c.comp(1, 1) == "A");
                                if json_number(&c.text(3)).is_some() {
                                    i.obj("strength", |s| {
                                        quantity(
                                            s,
                                            "numerator",
                                            &c.text(3),
                                            &coded(c, 4),
                                            c,
                                            3,
                                            &mut notes,
                                        );
                                        s.obj("denominator", |d| {
                                            d.num("value", "1").str("unit", "回");
                                        });
                                    });
                                }
                            });
                        }
                    });
                });
            });
            cx.notes.extend(notes);
            j.obj("medicationReference", |r| {
                r.str("reference", "#mix").str("display", &text);
            });
        } else {
            if drug.code.is_empty() && drug.text.is_empty() {
                cx.warn(Place::field(rxe, 2), "the drug is empty");
            }
            concept(&mut j, "medicationCodeableConcept", &drug);
        }
        j.str("status", status)
            .str("intent", "order")
            .obj("subject", |s| {
                s.str("reference", &subject);
            });
        if let Some(t) = &authored {
            j.str("authoredOn", &t.fhir());
        }
        // Dosage.
        let usage = tq1.map(|t| {
            let r = t.rep(3);
            (r.sub(1, 1), r.sub(1, 2), r.sub(1, 3))
        });
        let duration = tq1.map(|t| (t.comp(6, 1), t.comp(6, 2)));
        let prn = tq1.is_some_and(|t| t.comp(9, 1) == "PRN")
            || usage.as_ref().is_some_and(|u| u.1.contains("頓用"));
        let rate = json_number(&rxe.text(23));
        let rate_unit = coded(rxe, 24);
        let instruction = rxe.comp(7, 2);
        let mut notes = Vec::new();
        j.arr("dosageInstruction", |a| {
            a.item(|d| {
                let mut text_parts: Vec<String> = Vec::new();
                if let Some(r) = &rate {
                    let u = if rate_unit.text.is_empty() {
                        &rate_unit.code
                    } else {
                        &rate_unit.text
                    };
                    text_parts.push(format!("{r}{u}"));
                }
                if !instruction.is_empty() {
                    text_parts.push(instruction.clone());
                }
                if !text_parts.is_empty() {
                    d.str("text", &text_parts.join(" "));
                }
                if start.is_some() || end.is_some() {
                    d.arr("extension", |e| {
                        e.item(|x| {
                            x.str("url", PERIOD_OF_USE).obj("valuePeriod", |p| {
                                if let Some(s) = &start {
                                    p.str("start", &s.fhir());
                                }
                                if let Some(s) = &end {
                                    p.str("end", &s.fhir());
                                }
                            });
                        });
                    });
                }
                let has_usage = usage
                    .as_ref()
                    .is_some_and(|u| !u.0.is_empty() || !u.1.is_empty());
                let days = duration
                    .as_ref()
                    .filter(|(_, u)| u == "d" || u == "D")
                    .and_then(|(v, _)| json_number(v));
                if has_usage || days.is_some() {
                    d.obj("timing", |t| {
                        if let Some((code, text, sys)) = usage.as_ref().filter(|_| has_usage) {
                            t.obj("code", |c| {
                                c.arr("coding", |cc| {
                                    coding(cc, code, text, sys);
                                })
                                .opt_str("text", Some(if text.is_empty() { code } else { text }));
                            });
                        }
                        if let Some(n) = &days {
                            t.obj("repeat", |r| {
                                r.obj("boundsDuration", |b| {
                                    b.num("value", n)
                                        .str("unit", "日")
                                        .str("system", "http://unitsofmeasure.org")
                                        .str("code", "d");
                                });
                            });
                        }
                    });
                }
                d.bool("asNeededBoolean", prn);
                if let Some(r) = rxr {
                    let route = coded(r, 1);
                    let text = route_text(r);
                    d.obj("route", |o| {
                        o.arr("coding", |cc| {
                            coding(cc, &route.code, &route.text, "HL70162");
                        })
                        .str("text", &text);
                    });
                }
                let dose = rxe.text(3);
                if json_number(&dose).is_some() || rate.is_some() {
                    d.arr("doseAndRate", |dr| {
                        dr.item(|x| {
                            quantity(x, "doseQuantity", &dose, &coded(rxe, 5), rxe, 3, &mut notes);
                            if let Some(r) = &rate {
                                x.obj("rateQuantity", |q| {
                                    q.num("value", r).opt_str(
                                        "unit",
                                        Some(if rate_unit.text.is_empty() {
                                            &rate_unit.code
                                        } else {
                                            &rate_unit.text
                                        }),
                                    );
                                });
                            }
                        });
                    });
                } else if !dose.is_empty() {
                    notes.push(Note::new(
                        Place::field(rxe, 3),
                        "is not a number; the dose is not shown",
                    ));
                }
            });
        });
        cx.notes.extend(notes);
        cx.upsert("MedicationRequest", id, j.finish());
    }
    if !any {
        return Err(Note::new(
            Place::none(),
            "the order message has no ORC/RXE group (truncated file?)",
        ));
    }
    Ok(())
}

/// OMP-11 / OMP-12 (RAS^O17): one MedicationAdministration per RXA, linked to the
/// order's MedicationRequest through ORC-2 (order number) and ORC-4 (Rp).
pub fn administrations(msg: &Message, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    let order_type = if cx.key().data_type == "OMP-12" {
        "OMP-02"
    } else {
        "OMP-01"
    };
    let mut any = false;
    for (gi, g) in groups(msg, "ORC").into_iter().enumerate() {
        let orc = g[0];
        let order = {
            let o = orc.comp(2, 1);
            if o.is_empty() {
                cx.key().order.clone()
            } else {
                o
            }
        };
        let rp = orc.comp(4, 1);
        let route = g
            .iter()
            .rev()
            .find(|s| s.id == "RXR")
            .map(|r| (coded(r, 1), route_text(r)));
        for (ri, rxa) in g.iter().filter(|s| s.id == "RXA").enumerate() {
            any = true;
            let k = cx.key().clone();
            let id = rid(&[
                &k.pid,
                &k.date,
                &k.data_type,
                &k.order,
                &gi.to_string(),
                &ri.to_string(),
            ]);
            let start = cx.time(rxa, 3, 1);
            let end = cx.time(rxa, 4, 1);
            if start.is_none() {
                cx.warn(
                    Place::field(rxa, 3),
                    "the administration time is missing or invalid; the administration is not shown",
                );
                continue;
            }
            let status = if rxa.comp(21, 1) == "D" {
                "entered-in-error"
            } else {
                match rxa.comp(20, 1).as_str() {
                    "NA" | "RE" => "not-done",
                    _ => "completed",
                }
            };
            let subject = cx.subject();
            let request = order_id(cx.pid(), order_type, &order, &rp, ri);
            let mut j = cx.resource(
                "MedicationAdministration",
                &id,
                "JP_MedicationAdministration",
            );
            j.str("status", status);
            concept(&mut j, "medicationCodeableConcept", &coded(rxa, 5));
            j.obj("subject", |s| {
                s.str("reference", &subject);
            });
            match (&start, &end) {
                (Some(s), Some(e)) if s != e => {
                    j.obj("effectivePeriod", |p| {
                        p.str("start", &s.fhir()).str("end", &e.fhir());
                    });
                }
                (Some(s), _) => {
                    j.str("effectiveDateTime", &s.fhir());
                }
                _ => {}
            }
            j.obj("request", |r| {
                r.str("reference", &format!("MedicationRequest/{request}"));
            });
            let mut notes = Vec::new();
            j.obj("dosage", |d| {
                if let Some((code, text)) = &route {
                    d.obj("route", |o| {
                        o.arr("coding", |cc| {
                            coding(cc, &code.code, &code.text, "HL70162");
                        })
                        .str("text", text);
                    });
                }
                quantity(d, "dose", &rxa.text(6), &coded(rxa, 7), rxa, 6, &mut notes);
            });
            cx.notes.extend(notes);
            cx.upsert("MedicationAdministration", id, j.finish());
        }
    }
    if !any {
        return Err(Note::new(
            Place::none(),
            "the administration message has no RXA segment (truncated file?)",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Observations: lab results and vital signs.

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

/// OBX-5 by OBX-2 → the value[x] of an Observation.
fn obx_value(j: &mut Json, seg: &Segment, notes: &mut Vec<Note>) -> bool {
    let vt = seg.comp(2, 1);
    let unit = coded(seg, 6);
    let unit_text = if unit.text.is_empty() {
        unit.code.clone()
    } else {
        unit.text.clone()
    };
    let values: Vec<String> = seg
        .reps(5)
        .iter()
        .map(|r| r.comp(1))
        .filter(|v| !v.is_empty())
        .collect();
    let raw = seg.rep(5);
    if raw.is_empty() {
        return false;
    }
    let quantity = |j: &mut Json, comparator: Option<&str>, num: &str| {
        j.obj("valueQuantity", |q| {
            q.num("value", num)
                .opt_str("comparator", comparator)
                .opt_str("unit", Some(&unit_text));
        });
    };
    match vt.as_str() {
        "NM" => {
            let v = ascii_signs(&values.join(""));
            if let Some(n) = json_number(&v) {
                quantity(j, None, &n);
                return true;
            }
            for c in ["<=", ">=", "<", ">"] {
                if let Some(n) = v.strip_prefix(c).and_then(json_number) {
                    quantity(j, Some(c), &n);
                    return true;
                }
            }
            notes.push(Note::new(
                Place::field(seg, 5),
                "is not a number although OBX-2 says NM; shown as text",
            ));
            j.str("valueString", &values.join(" "));
        }
        "SN" => {
            let (cmp, n1, sep, n2) = (raw.comp(1), raw.comp(2), raw.comp(3), raw.comp(4));
            if sep.is_empty() && n2.is_empty() {
                if let Some(n) = json_number(&n1) {
                    let c = match cmp.as_str() {
                        "<" | ">" | "<=" | ">=" => Some(cmp.as_str()),
                        _ => None,
                    };
                    quantity(j, c, &n);
                    return true;
                }
            }
            let mut text = format!("{cmp}{n1}{sep}{n2}");
            if !unit_text.is_empty() {
                text.push(' ');
                text.push_str(&unit_text);
            }
            j.str("valueString", &text);
        }
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
                text.push_str(&unit_text);
            }
            j.str("valueString", &text);
        }
    }
    true
}

fn obx_status(seg: &Segment) -> &'static str {
    match seg.comp(11, 1).as_str() {
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
            }
            r.str("text", text.trim());
        });
    });
}

fn interpretation(j: &mut Json, seg: &Segment) {
    let flags: Vec<String> = seg
        .reps(8)
        .iter()
        .map(|r| r.comp(1))
        .filter(|f| !f.is_empty())
        .collect();
    if flags.is_empty() {
        return;
    }
    j.arr("interpretation", |a| {
        for f in &flags {
            a.item(|i| {
                i.arr("coding", |c| {
                    c.item(|x| {
                        x.str("system", INTERPRETATION).str("code", f);
                    });
                });
            });
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

fn category(j: &mut Json, code: &str) {
    j.arr("category", |a| {
        a.item(|c| {
            c.arr("coding", |cc| {
                cc.item(|x| {
                    x.str("system", OBS_CATEGORY).str("code", code);
                });
            });
        });
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
    let folder_date = super::layout::parse_date(&cx.key().date).map(Hl7Time::Date);
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
                let k = cx.key().clone();
                let id = rid(&[
                    &k.pid,
                    &k.date,
                    &k.data_type,
                    &k.order,
                    &spm_index.to_string(),
                    &obx_in_spm.to_string(),
                ]);
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
                let subject = cx.subject();
                let mut j = cx.resource("Observation", &id, "JP_Observation_LabResult");
                j.str("status", obx_status(seg));
                category(&mut j, "laboratory");
                observation_code(&mut j, seg, None);
                j.obj("subject", |s| {
                    s.str("reference", &subject);
                });
                if let Some(t) = &when {
                    j.str("effectiveDateTime", &t.fhir());
                }
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
            "OBX" => {
                // Specimen observations (under SPM, before OBR) are not results.
                obx_in_spm += 1;
            }
            _ => {}
        }
    }
    if !any {
        return Err(Note::new(
            Place::none(),
            "the lab result message has no OBX result under an OBR (truncated file?)",
        ));
    }
    Ok(())
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

fn vital_single(cx: &mut Ctx<'_>, seg: &Segment, id: String, when: Option<Hl7Time>) {
    let c = coded(seg, 3);
    let loinc = vital_loinc(&c.code, &c.system);
    let subject = cx.subject();
    let mut j = cx.resource("Observation", &id, "JP_Observation_VitalSigns");
    j.str("status", obx_status(seg));
    category(&mut j, "vital-signs");
    observation_code(&mut j, seg, loinc.filter(|_| c.system != "LN"));
    j.obj("subject", |s| {
        s.str("reference", &subject);
    });
    if let Some(t) = &when {
        j.str("effectiveDateTime", &t.fhir());
    }
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
    if obx.is_empty() {
        return Err(Note::new(
            Place::none(),
            "the vital-sign message has no OBX segment (truncated file?)",
        ));
    }
    let obr_time = msg
        .first("OBR")
        .and_then(|o| time::parse(&o.comp(7, 1)).ok().flatten());
    let k = cx.key().clone();
    let mut used = vec![false; obx.len()];
    for i in 0..obx.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let seg = obx[i];
        let c = coded(seg, 3);
        let when = cx.time(seg, 14, 1).or_else(|| obr_time.clone());
        let id = rid(&[&k.pid, &k.date, &k.data_type, &k.order, &i.to_string()]);
        let kind = vital_loinc(&c.code, &c.system).map(|l| l.0);
        let partner = match kind {
            Some("8480-6") => Some("8462-4"),
            Some("8462-4") => Some("8480-6"),
            _ => None,
        };
        let pair = partner.and_then(|p| {
            (0..obx.len()).find(|&m| {
                !used[m] && {
                    let o = coded(obx[m], 3);
                    vital_loinc(&o.code, &o.system).map(|l| l.0) == Some(p)
                        && obx[m].comp(14, 1) == seg.comp(14, 1)
                }
            })
        });
        let Some(m) = pair else {
            vital_single(cx, seg, id, when);
            continue;
        };
        used[m] = true;
        let (sys, dia) = if kind == Some("8480-6") {
            (seg, obx[m])
        } else {
            (obx[m], seg)
        };
        let subject = cx.subject();
        let mut j = cx.resource("Observation", &id, "JP_Observation_VitalSigns");
        j.str("status", obx_status(sys));
        category(&mut j, "vital-signs");
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
        j.obj("subject", |s| {
            s.str("reference", &subject);
        });
        if let Some(t) = &when {
            j.str("effectiveDateTime", &t.fhir());
        }
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
    Ok(())
}

// ---------------------------------------------------------------------------------
// Encounters.

/// An encounter as the census needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct EncounterFacts {
    pub id: String,
    pub status: &'static str,
    pub class: &'static str,
    pub ward: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
    pub start: Option<Hl7Time>,
    pub end: Option<Hl7Time>,
}

/// PV1-2 → v3 ActCode class.
pub fn patient_class(pv1: &Segment) -> &'static str {
    match pv1.comp(2, 1).as_str() {
        "I" => "IMP",
        "E" => "EMER",
        _ => "AMB",
    }
}

/// PV1-3 as ward / room / bed: only a ward location (PL-6 `N`, or an inpatient) is a
/// place in the census; an outpatient's department is not a bed.
pub fn location(pv1: &Segment, n: usize) -> (Option<String>, Option<String>, Option<String>) {
    let r = pv1.rep(n);
    let kind = r.comp(6);
    if kind == "C" || kind == "D" || (kind.is_empty() && pv1.comp(2, 1) != "I") {
        return (None, None, None);
    }
    let f = |c: usize| Some(r.comp(c)).filter(|s| !s.is_empty());
    (f(1), f(2), f(3))
}

pub fn encounter_json(subject_pid: &str, e: &EncounterFacts) -> Vec<u8> {
    let mut j = Json::object();
    j.str("resourceType", "Encounter")
        .str("id", &e.id)
        .obj("meta", |m| {
            m.arr("profile", |a| {
                a.item_str("http://jpfhir.jp/fhir/core/StructureDefinition/JP_Encounter");
            });
        });
    let display = match e.class {
        "IMP" => "入院",
        "EMER" => "救急",
        _ => "外来",
    };
    j.str("status", e.status)
        .obj("class", |c| {
            c.str("system", "http://terminology.hl7.org/CodeSystem/v3-ActCode")
                .str("code", e.class)
                .str("display", display);
        })
        .obj("subject", |s| {
            s.str("reference", &format!("Patient/{}", patient_id(subject_pid)));
        });
    if e.start.is_some() || e.end.is_some() {
        j.obj("period", |p| {
            if let Some(s) = &e.start {
                p.str("start", &s.fhir());
            }
            if let Some(s) = &e.end {
                p.str("end", &s.fhir());
            }
        });
    }
    let places: Vec<(&String, &str)> = [(&e.ward, "wa"), (&e.room, "ro"), (&e.bed, "bd")]
        .into_iter()
        .filter_map(|(v, c)| v.as_ref().map(|v| (v, c)))
        .collect();
    if !places.is_empty() {
        j.arr("location", |a| {
            for (text, code) in places {
                a.item(|l| {
                    l.obj("location", |x| {
                        x.str("display", text);
                    })
                    .str(
                        "status",
                        if e.status == "finished" {
                            "completed"
                        } else {
                            "active"
                        },
                    )
                    .obj("physicalType", |p| {
                        p.arr("coding", |c| {
                            c.item(|x| {
                                x.str(
                                    "system",
                                    "http://terminology.hl7.org/CodeSystem/location-physical-type",
                                )
                                .str("code", code);
                            });
                        });
                    });
                });
            }
        });
    }
    j.finish()
}

/// ADT-12 (ADT^A04 outpatient visit; A11 cancels it): one finished Encounter.
pub fn visit(msg: &Message, event: &str, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    let k = cx.key().clone();
    let id = rid(&[&k.pid, &k.date, &k.data_type, &k.order]);
    if event == "A11" {
        cx.out.push(Out::Delete {
            rtype: "Encounter",
            id,
        });
        return Ok(());
    }
    let Some(pv1) = msg.first("PV1") else {
        return Err(Note::new(
            Place::none(),
            "the visit message has no PV1 segment",
        ));
    };
    let start = cx.time(pv1, 44, 1);
    let end = cx.time(pv1, 45, 1);
    let (ward, room, bed) = location(pv1, 3);
    let e = EncounterFacts {
        id: id.clone(),
        status: "finished",
        class: patient_class(pv1),
        ward,
        room,
        bed,
        start,
        end,
    };
    let json = encounter_json(&k.pid, &e);
    cx.upsert("Encounter", id, json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_hashes() {
        assert_eq!(rid(&["a", "b"]), rid(&["a", "b"]));
        assert_ne!(rid(&["a", "b"]), rid(&["ab"]));
        assert!(rid(&["x"]).starts_with("s2-"));
        assert_eq!(rid(&["x"]).len(), 35);
    }
}
