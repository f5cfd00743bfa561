//! the full life of a sealed account, and fail-closed auditing.

mod common;

use akari_accounts::event::{Action, Actor, Mode, Reason};
use akari_accounts::Clock;
use akari_accounts::{
    Error, LoginRefused, OpenedBy, ProvisionRequest, SealStatus, Session, SessionEnd, WardScope,
};
use chrono::Duration;
use common::*;

fn provision(node: &Node, label: &str) -> akari_accounts::SealSheet {
    node.accounts
        .provision(
            &root(),
            ProvisionRequest {
                label: label.into(),
                ward_scope: WardScope::Wards(vec!["5F-West".into()]),
                expires_at: None,
            },
            &client(),
        )
        .unwrap()
}

#[test]
fn sealed_account_lifecycle_from_provisioning_to_reseal() {
    let node = node();
    let cap = root();

    // Provision: the seal sheet carries the credential, the store only a hash.
    let sheet = provision(&node, "ER-1");
    let credential = sheet.credential().expose().to_owned();
    assert!(credential.replace('-', "").len() >= 20);
    assert!(sheet
        .to_printable_text(&akari_accounts::Zone::default())
        .contains(&credential));
    assert!(sheet
        .to_printable_text(&akari_accounts::Zone::default())
        .contains("封印番号"));
    // Its times are on the hospital's clock, labelled: never UTC unless configured so.
    let tokyo = akari_accounts::Zone::default();
    assert!(sheet
        .to_printable_text(&tokyo)
        .contains(&tokyo.minute(&sheet.issued_at)));
    let new_york: akari_accounts::Zone = "America/New_York".parse().unwrap();
    let text = sheet.to_printable_text(&new_york);
    let issued = new_york.minute(&sheet.issued_at);
    assert!(
        issued.ends_with(" EST") || issued.ends_with(" EDT"),
        "{issued}"
    );
    assert!(text.contains(&issued) && !text.contains("UTC"), "{text}");
    assert!(sheet
        .instructions_en()
        .iter()
        .any(|l| l.contains("declare")));
    let summary = node.accounts.account(&cap, &sheet.account_id).unwrap();
    assert_eq!(summary.status, SealStatus::Sealed);
    assert_eq!(
        summary.seal_number.as_deref(),
        Some(sheet.seal_number.as_str())
    );
    // Nothing the admin can read afterwards shows the credential again.
    let listed = format!("{:?}", node.accounts.list_accounts(&cap).unwrap());
    let status = format!("{:?}", node.accounts.status(&cap).unwrap());
    assert!(!listed.contains(&credential) && !status.contains(&credential));
    assert!(!format!("{sheet:?}").contains(&credential));

    // Standby: refused, with the reason, and the failure is an event.
    let err = login_emergency(&node, &sheet.account_id, &credential).unwrap_err();
    assert!(matches!(
        err,
        Error::Login(LoginRefused::NotInEmergencyMode {
            mode: Mode::Standby
        })
    ));
    assert!(err.to_string().contains("standby"), "{err}");
    assert_eq!(
        node.sink.count(|a| matches!(a, Action::LoginFailed { .. })),
        1
    );

    // Drill: login works (typed in lower case without hyphens), the seal breaks.
    node.accounts
        .start_drill(&cap, "quarterly drill", &client())
        .unwrap();
    let typed = credential.to_lowercase().replace('-', "");
    let pending = login_emergency(&node, &sheet.account_id.to_lowercase(), &typed).unwrap();
    let summary = node.accounts.account(&cap, &sheet.account_id).unwrap();
    assert_eq!(summary.status, SealStatus::Opened);
    assert!(matches!(
        summary.opening.as_ref().unwrap().by,
        OpenedBy::AwaitingDeclaration { .. }
    ));
    assert_eq!(node.sink.count(|a| *a == Action::SealBroken), 1);

    // A pending session can do nothing but declare.
    match node.accounts.resume(&pending.token, &client()).unwrap() {
        Session::Pending(p) => assert_eq!(p.account_id, sheet.account_id),
        other => panic!("expected a pending session, got {other:?}"),
    }
    let declared = declare_drill(&node, &pending);
    assert_eq!(declared.session.declaration.person, nurse());
    // The pending token was rotated away.
    assert!(matches!(
        node.accounts.resume(&pending.token, &client()),
        Err(Error::NoSession)
    ));
    let Session::Emergency(s) = node.accounts.resume(&declared.token, &client()).unwrap() else {
        panic!("expected a declared session");
    };
    let clinician = s.clinician();
    assert_eq!(clinician.account_id(), sheet.account_id);
    assert_eq!(clinician.declared_person(), &nurse());
    assert!(matches!(
        clinician.actor(),
        Actor::Emergency {
            declared: Some(_),
            ..
        }
    ));
    let summary = node.accounts.account(&cap, &sheet.account_id).unwrap();
    match summary.opening.unwrap().by {
        OpenedBy::Declared { person, reason, .. } => {
            assert_eq!(person, nurse());
            assert_eq!(reason, Reason::Drill);
        }
        other => panic!("{other:?}"),
    }
    // The declaration event carries the declared person and is flagged as a drill.
    let declared_events: Vec<_> = node
        .sink
        .events()
        .into_iter()
        .filter(|e| matches!(e.action, Action::Declared { .. }))
        .collect();
    assert_eq!(declared_events.len(), 1);
    assert_eq!(declared_events[0].mode, Mode::Drill);

    // End the drill: the account is retired, the session ends, login is refused.
    node.accounts
        .end_episode(&cap, "drill over", &client())
        .unwrap();
    assert_eq!(
        node.accounts
            .account(&cap, &sheet.account_id)
            .unwrap()
            .status,
        SealStatus::Retired
    );
    assert!(matches!(
        node.accounts.resume(&declared.token, &client()),
        Err(Error::NoSession) | Err(Error::SessionEnded(SessionEnd::EpisodeEnded))
    ));
    let err = login_emergency(&node, &sheet.account_id, &credential).unwrap_err();
    assert!(matches!(
        err,
        Error::Login(LoginRefused::NotInEmergencyMode {
            mode: Mode::Recovery
        })
    ));
    // Even in a new drill a retired account stays shut.
    node.accounts.resume_standby(&cap, "", &client()).unwrap();
    node.accounts
        .start_drill(&cap, "second drill", &client())
        .unwrap();
    let err = login_emergency(&node, &sheet.account_id, &credential).unwrap_err();
    assert!(matches!(
        err,
        Error::Login(LoginRefused::AccountNotUsable {
            status: SealStatus::Retired
        })
    ));
    // Re-sealing is refused during an episode.
    assert!(matches!(
        node.accounts.reseal(&cap, &sheet.account_id, &client()),
        Err(Error::WrongMode { .. })
    ));
    node.accounts.end_episode(&cap, "", &client()).unwrap();

    // Re-seal: a new credential and seal number; the old credential is refused, the new
    // one accepted.
    let resealed = node
        .accounts
        .reseal(&cap, &sheet.account_id, &client())
        .unwrap();
    assert_ne!(resealed.credential().expose(), credential);
    assert_ne!(resealed.seal_number, sheet.seal_number);
    assert_eq!(
        node.accounts
            .account(&cap, &sheet.account_id)
            .unwrap()
            .status,
        SealStatus::Sealed
    );
    node.accounts.resume_standby(&cap, "", &client()).unwrap();
    node.accounts
        .start_drill(&cap, "third drill", &client())
        .unwrap();
    let err = login_emergency(&node, &sheet.account_id, &credential).unwrap_err();
    assert!(matches!(
        err,
        Error::Login(LoginRefused::InvalidCredentials)
    ));
    login_emergency(&node, &sheet.account_id, resealed.credential().expose()).unwrap();

    // Every decision produced an event.
    let count = |pred: fn(&Action) -> bool| node.sink.count(pred);
    assert_eq!(count(|a| matches!(a, Action::AccountProvisioned { .. })), 1);
    assert_eq!(count(|a| matches!(a, Action::AccountRetired { .. })), 1);
    assert_eq!(count(|a| matches!(a, Action::AccountResealed { .. })), 1);
    assert_eq!(count(|a| matches!(a, Action::ModeChanged { .. })), 7);
    assert_eq!(count(|a| *a == Action::LoginSucceeded), 2);
    assert_eq!(count(|a| *a == Action::SessionExpired), 1);
}

