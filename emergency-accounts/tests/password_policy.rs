//! the admin password policy refuses short passwords and passwords without
//! letters, digits and symbols, saying why; a refused admin is not created.

mod common;

use akari_accounts::event::Action;
use akari_accounts::{
    check_password_policy, CharClass, Error, NewAdmin, Password, PasswordPolicyError,
};
use common::*;

fn refusal(pw: &str) -> PasswordPolicyError {
    check_password_policy(&Password::new(pw)).unwrap_err()
}

#[test]
fn too_short_is_refused_with_the_lengths() {
    let err = refusal("Ab1!Ab1!Ab1!");
    assert_eq!(err, PasswordPolicyError::TooShort { got: 12, min: 13 });
    assert_eq!(
        err.to_string(),
        "the password has 12 characters; it needs at least 13"
    );
    // Characters, not bytes: 12 kanji are 36 bytes but still too short.
    assert!(matches!(
        refusal("緊急時用のパスワード１!"),
        PasswordPolicyError::TooShort { got: 12, .. }
    ));
}

#[test]
fn missing_classes_are_named() {
    assert_eq!(
        refusal("abcdefghijklmn"),
        PasswordPolicyError::MissingClasses {
            missing: vec![CharClass::Digit, CharClass::Symbol]
        }
    );
    assert_eq!(
        refusal("abcdefghijklm1").to_string(),
        "the password must mix letters, digits and symbols; it has no symbols (such as ! # % - _ .)"
    );
    assert_eq!(
        refusal("1234567890123!"),
        PasswordPolicyError::MissingClasses {
            missing: vec![CharClass::Letter]
        }
    );
    assert_eq!(
        refusal("abcdefghijkl!!"),
        PasswordPolicyError::MissingClasses {
            missing: vec![CharClass::Digit]
        }
    );
    // Spaces are not symbols.
    assert_eq!(
        refusal("abcd efgh ijk 1"),
        PasswordPolicyError::MissingClasses {
            missing: vec![CharClass::Symbol]
        }
    );
}

#[test]
fn good_passwords_pass() {
    for pw in [
        "Correct-Horse-42!",
        "夜間救急の合言葉は3回目!",
        "a1!a1!a1!a1!a",
    ] {
        check_password_policy(&Password::new(pw)).unwrap();
    }
}

#[test]
fn create_admin_refuses_a_weak_password_and_creates_nothing() {
    let node = node();
    let err = node
        .accounts
        .create_admin(
            &console(),
            NewAdmin {
                admin_id: "alice".into(),
                display_name: "Alice".into(),
                password: Password::new("password1234"),
            },
            &client(),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::PasswordPolicy(PasswordPolicyError::TooShort { got: 12, min: 13 })
    ));
    assert!(err.to_string().contains("at least 13"), "{err}");
    let err = node
        .accounts
        .create_admin(
            &console(),
            NewAdmin {
                admin_id: "alice".into(),
                display_name: "Alice".into(),
                password: Password::new("passwordpassword"),
            },
            &client(),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("it has no digits and no symbols"),
        "{err}"
    );
    assert_eq!(node.sink.count(|a| *a == Action::AdminCreated), 0);
    // With a good password it works, and the ID cannot be taken twice.
    let ok = NewAdmin {
        admin_id: "alice".into(),
        display_name: "Alice".into(),
        password: Password::new(ADMIN_PASSWORD),
    };
    node.accounts
        .create_admin(&console(), ok, &client())
        .unwrap();
    let again = NewAdmin {
        admin_id: "alice".into(),
        display_name: "Alice".into(),
        password: Password::new(ADMIN_PASSWORD),
    };
    assert!(matches!(
        node.accounts.create_admin(&console(), again, &client()),
        Err(Error::AdminExists(_))
    ));
}
