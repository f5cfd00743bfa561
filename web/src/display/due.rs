//! Medications due next: for each prescription in effect, the doses its timing puts in
//! the next 24 hours on the hospital's clock, with the last recorded administration of
//! that drug beside it — the nurse's first question on a ward whose EHR is down.
//!
//! The timing is read from the JAMI 用法 text the source sends (1日3回朝昼夕食後,
//! 1日1回朝食後, 就寝前, 8時間毎, 頓用, ...), or from a FHIR Timing's structured repeat
//! rendered to that text at sync. Meal and bed times come from `[display.dose_times]`.
//! A timing that cannot be placed on the clock (free text, a count without times, an
//! interval with no dose recorded to count from, as needed) is said so in the row:
//! a time is never guessed.

use akari_sync::model::{Administration, Instant, Prescription};
use chrono::{DateTime, Duration, NaiveTime, Utc};

use crate::i18n::{Lang, Tr};

/// The wall-clock times of meals and bed that meal-relative timings are read against
/// (`[display.dose_times]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoseTimes {
    pub morning: NaiveTime,
    pub noon: NaiveTime,
    pub evening: NaiveTime,
    pub bedtime: NaiveTime,
}

impl Default for DoseTimes {
    fn default() -> Self {
        let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("valid time");
        DoseTimes {
            morning: hm(8, 0),
            noon: hm(12, 0),
            evening: hm(18, 0),
            bedtime: hm(21, 0),
        }
    }
}

/// How far ahead the list looks.
pub const DUE_WINDOW_HOURS: i64 = 24;

/// Minutes before a meal that a 食前 dose is due, and after it for 食間.
const BEFORE_MEAL_MINUTES: i64 = 30;
const BETWEEN_MEALS_MINUTES: i64 = 120;

/// What a timing text says about when doses fall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every day at these wall-clock times.
    Daily(Vec<NaiveTime>),
    /// Every so many hours, counted from the last recorded dose.
    Every(Duration),
    /// When needed (頓用): no schedule.
    AsNeeded,
    /// The text names no computable time.
    Unknown,
}

/// A full-width digit, colon or full stop as typed on a Japanese keyboard, as ASCII; any
/// other character as it is.
pub(crate) fn half_width(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        '：' => ':',
        '．' => '.',
        _ => c,
    }
}

/// Reads a JAMI 用法 text (or the text a structured timing was rendered to).
pub fn parse_timing(text: &str, times: &DoseTimes) -> Schedule {
    let t: String = text
        .chars()
        .map(half_width)
        .filter(|c| !c.is_whitespace())
        .collect();
    const PRN: [&str; 8] = [
        "頓用",
        "頓服",
        "必要時",
        "疼痛時",
        "発熱時",
        "不眠時",
        "便秘時",
        "PRN",
    ];
    if PRN.iter().any(|w| t.contains(w)) {
        return Schedule::AsNeeded;
    }
    let count = times_per_day(&t);
    if let Some(hours) = number_before(&t, &["時間毎", "時間ごと", "時間おき"]) {
        if hours == 0 {
            return Schedule::Unknown;
        }
        return Schedule::Every(Duration::hours(hours.into()));
    }
    let mut slots = clock_times(&t);
    if slots.is_empty() {
        match meal_slots(&t, times) {
            Some(meals) => slots = meals,
            None => return Schedule::Unknown,
        }
    }
    slots.sort();
    slots.dedup();
    match (slots.is_empty(), count) {
        (true, _) => Schedule::Unknown,
        // The count and the named times disagree: neither is trusted.
        (false, Some(n)) if n as usize != slots.len() => Schedule::Unknown,
        (false, _) => Schedule::Daily(slots),
    }
}

