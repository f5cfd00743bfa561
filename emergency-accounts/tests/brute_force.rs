//! a thousand wrong guesses engage backoff, argon2 is not run while in backoff, the right
//! credential works once the backoff has passed, and every failure is in the audit: the
//! first few of a window one entry each, the flood after them as one counted summary. A
//! guesser at one address does not lock the account out for another, and an unknown
//! account ID costs the same one argon2 verification as a known one.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use akari_accounts::event::{Action, Actor, Client};
use akari_accounts::{Clock, Error, LoginRefused};
use chrono::Duration;
use common::*;

#[test]
fn thousand_wrong_attempts_engage_backoff_and_the_right_credential_works_after_it() {
    // Real (default) argon2 cost here: it is what makes "no argon2 during backoff" matter.
    let mut config = cheap_config();
    config.argon2 = akari_accounts::Argon2Config::default();
    let node = node_with(config.clone());
    let cap = root();
    let sheet = provision(&node.accounts, "ER-1").unwrap();
    node.accounts
        .declare_emergency(&cap, "EHR down", &client())
        .unwrap();
    let before = node.sink.events().len();
    let start = node.clock.now();

    let attacker = Client {
        address: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
        user_agent: Some("guesser".into()),
    };
    let mut refused_in_backoff = 0;
    let mut wrong = 0;
    for i in 0..1000 {
        let err = login_from(
            &node,
            &sheet.account_id,
            &format!("WRONG-GUESS-{i:06}"),
            &attacker,
        )
        .unwrap_err();
        match err {
            Error::Login(LoginRefused::TooManyAttempts { retry_after_secs }) => {
                assert!(retry_after_secs >= 1 && retry_after_secs <= config.backoff_max_secs);
                refused_in_backoff += 1;
            }
            Error::Login(LoginRefused::InvalidCredentials) => wrong += 1,
            other => panic!("unexpected {other:?}"),
        }
        // Time passes a little between guesses (an automated guesser, 10 per second).
        node.clock.advance(Duration::milliseconds(100));
    }

    // Backoff engaged: only the free attempts plus one per expired backoff window reached
    // argon2 (an InvalidCredentials answer is only ever given after argon2 ran); the rest
    // were refused before it, by the code's order, without hashing.
    assert!(
        refused_in_backoff > 900,
        "{refused_in_backoff} refused in backoff"
    );
    assert!(wrong < 100, "{wrong} guesses were checked");

    // The first failures of the window are an event each, naming the account and the
    // client; the flood after them is only counted so far.
    let failures = |after: usize| -> Vec<_> {
        node.sink.events()[after..]
            .iter()
            .filter(|e| matches!(e.action, Action::LoginFailed { .. }))
            .cloned()
            .collect()
    };
    let recorded = failures(before);
    assert_eq!(
        recorded.len(),
        config.failed_login_entries_per_address as usize
    );
    for f in &recorded {
        assert_eq!(f.actor, Actor::Anonymous);
        assert_eq!(f.client, attacker);
        assert_eq!(
            f.details.as_deref(),
            Some(format!("account={}", sheet.account_id).as_str())
        );
    }
    assert!(recorded.iter().any(|f| f.action
        == Action::LoginFailed {
            reason: "in backoff".into()
        }));

    // Once the window has ended, the count is recorded as one entry: nothing goes missing.
    let flushed = node.sink.events().len();
    assert_eq!(node.accounts.record_counted_login_failures().unwrap(), 0);
    node.clock
        .set(start + Duration::seconds(config.failed_login_window_secs as i64));
    assert_eq!(node.accounts.record_counted_login_failures().unwrap(), 1);
    let summary = failures(flushed);
    let [summary] = &summary[..] else {
        panic!("one summary: {summary:?}")
    };
    assert_eq!(summary.client.address, attacker.address);
    let details = summary.details.as_deref().unwrap();
    let counted: usize = akari_accounts::ledger::details::get(details, "counted_failures")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(recorded.len() + counted, 1000, "{details}");
    assert!(
        details.contains("first=") && details.contains("last="),
        "{details}"
    );

    // Never a permanent lockout: after the longest backoff the right credential works, from
    // the guesser's address too.
    let pending = login_from(
        &node,
        &sheet.account_id,
        sheet.credential().expose(),
        &attacker,
    )
    .unwrap();
    assert_eq!(pending.session.account_id, sheet.account_id);
}

