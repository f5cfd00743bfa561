//! Turns audited records into what the templates print: times in JST, ages, labels, the
//! MAR grid. Templates hold no logic; everything they show is prepared here as text.
//! Askama escapes every value, so source text (names, narratives) is always inert.

use akari_sync::model::{
    Criticality, FlagKind, Instant, Moment, Onset, Patient, PatientRecord, Sex, VitalKind,
};
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Timelike, Utc};

use crate::i18n::{Lang, Tr};
use crate::viewer::PatientSummary;

pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

/// "2026-11-21 03:00" in JST. Written out by hand: chrono's `format` parses its pattern
/// on every call, and a patient page formats dozens of times.
pub fn fmt_time(t: &DateTime<FixedOffset>) -> String {
    let t = t.with_timezone(&jst());
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn fmt_opt(t: Option<&Instant>) -> String {
    t.map(fmt_time).unwrap_or_default()
}

/// A time as precise as the source gave it: "2020年", "2020年3月", "2020-03-28" or
/// "2020-03-28 14:44" (JST); never a made-up day or time.
pub fn fmt_moment(lang: Lang, m: &Moment) -> String {
    match (*m, lang) {
        (Moment::Year(y), Lang::Ja) => format!("{y}年"),
        (Moment::Year(y), Lang::En) => format!("{y}"),
        (Moment::Month(y, mo), Lang::Ja) => format!("{y}年{mo}月"),
        (Moment::Month(y, mo), Lang::En) => format!("{y}-{mo:02}"),
        (Moment::Day(d), _) => d.format("%Y-%m-%d").to_string(),
        (Moment::Time(t), _) => fmt_time(&t),
    }
}

/// When a problem began, as people read it.
pub fn fmt_onset(lang: Lang, o: &Onset) -> String {
    match o {
        Onset::At(m) => fmt_moment(lang, m),
        Onset::Period { start, end } => {
            let s = start.map(|m| fmt_moment(lang, &m)).unwrap_or_default();
            let e = end.map(|m| fmt_moment(lang, &m)).unwrap_or_default();
            format!("{s}〜{e}")
        }
        Onset::Age(a) => match lang {
            Lang::Ja => format!("{a}時"),
            Lang::En => format!("at {a}"),
        },
        Onset::Text(t) => t.clone(),
    }
}

/// "5時間前" / "5 h ago".
pub fn fmt_age(lang: Lang, age: Duration) -> String {
    let m = age.num_minutes().max(0);
    let (n, ja, en) = if m < 60 {
        (m, "分前", " min ago")
    } else if m < 48 * 60 {
        (m / 60, "時間前", " h ago")
    } else {
        (m / 1440, "日前", " days ago")
    };
    match lang {
        Lang::Ja => format!("{n}{ja}"),
        Lang::En => format!("{n}{en}"),
    }
}

fn age_years(born: NaiveDate, today: NaiveDate) -> Option<u32> {
    today.years_since(born)
}

fn sex_label(tr: Tr, sex: Sex) -> &'static str {
    tr.s(match sex {
        Sex::Male => "sex_male",
        Sex::Female => "sex_female",
        Sex::Other => "sex_other",
        Sex::Unknown => "sex_unknown",
    })
}

/// A patient's identity line, shared by search, census and summary.
#[derive(Debug, Clone)]
pub struct Identity {
    pub key: String,
    pub name: String,
    pub kana: String,
    pub hospital_id: String,
    pub age_sex: String,
    pub born: String,
}

