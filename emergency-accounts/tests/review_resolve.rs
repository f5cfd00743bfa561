//! The review that names patients: keys resolved to people and the patient lookup, each
//! audited before any name is returned (and nothing returned when it cannot be); the
//! episode's sign-off; the review report as CSV.

mod ledger_common;

use akari_accounts::event::{Action, AuditEvent, AuditSink, Mode};
use akari_accounts::ledger::{Ledger, LedgerConfig};
use akari_accounts::review::resolve::{
    find_patients, patient_sessions, resolve, DirectoryError, PatientDirectory, PatientIdentity,
    ReviewAct, Sighting,
};
use akari_accounts::review::{self, review_episode, ReviewConfig, ReviewError, SignOff, Unscoped};
use akari_accounts::testing::FailingSink;
use akari_accounts::{Console, ReviewCapability};
use ledger_common::*;

/// The snapshot's patients, as a directory.
struct Directory(Vec<PatientIdentity>, bool);

impl PatientDirectory for Directory {
    fn identify(&self, key: &str) -> Result<Option<PatientIdentity>, DirectoryError> {
        if self.1 {
            return Err(DirectoryError::Locked);
        }
        Ok(self.0.iter().find(|p| p.key == key).cloned())
    }

    fn find(&self, query: &str) -> Result<Vec<PatientIdentity>, DirectoryError> {
        Ok(self
            .0
            .iter()
            .filter(|p| {
                p.hospital_id.as_deref() == Some(query)
                    || p.kana.as_deref().is_some_and(|k| k.starts_with(query))
            })
            .cloned()
            .collect())
    }
}

fn patient(key: &str, name: &str, kana: &str, id: &str) -> PatientIdentity {
    PatientIdentity {
        key: key.into(),
        name: Some(name.into()),
        kana: Some(kana.into()),
        hospital_id: Some(id.into()),
        birth_date: chrono::NaiveDate::from_ymd_opt(1950, 1, 2),
    }
}

fn directory() -> Directory {
    Directory(
        vec![
            patient("pk-1", "試験 一郎", "シケン イチロウ", "000101"),
            // A name a spreadsheet would run as a formula.
            patient("pk-2", "=HYPERLINK(\"x\")", "テスト ハナコ", "000102"),
        ],
        false,
    )
}

/// Episode 1: session A searches (pk-2 listed), reads pk-1; session B sees pk-2 on a ward
/// list only; episode 2: session C reads pk-2.
fn scenario(dir: &std::path::Path) -> Ledger {
    let ledger = open(dir, &key(), &LedgerConfig::default());
    let rec = |e: AuditEvent| ledger.record(e).unwrap().sequence();
    let m = Mode::Drill;
    rec(mode_change(at(0), Mode::Standby, m, "drill"));
    let a = clinician("EMERG-01", "sess-a", 1);
    let b = clinician("EMERG-02", "sess-b", 2);
    rec(ev(
        at(1),
        a.clone(),
        Action::PatientSearch {
            query_kind: "name".into(),
            results: 2,
            keys: vec!["pk-1".into(), "pk-2".into()],
        },
        m,
    ));
    rec(read(at(2), a.clone(), "pk-1", "4-East", m));
    rec(ev(
        at(3),
        b.clone(),
        Action::WardCensus {
            ward: "4-East".into(),
            keys: vec!["pk-2".into()],
        },
        m,
    ));
    rec(ev(at(4), a, Action::Logout, m));
    rec(ev(at(4), b, Action::Logout, m));
    rec(mode_change(at(5), m, Mode::Recovery, "drill over"));
    rec(mode_change(at(6), Mode::Recovery, Mode::Standby, "back"));
    rec(mode_change(
        at(7),
        Mode::Standby,
        Mode::Emergency,
        "EHR down",
    ));
    let c = clinician("EMERG-03", "sess-c", 3);
    rec(read(at(8), c.clone(), "pk-2", "4-East", Mode::Emergency));
    rec(ev(at(9), c, Action::Logout, Mode::Emergency));
    ledger
}

fn reviewer() -> ReviewCapability {
    Console::new("privacy-officer").reviewer()
}

fn act<'a>(cap: &'a ReviewCapability, sink: &'a dyn AuditSink, purpose: &'a str) -> ReviewAct<'a> {
    ReviewAct {
        reviewer: cap,
        sink,
        client: client(),
        mode: Mode::Standby,
        purpose,
    }
}

#[test]
fn resolution_is_recorded_before_names_are_returned_and_refused_without_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = scenario(dir.path());
    let cap = reviewer();
    let before = entries(&ledger).len();
    let names = resolve(
        &act(&cap, &ledger, "incident 12: complaint"),
        &directory(),
        ["pk-1", "pk-2", "pk-1", "pk-gone"],
    )
    .unwrap();
    assert_eq!(
        names.get("pk-1").unwrap().name.as_deref(),
        Some("試験 一郎")
    );
    assert_eq!(names.len(), 2);
    assert!(names
        .describe("pk-gone")
        .contains("not in the current snapshot"));
    let all = entries(&ledger);
    assert_eq!(all.len(), before + 1);
    let last = all.last().unwrap();
    assert_eq!(last.seq, names.receipt().sequence());
    assert_eq!(
        last.action,
        Action::ReviewResolved {
            keys: vec!["pk-1".into(), "pk-2".into(), "pk-gone".into()],
            purpose: "incident 12: complaint".into(),
        }
    );
    assert_eq!(last.actor, cap.actor());

    // No purpose, no names; no record, no names; a locked snapshot says so.
    assert!(matches!(
        resolve(&act(&cap, &ledger, "  "), &directory(), ["pk-1"]),
        Err(ReviewError::PurposeRequired)
    ));
    assert!(matches!(
        resolve(&act(&cap, &FailingSink, "why"), &directory(), ["pk-1"]),
        Err(ReviewError::Audit(_))
    ));
    let locked = Directory(Vec::new(), true);
    assert!(matches!(
        resolve(&act(&cap, &ledger, "why"), &locked, ["pk-1"]),
        Err(ReviewError::Directory(DirectoryError::Locked))
    ));
    assert!(matches!(
        patient_sessions(
            &act(&cap, &FailingSink, "why"),
            &directory(),
            &ledger,
            "pk-2"
        ),
        Err(ReviewError::Audit(_))
    ));
    assert_eq!(entries(&ledger).len(), before + 1);
}

