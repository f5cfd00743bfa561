//! The review's anomaly flags, each with a case that raises it and one that does not:
//! same family name as the declared person, a VIP/employee patient, many patients in
//! little time, records opened at the very end of an episode, a session never closed;
//! and sessions ranked most serious first.

mod ledger_common;

use akari_accounts::event::{Action, Actor, AuditEvent, AuditSink, DeclaredPerson, Mode};
use akari_accounts::ledger::{details, Ledger, LedgerConfig};
use akari_accounts::pseudonym::PseudonymKind;
use akari_accounts::review::{review_episode, Flag, ReviewConfig, SessionReview, Unscoped};
use chrono::{DateTime, Duration, Utc};
use ledger_common::*;

/// A ledger in an emergency declared at `at(0)`.
fn emergency() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path(), &key(), &LedgerConfig::default());
    declare_emergency(&ledger);
    (dir, ledger)
}

fn rec(ledger: &Ledger, e: AuditEvent) -> u64 {
    ledger.record(e).unwrap().sequence()
}

/// A session whose declared person is `name`.
fn declared_as(account: &str, session: &str, name: &str) -> Actor {
    Actor::Emergency {
        account_id: account.into(),
        session_id: session.into(),
        declared: Some(DeclaredPerson {
            name: name.into(),
            ..person(1)
        }),
    }
}

/// A patient read as the viewer records it: the ward and the pseudonyms of the patient's
/// family names and hospital ID.
fn read_of(
    ledger: &Ledger,
    time: DateTime<Utc>,
    actor: Actor,
    patient: &str,
    families: &[&str],
    hospital_id: &str,
) -> AuditEvent {
    let families: Vec<String> = families
        .iter()
        .filter_map(|f| ledger.pseudonym(PseudonymKind::FamilyName, f))
        .collect();
    let id = ledger
        .pseudonym(PseudonymKind::HospitalId, hospital_id)
        .unwrap();
    AuditEvent {
        patient: Some(patient.into()),
        details: Some(details::format([
            (details::WARD, "4-East"),
            (details::FAMILY_NAME, families.join(",").as_str()),
            (details::HOSPITAL_ID, id.as_str()),
        ])),
        ..ev(time, actor, Action::PatientRead, Mode::Emergency)
    }
}

fn end_emergency(ledger: &Ledger, time: DateTime<Utc>) -> u64 {
    rec(
        ledger,
        mode_change(time, Mode::Emergency, Mode::Recovery, "EHR restored"),
    )
}

fn logout(ledger: &Ledger, time: DateTime<Utc>, actor: Actor) {
    rec(ledger, ev(time, actor, Action::Logout, Mode::Emergency));
}

fn sessions(ledger: &Ledger, config: &ReviewConfig) -> Vec<SessionReview> {
    review_episode(ledger, 1, &Unscoped, config)
        .unwrap()
        .sessions
}

#[test]
fn a_patient_with_the_declared_persons_family_name_is_flagged() {
    let (_dir, ledger) = emergency();
    let relative = declared_as("EMERG-01", "sess-rel", "山田 花子");
    let stranger = declared_as("EMERG-02", "sess-other", "鈴木 一郎");
    // Written without a space, the declared name still begins with the family name.
    let unspaced = declared_as("EMERG-03", "sess-unspaced", "山田花子");
    let seq = rec(
        &ledger,
        read_of(
            &ledger,
            at(1),
            relative.clone(),
            "pk-1",
            &["山田", "ヤマダ"],
            "H1",
        ),
    );
    rec(
        &ledger,
        read_of(&ledger, at(1), relative.clone(), "pk-2", &["佐藤"], "H2"),
    );
    rec(
        &ledger,
        read_of(
            &ledger,
            at(2),
            stranger.clone(),
            "pk-1",
            &["山田", "ヤマダ"],
            "H1",
        ),
    );
    let unspaced_seq = rec(
        &ledger,
        read_of(&ledger, at(2), unspaced.clone(), "pk-1", &["山田"], "H1"),
    );
    for a in [relative, stranger, unspaced] {
        logout(&ledger, at(3), a);
    }
    let s = sessions(&ledger, &ReviewConfig::default());
    assert_eq!(
        s[0].flags,
        [Flag::SameFamilyName {
            seq,
            patient: "pk-1".into()
        }]
    );
    assert!(s[0].flags[0]
        .to_string()
        .contains("shares the family name of patient pk-1"));
    assert!(s[1].flags.is_empty(), "{:?}", s[1].flags);
    assert_eq!(
        s[2].flags,
        [Flag::SameFamilyName {
            seq: unspaced_seq,
            patient: "pk-1".into()
        }]
    );
    // The ledger holds no family name in clear.
    for e in entries(&ledger) {
        let d = e.details.unwrap_or_default();
        assert!(!d.contains("山田") && !d.contains("ヤマダ"), "{d}");
    }
}

