//! One builder per stored message type (ADT, PPR, RDE, RAS, OUL, ORU): which segments a
//! message holds, under which key, department and time it is stored.

use std::collections::BTreeMap;

use akari_sync::model::Instant;
use akari_sync::source::ssmix2::layout::{Key, NO_ORDER, VITALS_TYPE};

use super::segments::{
    administration_segments, day, drug_ce, iam_fields, inpatient, jst, lab_obx, order_control,
    order_number, pid_segment, place, prb_fields, prescriber, pv1, route, seg_of, stamp,
    tq1_segment, ts, ts_opt, unit_ce, vital_rows, Msg, Obx, MSH_TIME,
};
use super::Stored;
use crate::synth::spec::{EncounterSpec, Item, MarSpec, PatientSpec, RxSpec, VitalSpec};

fn key(p: &PatientSpec, date: &str, data_type: &str, order: &str, extended: bool) -> Key {
    Key {
        pid: p.hospital_id.clone(),
        date: date.to_string(),
        data_type: data_type.to_string(),
        order: order.to_string(),
        extended,
    }
}

fn max_updated<'a, T: 'a>(items: impl Iterator<Item = &'a Item<T>>, or: Instant) -> Instant {
    items.map(|i| i.last_updated).max().unwrap_or(or)
}

/// The messages of one patient. `before`: the same patient as the storage holds it
/// already (its stays are kept and moved by transfers rather than rewritten).
pub(super) fn messages_of(p: &PatientSpec, before: Option<&PatientSpec>) -> Vec<Stored> {
    let pid = pid_segment(p);
    let pv = pv1(p);
    let mut out = vec![patient_message(p, &pid)];
    out.extend(allergy_message(p, &pid));
    out.extend(problem_message(p, &pid));
    // OMP-01 / OMP-02: one order per prescription.
    for it in &p.prescriptions {
        out.push(order_message(p, &pid, &pv, it));
    }
    out.extend(administration_messages(p, &pid, &pv));
    out.extend(lab_messages(p, &pid, &pv));
    out.extend(vital_messages(p, &pid, &pv));
    out.extend(encounter_messages(p, &pid, before));
    out
}

/// ADT-00: the patient.
fn patient_message(p: &PatientSpec, pid: &str) -> Stored {
    let mut m = Msg::new("ADT", "A08", "ADT_A01", "1");
    m.seg(&["EVN", "", MSH_TIME]).seg(&[pid]).seg(&[
        "PV1",
        "0001",
        if inpatient(p) { "I" } else { "O" },
    ]);
    Stored {
        key: key(p, "-", "ADT-00", NO_ORDER, false),
        dept: "-",
        stamp: stamp(&p.last_updated),
        text: m.0,
    }
}

/// ADT-61: allergies, the whole list (none without allergies).
fn allergy_message(p: &PatientSpec, pid: &str) -> Option<Stored> {
    if p.allergies.is_empty() {
        return None;
    }
    let mut m = Msg::new("ADT", "A60", "ADT_A60", "2");
    m.seg(&["EVN", "", MSH_TIME]).seg(&[pid]);
    for (n, it) in p.allergies.iter().enumerate() {
        seg_of(&mut m, &iam_fields(n, it));
    }
    Some(Stored {
        key: key(p, "-", "ADT-61", NO_ORDER, false),
        dept: "-",
        stamp: stamp(&max_updated(p.allergies.iter(), p.last_updated)),
        text: m.0,
    })
}

/// PPR-01: problems, the whole list (none without problems).
fn problem_message(p: &PatientSpec, pid: &str) -> Option<Stored> {
    if p.conditions.is_empty() {
        return None;
    }
    let mut m = Msg::new("PPR", "ZD1", "PPR_ZD1", "3");
    m.seg(&[pid]);
    for it in &p.conditions {
        seg_of(&mut m, &prb_fields(it));
    }
    Some(Stored {
        key: key(p, "-", "PPR-01", NO_ORDER, false),
        dept: "01",
        stamp: stamp(&max_updated(p.conditions.iter(), p.last_updated)),
        text: m.0,
    })
}

