//! The structured form of a synthetic patient: everything needed to render its FHIR
//! resources *and* to state its truth. Deltas mutate this form and re-render.

use akari_sync::model::{
    Administration, Allergy, Condition, Criticality, Document, DocumentKind, Encounter, Flag,
    FlagKind, Infection, Instant, LabResult, Moment, Onset, Patient, PatientKey, PatientRecord,
    Prescription, ReferenceRange, Sex, VitalKind, VitalSign,
};
use chrono::{Duration, NaiveDate};

use super::names::{to_halfwidth_katakana, FAMILY, GIVEN_FEMALE, GIVEN_MALE};
use super::render::render_one;
use super::{
    DeltaChange, DeltaConfig, DeltaReport, Rng, SynthConfig, ENCOUNTER_WINDOW_DAYS,
    RECENT_WINDOW_HOURS,
};

/// An item of a patient plus its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<T> {
    pub v: T,
    pub last_updated: Instant,
    /// Rendered with status / verificationStatus `entered-in-error`; absent from the truth.
    pub entered_in_error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AllergySpec(pub Allergy);
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionSpec(pub Condition);
#[derive(Debug, Clone, PartialEq)]
pub struct InfectionSpec {
    pub m: Infection,
    /// JLAC10 code (17 digits).
    pub code: String,
    /// POS / NEG.
    pub interpretation: &'static str,
}
#[derive(Debug, Clone, PartialEq)]
pub struct RxSpec {
    pub m: Prescription,
    /// Dose as JSON number text, e.g. "2" or "0.5".
    pub dose_value: String,
    pub dose_unit: String,
}
#[derive(Debug, Clone, PartialEq)]
pub struct MarSpec {
    pub m: Administration,
    pub dose_value: String,
    pub dose_unit: String,
}
#[derive(Debug, Clone, PartialEq)]
pub struct LabSpec {
    pub m: LabResult,
    pub low: String,
    pub high: String,
}
#[derive(Debug, Clone, PartialEq)]
pub struct VitalSpec {
    pub m: VitalSign,
    /// (systolic, diastolic) for blood pressure.
    pub bp: Option<(String, String)>,
}
#[derive(Debug, Clone, PartialEq)]
pub struct FlagSpec(pub Flag);
#[derive(Debug, Clone, PartialEq)]
pub struct EncounterSpec(pub Encounter);
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSpec(pub Document);

/// One synthetic patient.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientSpec {
    pub index: u64,
    pub id: String,
    pub hospital_id: String,
    pub family_kanji: String,
    pub given_kanji: String,
    /// Kana as the source gives it (half-width for some patients).
    pub family_kana: String,
    pub given_kana: String,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub last_updated: Instant,
    /// Counter for ids of items added by deltas.
    pub next_item: u64,
    pub allergies: Vec<Item<AllergySpec>>,
    pub conditions: Vec<Item<ConditionSpec>>,
    pub infections: Vec<Item<InfectionSpec>>,
    pub prescriptions: Vec<Item<RxSpec>>,
    pub administrations: Vec<Item<MarSpec>>,
    pub labs: Vec<Item<LabSpec>>,
    pub vitals: Vec<Item<VitalSpec>>,
    pub flags: Vec<Item<FlagSpec>>,
    pub encounters: Vec<Item<EncounterSpec>>,
    pub documents: Vec<Item<DocumentSpec>>,
}

/// How many of a hospital's `patients` are in a bed today: a quarter of a small test
/// hospital, a few hundred at 10k patients, 2,000 (a large hospital) from 100k on. The rest
/// are outpatients (past visits only).
pub fn inpatient_count(patients: u64) -> u64 {
    patients.div_ceil(4).min(200 + patients / 50).min(2_000)
}

/// The inpatient slot of patient `index` (0-based, dense), if it is an inpatient:
/// [`inpatient_count`] indices spread evenly over the hospital.
fn inpatient_slot(patients: u64, index: u64) -> Option<u64> {
    let n = patients.max(1);
    let count = inpatient_count(n);
    if index >= n {
        return None;
    }
    let (a, b) = (index * count / n, (index + 1) * count / n);
    (b > a).then_some(a)
}

