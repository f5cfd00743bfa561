//! Review after recovery: episodes → sessions → events, anomaly flags, verdicts as ledger
//! entries, and the incident report.

mod ledger_common;

use std::collections::HashMap;

use akari_accounts::event::{Action, AuditEvent, AuditSink, Mode, Reason};
use akari_accounts::ledger::LedgerConfig;
use akari_accounts::review::{
    self, episodes, record_verdict, review_episode, Flag, ReviewConfig, ReviewError, Unscoped,
    Verdict,
};
use ledger_common::*;

struct Scenario {
    _dir: tempfile::TempDir,
    ledger: akari_accounts::ledger::Ledger,
    stale_read_seq: u64,
    out_of_scope_seq: u64,
    drill_seq: u64,
}

fn scenario() -> Scenario {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path(), &key(), &LedgerConfig::default());
    let rec = |e: AuditEvent| ledger.record(e).unwrap().sequence();
    let m = Mode::Emergency;
    assert_eq!(
        rec(mode_change(
            at(0),
            Mode::Standby,
            m,
            "EHR down (ransomware)"
        )),
        1
    );
    let a = clinician("EMERG-01", "sess-a", 1);
    let b = clinician("EMERG-02", "sess-b", 2);
    rec(ev(at(1), a.clone(), Action::LoginSucceeded, m));
    rec(ev(
        at(1),
        a.clone(),
        Action::Declared {
            reason: Reason::EmergencyTreatment,
        },
        m,
    ));
    for p in ["pk-1", "pk-2", "pk-3"] {
        rec(read(at(2), a.clone(), p, "4-East", m));
    }
    let out_of_scope_seq = rec(read(at(3), a.clone(), "pk-4", "5-West", m));
    rec(AuditEvent {
        patient: Some("pk-1".into()),
        ..ev(at(3), a.clone(), Action::PatientPrint, m)
    });
    rec(ev(at(4), b.clone(), Action::LoginSucceeded, m));
    for i in 0..25 {
        rec(read(at(5), b.clone(), &format!("pk-b{i}"), "4-East", m));
    }
    rec(ev(
        at(6),
        b.clone(),
        // As ledgers written before ward prints listed their patients have it.
        Action::WardPrint {
            ward: "4-East".into(),
            patients: 12,
            keys: Vec::new(),
        },
        m,
    ));
    rec(ev(at(7), b.clone(), Action::Logout, m));
    rec(mode_change(at(12), m, Mode::Recovery, "EHR restored"));
    rec(ev(
        at(12),
        a.clone(),
        Action::SessionExpired,
        Mode::Recovery,
    ));
    // A stale session still reading after the episode ended.
    let stale_read_seq = rec(read(at(13), a.clone(), "pk-5", "4-East", Mode::Recovery));
    let drill_seq = rec(mode_change(
        at(20),
        Mode::Recovery,
        Mode::Drill,
        "quarterly drill",
    ));
    let c = clinician("EMERG-03", "sess-c", 3);
    rec(ev(at(21), c.clone(), Action::LoginSucceeded, Mode::Drill));
    rec(read(at(22), c.clone(), "pk-d1", "4-East", Mode::Drill));
    rec(ev(at(22), c, Action::Logout, Mode::Drill));
    rec(mode_change(
        at(30),
        Mode::Drill,
        Mode::Standby,
        "drill over",
    ));
    Scenario {
        _dir: dir,
        ledger,
        stale_read_seq,
        out_of_scope_seq,
        drill_seq,
    }
}

fn scopes() -> HashMap<String, Vec<String>> {
    HashMap::from([
        ("EMERG-01".to_string(), vec!["4-East".to_string()]),
        ("EMERG-02".to_string(), vec!["4-East".to_string()]),
    ])
}

#[test]
fn episodes_come_from_mode_changes() {
    let s = scenario();
    let eps = episodes(&s.ledger).unwrap();
    assert_eq!(eps.len(), 2);
    assert_eq!((eps[0].id, eps[0].start_seq), (1, 1));
    assert!(!eps[0].drill);
    assert_eq!(eps[0].reason, "EHR down (ransomware)");
    assert_eq!(eps[0].end.as_ref().unwrap().to, Mode::Recovery);
    // Entries without an episode number are numbered in order, as the accounts store does.
    assert_eq!((eps[1].id, eps[1].start_seq), (2, s.drill_seq));
    assert!(eps[1].drill);
    assert!(eps[1].end.is_some());
}