#[test]
fn illegal_mode_transitions_are_refused_with_a_clear_error() {
    let node = node();
    let cap = root();
    let err = node.accounts.end_episode(&cap, "", &client()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot change mode from standby to recovery: there is no emergency or drill to end"
    );
    assert!(node
        .accounts
        .declare_emergency(&cap, "  ", &client())
        .is_err());
    let state = node
        .accounts
        .declare_emergency(&cap, "EHR down (ransomware)", &client())
        .unwrap();
    assert_eq!(state.mode, Mode::Emergency);
    assert_eq!(state.decided_by, console().actor());
    assert_eq!(
        state.episode.as_ref().unwrap().reason,
        "EHR down (ransomware)"
    );
    let err = node.accounts.start_drill(&cap, "", &client()).unwrap_err();
    assert!(err.to_string().contains("already running"), "{err}");
    let err = node
        .accounts
        .resume_standby(&cap, "", &client())
        .unwrap_err();
    assert!(err.to_string().contains("recovery"), "{err}");
    // Only the successful transition became an event, with who and why.
    let changes: Vec<_> = node
        .sink
        .events()
        .into_iter()
        .filter(|e| matches!(e.action, Action::ModeChanged { .. }))
        .collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].actor, console().actor());
    assert_eq!(
        changes[0].action,
        Action::ModeChanged {
            from: Mode::Standby,
            to: Mode::Emergency,
            reason: "EHR down (ransomware)".into()
        }
    );
    // Provisioning is for standby or recovery.
    let err = common::provision(&node.accounts, "ER-9").unwrap_err();
    assert!(matches!(err, Error::WrongMode { .. }), "{err}");
}

