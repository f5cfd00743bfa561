//! When the node's wall clock is set back, sessions would live longer than their timeouts
//! allow (the idle and absolute deadlines move with the clock). Beyond a minute's tolerance
//! they end instead, with an event, and the person logs in again.

mod common;

use akari_accounts::event::Action;
use akari_accounts::{Error, SessionEnd};
use chrono::Duration;
use common::*;

#[test]
fn a_clock_set_back_ends_sessions_instead_of_stretching_them() {
    let node = node();
    let mut token = new_token();
    create_admin(&node, "it-sato", &mut token);
    let sheet = provision(&node.accounts, "ER-1").unwrap();
    node.accounts
        .start_drill(&root(), "drill", &client())
        .unwrap();
    let clinician = declare_drill(
        &node,
        &login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap(),
    );
    let admin = login_admin(&node, "it-sato", &mut token).unwrap();

    // A small step back (clock slew) is tolerated.
    node.clock.advance(Duration::minutes(5));
    node.accounts.resume(&clinician.token, &client()).unwrap();
    node.accounts.resume(&admin.token, &client()).unwrap();
    node.clock.advance(Duration::seconds(-30));
    node.accounts.resume(&clinician.token, &client()).unwrap();

    // An hour back: the admin's session ends at its next use, the clinician's at the sweep.
    node.clock.advance(Duration::hours(-1));
    let ended = node.sink.count(|a| matches!(a, Action::SessionExpired));
    let err = node.accounts.resume(&admin.token, &client()).unwrap_err();
    assert!(
        matches!(err, Error::SessionEnded(SessionEnd::ClockChanged)),
        "{err:?}"
    );
    assert!(err.to_string().contains("clock was set back"), "{err}");
    assert_eq!(node.accounts.expire_sessions().unwrap(), 1);
    assert!(matches!(
        node.accounts.resume(&clinician.token, &client()),
        Err(Error::NoSession)
    ));
    assert_eq!(
        node.sink.count(|a| matches!(a, Action::SessionExpired)),
        ended + 2
    );
    // Logging in again works at the new time.
    login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap();
}
