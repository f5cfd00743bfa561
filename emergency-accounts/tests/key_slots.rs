//! Key slots (the accounts side): the snapshot secret is wrapped in key slots;
//! an emergency login, an admin login and the recovery key each unwrap the same secret; a
//! wrong credential unwraps nothing; re-sealing replaces the slot, revoking removes it; the
//! secret leaves memory (and the observer hears of it) when the episode ends.

mod common;

use std::sync::{Arc, Mutex};

use akari_accounts::event::{Action, Actor, KeySlotChange, Mode};
use akari_accounts::ledger::{fhir, Hash, LedgerEntry};
use akari_accounts::{
    Error, KeyObserver, LoginRefused, NewAdmin, Password, ProvisionRequest, RecoveryKey,
    RecoveryKeyError, WardScope,
};
use common::*;
use webauthn_authenticator_rs::softtoken::SoftToken;

/// What the snapshot reader would be told.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Told {
    Unlocked([u8; 32]),
    Locked,
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Told>>);

impl Recorder {
    fn told(&self) -> Vec<Told> {
        self.0.lock().unwrap().clone()
    }
}

impl KeyObserver for Recorder {
    fn unlocked(&self, secret: &[u8; 32]) {
        self.0.lock().unwrap().push(Told::Unlocked(*secret));
    }
    fn locked(&self) {
        self.0.lock().unwrap().push(Told::Locked);
    }
}

fn snapshot_secret() -> [u8; 32] {
    let mut s = [0u8; 32];
    for (i, b) in s.iter_mut().enumerate() {
        *b = 0xA5 ^ (i as u8).wrapping_mul(37);
    }
    s
}

struct Setup {
    node: Node,
    recovery: RecoveryKey,
    admin_token: SoftToken,
    observer: Arc<Recorder>,
}

/// `akari init` (key slots for the secret) and `akari admin create` with the recovery key,
/// the admin's passkey enrolled; the observer wired as root wires the snapshot reader.
fn setup() -> Setup {
    let node = node();
    let observer = Arc::new(Recorder::default());
    node.accounts.set_key_observer(observer.clone());
    let recovery = node
        .accounts
        .init_key_slots(&console(), &snapshot_secret())
        .unwrap();
    let mut admin_token = new_token();
    let ticket = node
        .accounts
        .create_admin_with_recovery(
            &console(),
            NewAdmin {
                admin_id: "it-sato".into(),
                display_name: "Sato (IT)".into(),
                password: Password::new(ADMIN_PASSWORD),
            },
            &recovery.to_string(),
            &client(),
        )
        .unwrap();
    let challenge = node
        .accounts
        .begin_admin_enrolment("it-sato", &ticket.code)
        .unwrap();
    let response = register(&mut admin_token, ORIGIN, challenge.options);
    node.accounts
        .finish_admin_enrolment(&challenge.ceremony_id, &response, &client())
        .unwrap();
    assert!(
        node.accounts.unlocked_secret().is_none(),
        "init unlocks nothing"
    );
    assert!(observer.told().is_empty());
    Setup {
        node,
        recovery,
        admin_token,
        observer,
    }
}

fn admin_login(s: &mut Setup) -> akari_accounts::NewSession<akari_accounts::AdminSession> {
    login_admin(&s.node, "it-sato", &mut s.admin_token).unwrap()
}

/// The admin's passkey with `password`.
fn admin_login_with(
    s: &mut Setup,
    password: Password,
) -> akari_accounts::Result<akari_accounts::NewSession<akari_accounts::AdminSession>> {
    let challenge = s.node.accounts.begin_admin_login("it-sato", &client())?;
    let response = assert_with(&mut s.admin_token, ORIGIN, challenge.options);
    s.node.accounts.login_admin(
        akari_accounts::AdminLogin {
            admin_id: "it-sato".into(),
            password,
            ceremony_id: challenge.ceremony_id,
            response,
        },
        &client(),
    )
}

