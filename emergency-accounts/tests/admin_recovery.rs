//! Getting an admin back in without a second admin account, with real WebAuthn ceremonies:
//! a new enrolment code voids the old one, replaced passkeys stop working (even a login
//! already under way), a reset password replaces the old one, each act is recorded first
//! (and not done when it cannot be), and an admin cannot do it to themselves.

mod common;

use akari_accounts::event::{Action, Actor, AdminRecovery};
use akari_accounts::{AdminLogin, Error, LoginRefused, Password, Session};
use common::*;

fn assert_refused(r: akari_accounts::Result<impl std::fmt::Debug>) {
    match r {
        Err(Error::Login(LoginRefused::InvalidCredentials)) => {}
        other => panic!("expected refusal, got {other:?}"),
    }
}

fn recovered(node: &Node, admin_id: &str, change: AdminRecovery) -> Vec<Actor> {
    node.sink
        .events()
        .into_iter()
        .filter(|e| {
            matches!(&e.action, Action::AdminRecovered { admin_id: a, change: c }
                if a == admin_id && *c == change)
        })
        .map(|e| e.actor)
        .collect()
}

fn at_console(
    node: &Node,
    admin_id: &str,
    change: AdminRecovery,
) -> akari_accounts::Result<akari_accounts::AdminRecovered> {
    node.accounts
        .recover_admin_at_console(&console(), admin_id, change, None, &client())
}

fn login_with_password(
    node: &Node,
    admin_id: &str,
    password: &str,
    token: &mut webauthn_authenticator_rs::softtoken::SoftToken,
) -> akari_accounts::Result<akari_accounts::NewSession<akari_accounts::AdminSession>> {
    let challenge = node.accounts.begin_admin_login(admin_id, &client())?;
    let response = assert_with(token, ORIGIN, challenge.options);
    node.accounts.login_admin(
        AdminLogin {
            admin_id: admin_id.into(),
            password: Password::new(password),
            ceremony_id: challenge.ceremony_id,
            response,
        },
        &client(),
    )
}

#[test]
fn a_new_code_voids_the_old_one_and_adds_a_passkey() {
    let node = node();
    let mut old_token = new_token();
    create_admin(&node, "alice", &mut old_token);
    let first = at_console(&node, "alice", AdminRecovery::EnrolmentCodeReissued).unwrap();
    let second = at_console(&node, "alice", AdminRecovery::EnrolmentCodeReissued).unwrap();
    let old_code = first.enrolment.unwrap().code;
    let new_code = second.enrolment.unwrap().code;
    assert_ne!(old_code, new_code);
    assert!(first.password.is_none());
    assert!(matches!(
        node.accounts.begin_admin_enrolment("alice", &old_code),
        Err(Error::BadEnrolmentCode)
    ));
    let mut new_token = new_token();
    let challenge = node
        .accounts
        .begin_admin_enrolment("alice", &new_code)
        .unwrap();
    let response = register(&mut new_token, ORIGIN, challenge.options);
    node.accounts
        .finish_admin_enrolment(&challenge.ceremony_id, &response, &client())
        .unwrap();
    // Added, not replaced: both passkeys log in.
    login_admin(&node, "alice", &mut old_token).unwrap();
    login_admin(&node, "alice", &mut new_token).unwrap();
    assert_eq!(
        recovered(&node, "alice", AdminRecovery::EnrolmentCodeReissued),
        vec![console().actor(), console().actor()]
    );
}

#[test]
fn replaced_passkeys_stop_working_even_in_a_login_under_way() {
    let node = node();
    let mut token = new_token();
    create_admin(&node, "alice", &mut token);
    let session = login_admin(&node, "alice", &mut token).unwrap();
    // A login started with the old passkey before the replacement...
    let challenge = node.accounts.begin_admin_login("alice", &client()).unwrap();
    let response = assert_with(&mut token, ORIGIN, challenge.options);
    let done = at_console(&node, "alice", AdminRecovery::PasskeysReplaced).unwrap();
    // ...does not finish after it.
    assert_refused(node.accounts.login_admin(
        AdminLogin {
            admin_id: "alice".into(),
            password: Password::new(ADMIN_PASSWORD),
            ceremony_id: challenge.ceremony_id,
            response,
        },
        &client(),
    ));
    assert_refused(login_admin(&node, "alice", &mut token));
    // The session opened with the old passkey has ended.
    assert!(node.accounts.resume(&session.token, &client()).is_err());
    let mut new_token = new_token();
    let challenge = node
        .accounts
        .begin_admin_enrolment("alice", &done.enrolment.unwrap().code)
        .unwrap();
    let response = register(&mut new_token, ORIGIN, challenge.options);
    node.accounts
        .finish_admin_enrolment(&challenge.ceremony_id, &response, &client())
        .unwrap();
    login_admin(&node, "alice", &mut new_token).unwrap();
    // The challenge now names only the new passkey: the old one has nothing to answer.
    let challenge = node.accounts.begin_admin_login("alice", &client()).unwrap();
    assert!(
        webauthn_authenticator_rs::AuthenticatorBackend::perform_auth(
            &mut token,
            webauthn_rs::prelude::Url::parse(ORIGIN).unwrap(),
            challenge.options.public_key,
            60_000
        )
        .is_err()
    );
    assert_eq!(
        recovered(&node, "alice", AdminRecovery::PasskeysReplaced),
        vec![console().actor()]
    );
}