#[test]
fn sessions_are_grouped_and_flagged() {
    let s = scenario();
    let r = review_episode(&s.ledger, 1, &scopes(), &ReviewConfig::default()).unwrap();
    assert_eq!(r.sessions.len(), 2);
    let a = &r.sessions[0];
    assert_eq!(
        (a.session_id.as_str(), a.account_id.as_str()),
        ("sess-a", "EMERG-01")
    );
    assert_eq!(a.declared.as_ref().unwrap().staff_number, "S0001");
    assert_eq!(a.reasons, vec![Reason::EmergencyTreatment]);
    assert_eq!(a.patients, vec!["pk-1", "pk-2", "pk-3", "pk-4", "pk-5"]);
    assert_eq!(a.printed, 1);
    assert_eq!(
        a.flags,
        vec![
            Flag::OutsideWardScope {
                seq: s.out_of_scope_seq,
                ward: "5-West".into()
            },
            Flag::OutsideEpisode {
                seq: s.stale_read_seq
            },
        ]
    );
    let b = &r.sessions[1];
    assert_eq!(b.session_id, "sess-b");
    assert_eq!(b.patients.len(), 25);
    assert_eq!(
        b.flags,
        vec![
            Flag::ManyPatients {
                distinct: 25,
                threshold: 20
            },
            Flag::BulkPrinting {
                printed: 12,
                threshold: 10
            },
        ]
    );
    // Thresholds come from the configuration; no scopes, no scope flags.
    let lenient = ReviewConfig {
        many_patients: 30,
        bulk_prints: 20,
        ..ReviewConfig::default()
    };
    let r = review_episode(&s.ledger, 1, &Unscoped, &lenient).unwrap();
    assert!(r.sessions[1].flags.is_empty());
    assert_eq!(
        r.sessions[0].flags,
        vec![Flag::OutsideEpisode {
            seq: s.stale_read_seq
        }]
    );
    // The drill episode has its own session, unflagged.
    let d = review_episode(&s.ledger, 2, &scopes(), &ReviewConfig::default()).unwrap();
    assert_eq!(d.sessions.len(), 1);
    assert_eq!(d.sessions[0].session_id, "sess-c");
    assert!(d.sessions[0].flags.is_empty());
    assert!(matches!(
        review_episode(&s.ledger, 999, &Unscoped, &ReviewConfig::default()),
        Err(ReviewError::NoSuchEpisode(999))
    ));
}