fn secret_now(s: &Setup) -> Option<[u8; 32]> {
    s.node.accounts.unlocked_secret().map(|k| *k)
}

fn slot_events(s: &Setup, slot: &str) -> Vec<KeySlotChange> {
    s.node
        .sink
        .events()
        .into_iter()
        .filter_map(|e| match e.action {
            Action::KeySlotChanged { slot: sl, change } if sl == slot => Some(change),
            _ => None,
        })
        .collect()
}

#[test]
fn emergency_login_admin_login_and_recovery_key_each_unlock_the_same_secret() {
    let mut s = setup();
    let secret = snapshot_secret();

    // Admin login unwraps the admin's slot.
    let admin = admin_login(&mut s);
    assert_eq!(secret_now(&s), Some(secret));
    let sheet = provision(&s.node.accounts, "ER-1").unwrap();
    // Logging out in standby wipes it.
    s.node.accounts.logout(&admin.token, &client()).unwrap();
    assert_eq!(secret_now(&s), None);

    // An emergency login unwraps the account's slot.
    s.node
        .accounts
        .start_drill(&root(), "quarterly drill", &client())
        .unwrap();
    assert_eq!(secret_now(&s), None, "declaring unlocks nothing");
    let pending = login_emergency(&s.node, &sheet.account_id, sheet.credential().expose()).unwrap();
    assert_eq!(secret_now(&s), Some(secret));
    declare_drill(&s.node, &pending);
    s.node.accounts.end_episode(&root(), "", &client()).unwrap();
    assert_eq!(secret_now(&s), None);

    // The recovery key, at the console.
    s.node
        .accounts
        .unlock_with_recovery(&console(), &s.recovery.to_string())
        .unwrap();
    assert_eq!(secret_now(&s), Some(secret));

    assert_eq!(
        s.observer.told(),
        vec![
            Told::Unlocked(secret),
            Told::Locked,
            Told::Unlocked(secret),
            Told::Locked,
            Told::Unlocked(secret),
        ]
    );
    // Each unlock names its slot in the audit trail.
    let unlocked_by: Vec<String> = s
        .node
        .sink
        .events()
        .into_iter()
        .filter_map(|e| match e.action {
            Action::SnapshotUnlocked { slot } => Some(slot),
            _ => None,
        })
        .collect();
    assert_eq!(
        unlocked_by,
        vec![
            "admin:it-sato".to_owned(),
            format!("account:{}", sheet.account_id),
            "recovery".to_owned()
        ]
    );
    assert_eq!(
        s.node.sink.count(|a| matches!(a, Action::SnapshotLocked)),
        2
    );
}

#[test]
fn a_wrong_credential_unlocks_nothing() {
    let mut s = setup();
    let admin = admin_login(&mut s);
    let sheet = provision(&s.node.accounts, "ER-1").unwrap();
    s.node.accounts.logout(&admin.token, &client()).unwrap();
    assert_eq!(secret_now(&s), None);

    // Admin: right passkey, wrong password.
    let err = admin_login_with(&mut s, Password::new("Wrong-Horse-42!")).unwrap_err();
    assert!(matches!(
        err,
        Error::Login(LoginRefused::InvalidCredentials)
    ));
    assert_eq!(secret_now(&s), None);

    // Emergency: another account's credential.
    s.node
        .accounts
        .start_drill(&root(), "drill", &client())
        .unwrap();
    let other = akari_accounts::credential::generate_credential();
    let err = login_emergency(&s.node, &sheet.account_id, other.expose()).unwrap_err();
    assert!(matches!(
        err,
        Error::Login(LoginRefused::InvalidCredentials)
    ));
    assert_eq!(secret_now(&s), None);

    // Recovery: a well-formed key that is not this node's — a failed unlock, recorded.
    let failures_before = s
        .node
        .sink
        .count(|a| matches!(a, Action::LoginFailed { .. }));
    let err = s
        .node
        .accounts
        .unlock_with_recovery(&console(), &RecoveryKey::generate().to_string())
        .unwrap_err();
    assert!(matches!(err, Error::WrongRecoveryKey), "{err}");
    assert_eq!(secret_now(&s), None);
    assert_eq!(
        s.node
            .sink
            .count(|a| matches!(a, Action::LoginFailed { .. })),
        failures_before + 1
    );
    assert_eq!(
        s.observer.told().len(),
        2,
        "only the admin's unlock and lock"
    );
    assert_eq!(
        s.node
            .sink
            .count(|a| matches!(a, Action::SnapshotUnlocked { .. })),
        1
    );
}