/// Beds of ward `w`: 40 to 60, as in Japanese general wards.
fn ward_beds(w: u64) -> u64 {
    40 + (w * 7) % 21
}

/// Rooms of a ward, in room order: mostly 4-bed rooms, then 2-bed and private rooms
/// (each entry: beds in that room). Covers at least 60 beds; a ward uses its first beds.
const ROOM_PLAN: &[u64] = &[
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 4, 4, 4,
];

/// Where inpatient `slot` lies: (ward name, room number, bed number). Wards are filled
/// one after another, four wings a floor from the 3rd: 3階東病棟 (rooms 301–),
/// 3階西病棟 (326–), 3階南病棟 (351–), 3階北病棟 (376–), 4階東病棟, …
pub(crate) fn bed_of(slot: u64) -> (String, String, String) {
    let (mut w, mut first) = (0, 0);
    while slot >= first + ward_beds(w) {
        first += ward_beds(w);
        w += 1;
    }
    let floor = 3 + w / 4;
    let wing = w % 4;
    let mut left = slot - first;
    let mut room = 0;
    while left >= ROOM_PLAN[room] {
        left -= ROOM_PLAN[room];
        room += 1;
    }
    (
        format!("{floor}階{}病棟", ["東", "西", "南", "北"][wing as usize]),
        (floor * 100 + wing * 25 + room as u64 + 1).to_string(),
        (left + 1).to_string(),
    )
}

/// (name, JLAC10, unit, low, high, decimals)
/// The text every synthetic reference range carries beside its numbers (as JCCLS ranges
/// do): a note, never what is shown instead of the numbers.
const REFERENCE_RANGE_TEXT: &str = "JCCLS共用基準範囲2022";

