//! OMP-01/02 orders → MedicationRequest and OMP-11/12 administrations →
//! MedicationAdministration (the MAR).

use super::*;

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
        return c.text.into_owned();
    }
    match c.code.as_ref() {
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
    j.obj(k, |q| {
        q.num("value", &v)
            .opt_str("unit", Some(unit.text_or_code()));
        if let Some(s) = system_uri(&unit.system) {
            q.str("system", s).opt_str("code", Some(&unit.code));
        }
    });
}

/// One ORC/RXE group of an order message: a drug of an Rp.
struct OrderGroup<'g, 'a> {
    orc: &'g Segment<'a>,
    rxe: &'g Segment<'a>,
    /// Timing (usage, days, period of use) after the RXE.
    tq1: Option<&'g Segment<'a>>,
    /// Route after the RXE.
    rxr: Option<&'g Segment<'a>>,
    /// Injection components (base and additives).
    components: Vec<&'g Segment<'a>>,
}

impl<'g, 'a> OrderGroup<'g, 'a> {
    /// The group's segments, `None` for a group without an RXE.
    fn of(g: &[&'g Segment<'a>]) -> Option<OrderGroup<'g, 'a>> {
        let rxe = g.iter().find(|s| s.id == "RXE")?;
        let after_rxe = |id: &str| g.iter().skip_while(|s| s.id != "RXE").find(|s| s.id == id);
        Some(OrderGroup {
            orc: g[0],
            rxe,
            tq1: after_rxe("TQ1").copied(),
            rxr: after_rxe("RXR").copied(),
            components: g.iter().filter(|s| s.id == "RXC").copied().collect(),
        })
    }
}

/// ORC-2 order number, else the file's.
fn order_number(orc: &Segment, cx: &Ctx<'_>) -> String {
    let o = orc.comp(2, 1);
    if o.is_empty() {
        cx.key().order.clone()
    } else {
        o.into_owned()
    }
}

/// OMP-01 / OMP-02 (RDE^O11): one MedicationRequest per ORC/RXE group (a drug of an
/// Rp). Injections (OMP-02) name their base and additives in RXC; their rate is RXE-23/24.
pub fn orders(msg: &Message, cx: &mut Ctx<'_>) -> Result<(), Fatal> {
    let data_type = cx.key().data_type.clone();
    let injection = data_type == "OMP-02";
    let mut per_rp: std::collections::HashMap<String, usize> = Default::default();
    let mut any = false;
    for g in groups(msg, "ORC") {
        let Some(group) = OrderGroup::of(&g) else {
            continue;
        };
        any = true;
        let order = order_number(group.orc, cx);
        let rp = group.orc.comp(4, 1);
        let idx = per_rp.entry(format!("{order}\u{1f}{rp}")).or_default();
        let id = order_id(cx.pid(), &data_type, &order, &rp, *idx);
        *idx += 1;
        medication_request(cx, &group, id, injection);
    }
    found(
        any,
        "the order message has no ORC/RXE group (truncated file?)",
    )
}

/// ORC-1 order control and ORC-5 order status → MedicationRequest.status.
fn order_status(orc: &Segment) -> &'static str {
    match (orc.comp(1, 1).as_ref(), orc.comp(5, 1).as_ref()) {
        ("CA" | "OC" | "CR", _) | (_, "CA") => "cancelled",
        ("DC" | "OD", _) | (_, "DC") => "stopped",
        (_, "CM") => "completed",
        (_, "HD") | ("HD", _) => "on-hold",
        _ => "active",
    }
}

/// TQ1-7 / TQ1-8: the period of use.
struct Period {
    start: Option<Hl7Time>,
    end: Option<Hl7Time>,
}

