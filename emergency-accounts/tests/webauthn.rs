//! real WebAuthn ceremonies with software tokens, for admin credentials and
//! emergency-account keys: registration and login succeed; a wrong origin, a replayed
//! response and a cloned key (counter not increasing) are refused.

mod common;

use akari_accounts::event::Action;
use akari_accounts::{
    AdminLogin, Argon2Config, EmergencyLogin, Error, KeyAssertion, LoginRefused, Password,
    SealStatus, Session,
};
use common::*;

const EVIL: &str = "https://evil.akari.test";

fn admin_login_with(
    node: &Node,
    ceremony_id: String,
    response: akari_accounts::PublicKeyCredential,
) -> akari_accounts::Result<akari_accounts::NewSession<akari_accounts::AdminSession>> {
    node.accounts.login_admin(
        AdminLogin {
            admin_id: "alice".into(),
            password: Password::new(ADMIN_PASSWORD),
            ceremony_id,
            response,
        },
        &client(),
    )
}

/// The reason recorded in the last LoginFailed event.
fn last_failure(node: &Node) -> String {
    node.sink
        .events()
        .into_iter()
        .rev()
        .find_map(|e| match e.action {
            Action::LoginFailed { reason } => Some(reason),
            _ => None,
        })
        .expect("a LoginFailed event")
}

fn assert_refused(r: akari_accounts::Result<impl std::fmt::Debug>) {
    match r {
        Err(Error::Login(LoginRefused::InvalidCredentials)) => {}
        other => panic!("expected refusal, got {other:?}"),
    }
}

#[test]
fn admin_registration_and_login_with_default_argon2_cost() {
    let mut config = cheap_config();
    config.argon2 = Argon2Config::default();
    let node = node_with(config);
    let mut token = new_token();
    create_admin(&node, "alice", &mut token);
    assert_eq!(node.sink.count(|a| *a == Action::AdminCreated), 1);
    assert_eq!(
        node.sink.count(|a| *a == Action::AdminCredentialEnrolled),
        1
    );

    let session = login_admin(&node, "alice", &mut token).unwrap();
    assert_eq!(session.session.admin_id, "alice");
    let Session::Admin(s) = node.accounts.resume(&session.token, &client()).unwrap() else {
        panic!("expected an admin session");
    };
    // The admin capability works: it can declare a drill.
    node.accounts
        .start_drill(&s.capability(), "drill", &client())
        .unwrap();

    // Password is a factor too: right key, wrong password is refused.
    let challenge = node.accounts.begin_admin_login("alice", &client()).unwrap();
    let response = assert_with(&mut token, ORIGIN, challenge.options);
    assert_refused(node.accounts.login_admin(
        AdminLogin {
            admin_id: "alice".into(),
            password: Password::new("Wrong-Password-99!"),
            ceremony_id: challenge.ceremony_id,
            response,
        },
        &client(),
    ));
}

#[test]
fn admin_without_enrolled_credential_cannot_log_in_and_enrolment_code_is_single_use() {
    let node = node();
    let ticket = node
        .accounts
        .create_admin(
            &console(),
            akari_accounts::NewAdmin {
                admin_id: "bob".into(),
                display_name: "Bob".into(),
                password: Password::new(ADMIN_PASSWORD),
            },
            &client(),
        )
        .unwrap();
    assert_refused(node.accounts.begin_admin_login("bob", &client()));
    assert!(matches!(
        node.accounts
            .begin_admin_enrolment("bob", &"WRONG-CODE".into()),
        Err(Error::BadEnrolmentCode)
    ));
    let mut token = new_token();
    let challenge = node
        .accounts
        .begin_admin_enrolment("bob", &ticket.code)
        .unwrap();
    let response = register(&mut token, ORIGIN, challenge.options);
    node.accounts
        .finish_admin_enrolment(&challenge.ceremony_id, &response, &client())
        .unwrap();
    assert!(matches!(
        node.accounts.begin_admin_enrolment("bob", &ticket.code),
        Err(Error::BadEnrolmentCode)
    ));
}

