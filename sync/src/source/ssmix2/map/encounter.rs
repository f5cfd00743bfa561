//! Encounters: ADT-12 visits and the stays the census builds from ADT-22/42/52.

use super::*;

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
    match pv1.comp(2, 1).as_ref() {
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
    let f = |c: usize| Some(r.comp(c).into_owned()).filter(|s| !s.is_empty());
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