#[test]
fn after_reseal_the_old_credential_unlocks_nothing_and_the_new_one_does() {
    let mut s = setup();
    let admin = admin_login(&mut s);
    let old = provision(&s.node.accounts, "ER-1").unwrap();
    let new = s
        .node
        .accounts
        .reseal(&root(), &old.account_id, &client())
        .unwrap();
    let slot = format!("account:{}", old.account_id);
    assert_eq!(
        slot_events(&s, &slot),
        vec![KeySlotChange::Created, KeySlotChange::Replaced]
    );
    s.node.accounts.logout(&admin.token, &client()).unwrap();
    s.node
        .accounts
        .start_drill(&root(), "drill", &client())
        .unwrap();

    let err = login_emergency(&s.node, &old.account_id, old.credential().expose()).unwrap_err();
    assert!(matches!(
        err,
        Error::Login(LoginRefused::InvalidCredentials)
    ));
    assert_eq!(secret_now(&s), None);

    login_emergency(&s.node, &new.account_id, new.credential().expose()).unwrap();
    assert_eq!(secret_now(&s), Some(snapshot_secret()));
}

#[test]
fn revoking_and_retiring_remove_the_slot() {
    let mut s = setup();
    let admin = admin_login(&mut s);
    let a = provision(&s.node.accounts, "ER-1").unwrap();
    let b = provision(&s.node.accounts, "ER-2").unwrap();
    let slots = |s: &Setup| -> Vec<String> {
        s.node
            .accounts
            .list_key_slots(&root())
            .unwrap()
            .into_iter()
            .map(|k| k.slot)
            .collect()
    };
    let slot_a = format!("account:{}", a.account_id);
    let slot_b = format!("account:{}", b.account_id);
    let mut expected = vec![
        "admin:it-sato".to_owned(),
        slot_a.clone(),
        slot_b.clone(),
        "recovery".to_owned(),
    ];
    expected.sort();
    assert_eq!(slots(&s), expected);

    s.node
        .accounts
        .revoke(&root(), &a.account_id, "envelope lost", &client())
        .unwrap();
    assert!(!slots(&s).contains(&slot_a));
    assert_eq!(
        slot_events(&s, &slot_a),
        vec![KeySlotChange::Created, KeySlotChange::Removed]
    );

    // An opened account is retired at the episode's end, and its slot goes with it: the
    // credential on the opened envelope no longer opens the snapshot.
    s.node.accounts.logout(&admin.token, &client()).unwrap();
    s.node
        .accounts
        .start_drill(&root(), "drill", &client())
        .unwrap();
    login_emergency(&s.node, &b.account_id, b.credential().expose()).unwrap();
    s.node.accounts.end_episode(&root(), "", &client()).unwrap();
    assert!(!slots(&s).contains(&slot_b));
    assert_eq!(
        slot_events(&s, &slot_b),
        vec![KeySlotChange::Created, KeySlotChange::Removed]
    );
}