fn order_message(p: &PatientSpec, pid: &str, pv: &str, it: &Item<RxSpec>) -> Stored {
    let rx = &it.v.m;
    let injection = is_injection(&it.v);
    let order = order_number(p, &rx.id);
    let authored = rx.authored_on.unwrap_or(p.last_updated);
    let (control, status) = order_control(it);
    let mut m = Msg::new("RDE", "O11", "RDE_O11", "4");
    m.seg(&[pid]).seg(&[pv]);
    m.seg(&[
        "ORC",
        control,
        &order,
        "",
        "1",
        status,
        "",
        "",
        "",
        &ts(&authored),
        "",
        "",
        &prescriber(rx),
    ]);
    let drug = drug_ce(&rx.medication);
    let unit = unit_ce(&it.v.dose_unit);
    let rxe2 = if injection {
        "00^一般^99I02".to_string()
    } else {
        drug.clone()
    };
    m.seg(&["RXE", "", &rxe2, &it.v.dose_value, "", &unit]);
    tq1_segment(&mut m, rx);
    m.seg(&[&route(rx.route.as_deref().unwrap_or(""))]);
    if injection {
        m.seg(&["RXC", "B", &drug, &it.v.dose_value, &unit]);
    }
    Stored {
        key: key(
            p,
            &day(&authored),
            if injection { "OMP-02" } else { "OMP-01" },
            &order,
            false,
        ),
        dept: "01",
        stamp: stamp(&it.last_updated),
        text: m.0,
    }
}

fn is_injection(rx: &RxSpec) -> bool {
    is_injection_route(rx.m.route.as_deref())
}

fn is_injection_route(route: Option<&str>) -> bool {
    matches!(route, Some("点滴静注" | "静注" | "皮下注"))
}

/// OMP-11 / OMP-12: administrations per order and day.
fn administration_messages(p: &PatientSpec, pid: &str, pv: &str) -> Vec<Stored> {
    let mut by_day: BTreeMap<(String, String), Vec<&Item<MarSpec>>> = BTreeMap::new();
    for it in &p.administrations {
        let rx = it.v.m.prescription_id.clone().unwrap_or_default();
        by_day.entry((rx, day(&it.v.m.time))).or_default().push(it);
    }
    let mut out = Vec::new();
    for ((rx_id, date), mut items) in by_day {
        // The order may be gone (deleted) while its administrations stay.
        items.sort_by_key(|i| i.v.m.time);
        let injection = is_injection_route(items[0].v.m.route.as_deref());
        let mut m = Msg::new("RAS", "O17", "RAS_O17", "5");
        m.seg(&[pid]).seg(&[pv]);
        let order = order_number(p, &rx_id);
        for it in &items {
            administration_segments(&mut m, &order, it);
        }
        out.push(Stored {
            key: key(
                p,
                &date,
                if injection { "OMP-12" } else { "OMP-11" },
                &order,
                false,
            ),
            dept: "01",
            stamp: stamp(&max_updated(items.iter().copied(), p.last_updated)),
            text: m.0,
        });
    }
    out
}

/// A patient's lab results and infection screenings per draw (time); screenings apart.
fn draws_of(p: &PatientSpec) -> BTreeMap<(Instant, bool), Vec<Obx>> {
    let mut draws: BTreeMap<(Instant, bool), Vec<Obx>> = BTreeMap::new();
    for it in &p.labs {
        let l = &it.v.m;
        let Some(t) = l.time else { continue };
        draws.entry((t, false)).or_default().push(Obx {
            vt: "NM",
            code: l.code.clone().unwrap_or_default(),
            name: l.test.clone(),
            value: l.value.clone(),
            unit: l.unit.clone().unwrap_or_default(),
            range: format!("{}-{}", it.v.low, it.v.high),
            flag: l.interpretation.clone().unwrap_or_default(),
            eie: it.entered_in_error,
            updated: it.last_updated,
        });
    }
    for it in &p.infections {
        let i = &it.v;
        let Some(t) = i.m.time else { continue };
        draws.entry((t, true)).or_default().push(Obx {
            vt: "ST",
            code: i.code.clone(),
            name: i.m.name.clone(),
            value: i.m.result.clone(),
            unit: String::new(),
            range: String::new(),
            flag: i.interpretation.to_string(),
            eie: it.entered_in_error,
            updated: it.last_updated,
        });
    }
    draws
}

