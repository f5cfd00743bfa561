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
        if let Some(name) = ordering_provider(orc) {
            j.obj("requester", |r| {
                r.str("display", &name);
            });
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