#[test]
fn a_recovery_key_typo_is_reported_as_a_typo() {
    let s = setup();
    let printed = s.recovery.to_string();
    let groups: Vec<&str> = printed.split('-').collect();
    assert_eq!(groups.len(), 7);
    assert!(groups.iter().all(|g| g.len() == 5));

    // One symbol of the third group mistyped (another symbol of the alphabet).
    let mut typo = printed.clone().into_bytes();
    let pos = 2 * 6 + 1;
    typo[pos] = if typo[pos] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    let events_before = s.node.sink.events().len();
    let err = s
        .node
        .accounts
        .unlock_with_recovery(&console(), &typo)
        .unwrap_err();
    assert!(
        matches!(&err, Error::RecoveryKey(RecoveryKeyError::Typo { groups }) if groups == &vec![3]),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("typo") && msg.contains("group 3"), "{msg}");
    assert!(
        !msg.contains(groups[2]) && !msg.contains(groups[0]),
        "{msg}"
    );
    // A typo tried nothing: no failed unlock recorded, nothing unlocked.
    assert_eq!(s.node.sink.events().len(), events_before);
    assert_eq!(secret_now(&s), None);

    // A look-alike and a missing group are named too.
    let err = s
        .node
        .accounts
        .unlock_with_recovery(&console(), &printed.replacen(&printed[..1], "0", 1))
        .unwrap_err();
    assert!(err.to_string().contains("character 1"), "{err}");
    let err = s
        .node
        .accounts
        .unlock_with_recovery(&console(), &groups[..6].join("-"))
        .unwrap_err();
    assert!(err.to_string().contains("7 groups of 5"), "{err}");

    // Typed as people type: lower case, spaces, full-width.
    let typed: String = printed
        .to_lowercase()
        .replace('-', " ")
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xFEE0).unwrap()
            } else {
                c
            }
        })
        .collect();
    s.node
        .accounts
        .unlock_with_recovery(&console(), &typed)
        .unwrap();
    assert_eq!(secret_now(&s), Some(snapshot_secret()));
}

