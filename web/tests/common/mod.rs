//! Shared by the browser tests and the pages benchmark: a real snapshot of a synthetic
//! hospital, a sealed-account gate and an in-memory ledger, and the node's router served
//! over TLS 1.3 on 127.0.0.1:0.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use akari_accounts::event::{AuditError, AuditEvent, AuditReceipt, AuditSink, Client};
use akari_accounts::ledger::{Ledger, LedgerConfig};
use akari_accounts::{
    Accounts, Console, NewAdmin, Password, ProvisionRequest, SystemClock, WardScope,
};
use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::source::Change;
use akari_sync::SnapshotReader;
use akari_testkit::synth::{Hospital, SynthConfig};
use akari_web::pages::Pages;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The real accounts service and audit ledger, in memory: one sealed account provisioned
/// at the console, and a drill declared. Every event also lands in `seen` for assertions.
pub struct Node {
    pub accounts: Arc<Accounts>,
    pub ledger: Arc<Tee>,
    pub account_id: String,
    pub credential: String,
    /// The downtime records (in memory) the clinician pages record into.
    pub downtime: akari_downtime::DowntimeStore,
}

/// Forwards to the ledger (durable, hash-chained) and keeps a copy for the test to read.
pub struct Tee {
    pub ledger: Ledger,
    pub seen: Mutex<Vec<AuditEvent>>,
}

impl AuditSink for Tee {
    fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        let receipt = self.ledger.record(event.clone())?;
        self.seen.lock().unwrap().push(event);
        Ok(receipt)
    }

    fn pseudonym(
        &self,
        kind: akari_accounts::pseudonym::PseudonymKind,
        text: &str,
    ) -> Option<String> {
        self.ledger.pseudonym(kind, text)
    }
}

pub fn memory_db() -> redb::Database {
    redb::Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .unwrap()
}

/// Accounts settings for tests: cheap hashing (these test the pages, not argon2's cost) and
/// WebAuthn for `localhost` at `origin`, any port.
pub fn accounts_config(origin: &str) -> akari_accounts::Config {
    akari_accounts::Config {
        argon2: akari_accounts::Argon2Config {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        },
        webauthn: akari_accounts::WebauthnConfig {
            rp_id: "localhost".into(),
            rp_origin: origin.into(),
            rp_name: "Akari test".into(),
            allow_any_port: true,
        },
        ..akari_accounts::Config::default()
    }
}

pub const ADMIN_PASSWORD: &str = "Akari-Admin-2026!";

/// In-memory ledger and accounts for the admin browser tests, with admin `it-sato` created
/// at the console (`akari admin create`) and its one-time enrolment code.
pub struct AdminNode {
    pub ledger: Arc<Ledger>,
    pub accounts: Arc<Accounts>,
    pub enrolment_code: String,
}

pub fn admin_node() -> AdminNode {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let ledger =
        Arc::new(Ledger::with_database(memory_db(), key, &LedgerConfig::default()).unwrap());
    let accounts = Arc::new(
        Accounts::open(
            memory_db(),
            accounts_config("https://localhost"),
            ledger.clone(),
            Arc::new(SystemClock),
        )
        .unwrap(),
    );
    let ticket = accounts
        .create_admin(
            &Console::new("it"),
            NewAdmin {
                admin_id: "it-sato".into(),
                display_name: "佐藤（情報システム）".into(),
                password: Password::new(ADMIN_PASSWORD),
            },
            &Client::default(),
        )
        .unwrap();
    AdminNode {
        ledger,
        accounts,
        enrolment_code: ticket.code.expose().to_owned(),
    }
}

/// `ledger_file`: where the ledger lives (durable, fsynced); `None` keeps it in memory.
pub fn node(origin: &str, ledger_file: Option<&std::path::Path>) -> Node {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let ledger = match ledger_file {
        Some(path) => Ledger::open(path, key, &LedgerConfig::default()),
        None => Ledger::with_database(memory_db(), key, &LedgerConfig::default()),
    };
    let ledger = Arc::new(Tee {
        ledger: ledger.unwrap(),
        seen: Mutex::new(Vec::new()),
    });
    let accounts = Arc::new(
        Accounts::open(
            memory_db(),
            accounts_config(origin),
            ledger.clone(),
            Arc::new(SystemClock),
        )
        .unwrap(),
    );
    let console = Console::new("browser-test").capability();
    let sheet = accounts
        .provision(
            &console,
            ProvisionRequest {
                label: "ER-7".into(),
                ward_scope: WardScope::All,
                expires_at: None,
            },
            &Client::default(),
        )
        .unwrap();
    accounts
        .start_drill(&console, "browser test drill", &Client::default())
        .unwrap();
    Node {
        accounts,
        ledger,
        account_id: sheet.account_id.clone(),
        credential: sheet.credential().expose().to_owned(),
        downtime: akari_downtime::DowntimeStore::with_database(
            memory_db(),
            Arc::new(akari_downtime::Plain),
        )
        .unwrap(),
    }
}

