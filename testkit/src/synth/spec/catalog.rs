//! What the synthetic hospital draws from — lab tests, infection screens, drugs,
//! allergens, conditions — and how one lab result, vital sign or document is made.

use akari_sync::model::{
    Criticality, DocumentKind, Instant, LabResult, ReferenceRange, VitalKind, VitalSign,
};
use chrono::Duration;

use super::{LabSpec, PatientSpec, VitalSpec};
use crate::synth::Rng;

/// The text every synthetic reference range carries beside its numbers (as JCCLS ranges
/// do): a note, never what is shown instead of the numbers.
const REFERENCE_RANGE_TEXT: &str = "JCCLS共用基準範囲2022";

/// (name, JLAC10, unit, low, high, decimals)
pub(super) const LABS: &[(&str, &str, &str, f64, f64, u32)] = &[
    ("白血球数", "2A990000001930101", "10^3/μL", 3.3, 8.6, 1),
    ("ヘモグロビン", "2A030000001930101", "g/dL", 13.7, 16.8, 1),
    ("血小板数", "2A050000001930101", "10^4/μL", 15.8, 34.8, 1),
    ("AST", "3B035000002327201", "U/L", 13.0, 30.0, 0),
    ("ALT", "3B045000002327201", "U/L", 10.0, 42.0, 0),
    ("クレアチニン", "3C015000002327101", "mg/dL", 0.65, 1.07, 2),
    ("ナトリウム", "3H010000002327101", "mmol/L", 138.0, 145.0, 0),
    ("カリウム", "3H015000002327101", "mmol/L", 3.6, 4.8, 1),
    ("CRP", "5C070000002329201", "mg/dL", 0.0, 0.14, 2),
    ("血糖", "3D010000002227101", "mg/dL", 73.0, 109.0, 0),
    ("HbA1c", "3D046000001906202", "%", 4.9, 6.0, 1),
];

/// (name, JLAC10) of infection screening tests.
pub(super) const INFECTIONS: &[(&str, &str)] = &[
    ("HBs抗原", "5F016141432305101"),
    ("HCV抗体", "5F360145932305101"),
    ("梅毒TP抗体", "5E071141432305101"),
    ("HIV抗体", "5F421141432305101"),
    ("MRSA培養", "6B010000001999901"),
];

/// (staff ID, family name, given name) of the prescribing physicians.
pub(crate) const PRESCRIBERS: &[(&str, &str, &str)] = &[
    ("D0001", "医療", "太郎"),
    ("D0002", "医学", "一郎"),
    ("D0003", "診療", "和子"),
    ("D0004", "薬師", "花子"),
];

/// (name, dose, unit, route, timing, as needed)
pub(super) const MEDS: &[(&str, &str, &str, &str, &str, bool)] = &[
    (
        "アムロジピン錠5mg",
        "1",
        "錠",
        "内服",
        "1日1回 朝食後",
        false,
    ),
    (
        "酸化マグネシウム錠330mg",
        "2",
        "錠",
        "内服",
        "1日3回 毎食後",
        false,
    ),
    (
        "ロキソプロフェンNa錠60mg",
        "1",
        "錠",
        "内服",
        "疼痛時",
        true,
    ),
    (
        "ランソプラゾールOD錠15mg",
        "1",
        "錠",
        "内服",
        "1日1回 朝食後",
        false,
    ),
    (
        "ワルファリンK錠1mg",
        "2",
        "錠",
        "内服",
        "1日1回 朝食後",
        false,
    ),
    (
        "セファゾリンNa注射用1g",
        "1",
        "g",
        "点滴静注",
        "1日3回 8時間毎",
        false,
    ),
    (
        "ヒトインスリン注100単位/mL",
        "4",
        "単位",
        "皮下注",
        "1日3回 毎食直前",
        false,
    ),
    (
        "ブロチゾラムOD錠0.25mg",
        "0.5",
        "錠",
        "内服",
        "1日1回 就寝前",
        false,
    ),
    (
        "アセトアミノフェン錠200mg",
        "2",
        "錠",
        "内服",
        "発熱時",
        true,
    ),
    (
        "ヘパリンNa注5千単位/5mL",
        "5000",
        "単位",
        "静注",
        "1日2回 12時間毎",
        false,
    ),
    (
        "メトホルミン塩酸塩錠250mg",
        "1",
        "錠",
        "内服",
        "1日2回 朝夕食後",
        false,
    ),
    (
        "フロセミド錠20mg",
        "1",
        "錠",
        "内服",
        "1日1回 朝食後",
        false,
    ),
];

/// (substance, category, reactions, criticality)
pub(super) const ALLERGENS: &[(&str, &str, &str, Criticality)] = &[
    (
        "ペニシリン系抗菌薬",
        "medication",
        "蕁麻疹",
        Criticality::High,
    ),
    (
        "セフェム系抗菌薬",
        "medication",
        "アナフィラキシー",
        Criticality::High,
    ),
    ("ヨード造影剤", "medication", "呼吸困難", Criticality::High),
    ("アスピリン", "medication", "喘息発作", Criticality::High),
    ("ロキソプロフェン", "medication", "蕁麻疹", Criticality::Low),
    ("ラテックス", "environment", "接触皮膚炎", Criticality::Low),
    ("さば", "food", "蕁麻疹", Criticality::Low),
    ("卵", "food", "腹痛", Criticality::Low),
    ("小麦", "food", "アナフィラキシー", Criticality::High),
    ("そば", "food", "アナフィラキシー", Criticality::High),
    (
        "スギ花粉",
        "environment",
        "鼻炎",
        Criticality::UnableToAssess,
    ),
];

