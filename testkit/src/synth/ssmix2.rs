//! The synthetic hospital written as SS-MIX2 standardized storage: the standard storage
//! (HL7 v2.5, ISO-2022-JP, CR segment ends), the extended storage (vital signs as
//! ORU^R30) and both transaction storages (journals). A delta is written the way a
//! storage gateway does it: a changed key's `_1` is renamed `_2` and a new `_1` written;
//! a deleted key's files are renamed `_0` and a deletion message `_0` written; cancels
//! (A11, ORC CA, PRB DE, OBX D, RXA D) and transfers (A02) are messages of their own.
//!
//! What the record keeps but SS-MIX2 has no data type for (alerts/flags and documents)
//! is not written. Half-width kana, which ISO-2022-JP cannot carry, are written
//! full-width (as storage gateways do). Synthetic data only; drug and disease codes are
//! synthetic codes of the right shape.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use akari_sync::model::{Criticality, Instant, Moment, Onset, Sex, VitalKind};
use akari_sync::source::ssmix2::er7::escape;
use akari_sync::source::ssmix2::layout::{self, FileName, Flag, Key, NO_ORDER, VITALS_TYPE};
use akari_sync::source::ssmix2::txn;
use chrono::{FixedOffset, NaiveDateTime};

use super::spec::{self, EncounterSpec, Item, MarSpec, PatientSpec, RxSpec, VitalSpec};
use super::{patient, DeltaConfig, DeltaReport, Rng, SynthConfig};

/// The four folders of a written storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssmix2Paths {
    pub standard: PathBuf,
    pub extended: PathBuf,
    pub transaction: PathBuf,
    pub extended_transaction: PathBuf,
}

impl Ssmix2Paths {
    /// `<dir>/standard`, `<dir>/extended`, `<dir>/transaction`, `<dir>/extended-transaction`.
    pub fn under(dir: &Path) -> Ssmix2Paths {
        Ssmix2Paths {
            standard: dir.join("standard"),
            extended: dir.join("extended"),
            transaction: dir.join("transaction"),
            extended_transaction: dir.join("extended-transaction"),
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ssmix2Stats {
    pub patients: u64,
    /// Message files written (standard files and extended main documents).
    pub files: u64,
    pub bytes: u64,
    pub per_type: BTreeMap<String, u64>,
}

/// A delta that changes a share of the patients (several items each), as stored.
#[derive(Debug, Clone)]
pub struct Ssmix2Delta {
    pub seed: u64,
    /// Share of patients changed (e.g. 0.01).
    pub patients_share: f64,
    /// Share of a changed patient's items that change.
    pub item_fraction: f64,
    /// When the changes happen (their 発生日時).
    pub at: Instant,
}

impl Ssmix2Delta {
    /// 1 % of the patients, a third of their items each.
    pub fn one_percent(seed: u64, at: Instant) -> Ssmix2Delta {
        Ssmix2Delta {
            seed,
            patients_share: 0.01,
            item_fraction: 0.35,
            at,
        }
    }

    /// Is patient `index` one of the changed ones?
    pub fn selects(&self, index: u64) -> bool {
        Rng::for_patient(self.seed, index, 77).chance(self.patients_share)
    }

    /// Apply this delta to one patient (a no-op for patients it does not select).
    pub fn apply(&self, cfg: &SynthConfig, p: &mut PatientSpec) {
        if !self.selects(p.index) {
            return;
        }
        let d = DeltaConfig {
            seed: self.seed,
            fraction: self.item_fraction,
            at: self.at,
        };
        spec::apply_delta(p, cfg, &d, &mut DeltaReport::default());
    }
}

/// What writing a delta did to the storage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ssmix2DeltaReport {
    /// Files written (new `_1` versions and `_0` deletion messages).
    pub written: u64,
    /// Files renamed (`_1` → `_2` or `_0`).
    pub renamed: u64,
    /// Hospital IDs of the patients whose storage changed.
    pub patients: BTreeSet<String>,
    /// Patients whose admission, transfer or discharge keys changed.
    pub stay_patients: BTreeSet<String>,
}

impl Ssmix2DeltaReport {
    /// Every file whose name or content changed.
    pub fn changed_files(&self) -> u64 {
        self.written + self.renamed
    }
}

/// One message as stored: its key, department and text (UTF-8; `\u{1}` stands for the
/// message time, filled in when written).
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    key: Key,
    dept: &'static str,
    stamp: String,
    text: String,
}

const MSH_TIME: &str = "\u{1}";
const FACILITY: &str = "1318814790";

fn jst(t: &Instant) -> NaiveDateTime {
    t.with_timezone(&FixedOffset::east_opt(9 * 3600).expect("offset"))
        .naive_local()
}

fn ts(t: &Instant) -> String {
    jst(t).format("%Y%m%d%H%M%S").to_string()
}

fn ts_opt(t: &Option<Instant>) -> String {
    t.as_ref().map(ts).unwrap_or_default()
}

fn day(t: &Instant) -> String {
    jst(t).format("%Y%m%d").to_string()
}

fn stamp(t: &Instant) -> String {
    layout::stamp_of(jst(t))
}

/// A synthetic code of `digits` digits for a name (stable, not a real code).
fn code_for(name: &str, digits: u32) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    format!("{:0width$}", h % 10u64.pow(digits), width = digits as usize)
}

