//! The segments and fields of the stored messages (MSH, PID, PV1, IAM, PRB, ORC, TQ1,
//! RXR, RXA, OBX), their coded elements and times, and the ISO-2022-JP encoding.

use akari_sync::model::{Criticality, Instant, Moment, Onset, Sex, VitalKind};
use akari_sync::source::ssmix2::er7::escape;
use akari_sync::source::ssmix2::layout;
use chrono::{FixedOffset, NaiveDateTime};

use crate::synth::spec::{self, EncounterSpec, Item, MarSpec, PatientSpec, RxSpec, VitalSpec};

pub(super) const MSH_TIME: &str = "\u{1}";

pub(super) fn jst(t: &Instant) -> NaiveDateTime {
    t.with_timezone(&FixedOffset::east_opt(9 * 3600).expect("offset"))
        .naive_local()
}

pub(super) fn ts(t: &Instant) -> String {
    jst(t).format("%Y%m%d%H%M%S").to_string()
}

pub(super) fn ts_opt(t: &Option<Instant>) -> String {
    t.as_ref().map(ts).unwrap_or_default()
}

pub(super) fn day(t: &Instant) -> String {
    jst(t).format("%Y%m%d").to_string()
}

pub(super) fn stamp(t: &Instant) -> String {
    layout::stamp_of(jst(t))
}

/// A synthetic code of `digits` digits for a name (stable, not a real code).
pub(super) fn code_for(name: &str, digits: u32) -> String {
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
pub(super) struct Msg(pub(super) String);

impl Msg {
    pub(super) fn new(kind: &str, event: &str, structure: &str, control: &str) -> Msg {
        Msg(format!(
            "MSH|^~\\&|AKARI-SYNTH|SYNTH|GW|RCV|{MSH_TIME}||{kind}^{event}^{structure}|{control}|P|2.5||||||~ISO IR87||ISO 2022-1994|SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO\r"
        ))
    }
    pub(super) fn seg(&mut self, fields: &[&str]) -> &mut Self {
        self.0.push_str(&fields.join("|"));
        self.0.push('\r');
        self
    }
}

/// A message's segment from owned fields.
pub(super) fn seg_of(m: &mut Msg, fields: &[String]) {
    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    m.seg(&refs);
}

pub(super) fn pid_segment(p: &PatientSpec) -> String {
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

pub(super) fn inpatient(p: &PatientSpec) -> bool {
    p.encounters
        .iter()
        .any(|e| e.v.0.class.as_deref() == Some("IMP"))
}

pub(super) fn pv1(p: &PatientSpec) -> String {
    if inpatient(p) {
        "PV1|0001|I".into()
    } else {
        "PV1|0001|O|01^^^^^C".into()
    }
}

/// The IAM segment of the `n`th allergy.
pub(super) fn iam_fields(n: usize, it: &Item<spec::AllergySpec>) -> [String; 18] {
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

/// The PRB segment of a problem.
pub(super) fn prb_fields(it: &Item<spec::ConditionSpec>) -> [String; 17] {
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

/// PRB-16 (onset) as an HL7 date or time; empty for an onset HL7 cannot carry as one.
pub(super) fn onset_ts(onset: Option<&Onset>) -> String {
    match onset {
        Some(Onset::At(Moment::Year(y))) => format!("{y:04}"),
        Some(Onset::At(Moment::Month(y, m))) => format!("{y:04}{m:02}"),
        Some(Onset::At(Moment::Day(d))) => d.format("%Y%m%d").to_string(),
        Some(Onset::At(Moment::Time(t))) => stamp(t),
        _ => String::new(),
    }
}

/// The 15-digit order number of a prescription: 1, the patient index, the Rp index.
pub(super) fn order_number(p: &PatientSpec, rx_id: &str) -> String {
    let k: u64 = rx_id
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    format!("1{:08}{:06}", p.index, k)
}

/// ORC-12 ordering provider (XCN) of a prescription: staff ID ^ family ^ given.
pub(super) fn prescriber(rx: &akari_sync::model::Prescription) -> String {
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

/// ORC-1 order control and ORC-5 order status of a prescription (a cancel for one
/// entered in error).
pub(super) fn order_control(it: &Item<RxSpec>) -> (&'static str, &'static str) {
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
pub(super) fn tq1_segment(m: &mut Msg, rx: &akari_sync::model::Prescription) {
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

pub(super) fn route(text: &str) -> String {
    let code = match text {
        "内服" => "PO",
        "点滴静注" | "静注" => "IV",
        "皮下注" => "SC",
        _ => "",
    };
    format!("RXR|{code}^{}^HL70162", escape(text))
}

/// A drug as a coded element (synthetic HOT9 code ^ name).
pub(super) fn drug_ce(name: &str) -> String {
    format!("{}^{}^HOT9", code_for(name, 9), escape(name))
}

/// A dose unit as a coded element (MERIT-9 code ^ name).
pub(super) fn unit_ce(unit: &str) -> String {
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

/// ORC, RXA and RXR of one administration of order `order`.
pub(super) fn administration_segments(m: &mut Msg, order: &str, it: &Item<MarSpec>) {
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

pub(super) struct Obx {
    pub(super) vt: &'static str,
    pub(super) code: String,
    pub(super) name: String,
    pub(super) value: String,
    pub(super) unit: String,
    pub(super) range: String,
    pub(super) flag: String,
    pub(super) eie: bool,
    pub(super) updated: Instant,
}

/// The `n`th result OBX of a draw at `when`.
pub(super) fn lab_obx(m: &mut Msg, n: usize, o: &Obx, when: &str) {
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

/// (OBX-3 code, OBX-5 value, OBX-6 unit) of a vital sign: two for a blood pressure.
pub(super) fn vital_rows(v: &VitalSpec) -> Vec<(String, String, String)> {
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

pub(super) fn place(e: &EncounterSpec) -> String {
    let e = &e.0;
    format!(
        "{}^{}^{}^^^N",
        escape(e.ward.as_deref().unwrap_or("")),
        escape(e.room.as_deref().unwrap_or("")),
        escape(e.bed.as_deref().unwrap_or(""))
    )
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