#[test]
fn slot_changes_need_the_secret_in_memory() {
    let s = setup();
    // Locked: provisioning cannot make the account's slot, so it is refused with the way out.
    let err = provision(&s.node.accounts, "ER-1").unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("log in as an admin") && msg.contains("give the recovery key"),
        "{msg}"
    );
    assert!(s.node.accounts.list_accounts(&root()).unwrap().is_empty());
    let err = s
        .node
        .accounts
        .create_admin(
            &console(),
            NewAdmin {
                admin_id: "it-kato".into(),
                display_name: "Kato".into(),
                password: Password::new(ADMIN_PASSWORD),
            },
            &client(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    // A second init is refused: it would orphan every slot.
    let err = s
        .node
        .accounts
        .init_key_slots(&console(), &[1; 32])
        .unwrap_err();
    assert!(matches!(err, Error::KeySlots(_)), "{err:?}");

    // With the recovery key given at the console it works, and a new recovery key can be
    // issued; the old one then unlocks nothing.
    s.node
        .accounts
        .unlock_with_recovery(&console(), &s.recovery.to_string())
        .unwrap();
    provision(&s.node.accounts, "ER-1").unwrap();
    let new_key = s
        .node
        .accounts
        .replace_recovery_key(&console(), None)
        .unwrap();
    assert_eq!(
        slot_events(&s, "recovery"),
        vec![KeySlotChange::Created, KeySlotChange::Replaced]
    );
    s.node.accounts.lock_snapshot(&root(), &client()).unwrap();
    assert_eq!(secret_now(&s), None);
    let err = s
        .node
        .accounts
        .unlock_with_recovery(&console(), &s.recovery.to_string())
        .unwrap_err();
    assert!(matches!(err, Error::WrongRecoveryKey), "{err:?}");
    s.node
        .accounts
        .unlock_with_recovery(&console(), &new_key.to_string())
        .unwrap();
    assert_eq!(secret_now(&s), Some(snapshot_secret()));
}

#[test]
fn the_observer_hears_unlock_and_lock_at_the_right_moments() {
    let mut s = setup();
    let secret = snapshot_secret();
    let admin = admin_login(&mut s);
    let a = provision(&s.node.accounts, "ER-1").unwrap();
    let b = provision(&s.node.accounts, "ER-2").unwrap();
    s.node.accounts.logout(&admin.token, &client()).unwrap();
    assert_eq!(
        s.observer.told(),
        vec![Told::Unlocked(secret), Told::Locked]
    );

    s.node
        .accounts
        .declare_emergency(&root(), "EHR down (ransomware)", &client())
        .unwrap();
    login_emergency(&s.node, &a.account_id, a.credential().expose()).unwrap();
    // A second clinician: already unlocked, no second unwrap, no second notice.
    login_emergency(&s.node, &b.account_id, b.credential().expose()).unwrap();
    // An admin coming and going during the episode does not lock the clinicians out.
    let admin = admin_login(&mut s);
    s.node.accounts.logout(&admin.token, &client()).unwrap();
    assert_eq!(s.node.accounts.expire_sessions().unwrap(), 0);
    assert_eq!(secret_now(&s), Some(secret));
    assert_eq!(s.observer.told().len(), 3);

    // A late observer learns the current state at once.
    let late = Arc::new(Recorder::default());
    s.node.accounts.set_key_observer(late.clone());
    assert_eq!(late.told(), vec![Told::Unlocked(secret)]);

    // Ending the episode wipes it.
    s.node
        .accounts
        .end_episode(&root(), "EHR restored", &client())
        .unwrap();
    assert_eq!(secret_now(&s), None);
    assert_eq!(late.told(), vec![Told::Unlocked(secret), Told::Locked]);
    s.node
        .accounts
        .resume_standby(&root(), "", &client())
        .unwrap();
    assert_eq!(late.told().len(), 2, "already locked: nothing more to say");

    // In standby a recovery-key unlock lasts only while an admin is logged in: the next
    // session sweep wipes it when none is.
    s.node
        .accounts
        .unlock_with_recovery(&console(), &s.recovery.to_string())
        .unwrap();
    let admin = admin_login(&mut s);
    s.node.accounts.expire_sessions().unwrap();
    assert_eq!(secret_now(&s), Some(secret), "an admin is logged in");
    s.node.clock.advance(chrono::Duration::hours(1));
    s.node.accounts.expire_sessions().unwrap();
    assert_eq!(secret_now(&s), None, "the admin session timed out");
    assert_eq!(
        late.told(),
        vec![
            Told::Unlocked(secret),
            Told::Locked,
            Told::Unlocked(secret),
            Told::Locked
        ]
    );
    let _ = admin;
}

#[test]
fn no_secret_or_key_material_in_debug_errors_events_or_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.redb");
    let sink = Arc::new(MemorySink::default());
    let clock = Arc::new(akari_accounts::ManualClock::new(t0()));
    let accounts =
        akari_accounts::Accounts::open_file(&path, cheap_config(), sink.clone(), clock).unwrap();
    let secret = snapshot_secret();
    let recovery = accounts.init_key_slots(&console(), &secret).unwrap();
    accounts
        .unlock_with_recovery(&console(), &recovery.to_string())
        .unwrap();
    let sheet = provision(&accounts, "ER-1").unwrap();
    let printed = recovery.to_string();
    let secret_hex = hex::encode(secret);
    let secret_dbg = format!("{:?}", &secret[..8]);
    let forbidden = [printed.as_str(), secret_hex.as_str(), secret_dbg.as_str()];

    let mut shown = vec![
        format!("{recovery:?}"),
        format!("{accounts:?}"),
        format!("{:?}", accounts.status(&root()).unwrap()),
        format!("{:?}", accounts.list_key_slots(&root()).unwrap()),
        format!("{:?}", sink.events()),
        serde_json::to_string(&sink.events()).unwrap(),
    ];
    for typed in [
        printed.replacen(&printed[..1], "0", 1),
        RecoveryKey::generate().to_string(),
    ] {
        let err = accounts
            .unlock_with_recovery(&console(), &typed)
            .unwrap_err();
        shown.push(format!("{err} {err:?}"));
    }
    for text in &shown {
        for f in forbidden {
            assert!(!text.contains(f), "{text}");
        }
        assert!(!text.contains(&printed[..5]), "{text}");
    }
    drop(accounts);
    let bytes = std::fs::read(&path).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(&secret), "the secret is on disk in the clear");
    assert!(!contains(secret_hex.as_bytes()));
    assert!(!contains(printed.as_bytes()));
    assert!(!contains(sheet.credential().expose().as_bytes()));
    assert!(contains(b"key_slots"), "the slots are in this file");

    // After a restart the secret is not in memory; the slots on disk still open.
    let sink = Arc::new(MemorySink::default());
    let clock = Arc::new(akari_accounts::ManualClock::new(t0()));
    let accounts = akari_accounts::Accounts::open_file(&path, cheap_config(), sink, clock).unwrap();
    assert!(accounts.key_slots_initialised().unwrap());
    assert!(accounts.unlocked_secret().is_none());
    accounts.start_drill(&root(), "drill", &client()).unwrap();
    accounts
        .login_emergency(
            akari_accounts::EmergencyLogin {
                account_id: sheet.account_id.clone(),
                credential: sheet.credential().clone(),
                key: None,
            },
            &client(),
        )
        .unwrap();
    assert_eq!(accounts.unlocked_secret().map(|k| *k), Some(secret));
}

