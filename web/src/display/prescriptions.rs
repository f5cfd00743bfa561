//! The prescriptions table: every prescription in effect at the data time (active, on
//! hold, or completed — dispensed — while its course lasts), then the ones that ended
//! recently, greyed with their status. Each row gives the start date, the days supplied
//! and the prescriber; rows that would read exactly the same are one row with a count,
//! so a source that sends the same prescription twice never shows unexplained doubles.

use akari_sync::model::status as codes;
use akari_sync::model::{Instant, Prescription};

use super::participant_text;
use crate::i18n::{Lang, Tr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxLine {
    pub medication: String,
    pub dose: String,
    pub route: String,
    pub timing: String,
    pub prn: bool,
    /// Start date (hospital's clock), "" when the source gives none.
    pub start: String,
    /// "28日分" / "28 days", "" when unknown.
    pub days: String,
    pub prescriber: String,
    /// In effect at the data time; `false` rows are shown greyed.
    pub in_effect: bool,
    /// The status when it is worth a word: on hold, or why a greyed row ended.
    pub status: String,
    /// How many identical prescriptions this row stands for (1 for most).
    pub count: usize,
    /// "同一処方×2" / "2 identical" when `count` > 1, else "".
    pub repeat: String,
}

/// The rows of the prescriptions table for data as of `as_of`.
pub(super) fn rx_lines(tr: Tr, prescriptions: Vec<Prescription>, as_of: Instant) -> Vec<RxLine> {
    let mut lines: Vec<RxLine> = Vec::with_capacity(prescriptions.len());
    for p in prescriptions {
        let line = rx_line(tr, p, as_of);
        match lines.iter_mut().find(|l| same_row(l, &line)) {
            Some(l) => l.count += 1,
            None => lines.push(line),
        }
    }
    // In effect first; each group keeps the source's order.
    lines.sort_by_key(|l| !l.in_effect);
    for l in lines.iter_mut().filter(|l| l.count > 1) {
        l.repeat = match tr.lang {
            Lang::Ja => format!("同一処方×{}", l.count),
            Lang::En => format!("{} identical", l.count),
        };
    }
    lines
}

/// Rows that would read the same (everything shown but the count).
fn same_row(a: &RxLine, b: &RxLine) -> bool {
    a.medication == b.medication
        && a.dose == b.dose
        && a.route == b.route
        && a.timing == b.timing
        && a.prn == b.prn
        && a.start == b.start
        && a.days == b.days
        && a.prescriber == b.prescriber
        && a.in_effect == b.in_effect
        && a.status == b.status
}

fn rx_line(tr: Tr, p: Prescription, as_of: Instant) -> RxLine {
    let in_effect = p.in_effect_at(as_of);
    let start = p
        .start()
        .map(|t| {
            tr.zone
                .local(&t)
                .date_naive()
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_default();
    let days = p
        .days
        .map(|n| match tr.lang {
            Lang::Ja => format!("{n}日分"),
            Lang::En => format!("{n} days"),
        })
        .unwrap_or_default();
    let status = status_label(tr, &p.status, in_effect);
    RxLine {
        start,
        days,
        prescriber: p
            .prescriber
            .as_ref()
            .map(participant_text)
            .unwrap_or_default(),
        in_effect,
        status,
        medication: p.medication,
        dose: p.dose.unwrap_or_default(),
        route: p.route.unwrap_or_default(),
        timing: p.timing.unwrap_or_default(),
        prn: p.as_needed,
        count: 1,
        repeat: String::new(),
    }
}

/// Nothing for a prescription simply in effect; "保留" for one on hold; for one no longer
/// in effect, why (終了 / 中止 / ...). A status outside FHIR's value set is shown as the
/// source gave it, marked unknown.
fn status_label(tr: Tr, status: &str, in_effect: bool) -> String {
    match (status, in_effect) {
        ("on-hold", _) | (_, false) => super::status_text(tr, &codes::PRESCRIPTION, status),
        (_, true) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use akari_sync::model::Participant;
    use chrono::{DateTime, Duration};

    fn at(s: &str) -> Instant {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn rx(id: &str, status: &str, start: &str, days: Option<u32>) -> Prescription {
        Prescription {
            id: id.into(),
            medication: "バンコマイシン塩酸塩点滴静注用0.5g".into(),
            dose: Some("1回 1瓶".into()),
            route: Some("点滴静注".into()),
            timing: Some("1日2回 12時間毎".into()),
            status: status.into(),
            as_needed: false,
            authored_on: Some(at(start)),
            period_start: None,
            period_end: None,
            days,
            span_days: None,
            prescriber: Some(Participant {
                name: Some("医療 太郎".into()),
                ..Participant::default()
            }),
        }
    }

    #[test]
    fn completed_prescriptions_in_their_course_are_in_effect_and_ended_ones_greyed() {
        let tr = Tr {
            lang: Lang::Ja,
            zone: akari_accounts::Zone::default(),
        };
        let now = at("2026-12-06T09:00:00+09:00");
        let lines = rx_lines(
            tr,
            vec![
                // Dispensed 10 days ago for 28 days: still being taken.
                rx("a", "completed", "2026-11-26T10:00:00+09:00", Some(28)),
                // Dispensed 10 days ago for 7 days: ended 3 days ago.
                rx("b", "completed", "2026-11-26T10:00:00+09:00", Some(7)),
                rx("c", "stopped", "2026-12-01T10:00:00+09:00", Some(28)),
                rx("d", "on-hold", "2026-12-01T10:00:00+09:00", None),
            ],
            now,
        );
        let got: Vec<(&str, bool, &str)> = lines
            .iter()
            .map(|l| (l.days.as_str(), l.in_effect, l.status.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("28日分", true, ""),
                ("", true, "保留"),
                ("7日分", false, "終了"),
                ("28日分", false, "中止"),
            ]
        );
        assert_eq!(lines[0].start, "2026-11-26");
        assert_eq!(lines[0].prescriber, "医療 太郎");
        // The course ends exactly start + days: not in effect from then on.
        let end = at("2026-11-26T10:00:00+09:00") + Duration::days(28);
        assert!(
            !rx_lines(
                tr,
                vec![rx("a", "completed", "2026-11-26T10:00:00+09:00", Some(28))],
                end
            )[0]
            .in_effect
        );
    }

    #[test]
    fn identical_prescriptions_are_one_row_with_a_count() {
        let tr = Tr {
            lang: Lang::Ja,
            zone: akari_accounts::Zone::default(),
        };
        let now = at("2026-12-06T09:00:00+09:00");
        let same = || rx("x", "active", "2026-12-01T10:00:00+09:00", Some(14));
        let mut other = same();
        other.dose = Some("1回 2瓶".into());
        let lines = rx_lines(tr, vec![same(), other, same()], now);
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].count, lines[1].count), (2, 1));
        assert_eq!(lines[0].repeat, "同一処方×2");
    }

    #[test]
    fn a_completed_prescription_without_days_is_not_guessed_to_be_in_effect() {
        let tr = Tr {
            lang: Lang::Ja,
            zone: akari_accounts::Zone::default(),
        };
        let now = at("2026-12-06T09:00:00+09:00");
        let lines = rx_lines(
            tr,
            vec![rx("a", "completed", "2026-12-05T10:00:00+09:00", None)],
            now,
        );
        assert!(!lines[0].in_effect);
        assert_eq!(
            (lines[0].days.as_str(), lines[0].status.as_str()),
            ("", "終了")
        );
    }
}