pub fn snapshot(dir: &std::path::Path, patients: u64) -> (SnapshotReader, Hospital) {
    let hospital = Hospital::generate(SynthConfig {
        patients,
        xss: true,
        ..SynthConfig::default()
    });
    let store = akari_sync::Store::open(&dir.join("snapshot.redb"), Default::default()).unwrap();
    let config = akari_sync::Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let source = MemorySource::new(
        hospital
            .resources()
            .map(|r| Change::Upsert(r.json))
            .collect(),
    );
    akari_sync::Engine::new(store, Arc::new(source), config)
        .with_reader(reader.clone())
        .sync_now(true, &CancellationToken::new())
        .unwrap();
    (reader, hospital)
}

/// Serves the viewer's pages over TLS on 127.0.0.1:0. Returns the address and the SPKI
/// hash of the generated certificate (so Chromium trusts exactly that key).
pub async fn serve(pages: Pages) -> (SocketAddr, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let spki = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let pem = key.public_key_pem();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let spki_der = b64.decode(body).unwrap();
        b64.encode(Sha256::digest(spki_der))
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = rustls::ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let app: axum::Router = akari_web::router::for_pages(pages);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().oneshot(req.map(axum::body::Body::new))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, spki)
}

/// Debian's headless Chromium (or `AKARI_CHROMIUM`), trusting exactly the test server's
/// key (`spki`: base64 SHA-256 of its SubjectPublicKeyInfo), not every certificate.
pub async fn launch_chromium(
    spki: &str,
    profile: &std::path::Path,
) -> chromiumoxide::browser::Browser {
    use chromiumoxide::browser::{Browser, BrowserConfig};
    use futures_util::StreamExt;
    let exe = std::env::var("AKARI_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&exe).is_file(),
        "Chromium is not installed at {exe}: run `scripts/test` (it installs what the tests \
         need), or `apt-get install chromium fonts-noto-cjk`, or set AKARI_CHROMIUM"
    );
    let config = BrowserConfig::builder()
        .chrome_executable(&exe)
        .disable_default_args()
        .no_sandbox()
        .user_data_dir(profile)
        .window_size(1280, 900)
        .args([
            "--disable-gpu".to_string(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--lang=ja".into(),
            format!("--ignore-certificate-errors-spki-list={spki}"),
        ])
        .build()
        .unwrap();
    let (browser, mut handler) = Browser::launch(config)
        .await
        .unwrap_or_else(|e| panic!("cannot start Chromium ({exe}): {e}"));
    tokio::spawn(async move { while handler.next().await.is_some() {} });
    browser
}

/// A clinician's Chromium on a node serving `reader`'s snapshot with the default pages:
/// the node (its ledger and sealed account), the site's address, the browser (kept alive
/// for the page) and a blank page that asks for Japanese.
pub struct Site {
    pub node: Node,
    pub base: String,
    pub browser: chromiumoxide::browser::Browser,
    pub page: chromiumoxide::Page,
}

/// Serves `reader` over TLS and opens Chromium with its profile under `dir`.
pub async fn clinician_site(reader: &SnapshotReader, dir: &std::path::Path) -> Site {
    let node = node("https://localhost", None);
    let pages = Pages::new(
        Arc::new(reader.clone()),
        node.ledger.clone(),
        node.accounts.clone(),
        akari_web::pages::PagesConfig::default(),
    )
    .with_downtime(node.downtime.clone());
    let (addr, spki) = serve(pages).await;
    let base = format!("https://localhost:{}", addr.port());
    let browser = launch_chromium(&spki, &dir.join("profile")).await;
    let page = page::japanese_page(&browser).await;
    Site {
        node,
        base,
        browser,
        page,
    }
}

/// Logs in with `node`'s sealed account and declares 灯 花子, a nurse of `department`;
/// returns on the search page.
pub async fn log_in_and_declare(
    page: &chromiumoxide::Page,
    base: &str,
    node: &Node,
    department: &str,
) {
    use page::{click_to, fill, wait_for};
    page.goto(format!("{base}/login")).await.unwrap();
    wait_for(page, "#account_id").await;
    fill(page, "#account_id", &node.account_id).await;
    fill(page, "#credential", &node.credential).await;
    click_to(page, "#login-submit", "#decl-name").await;
    fill(page, "#decl-name", "灯 花子").await;
    fill(page, "#decl-staff", "N-20931").await;
    fill(page, "#decl-profession", "看護師").await;
    fill(page, "#decl-department", department).await;
    click_to(page, "#declare-submit", "#q").await;
}

/// `target/screenshots/`, created if missing.
pub fn screenshots_dir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// PDFs fetched in a logged-in page and read back as text.
pub mod pdf {
    use std::path::Path;

    use chromiumoxide::Page;

    pub async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
        page.evaluate(js).await.unwrap().into_value().unwrap()
    }

    /// The text of each page of `pdf`, read by poppler's `pdftotext`.
    pub fn pages_of(pdf: &[u8], dir: &Path, name: &str) -> Vec<String> {
        let path = dir.join(format!("{name}.pdf"));
        std::fs::write(&path, pdf).unwrap();
        std::fs::write(super::screenshots_dir().join(format!("{name}.pdf")), pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .args(["-layout", "-enc", "UTF-8"])
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils) is installed: scripts/test installs it");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        // pdftotext ends every page with a form feed.
        let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
        if pages.last().is_some_and(|p| p.trim().is_empty()) {
            pages.pop();
        }
        pages
    }

    /// Fetches `path` in the logged-in page (its cookie, its origin) and returns the bytes
    /// and the content type.
    pub async fn fetch(page: &Page, path: &str) -> (Vec<u8>, String) {
        use base64::Engine;
        let js = format!(
            "(async () => {{ const r = await fetch({}); const b = new Uint8Array(await r.arrayBuffer()); \
             let s = ''; for (let i = 0; i < b.length; i += 8192) {{ s += String.fromCharCode.apply(null, b.subarray(i, i + 8192)); }} \
             return [btoa(s), r.headers.get('content-type') || '', String(r.status)]; }})()",
            serde_json::to_string(path).unwrap()
        );
        let [body, ty, status]: [String; 3] = eval(page, &js).await;
        assert_eq!(status, "200", "{path}");
        (
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap(),
            ty,
        )
    }
}