#[test]
fn the_balp_export_maps_the_key_slot_events() {
    let entry = |action: Action| LedgerEntry {
        seq: 1,
        time: t0(),
        clock_back: false,
        actor: Actor::Console {
            os_user: "it-admin".into(),
        },
        action,
        patient: None,
        details: None,
        client: client(),
        mode: Mode::Standby,
        drill: false,
    };
    let cases = [
        (
            Action::KeySlotChanged {
                slot: "account:EA-ABCDEF".into(),
                change: KeySlotChange::Removed,
            },
            "D",
            "key slot account:EA-ABCDEF removed",
        ),
        (
            Action::KeySlotChanged {
                slot: "recovery".into(),
                change: KeySlotChange::Created,
            },
            "C",
            "key slot recovery created",
        ),
        (
            Action::SnapshotUnlocked {
                slot: "admin:it-sato".into(),
            },
            "E",
            "snapshot key unlocked by admin:it-sato",
        ),
        (Action::SnapshotLocked, "E", "snapshot key locked"),
    ];
    for (action, code, text) in cases {
        let ev = fhir::audit_event(&entry(action), &Hash([0; 32]));
        assert_eq!(ev["action"], code, "{ev}");
        assert_eq!(ev["type"]["code"], "110113", "{ev}");
        assert!(ev.to_string().contains(text), "{ev}");
    }
    // The generation events webadmin and the console record.
    let cases = [
        (
            Action::SyncRequested { full: true },
            "E",
            "full sync requested",
        ),
        (
            Action::SnapshotRolledBack {
                from: Some(12),
                to: 11,
            },
            "U",
            "rolled back from generation 12 to 11",
        ),
        (
            Action::SnapshotPinned {
                generation: 11,
                pinned: true,
            },
            "U",
            "generation 11 pinned",
        ),
    ];
    for (action, code, text) in cases {
        let ev = fhir::audit_event(&entry(action), &Hash([0; 32]));
        assert_eq!(ev["action"], code, "{ev}");
        assert_eq!(ev["type"]["code"], "110100", "{ev}");
        assert!(ev.to_string().contains(text), "{ev}");
    }
}

