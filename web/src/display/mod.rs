//! Turns audited records into what the templates print: times on the hospital's clock, ages, labels, the
//! MAR grid. Templates hold no logic; everything they show is prepared here as text.
//! Askama escapes every value, so source text (names, narratives) is always inert.

use akari_sync::model::status::{self as codes, Vocabulary};
use akari_sync::model::{
    Allergy, Condition, Criticality, Deceased, Document, Finding, Flag, FlagKind, Infection,
    Instant, Moment, Onset, Participant, Patient, PatientRecord, ReportKind, Severity, Sex,
    VitalKind, VitalSign,
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};

use crate::i18n::{Lang, Tr};
use crate::viewer::PatientSummary;

mod downtime;
mod due;
mod grids;
mod prescriptions;
mod trends;

pub use downtime::{
    kind_label as downtime_kind, record_text as downtime_text, DowntimeLine, EntryForm,
};
pub(crate) use due::half_width;
pub use due::{parse_timing, DoseTimes, DueLine, Schedule, DUE_WINDOW_HOURS};
use grids::{mar, vitals_grid};
pub use grids::{VitalCell, VitalsGrid, VitalsRow};
pub use prescriptions::RxLine;
pub use trends::{LabTrend, LabValue, Level, Limits, VitalLimits, LAB_TREND_VALUES};

/// A status code as the reader's language names it; a code outside the record's value
/// set is still shown, as the source gave it: "未知の状態: x".
pub fn status_text(tr: Tr, vocabulary: &Vocabulary, code: &str) -> String {
    match (vocabulary.get(code), tr.lang) {
        (Some(c), Lang::Ja) => c.ja.to_owned(),
        (Some(c), Lang::En) => c.en.to_owned(),
        (None, _) => format!("{}: {code}", tr.s("status_unknown_code")),
    }
}

fn fmt_opt(tr: Tr, t: Option<&Instant>) -> String {
    t.map(|t| tr.zone.minute(t)).unwrap_or_default()
}

/// A time as precise as the source gave it: "2020年", "2020年3月", "2020-03-28" or
/// "2020-03-28 14:44" (JST); never a made-up day or time.
pub fn fmt_moment(tr: Tr, m: &Moment) -> String {
    match (*m, tr.lang) {
        (Moment::Year(y), Lang::Ja) => format!("{y}年"),
        (Moment::Year(y), Lang::En) => format!("{y}"),
        (Moment::Month(y, mo), Lang::Ja) => format!("{y}年{mo}月"),
        (Moment::Month(y, mo), Lang::En) => format!("{y}-{mo:02}"),
        (Moment::Day(d), _) => d.format("%Y-%m-%d").to_string(),
        (Moment::Time(t), _) => tr.zone.minute(&t),
    }
}

