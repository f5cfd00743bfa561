//! a thousand wrong guesses engage backoff, every one is an event, argon2 is
//! not run while in backoff, and the right credential works once the backoff has passed.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use akari_accounts::event::{Action, Actor, Client};
use akari_accounts::{EmergencyLogin, Error, LoginRefused};
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

    let attacker = Client {
        address: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
        user_agent: Some("guesser".into()),
    };
    let mut refused_in_backoff = 0;
    let mut wrong = 0;
    for i in 0..1000 {
        let err = node
            .accounts
            .login_emergency(
                EmergencyLogin {
                    account_id: sheet.account_id.clone(),
                    credential: format!("WRONG-GUESS-{i:06}").into(),
                    key: None,
                },
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
    // Every failure is an event naming the account and the client.
    let failures: Vec<_> = node.sink.events()[before..]
        .iter()
        .filter(|e| matches!(e.action, Action::LoginFailed { .. }))
        .cloned()
        .collect();
    assert_eq!(failures.len(), 1000);
    for f in &failures {
        assert_eq!(f.actor, Actor::Anonymous);
        assert_eq!(f.client, attacker);
        assert_eq!(
            f.details.as_deref(),
            Some(format!("account={}", sheet.account_id).as_str())
        );
    }
    assert!(failures.iter().any(|f| f.action
        == Action::LoginFailed {
            reason: "in backoff".into()
        }));

    // Still in backoff: even the right credential is refused (from the attacker's address
    // and, since the account itself is in backoff, from anywhere).
    let err = login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap_err();
    assert!(
        matches!(err, Error::Login(LoginRefused::TooManyAttempts { .. })),
        "{err}"
    );

    // Never a permanent lockout: after the longest backoff the right credential works.
    node.clock
        .advance(Duration::seconds(config.backoff_max_secs as i64));
    let pending = login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap();
    assert_eq!(pending.session.account_id, sheet.account_id);
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
    node.accounts
        .login_emergency(
            EmergencyLogin {
                account_id: sheets[1].account_id.clone(),
                credential: sheets[1].credential().clone(),
                key: None,
            },
            &elsewhere,
        )
        .unwrap();
}