#[test]
fn an_admin_created_before_init_gets_a_slot_at_their_next_login_with_the_key_at_hand() {
    let node = node();
    let mut token = new_token();
    create_admin(&node, "it-early", &mut token);
    let recovery = node
        .accounts
        .init_key_slots(&console(), &snapshot_secret())
        .unwrap();
    // Locked: the login works, but there is neither a slot to open nor a secret to make one.
    let admin = login_admin(&node, "it-early", &mut token).unwrap();
    assert!(node.accounts.unlocked_secret().is_none());
    node.accounts.logout(&admin.token, &client()).unwrap();
    // With the recovery key given, the next login makes the slot...
    node.accounts
        .unlock_with_recovery(&console(), &recovery.to_string())
        .unwrap();
    let admin = login_admin(&node, "it-early", &mut token).unwrap();
    assert_eq!(
        node.sink.count(|a| matches!(
            a,
            Action::KeySlotChanged { slot, change: KeySlotChange::Created } if slot == "admin:it-early"
        )),
        1
    );
    node.accounts.logout(&admin.token, &client()).unwrap();
    assert!(node.accounts.unlocked_secret().is_none());
    // ...and from then on the admin's own login unlocks.
    login_admin(&node, "it-early", &mut token).unwrap();
    assert_eq!(
        node.accounts.unlocked_secret().map(|k| *k),
        Some(snapshot_secret())
    );
}

#[test]
fn the_console_provisions_and_reseals_with_the_recovery_key_leaving_nothing_in_memory() {
    let s = setup();
    let req = || ProvisionRequest {
        label: "5F-West-2".into(),
        ward_scope: WardScope::Wards(vec!["5F-West".into()]),
        expires_at: None,
    };
    let mut typo = s.recovery.to_string().into_bytes();
    typo[0] = if typo[0] == b'A' { b'B' } else { b'A' };
    let err = s
        .node
        .accounts
        .provision_with_recovery(
            &console(),
            req(),
            std::str::from_utf8(&typo).unwrap(),
            &client(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::RecoveryKey(_)), "{err:?}");
    let key = s.recovery.to_string();
    let first = s
        .node
        .accounts
        .provision_with_recovery(&console(), req(), &key, &client())
        .unwrap();
    assert_eq!(secret_now(&s), None, "the console leaves nothing in memory");
    let sheet = s
        .node
        .accounts
        .reseal_with_recovery(&console(), &first.account_id, &key, &client())
        .unwrap();
    assert_eq!(secret_now(&s), None);
    assert!(s.observer.told().is_empty());
    assert_eq!(
        slot_events(&s, &format!("account:{}", sheet.account_id)),
        vec![KeySlotChange::Created, KeySlotChange::Replaced]
    );
    s.node
        .accounts
        .start_drill(&root(), "drill", &client())
        .unwrap();
    login_emergency(&s.node, &sheet.account_id, sheet.credential().expose()).unwrap();
    assert_eq!(secret_now(&s), Some(snapshot_secret()));
}

#[test]
fn a_reset_password_remakes_the_admins_slot_with_the_recovery_key_leaving_nothing_in_memory() {
    let mut s = setup();
    let change = akari_accounts::event::AdminRecovery::PasswordReset;
    // Locked: the console needs the recovery key to make the new password's slot.
    assert!(matches!(
        s.node
            .accounts
            .recover_admin_at_console(&console(), "it-sato", change, None, &client()),
        Err(Error::Locked { .. })
    ));
    let done = s
        .node
        .accounts
        .recover_admin_at_console(
            &console(),
            "it-sato",
            change,
            Some(&s.recovery.to_string()),
            &client(),
        )
        .unwrap();
    assert_eq!(secret_now(&s), None, "nothing left in memory");
    assert_eq!(
        slot_events(&s, "admin:it-sato"),
        vec![KeySlotChange::Created, KeySlotChange::Replaced]
    );
    // The old password opens nothing; the new one logs in and unlocks the snapshot.
    assert!(login_admin(&s.node, "it-sato", &mut s.admin_token).is_err());
    assert_eq!(secret_now(&s), None);
    admin_login_with(&mut s, done.password.unwrap()).unwrap();
    assert_eq!(secret_now(&s), Some(snapshot_secret()));
}