#[test]
fn a_reset_password_replaces_the_old_one_and_is_shown_once() {
    let node = node();
    let mut token = new_token();
    create_admin(&node, "alice", &mut token);
    let session = login_admin(&node, "alice", &mut token).unwrap();
    let done = at_console(&node, "alice", AdminRecovery::PasswordReset).unwrap();
    let debug = format!("{done:?}");
    assert!(done.enrolment.is_none());
    let password = done.password.expect("the new password");
    assert!(!debug.contains(password.expose()), "{debug}");
    assert_ne!(password.expose(), ADMIN_PASSWORD);
    akari_accounts::check_password_policy(&password).unwrap();
    assert!(node.accounts.resume(&session.token, &client()).is_err());
    assert_refused(login_admin(&node, "alice", &mut token));
    login_with_password(&node, "alice", password.expose(), &mut token).unwrap();
    // Nothing in the ledger carries either password.
    for e in node.sink.events() {
        let text = format!("{e:?}");
        assert!(!text.contains(password.expose()) && !text.contains(ADMIN_PASSWORD));
    }
}

#[test]
fn nothing_changes_when_the_ledger_cannot_record_it() {
    let node = node();
    let mut token = new_token();
    create_admin(&node, "alice", &mut token);
    node.sink.fail_records(true);
    for change in [
        AdminRecovery::EnrolmentCodeReissued,
        AdminRecovery::PasskeysReplaced,
        AdminRecovery::PasswordReset,
    ] {
        let result =
            node.accounts
                .recover_admin_at_console(&console(), "alice", change, None, &client());
        assert!(
            matches!(result, Err(Error::Audit(_))),
            "{change}: {result:?}"
        );
    }
    node.sink.fail_records(false);
    // The old passkey and password still work: nothing was replaced.
    login_admin(&node, "alice", &mut token).unwrap();
}

#[test]
fn an_admin_recovers_another_but_not_themselves_and_backoff_stays() {
    let node = node();
    let mut alice_token = new_token();
    let mut bob_token = new_token();
    create_admin(&node, "alice", &mut alice_token);
    create_admin(&node, "bob", &mut bob_token);
    let alice = login_admin(&node, "alice", &mut alice_token).unwrap();
    let Session::Admin(alice) = node.accounts.resume(&alice.token, &client()).unwrap() else {
        panic!("expected an admin session");
    };
    let cap = alice.capability();
    let own =
        node.accounts
            .recover_admin(&cap, "alice", AdminRecovery::PasskeysReplaced, &client());
    assert!(matches!(own, Err(Error::Invalid { .. })), "{own:?}");
    assert!(recovered(&node, "alice", AdminRecovery::PasskeysReplaced).is_empty());
    // Someone guesses bob's password until the backoff holds them back...
    for _ in 0..10 {
        let _ = login_with_password(&node, "bob", "Wrong-Password-9!", &mut bob_token);
    }
    let held = login_with_password(&node, "bob", "Wrong-Password-9!", &mut bob_token);
    assert!(
        matches!(
            held,
            Err(Error::Login(LoginRefused::TooManyAttempts { .. }))
        ),
        "{held:?}"
    );
    let done = node
        .accounts
        .recover_admin(&cap, "bob", AdminRecovery::PasswordReset, &client())
        .unwrap();
    assert_eq!(
        recovered(&node, "bob", AdminRecovery::PasswordReset),
        vec![Actor::Admin {
            admin_id: "alice".into()
        }]
    );
    // ...and a reset does not lift it.
    let still = login_with_password(
        &node,
        "bob",
        done.password.unwrap().expose(),
        &mut bob_token,
    );
    assert!(
        matches!(
            still,
            Err(Error::Login(LoginRefused::TooManyAttempts { .. }))
        ),
        "{still:?}"
    );
    // Emergency accounts are not admins: nothing to recover.
    let sheet = provision(&node.accounts, "ER-1").unwrap();
    assert!(matches!(
        node.accounts.recover_admin(
            &cap,
            &sheet.account_id,
            AdminRecovery::PasswordReset,
            &client()
        ),
        Err(Error::Invalid { .. })
    ));
}
