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
use std::time::{Duration, Instant};

use akari_accounts::event::{Action, Client, Mode};
use akari_accounts::ledger::{Ledger, LedgerConfig};
use akari_accounts::{Accounts, Console, NewAdmin, Password, SystemClock};
use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::source::Change;
use akari_sync::SnapshotReader;
use akari_testkit::synth::{Hospital, SynthConfig};
use akari_web::pages::admin::AdminServices;
use akari_web::pages::{Pages, PagesConfig};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
use chromiumoxide::cdp::browser_protocol::network::SetUserAgentOverrideParams;
use chromiumoxide::cdp::browser_protocol::web_authn::{
    AddVirtualAuthenticatorParams, AuthenticatorProtocol, AuthenticatorTransport, EnableParams,
    GetCredentialsParams, VirtualAuthenticatorOptions,
};
use chromiumoxide::page::{MediaTypeParams, ScreenshotParams};
use chromiumoxide::Page;

const PASSWORD: &str = "Akari-Admin-2026!";

async fn shot(page: &Page, name: &str) {
    page.save_screenshot(
        ScreenshotParams::builder().full_page(true).build(),
        common::screenshots_dir().join(format!("admin-{name}.png")),
    )
    .await
    .unwrap();
}

async fn wait_for(page: &Page, selector: &str) -> chromiumoxide::Element {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(e) = page.find_element(selector).await {
            return e;
        }
        if let Ok(e) = page.find_element("#admin-error:not([hidden])").await {
            let text = e.inner_text().await.ok().flatten().unwrap_or_default();
            panic!("waiting for {selector}, the page says: {text}");
        }
        assert!(
            Instant::now() < deadline,
            "no {selector} on {:?}",
            page.url().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text(page: &Page, selector: &str) -> String {
    wait_for(page, selector)
        .await
        .inner_text()
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn fill(page: &Page, selector: &str, value: &str) {
    wait_for(page, selector).await.click().await.unwrap();
    page.execute(InsertTextParams::new(value)).await.unwrap();
}

async fn click_to(page: &Page, selector: &str, marker: &str) {
    wait_for(page, selector).await.click().await.unwrap();
    wait_for(page, marker).await;
}

fn memory_db() -> redb::Database {
    redb::Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_enrols_a_passkey_logs_in_provisions_and_starts_a_drill() {
    let dir = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let ledger =
        Arc::new(Ledger::with_database(memory_db(), key, &LedgerConfig::default()).unwrap());
    let config = akari_accounts::Config {
        argon2: akari_accounts::Argon2Config {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        },
        webauthn: akari_accounts::WebauthnConfig {
            rp_id: "localhost".into(),
            rp_origin: "https://localhost".into(),
            rp_name: "Akari test".into(),
            allow_any_port: true,
        },
        ..akari_accounts::Config::default()
    };
    let accounts = Arc::new(
        Accounts::open(memory_db(), config, ledger.clone(), Arc::new(SystemClock)).unwrap(),
    );
    // `akari admin create` at the console: the code is shown once there.
    let ticket = accounts
        .create_admin(
            &Console::new("it"),
            NewAdmin {
                admin_id: "it-sato".into(),
                display_name: "佐藤（情報システム）".into(),
                password: Password::new(PASSWORD),
            },
            &Client::default(),
        )
        .unwrap();
    let code = ticket.code.expose().to_owned();

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
    .with_admin(AdminServices::new(accounts.clone(), engine, ledger.clone()).with_reader(reader));
    let (addr, spki) = common::serve(pages).await;
    let base = format!("https://localhost:{}", addr.port());

    let browser = common::launch_chromium(&spki, &dir.path().join("profile")).await;
    let page = browser.new_page("about:blank").await.unwrap();
    page.execute(SetDeviceMetricsOverrideParams::new(1280, 900, 1.0, false))
        .await
        .unwrap();
    // A Japanese hospital PC: the browser asks for Japanese.
    let ua: String = page
        .evaluate("navigator.userAgent")
        .await
        .unwrap()
        .into_value()
        .unwrap();
    let mut lang = SetUserAgentOverrideParams::new(ua);
    lang.accept_language = Some("ja,en;q=0.5".into());
    page.execute(lang).await.unwrap();
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
    shot(&page, "01-enrol").await;
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
    fill(&page, "#admin_password", PASSWORD).await;
    shot(&page, "02-login").await;
    click_to(&page, "#admin-login-submit", "#current-mode").await;
    assert!(text(&page, "#who").await.contains("it-sato"));
    assert!(text(&page, "#mode-banner").await.contains("待機"));
    shot(&page, "03-status").await;

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
    shot(&page, "04-seal-sheet").await;
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
    shot(&page, "05-seal-sheet-print").await;
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
    shot(&page, "06-drill-started").await;
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
