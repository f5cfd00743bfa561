//! A whole node for page tests through the router (no socket): the real accounts service,
//! audit ledger, sync engine and a snapshot of a small synthetic hospital, a browser with a
//! cookie jar, software WebAuthn tokens, and the steps that log an admin or a clinician in.

use std::sync::Arc;

use akari_accounts::event::{Client, Mode};
use akari_accounts::ledger::{Ledger, LedgerConfig, LedgerEntry, LedgerError};
use akari_accounts::{
    Accounts, Argon2Config, Console, CreationChallengeResponse, NewAdmin, Password,
    ProvisionRequest, RequestChallengeResponse, SystemClock, WardScope, WebauthnConfig,
};
use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::source::Change;
use akari_sync::SnapshotReader;
use akari_testkit::synth::{Hospital, SynthConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_rs::prelude::Url;

use crate::pages::admin::AdminServices;
use crate::pages::{Pages, PagesConfig};
use crate::router::for_pages as router;

pub(crate) const ORIGIN: &str = "https://akari.test";
pub(crate) const PASSWORD: &str = "Correct-Horse-42!";

pub(crate) fn memory_db() -> redb::Database {
    redb::Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .unwrap()
}

pub(crate) struct Node {
    pub(crate) router: Router,
    /// The pages behind the router (their browser session table).
    pub(crate) pages: Pages,
    pub(crate) accounts: Arc<Accounts>,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) engine: Arc<akari_sync::Engine>,
    /// What the next sync pulls (replace it to change the source).
    pub(crate) source: MemorySource,
    /// The snapshot as the clinician pages read it (for expectations, not through audit).
    pub(crate) reader: SnapshotReader,
    /// The downtime records the pages record into.
    pub(crate) downtime: akari_downtime::DowntimeStore,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) fn node() -> Node {
    node_of(12)
}

/// A node whose synthetic hospital has `patients` patients (enough fill several wards).
pub(crate) fn node_of(patients: u64) -> Node {
    build_node(patients, PagesConfig::default())
}

/// The default node with these page settings.
pub(crate) fn node_with_config(config: PagesConfig) -> Node {
    build_node(12, config)
}

fn build_node(patients: u64, pages_config: PagesConfig) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    // No timed checkpoint during a test: tests may count the ledger's commits.
    let ledger_config = LedgerConfig {
        checkpoint_every_secs: 3600,
        ..LedgerConfig::default()
    };
    let ledger = Arc::new(Ledger::with_database(memory_db(), key, &ledger_config).unwrap());
    let config = akari_accounts::Config {
        argon2: Argon2Config {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        },
        webauthn: WebauthnConfig {
            rp_id: "akari.test".into(),
            rp_origin: ORIGIN.into(),
            rp_name: "Akari test".into(),
            allow_any_port: false,
        },
        ..akari_accounts::Config::default()
    };
    let accounts = Arc::new(
        Accounts::open(memory_db(), config, ledger.clone(), Arc::new(SystemClock)).unwrap(),
    );
    let hospital = Hospital::generate(SynthConfig {
        patients,
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
        akari_sync::Engine::new(store, Arc::new(source.clone()), sync_config)
            .with_reader(reader.clone()),
    );
    engine.sync_now(true, &CancellationToken::new()).unwrap();
    let pages = Pages::new(
        Arc::new(reader.clone()),
        ledger.clone(),
        accounts.clone(),
        pages_config,
    )
    .with_admin(AdminServices::new(
        accounts.clone(),
        engine.control(),
        ledger.clone(),
    ));
    let downtime =
        akari_downtime::DowntimeStore::with_database(memory_db(), Arc::new(akari_downtime::Plain))
            .unwrap();
    let pages = pages.with_downtime(downtime.clone());
    Node {
        router: router(pages.clone()),
        pages,
        accounts,
        ledger,
        engine,
        source,
        reader,
        downtime,
        _dir: dir,
    }
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) set_cookie: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) content_type: String,
    pub(crate) disposition: Option<String>,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: String,
    /// The body as sent (a PDF's bytes).
    pub(crate) bytes: Vec<u8>,
}