#[test]
fn a_patient_on_the_configured_vip_list_is_flagged() {
    let (_dir, ledger) = emergency();
    let a = clinician("EMERG-01", "sess-a", 1);
    let seq = rec(
        &ledger,
        read_of(&ledger, at(1), a.clone(), "pk-vip", &["佐藤"], "00012345"),
    );
    rec(
        &ledger,
        read_of(&ledger, at(1), a.clone(), "pk-other", &["佐藤"], "00099999"),
    );
    logout(&ledger, at(2), a);
    let config = ReviewConfig {
        vip_hospital_ids: vec!["00012345".into()],
        ..ReviewConfig::default()
    };
    let flags = &sessions(&ledger, &config)[0].flags;
    assert_eq!(
        *flags,
        [Flag::VipPatient {
            seq,
            patient: "pk-vip".into()
        }]
    );
    assert!(flags[0].to_string().contains("on the configured list"));
    // Without the list, nothing; and the ledger holds no hospital ID in clear.
    assert!(sessions(&ledger, &ReviewConfig::default())[0]
        .flags
        .is_empty());
    for e in entries(&ledger) {
        assert!(!e.details.unwrap_or_default().contains("00012345"));
    }
}

#[test]
fn many_patients_in_little_time_are_flagged_and_the_same_number_spread_out_is_not() {
    let (_dir, ledger) = emergency();
    let fast = clinician("EMERG-01", "sess-fast", 1);
    let slow = clinician("EMERG-02", "sess-slow", 2);
    let t = |s: i64| at(1) + Duration::seconds(s);
    let mut fast_seqs = Vec::new();
    for i in 0..31 {
        // 31 patients in 7.75 minutes.
        fast_seqs.push(rec(
            &ledger,
            read(
                t(i * 15),
                fast.clone(),
                &format!("pk-f{i}"),
                "4-East",
                Mode::Emergency,
            ),
        ));
        // 31 patients in 50 minutes: at most 7 in any 10.
        rec(
            &ledger,
            read(
                t(i * 100),
                slow.clone(),
                &format!("pk-s{i}"),
                "4-East",
                Mode::Emergency,
            ),
        );
    }
    logout(&ledger, at(60), fast);
    logout(&ledger, at(60), slow);
    let config = ReviewConfig {
        many_patients: 100,
        ..ReviewConfig::default()
    };
    let s = sessions(&ledger, &config);
    assert_eq!(
        s[0].flags,
        [Flag::RapidAccess {
            patients: 31,
            minutes: 10,
            threshold: 30,
            first_seq: fast_seqs[0],
            last_seq: fast_seqs[30],
        }]
    );
    assert!(s[0].flags[0]
        .to_string()
        .contains("31 patients opened within 10 minutes (threshold 30"));
    assert!(s[1].flags.is_empty(), "{:?}", s[1].flags);
}

