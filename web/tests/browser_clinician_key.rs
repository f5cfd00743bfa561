//! A sealed emergency account with a FIDO2 security key, in Debian's headless Chromium
//! driven over CDP with DevTools virtual authenticators (CTAP2, resident keys, user
//! verification = the key's PIN): the admin provisions the account and enrols a key on
//! the admin pages, starts a drill; a clinician logs in with the seal sheet's credential
//! and the key, declares and opens a patient; then a different authenticator (one holding
//! a credential with the same ID but another private key) is refused, with a message,
//! and the failure is in the audit ledger. Real accounts service, ledger and snapshot;
//! TLS on 127.0.0.1:0. Screenshots go to `target/screenshots/key-*.png`.
//!
//! Needs `chromium` (Debian package) at /usr/bin/chromium or `AKARI_CHROMIUM`.

mod common;

use std::sync::Arc;

use akari_accounts::event::{Action, Actor, Mode};
use akari_accounts::ledger::Ledger;
use akari_accounts::Console;
use akari_web::pages::admin::AdminServices;
use akari_web::pages::{Pages, PagesConfig};
use base64::Engine;
use chromiumoxide::cdp::browser_protocol::web_authn::{
    AddCredentialParams, AddVirtualAuthenticatorParams, AuthenticatorId, AuthenticatorProtocol,
    AuthenticatorTransport, EnableParams, GetCredentialsParams, RemoveVirtualAuthenticatorParams,
    VirtualAuthenticatorOptions,
};
use chromiumoxide::Page;
use common::page::{click_to, fill, japanese_page, shot, text, wait_for};

/// A virtual authenticator that verifies its user (PIN) and answers at once.
async fn authenticator(page: &Page, transport: AuthenticatorTransport) -> AuthenticatorId {
    let options = VirtualAuthenticatorOptions::builder()
        .protocol(AuthenticatorProtocol::Ctap2)
        .transport(transport)
        .has_resident_key(true)
        .has_user_verification(true)
        .is_user_verified(true)
        .automatic_presence_simulation(true)
        .build()
        .unwrap();
    page.execute(AddVirtualAuthenticatorParams::new(options))
        .await
        .unwrap()
        .result
        .authenticator_id
}

async fn remove(page: &Page, id: AuthenticatorId) {
    page.execute(RemoveVirtualAuthenticatorParams::new(id))
        .await
        .unwrap();
}