#[test]
fn admin_wrong_origin_is_refused_at_registration_and_login() {
    let node = node();
    let ticket = node
        .accounts
        .create_admin(
            &console(),
            akari_accounts::NewAdmin {
                admin_id: "alice".into(),
                display_name: "Alice".into(),
                password: Password::new(ADMIN_PASSWORD),
            },
            &client(),
        )
        .unwrap();
    let mut token = new_token();
    let challenge = node
        .accounts
        .begin_admin_enrolment("alice", &ticket.code)
        .unwrap();
    let response = register(&mut token, EVIL, challenge.options);
    let err = node
        .accounts
        .finish_admin_enrolment(&challenge.ceremony_id, &response, &client())
        .unwrap_err();
    assert!(matches!(err, Error::WebAuthn(_)), "{err}");
    assert!(err.to_string().contains("origin does not match"), "{err}");

    // Enrol properly, then try to log in from the wrong origin.
    let challenge = node
        .accounts
        .begin_admin_enrolment("alice", &ticket.code)
        .unwrap();
    let response = register(&mut token, ORIGIN, challenge.options);
    node.accounts
        .finish_admin_enrolment(&challenge.ceremony_id, &response, &client())
        .unwrap();
    let challenge = node.accounts.begin_admin_login("alice", &client()).unwrap();
    let response = assert_with(&mut token, EVIL, challenge.options);
    assert_refused(admin_login_with(&node, challenge.ceremony_id, response));
    assert!(
        last_failure(&node).contains("origin does not match"),
        "{}",
        last_failure(&node)
    );
    let failed = node.sink.count(|a| matches!(a, Action::LoginFailed { .. }));
    assert_eq!(failed, 1);
    login_admin(&node, "alice", &mut token).unwrap();
}

#[test]
fn admin_replayed_response_is_refused() {
    let node = node();
    let mut token = new_token();
    create_admin(&node, "alice", &mut token);
    let challenge = node.accounts.begin_admin_login("alice", &client()).unwrap();
    let response = assert_with(&mut token, ORIGIN, challenge.options);
    admin_login_with(&node, challenge.ceremony_id.clone(), response.clone()).unwrap();
    // The same response to the same (now used) challenge…
    assert_refused(admin_login_with(
        &node,
        challenge.ceremony_id,
        response.clone(),
    ));
    assert!(last_failure(&node).contains("reused"));
    // …or to a fresh challenge.
    let fresh = node.accounts.begin_admin_login("alice", &client()).unwrap();
    assert_refused(admin_login_with(&node, fresh.ceremony_id, response));
    assert!(
        last_failure(&node).contains("challenge differs"),
        "{}",
        last_failure(&node)
    );
}

#[test]
fn admin_cloned_key_is_refused() {
    let node = node();
    let mut token = new_token();
    create_admin(&node, "alice", &mut token);
    let mut clone = clone_token(&token);
    login_admin(&node, "alice", &mut token).unwrap();
    // The clone's counter has not moved past the one the node last saw.
    let challenge = node.accounts.begin_admin_login("alice", &client()).unwrap();
    let response = assert_with(&mut clone, ORIGIN, challenge.options);
    assert_refused(admin_login_with(&node, challenge.ceremony_id, response));
    assert!(
        last_failure(&node).contains("compromised"),
        "{}",
        last_failure(&node)
    );
    // The genuine key still works.
    login_admin(&node, "alice", &mut token).unwrap();
}

/// A sealed account with a key enrolled, in drill mode.
fn account_with_key(
    node: &Node,
    token: &mut webauthn_authenticator_rs::softtoken::SoftToken,
) -> akari_accounts::SealSheet {
    let cap = root();
    let sheet = provision(&node.accounts, "ER-KEY").unwrap();
    let challenge = node
        .accounts
        .begin_key_enrolment(&cap, &sheet.account_id)
        .unwrap();
    let response = register(token, ORIGIN, challenge.options);
    node.accounts
        .finish_key_enrolment(&cap, &challenge.ceremony_id, &response, &client())
        .unwrap();
    assert!(
        node.accounts
            .account(&cap, &sheet.account_id)
            .unwrap()
            .key_enrolled
    );
    assert_eq!(
        node.sink.count(|a| matches!(a, Action::KeyEnrolled { .. })),
        1
    );
    node.accounts
        .start_drill(&cap, "key drill", &client())
        .unwrap();
    sheet
}

fn key_login(
    node: &Node,
    sheet: &akari_accounts::SealSheet,
    ceremony_id: String,
    response: akari_accounts::PublicKeyCredential,
) -> akari_accounts::Result<akari_accounts::NewSession<akari_accounts::PendingSession>> {
    node.accounts.login_emergency(
        EmergencyLogin {
            account_id: sheet.account_id.clone(),
            credential: sheet.credential().clone(),
            key: Some(KeyAssertion {
                ceremony_id,
                response,
            }),
        },
        &client(),
    )
}