impl Identity {
    pub fn new(tr: Tr, key: &str, p: &Patient, today: NaiveDate) -> Self {
        let age = match p.birth_date.and_then(|b| age_years(b, today)) {
            Some(a) => format!("{a}{}", tr.s("years")),
            None => tr.s("age_unknown").to_owned(),
        };
        Identity {
            key: key.to_owned(),
            name: p.name_kanji.clone().unwrap_or_default(),
            kana: p.name_kana.clone().unwrap_or_default(),
            hospital_id: p.hospital_id.clone().unwrap_or_default(),
            age_sex: format!("{age} {}", sex_label(tr, p.sex)),
            born: p.birth_date.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub id: Identity,
    pub ward: String,
    pub room: String,
    pub bed: String,
    pub allergy: bool,
    pub infection: bool,
}

impl Row {
    pub fn new(tr: Tr, s: &PatientSummary, today: NaiveDate) -> Self {
        Row {
            id: Identity::new(tr, &s.key.0, &s.patient, today),
            ward: s.ward.clone().unwrap_or_default(),
            room: s.room.clone().unwrap_or_default(),
            bed: s.bed.clone().unwrap_or_default(),
            allergy: s.has_allergy,
            infection: s.has_infection,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AllergyLine {
    pub substance: String,
    pub drug: bool,
    pub high: bool,
    pub reactions: String,
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub text: String,
    pub time: String,
    pub alert: bool,
}

#[derive(Debug, Clone)]
pub struct RxLine {
    pub medication: String,
    pub dose: String,
    pub route: String,
    pub timing: String,
    pub prn: bool,
}

#[derive(Debug, Clone)]
pub struct LabLine {
    pub test: String,
    pub value: String,
    pub unit: String,
    pub reference: String,
    pub flag: String,
    pub abnormal: bool,
    pub time: String,
}

#[derive(Debug, Clone)]
pub struct DocLine {
    pub title: String,
    pub date: String,
    pub text: String,
}

/// MAR grid: one row per medication, one column per calendar day (JST) of the window,
/// each cell listing the administrations of that day.
#[derive(Debug, Clone)]
pub struct Mar {
    pub days: Vec<String>,
    pub rows: Vec<MarRow>,
}

#[derive(Debug, Clone)]
pub struct MarRow {
    pub medication: String,
    pub cells: Vec<Vec<MarCell>>,
}

#[derive(Debug, Clone)]
pub struct MarCell {
    pub time: String,
    pub dose: String,
    pub given: bool,
    pub status: String,
}

/// Everything the summary shows about one patient.
#[derive(Debug, Clone)]
pub struct Summary {
    pub id: Identity,
    pub location: String,
    pub allergies: Vec<AllergyLine>,
    pub infections: Vec<Line>,
    pub flags: Vec<Line>,
    pub prescriptions: Vec<RxLine>,
    pub mar: Mar,
    pub labs: Vec<LabLine>,
    pub vitals: VitalsGrid,
    pub problems: Vec<Line>,
    pub documents: Vec<DocLine>,
}

const MAR_WINDOW_HOURS: i64 = 72;

impl Summary {
    /// `as_of` anchors the 72-hour MAR window: the time the data is from. Takes the record
    /// by value: its texts (documents can be long) move into the page instead of being
    /// copied.
    pub fn new(tr: Tr, r: PatientRecord, as_of: DateTime<Utc>) -> Self {
        let today = as_of.with_timezone(&jst()).date_naive();
        let id = Identity::new(tr, &r.key.0, &r.patient, today);
        let vitals = vitals_grid(tr, &r);
        let mar = mar(&r, as_of);
        let location = r
            .encounters
            .iter()
            .find(|e| e.status == "in-progress")
            .map(|e| {
                [&e.ward, &e.room, &e.bed]
                    .iter()
                    .filter_map(|x| x.as_deref())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let PatientRecord {
            allergies,
            infections,
            flags,
            prescriptions,
            labs,
            conditions,
            documents,
            ..
        } = r;

        let mut allergies: Vec<AllergyLine> = allergies
            .into_iter()
            .filter(|a| {
                !matches!(a.clinical_status.as_deref(), Some("inactive" | "resolved"))
                    && a.verification_status.as_deref() != Some("refuted")
            })
            .map(|a| AllergyLine {
                drug: a.categories.iter().any(|c| c == "medication"),
                high: a.criticality == Some(Criticality::High),
                reactions: a.reactions.join("、"),
                status: a.verification_status.unwrap_or_default(),
                substance: a.substance,
            })
            .collect();
        allergies.sort_by_key(|a| (!a.high, !a.drug));

        let infections = infections
            .into_iter()
            .map(|i| Line {
                time: fmt_opt(i.time.as_ref()),
                label: i.name,
                text: i.result,
                alert: i.positive,
            })
            .collect();

        let flags = flags
            .into_iter()
            .map(|f| Line {
                label: tr
                    .s(match f.kind {
                        FlagKind::Dnr => "flag_dnr",
                        FlagKind::Isolation => "flag_isolation",
                        FlagKind::FallRisk => "flag_fall",
                        FlagKind::Other => "flag_other",
                    })
                    .to_owned(),
                time: fmt_opt(f.start.as_ref()),
                alert: matches!(f.kind, FlagKind::Dnr | FlagKind::Isolation),
                text: f.text,
            })
            .collect();

        let prescriptions = prescriptions
            .into_iter()
            .filter(|p| matches!(p.status.as_str(), "active" | "on-hold"))
            .map(|p| RxLine {
                medication: p.medication,
                dose: p.dose.unwrap_or_default(),
                route: p.route.unwrap_or_default(),
                timing: p.timing.unwrap_or_default(),
                prn: p.as_needed,
            })
            .collect();

        let mut labs = labs;
        labs.sort_by_key(|l| std::cmp::Reverse(l.time));
        let labs = labs
            .into_iter()
            .map(|l| {
                let flag = l.interpretation.unwrap_or_default();
                LabLine {
                    time: fmt_opt(l.time.as_ref()),
                    test: l.test,
                    value: l.value,
                    unit: l.unit.unwrap_or_default(),
                    reference: l
                        .reference_range
                        .as_ref()
                        .and_then(|r| r.numbers().or_else(|| r.text.clone()))
                        .unwrap_or_default(),
                    abnormal: !flag.is_empty() && flag != "N",
                    flag,
                }
            })
            .collect();

        let problems = conditions
            .into_iter()
            .map(|c| Line {
                label: c.text,
                text: c.clinical_status.unwrap_or_default(),
                time: c
                    .onset
                    .as_ref()
                    .map(|o| fmt_onset(tr.lang, o))
                    .unwrap_or_default(),
                alert: false,
            })
            .collect();

        let documents = documents
            .into_iter()
            .map(|d| DocLine {
                date: fmt_opt(d.date.as_ref()),
                title: d.title,
                text: d.text,
            })
            .collect();

        Summary {
            id,
            location,
            allergies,
            infections,
            flags,
            prescriptions,
            mar,
            labs,
            vitals,
            problems,
            documents,
        }
    }
}

/// Vital signs as a chart: one row per time (newest first), one column per kind.
#[derive(Debug, Clone)]
pub struct VitalsGrid {
    pub heads: Vec<&'static str>,
    pub rows: Vec<VitalsRow>,
}

#[derive(Debug, Clone)]
pub struct VitalsRow {
    pub time: String,
    pub cells: Vec<String>,
}

const VITAL_COLUMNS: [VitalKind; 8] = [
    VitalKind::BloodPressure,
    VitalKind::HeartRate,
    VitalKind::BodyTemperature,
    VitalKind::RespiratoryRate,
    VitalKind::OxygenSaturation,
    VitalKind::BodyWeight,
    VitalKind::BodyHeight,
    VitalKind::Other,
];

fn vitals_grid(tr: Tr, r: &PatientRecord) -> VitalsGrid {
    let used: Vec<VitalKind> = VITAL_COLUMNS
        .into_iter()
        .filter(|k| r.vitals.iter().any(|v| v.kind == *k))
        .collect();
    // Newest first; the stable sort keeps the source order of readings taken together.
    let mut sorted: Vec<&akari_sync::model::VitalSign> = r.vitals.iter().collect();
    sorted.sort_by_key(|v| std::cmp::Reverse(v.time));
    let rows = sorted
        .chunk_by(|a, b| a.time == b.time)
        .map(|group| VitalsRow {
            time: fmt_time(&group[0].time),
            cells: used
                .iter()
                .map(|k| {
                    let mut cell = String::new();
                    for v in group.iter().filter(|v| v.kind == *k) {
                        if !cell.is_empty() {
                            cell.push_str(" / ");
                        }
                        cell.push_str(&v.value);
                        cell.push(' ');
                        cell.push_str(v.unit.as_deref().unwrap_or(""));
                    }
                    cell
                })
                .collect(),
        })
        .collect();
    VitalsGrid {
        heads: used.into_iter().map(|k| vital_label(tr, k)).collect(),
        rows,
    }
}

fn vital_label(tr: Tr, kind: VitalKind) -> &'static str {
    let (ja, en) = match kind {
        VitalKind::BloodPressure => ("血圧", "BP"),
        VitalKind::HeartRate => ("脈拍", "HR"),
        VitalKind::BodyTemperature => ("体温", "Temp"),
        VitalKind::RespiratoryRate => ("呼吸数", "RR"),
        VitalKind::OxygenSaturation => ("SpO2", "SpO2"),
        VitalKind::BodyWeight => ("体重", "Weight"),
        VitalKind::BodyHeight => ("身長", "Height"),
        VitalKind::Other => ("その他", "Other"),
    };
    match tr.lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

fn mar(r: &PatientRecord, as_of: DateTime<Utc>) -> Mar {
    let start = as_of - Duration::hours(MAR_WINDOW_HOURS);
    let mut given: Vec<_> = r
        .administrations
        .iter()
        .filter(|a| a.time.with_timezone(&Utc) >= start)
        .collect();
    given.sort_by_key(|a| a.time);
    let first_day = start.with_timezone(&jst()).date_naive();
    let last_day = as_of.with_timezone(&jst()).date_naive();
    let days: Vec<NaiveDate> = first_day
        .iter_days()
        .take_while(|d| *d <= last_day)
        .collect();
    let mut rows: Vec<MarRow> = Vec::new();
    for a in given {
        let day = a.time.with_timezone(&jst()).date_naive();
        let Some(col) = days.iter().position(|d| *d == day) else {
            continue;
        };
        let idx = match rows.iter().position(|r| r.medication == a.medication) {
            Some(i) => i,
            None => {
                rows.push(MarRow {
                    medication: a.medication.clone(),
                    cells: vec![Vec::new(); days.len()],
                });
                rows.len() - 1
            }
        };
        rows[idx].cells[col].push(MarCell {
            time: {
                let t = a.time.with_timezone(&jst());
                format!("{:02}:{:02}", t.hour(), t.minute())
            },
            dose: a.dose.clone().unwrap_or_default(),
            given: a.status == "completed",
            status: a.status.clone(),
        });
    }
    Mar {
        days: days
            .iter()
            .map(|d| format!("{:02}/{:02}", d.month(), d.day()))
            .collect(),
        rows,
    }
}