/// The MedicationRequest of one order group.
fn medication_request(cx: &mut Ctx<'_>, g: &OrderGroup, id: String, injection: bool) {
    let status = order_status(g.orc);
    let authored = cx.time(g.orc, 9, 1);
    let period = match g.tq1 {
        Some(t) => Period {
            start: cx.time(t, 7, 1),
            end: cx.time(t, 8, 1),
        },
        None => Period {
            start: None,
            end: None,
        },
    };
    let subject = cx.subject();
    let profile = if injection {
        "JP_MedicationRequest_Injection"
    } else {
        "JP_MedicationRequest"
    };
    let mut j = cx.resource("MedicationRequest", &id, profile);
    if injection && !g.components.is_empty() {
        injection_mix(&mut j, &g.components, cx);
    } else {
        let drug = coded(g.rxe, 2);
        if drug.code.is_empty() && drug.text.is_empty() {
            cx.warn(Place::field(g.rxe, 2), "the drug is empty");
        }
        concept(&mut j, "medicationCodeableConcept", &drug);
    }
    j.str("status", status).str("intent", "order");
    reference(&mut j, "subject", &subject);
    opt_time(&mut j, "authoredOn", authored.as_ref());
    if let Some(name) = ordering_provider(g.orc) {
        j.obj("requester", |r| {
            r.str("display", &name);
        });
    }
    let mut notes = Vec::new();
    j.arr("dosageInstruction", |a| {
        a.item(|d| dosage(d, g, &period, &mut notes));
    });
    cx.notes.extend(notes);
    cx.upsert("MedicationRequest", id, j.finish());
}

/// An injection's RXC components as a contained Medication `#mix` with an ingredient
/// each (RXC-1 B base / A additive, RXC-3/4 amount per dose), named by its parts.
fn injection_mix(j: &mut Json, components: &[&Segment], cx: &mut Ctx<'_>) {
    let names: Vec<String> = components
        .iter()
        .map(|c| coded(c, 2).text_or_code().to_string())
        .collect();
    let text = if components.len() == 1 {
        names[0].clone()
    } else {
        components
            .iter()
            .zip(&names)
            .map(|(c, n)| format!("{n} {}{}", c.text(3), coded(c, 4).text_or_code()))
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
                for c in components {
                    ing.item(|i| ingredient(i, c, &mut notes));
                }
            });
        });
    });
    cx.notes.extend(notes);
    j.obj("medicationReference", |r| {
        r.str("reference", "#mix").str("display", &text);
    });
}

/// One RXC component as a Medication.ingredient.
fn ingredient(i: &mut Json, c: &Segment, notes: &mut Vec<Note>) {
    concept(i, "itemCodeableConcept", &coded(c, 2));
    i.bool("isActive", c.comp(1, 1) == "B" || c.comp(1, 1) == "A");
    if json_number(&c.text(3)).is_some() {
        i.obj("strength", |s| {
            quantity(s, "numerator", &c.text(3), &coded(c, 4), c, 3, notes);
            s.obj("denominator", |d| {
                d.num("value", "1").str("unit", "回");
            });
        });
    }
}

/// The one dosageInstruction of an order group: text (rate, RXE-7 instruction), period
/// of use, timing (TQ1-3 usage, TQ1-6 days), as needed, route (RXR), dose and rate.
fn dosage(d: &mut Json, g: &OrderGroup, period: &Period, notes: &mut Vec<Note>) {
    let usage = g.tq1.map(|t| {
        let r = t.rep(3);
        (r.sub(1, 1), r.sub(1, 2), r.sub(1, 3))
    });
    let prn = g.tq1.is_some_and(|t| t.comp(9, 1) == "PRN")
        || usage.as_ref().is_some_and(|u| u.1.contains("頓用"));
    let rate = json_number(&g.rxe.text(23));
    let rate_unit = coded(g.rxe, 24);
    let mut text_parts: Vec<String> = Vec::new();
    if let Some(r) = &rate {
        text_parts.push(format!("{r}{}", rate_unit.text_or_code()));
    }
    let instruction = g.rxe.comp(7, 2);
    if !instruction.is_empty() {
        text_parts.push(instruction.into_owned());
    }
    if !text_parts.is_empty() {
        d.str("text", &text_parts.join(" "));
    }
    period_of_use(d, period);
    timing(d, usage.as_ref(), g.tq1);
    d.bool("asNeededBoolean", prn);
    if let Some(r) = g.rxr {
        route(d, r);
    }
    dose_and_rate(d, g.rxe, rate.as_deref(), &rate_unit, notes);
}

/// The JP Core period-of-use extension, when a start or end is known.
fn period_of_use(d: &mut Json, period: &Period) {
    if period.start.is_none() && period.end.is_none() {
        return;
    }
    d.arr("extension", |e| {
        e.item(|x| {
            x.str("url", PERIOD_OF_USE).obj("valuePeriod", |p| {
                opt_time(p, "start", period.start.as_ref());
                opt_time(p, "end", period.end.as_ref());
            });
        });
    });
}