#[test]
fn records_opened_at_the_very_end_of_an_episode_are_flagged() {
    let (_dir, ledger) = emergency();
    let early = clinician("EMERG-01", "sess-early", 1);
    let late = clinician("EMERG-02", "sess-late", 2);
    rec(
        &ledger,
        read(at(10), early.clone(), "pk-1", "4-East", Mode::Emergency),
    );
    logout(&ledger, at(11), early);
    rec(
        &ledger,
        read(at(27), late.clone(), "pk-2", "4-East", Mode::Emergency),
    );
    let last = rec(
        &ledger,
        read(at(28), late.clone(), "pk-3", "4-East", Mode::Emergency),
    );
    logout(&ledger, at(29), late);
    end_emergency(&ledger, at(30));
    let s = sessions(&ledger, &ReviewConfig::default());
    assert!(s[0].flags.is_empty(), "{:?}", s[0].flags);
    assert_eq!(
        s[1].flags,
        [Flag::EndOfEpisode {
            records: 2,
            minutes: 5,
            last_seq: last,
            seconds_before: 120,
        }]
    );
    assert!(s[1].flags[0].to_string().contains(
        "2 patient records opened in the last 5 minutes before it ended, the last 120 seconds"
    ));
}

#[test]
fn a_session_never_closed_is_flagged_once_the_episode_has_ended() {
    let (_dir, ledger) = emergency();
    let open_one = clinician("EMERG-01", "sess-open", 1);
    let closed = clinician("EMERG-02", "sess-closed", 2);
    rec(
        &ledger,
        ev(
            at(1),
            open_one.clone(),
            Action::LoginSucceeded,
            Mode::Emergency,
        ),
    );
    let last = rec(
        &ledger,
        read(at(2), open_one, "pk-1", "4-East", Mode::Emergency),
    );
    rec(
        &ledger,
        ev(
            at(1),
            closed.clone(),
            Action::LoginSucceeded,
            Mode::Emergency,
        ),
    );
    rec(
        &ledger,
        read(at(2), closed.clone(), "pk-2", "4-East", Mode::Emergency),
    );
    logout(&ledger, at(3), closed);
    // While the episode lasts, an open session is no anomaly.
    assert!(sessions(&ledger, &ReviewConfig::default())
        .iter()
        .all(|s| s.flags.is_empty()));
    end_emergency(&ledger, at(30));
    let s = sessions(&ledger, &ReviewConfig::default());
    assert_eq!(s[0].flags, [Flag::NeverClosed { last_seq: last }]);
    assert!(s[0].flags[0].to_string().contains("no logout or expiry"));
    assert!(s[1].flags.is_empty(), "{:?}", s[1].flags);
}

#[test]
fn the_report_ranks_sessions_most_serious_first() {
    let (_dir, ledger) = emergency();
    let quiet = clinician("EMERG-01", "sess-quiet", 1);
    let loose = clinician("EMERG-02", "sess-loose", 2);
    let relative = declared_as("EMERG-03", "sess-relative", "山田 花子");
    rec(
        &ledger,
        read(at(1), quiet.clone(), "pk-1", "4-East", Mode::Emergency),
    );
    logout(&ledger, at(2), quiet);
    rec(
        &ledger,
        read(at(3), loose, "pk-2", "4-East", Mode::Emergency),
    );
    rec(
        &ledger,
        read_of(&ledger, at(4), relative.clone(), "pk-3", &["山田"], "H3"),
    );
    logout(&ledger, at(5), relative);
    end_emergency(&ledger, at(30));
    let review = review_episode(&ledger, 1, &Unscoped, &ReviewConfig::default()).unwrap();
    let ranked: Vec<&str> = review
        .ranked()
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(ranked, ["sess-relative", "sess-loose", "sess-quiet"]);
    let text = akari_accounts::review::report(&review, &akari_accounts::Zone::default());
    let pos = |s: &str| text.find(&format!("Session {s} ")).unwrap();
    assert!(pos("sess-relative") < pos("sess-loose") && pos("sess-loose") < pos("sess-quiet"));
    assert!(text.contains("Sessions flagged: 2"), "{text}");
}