/// (text, ICD-10)
pub(super) const CONDITIONS: &[(&str, &str)] = &[
    ("高血圧症", "I10"),
    ("2型糖尿病", "E11.9"),
    ("脂質異常症", "E78.5"),
    ("心房細動", "I48.9"),
    ("慢性心不全", "I50.9"),
    ("肺炎", "J18.9"),
    ("大腿骨頸部骨折", "S72.0"),
    ("脳梗塞", "I63.9"),
    ("慢性腎臓病", "N18.9"),
    ("胃癌", "C16.9"),
    ("慢性閉塞性肺疾患", "J44.9"),
    ("アルツハイマー型認知症", "G30.9"),
];

pub(super) const XSS_NAME: &str = "<img src=x onerror=alert(1)>";
pub(super) const XSS_TEXT: &str = "<script>alert('xss')</script>";

pub(super) fn fmt_num(v: f64, decimals: u32) -> String {
    let s = format!("{v:.*}", decimals as usize);
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        if t.is_empty() || t == "-" {
            "0".into()
        } else {
            t.to_string()
        }
    } else {
        s
    }
}

pub(super) fn hours_ago(now: Instant, h: i64, m: i64) -> Instant {
    now - Duration::hours(h) - Duration::minutes(m)
}

pub(super) fn lab_result(
    rng: &mut Rng,
    id: String,
    lab: &(&str, &str, &str, f64, f64, u32),
    time: Instant,
) -> LabSpec {
    let (name, code, unit, low, high, dec) = *lab;
    let w = (high - low).max(0.1);
    let v = (low - 0.3 * w + rng.unit() * 1.8 * w).max(0.0);
    let value = fmt_num(v, dec);
    let vv: f64 = value.parse().unwrap_or(v);
    let interp = if vv < low - w {
        "LL"
    } else if vv < low {
        "L"
    } else if vv > high + 2.0 * w {
        "HH"
    } else if vv > high {
        "H"
    } else {
        "N"
    };
    let lo = fmt_num(low, dec);
    let hi = fmt_num(high, dec);
    LabSpec {
        m: LabResult {
            id,
            test: name.to_string(),
            code: Some(code.to_string()),
            value,
            unit: Some(unit.to_string()),
            reference_range: Some(ReferenceRange {
                low: Some(lo.clone()),
                high: Some(hi.clone()),
                unit: Some(unit.to_string()),
                text: Some(REFERENCE_RANGE_TEXT.to_string()),
            }),
            interpretation: Some(interp.to_string()),
            time: Some(time),
        },
        low: lo,
        high: hi,
    }
}

pub(super) fn vital(rng: &mut Rng, id: String, kind: VitalKind, time: Instant) -> VitalSpec {
    let (value, unit, bp) = match kind {
        VitalKind::BloodPressure => {
            let s = rng.range(92, 178).to_string();
            let d = rng.range(52, 98).to_string();
            (format!("{s}/{d}"), "mmHg", Some((s, d)))
        }
        VitalKind::HeartRate => (rng.range(52, 118).to_string(), "/min", None),
        VitalKind::BodyTemperature => (fmt_num(35.8 + rng.below(33) as f64 / 10.0, 1), "℃", None),
        VitalKind::RespiratoryRate => (rng.range(12, 28).to_string(), "/min", None),
        VitalKind::OxygenSaturation => (rng.range(88, 100).to_string(), "%", None),
        VitalKind::BodyWeight => (fmt_num(38.0 + rng.below(550) as f64 / 10.0, 1), "kg", None),
        _ => (fmt_num(145.0 + rng.below(400) as f64 / 10.0, 1), "cm", None),
    };
    VitalSpec {
        m: VitalSign {
            id,
            kind,
            name: Some(crate::synth::render::loinc(kind).1.to_string()),
            value,
            unit: Some(unit.to_string()),
            time,
        },
        bp,
    }
}

pub(super) fn document_text(
    kind: DocumentKind,
    p: &PatientSpec,
    xss: bool,
    rng: &mut Rng,
) -> (String, String) {
    let cond = rng.pick(CONDITIONS).0;
    let (title, mut text) = match kind {
        DocumentKind::Referral => (
            "診療情報提供書".to_string(),
            format!(
                "紹介目的: {cond}の精査加療のお願い\n既往歴: 特記事項なし\n経過: 外来にて加療中でしたが症状の増悪を認めました。\n処方: 別紙の通り\nご高診のほどよろしくお願い申し上げます。\n患者番号 {}",
                p.hospital_id
            ),
        ),
        DocumentKind::DischargeSummary => (
            "退院時サマリー".to_string(),
            format!(
                "入院時診断: {cond}\n入院経過: 入院後、点滴加療を行い軽快しました。\n退院時処方: 入院中と同様\n今後の方針: 外来で経過観察とします。"
            ),
        ),
        _ => (
            "健診結果報告書".to_string(),
            format!(
                "総合判定: {}\n血圧: {}/{} mmHg\nBMI: {}\n所見: 要経過観察",
                ["A 異常なし", "B 軽度異常", "C 要再検査", "D 要精密検査"][rng.below(4) as usize],
                rng.range(100, 160),
                rng.range(60, 95),
                fmt_num(17.0 + rng.below(150) as f64 / 10.0, 1)
            ),
        ),
    };
    if xss {
        text.push_str("\n所見補足: ");
        text.push_str(XSS_TEXT);
        text.push_str(XSS_NAME);
    }
    (title, text)
}
