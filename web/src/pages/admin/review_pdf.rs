//! The review report of one episode as a printable PDF, through the node's PDF crate: the
//! episode and its sign-offs, then each session (most serious flags first) with its
//! declared person, the patients it saw (named when the reviewer resolved them), its flags
//! with their reasons and its verdicts. Every page carries the episode in its header and
//! "X / Y ページ", who printed and when in its footer. The review pages and
//! `akari audit report --pdf` print the same document.

use akari_accounts::review::resolve::Resolution;
use akari_accounts::review::{EpisodeReview, SessionReview};
use akari_print::{Cell, Column, Document, Footer, HeaderLine, PageSize, Row, Section, Table};
use chrono::Utc;

use super::review::{flag_text, reason_text, sign_off_label, verdict_label, verdict_line};
use super::text::{actor_text, time};
use crate::i18n::Tr;

/// The PDF document of `review` in `tr`'s language and clock, printed by `printed_by`.
pub fn document(
    tr: Tr,
    review: &EpisodeReview,
    names: Option<&Resolution>,
    printed_by: &str,
) -> Document {
    let ep = &review.episode;
    let kind = tr.s(if ep.drill { "drill" } else { "emergency" });
    let title = format!("{} {} {}", tr.s("review_report"), tr.s("episode"), ep.id);
    let footer = Footer {
        printed_by: printed_by.to_owned(),
        declared_person: String::new(),
        printed_at: tr.zone.minute(&Utc::now()),
    };
    let mut doc = Document::new(title.clone(), PageSize::A4Portrait, footer);
    let ended = ep
        .end
        .as_ref()
        .map(|e| time(tr, &e.time))
        .unwrap_or_else(|| tr.s("in_progress").to_owned());
    let section = doc.section([
        HeaderLine::strong(title),
        HeaderLine::banner(kind),
        HeaderLine::plain(format!(
            "{} {} – {} {}",
            tr.s("started"),
            time(tr, &ep.started),
            tr.s("ended"),
            ended
        )),
    ]);
    section.heading(tr.s("episode")).paragraph(format!(
        "{}: {}\n{}: {}",
        tr.s("decided_by"),
        actor_text(tr, &ep.declared_by),
        tr.s("episode_reason"),
        ep.reason
    ));
    section.heading(tr.s("sign_off"));
    if review.sign_offs.is_empty() {
        section.paragraph(tr.s("sign_off_none"));
    }
    for v in &review.sign_offs {
        section.paragraph(verdict_line(tr, v, sign_off_label(tr, &v.verdict)));
    }
    section.heading(format!("{} ({})", tr.s("sessions"), review.sessions.len()));
    if review.sessions.is_empty() {
        section.paragraph(tr.s("no_sessions"));
    }
    for s in review.ranked() {
        session(tr, section, s, names);
    }
    doc
}

fn session(tr: Tr, section: &mut Section, s: &SessionReview, names: Option<&Resolution>) {
    let person = s.declared.as_ref().map_or_else(
        || tr.s("not_declared").to_owned(),
        |p| {
            format!(
                "{} ({} · {} · {})",
                p.name, p.staff_number, p.profession, p.department
            )
        },
    );
    section.heading(format!("{} · {person}", s.account_id));
    let reasons: Vec<String> = s.reasons.iter().map(|r| reason_text(tr, r)).collect();
    section.paragraph(format!(
        "{} – {} · {}: {} · {} {} · {} {} · {} {}\n{}: {}",
        time(tr, &s.first_time),
        time(tr, &s.last_time),
        tr.s("reason"),
        reasons.join(", "),
        tr.s("patients"),
        s.patients.len(),
        tr.s("searches"),
        s.searches,
        tr.s("printed"),
        s.printed,
        tr.s("session"),
        s.session_id
    ));
    if !s.patients.is_empty() || !s.listed.is_empty() {
        let mut table = Table::new([
            Column::new(tr.s("review_seen_how"), 1.2),
            Column::new(tr.s("patient"), 3.0),
            Column::new(tr.s("patient_key"), 2.2),
        ]);
        let seen = [("review_opened", &s.patients), ("review_listed", &s.listed)];
        for (how, keys) in seen {
            for key in keys {
                let who = names
                    .and_then(|n| n.get(key))
                    .map(|p| p.label())
                    .unwrap_or_default();
                table.row(Row::new([
                    Cell::new(tr.s(how)),
                    Cell::new(who),
                    Cell::new(key.clone()),
                ]));
            }
        }
        section.table(table);
    }
    let flags: Vec<String> = s
        .flags
        .iter()
        .map(|f| format!("⚠ {}", flag_text(tr, f)))
        .collect();
    section.paragraph(if flags.is_empty() {
        tr.s("no_flags").to_owned()
    } else {
        flags.join("\n")
    });
    let verdicts: Vec<String> = s
        .verdicts
        .iter()
        .map(|v| verdict_line(tr, v, verdict_label(tr, &v.verdict)))
        .collect();
    section.paragraph(if verdicts.is_empty() {
        tr.s("no_verdict").to_owned()
    } else {
        verdicts.join("\n")
    });
    section.space(3.0);
}