/// Steps in a Chromium page shared by the browser tests.
pub mod page {
    use std::time::Duration;

    use akari_testkit::poll::poll_until_async;
    use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
    use chromiumoxide::page::ScreenshotParams;
    use chromiumoxide::Page;

    /// A blank 1280×900 page in `browser` whose requests ask for Japanese, as on a
    /// Japanese hospital PC.
    pub async fn japanese_page(browser: &chromiumoxide::browser::Browser) -> Page {
        use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
        use chromiumoxide::cdp::browser_protocol::network::SetUserAgentOverrideParams;
        let page = browser.new_page("about:blank").await.unwrap();
        page.execute(SetDeviceMetricsOverrideParams::new(1280, 900, 1.0, false))
            .await
            .unwrap();
        let ua: String = page
            .evaluate("navigator.userAgent")
            .await
            .unwrap()
            .into_value()
            .unwrap();
        let mut lang = SetUserAgentOverrideParams::new(ua);
        lang.accept_language = Some("ja,en;q=0.5".into());
        page.execute(lang).await.unwrap();
        page
    }

    /// A full-page screenshot as `target/screenshots/<name>.png`.
    pub async fn shot(page: &Page, name: &str) {
        page.save_screenshot(
            ScreenshotParams::builder().full_page(true).build(),
            super::screenshots_dir().join(format!("{name}.png")),
        )
        .await
        .unwrap();
    }

    /// Polls until `selector` exists (bounded; the page may be loading after a navigation);
    /// fails early if the admin script shows an error.
    pub async fn wait_for(page: &Page, selector: &str) -> chromiumoxide::Element {
        let what = format!("{selector} on the page");
        poll_until_async(&what, Duration::from_secs(30), || async {
            if let Ok(e) = page.find_element(selector).await {
                return Ok(e);
            }
            if let Ok(e) = page.find_element("#admin-error:not([hidden])").await {
                let text = e.inner_text().await.ok().flatten().unwrap_or_default();
                panic!("waiting for {selector}, the page says: {text}");
            }
            Err(page.url().await.ok().flatten())
        })
        .await
    }

    pub async fn text(page: &Page, selector: &str) -> String {
        wait_for(page, selector)
            .await
            .inner_text()
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Focuses a field and enters text the way an IME commits it (kana, kanji, ASCII).
    pub async fn fill(page: &Page, selector: &str, value: &str) {
        wait_for(page, selector).await.click().await.unwrap();
        page.execute(InsertTextParams::new(value)).await.unwrap();
    }

    /// Clicks and waits for the next page to carry `marker`.
    pub async fn click_to(page: &Page, selector: &str, marker: &str) {
        wait_for(page, selector).await.click().await.unwrap();
        wait_for(page, marker).await;
        wait_loaded(page).await;
    }

    /// Polls until the current document has loaded: its scripts have run, so its
    /// buttons do what they say (an element can exist before the script that wires it).
    pub async fn wait_loaded(page: &Page) {
        poll_until_async("the page loaded", Duration::from_secs(30), || async {
            match page.evaluate("document.readyState").await {
                Ok(v) => match v.into_value::<String>() {
                    Ok(state) if state == "complete" => Ok(()),
                    Ok(state) => Err(state),
                    Err(e) => Err(e.to_string()),
                },
                // A navigation in progress: the old context is gone, ask again.
                Err(e) => Err(e.to_string()),
            }
        })
        .await
    }

    /// Polls until `expression` evaluates to `true` in the page.
    pub async fn wait_until(page: &Page, expression: &str) {
        poll_until_async(expression, Duration::from_secs(30), || async {
            match page
                .evaluate(expression)
                .await
                .map(|v| v.into_value::<bool>())
            {
                Ok(Ok(true)) => Ok(()),
                Ok(_) => Err("not yet".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
    }
}