impl Page {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The CSRF token embedded in the page's forms.
    pub(crate) fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.body));
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// One browser: a cookie jar of one cookie.
pub(crate) struct Browser {
    pub(crate) router: Router,
    pub(crate) cookie: Option<String>,
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Browser {
    pub(crate) fn new(node: &Node) -> Self {
        Browser {
            router: node.router.clone(),
            cookie: None,
        }
    }

    pub(crate) async fn send(&mut self, req: axum::http::request::Builder, body: Body) -> Page {
        let mut req = req;
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let h = resp.headers();
        let get = |name| {
            h.get(name)
                .map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let set_cookie = get(header::SET_COOKIE);
        let location = get(header::LOCATION);
        let content_type = get(header::CONTENT_TYPE).unwrap_or_default();
        let disposition = get(header::CONTENT_DISPOSITION);
        let retry_after = get(header::RETRY_AFTER);
        if let Some(sc) = &set_cookie {
            if let Some(pair) = sc.strip_prefix("__Host-akari=") {
                let value = pair.split(';').next().unwrap();
                self.cookie = (!value.is_empty()).then(|| format!("__Host-akari={value}"));
            }
        }
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        // Text pages must be UTF-8; a PDF or a zip archive is kept as bytes only.
        let body = if content_type == "application/pdf" || content_type == "application/zip" {
            String::new()
        } else {
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        Page {
            status,
            set_cookie,
            location,
            content_type,
            disposition,
            retry_after,
            body,
            bytes: bytes.to_vec(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), Body::empty()).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
            Body::from(body),
        )
        .await
    }

    /// Changes the mode from the admin page: `action` is `drill`, `declare`, `end` or
    /// `standby`.
    /// Change the node's mode as an admin does on the status page (ending an episode
    /// with its confirmation box ticked).
    pub(crate) async fn change_mode(&mut self, csrf: &str, action: &str, reason: &str) -> Page {
        self.post(
            "/admin/mode",
            &[
                ("csrf", csrf),
                ("action", action),
                ("reason", reason),
                ("confirm", "yes"),
            ],
        )
        .await
    }

    pub(crate) async fn post_json(
        &mut self,
        path: &str,
        csrf: Option<&str>,
        body: serde_json::Value,
    ) -> Page {
        let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        self.send(req, Body::from(body.to_string())).await
    }
}

pub(crate) fn token() -> SoftToken {
    SoftToken::new(true).unwrap().0
}

/// `akari admin create` at the console: the one-time enrolment code.
pub(crate) fn create_admin(node: &Node, admin_id: &str) -> String {
    let ticket = node
        .accounts
        .create_admin(
            &Console::new("it"),
            NewAdmin {
                admin_id: admin_id.into(),
                display_name: "IT Admin".into(),
                password: Password::new(PASSWORD),
            },
            &Client::default(),
        )
        .unwrap();
    ticket.code.expose().to_owned()
}

/// Enrols `key` through the enrolment page with the console's code.
pub(crate) async fn enrol(b: &mut Browser, admin_id: &str, code: &str, key: &mut SoftToken) {
    let form = b.get("/admin/enrol").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    let begin = b
        .post_json(
            "/admin/enrol/begin",
            Some(&csrf),
            serde_json::json!({ "admin_id": admin_id, "code": code }),
        )
        .await;
    assert_eq!(begin.status, StatusCode::OK, "{}", begin.body);
    let j = begin.json();
    let options: CreationChallengeResponse = serde_json::from_value(j["options"].clone()).unwrap();
    let response = key
        .perform_register(Url::parse(ORIGIN).unwrap(), options.public_key, 60_000)
        .unwrap();
    let finish = b
        .post_json(
            "/admin/enrol/finish",
            Some(&csrf),
            serde_json::json!({ "ceremony_id": j["ceremony_id"], "response": response }),
        )
        .await;
    assert_eq!(finish.status, StatusCode::OK, "{}", finish.body);
    assert_eq!(finish.json()["redirect"], "/admin/login?enrolled=1");
}

/// Password + WebAuthn assertion through the login page. Returns the finish response.
pub(crate) async fn login(
    b: &mut Browser,
    admin_id: &str,
    password: &str,
    key: &mut SoftToken,
) -> Page {
    let form = b.get("/admin/login").await;
    let csrf = form.csrf();
    let begin = b
        .post_json(
            "/admin/login/begin",
            Some(&csrf),
            serde_json::json!({ "admin_id": admin_id }),
        )
        .await;
    assert_eq!(begin.status, StatusCode::OK, "{}", begin.body);
    let j = begin.json();
    let options: RequestChallengeResponse = serde_json::from_value(j["options"].clone()).unwrap();
    let response = key
        .perform_auth(Url::parse(ORIGIN).unwrap(), options.public_key, 60_000)
        .unwrap();
    b.post_json(
        "/admin/login/finish",
        Some(&csrf),
        serde_json::json!({
            "admin_id": admin_id,
            "password": password,
            "ceremony_id": j["ceremony_id"],
            "response": response,
        }),
    )
    .await
}

/// A logged-in admin browser.
pub(crate) async fn admin(node: &Node) -> Browser {
    let code = create_admin(node, "alice");
    let mut key = token();
    let mut b = Browser::new(node);
    enrol(&mut b, "alice", &code, &mut key).await;
    let done = login(&mut b, "alice", PASSWORD, &mut key).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    b
}

/// The entries appended after sequence number `after`.
pub(crate) fn entries_after(node: &Node, after: u64) -> Vec<LedgerEntry> {
    let mut out = Vec::new();
    node.ledger
        .scan(after + 1..=u64::MAX, |e, _| -> Result<(), LedgerError> {
            out.push(e);
            Ok(())
        })
        .unwrap();
    out
}

pub(crate) fn mode(node: &Node) -> Mode {
    node.accounts.mode().unwrap().mode
}

/// A sealed account provisioned at the console: (account ID, credential).
pub(crate) fn console_account(node: &Node) -> (String, String) {
    scoped_account(node, WardScope::All)
}

/// A sealed account provisioned at the console, then a drill started: (account ID,
/// credential).
pub(crate) fn drill_account(node: &Node) -> (String, String) {
    let account = console_account(node);
    node.accounts
        .start_drill(
            &Console::new("it").capability(),
            "drill",
            &Client::default(),
        )
        .unwrap();
    assert_eq!(mode(node), Mode::Drill);
    account
}

/// A sealed account for the wards of `scope`, provisioned at the console: (account ID,
/// credential).
pub(crate) fn scoped_account(node: &Node, scope: WardScope) -> (String, String) {
    let sheet = node
        .accounts
        .provision(
            &Console::new("it").capability(),
            ProvisionRequest {
                label: "ER-1".into(),
                ward_scope: scope,
                expires_at: None,
            },
            &Client::default(),
        )
        .unwrap();
    (
        sheet.account_id.clone(),
        sheet.credential().expose().to_owned(),
    )
}

/// Declares the logged-in clinician (a drill) and lands on the search page.
pub(crate) async fn declare(b: &mut Browser) {
    let csrf = b.get("/declare").await.csrf();
    let r = b
        .post(
            "/declare",
            &[
                ("csrf", &csrf),
                ("name", "灯 花子"),
                ("staff_number", "N-1"),
                ("profession", "看護師"),
                ("department", "5階西"),
                ("reason", "drill"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/search"), "{}", r.body);
}

/// A clinician browser logged in with a sealed account and declared.
pub(crate) async fn clinician(node: &Node, account_id: &str, credential: &str) -> Browser {
    let mut b = Browser::new(node);
    let csrf = b.get("/login").await.csrf();
    let r = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("account_id", account_id),
                ("credential", credential),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/declare"), "{}", r.body);
    declare(&mut b).await;
    b
}

pub(crate) fn seal_credential(body: &str) -> String {
    let at = body.find("id=\"seal-credential\">").expect("a seal sheet") + 21;
    body[at..at + body[at..].find('<').unwrap()].to_owned()
}

/// A declared clinician in a drill, on `node`.
pub(crate) async fn drill_clinician(node: &Node) -> Browser {
    let (account_id, credential) = console_account(node);
    let console = Console::new("it").capability();
    node.accounts
        .start_drill(&console, "drill", &Client::default())
        .unwrap();
    assert_eq!(mode(node), Mode::Drill);
    clinician(node, &account_id, &credential).await
}

/// The ward with the most current inpatients, and their keys in census order.
pub(crate) fn busiest_ward(node: &Node) -> (String, Vec<String>) {
    node.reader
        .census()
        .unwrap()
        .into_iter()
        .max_by_key(|w| w.beds.len())
        .map(|w| {
            let keys = w.beds.iter().map(|b| b.patient.key.0.clone()).collect();
            (w.ward, keys)
        })
        .expect("the synthetic hospital has inpatients")
}