#[test]
fn login_and_declaration_fail_closed_when_the_audit_sink_fails() {
    let node = node();
    let cap = root();
    let sheet = provision(&node, "ER-2");
    node.accounts
        .declare_emergency(&cap, "EHR down", &client())
        .unwrap();

    node.sink.fail_records(true);
    let err = login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap_err();
    assert!(matches!(err, Error::Audit(_)), "{err}");
    // Nothing changed: the seal is intact, no session exists.
    node.sink.fail_records(false);
    assert_eq!(
        node.accounts
            .account(&cap, &sheet.account_id)
            .unwrap()
            .status,
        SealStatus::Sealed
    );
    let status = node.accounts.status(&cap).unwrap();
    assert_eq!(status.emergency_sessions, 0);

    let pending = login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap();
    node.sink.fail_records(true);
    let err = node
        .accounts
        .declare(
            &pending.token,
            nurse(),
            Reason::EmergencyTreatment,
            &client(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Audit(_)), "{err}");
    node.sink.fail_records(false);
    // Still pending: the declaration was not carried out.
    assert!(matches!(
        node.accounts.resume(&pending.token, &client()).unwrap(),
        Session::Pending(_)
    ));
    // A drill reason in a real emergency is refused.
    let err = node
        .accounts
        .declare(&pending.token, nurse(), Reason::Drill, &client())
        .unwrap_err();
    assert!(err.to_string().contains("not a drill"), "{err}");
    // Mode changes fail closed too.
    node.sink.fail_records(true);
    assert!(matches!(
        node.accounts.end_episode(&cap, "", &client()),
        Err(Error::Audit(_))
    ));
    node.sink.fail_records(false);
    assert_eq!(node.accounts.mode().unwrap().mode, Mode::Emergency);
}

#[test]
fn sessions_end_when_idle_at_the_absolute_limit_and_on_logout() {
    let node = node();
    let cap = root();
    let a = provision(&node, "ER-3");
    node.accounts
        .declare_emergency(&cap, "EHR down", &client())
        .unwrap();

    let pending = login_emergency(&node, &a.account_id, a.credential().expose()).unwrap();
    let s = node
        .accounts
        .declare(
            &pending.token,
            nurse(),
            Reason::EmergencyTreatment,
            &client(),
        )
        .unwrap();
    // Used every 10 minutes: stays alive past the 15-minute idle limit…
    for _ in 0..6 {
        node.clock.advance(Duration::minutes(10));
        node.accounts.resume(&s.token, &client()).unwrap();
    }
    // …until left alone for 15 minutes.
    node.clock.advance(Duration::minutes(15));
    assert!(matches!(
        node.accounts.resume(&s.token, &client()),
        Err(Error::SessionEnded(SessionEnd::Idle))
    ));
    assert!(matches!(
        node.accounts.resume(&s.token, &client()),
        Err(Error::NoSession)
    ));

    // Absolute limit (12 h by default) even when used constantly.
    let pending = login_emergency(&node, &a.account_id, a.credential().expose()).unwrap();
    let s = node
        .accounts
        .declare(
            &pending.token,
            nurse(),
            Reason::EmergencyTreatment,
            &client(),
        )
        .unwrap();
    let mut ended = None;
    for _ in 0..(13 * 6) {
        node.clock.advance(Duration::minutes(10));
        if let Err(e) = node.accounts.resume(&s.token, &client()) {
            ended = Some(e);
            break;
        }
    }
    assert!(matches!(
        ended,
        Some(Error::SessionEnded(SessionEnd::Absolute))
    ));

    // Logout.
    let pending = login_emergency(&node, &a.account_id, a.credential().expose()).unwrap();
    node.accounts.logout(&pending.token, &client()).unwrap();
    assert!(matches!(
        node.accounts.resume(&pending.token, &client()),
        Err(Error::NoSession)
    ));
    assert_eq!(node.sink.count(|a| *a == Action::Logout), 1);
    assert_eq!(node.sink.count(|a| *a == Action::SessionExpired), 2);

    // The sweeper ends sessions nobody comes back to.
    let _pending = login_emergency(&node, &a.account_id, a.credential().expose()).unwrap();
    assert_eq!(node.accounts.expire_sessions().unwrap(), 0);
    node.clock.advance(Duration::minutes(16));
    assert_eq!(node.accounts.expire_sessions().unwrap(), 1);
}