/// Dosage.timing: the usage code (TQ1-3) and the days supplied (TQ1-6 in days).
fn timing(
    d: &mut Json,
    usage: Option<&(Cow<'_, str>, Cow<'_, str>, Cow<'_, str>)>,
    tq1: Option<&Segment>,
) {
    let has_usage = usage.is_some_and(|u| !u.0.is_empty() || !u.1.is_empty());
    let days = tq1
        .map(|t| (t.comp(6, 1), t.comp(6, 2)))
        .filter(|(_, u)| u == "d" || u == "D")
        .and_then(|(v, _)| json_number(&v));
    if !has_usage && days.is_none() {
        return;
    }
    d.obj("timing", |t| {
        if let Some((code, text, sys)) = usage.filter(|_| has_usage) {
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

/// `"route"` of an RXR segment (RXR-1, HL7 table 0162).
fn route(d: &mut Json, rxr: &Segment) {
    let route = coded(rxr, 1);
    let text = route_text(rxr);
    d.obj("route", |o| {
        o.arr("coding", |cc| {
            coding(cc, &route.code, &route.text, "HL70162");
        })
        .str("text", &text);
    });
}

/// Dosage.doseAndRate: RXE-3/5 dose and the RXE-23/24 rate; a dose that is not a
/// number is a warning.
fn dose_and_rate(
    d: &mut Json,
    rxe: &Segment,
    rate: Option<&str>,
    rate_unit: &Coded,
    notes: &mut Vec<Note>,
) {
    let dose = rxe.text(3);
    if json_number(&dose).is_some() || rate.is_some() {
        d.arr("doseAndRate", |dr| {
            dr.item(|x| {
                quantity(x, "doseQuantity", &dose, &coded(rxe, 5), rxe, 3, notes);
                if let Some(r) = rate {
                    x.obj("rateQuantity", |q| {
                        q.num("value", r)
                            .opt_str("unit", Some(rate_unit.text_or_code()));
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
}

/// ORC-12 ordering provider (XCN: ID ^ family name ^ given name) as "family given".
fn ordering_provider(orc: &Segment) -> Option<String> {
    let name = [orc.comp(12, 2), orc.comp(12, 3)]
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
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
        let order = order_number(orc, cx);
        let rp = orc.comp(4, 1);
        let rxr = g.iter().rev().find(|s| s.id == "RXR").copied();
        for (ri, rxa) in g.iter().filter(|s| s.id == "RXA").enumerate() {
            any = true;
            let id = cx.position_id(&[gi, ri]);
            let request = order_id(cx.pid(), order_type, &order, &rp, ri);
            medication_administration(cx, rxa, rxr, id, &request);
        }
    }
    found(
        any,
        "the administration message has no RXA segment (truncated file?)",
    )
}

/// RXA-21 action code `D` (deleted) and RXA-20 completion status → the FHIR status.
fn administration_status(rxa: &Segment) -> &'static str {
    if rxa.comp(21, 1) == "D" {
        "entered-in-error"
    } else {
        match rxa.comp(20, 1).as_ref() {
            "NA" | "RE" => "not-done",
            _ => "completed",
        }
    }
}

/// The MedicationAdministration of one RXA (route from the group's RXR); one without a
/// valid start time is a warning and not shown.
fn medication_administration(
    cx: &mut Ctx<'_>,
    rxa: &Segment,
    rxr: Option<&Segment>,
    id: String,
    request: &str,
) {
    let start = cx.time(rxa, 3, 1);
    let end = cx.time(rxa, 4, 1);
    if start.is_none() {
        cx.warn(
            Place::field(rxa, 3),
            "the administration time is missing or invalid; the administration is not shown",
        );
        return;
    }
    let subject = cx.subject();
    let mut j = cx.resource(
        "MedicationAdministration",
        &id,
        "JP_MedicationAdministration",
    );
    j.str("status", administration_status(rxa));
    concept(&mut j, "medicationCodeableConcept", &coded(rxa, 5));
    reference(&mut j, "subject", &subject);
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
    reference(&mut j, "request", &format!("MedicationRequest/{request}"));
    let mut notes = Vec::new();
    j.obj("dosage", |d| {
        if let Some(r) = rxr {
            route(d, r);
        }
        quantity(d, "dose", &rxa.text(6), &coded(rxa, 7), rxa, 6, &mut notes);
    });
    cx.notes.extend(notes);
    cx.upsert("MedicationAdministration", id, j.finish());
}
