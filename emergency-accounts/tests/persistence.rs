//! The store is a real file: mode, accounts and sessions survive a restart, and the file
//! holds no credential or session token in plaintext.

mod common;

use std::sync::Arc;

use akari_accounts::event::{Mode, Reason};
use akari_accounts::{Accounts, ManualClock, ProvisionRequest, SealStatus, Session, WardScope};
use common::*;

#[test]
fn mode_accounts_and_sessions_survive_a_restart_without_plaintext_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.redb");
    let sink = Arc::new(MemorySink::default());
    let clock = Arc::new(ManualClock::new(t0()));
    let open = || Accounts::open_file(&path, cheap_config(), sink.clone(), clock.clone()).unwrap();

    let cap = root();
    let (account_id, credential, token) = {
        let accounts = open();
        let sheet = accounts
            .provision(
                &cap,
                ProvisionRequest {
                    label: "ER-1".into(),
                    ward_scope: WardScope::Wards(vec!["ICU".into(), "5F-West".into()]),
                    expires_at: None,
                },
                &client(),
            )
            .unwrap();
        accounts
            .start_drill(&cap, "night drill", &client())
            .unwrap();
        let pending = accounts
            .login_emergency(
                akari_accounts::EmergencyLogin {
                    account_id: sheet.account_id.clone(),
                    credential: sheet.credential().clone(),
                    key: None,
                },
                &client(),
            )
            .unwrap();
        let declared = accounts
            .declare(&pending.token, nurse(), Reason::Drill, &client())
            .unwrap();
        (
            sheet.account_id.clone(),
            sheet.credential().expose().to_owned(),
            declared.token,
        )
    };

    let accounts = open();
    let mode = accounts.mode().unwrap();
    assert_eq!(mode.mode, Mode::Drill);
    assert_eq!(mode.episode.as_ref().unwrap().reason, "night drill");
    assert_eq!(
        accounts.account(&cap, &account_id).unwrap().status,
        SealStatus::Opened
    );
    match accounts.resume(&token, &client()).unwrap() {
        Session::Emergency(s) => {
            assert_eq!(s.account_id, account_id);
            assert_eq!(s.declaration.person, nurse());
        }
        other => panic!("{other:?}"),
    }
    drop(accounts);

    let bytes = std::fs::read(&path).unwrap();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        contains(&account_id),
        "the scan works: the account ID is stored"
    );
    assert!(!contains(&credential));
    assert!(!contains(&credential.replace('-', "")));
    assert!(!contains(token.expose()));
}