/// "1日3回" → 3.
fn times_per_day(t: &str) -> Option<u32> {
    let rest = &t[t.find("1日")? + "1日".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[digits.len()..];
    if after.starts_with('回') {
        digits.parse().ok()
    } else {
        None
    }
}

/// The number written just before one of `suffixes` ("8時間毎" → 8).
fn number_before(t: &str, suffixes: &[&str]) -> Option<u32> {
    suffixes.iter().find_map(|s| {
        let at = t.find(s)?;
        let digits: String = t[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits.parse().ok()
    })
}

/// Clock times written out: "08:00", "9時", "21時30分" (but not "8時間").
fn clock_times(t: &str) -> Vec<NaiveTime> {
    let chars: Vec<char> = t.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let hour: u32 = chars[start..i]
            .iter()
            .collect::<String>()
            .parse()
            .unwrap_or(99);
        let mut minute = 0;
        let next = chars.get(i).copied();
        let time = match next {
            Some(':') => {
                let m: String = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                i += 1 + m.len();
                minute = m.parse().unwrap_or(99);
                m.len() == 2
            }
            Some('時') if chars.get(i + 1) != Some(&'間') => {
                i += 1;
                let m: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                if !m.is_empty() && chars.get(i + m.len()) == Some(&'分') {
                    minute = m.parse().unwrap_or(99);
                    i += m.len() + 1;
                } else if chars.get(i) == Some(&'半') {
                    minute = 30;
                    i += 1;
                }
                true
            }
            _ => false,
        };
        if time {
            if let Some(t) = NaiveTime::from_hms_opt(hour, minute, 0) {
                out.push(t);
            }
        }
    }
    out
}

/// 朝・昼・夕 (with 食前 / 食後 / 食間 / 食直前 / 食直後), 毎食, 就寝前 / 眠前. A text that
/// mixes before and after meals ("朝食前 夕食後") is not read (`None`): one offset per
/// text, never a guess.
fn meal_slots(t: &str, times: &DoseTimes) -> Option<Vec<NaiveTime>> {
    let plain = t.replace("食直前", "").replace("食直後", "");
    let kinds = [
        plain.contains("食前"),
        plain.contains("食後"),
        plain.contains("食間"),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        return None;
    }
    let offset = match kinds {
        [true, _, _] => -BEFORE_MEAL_MINUTES,
        [_, _, true] => BETWEEN_MEALS_MINUTES,
        _ => 0,
    };
    let mut meals = Vec::new();
    if t.contains("毎食") {
        meals.extend([times.morning, times.noon, times.evening]);
    } else {
        if t.contains('朝') {
            meals.push(times.morning);
        }
        if t.contains('昼') {
            meals.push(times.noon);
        }
        if t.contains('夕') || t.contains('晩') {
            meals.push(times.evening);
        }
    }
    let mut out: Vec<NaiveTime> = meals
        .into_iter()
        .map(|m| m + Duration::minutes(offset))
        .collect();
    if t.contains("就寝前") || t.contains("眠前") || t.contains("寝る前") {
        out.push(times.bedtime);
    }
    Some(out)
}

/// One row of the due-next list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueLine {
    pub medication: String,
    pub dose: String,
    pub route: String,
    pub timing: String,
    /// The due times in the window ("12-07 12:00"), soonest first.
    pub due: Vec<String>,
    /// Why no time is given, when none can be computed ("" when `due` is computed).
    pub note: String,
    /// The last recorded administration of this drug ("12-07 08:05 実施"), or "".
    pub last_given: String,
    /// The form that records a dose of it during an outage.
    pub form: super::EntryForm,
}

/// The due-next rows for the prescriptions in effect at the data time `as_of`, with
/// doses from `now` (the node's clock) to 24 hours later.
pub fn due_lines(
    tr: Tr,
    times: &DoseTimes,
    prescriptions: &[Prescription],
    administrations: &[Administration],
    as_of: Instant,
    now: DateTime<Utc>,
) -> Vec<DueLine> {
    let until = now + Duration::hours(DUE_WINDOW_HOURS);
    prescriptions
        .iter()
        .filter(|p| p.in_effect_at(as_of) && p.status != "on-hold")
        .map(|p| {
            let last = last_administration(p, administrations);
            let text = p.timing.clone().unwrap_or_default();
            let schedule = if p.as_needed {
                Schedule::AsNeeded
            } else {
                parse_timing(&text, times)
            };
            let start = p.start().map(|s| s.with_timezone(&Utc));
            let end = p.end().map(|e| e.with_timezone(&Utc));
            let in_course =
                |t: &DateTime<Utc>| start.is_none_or(|s| *t >= s) && end.is_none_or(|e| *t < e);
            let (due, note): (Vec<DateTime<Utc>>, &str) = match &schedule {
                Schedule::Daily(slots) => (daily(tr, slots, now, until), ""),
                Schedule::Every(step) => match last.map(|a| a.time.with_timezone(&Utc)) {
                    Some(mut t) => {
                        let mut out = Vec::new();
                        while t < until {
                            t += *step;
                            if t >= now && t < until {
                                out.push(t);
                            }
                        }
                        (out, "")
                    }
                    None => (Vec::new(), "due_interval_unanchored"),
                },
                Schedule::AsNeeded => (Vec::new(), "due_prn"),
                Schedule::Unknown if text.is_empty() => (Vec::new(), "due_no_timing"),
                Schedule::Unknown => (Vec::new(), "due_uncomputable"),
            };
            // The times a dose can be recorded against: the day's slots from half a day
            // back (a dose given late) to the end of the window.
            let slots: Vec<DateTime<Utc>> = match &schedule {
                Schedule::Daily(slots) => daily(tr, slots, now - Duration::hours(12), until)
                    .into_iter()
                    .filter(in_course)
                    .collect(),
                _ => due.iter().copied().filter(in_course).collect(),
            };
            let due: Vec<String> = due
                .into_iter()
                .filter(in_course)
                .map(|t| short_time(tr, &t))
                .collect();
            let note = if note.is_empty() && due.is_empty() {
                "due_none_in_window"
            } else {
                note
            };
            DueLine {
                medication: p.medication.clone(),
                dose: p.dose.clone().unwrap_or_default(),
                route: p.route.clone().unwrap_or_default(),
                timing: text,
                due,
                note: if note.is_empty() {
                    String::new()
                } else {
                    tr.s(note).to_owned()
                },
                last_given: last.map(|a| last_text(tr, a)).unwrap_or_default(),
                form: super::EntryForm::due(
                    tr,
                    &p.id,
                    &p.medication,
                    p.dose.as_deref().unwrap_or_default(),
                    p.route.as_deref().unwrap_or_default(),
                    &slots,
                    now,
                ),
            }
        })
        .collect()
}