#[test]
fn emergency_key_needs_both_factors_and_logs_in() {
    let node = node();
    let mut token = new_token();
    let sheet = account_with_key(&node, &mut token);
    // Credential alone is not enough.
    let err = login_emergency(&node, &sheet.account_id, sheet.credential().expose()).unwrap_err();
    assert!(
        matches!(err, Error::Login(LoginRefused::KeyRequired)),
        "{err}"
    );
    // Key with the wrong credential is not enough either.
    let challenge = node
        .accounts
        .begin_emergency_login(&sheet.account_id)
        .unwrap()
        .unwrap();
    let response = assert_with(&mut token, ORIGIN, challenge.options);
    assert_refused(node.accounts.login_emergency(
        EmergencyLogin {
            account_id: sheet.account_id.clone(),
            credential: "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF".into(),
            key: Some(KeyAssertion {
                ceremony_id: challenge.ceremony_id,
                response,
            }),
        },
        &client(),
    ));
    // Both: works, and the seal is broken.
    let challenge = node
        .accounts
        .begin_emergency_login(&sheet.account_id)
        .unwrap()
        .unwrap();
    let response = assert_with(&mut token, ORIGIN, challenge.options);
    key_login(&node, &sheet, challenge.ceremony_id, response).unwrap();
    assert_eq!(
        node.accounts
            .account(&root(), &sheet.account_id)
            .unwrap()
            .status,
        SealStatus::Opened
    );
}

#[test]
fn emergency_key_wrong_origin_is_refused_at_enrolment_and_login() {
    let node = node();
    let cap = root();
    let sheet = provision(&node.accounts, "ER-KEY").unwrap();
    let mut token = new_token();
    let challenge = node
        .accounts
        .begin_key_enrolment(&cap, &sheet.account_id)
        .unwrap();
    let response = register(&mut token, EVIL, challenge.options);
    assert!(matches!(
        node.accounts
            .finish_key_enrolment(&cap, &challenge.ceremony_id, &response, &client()),
        Err(Error::WebAuthn(_))
    ));
    assert!(
        !node
            .accounts
            .account(&cap, &sheet.account_id)
            .unwrap()
            .key_enrolled
    );

    let mut token = new_token();
    let sheet = account_with_key(&node, &mut token);
    let challenge = node
        .accounts
        .begin_emergency_login(&sheet.account_id)
        .unwrap()
        .unwrap();
    let response = assert_with(&mut token, EVIL, challenge.options);
    assert_refused(key_login(&node, &sheet, challenge.ceremony_id, response));
    assert!(
        last_failure(&node).contains("origin does not match"),
        "{}",
        last_failure(&node)
    );
    assert_eq!(
        node.accounts
            .account(&cap, &sheet.account_id)
            .unwrap()
            .status,
        SealStatus::Sealed
    );
}

#[test]
fn emergency_key_replayed_response_is_refused() {
    let node = node();
    let mut token = new_token();
    let sheet = account_with_key(&node, &mut token);
    let challenge = node
        .accounts
        .begin_emergency_login(&sheet.account_id)
        .unwrap()
        .unwrap();
    let response = assert_with(&mut token, ORIGIN, challenge.options);
    key_login(
        &node,
        &sheet,
        challenge.ceremony_id.clone(),
        response.clone(),
    )
    .unwrap();
    assert_refused(key_login(
        &node,
        &sheet,
        challenge.ceremony_id,
        response.clone(),
    ));
    assert!(last_failure(&node).contains("reused"));
    let fresh = node
        .accounts
        .begin_emergency_login(&sheet.account_id)
        .unwrap()
        .unwrap();
    assert_refused(key_login(&node, &sheet, fresh.ceremony_id, response));
    assert!(
        last_failure(&node).contains("challenge differs"),
        "{}",
        last_failure(&node)
    );
}

#[test]
fn emergency_cloned_key_is_refused() {
    let node = node();
    let mut token = new_token();
    let sheet = account_with_key(&node, &mut token);
    let mut clone = clone_token(&token);
    let challenge = node
        .accounts
        .begin_emergency_login(&sheet.account_id)
        .unwrap()
        .unwrap();
    let response = assert_with(&mut token, ORIGIN, challenge.options);
    key_login(&node, &sheet, challenge.ceremony_id, response).unwrap();
    let challenge = node
        .accounts
        .begin_emergency_login(&sheet.account_id)
        .unwrap()
        .unwrap();
    let response = assert_with(&mut clone, ORIGIN, challenge.options);
    assert_refused(key_login(&node, &sheet, challenge.ceremony_id, response));
    assert!(
        last_failure(&node).contains("compromised"),
        "{}",
        last_failure(&node)
    );
    // The genuine key still works (the account is opened now; this is its second login).
    let challenge = node
        .accounts
        .begin_emergency_login(&sheet.account_id)
        .unwrap()
        .unwrap();
    let response = assert_with(&mut token, ORIGIN, challenge.options);
    key_login(&node, &sheet, challenge.ceremony_id, response).unwrap();
}