/// The credential step on the login page, up to the key page.
async fn credential_step(page: &Page, base: &str, account_id: &str, credential: &str) {
    page.goto(format!("{base}/login")).await.unwrap();
    fill(page, "#account_id", account_id).await;
    fill(page, "#credential", credential).await;
    click_to(page, "#login-submit", "#key-submit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clinician_logs_in_with_credential_and_security_key_and_a_wrong_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let common::AdminNode {
        ledger,
        accounts,
        enrolment_code: code,
    } = common::admin_node();
    let (reader, _hospital) = common::snapshot(dir.path(), 40);
    let store =
        akari_sync::Store::open(&dir.path().join("admin.redb"), Default::default()).unwrap();
    let engine = Arc::new(
        akari_sync::Engine::new(
            store,
            Arc::new(akari_sync::engine::MemorySource::new(Vec::new())),
            akari_sync::Config::default(),
        )
        // The status page reports the lock state of the reader the clinician pages use.
        .with_reader(reader.clone()),
    );
    let pages = Pages::new(
        Arc::new(reader.clone()),
        ledger.clone(),
        accounts.clone(),
        PagesConfig::default(),
    )
    .with_admin(AdminServices::new(
        accounts.clone(),
        engine.control(),
        ledger.clone(),
    ));
    let (addr, spki) = common::serve(pages).await;
    let base = format!("https://localhost:{}", addr.port());

    let browser = common::launch_chromium(&spki, &dir.path().join("profile")).await;
    // A Japanese hospital PC: the browser asks for Japanese.
    let page = japanese_page(&browser).await;
    page.execute(EnableParams::default()).await.unwrap();

    // 1. The admin (platform passkey) enrols, logs in and provisions a sealed account.
    let admin_key = authenticator(&page, AuthenticatorTransport::Internal).await;
    page.goto(format!("{base}/admin/enrol")).await.unwrap();
    fill(&page, "#admin_id", "it-sato").await;
    fill(&page, "#enrol_code", &code).await;
    click_to(&page, "#admin-enrol-submit", "#admin-notice").await;
    fill(&page, "#admin_id", "it-sato").await;
    fill(&page, "#admin_password", common::ADMIN_PASSWORD).await;
    click_to(&page, "#admin-login-submit", "#current-mode").await;
    remove(&page, admin_key).await;
    page.goto(format!("{base}/admin/accounts")).await.unwrap();
    fill(&page, "#prov-label", "ER-KEY").await;
    click_to(&page, "#provision-submit", "#seal-credential").await;
    let credential = text(&page, "#seal-credential").await;
    let account_id = text(&page, "#seal-account").await;

    // 2. A FIDO2 security key (USB) is enrolled to the sealed account.
    let security_key = authenticator(&page, AuthenticatorTransport::Usb).await;
    page.goto(format!("{base}/admin/accounts/{account_id}/key"))
        .await
        .unwrap();
    shot(&page, "key-01-enrol-account-key").await;
    click_to(&page, "#key-enrol-submit", "#accounts").await;
    let enrolled = page
        .execute(GetCredentialsParams::new(security_key.clone()))
        .await
        .unwrap()
        .result
        .credentials;
    assert_eq!(enrolled.len(), 1, "the key holds the account's credential");
    assert!(
        accounts
            .account(&Console::new("t").capability(), &account_id)
            .unwrap()
            .key_enrolled
    );

    // 3. A drill starts; the admin logs out.
    page.goto(format!("{base}/admin")).await.unwrap();
    fill(&page, "#drill-reason", "鍵ログイン訓練").await;
    click_to(&page, "#start-drill", "#current-mode[data-mode=\"drill\"]").await;
    assert_eq!(accounts.mode().unwrap().mode, Mode::Drill);
    click_to(&page, "#logout", "#admin-login").await;

    // 4. The clinician: credential, then the key (PIN), then the declaration.
    credential_step(&page, &base, &account_id, &credential).await;
    assert_eq!(text(&page, "#key-account").await, account_id);
    shot(&page, "key-02-key-step").await;
    click_to(&page, "#key-submit", "#decl-name").await;
    fill(&page, "#decl-name", "灯 花子").await;
    fill(&page, "#decl-staff", "N-20931").await;
    fill(&page, "#decl-profession", "看護師").await;
    fill(&page, "#decl-department", "救急外来").await;
    click_to(&page, "#declare-submit", "#q").await;
    assert!(text(&page, "#who").await.contains("灯 花子"));

    // 5. A patient opens (through the audited path).
    let census = reader.census().unwrap();
    let patient = census
        .iter()
        .flat_map(|w| w.beds.iter())
        .next()
        .expect("inpatients")
        .patient
        .key
        .clone();
    page.goto(format!("{base}/patients/{}", patient.0))
        .await
        .unwrap();
    wait_for(&page, "#allergies").await;
    shot(&page, "key-03-patient").await;
    let read = events(&ledger).into_iter().any(|e| {
        e.action == Action::PatientRead
            && e.patient.as_deref() == Some(&patient.0)
            && matches!(&e.actor, Actor::Emergency { account_id: a, declared: Some(_), .. } if *a == account_id)
    });
    assert!(
        read,
        "the read is audited under the key-authenticated account"
    );
    click_to(&page, "#logout", "#account_id").await;

    // 6. Another authenticator: it holds a credential with the enrolled ID (a cloned or
    //    guessed ID) but its own private key. The signature does not verify: refused.
    remove(&page, security_key).await;
    let wrong = authenticator(&page, AuthenticatorTransport::Usb).await;
    let mut forged = enrolled[0].clone();
    let other_key = rcgen::KeyPair::generate().unwrap();
    forged.private_key = base64::engine::general_purpose::STANDARD
        .encode(other_key.serialize_der())
        .into();
    forged.sign_count = 0;
    page.execute(AddCredentialParams::new(wrong, forged))
        .await
        .unwrap();
    let failures_before = failed_logins(&ledger);
    credential_step(&page, &base, &account_id, &credential).await;
    click_to(&page, "#key-submit", "#login-error").await;
    let error = text(&page, "#login-error").await;
    assert!(error.contains("登録されたキーではありません"), "{error}");
    shot(&page, "key-04-wrong-key-refused").await;
    // Back on the login page, not logged in; the failure is in the ledger.
    wait_for(&page, "#account_id").await;
    assert_eq!(failed_logins(&ledger), failures_before + 1);
    page.goto(format!("{base}/search")).await.unwrap();
    let refused = text(&page, "#error-message").await;
    assert!(refused.contains("ログイン"), "{refused}");
    drop(browser);
}

fn events(ledger: &Ledger) -> Vec<akari_accounts::ledger::LedgerEntry> {
    let mut all = Vec::new();
    ledger
        .scan(
            1..=u64::MAX,
            |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
                all.push(e);
                Ok(())
            },
        )
        .unwrap();
    all
}

fn failed_logins(ledger: &Ledger) -> usize {
    events(ledger)
        .iter()
        .filter(|e| matches!(&e.action, Action::LoginFailed { reason } if reason.contains("security key")))
        .count()
}