const LABS: &[(&str, &str, &str, f64, f64, u32)] = &[
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
const INFECTIONS: &[(&str, &str)] = &[
    ("HBs抗原", "5F016141432305101"),
    ("HCV抗体", "5F360145932305101"),
    ("梅毒TP抗体", "5E071141432305101"),
    ("HIV抗体", "5F421141432305101"),
    ("MRSA培養", "6B010000001999901"),
];

/// (name, dose, unit, route, timing, as needed)
const MEDS: &[(&str, &str, &str, &str, &str, bool)] = &[
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
const ALLERGENS: &[(&str, &str, &str, Criticality)] = &[
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
const CONDITIONS: &[(&str, &str)] = &[
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

const XSS_NAME: &str = "<img src=x onerror=alert(1)>";
const XSS_TEXT: &str = "<script>alert('xss')</script>";

fn fmt_num(v: f64, decimals: u32) -> String {
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

fn hours_ago(now: Instant, h: i64, m: i64) -> Instant {
    now - Duration::hours(h) - Duration::minutes(m)
}

fn lab_result(
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

fn vital(rng: &mut Rng, id: String, kind: VitalKind, time: Instant) -> VitalSpec {
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
            name: Some(super::render::loinc(kind).1.to_string()),
            value,
            unit: Some(unit.to_string()),
            time,
        },
        bp,
    }
}

fn document_text(
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

pub(crate) fn generate(cfg: &SynthConfig, index: u64) -> PatientSpec {
    let mut rng = Rng::for_patient(cfg.seed, index, 0);
    let now = cfg.now;
    let sex = if rng.chance(0.5) {
        Sex::Male
    } else {
        Sex::Female
    };
    let sex = if rng.chance(0.003) { Sex::Other } else { sex };
    let (fam_k, fam_kana) = *rng.pick(FAMILY);
    let (giv_k, giv_kana) = *rng.pick(if sex == Sex::Male {
        GIVEN_MALE
    } else {
        GIVEN_FEMALE
    });
    let halfwidth = rng.chance(0.08);
    let xss = cfg.xss && index % 25 == 3;
    let mut given_kanji = giv_k.to_string();
    if xss {
        given_kanji.push_str(XSS_NAME);
    }
    let (family_kana, given_kana) = if halfwidth {
        (
            to_halfwidth_katakana(fam_kana),
            to_halfwidth_katakana(giv_kana),
        )
    } else {
        (fam_kana.to_string(), giv_kana.to_string())
    };
    let age_days = rng.range(20 * 365, 98 * 365) as i64;
    let birth_date = now.date_naive() - Duration::days(age_days);
    let base_updated = now - Duration::hours(2) - Duration::minutes(rng.below(600) as i64);
    let id = format!("pt{index:07}");
    let hospital_id = format!("{:010}", 20_000_000 + index);
    let mut p = PatientSpec {
        index,
        id: id.clone(),
        hospital_id,
        family_kanji: fam_k.to_string(),
        given_kanji,
        family_kana,
        given_kana,
        sex,
        birth_date,
        last_updated: base_updated,
        next_item: 0,
        allergies: vec![],
        conditions: vec![],
        infections: vec![],
        prescriptions: vec![],
        administrations: vec![],
        labs: vec![],
        vitals: vec![],
        flags: vec![],
        encounters: vec![],
        documents: vec![],
    };
    fn mk<T>(last_updated: Instant, v: T) -> Item<T> {
        Item {
            v,
            last_updated,
            entered_in_error: false,
        }
    }
    let slot = inpatient_slot(cfg.patients, index);
    let inpatient = slot.is_some();

    // Allergies: ~45% have at least one.
    let n_alg = if rng.chance(0.45) { rng.range(1, 3) } else { 0 };
    for k in 0..n_alg {
        let (sub, cat, reaction, crit) = *rng.pick(ALLERGENS);
        let mut substance = sub.to_string();
        if xss && k == 0 {
            substance.push_str(XSS_TEXT);
        }
        let vs = if rng.chance(0.8) {
            "confirmed"
        } else {
            "unconfirmed"
        };
        p.allergies.push(mk(
            base_updated,
            AllergySpec(Allergy {
                id: format!("alg-{index}-{k}"),
                substance,
                categories: vec![cat.to_string()],
                criticality: Some(crit),
                clinical_status: Some("active".into()),
                verification_status: Some(vs.into()),
                reactions: vec![reaction.to_string()],
                recorded: Some(now - Duration::days(rng.range(30, 3000) as i64)),
                severity: None,
                none_known: false,
            }),
        ));
    }
    // An entered-in-error allergy the engine must drop.
    if rng.chance(0.03) {
        let (sub, cat, reaction, crit) = *rng.pick(ALLERGENS);
        p.allergies.push(Item {
            entered_in_error: true,
            ..mk(
                base_updated,
                AllergySpec(Allergy {
                    id: format!("alg-{index}-e"),
                    substance: sub.into(),
                    categories: vec![cat.into()],
                    criticality: Some(crit),
                    clinical_status: Some("active".into()),
                    verification_status: Some("entered-in-error".into()),
                    reactions: vec![reaction.into()],
                    recorded: Some(now - Duration::days(40)),
                    severity: None,
                    none_known: false,
                }),
            )
        });
    }
    // Conditions.
    for k in 0..rng.range(1, 3) {
        let (text, code) = *rng.pick(CONDITIONS);
        let onset = now - Duration::days(rng.range(10, 4000) as i64);
        p.conditions.push(mk(
            base_updated,
            ConditionSpec(Condition {
                id: format!("cnd-{index}-{k}"),
                text: text.into(),
                code: Some(code.into()),
                clinical_status: Some(
                    if rng.chance(0.85) {
                        "active"
                    } else {
                        "resolved"
                    }
                    .into(),
                ),
                onset: Some(Onset::At(Moment::Day(onset.date_naive()))),
                recorded: Some(onset + Duration::days(1)),
            }),
        ));
    }
    // Infection screening: inpatients always, outpatients sometimes.
    if inpatient || rng.chance(0.3) {
        let t =
            now - Duration::days(rng.range(1, 20) as i64) - Duration::hours(rng.below(12) as i64);
        for (k, (name, code)) in INFECTIONS.iter().enumerate() {
            if k == 4 && !inpatient {
                continue;
            }
            let pos = rng.chance(if k == 4 { 0.08 } else { 0.03 });
            p.infections.push(mk(
                base_updated,
                InfectionSpec {
                    m: Infection {
                        id: format!("inf-{index}-{k}"),
                        name: name.to_string(),
                        result: if pos { "陽性 (+)" } else { "陰性 (-)" }.into(),
                        positive: pos,
                        time: Some(t),
                    },
                    code: code.to_string(),
                    interpretation: if pos { "POS" } else { "NEG" },
                },
            ));
        }
    }
    // Prescriptions.
    let n_rx = if inpatient {
        rng.range(2, 5)
    } else {
        rng.range(0, 3)
    };
    for k in 0..n_rx {
        let (med, dose, unit, route, timing, prn) = *rng.pick(MEDS);
        let start =
            now - Duration::days(rng.range(1, 25) as i64) - Duration::hours(rng.below(10) as i64);
        let end = start + Duration::days(if inpatient { 30 } else { 28 });
        let status = if rng.chance(0.85) {
            "active"
        } else {
            "completed"
        };
        p.prescriptions.push(mk(
            base_updated,
            RxSpec {
                m: Prescription {
                    id: format!("rx-{index}-{k}"),
                    medication: med.into(),
                    dose: Some(format!("1回 {dose}{unit}")),
                    route: Some(route.into()),
                    timing: Some(timing.into()),
                    status: status.into(),
                    as_needed: prn,
                    authored_on: Some(start - Duration::hours(1)),
                    period_start: Some(start),
                    period_end: Some(end),
                },
                dose_value: dose.into(),
                dose_unit: unit.into(),
            },
        ));
    }
    // MAR (inpatients): each active scheduled prescription every 8 h over the last 56 h,
    // plus two old ones (≥ 96 h) outside the window.
    if inpatient {
        for rx in p.prescriptions.clone() {
            let rx = &rx.v;
            if rx.m.status != "active" || rx.m.as_needed {
                continue;
            }
            let offset = rng.below(120) as i64;
            for (slot, h) in [2i64, 10, 18, 26, 34, 42, 50, 96, 104].iter().enumerate() {
                let t = hours_ago(now, *h, offset % 60);
                let status = if rng.chance(0.05) {
                    "not-done"
                } else {
                    "completed"
                };
                p.administrations.push(mk(
                    base_updated,
                    MarSpec {
                        m: Administration {
                            id: format!("{}-a{slot}", rx.m.id.replacen("rx-", "mar-", 1)),
                            medication: rx.m.medication.clone(),
                            dose: Some(format!("{}{}", rx.dose_value, rx.dose_unit)),
                            route: rx.m.route.clone(),
                            status: status.into(),
                            time: t,
                            prescription_id: Some(rx.m.id.clone()),
                        },
                        dose_value: rx.dose_value.clone(),
                        dose_unit: rx.dose_unit.clone(),
                    },
                ));
            }
        }
    }
    // Labs: inpatients 2 draws of 8 tests; outpatients 1 draw of 5.
    let (draws, tests) = if inpatient { (2, 8) } else { (1, 5) };
    for d in 0..draws {
        let t = now
            - Duration::days(rng.range(0, 25) as i64)
            - Duration::hours(rng.range(3, 20) as i64);
        let first = rng.below(LABS.len() as u64) as usize;
        for j in 0..tests {
            let lab = &LABS[(first + j) % LABS.len()];
            let spec = lab_result(&mut rng, format!("lab-{index}-{d}-{j}"), lab, t);
            p.labs.push(mk(base_updated, spec));
        }
    }
    // Vitals (inpatients): every 8 h over the last 56 h, plus an old set outside the window.
    if inpatient {
        let offset = rng.below(60) as i64;
        let kinds = [
            VitalKind::BloodPressure,
            VitalKind::HeartRate,
            VitalKind::BodyTemperature,
            VitalKind::RespiratoryRate,
            VitalKind::OxygenSaturation,
        ];
        for (slot, h) in [1i64, 9, 17, 25, 33, 41, 49, 100].iter().enumerate() {
            let t = hours_ago(now, *h, offset);
            for (j, kind) in kinds.iter().enumerate() {
                p.vitals.push(mk(
                    base_updated,
                    vital(&mut rng, format!("vs-{index}-{slot}-{j}"), *kind, t),
                ));
            }
        }
        p.vitals.push(mk(
            base_updated,
            vital(
                &mut rng,
                format!("vs-{index}-w"),
                VitalKind::BodyWeight,
                hours_ago(now, 30, offset),
            ),
        ));
    }
    // Flags.
    let age_years = age_days / 365;
    if inpatient && age_years > 80 && rng.chance(0.4) {
        p.flags.push(mk(
            base_updated,
            FlagSpec(Flag {
                id: format!("flg-{index}-dnr"),
                kind: FlagKind::Dnr,
                text: "DNR（心肺蘇生を行わない）".into(),
                start: Some(now - Duration::days(rng.range(1, 10) as i64)),
            }),
        ));
    }
    if p.infections
        .iter()
        .any(|i| i.v.m.positive && i.v.code.starts_with("6B010"))
    {
        p.flags.push(mk(
            base_updated,
            FlagSpec(Flag {
                id: format!("flg-{index}-iso"),
                kind: FlagKind::Isolation,
                text: "接触感染予防策（MRSA）".into(),
                start: p.infections.iter().find_map(|i| i.v.m.time),
            }),
        ));
    }
    if inpatient && (age_years > 75 || rng.chance(0.15)) && rng.chance(0.6) {
        p.flags.push(mk(
            base_updated,
            FlagSpec(Flag {
                id: format!("flg-{index}-fall"),
                kind: FlagKind::FallRisk,
                text: "転倒・転落リスク高".into(),
                start: Some(now - Duration::days(rng.range(0, 10) as i64)),
            }),
        ));
    }
    // Encounters.
    if let Some(slot) = slot {
        let (ward, room, bed) = bed_of(slot);
        p.encounters.push(mk(
            base_updated,
            EncounterSpec(Encounter {
                id: format!("enc-{index}-0"),
                status: "in-progress".into(),
                class: Some("IMP".into()),
                ward: Some(ward),
                room: Some(room),
                bed: Some(bed),
                start: Some(
                    now - Duration::days(rng.range(1, 30) as i64)
                        - Duration::hours(rng.below(10) as i64),
                ),
                end: None,
                participants: Vec::new(),
                location_ids: Vec::new(),
            }),
        ));
    }
    if !inpatient || rng.chance(0.3) {
        // Mostly within the 90-day window for finished encounters; some far outside it.
        let days = if rng.chance(0.9) {
            rng.range(20, 80)
        } else {
            rng.range(150, 300)
        };
        let start = now - Duration::days(days as i64) - Duration::hours(rng.below(8) as i64);
        p.encounters.push(mk(
            base_updated,
            EncounterSpec(Encounter {
                id: format!("enc-{index}-1"),
                status: "finished".into(),
                class: Some("AMB".into()),
                ward: None,
                room: None,
                bed: None,
                start: Some(start),
                end: Some(start + Duration::minutes(rng.range(15, 90) as i64)),
                participants: Vec::new(),
                location_ids: Vec::new(),
            }),
        ));
    }
    // Documents.
    let mut docs = vec![];
    if inpatient && rng.chance(0.35) {
        docs.push(DocumentKind::Referral);
    }
    if rng.chance(0.12) {
        docs.push(DocumentKind::DischargeSummary);
    }
    if rng.chance(0.1) {
        docs.push(DocumentKind::HealthCheck);
    }
    for (k, kind) in docs.into_iter().enumerate() {
        let (title, text) = document_text(kind, &p, xss, &mut rng);
        p.documents.push(mk(
            base_updated,
            DocumentSpec(Document {
                id: format!("doc-{index}-{k}"),
                kind,
                title,
                date: Some(now - Duration::days(rng.range(2, 300) as i64)),
                text,
            }),
        ));
    }
    p
}

impl PatientSpec {
    pub fn name_kanji(&self) -> String {
        format!("{} {}", self.family_kanji, self.given_kanji)
    }
    pub fn name_kana(&self) -> String {
        format!("{} {}", self.family_kana, self.given_kana)
    }

    pub(crate) fn truth(&self, now: Instant) -> PatientRecord {
        let recent = |t: &Instant| now - *t <= Duration::hours(RECENT_WINDOW_HOURS);
        fn live<T>(v: &[Item<T>]) -> impl Iterator<Item = &T> {
            v.iter().filter(|i| !i.entered_in_error).map(|i| &i.v)
        }
        PatientRecord {
            key: PatientKey(String::new()),
            patient: Patient {
                id: self.id.clone(),
                hospital_id: Some(self.hospital_id.clone()),
                name_kanji: Some(self.name_kanji()),
                name_kana: Some(self.name_kana()),
                sex: self.sex,
                birth_date: Some(self.birth_date),
                deceased: None,
            },
            allergies: live(&self.allergies).map(|a| a.0.clone()).collect(),
            conditions: live(&self.conditions).map(|a| a.0.clone()).collect(),
            infections: live(&self.infections).map(|a| a.m.clone()).collect(),
            prescriptions: live(&self.prescriptions).map(|a| a.m.clone()).collect(),
            administrations: live(&self.administrations)
                .filter(|a| recent(&a.m.time))
                .map(|a| a.m.clone())
                .collect(),
            labs: live(&self.labs).map(|a| a.m.clone()).collect(),
            vitals: live(&self.vitals)
                .filter(|a| recent(&a.m.time))
                .map(|a| a.m.clone())
                .collect(),
            flags: live(&self.flags).map(|a| a.0.clone()).collect(),
            encounters: live(&self.encounters)
                .filter(|e| {
                    e.0.status != "finished"
                        || e.0
                            .end
                            .is_some_and(|end| now - end <= Duration::days(ENCOUNTER_WINDOW_DAYS))
                })
                .map(|a| a.0.clone())
                .collect(),
            documents: live(&self.documents).map(|a| a.0.clone()).collect(),
            ..PatientRecord::default()
        }
    }
}

/// What a delta may do to an item.
enum Op {
    Change,
    Delete,
    EnteredInError,
}

fn pick_op(rng: &mut Rng) -> Op {
    let x = rng.below(100);
    if x < 60 {
        Op::Change
    } else if x < 85 {
        Op::Delete
    } else {
        Op::EnteredInError
    }
}

/// Mutations a delta can make to each kind of item.
pub(crate) trait Mutate {
    fn mutate(&mut self, rng: &mut Rng, at: Instant);
}

impl Mutate for AllergySpec {
    fn mutate(&mut self, rng: &mut Rng, _at: Instant) {
        self.0.criticality = Some(if self.0.criticality == Some(Criticality::High) {
            Criticality::Low
        } else {
            Criticality::High
        });
        self.0
            .reactions
            .push(["嘔吐", "発疹", "血圧低下"][rng.below(3) as usize].into());
        self.0.verification_status = Some("confirmed".into());
    }
}
impl Mutate for ConditionSpec {
    fn mutate(&mut self, _rng: &mut Rng, _at: Instant) {
        self.0.clinical_status = Some(
            if self.0.clinical_status.as_deref() == Some("active") {
                "resolved"
            } else {
                "active"
            }
            .into(),
        );
    }
}
impl Mutate for InfectionSpec {
    fn mutate(&mut self, _rng: &mut Rng, at: Instant) {
        self.m.positive = !self.m.positive;
        self.m.result = if self.m.positive {
            "陽性 (+)"
        } else {
            "陰性 (-)"
        }
        .into();
        self.interpretation = if self.m.positive { "POS" } else { "NEG" };
        self.m.time = Some(at - Duration::hours(1));
    }
}
impl Mutate for RxSpec {
    fn mutate(&mut self, _rng: &mut Rng, at: Instant) {
        self.m.status = if self.m.status == "active" {
            "stopped"
        } else {
            "active"
        }
        .into();
        self.m.period_end = Some(at);
    }
}
impl Mutate for MarSpec {
    fn mutate(&mut self, _rng: &mut Rng, _at: Instant) {
        self.m.status = if self.m.status == "completed" {
            "not-done"
        } else {
            "completed"
        }
        .into();
    }
}
impl Mutate for LabSpec {
    fn mutate(&mut self, rng: &mut Rng, _at: Instant) {
        // A corrected result: new value, same test.
        let v: f64 = self.m.value.parse().unwrap_or(1.0);
        let nv = fmt_num(v + 1.0 + rng.below(20) as f64, 0);
        self.m.value = nv;
        let hi: f64 = self.high.parse().unwrap_or(f64::MAX);
        let lo: f64 = self.low.parse().unwrap_or(0.0);
        let vv: f64 = self.m.value.parse().unwrap_or(0.0);
        let w = (hi - lo).max(0.1);
        self.m.interpretation = Some(
            if vv > hi + 2.0 * w {
                "HH"
            } else if vv > hi {
                "H"
            } else if vv < lo {
                "L"
            } else {
                "N"
            }
            .into(),
        );
    }
}
impl Mutate for VitalSpec {
    fn mutate(&mut self, rng: &mut Rng, _at: Instant) {
        let id = self.m.id.clone();
        let time = self.m.time;
        *self = vital(rng, id, self.m.kind, time);
    }
}
impl Mutate for FlagSpec {
    fn mutate(&mut self, _rng: &mut Rng, _at: Instant) {
        self.0.text.push_str("（再評価済）");
    }
}
impl Mutate for EncounterSpec {
    fn mutate(&mut self, rng: &mut Rng, _at: Instant) {
        if self.0.bed.is_some() {
            self.0.bed = Some(((rng.below(4)) + 1).to_string());
        } else {
            self.0.class = Some("EMER".into());
        }
    }
}
impl Mutate for DocumentSpec {
    fn mutate(&mut self, _rng: &mut Rng, _at: Instant) {
        self.0.text.push_str("\n追記: 内容を修正しました。");
    }
}

fn delta_list<T: Mutate + Clone>(
    list: &mut Vec<Item<T>>,
    rng: &mut Rng,
    d: &DeltaConfig,
    changed: &mut Vec<usize>,
    deleted: &mut Vec<Item<T>>,
    report: &mut DeltaReport,
) {
    let mut i = 0;
    while i < list.len() {
        if list[i].entered_in_error || !rng.chance(d.fraction) {
            i += 1;
            continue;
        }
        match pick_op(rng) {
            Op::Change => {
                list[i].v.mutate(rng, d.at);
                list[i].last_updated = d.at;
                changed.push(i);
                report.changed += 1;
                i += 1;
            }
            Op::EnteredInError => {
                list[i].entered_in_error = true;
                list[i].last_updated = d.at;
                changed.push(i);
                report.entered_in_error += 1;
                i += 1;
            }
            Op::Delete => {
                deleted.push(list.remove(i));
                // Indices after i shift down by one.
                for c in changed.iter_mut() {
                    if *c > i {
                        *c -= 1;
                    }
                }
                report.deleted += 1;
            }
        }
    }
}

/// Apply `d` to one patient: mutate its spec and append the resulting changes.
pub(crate) fn apply_delta(
    p: &mut PatientSpec,
    cfg: &SynthConfig,
    d: &DeltaConfig,
    report: &mut DeltaReport,
) {
    let mut rng = Rng::for_patient(cfg.seed ^ d.seed.wrapping_mul(0x9e37), p.index, 1 + d.seed);
    let before = report.changes.len();
    let mut upserts: Vec<super::Resource> = vec![];
    let mut deletes: Vec<(&'static str, String)> = vec![];

    // The patient itself: a rare name change (e.g. marriage) or kana correction.
    if rng.chance(d.fraction) {
        let (fam_k, fam_kana) = *rng.pick(FAMILY);
        p.family_kanji = fam_k.into();
        p.family_kana = fam_kana.into();
        p.given_kana = p.given_kana.clone();
        p.last_updated = d.at;
        report.changed += 1;
        upserts.push(super::render::render_patient(p, cfg));
    }

    macro_rules! run {
        ($field:ident, $ty:literal) => {{
            let mut changed = vec![];
            let mut deleted = vec![];
            delta_list(
                &mut p.$field,
                &mut rng,
                d,
                &mut changed,
                &mut deleted,
                report,
            );
            for i in changed {
                upserts.push(render_one(p, &p.$field[i], cfg));
            }
            for it in deleted {
                let id = super::render::Render::id(&it.v).to_string();
                if $ty == "AllergyIntolerance" {
                    report
                        .deleted_allergies
                        .push((p.hospital_id.clone(), id.clone()));
                }
                deletes.push(($ty, id));
            }
        }};
    }
    run!(allergies, "AllergyIntolerance");
    run!(conditions, "Condition");
    run!(infections, "Observation");
    run!(prescriptions, "MedicationRequest");
    run!(administrations, "MedicationAdministration");
    run!(labs, "Observation");
    run!(vitals, "Observation");
    run!(flags, "Flag");
    run!(encounters, "Encounter");
    run!(documents, "DocumentReference");

    // Additions: about a quarter as many as the changes.
    let add_p = (d.fraction * 10.0).min(1.0);
    if rng.chance(add_p) {
        let n = p.next_item;
        p.next_item += 1;
        let tag = format!("d{}n{}", d.seed, n);
        match rng.below(3) {
            0 => {
                let (sub, cat, reaction, crit) = *rng.pick(ALLERGENS);
                p.allergies.push(Item {
                    v: AllergySpec(Allergy {
                        id: format!("alg-{}-{tag}", p.index),
                        substance: sub.into(),
                        categories: vec![cat.into()],
                        criticality: Some(crit),
                        clinical_status: Some("active".into()),
                        verification_status: Some("confirmed".into()),
                        reactions: vec![reaction.into()],
                        recorded: Some(d.at - Duration::minutes(30)),
                        severity: None,
                        none_known: false,
                    }),
                    last_updated: d.at,
                    entered_in_error: false,
                });
                let last = p.allergies.len() - 1;
                upserts.push(render_one(p, &p.allergies[last], cfg));
            }
            1 => {
                let lab = &LABS[rng.below(LABS.len() as u64) as usize];
                let spec = lab_result(
                    &mut rng,
                    format!("lab-{}-{tag}", p.index),
                    lab,
                    d.at - Duration::hours(1),
                );
                p.labs.push(Item {
                    v: spec,
                    last_updated: d.at,
                    entered_in_error: false,
                });
                let last = p.labs.len() - 1;
                upserts.push(render_one(p, &p.labs[last], cfg));
            }
            _ => {
                let spec = vital(
                    &mut rng,
                    format!("vs-{}-{tag}", p.index),
                    VitalKind::HeartRate,
                    d.at - Duration::minutes(20),
                );
                p.vitals.push(Item {
                    v: spec,
                    last_updated: d.at,
                    entered_in_error: false,
                });
                let last = p.vitals.len() - 1;
                upserts.push(render_one(p, &p.vitals[last], cfg));
            }
        }
        report.added += 1;
    }

    for r in upserts {
        report.changes.push(DeltaChange::Upsert(r));
    }
    for (resource_type, id) in deletes {
        report
            .changes
            .push(DeltaChange::Delete { resource_type, id });
    }
    if report.changes.len() > before {
        report.touched_patients.insert(p.hospital_id.clone());
    }
}
