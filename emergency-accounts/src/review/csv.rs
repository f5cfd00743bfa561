//! The review report of one episode as CSV, for the hospital's own tools: one row per
//! fact, its kind in the first column (`section`), the same columns on every row.
//!
//! | section | what the row holds |
//! |---|---|
//! | `episode` | the episode: kind in `item`, declared/ended in `from`/`to`, who declared it in `by`, its reason in `comment` |
//! | `sign_off` | a reviewer's sign-off of the episode: verdict in `item`, `by`, time in `from`, `comment` |
//! | `session` | a session: account, declared person, reasons, active `from`–`to`, its number of flags in `item` |
//! | `flag` | one flag of a session, with its reason, in `item` |
//! | `verdict` | a reviewer's verdict on a session: verdict in `item`, `by`, time in `from`, `comment` |
//! | `patient` | a patient a session saw: `seen` is `opened` (read or printed) or `listed` (search results, ward lists); the key, and name, kana, hospital ID and birth date when the reviewer resolved the keys |
//!
//! Times are on the hospital's clock with its zone. Every cell is made safe for
//! spreadsheets (a value that would run as a formula gets a leading `'`).

use chrono::{DateTime, Utc};

use super::report::{actor_text, reason_text, sign_off_label, verdict_label};
use super::resolve::Resolution;
use super::{EpisodeReview, RecordedVerdict, SessionReview};
use crate::ledger::export::spreadsheet_safe;
use crate::zone::Zone;

const HEADER: [&str; 20] = [
    "section",
    "episode",
    "session_id",
    "account_id",
    "declared_name",
    "declared_staff_number",
    "declared_profession",
    "declared_department",
    "reasons",
    "from",
    "to",
    "patient_key",
    "patient_name",
    "patient_kana",
    "hospital_id",
    "birth_date",
    "seen",
    "item",
    "by",
    "comment",
];

/// One row, by column name; columns not set stay empty.
struct Row([String; HEADER.len()]);

impl Row {
    fn new(section: &str, episode: u64) -> Row {
        let mut row = Row(Default::default());
        row.0[0] = section.to_owned();
        row.0[1] = episode.to_string();
        row
    }

    fn set(mut self, column: &str, value: impl Into<String>) -> Row {
        if let Some(i) = HEADER.iter().position(|c| *c == column) {
            self.0[i] = value.into();
        }
        self
    }

    fn session(self, s: &SessionReview) -> Row {
        let d = s.declared.as_ref();
        let field = |f: fn(&crate::event::DeclaredPerson) -> &String| {
            d.map(|p| f(p).clone()).unwrap_or_default()
        };
        self.set("session_id", s.session_id.clone())
            .set("account_id", s.account_id.clone())
            .set("declared_name", field(|p| &p.name))
            .set("declared_staff_number", field(|p| &p.staff_number))
            .set("declared_profession", field(|p| &p.profession))
            .set("declared_department", field(|p| &p.department))
    }

    fn verdict(self, v: &RecordedVerdict, label: String, zone: &Zone) -> Row {
        self.set("item", label)
            .set("by", actor_text(&v.by))
            .set("from", time(zone, &v.time))
            .set("comment", v.comment.clone())
    }
}

fn time(zone: &Zone, t: &DateTime<Utc>) -> String {
    zone.second(t)
}

/// The episode's review as CSV (see the module documentation); patients named when
/// `names` holds the reviewer's resolution of the keys.
pub fn csv(review: &EpisodeReview, names: Option<&Resolution>, zone: &Zone) -> Vec<u8> {
    let ep = &review.episode;
    let id = ep.id;
    let mut rows = vec![Row::new("episode", id)
        .set("item", if ep.drill { "drill" } else { "emergency" })
        .set("from", time(zone, &ep.started))
        .set(
            "to",
            ep.end
                .as_ref()
                .map(|e| time(zone, &e.time))
                .unwrap_or_default(),
        )
        .set("by", actor_text(&ep.declared_by))
        .set("comment", ep.reason.clone())];
    for v in &review.sign_offs {
        rows.push(Row::new("sign_off", id).verdict(v, sign_off_label(&v.verdict), zone));
    }
    for s in review.ranked() {
        let reasons: Vec<String> = s.reasons.iter().map(reason_text).collect();
        rows.push(
            Row::new("session", id)
                .session(s)
                .set("reasons", reasons.join("; "))
                .set("from", time(zone, &s.first_time))
                .set("to", time(zone, &s.last_time))
                .set("item", format!("{} flags", s.flags.len())),
        );
        for f in &s.flags {
            rows.push(Row::new("flag", id).session(s).set("item", f.to_string()));
        }
        for v in &s.verdicts {
            rows.push(Row::new("verdict", id).session(s).verdict(
                v,
                verdict_label(&v.verdict),
                zone,
            ));
        }
        let seen = [("opened", &s.patients), ("listed", &s.listed)];
        for (how, keys) in seen {
            for key in keys {
                let mut row = Row::new("patient", id)
                    .session(s)
                    .set("patient_key", key.clone())
                    .set("seen", how);
                if let Some(p) = names.and_then(|n| n.get(key)) {
                    row = row
                        .set("patient_name", p.name.clone().unwrap_or_default())
                        .set("patient_kana", p.kana.clone().unwrap_or_default())
                        .set("hospital_id", p.hospital_id.clone().unwrap_or_default())
                        .set(
                            "birth_date",
                            p.birth_date.map(|d| d.to_string()).unwrap_or_default(),
                        );
                }
                rows.push(row);
            }
        }
    }
    let mut w = ::csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail; a row that did would only be missing from the copy.
    let _ = w.write_record(HEADER);
    for row in rows {
        let _ = w.write_record(row.0.into_iter().map(spreadsheet_safe));
    }
    w.into_inner().unwrap_or_default()
}
