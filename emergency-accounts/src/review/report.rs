//! The incident-report text of an episode (`akari audit report EPISODE`): the episode,
//! totals, then each session (most serious flags first) with its flags and verdicts.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::resolve::Resolution;
use super::{Episode, EpisodeReview, SessionReview, SignOff, Verdict};
use crate::event::{Actor, Reason};
use crate::zone::Zone;

pub(super) fn actor_text(a: &Actor) -> String {
    match a {
        Actor::System => "the node (system)".into(),
        Actor::Console { os_user } => format!("console user {os_user}"),
        Actor::Admin { admin_id } => format!("administrator {admin_id}"),
        Actor::Emergency { account_id, .. } => format!("emergency account {account_id}"),
        Actor::Anonymous => "an unauthenticated user".into(),
    }
}

fn time_text(zone: &Zone, t: &DateTime<Utc>) -> String {
    zone.second(t)
}

pub(super) fn verdict_label(recorded: &str) -> String {
    recorded
        .parse::<Verdict>()
        .map(|v| v.label().to_string())
        .unwrap_or_else(|_| recorded.to_string())
}

pub(super) fn reason_text(r: &Reason) -> String {
    match r {
        Reason::EmergencyTreatment => "emergency treatment".into(),
        Reason::Drill => "drill".into(),
        Reason::Other(t) => format!("other: {t}"),
    }
}

/// The incident-report summary of an episode (`akari audit report EPISODE`), its times on
/// the hospital's clock, patients by their opaque keys.
pub fn report(review: &EpisodeReview, zone: &Zone) -> String {
    report_resolved(review, zone, None)
}

/// [`report`], with each patient named when the reviewer resolved the keys
/// (`akari audit report EPISODE --resolve`).
pub fn report_resolved(review: &EpisodeReview, zone: &Zone, names: Option<&Resolution>) -> String {
    let mut s = String::new();
    report_episode(&mut s, &review.episode, zone);
    report_totals(&mut s, review);
    report_sign_offs(&mut s, review, zone);
    for x in review.ranked() {
        report_session(&mut s, x, zone, names);
    }
    s
}

/// The sign-off label of a recorded sign-off verdict.
pub(super) fn sign_off_label(recorded: &str) -> String {
    recorded
        .parse::<SignOff>()
        .map(|v| v.label().to_string())
        .unwrap_or_else(|_| recorded.to_string())
}

/// The reviewers' sign-offs of the episode, or that there is none yet.
fn report_sign_offs(s: &mut String, review: &EpisodeReview, zone: &Zone) {
    if review.sign_offs.is_empty() {
        let _ = writeln!(s, "Sign-off: not yet signed off");
    }
    for v in &review.sign_offs {
        let _ = writeln!(
            s,
            "Sign-off: {} by {} at {} (entry {}){}{}",
            sign_off_label(&v.verdict),
            actor_text(&v.by),
            time_text(zone, &v.time),
            v.seq,
            if v.comment.is_empty() { "" } else { ": " },
            v.comment
        );
    }
}

/// Patient keys as a report line shows them: named when resolved.
fn patients_text(keys: &[String], names: Option<&Resolution>) -> String {
    match names {
        None => keys.join(", "),
        Some(r) => keys
            .iter()
            .map(|k| r.describe(k))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The report's opening: the episode, who declared and ended it, and why.
fn report_episode(s: &mut String, ep: &Episode, zone: &Zone) {
    let kind = if ep.drill { "DRILL" } else { "EMERGENCY" };
    let _ = writeln!(s, "Akari audit report: {kind} episode {}", ep.id);
    let _ = writeln!(
        s,
        "Declared:  {} by {}",
        time_text(zone, &ep.started),
        actor_text(&ep.declared_by)
    );
    let _ = writeln!(s, "Reason:    {}", ep.reason);
    match &ep.end {
        Some(end) => {
            let _ = writeln!(
                s,
                "Ended:     {} by {} (mode {:?}): {}",
                time_text(zone, &end.time),
                actor_text(&end.by),
                end.to,
                end.reason
            );
        }
        None => {
            let _ = writeln!(s, "Ended:     not yet (still in progress)");
        }
    }
}

/// The episode's totals: accounts opened, sessions, distinct patients, flagged and
/// unreviewed sessions.
fn report_totals(s: &mut String, review: &EpisodeReview) {
    let accounts: BTreeSet<&str> = review
        .sessions
        .iter()
        .map(|x| x.account_id.as_str())
        .collect();
    let all_patients: BTreeSet<&str> = review
        .sessions
        .iter()
        .flat_map(|x| x.patients.iter().map(String::as_str))
        .collect();
    let _ = writeln!(
        s,
        "Accounts opened: {} ({})",
        accounts.len(),
        accounts.iter().copied().collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(
        s,
        "Sessions: {}   Distinct patients viewed: {}",
        review.sessions.len(),
        all_patients.len()
    );
    let flagged = review
        .sessions
        .iter()
        .filter(|x| !x.flags.is_empty())
        .count();
    let unreviewed = review
        .sessions
        .iter()
        .filter(|x| x.verdicts.is_empty())
        .count();
    let _ = writeln!(
        s,
        "Sessions flagged: {flagged}   Sessions without a verdict: {unreviewed}"
    );
}

/// One session's section: who declared and why, when, what it did, its flags and verdicts.
fn report_session(s: &mut String, x: &SessionReview, zone: &Zone, names: Option<&Resolution>) {
    let _ = writeln!(s);
    let _ = writeln!(s, "Session {} (account {})", x.session_id, x.account_id);
    match &x.declared {
        Some(p) => {
            let _ = writeln!(
                s,
                "  Declared person: {} (staff number {}, {}, {})",
                p.name, p.staff_number, p.profession, p.department
            );
        }
        None => {
            let _ = writeln!(s, "  Declared person: NONE DECLARED");
        }
    }
    if !x.reasons.is_empty() {
        let r: Vec<String> = x.reasons.iter().map(reason_text).collect();
        let _ = writeln!(s, "  Reason: {}", r.join("; "));
    }
    let _ = writeln!(
        s,
        "  Active: {} to {}",
        time_text(zone, &x.first_time),
        time_text(zone, &x.last_time)
    );
    let _ = writeln!(
        s,
        "  Events: {} (searches {}, patient records printed {})",
        x.events.len(),
        x.searches,
        x.printed
    );
    let _ = writeln!(
        s,
        "  Patients viewed ({}): {}",
        x.patients.len(),
        patients_text(&x.patients, names)
    );
    if !x.listed.is_empty() {
        let _ = writeln!(
            s,
            "  Patients listed in search results or ward lists ({}): {}",
            x.listed.len(),
            patients_text(&x.listed, names)
        );
    }
    report_flags_and_verdicts(s, x, zone);
}

/// A session's flags (or "none") and its verdicts (or "not yet reviewed").
fn report_flags_and_verdicts(s: &mut String, x: &SessionReview, zone: &Zone) {
    if x.flags.is_empty() {
        let _ = writeln!(s, "  Flags: none");
    } else {
        let _ = writeln!(s, "  Flags:");
        for f in &x.flags {
            let _ = writeln!(s, "    - {f}");
        }
    }
    if x.verdicts.is_empty() {
        let _ = writeln!(s, "  Verdict: not yet reviewed");
    } else {
        for v in &x.verdicts {
            let _ = writeln!(
                s,
                "  Verdict: {} by {} at {} (entry {}): {}",
                verdict_label(&v.verdict),
                actor_text(&v.by),
                time_text(zone, &v.time),
                v.seq,
                v.comment
            );
        }
    }
}