/// When a problem began, as people read it.
pub fn fmt_onset(tr: Tr, o: &Onset) -> String {
    match o {
        Onset::At(m) => fmt_moment(tr, m),
        Onset::Period { start, end } => {
            let s = start.map(|m| fmt_moment(tr, &m)).unwrap_or_default();
            let e = end.map(|m| fmt_moment(tr, &m)).unwrap_or_default();
            format!("{s}〜{e}")
        }
        Onset::Age(a) => match tr.lang {
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

/// A birth date no living record can have: before 1880, more than 130 years ago, or
/// after the data's day. Shown with a warning to check it, never as "2025歳".
fn implausible_birth(born: NaiveDate, today: NaiveDate) -> bool {
    born.year() < 1880 || born > today || age_years(born, today).is_none_or(|a| a > 130)
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

/// A date-like time (recorded, document date, flag start): the date alone when the
/// source gave a date (midnight exactly on the hospital's clock), else date and time.
fn fmt_dateish(tr: Tr, t: Option<&Instant>) -> String {
    match t {
        Some(t) => {
            let j = tr.zone.local(t);
            if j.hour() == 0 && j.minute() == 0 && j.second() == 0 && j.nanosecond() == 0 {
                j.date_naive().format("%Y-%m-%d").to_string()
            } else {
                tr.zone.minute(t)
            }
        }
        None => String::new(),
    }
}

/// "死亡 2026-03-28" / "Deceased 2026-03-28": shown wherever the patient is named.
fn deceased_text(tr: Tr, d: Option<&Deceased>) -> String {
    match d {
        None => String::new(),
        Some(Deceased::Yes) => tr.s("deceased").to_owned(),
        Some(Deceased::At(m)) => format!("{} {}", tr.s("deceased"), fmt_moment(tr, m)),
    }
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
    /// "死亡 2026-03-28", empty while not known to be deceased.
    pub deceased: String,
}

impl Identity {
    /// `today` is the data's day; a deceased patient's age is their age at death when
    /// its date is known.
    pub fn new(tr: Tr, key: &str, p: &Patient, today: NaiveDate) -> Self {
        let until = match &p.deceased {
            Some(Deceased::At(m)) => m.date().unwrap_or(today),
            _ => today,
        };
        let implausible = p.birth_date.is_some_and(|b| implausible_birth(b, today));
        let age = match p.birth_date.and_then(|b| age_years(b, until)) {
            _ if implausible => tr.s("age_implausible").to_owned(),
            Some(a) => format!("{a}{}", tr.s("years")),
            None => tr.s("age_unknown").to_owned(),
        };
        let mut born = p.birth_date.map(|d| d.to_string()).unwrap_or_default();
        if implausible {
            born.push_str(tr.s("born_implausible"));
        }
        Identity {
            key: key.to_owned(),
            name: p.name_kanji.clone().unwrap_or_default(),
            kana: p.name_kana.clone().unwrap_or_default(),
            hospital_id: p.hospital_id.clone().unwrap_or_default(),
            age_sex: format!("{age} {}", sex_label(tr, p.sex)),
            born,
            deceased: deceased_text(tr, p.deceased.as_ref()),
        }
    }
}

/// One patient in a list (search results, ward census): enough to tell namesakes apart
/// without opening each (birth date, age and sex, hospital ID, where they are).
#[derive(Debug, Clone)]
pub struct Row {
    pub id: Identity,
    /// The ward, or 外来 / "Outpatient" when the patient is on no ward.
    pub ward: String,
    pub on_ward: bool,
    pub room: String,
    pub bed: String,
    pub allergy: bool,
    pub infection: bool,
}

impl Row {
    pub fn new(tr: Tr, s: &PatientSummary, today: NaiveDate) -> Self {
        let on_ward = s.ward.as_deref().is_some_and(|w| !w.is_empty());
        Row {
            id: Identity::new(tr, &s.key.0, &s.patient, today),
            ward: match &s.ward {
                Some(w) if on_ward => w.clone(),
                _ => tr.s("outpatient").to_owned(),
            },
            on_ward,
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
    /// Criticality as a tag (重篤 / 低リスク / リスク評価不能), empty when not given.
    pub criticality: String,
    /// Class of the criticality tag: `high`, `low` or `unable`.
    pub criticality_class: &'static str,
    /// The most severe reaction's severity (重度 / 中等度 / 軽度), empty when not given.
    pub severity: String,
    pub severe: bool,
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
pub struct DocLine {
    pub title: String,
    pub date: String,
    pub text: String,
}

/// A diagnostic report (imaging, pathology, ...).
#[derive(Debug, Clone)]
pub struct ReportLine {
    pub kind: &'static str,
    pub title: String,
    /// The status when it is not final (速報 / preliminary, ...), else empty.
    pub status: String,
    pub time: String,
    pub conclusion: String,
    pub text: String,
    pub performer: String,
}

/// An order not yet done.
#[derive(Debug, Clone)]
pub struct OrderLine {
    pub text: String,
    pub category: String,
    /// 至急 / URGENT for urgent, asap and stat orders.
    pub urgent: bool,
    pub status: String,
    /// When it is to be done, else when it was ordered.
    pub time: String,
    pub requester: String,
    pub note: String,
}

/// Who to call: a role, a name and a contact.
#[derive(Debug, Clone)]
pub struct ContactLine {
    pub role: String,
    pub name: String,
    pub contact: String,
}

/// MAR grid: one row per medication, one column per calendar day (hospital's clock) of the window,
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
    /// The downtime entry this dose was recorded in, if it was.
    pub entry: Option<u64>,
    /// Who recorded it during the outage ("" for the source's own records).
    pub by: String,
}

/// Everything the summary shows about one patient.
#[derive(Debug, Clone)]
pub struct Summary {
    pub id: Identity,
    pub location: String,
    /// "A型 Rh(+)" with the test date: at the top of the page.
    pub blood_type: String,
    /// The attending physician (主治医) and how to reach them.
    pub attending: String,
    pub allergies: Vec<AllergyLine>,
    /// What to say when no allergy is shown: a confirmed "no known allergy"
    /// (アレルギーなし（確認済み）), an unconfirmed one, or nothing recorded.
    pub no_allergy: &'static str,
    pub infections: Vec<Line>,
    pub flags: Vec<Line>,
    pub prescriptions: Vec<RxLine>,
    /// Doses due in the next 24 hours from the node's clock, one row per prescription.
    pub due: Vec<DueLine>,
    pub mar: Mar,
    pub orders: Vec<OrderLine>,
    /// Lab results per test, the last values side by side.
    pub labs: Vec<LabTrend>,
    /// Columns of earlier results in the lab table (after the latest).
    pub lab_earlier_columns: usize,
    pub vitals: VitalsGrid,
    /// Bedside readings without a column of their own, and findings (exam, survey, ...),
    /// each under its own name.
    pub findings: Vec<Line>,
    pub reports: Vec<ReportLine>,
    pub problems: Vec<Line>,
    pub immunizations: Vec<Line>,
    pub contacts: Vec<ContactLine>,
    pub documents: Vec<DocLine>,
    /// Entries recorded during the outage, in time order (superseded ones included).
    pub downtime: Vec<DowntimeLine>,
    /// Why the downtime entries could not be read ("" when they were).
    pub downtime_error: String,
}

const MAR_WINDOW_HOURS: i64 = 72;

/// What the doses due next are counted from: the node's clock now (not the data time:
/// a dose is due by the wall clock) and the hospital's meal and bed times.
#[derive(Debug, Clone, Copy)]
pub struct DueClock {
    pub now: DateTime<Utc>,
    pub times: DoseTimes,
}

fn participant_text(p: &Participant) -> String {
    let mut s = p.name.clone().unwrap_or_default();
    if let Some(c) = p.contact.as_deref() {
        // Full-width parentheses carry their own spacing.
        s.push_str(&format!("（{c}）"));
    }
    s
}

impl Summary {
    /// `as_of` is the served generation's data time: it anchors the 72-hour MAR and
    /// vital-sign windows and today's date for ages (the reader already applied every window from it).
    /// Takes the record by value: its texts (documents can be long) move into the page
    /// instead of being copied.
    /// `clock`: the node's time now and the meal and bed times, for the doses due next.
    pub fn new(
        tr: Tr,
        r: PatientRecord,
        as_of: DateTime<Utc>,
        clock: &DueClock,
        limits: &VitalLimits,
    ) -> Self {
        let due = due::due_lines(
            tr,
            &clock.times,
            &r.prescriptions,
            &r.administrations,
            as_of.fixed_offset(),
            clock.now,
        );
        let today = tr.zone.date(&as_of);
        let id = Identity::new(tr, &r.key.0, &r.patient, today);
        let (vitals, other_readings) = vitals_grid(tr, &r, as_of, limits);
        let mar = mar(tr, &r, as_of);
        let blood_type = blood_type(tr, &r);
        let current = r.current_encounter();
        let location = current
            .map(|e| {
                [&e.ward, &e.room, &e.bed]
                    .iter()
                    .filter_map(|x| x.as_deref())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let (attending, contacts) = contacts(tr, &r, current);
        let PatientRecord {
            allergies,
            infections,
            flags,
            prescriptions,
            labs,
            findings,
            conditions,
            documents,
            reports,
            orders,
            immunizations,
            ..
        } = r;

        let (allergies, no_allergy) = allergy_lines(tr, allergies);

        let mut findings: Vec<Line> = findings.into_iter().map(|f| finding_line(tr, f)).collect();
        findings.splice(0..0, other_readings);

        Summary {
            id,
            location,
            blood_type,
            attending,
            allergies,
            no_allergy,
            infections: infections
                .into_iter()
                .map(|i| infection_line(tr, i))
                .collect(),
            flags: flags.into_iter().map(|f| flag_line(tr, f)).collect(),
            prescriptions: prescriptions::rx_lines(tr, prescriptions, as_of.fixed_offset()),
            due,
            mar,
            orders: orders.into_iter().map(|o| order_line(tr, o)).collect(),
            labs: trends::lab_trends(tr, labs),
            lab_earlier_columns: LAB_TREND_VALUES - 1,
            vitals,
            findings,
            reports: reports.into_iter().map(|r| report_line(tr, r)).collect(),
            problems: conditions
                .into_iter()
                .map(|c| problem_line(tr, c))
                .collect(),
            immunizations: immunizations
                .into_iter()
                .map(|i| immunization_line(tr, i))
                .collect(),
            contacts,
            documents: documents.into_iter().map(|d| doc_line(tr, d)).collect(),
            downtime: Vec::new(),
            downtime_error: String::new(),
        }
    }

    /// [`Summary::new`] with the patient's downtime entries: listed, and the ones in
    /// force merged into the MAR, the doses due next and the vital-signs chart, marked
    /// with who recorded them. `entries`: `Err(message)` when they could not be read
    /// (the page says so instead of looking as if nothing was recorded).
    pub fn with_downtime(
        tr: Tr,
        mut r: PatientRecord,
        as_of: DateTime<Utc>,
        clock: &DueClock,
        limits: &VitalLimits,
        entries: Result<&[akari_downtime::Listed], String>,
    ) -> Self {
        let entries = match entries {
            Ok(entries) => entries,
            Err(message) => {
                let mut s = Summary::new(tr, r, as_of, clock, limits);
                s.downtime_error = message;
                return s;
            }
        };
        downtime::merge(&mut r, entries);
        let mut s = Summary::new(tr, r, as_of, clock, limits);
        let by = |id: Option<u64>| {
            id.and_then(|id| entries.iter().find(|l| l.entry.id == id))
                .map(downtime::who)
                .unwrap_or_default()
        };
        for cell in s
            .mar
            .rows
            .iter_mut()
            .flat_map(|r| r.cells.iter_mut())
            .flatten()
        {
            cell.by = by(cell.entry);
        }
        for row in &mut s.vitals.rows {
            row.by = by(row.entry);
        }
        s.downtime = downtime::lines(tr, entries);
        s
    }
}

fn infection_line(tr: Tr, i: Infection) -> Line {
    Line {
        time: fmt_opt(tr, i.time.as_ref()),
        label: i.name,
        text: i.result,
        alert: i.positive,
    }
}

fn flag_line(tr: Tr, f: Flag) -> Line {
    Line {
        label: tr
            .s(match f.kind {
                FlagKind::Dnr => "flag_dnr",
                FlagKind::Isolation => "flag_isolation",
                FlagKind::FallRisk => "flag_fall",
                FlagKind::Other => "flag_other",
            })
            .to_owned(),
        time: fmt_dateish(tr, f.start.as_ref()),
        alert: matches!(f.kind, FlagKind::Dnr | FlagKind::Isolation),
        text: f.text,
    }
}

fn finding_line(tr: Tr, f: Finding) -> Line {
    Line {
        label: f.name,
        text: value_with_unit(f.value, f.unit.as_deref()),
        time: f
            .time
            .as_ref()
            .map(|t| tr.zone.minute(t))
            .unwrap_or_else(|| tr.s("time_unknown").to_owned()),
        alert: false,
    }
}

fn problem_line(tr: Tr, c: Condition) -> Line {
    Line {
        label: c.text,
        text: c
            .clinical_status
            .map(|s| status_text(tr, &codes::CONDITION_CLINICAL, &s))
            .unwrap_or_default(),
        time: c
            .onset
            .as_ref()
            .map(|o| fmt_onset(tr, o))
            .unwrap_or_default(),
        alert: false,
    }
}

fn doc_line(tr: Tr, d: Document) -> DocLine {
    DocLine {
        date: fmt_dateish(tr, d.date.as_ref()),
        title: d.title,
        text: d.text,
    }
}

/// What a label or wristband shows of a patient: identity, blood type, allergies (riskiest
/// first) and what is said when there are none. Only these are computed.
#[derive(Debug, Clone)]
pub struct IdentityCard {
    pub id: Identity,
    pub blood_type: String,
    pub allergies: Vec<AllergyLine>,
    pub no_allergy: &'static str,
}

impl IdentityCard {
    /// `as_of` is the served generation's data time (today's date for the age).
    pub fn new(tr: Tr, r: PatientRecord, as_of: DateTime<Utc>) -> Self {
        let id = Identity::new(tr, &r.key.0, &r.patient, tr.zone.date(&as_of));
        let blood_type = blood_type(tr, &r);
        let (allergies, no_allergy) = allergy_lines(tr, r.allergies);
        IdentityCard {
            id,
            blood_type,
            allergies,
            no_allergy,
        }
    }
}

/// Allergies to show (not inactive, resolved or refuted; "no known allergy" entries are
/// not allergies), riskiest first, and what to say when there are none.
fn allergy_lines(tr: Tr, allergies: Vec<Allergy>) -> (Vec<AllergyLine>, &'static str) {
    let mut none_confirmed = false;
    let mut none_unconfirmed = false;
    let mut lines: Vec<AllergyLine> = Vec::new();
    for a in allergies.into_iter().filter(Allergy::is_current) {
        if a.none_known {
            if a.verification_status.as_deref() == Some("confirmed") {
                none_confirmed = true;
            } else {
                none_unconfirmed = true;
            }
            continue;
        }
        let (criticality, criticality_class) = match a.criticality {
            Some(Criticality::High) => (tr.s("criticality_high"), "high"),
            Some(Criticality::Low) => (tr.s("criticality_low"), "low"),
            Some(Criticality::UnableToAssess) => (tr.s("criticality_unable"), "unable"),
            None => ("", ""),
        };
        let severity = match a.severity {
            Some(Severity::Severe) => tr.s("severity_severe"),
            Some(Severity::Moderate) => tr.s("severity_moderate"),
            Some(Severity::Mild) => tr.s("severity_mild"),
            None => "",
        };
        lines.push(AllergyLine {
            drug: a.categories.iter().any(|c| c == "medication"),
            high: a.criticality == Some(Criticality::High),
            criticality: criticality.to_owned(),
            criticality_class,
            severity: severity.to_owned(),
            severe: a.severity == Some(Severity::Severe),
            reactions: a.reactions.join("、"),
            status: a
                .verification_status
                .map(|s| status_text(tr, &codes::ALLERGY_VERIFICATION, &s))
                .unwrap_or_default(),
            substance: a.substance,
        });
    }
    lines.sort_by_key(|a| (!a.high, !a.severe, !a.drug));
    let none = if none_confirmed {
        "allergy_none_confirmed"
    } else if none_unconfirmed {
        "allergy_none_unconfirmed"
    } else {
        "no_known_allergies"
    };
    (lines, none)
}

fn value_with_unit(value: String, unit: Option<&str>) -> String {
    match unit.filter(|u| !u.is_empty()) {
        Some(u) => format!("{value} {u}"),
        None => value,
    }
}

/// "A型 Rh(+)（2019-04-02）": the newest ABO and Rh(D) results.
fn blood_type(tr: Tr, r: &PatientRecord) -> String {
    let (abo, rh) = r.blood_type();
    let mut parts: Vec<&str> = Vec::new();
    if let Some(a) = abo {
        parts.push(&a.value);
    }
    if let Some(h) = rh {
        if abo.is_none_or(|a| a.id != h.id) {
            parts.push(&h.value);
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    let when = abo
        .or(rh)
        .and_then(|b| b.time.as_ref())
        .map(|t| format!("（{}）", fmt_dateish(tr, Some(t))))
        .unwrap_or_default();
    format!("{}{when}", parts.join(" "))
}

/// The attending physician (from the current encounter, else a care team) and everyone
/// to call: the current encounter's participants and the active care teams' members.
fn contacts(
    tr: Tr,
    r: &PatientRecord,
    current: Option<&akari_sync::model::Encounter>,
) -> (String, Vec<ContactLine>) {
    let mut people: Vec<&Participant> = Vec::new();
    if let Some(e) = current {
        people.extend(e.participants.iter());
    }
    for t in &r.care_teams {
        people.extend(t.members.iter());
    }
    let attending = people
        .iter()
        .find(|p| p.is_attending() && p.name.is_some())
        .map(|p| participant_text(p))
        .unwrap_or_default();
    let mut lines: Vec<ContactLine> = Vec::new();
    for p in people {
        let Some(name) = p.name.clone() else { continue };
        let role = if p.is_attending() {
            tr.s("attending").to_owned()
        } else {
            p.role.clone().unwrap_or_default()
        };
        let line = ContactLine {
            role,
            name,
            contact: p.contact.clone().unwrap_or_default(),
        };
        if !lines
            .iter()
            .any(|l| l.name == line.name && l.role == line.role)
        {
            lines.push(line);
        }
    }
    (attending, lines)
}

fn report_line(tr: Tr, r: akari_sync::model::Report) -> ReportLine {
    ReportLine {
        kind: tr.s(match r.kind {
            ReportKind::Imaging => "report_imaging",
            ReportKind::Pathology => "report_pathology",
            ReportKind::Laboratory => "report_laboratory",
            ReportKind::Other => "report_other",
        }),
        status: match r.status.as_str() {
            "final" | "amended" | "corrected" | "appended" => String::new(),
            other => status_text(tr, &codes::REPORT, other),
        },
        time: fmt_opt(tr, r.time.as_ref().or(r.issued.as_ref())),
        conclusion: r.conclusion.unwrap_or_default(),
        performer: r
            .performer
            .as_ref()
            .map(participant_text)
            .unwrap_or_default(),
        title: r.title,
        text: r.text,
    }
}

fn order_line(tr: Tr, o: akari_sync::model::Order) -> OrderLine {
    OrderLine {
        urgent: matches!(o.priority.as_deref(), Some("urgent" | "asap" | "stat")),
        // A pending order is active: only another status is worth a word.
        status: if o.status == "active" {
            String::new()
        } else {
            status_text(tr, &codes::ORDER, &o.status)
        },
        time: fmt_opt(tr, o.occurrence.as_ref().or(o.authored_on.as_ref())),
        requester: o
            .requester
            .as_ref()
            .map(participant_text)
            .unwrap_or_default(),
        category: o.category.unwrap_or_default(),
        note: o.note.unwrap_or_default(),
        text: o.text,
    }
}

fn immunization_line(tr: Tr, i: akari_sync::model::Immunization) -> Line {
    let mut text = Vec::new();
    if let Some(d) = &i.dose {
        text.push(match tr.lang {
            Lang::Ja => format!("{d}回目"),
            Lang::En => format!("dose {d}"),
        });
    }
    if let Some(l) = &i.lot {
        text.push(format!("{} {l}", tr.s("lot")));
    }
    if i.status != "completed" {
        text.push(status_text(tr, &codes::IMMUNIZATION, &i.status));
    }
    if let Some(n) = &i.note {
        text.push(n.clone());
    }
    Line {
        label: i.vaccine,
        text: text.join(" · "),
        time: i
            .occurred
            .as_ref()
            .map(|m| fmt_moment(tr, m))
            .unwrap_or_else(|| tr.s("time_unknown").to_owned()),
        alert: i.status == "not-done",
    }
}