#[test]
fn a_guesser_at_one_address_does_not_lock_the_account_out_for_another() {
    let config = cheap_config();
    let node = node_with(config.clone());
    let sheet = provision(&node.accounts, "ER-1").unwrap();
    node.accounts.start_drill(&root(), "", &client()).unwrap();
    let attacker = Client {
        address: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
        user_agent: None,
    };
    let mut last = None;
    for i in 0..50 {
        last = Some(
            login_from(
                &node,
                &sheet.account_id,
                &format!("WRONG-GUESS-{i:06}"),
                &attacker,
            )
            .unwrap_err(),
        );
        node.clock.advance(Duration::milliseconds(100));
    }
    // The guesser's address is in backoff, and is told how long to wait…
    let err = login_from(
        &node,
        &sheet.account_id,
        sheet.credential().expose(),
        &attacker,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Login(LoginRefused::TooManyAttempts { retry_after_secs }) if retry_after_secs >= 1),
        "{err} (last guess: {last:?})"
    );
    assert!(err.to_string().contains(" s "), "the wait in words: {err}");
    // …while the clinician at another address logs in at once.
    let pending = login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap();
    assert_eq!(pending.session.account_id, sheet.account_id);
}

#[test]
fn an_unknown_account_costs_one_argon2_verification_like_a_known_one() {
    let node = node();
    let cap = root();
    let sheet = provision(&node.accounts, "ER-1").unwrap();
    let retired = provision(&node.accounts, "ER-2").unwrap();
    node.accounts.start_drill(&cap, "", &client()).unwrap();
    node.accounts
        .revoke(&cap, &retired.account_id, "lost", &client())
        .unwrap();
    // Each from its own address, so that backoff never decides the outcome.
    let attempt = |n: u8, account_id: &str| {
        let from = Client {
            address: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, n))),
            user_agent: None,
        };
        let before = node.accounts.credential_verifications();
        let result = login_from(&node, account_id, "WRONG-WRONG-WRONG-WRONG", &from);
        (
            result.unwrap_err(),
            node.accounts.credential_verifications() - before,
        )
    };
    let (known, known_runs) = attempt(1, &sheet.account_id);
    assert!(
        matches!(known, Error::Login(LoginRefused::InvalidCredentials)),
        "{known}"
    );
    assert_eq!(known_runs, 1);
    let (unknown, unknown_runs) = attempt(2, "EA-NOSUCH");
    assert!(
        matches!(unknown, Error::Login(LoginRefused::InvalidCredentials)),
        "{unknown}"
    );
    assert_eq!(
        unknown_runs, 1,
        "an unknown account is checked like a known one"
    );
    let (revoked, revoked_runs) = attempt(3, &retired.account_id);
    assert!(
        matches!(revoked, Error::Login(LoginRefused::AccountNotUsable { .. })),
        "{revoked}"
    );
    assert_eq!(revoked_runs, 1, "so is one that cannot log in");
}

#[test]
fn backoff_per_address_spans_accounts() {
    let node = node();
    let cap = root();
    let mut sheets = Vec::new();
    for label in ["ER-1", "ER-2"] {
        sheets.push(provision(&node.accounts, label).unwrap());
    }
    node.accounts.start_drill(&cap, "", &client()).unwrap();
    // Spread guesses over both accounts from one address.
    for i in 0..10 {
        let _ = login_emergency(&node, &sheets[i % 2].account_id, "NOPE-NOPE-NOPE-NOPE-NOPE");
    }
    // The address is in backoff even for the right credential of either account…
    let err = login_emergency(
        &node,
        &sheets[0].account_id,
        sheets[0].credential().expose(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::Login(LoginRefused::TooManyAttempts { .. })
    ));
    // …but another address can still use the other account, which has had fewer failures.
    let elsewhere = Client {
        address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99))),
        user_agent: None,
    };
    login_from(
        &node,
        &sheets[1].account_id,
        sheets[1].credential().expose(),
        &elsewhere,
    )
    .unwrap();
}