/// Each slot on each hospital day from `now`'s to `until`'s, kept if in [now, until).
fn daily(
    tr: Tr,
    slots: &[NaiveTime],
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let first = tr.zone.date(&now);
    let last = tr.zone.date(&until);
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        for s in slots {
            if let Some(t) = tr.zone.at_local(day.and_time(*s)) {
                if t >= now && t < until {
                    out.push(t);
                }
            }
        }
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out.sort();
    out
}

/// The latest administration of the prescription (by its reference), else of a drug
/// of the same name.
fn last_administration<'a>(
    p: &Prescription,
    administrations: &'a [Administration],
) -> Option<&'a Administration> {
    let by_ref = administrations
        .iter()
        .filter(|a| a.prescription_id.as_deref() == Some(p.id.as_str()))
        .max_by_key(|a| a.time);
    by_ref.or_else(|| {
        administrations
            .iter()
            .filter(|a| a.medication == p.medication)
            .max_by_key(|a| a.time)
    })
}

fn short_time(tr: Tr, t: &DateTime<Utc>) -> String {
    tr.zone.local(t).format("%m-%d %H:%M").to_string()
}

fn last_text(tr: Tr, a: &Administration) -> String {
    let done = match (a.status.as_str(), tr.lang) {
        ("completed", Lang::Ja) => "実施",
        ("completed", Lang::En) => "given",
        (_, Lang::Ja) => "未実施",
        (_, Lang::En) => "not given",
    };
    format!("{} {done}", tr.zone.minute(&a.time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn parse(t: &str) -> Schedule {
        parse_timing(t, &DoseTimes::default())
    }

    #[test]
    fn meal_timings_are_read_against_the_configured_meal_times() {
        assert_eq!(
            parse("1日3回朝昼夕食後"),
            Schedule::Daily(vec![hm(8, 0), hm(12, 0), hm(18, 0)])
        );
        assert_eq!(parse("1日1回朝食後"), Schedule::Daily(vec![hm(8, 0)]));
        assert_eq!(
            parse("1日2回 朝夕食前"),
            Schedule::Daily(vec![hm(7, 30), hm(17, 30)])
        );
        assert_eq!(
            parse("1日3回毎食後"),
            Schedule::Daily(vec![hm(8, 0), hm(12, 0), hm(18, 0)])
        );
        assert_eq!(parse("就寝前"), Schedule::Daily(vec![hm(21, 0)]));
        // As a structured timing is written at sync (when: PCM, PCV).
        assert_eq!(
            parse("1日2回 朝食後 夕食後"),
            Schedule::Daily(vec![hm(8, 0), hm(18, 0)])
        );
        assert_eq!(
            parse("1日2回朝食後・就寝前"),
            Schedule::Daily(vec![hm(8, 0), hm(21, 0)])
        );
        let late = DoseTimes {
            morning: hm(7, 0),
            ..DoseTimes::default()
        };
        assert_eq!(
            parse_timing("1日1回朝食後", &late),
            Schedule::Daily(vec![hm(7, 0)])
        );
    }

    #[test]
    fn intervals_clock_times_and_as_needed() {
        assert_eq!(parse("8時間毎"), Schedule::Every(Duration::hours(8)));
        assert_eq!(
            parse("1日2回 12時間ごと"),
            Schedule::Every(Duration::hours(12))
        );
        assert_eq!(
            parse("1日2回 9時 21時"),
            Schedule::Daily(vec![hm(9, 0), hm(21, 0)])
        );
        assert_eq!(
            parse("1日2回 ０８：００,２０：００"),
            Schedule::Daily(vec![hm(8, 0), hm(20, 0)])
        );
        assert_eq!(parse("疼痛時頓用"), Schedule::AsNeeded);
        assert_eq!(parse("発熱時に"), Schedule::AsNeeded);
    }

    #[test]
    fn what_cannot_be_placed_on_the_clock_is_unknown() {
        // A count without times, free text, a count that disagrees with the times.
        assert_eq!(parse("1日3回"), Schedule::Unknown);
        assert_eq!(parse("医師の指示通り"), Schedule::Unknown);
        assert_eq!(parse("1日3回朝夕食後"), Schedule::Unknown);
        assert_eq!(parse("朝食前 夕食後"), Schedule::Unknown);
        assert_eq!(parse(""), Schedule::Unknown);
    }

    fn tr() -> Tr {
        Tr {
            lang: Lang::Ja,
            zone: akari_accounts::Zone::default(),
        }
    }

    fn at(s: &str) -> Instant {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn rx(id: &str, timing: &str) -> Prescription {
        Prescription {
            id: id.into(),
            medication: format!("薬{id}"),
            dose: Some("1回 1錠".into()),
            route: Some("内服".into()),
            timing: Some(timing.into()),
            status: "active".into(),
            as_needed: false,
            authored_on: Some(at("2026-12-01T10:00:00+09:00")),
            period_start: None,
            period_end: None,
            days: None,
            span_days: None,
            prescriber: None,
        }
    }

    fn given(rx: &str, time: &str) -> Administration {
        Administration {
            id: format!("a-{time}"),
            medication: format!("薬{rx}"),
            dose: None,
            route: None,
            status: "completed".into(),
            time: at(time),
            prescription_id: Some(rx.into()),
        }
    }

    #[test]
    fn the_next_24_hours_from_now_on_the_hospital_clock_with_the_last_dose() {
        let now = at("2026-12-07T10:30:00+09:00").with_timezone(&Utc);
        let as_of = at("2026-12-07T10:00:00+09:00");
        let lines = due_lines(
            tr(),
            &DoseTimes::default(),
            &[
                rx("a", "1日3回朝昼夕食後"),
                rx("b", "8時間毎"),
                rx("c", "8時間毎"),
                rx("d", "疼痛時頓用"),
                rx("e", "医師の指示通り"),
            ],
            &[
                given("a", "2026-12-07T08:10:00+09:00"),
                given("a", "2026-12-06T18:05:00+09:00"),
                given("b", "2026-12-07T06:00:00+09:00"),
            ],
            as_of,
            now,
        );
        assert_eq!(lines[0].due, ["12-07 12:00", "12-07 18:00", "12-08 08:00"]);
        assert_eq!(lines[0].last_given, "2026-12-07 08:10 JST 実施");
        assert_eq!(lines[0].note, "");
        assert_eq!(lines[1].due, ["12-07 14:00", "12-07 22:00", "12-08 06:00"]);
        // An interval with nothing recorded to count from: said, not guessed.
        assert!(lines[2].due.is_empty());
        assert_eq!(lines[2].note, tr().s("due_interval_unanchored"));
        assert_eq!(lines[3].note, tr().s("due_prn"));
        assert_eq!(lines[4].note, tr().s("due_uncomputable"));
        assert_eq!(lines[4].last_given, "");
    }

    #[test]
    fn a_course_that_ends_in_the_window_stops_its_doses() {
        let now = at("2026-12-07T10:30:00+09:00").with_timezone(&Utc);
        let mut p = rx("a", "1日3回朝昼夕食後");
        p.period_end = Some(at("2026-12-07T15:00:00+09:00"));
        let mut held = rx("h", "1日1回朝食後");
        held.status = "on-hold".into();
        let lines = due_lines(
            tr(),
            &DoseTimes::default(),
            &[p, held],
            &[],
            at("2026-12-07T10:00:00+09:00"),
            now,
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].due, ["12-07 12:00"]);
    }
}