/// OML-11: lab results per draw (time), infection screening apart.
fn lab_messages(p: &PatientSpec, pid: &str, pv: &str) -> Vec<Stored> {
    let mut out = Vec::new();
    for ((t, infection), obx) in draws_of(p) {
        let order = format!(
            "{}{}",
            jst(&t).format("%Y%m%d%H%M%S"),
            if infection { 2 } else { 1 }
        );
        let order = format!("{order:0>15}");
        let when = ts(&t);
        let mut m = Msg::new("OUL", "R22", "OUL_R22", "6");
        m.seg(&[pid]).seg(&[pv]);
        let mut spm = vec!["SPM", "1", order.as_str(), "", "023^血清^JC10"];
        spm.extend(std::iter::repeat_n("", 12));
        spm.push(when.as_str());
        m.seg(&spm);
        m.seg(&[
            "OBR",
            "1",
            &order,
            &order,
            "E001^検体検査^99O03",
            "",
            "",
            &when,
        ]);
        m.seg(&["ORC", "SC", &order, &order, "", "CM"]);
        for (n, o) in obx.iter().enumerate() {
            lab_obx(&mut m, n, o, &when);
        }
        let updated = obx
            .iter()
            .map(|o| o.updated)
            .max()
            .unwrap_or(p.last_updated);
        out.push(Stored {
            key: key(p, &day(&t), "OML-11", &order, false),
            dept: "01",
            stamp: stamp(&updated),
            text: m.0,
        });
    }
    out
}

/// Extended storage: vital signs per measurement time.
fn vital_messages(p: &PatientSpec, pid: &str, pv: &str) -> Vec<Stored> {
    let mut sets: BTreeMap<Instant, Vec<&Item<VitalSpec>>> = BTreeMap::new();
    for it in &p.vitals {
        sets.entry(it.v.m.time).or_default().push(it);
    }
    let mut out = Vec::new();
    for (t, items) in sets {
        let order = format!("{:0>15}", jst(&t).format("%Y%m%d%H%M").to_string());
        let when = ts(&t);
        let mut m = Msg::new("ORU", "R30", "ORU_R30", "7");
        m.seg(&[pid]).seg(&[pv]);
        m.seg(&["ORC", "SC", &order, &order, "", "CM"]);
        m.seg(&[
            "OBR",
            "1",
            &order,
            &order,
            "01^バイタル^99ABC",
            "",
            "",
            &when,
        ]);
        let mut n = 0;
        for it in &items {
            let status = if it.entered_in_error { "D" } else { "F" };
            for (code, value, unit) in vital_rows(&it.v) {
                n += 1;
                m.seg(&[
                    "OBX",
                    &n.to_string(),
                    "NM",
                    &code,
                    "",
                    &value,
                    &unit,
                    "",
                    "",
                    "",
                    "",
                    status,
                    "",
                    "",
                    &when,
                ]);
            }
        }
        out.push(Stored {
            key: key(p, &day(&t), VITALS_TYPE, &order, true),
            dept: "-",
            stamp: stamp(&max_updated(items.iter().copied(), p.last_updated)),
            text: m.0,
        });
    }
    out
}