/// Half-width katakana as a storage gateway writes them: full-width, with voiced marks
/// composed (ﾄﾞ → ド). ISO-2022-JP has no half-width kana.
pub fn fullwidth_kana(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let half = |c: char| ('\u{FF61}'..='\u{FF9F}').contains(&c);
    if !s.chars().any(half) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() * 2);
    let mut run = String::new();
    for c in s.chars() {
        if half(c) {
            run.push(c);
        } else {
            out.extend(run.nfkc());
            run.clear();
            out.push(c);
        }
    }
    out.extend(run.nfkc());
    out
}

/// Encode text as ISO-2022-JP; half-width kana are written full-width
/// ([`fullwidth_kana`]) and characters outside JIS X 0208 become ■ (外字).
pub fn encode_iso2022jp(text: &str) -> Vec<u8> {
    use encoding_rs::EncoderResult;
    let text = fullwidth_kana(text);
    let text = text.as_str();
    let mut enc = encoding_rs::ISO_2022_JP.new_encoder();
    let mut out = Vec::with_capacity(text.len() * 2 + 16);
    let mut buf = [0u8; 4096];
    let mut rest = text;
    loop {
        let (result, read, written) =
            enc.encode_from_utf8_without_replacement(rest, &mut buf, false);
        out.extend_from_slice(&buf[..written]);
        rest = &rest[read..];
        match result {
            EncoderResult::InputEmpty => break,
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(_) => {
                let (_, _, w) = enc.encode_from_utf8_without_replacement("■", &mut buf, false);
                out.extend_from_slice(&buf[..w]);
            }
        }
    }
    let (_, _, w) = enc.encode_from_utf8_without_replacement("", &mut buf, true);
    out.extend_from_slice(&buf[..w]);
    out
}

/// A message under construction: segments joined with CR.
struct Msg(String);

impl Msg {
    fn new(kind: &str, event: &str, structure: &str, control: &str) -> Msg {
        Msg(format!(
            "MSH|^~\\&|AKARI-SYNTH|SYNTH|GW|RCV|{MSH_TIME}||{kind}^{event}^{structure}|{control}|P|2.5||||||~ISO IR87||ISO 2022-1994|SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO\r"
        ))
    }
    fn seg(&mut self, fields: &[&str]) -> &mut Self {
        self.0.push_str(&fields.join("|"));
        self.0.push('\r');
        self
    }
}

fn pid_segment(p: &PatientSpec) -> String {
    let sex = match p.sex {
        Sex::Male => "M",
        Sex::Female => "F",
        Sex::Other => "O",
        Sex::Unknown => "U",
    };
    format!(
        "PID|0001||{}^^^^PI||{}^{}^^^^^L^I~{}^{}^^^^^L^P||{}|{sex}",
        p.hospital_id,
        escape(&p.family_kanji),
        escape(&p.given_kanji),
        escape(&p.family_kana),
        escape(&p.given_kana),
        p.birth_date.format("%Y%m%d")
    )
}