#[test]
fn verdicts_are_ledger_entries_and_appear_in_the_report() {
    let s = scenario();
    let before = s.ledger.last_seq().unwrap();
    // Only reviewers, and misuse needs a comment.
    assert!(matches!(
        record_verdict(
            &s.ledger,
            clinician("EMERG-01", "sess-a", 1),
            Mode::Recovery,
            "sess-a",
            Verdict::LegitimateEmergency,
            "fine"
        ),
        Err(ReviewError::NotAReviewer)
    ));
    assert!(matches!(
        record_verdict(
            &s.ledger,
            admin(),
            Mode::Recovery,
            "sess-b",
            Verdict::Misuse,
            "  "
        ),
        Err(ReviewError::CommentRequired(_))
    ));
    assert_eq!(
        s.ledger.last_seq().unwrap(),
        before,
        "refused verdicts are not recorded"
    );
    let v1 = record_verdict(
        &s.ledger,
        admin(),
        Mode::Recovery,
        "sess-a",
        Verdict::NeedsFollowUp,
        "ask about 5-West",
    )
    .unwrap();
    let v2 = record_verdict(
        &s.ledger,
        admin(),
        Mode::Recovery,
        "sess-b",
        "misuse".parse().unwrap(),
        "browsing the whole ward",
    )
    .unwrap();
    assert_eq!((v1.sequence(), v2.sequence()), (before + 1, before + 2));
    s.ledger
        .scan(
            v1.sequence()..=v1.sequence(),
            |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
                assert_eq!(
                    e.action,
                    Action::ReviewVerdict {
                        session_id: "sess-a".into(),
                        verdict: "needs_follow_up".into(),
                        comment: "ask about 5-West".into()
                    }
                );
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(s.ledger.verify_stored().unwrap(), before + 2);

    let r = review_episode(&s.ledger, 1, &scopes(), &ReviewConfig::default()).unwrap();
    assert_eq!(r.sessions[0].verdicts.len(), 1);
    assert_eq!(r.sessions[1].verdicts[0].verdict, "misuse");
    let text = review::report(&r, &akari_accounts::Zone::default());
    for needle in [
        "EMERGENCY episode 1",
        "by administrator it-admin",
        "EHR down (ransomware)",
        "Accounts opened: 2 (EMERG-01, EMERG-02)",
        "Test Clinician 1 (staff number S0001, nurse, ER)",
        "Patients viewed (5): pk-1, pk-2, pk-3, pk-4, pk-5",
        "patient outside the account's ward scope: ward 5-West",
        "access outside the declared episode",
        "many distinct patients: 25 (threshold 20)",
        "bulk printing: 12 patient records printed (threshold 10)",
        "Verdict: needs follow-up by administrator it-admin",
        "Verdict: misuse by administrator it-admin",
        "browsing the whole ward",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
}

/// A ward print is one `WardPrint` entry listing its patients; a later print of a single
/// patient still counts; names listed by a search or census are kept apart from records
/// opened, and a lookup of an unknown key is no patient seen.
#[test]
fn a_ward_print_counts_its_listed_patients_and_search_results_are_names_shown() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path(), &key(), &LedgerConfig::default());
    let rec = |e: AuditEvent| ledger.record(e).unwrap().sequence();
    let m = Mode::Drill;
    rec(mode_change(at(0), Mode::Standby, m, "drill"));
    let a = clinician("EMERG-01", "sess-a", 1);
    rec(ev(at(1), a.clone(), Action::LoginSucceeded, m));
    rec(ev(
        at(1),
        a.clone(),
        Action::PatientSearch {
            query_kind: "name".into(),
            results: 2,
            keys: vec!["pk-7".into(), "pk-8".into()],
        },
        m,
    ));
    rec(ev(
        at(1),
        a.clone(),
        Action::PatientNotFound {
            key: "pk-stale".into(),
        },
        m,
    ));
    rec(ev(
        at(2),
        a.clone(),
        Action::WardPrint {
            ward: "4-East".into(),
            patients: 3,
            keys: vec!["pk-1".into(), "pk-2".into(), "pk-3".into()],
        },
        m,
    ));
    rec(AuditEvent {
        patient: Some("pk-9".into()),
        ..ev(at(2), a.clone(), Action::PatientPrint, m)
    });
    let r = review_episode(&ledger, 1, &Unscoped, &ReviewConfig::default()).unwrap();
    let session = &r.sessions[0];
    assert_eq!(session.printed, 4, "3 from the ward print, 1 on its own");
    assert_eq!(session.patients, ["pk-1", "pk-2", "pk-3", "pk-9"]);
    assert_eq!(session.listed, ["pk-7", "pk-8"]);
}

/// Ledgers written before ward prints listed their patients record one `WardPrint
/// { patients: n }` followed by one `PatientPrint` per patient; the review counts those n
/// prints once, and a later print of a single patient is still counted.
#[test]
fn an_older_ward_print_counts_its_patients_once() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path(), &key(), &LedgerConfig::default());
    let rec = |e: AuditEvent| ledger.record(e).unwrap().sequence();
    let m = Mode::Drill;
    rec(mode_change(at(0), Mode::Standby, m, "drill"));
    let a = clinician("EMERG-01", "sess-a", 1);
    rec(ev(at(1), a.clone(), Action::LoginSucceeded, m));
    rec(ev(
        at(2),
        a.clone(),
        Action::WardPrint {
            ward: "4-East".into(),
            patients: 3,
            keys: Vec::new(),
        },
        m,
    ));
    for p in ["pk-1", "pk-2", "pk-3", "pk-9"] {
        rec(AuditEvent {
            patient: Some(p.into()),
            ..ev(at(2), a.clone(), Action::PatientPrint, m)
        });
    }
    let r = review_episode(&ledger, 1, &Unscoped, &ReviewConfig::default()).unwrap();
    assert_eq!(r.sessions.len(), 1);
    assert_eq!(
        r.sessions[0].printed, 4,
        "3 from the ward print, 1 on its own"
    );
}