#[test]
fn revoked_account_loses_its_sessions_and_its_login() {
    let node = node();
    let cap = root();
    let a = provision(&node, "ER-4");
    node.accounts
        .declare_emergency(&cap, "EHR down", &client())
        .unwrap();
    let pending = login_emergency(&node, &a.account_id, a.credential().expose()).unwrap();
    node.accounts
        .revoke(&cap, &a.account_id, "sheet photographed", &client())
        .unwrap();
    assert!(node.accounts.resume(&pending.token, &client()).is_err());
    let err = login_emergency(&node, &a.account_id, a.credential().expose()).unwrap_err();
    assert!(matches!(
        err,
        Error::Login(LoginRefused::AccountNotUsable {
            status: SealStatus::Revoked
        })
    ));
    assert_eq!(
        node.sink
            .count(|a| matches!(a, Action::AccountRevoked { .. })),
        1
    );
}

#[test]
fn unreachable_indicator_is_shown_but_never_declares() {
    let node = node();
    let cap = root();
    assert_eq!(
        node.accounts
            .status(&cap)
            .unwrap()
            .main_system_unreachable_minutes,
        None
    );
    node.accounts
        .report_sync_failing_since(Some(node.clock.now()));
    node.clock.advance(Duration::minutes(47));
    let status = node.accounts.status(&cap).unwrap();
    assert_eq!(status.main_system_unreachable_minutes, Some(47));
    assert_eq!(status.mode.mode, Mode::Standby);
    node.accounts.report_sync_failing_since(None);
    assert_eq!(
        node.accounts
            .status(&cap)
            .unwrap()
            .main_system_unreachable_minutes,
        None
    );
}

#[test]
fn expired_accounts_and_incomplete_declarations_are_refused() {
    let node = node();
    let cap = root();
    let sheet = node
        .accounts
        .provision(
            &cap,
            ProvisionRequest {
                label: "ER-TEMP".into(),
                ward_scope: WardScope::All,
                expires_at: Some(node.clock.now() + Duration::hours(1)),
            },
            &client(),
        )
        .unwrap();
    node.accounts
        .declare_emergency(&cap, "EHR down", &client())
        .unwrap();
    let pending = login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap();
    // The declaration needs every field, and "other" needs its text.
    let mut blank = nurse();
    blank.staff_number = "  ".into();
    let err = node
        .accounts
        .declare(&pending.token, blank, Reason::EmergencyTreatment, &client())
        .unwrap_err();
    assert_eq!(err.to_string(), "staff number: must not be empty");
    let err = node
        .accounts
        .declare(
            &pending.token,
            nurse(),
            Reason::Other(" ".into()),
            &client(),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "reason: must not be empty");
    node.accounts
        .declare(
            &pending.token,
            nurse(),
            Reason::Other("pharmacy stock check".into()),
            &client(),
        )
        .unwrap();

    node.clock.advance(Duration::hours(2));
    let err = login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap_err();
    assert!(matches!(err, Error::Login(LoginRefused::Expired)), "{err}");
    assert!(matches!(
        node.accounts.provision(
            &cap,
            ProvisionRequest {
                label: "".into(),
                ward_scope: WardScope::Wards(vec![]),
                expires_at: None,
            },
            &client(),
        ),
        Err(Error::Invalid { field: "label", .. })
    ));
}