fn key(p: &PatientSpec, date: &str, data_type: &str, order: &str, extended: bool) -> Key {
    Key {
        pid: p.hospital_id.clone(),
        date: date.to_string(),
        data_type: data_type.to_string(),
        order: order.to_string(),
        extended,
    }
}

fn inpatient(p: &PatientSpec) -> bool {
    p.encounters
        .iter()
        .any(|e| e.v.0.class.as_deref() == Some("IMP"))
}

fn pv1(p: &PatientSpec) -> String {
    if inpatient(p) {
        "PV1|0001|I".into()
    } else {
        "PV1|0001|O|01^^^^^C".into()
    }
}

fn max_updated<'a, T: 'a>(items: impl Iterator<Item = &'a Item<T>>, or: Instant) -> Instant {
    items.map(|i| i.last_updated).max().unwrap_or(or)
}

/// The messages of one patient. `before`: the same patient as the storage holds it
/// already (its stays are kept and moved by transfers rather than rewritten).
fn messages_of(p: &PatientSpec, before: Option<&PatientSpec>) -> Vec<Stored> {
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

/// A message's segment from owned fields.
fn seg_of(m: &mut Msg, fields: &[String]) {
    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    m.seg(&refs);
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

/// The IAM segment of the `n`th allergy.
fn iam_fields(n: usize, it: &Item<spec::AllergySpec>) -> [String; 18] {
    let a = &it.v.0;
    let (ty, tyname) = match a.categories.first().map(String::as_str) {
        Some("medication") => ("DA", "薬剤アレルギー"),
        Some("food") => ("FA", "食物アレルギー"),
        _ => ("EA", "環境アレルギー"),
    };
    let (sev, sevname) = match a.criticality {
        Some(Criticality::High) => ("SV", "重度"),
        Some(Criticality::Low) => ("MI", "軽度"),
        Some(Criticality::UnableToAssess) => ("U", "不明"),
        None => ("", ""),
    };
    let status = if it.entered_in_error {
        "E"
    } else if a.verification_status.as_deref() == Some("unconfirmed") {
        "U"
    } else {
        "C"
    };
    let reactions: Vec<String> = a.reactions.iter().map(|r| escape(r)).collect();
    [
        "IAM".to_string(),
        (n + 1).to_string(),
        format!("{ty}^{tyname}^HL70127"),
        format!("^{}^99XYZ", escape(&a.substance)),
        if sev.is_empty() {
            String::new()
        } else {
            format!("{sev}^{sevname}^HL70128")
        },
        reactions.join("~"),
        "A^追加^HL70323".into(),
        escape(&a.id),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        ts_opt(&a.recorded),
        String::new(),
        String::new(),
        String::new(),
        format!("{status}^^HL70438"),
    ]
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

/// The PRB segment of a problem.
fn prb_fields(it: &Item<spec::ConditionSpec>) -> [String; 17] {
    let c = &it.v.0;
    let icd = c.code.clone().unwrap_or_default();
    [
        "PRB".to_string(),
        if it.entered_in_error { "DE" } else { "AD" }.into(),
        ts_opt(&c.recorded),
        format!("{}^{}^MDCDX2", code_for(&c.text, 8), escape(&c.text)),
        escape(&c.id),
        String::new(),
        String::new(),
        ts_opt(&c.recorded),
        String::new(),
        String::new(),
        format!("{}^^I10", escape(&icd)),
        String::new(),
        String::new(),
        String::new(),
        if c.clinical_status.as_deref() == Some("resolved") {
            "F^治癒^HL70241".into()
        } else {
            String::new()
        },
        String::new(),
        onset_ts(c.onset.as_ref()),
    ]
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

/// ORC, RXA and RXR of one administration of order `order`.
fn administration_segments(m: &mut Msg, order: &str, it: &Item<MarSpec>) {
    let a = &it.v.m;
    let t = ts(&a.time);
    let drug = drug_ce(&a.medication);
    let unit = unit_ce(&it.v.dose_unit);
    m.seg(&["ORC", "NW", order, "", "1", "", "", "", "", &t]);
    let status = if a.status == "not-done" { "NA" } else { "CP" };
    let action = if it.entered_in_error { "D" } else { "A" };
    let mut rxa = vec![
        "RXA",
        "0",
        "1",
        t.as_str(),
        t.as_str(),
        drug.as_str(),
        it.v.dose_value.as_str(),
        unit.as_str(),
    ];
    rxa.extend(std::iter::repeat_n("", 12));
    rxa.push(status);
    rxa.push(action);
    m.seg(&rxa);
    m.seg(&[&route(a.route.as_deref().unwrap_or(""))]);
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

/// The `n`th result OBX of a draw at `when`.
fn lab_obx(m: &mut Msg, n: usize, o: &Obx, when: &str) {
    let code = format!("{}^{}^JC10", o.code, escape(&o.name));
    let unit = if o.unit.is_empty() {
        String::new()
    } else {
        format!("{}^{}^99XYZ", escape(&o.unit), escape(&o.unit))
    };
    let status = if o.eie { "D" } else { "F" };
    m.seg(&[
        "OBX",
        &(n + 1).to_string(),
        o.vt,
        &code,
        "",
        &escape(&o.value),
        &unit,
        &escape(&o.range),
        &o.flag,
        "",
        "",
        status,
        "",
        "",
        when,
    ]);
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

/// (OBX-3 code, OBX-5 value, OBX-6 unit) of a vital sign: two for a blood pressure.
fn vital_rows(v: &VitalSpec) -> Vec<(String, String, String)> {
    let one =
        |code: &str, unit: &str| vec![(code.to_string(), v.m.value.clone(), unit.to_string())];
    match (v.m.kind, &v.bp) {
        (VitalKind::BloodPressure, Some((s, d))) => vec![
            (
                "9A751000000000001^収縮期血圧^JC10".into(),
                s.clone(),
                "mm(hg)^mmHg^ISO+".into(),
            ),
            (
                "9A761000000000001^拡張期血圧^JC10".into(),
                d.clone(),
                "mm(hg)^mmHg^ISO+".into(),
            ),
        ],
        (VitalKind::HeartRate, _) => one("9P300000000000001^脈拍^JC10", "/min^/min^ISO+"),
        (VitalKind::BodyTemperature, _) => one("9P100000000000001^体温^JC10", "Cel^℃^ISO+"),
        (VitalKind::RespiratoryRate, _) => one("9P200000000000001^呼吸数^JC10", "/min^/min^ISO+"),
        (VitalKind::OxygenSaturation, _) => one("2708-6^SpO2^LN", "%^%^ISO+"),
        (VitalKind::BodyWeight, _) => one("9N006000000000001^体重^JC10", "kg^kg^ISO+"),
        _ => one("9N001000000000001^身長^JC10", "cm^cm^ISO+"),
    }
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

/// PRB-16 (onset) as an HL7 date or time; empty for an onset HL7 cannot carry as one.
fn onset_ts(onset: Option<&Onset>) -> String {
    match onset {
        Some(Onset::At(Moment::Year(y))) => format!("{y:04}"),
        Some(Onset::At(Moment::Month(y, m))) => format!("{y:04}{m:02}"),
        Some(Onset::At(Moment::Day(d))) => d.format("%Y%m%d").to_string(),
        Some(Onset::At(Moment::Time(t))) => stamp(t),
        _ => String::new(),
    }
}

struct Obx {
    vt: &'static str,
    code: String,
    name: String,
    value: String,
    unit: String,
    range: String,
    flag: String,
    eie: bool,
    updated: Instant,
}

fn is_injection(rx: &RxSpec) -> bool {
    is_injection_route(rx.m.route.as_deref())
}

fn is_injection_route(route: Option<&str>) -> bool {
    matches!(route, Some("点滴静注" | "静注" | "皮下注"))
}

fn route(text: &str) -> String {
    let code = match text {
        "内服" => "PO",
        "点滴静注" | "静注" => "IV",
        "皮下注" => "SC",
        _ => "",
    };
    format!("RXR|{code}^{}^HL70162", escape(text))
}

/// A drug as a coded element (synthetic HOT9 code ^ name).
fn drug_ce(name: &str) -> String {
    format!("{}^{}^HOT9", code_for(name, 9), escape(name))
}

/// A dose unit as a coded element (MERIT-9 code ^ name).
fn unit_ce(unit: &str) -> String {
    format!("{}^{}^MR9P", unit_code(unit), escape(unit))
}

fn unit_code(unit: &str) -> &'static str {
    match unit {
        "錠" => "TAB",
        "g" => "G",
        "単位" => "U",
        _ => "",
    }
}

/// The 15-digit order number of a prescription: 1, the patient index, the Rp index.
fn order_number(p: &PatientSpec, rx_id: &str) -> String {
    let k: u64 = rx_id
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    format!("1{:08}{:06}", p.index, k)
}

/// ORC-12 ordering provider (XCN) of a prescription: staff ID ^ family ^ given.
fn prescriber(rx: &akari_sync::model::Prescription) -> String {
    let Some(name) = rx.prescriber.as_ref().and_then(|p| p.name.as_deref()) else {
        return String::new();
    };
    let (family, given) = name.split_once(' ').unwrap_or((name, ""));
    let id = crate::synth::spec::PRESCRIBERS
        .iter()
        .find(|(_, f, g)| *f == family && *g == given)
        .map_or("", |(id, _, _)| id);
    format!("{id}^{}^{}", escape(family), escape(given))
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

/// ORC-1 order control and ORC-5 order status of a prescription (a cancel for one
/// entered in error).
fn order_control(it: &Item<RxSpec>) -> (&'static str, &'static str) {
    if it.entered_in_error {
        ("CA", "")
    } else {
        match it.v.m.status.as_str() {
            "completed" => ("NW", "CM"),
            "stopped" => ("DC", "DC"),
            _ => ("NW", ""),
        }
    }
}

/// TQ1 of a prescription: usage (JAMI code), days supplied, period of use, as needed.
fn tq1_segment(m: &mut Msg, rx: &akari_sync::model::Prescription) {
    let timing = rx.timing.clone().unwrap_or_default();
    let usage = format!("{}&{}&JAMISDP01", code_for(&timing, 16), escape(&timing));
    let prn = if rx.as_needed {
        "PRN^頓用^HL70485"
    } else {
        ""
    };
    m.seg(&[
        "TQ1",
        "1",
        "",
        &usage,
        "",
        "",
        &rx.days.map(|d| format!("{d}^D")).unwrap_or_default(),
        &ts_opt(&rx.period_start),
        &ts_opt(&rx.period_end),
        prn,
    ]);
}

fn place(e: &EncounterSpec) -> String {
    let e = &e.0;
    format!(
        "{}^{}^{}^^^N",
        escape(e.ward.as_deref().unwrap_or("")),
        escape(e.room.as_deref().unwrap_or("")),
        escape(e.bed.as_deref().unwrap_or(""))
    )
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

/// Bytes of a stored message with its time filled in.
fn bytes_of(s: &Stored) -> Vec<u8> {
    let t = &s.stamp[..14];
    encode_iso2022jp(&s.text.replace(MSH_TIME, t))
}

/// Where a stored message lives under the roots.
fn path_of(paths: &Ssmix2Paths, name: &FileName) -> PathBuf {
    let root = if name.key.extended {
        &paths.extended
    } else {
        &paths.standard
    };
    root.join(name.relative_path(&name.name()))
}

fn file_name(s: &Stored, flag: Flag) -> FileName {
    FileName {
        key: s.key.clone(),
        stamp: s.stamp.clone(),
        dept: s.dept.to_string(),
        flag,
    }
}

fn write_file(paths: &Ssmix2Paths, name: &FileName, bytes: &[u8]) -> std::io::Result<()> {
    let path = path_of(paths, name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}

/// Rename a stored version to another flag (the folder for the extended storage).
fn rename(paths: &Ssmix2Paths, name: &FileName, to: Flag) -> std::io::Result<()> {
    let root = if name.key.extended {
        &paths.extended
    } else {
        &paths.standard
    };
    let dir = root.join(name.key.folder());
    let mut renamed = name.clone();
    renamed.flag = to;
    std::fs::rename(dir.join(name.name()), dir.join(renamed.name()))
}

/// A journal being written: records per storage.
#[derive(Default)]
struct JournalOut {
    standard: Vec<u8>,
    extended: Vec<u8>,
    latest: String,
}

impl JournalOut {
    fn add(&mut self, s: &Stored, delete: bool, bytes: &[u8]) {
        let buf = if s.key.extended {
            &mut self.extended
        } else {
            &mut self.standard
        };
        buf.extend_from_slice(txn::header(FACILITY, &s.key, delete, s.dept, &s.stamp).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(bytes);
        buf.extend_from_slice(b"\r\n");
        if s.stamp > self.latest {
            self.latest = s.stamp.clone();
        }
    }

    /// Write `TR_<stamp>_<n>.DAT` in the year folder of `stamp`, dated `when`.
    fn write(
        &self,
        paths: &Ssmix2Paths,
        stamp: &str,
        n: u64,
        when: std::time::SystemTime,
    ) -> std::io::Result<()> {
        for (dir, data) in [
            (&paths.transaction, &self.standard),
            (&paths.extended_transaction, &self.extended),
        ] {
            if data.is_empty() {
                continue;
            }
            let ydir = dir.join(&stamp[..4]);
            std::fs::create_dir_all(&ydir)?;
            let path = ydir.join(format!("TR_{stamp}_{n:05}.DAT"));
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            f.write_all(data)?;
            f.set_modified(when)?;
        }
        Ok(())
    }
}

/// Write a stored message's file with `flag` and journal it (a `_0` as a deletion);
/// its size in bytes.
fn store(
    paths: &Ssmix2Paths,
    journal: &mut JournalOut,
    s: &Stored,
    flag: Flag,
) -> std::io::Result<usize> {
    let bytes = bytes_of(s);
    write_file(paths, &file_name(s, flag), &bytes)?;
    journal.add(s, flag == Flag::Deleted, &bytes);
    Ok(bytes.len())
}

/// Patients rendered per work unit.
const BLOCK: u64 = 256;

fn in_blocks<R: Send>(
    patients: u64,
    work: impl Fn(u64) -> std::io::Result<R> + Sync,
) -> std::io::Result<Vec<R>> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let blocks = patients.div_ceil(BLOCK);
    let next = AtomicU64::new(0);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= blocks {
                    break;
                }
                let r = work(b);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((b, r));
            });
        }
    });
    let mut v = results.into_inner().unwrap_or_else(|e| e.into_inner());
    v.sort_by_key(|(b, _)| *b);
    v.into_iter().map(|(_, r)| r).collect()
}

/// Write the whole hospital as an SS-MIX2 storage under `dir` (see [`Ssmix2Paths`]),
/// streaming patient by patient, with a transaction storage journaling every file.
pub fn write_ssmix2_tree(cfg: &SynthConfig, dir: &Path) -> std::io::Result<Ssmix2Stats> {
    let paths = Ssmix2Paths::under(dir);
    for d in [
        &paths.standard,
        &paths.extended,
        &paths.transaction,
        &paths.extended_transaction,
    ] {
        std::fs::create_dir_all(d)?;
    }
    let per_block = in_blocks(cfg.patients, |b| {
        let mut stats = Ssmix2Stats::default();
        let mut journal = JournalOut::default();
        for i in b * BLOCK..((b + 1) * BLOCK).min(cfg.patients) {
            let p = patient(cfg, i);
            stats.patients += 1;
            for s in messages_of(&p, None) {
                let len = store(&paths, &mut journal, &s, Flag::Current)?;
                stats.files += 1;
                stats.bytes += len as u64;
                *stats.per_type.entry(s.key.data_type.clone()).or_default() += 1;
            }
        }
        // The journal of data stored in the past: named and dated by its last record.
        let when = layout::stamp_time(&journal.latest)
            .and_then(|t| {
                t.and_local_timezone(FixedOffset::east_opt(9 * 3600).expect("offset"))
                    .single()
            })
            .map(std::time::SystemTime::from)
            .unwrap_or_else(std::time::SystemTime::now);
        if !journal.latest.is_empty() {
            journal.write(&paths, &journal.latest, b, when)?;
        }
        Ok(stats)
    })?;
    let mut total = Ssmix2Stats::default();
    for s in per_block {
        total.patients += s.patients;
        total.files += s.files;
        total.bytes += s.bytes;
        for (k, v) in s.per_type {
            *total.per_type.entry(k).or_default() += v;
        }
    }
    Ok(total)
}

/// Apply `delta` to a storage written by [`write_ssmix2_tree`] for `cfg`: renames,
/// new versions, deletion messages and their journal.
pub fn write_ssmix2_delta(
    cfg: &SynthConfig,
    delta: &Ssmix2Delta,
    dir: &Path,
) -> std::io::Result<Ssmix2DeltaReport> {
    let paths = Ssmix2Paths::under(dir);
    let at_stamp = {
        let mut s = stamp(&delta.at);
        s.replace_range(14.., "500");
        s
    };
    let per_block = in_blocks(cfg.patients, |b| {
        let mut w = DeltaWriter {
            paths: &paths,
            at_stamp: &at_stamp,
            journal: JournalOut::default(),
            report: Ssmix2DeltaReport::default(),
        };
        for i in b * BLOCK..((b + 1) * BLOCK).min(cfg.patients) {
            if !delta.selects(i) {
                continue;
            }
            let before = patient(cfg, i);
            let mut after = before.clone();
            delta.apply(cfg, &mut after);
            w.patient(&before, &after)?;
        }
        if !w.journal.latest.is_empty() {
            w.journal
                .write(&paths, &at_stamp, 50_000 + b, std::time::SystemTime::now())?;
        }
        Ok(w.report)
    })?;
    let mut total = Ssmix2DeltaReport::default();
    for r in per_block {
        total.written += r.written;
        total.renamed += r.renamed;
        total.patients.extend(r.patients);
        total.stay_patients.extend(r.stay_patients);
    }
    Ok(total)
}

/// A delta being written for a block of patients.
struct DeltaWriter<'a> {
    paths: &'a Ssmix2Paths,
    /// The 発生日時 of every file the delta writes.
    at_stamp: &'a str,
    journal: JournalOut,
    report: Ssmix2DeltaReport,
}

impl DeltaWriter<'_> {
    /// Store what changed from `before` to `after`: a changed key's `_1` becomes `_2`
    /// beside a new `_1`, a deleted key's `_1` becomes `_0` beside a deletion message,
    /// a new key gets its `_1`.
    fn patient(&mut self, before: &PatientSpec, after: &PatientSpec) -> std::io::Result<()> {
        let keyed = |v: Vec<Stored>| -> BTreeMap<Key, Stored> {
            v.into_iter().map(|s| (s.key.clone(), s)).collect()
        };
        let old = keyed(messages_of(before, None));
        let new = keyed(messages_of(after, Some(before)));
        let is_stay = |k: &Key| matches!(k.data_type.as_str(), "ADT-22" | "ADT-42" | "ADT-52");
        let mut touched = false;
        for (k, o) in &old {
            match new.get(k) {
                Some(n) if n.text == o.text => continue,
                Some(n) => {
                    rename(self.paths, &file_name(o, Flag::Current), Flag::Superseded)?;
                    self.store_now(n, Flag::Current)?;
                }
                None => {
                    rename(self.paths, &file_name(o, Flag::Current), Flag::Deleted)?;
                    self.store_now(o, Flag::Deleted)?;
                }
            }
            self.report.renamed += 1;
            self.report.written += 1;
            touched = true;
            if is_stay(k) {
                self.report.stay_patients.insert(before.hospital_id.clone());
            }
        }
        for (k, n) in &new {
            if old.contains_key(k) {
                continue;
            }
            self.store_now(n, Flag::Current)?;
            self.report.written += 1;
            touched = true;
            if is_stay(k) {
                self.report.stay_patients.insert(before.hospital_id.clone());
            }
        }
        if touched {
            self.report.patients.insert(before.hospital_id.clone());
        }
        Ok(())
    }

    /// Store a message as happening at the delta's time.
    fn store_now(&mut self, s: &Stored, flag: Flag) -> std::io::Result<()> {
        let mut s = s.clone();
        s.stamp = self.at_stamp.to_string();
        store(self.paths, &mut self.journal, &s, flag)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_replaces_characters_outside_jis_x_0208() {
        let b = encode_iso2022jp("髙橋 ｻﾄｳ ｱﾝﾄﾞｳ 〜");
        let (text, _, err) = encoding_rs::ISO_2022_JP.decode(&b);
        assert!(!err);
        assert_eq!(text, "髙橋 サトウ アンドウ ■");
    }
}
