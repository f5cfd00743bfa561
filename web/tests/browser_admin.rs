//! The administrator's path, in Debian's headless Chromium driven over CDP, with a
//! DevTools virtual authenticator (CTAP2, internal transport, user verification): enrol a
//! passkey with the console's one-time code, log in with password + passkey, provision an
//! emergency account and see its seal sheet (screen and A4 print media), start a drill.
//! The accounts, ledger and snapshot are the real services; the pages are served over TLS
//! on 127.0.0.1:0. Screenshots go to `target/screenshots/admin-*.png`.
//!
//! Needs `chromium` (Debian package) at /usr/bin/chromium or `AKARI_CHROMIUM`.

mod common;

use std::sync::Arc;

use akari_accounts::event::{Action, Mode};
use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::source::Change;
use akari_sync::SnapshotReader;
use akari_testkit::synth::{Hospital, SynthConfig};
use akari_web::pages::admin::AdminServices;
use akari_web::pages::{Pages, PagesConfig};
use chromiumoxide::cdp::browser_protocol::web_authn::{
    AddVirtualAuthenticatorParams, AuthenticatorProtocol, AuthenticatorTransport, EnableParams,
    GetCredentialsParams, VirtualAuthenticatorOptions,
};
use chromiumoxide::page::MediaTypeParams;
use common::page::{click_to, fill, japanese_page, shot, text, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_enrols_a_passkey_logs_in_provisions_and_starts_a_drill() {
    let dir = tempfile::tempdir().unwrap();
    let common::AdminNode {
        ledger,
        accounts,
        enrolment_code: code,
    } = common::admin_node();

    let hospital = Hospital::generate(SynthConfig {
        patients: 20,
        ..SynthConfig::default()
    });
    let store =
        akari_sync::Store::open(&dir.path().join("snapshot.redb"), Default::default()).unwrap();
    let sync_config = akari_sync::Config::default();
    let reader = SnapshotReader::open(store.clone(), sync_config.windows).unwrap();
    let source = MemorySource::new(
        hospital
            .resources()
            .map(|r| Change::Upsert(r.json))
            .collect(),
    );
    let engine = Arc::new(
        akari_sync::Engine::new(store, Arc::new(source), sync_config).with_reader(reader.clone()),
    );
    engine.sync_now(true, &CancellationToken::new()).unwrap();
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
    // A platform authenticator that verifies the user (PIN/biometrics) and answers at once.
    page.execute(EnableParams::default()).await.unwrap();
    let options = VirtualAuthenticatorOptions::builder()
        .protocol(AuthenticatorProtocol::Ctap2)
        .transport(AuthenticatorTransport::Internal)
        .has_resident_key(true)
        .has_user_verification(true)
        .is_user_verified(true)
        .automatic_presence_simulation(true)
        .build()
        .unwrap();
    let authenticator = page
        .execute(AddVirtualAuthenticatorParams::new(options))
        .await
        .unwrap()
        .result
        .authenticator_id;

    // 1. Enrol the passkey with the one-time code.
    page.goto(format!("{base}/admin/enrol")).await.unwrap();
    fill(&page, "#admin_id", "it-sato").await;
    fill(&page, "#enrol_code", &code).await;
    shot(&page, "admin-01-enrol").await;
    click_to(&page, "#admin-enrol-submit", "#admin-notice").await;
    let creds = page
        .execute(GetCredentialsParams::new(authenticator.clone()))
        .await
        .unwrap()
        .result
        .credentials;
    assert_eq!(creds.len(), 1, "the authenticator holds the new credential");

    // 2. Log in with password + passkey.
    assert!(text(&page, "#admin-notice")
        .await
        .contains("キーを登録しました"));
    fill(&page, "#admin_id", "it-sato").await;
    fill(&page, "#admin_password", common::ADMIN_PASSWORD).await;
    shot(&page, "admin-02-login").await;
    click_to(&page, "#admin-login-submit", "#current-mode").await;
    assert!(text(&page, "#who").await.contains("it-sato"));
    assert!(text(&page, "#mode-banner").await.contains("待機"));
    shot(&page, "admin-03-status").await;

    // 3. Provision an emergency account: the seal sheet with its credential, once.
    page.goto(format!("{base}/admin/accounts")).await.unwrap();
    fill(&page, "#prov-label", "ER-1").await;
    fill(&page, "#prov-wards", "5階西").await;
    click_to(&page, "#provision-submit", "#seal-credential").await;
    let credential = text(&page, "#seal-credential").await;
    let account_id = text(&page, "#seal-account").await;
    assert!(credential.len() >= 20, "{credential}");
    assert!(account_id.starts_with("EA-"), "{account_id}");
    assert!(text(&page, "#seal-sheet").await.contains("When opening"));
    shot(&page, "admin-04-seal-sheet").await;
    page.emulate_media_type(MediaTypeParams::Print)
        .await
        .unwrap();
    let chrome: String = page
        .evaluate("getComputedStyle(document.querySelector('.chrome')).display")
        .await
        .unwrap()
        .into_value()
        .unwrap();
    assert_eq!(chrome, "none", "the printed sheet is the sheet alone");
    shot(&page, "admin-05-seal-sheet-print").await;
    page.emulate_media_type(MediaTypeParams::Screen)
        .await
        .unwrap();
    // Back to the list: the account is there, its credential is not.
    click_to(&page, "#seal-done", "#accounts").await;
    let html = page.content().await.unwrap();
    assert!(html.contains(&account_id));
    assert!(!html.contains(&credential));

    // 4. Start a drill.
    page.goto(format!("{base}/admin")).await.unwrap();
    fill(&page, "#drill-reason", "夜間停電訓練").await;
    click_to(&page, "#start-drill", "#current-mode[data-mode=\"drill\"]").await;
    assert!(text(&page, "#mode-banner").await.contains("訓練"));
    shot(&page, "admin-06-drill-started").await;
    assert_eq!(accounts.mode().unwrap().mode, Mode::Drill);
    let mut drill_started = false;
    ledger
        .scan(1..=u64::MAX, |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
            if matches!(&e.action, Action::ModeChanged { to: Mode::Drill, reason, .. } if reason == "夜間停電訓練")
                && matches!(&e.actor, akari_accounts::event::Actor::Admin { admin_id } if admin_id == "it-sato")
            {
                drill_started = true;
            }
            Ok(())
        })
        .unwrap();
    assert!(drill_started, "the ledger names the admin and the reason");

    // 5. Log out: the admin pages send back to the login.
    click_to(&page, "#logout", "#admin-login").await;
    page.goto(format!("{base}/admin")).await.unwrap();
    wait_for(&page, "#admin-login").await;
    drop(browser);
}