/// Stays (admission, then a transfer when the bed moved) and visits.
fn encounter_messages(p: &PatientSpec, pid: &str, before: Option<&PatientSpec>) -> Vec<Stored> {
    let mut out = Vec::new();
    for it in &p.encounters {
        let e = &it.v.0;
        let Some(start) = e.start else { continue };
        if e.class.as_deref() != Some("IMP") {
            out.push(visit_message(p, pid, it, start));
            continue;
        }
        // The admission as first stored; a later bed is a transfer.
        let stored = before
            .and_then(|b| b.encounters.iter().find(|x| x.v.0.id == e.id))
            .unwrap_or(it);
        out.push(stay_message(
            p,
            pid,
            stored,
            if it.entered_in_error { "A11" } else { "A01" },
            it.last_updated.max(stored.last_updated),
        ));
        let moved =
            stored.v.0.ward != e.ward || stored.v.0.room != e.room || stored.v.0.bed != e.bed;
        if moved && !it.entered_in_error {
            out.push(transfer_message(p, pid, &stored.v, &it.v, it.last_updated));
        }
    }
    out
}

/// ADT-12: an outpatient or emergency visit (A04; A11 cancels it).
fn visit_message(p: &PatientSpec, pid: &str, it: &Item<EncounterSpec>, start: Instant) -> Stored {
    let e = &it.v.0;
    let class = if e.class.as_deref() == Some("EMER") {
        "E"
    } else {
        "O"
    };
    let event = if it.entered_in_error { "A11" } else { "A04" };
    let mut m = Msg::new(
        "ADT",
        event,
        if event == "A11" { "ADT_A09" } else { "ADT_A01" },
        "8",
    );
    m.seg(&["EVN", "", MSH_TIME]).seg(&[pid]);
    let mut f = vec![
        "PV1".to_string(),
        "0001".into(),
        class.into(),
        "01^^^^^C".into(),
    ];
    f.resize(44, String::new());
    f.push(ts(&start));
    f.push(ts_opt(&e.end));
    seg_of(&mut m, &f);
    Stored {
        key: key(p, &day(&start), "ADT-12", NO_ORDER, false),
        dept: "01",
        stamp: stamp(&it.last_updated),
        text: m.0,
    }
}

fn stay_message(
    p: &PatientSpec,
    pid: &str,
    it: &Item<EncounterSpec>,
    event: &str,
    updated: Instant,
) -> Stored {
    let start = it.v.0.start.unwrap_or(p.last_updated);
    let mut m = Msg::new(
        "ADT",
        event,
        if event == "A11" { "ADT_A09" } else { "ADT_A01" },
        "9",
    );
    m.seg(&["EVN", "", MSH_TIME, "", "", "", &ts(&start)])
        .seg(&[pid]);
    let mut f = vec!["PV1".to_string(), "0001".into(), "I".into(), place(&it.v)];
    f.resize(44, String::new());
    f.push(ts(&start));
    seg_of(&mut m, &f);
    Stored {
        key: key(p, &day(&start), "ADT-22", NO_ORDER, false),
        dept: "01",
        stamp: stamp(&updated),
        text: m.0,
    }
}

fn transfer_message(
    p: &PatientSpec,
    pid: &str,
    from: &EncounterSpec,
    to: &EncounterSpec,
    at: Instant,
) -> Stored {
    let start = to.0.start.unwrap_or(at);
    let mut m = Msg::new("ADT", "A02", "ADT_A02", "10");
    m.seg(&["EVN", "", MSH_TIME, "", "", "", &ts(&at)])
        .seg(&[pid]);
    let mut f = vec![
        "PV1".to_string(),
        "0001".into(),
        "I".into(),
        place(to),
        String::new(),
        String::new(),
        place(from),
    ];
    f.resize(44, String::new());
    f.push(ts(&start));
    seg_of(&mut m, &f);
    Stored {
        key: key(p, &day(&at), "ADT-42", NO_ORDER, false),
        dept: "01",
        stamp: stamp(&at),
        text: m.0,
    }
}