#[test]
fn the_patient_lookup_finds_every_session_that_saw_the_patient_in_any_episode() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = scenario(dir.path());
    let cap = reviewer();
    let found = find_patients(&act(&cap, &ledger, "complaint"), &directory(), "テスト").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        entries(&ledger).last().unwrap().action,
        Action::ReviewResolved {
            keys: vec!["pk-2".into()],
            purpose: "complaint".into()
        }
    );

    let (who, sessions) = patient_sessions(
        &act(&cap, &ledger, "complaint"),
        &directory(),
        &ledger,
        "pk-2",
    )
    .unwrap();
    assert_eq!(who.unwrap().hospital_id.as_deref(), Some("000102"));
    let lookup = entries(&ledger).last().unwrap().clone();
    assert_eq!(lookup.patient.as_deref(), Some("pk-2"));
    assert_eq!(
        lookup.action,
        Action::ReviewPatientLookup {
            purpose: "complaint".into()
        }
    );
    let seen: Vec<(&str, Option<u64>, Vec<Sighting>)> = sessions
        .iter()
        .map(|s| {
            (
                s.session_id.as_str(),
                s.episode,
                s.entries.iter().map(|e| e.how).collect(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("sess-a", Some(1), vec![Sighting::SearchResult]),
            ("sess-b", Some(1), vec![Sighting::WardList]),
            ("sess-c", Some(2), vec![Sighting::Read]),
        ]
    );
    assert_eq!(
        sessions[0].declared.as_ref().unwrap().name,
        "Test Clinician 1"
    );
}

#[test]
fn the_sign_off_is_a_ledger_entry_and_the_csv_carries_it_with_formulas_neutralised() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = scenario(dir.path());
    let cap = reviewer();
    assert!(matches!(
        review::sign_off(
            &cap,
            &ledger,
            client(),
            Mode::Standby,
            1,
            SignOff::NeedsCheck,
            " "
        ),
        Err(ReviewError::CommentRequired(_))
    ));
    let receipt = review::sign_off(
        &cap,
        &ledger,
        client(),
        Mode::Standby,
        1,
        "要確認".parse().unwrap(),
        "ask the ward manager about sess-b",
    )
    .unwrap();
    let entry = entries(&ledger).last().unwrap().clone();
    assert_eq!(entry.seq, receipt.sequence());
    assert_eq!(
        entry.action,
        Action::ReviewSignOff {
            episode: 1,
            verdict: "needs_check".into(),
            comment: "ask the ward manager about sess-b".into()
        }
    );

    let r = review_episode(&ledger, 1, &Unscoped, &ReviewConfig::default()).unwrap();
    assert_eq!(r.sign_offs.len(), 1);
    assert!(review::report(&r, &akari_accounts::Zone::default())
        .contains("Sign-off: needs checking by console user privacy-officer"));
    assert_eq!(
        review_episode(&ledger, 2, &Unscoped, &ReviewConfig::default())
            .unwrap()
            .sign_offs,
        []
    );

    let names = resolve(
        &act(&cap, &ledger, "export"),
        &directory(),
        ["pk-1", "pk-2"],
    )
    .unwrap();
    let bytes = review::csv(&r, Some(&names), &akari_accounts::Zone::default());
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let sign_off = rows.iter().find(|r| &r[0] == "sign_off").unwrap();
    assert_eq!(&sign_off[col("item")], "needs checking");
    assert_eq!(
        &sign_off[col("comment")],
        "ask the ward manager about sess-b"
    );
    let patient_rows: Vec<_> = rows.iter().filter(|r| &r[0] == "patient").collect();
    let opened = patient_rows
        .iter()
        .find(|r| &r[col("seen")] == "opened")
        .unwrap();
    assert_eq!(&opened[col("patient_name")], "試験 一郎");
    assert_eq!(&opened[col("hospital_id")], "000101");
    assert_eq!(&opened[col("birth_date")], "1950-01-02");
    assert!(patient_rows
        .iter()
        .any(|r| &r[col("patient_name")] == "'=HYPERLINK(\"x\")"));
    assert!(
        !rows.iter().flatten().any(|cell| cell.starts_with('=')),
        "no cell would run as a formula"
    );
    // Without the reviewer's resolution: keys only.
    let plain = String::from_utf8(review::csv(&r, None, &akari_accounts::Zone::default())).unwrap();
    assert!(plain.contains("pk-1") && !plain.contains("試験"), "{plain}");
}
