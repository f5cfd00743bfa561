//! Page tests through the router (no socket): login and rotation, CSRF, fail-closed
//! audit, escaping, language. Browser tests live in the root `tests/browser_*.rs`.

use std::sync::{Arc, Mutex};

use akari_accounts::event::{Action, Client, DeclaredPerson, Mode, Reason};
use akari_sync::model::{Allergy, Criticality, Patient, PatientKey, PatientRecord, Sex};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use tower::ServiceExt;

use super::{Pages, PagesConfig};

mod labels;
mod real_world;
mod search_forms;
mod status_words;
use crate::gate::{ClinicianLogin, Gate, Refusal};
use crate::router::for_pages as router;
use crate::viewer::{Hits, PatientSummary, QueryKind, Snapshot, SnapshotError};
use akari_accounts::ClinicianCapability;

pub const XSS_NAME: &str = "<script>document.title='pwned'</script>山田";
pub const XSS_DOC: &str = "<img src=x onerror=\"document.title='pwned'\">所見";

struct FakeSnapshot {
    records: Vec<PatientRecord>,
}

fn record(key: &str, kanji: &str, kana: &str, allergy: Option<&str>) -> PatientRecord {
    PatientRecord {
        key: PatientKey(key.into()),
        patient: Patient {
            id: format!("pt-{key}"),
            hospital_id: Some(format!("00000{}", key.len())),
            name_kanji: Some(kanji.into()),
            name_kana: Some(kana.into()),
            sex: Sex::Female,
            birth_date: chrono::NaiveDate::from_ymd_opt(1950, 4, 1),
            deceased: None,
        },
        allergies: allergy
            .map(|s| Allergy {
                id: "a1".into(),
                substance: s.into(),
                categories: vec!["medication".into()],
                criticality: Some(Criticality::High),
                clinical_status: Some("active".into()),
                verification_status: Some("confirmed".into()),
                reactions: vec!["アナフィラキシー".into()],
                recorded: None,
                severity: None,
                none_known: false,
            })
            .into_iter()
            .collect(),
        documents: vec![akari_sync::model::Document {
            id: "d1".into(),
            kind: akari_sync::model::DocumentKind::DischargeSummary,
            title: "退院時サマリー".into(),
            date: None,
            text: XSS_DOC.into(),
        }],
        ..PatientRecord::default()
    }
}

impl FakeSnapshot {
    fn new() -> Self {
        FakeSnapshot {
            records: vec![
                record("k-maki", "牧野 爛漫", "マキノ ランマン", Some("ペニシリン")),
                record("k-xss", XSS_NAME, "ヤマダ", None),
            ],
        }
    }
    fn summary(r: &PatientRecord) -> PatientSummary {
        PatientSummary {
            key: r.key.clone(),
            patient: r.patient.clone(),
            ward: Some("5階西".into()),
            room: Some("501".into()),
            bed: Some("1".into()),
            has_allergy: !r.allergies.is_empty(),
            has_infection: false,
        }
    }
}

impl Snapshot for FakeSnapshot {
    fn as_of(&self) -> Option<DateTime<Utc>> {
        Some(Utc::now() - chrono::Duration::minutes(5 * 60 + 1))
    }
    fn patient(&self, key: &PatientKey) -> Result<Option<PatientRecord>, SnapshotError> {
        Ok(self.records.iter().find(|r| &r.key == key).cloned())
    }
    fn search(&self, query: &str, limit: usize) -> Result<Hits, SnapshotError> {
        // Exact substring only: the normalising search is the sync crate's, tested there
        // and through the real reader in the root tests.
        let hits = self
            .records
            .iter()
            .filter(|r| {
                r.patient.name_kana.as_deref().unwrap_or("").contains(query)
                    || r.patient
                        .name_kanji
                        .as_deref()
                        .unwrap_or("")
                        .contains(query)
            })
            .map(Self::summary)
            .collect::<Vec<_>>();
        Ok(Hits {
            kind: QueryKind::Name,
            more: hits.len() > limit,
            patients: hits.into_iter().take(limit).collect(),
        })
    }
    fn wards(&self) -> Result<Vec<String>, SnapshotError> {
        Ok(vec!["5階西".into()])
    }
    fn census(&self, ward: &str) -> Result<Vec<PatientSummary>, SnapshotError> {
        Ok(if ward == "5階西" {
            self.records.iter().map(Self::summary).collect()
        } else {
            vec![]
        })
    }
}

#[derive(Default)]
struct FakeGate {
    declared: Mutex<Vec<DeclaredPerson>>,
    mode: Mutex<Option<Mode>>,
}

impl Gate for FakeGate {
    fn mode(&self) -> Mode {
        self.mode.lock().unwrap().unwrap_or(Mode::Drill)
    }
    fn begin_key_login(
        &self,
        _account_id: &str,
    ) -> Result<Option<crate::gate::KeyChallenge>, Refusal> {
        Ok(None)
    }
    fn emergency_login(
        &self,
        account_id: &str,
        credential: &str,
        _key: Option<crate::gate::KeyAnswer>,
        _client: &Client,
    ) -> Result<ClinicianLogin, Refusal> {
        if !self.mode().allows_emergency_login() {
            return Err(Refusal::Mode);
        }
        if account_id == "ER-1" && credential == "right-credential" {
            Ok(ClinicianLogin {
                account_id: account_id.into(),
                session_id: "acc-session-1".into(),
                token: "token-acc-session-1".into(),
            })
        } else {
            Err(Refusal::BadCredentials)
        }
    }
    fn declare(
        &self,
        login: &ClinicianLogin,
        person: DeclaredPerson,
        _reason: Reason,
        _client: &Client,
    ) -> Result<ClinicianLogin, Refusal> {
        self.declared.lock().unwrap().push(person);
        Ok(ClinicianLogin {
            account_id: login.account_id.clone(),
            session_id: "acc-session-declared".into(),
            token: "token-acc-session-declared".into(),
        })
    }
    /// A declared login (the session identifier `declare` gave) has the capability of the
    /// person declared last; any other is still pending.
    fn check(
        &self,
        login: &ClinicianLogin,
        _client: &Client,
    ) -> Result<Option<ClinicianCapability>, Refusal> {
        if login.session_id != "acc-session-declared" {
            return Ok(None);
        }
        let person = self.declared.lock().unwrap().last().cloned();
        Ok(person.map(|person| {
            akari_accounts::testing::clinician(
                &login.account_id,
                &login.session_id,
                person,
                Reason::Drill,
                self.mode(),
            )
        }))
    }
    fn logout(&self, _login: &ClinicianLogin, _client: &Client) {}
}

use akari_accounts::testing::MemorySink as Sink;

struct App {
    router: Router,
    sink: Arc<Sink>,
    gate: Arc<FakeGate>,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    set_cookie: Option<String>,
    location: Option<String>,
    body: String,
}

impl App {
    fn new() -> Self {
        Self::with_snapshot(Arc::new(FakeSnapshot::new()))
    }

    fn with_snapshot(snapshot: Arc<dyn Snapshot>) -> Self {
        Self::with_config(snapshot, PagesConfig::default())
    }

    fn with_config(snapshot: Arc<dyn Snapshot>, config: PagesConfig) -> Self {
        let sink = Arc::new(Sink::default());
        let gate = Arc::new(FakeGate::default());
        let pages = Pages::new(snapshot, sink.clone(), gate.clone(), config);
        App {
            router: router(pages),
            sink,
            gate,
            cookie: None,
        }
    }

    async fn send(&mut self, req: axum::http::request::Builder, body: Option<String>) -> Page {
        let mut req = req;
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let set_cookie = resp
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned());
        if let Some(sc) = &set_cookie {
            if sc.starts_with("__Host-akari=") {
                self.cookie = Some(sc.split(';').next().unwrap().to_owned());
            }
        }
        let location = resp
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .unwrap();
        Page {
            status,
            set_cookie,
            location,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), None).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(Request::post(path), Some(body)).await
    }

    /// The CSRF token embedded in the last page's forms.
    fn csrf(page: &Page) -> String {
        let at = page
            .body
            .find("name=\"csrf\" value=\"")
            .expect("page has a CSRF field");
        let rest = &page.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    async fn login_and_declare(&mut self) -> String {
        let login = self.get("/login").await;
        let csrf = Self::csrf(&login);
        let r = self
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("account_id", "ER-1"),
                    ("credential", "right-credential"),
                ],
            )
            .await;
        assert_eq!(r.location.as_deref(), Some("/declare"));
        let form = self.get("/declare").await;
        let csrf = Self::csrf(&form);
        let r = self
            .post(
                "/declare",
                &[
                    ("csrf", &csrf),
                    ("name", "看護 花子"),
                    ("staff_number", "N1234"),
                    ("profession", "看護師"),
                    ("department", "5階西"),
                    ("reason", "drill"),
                ],
            )
            .await;
        assert_eq!(r.location.as_deref(), Some("/search"), "{}", r.body);
        let search = self.get("/search").await;
        Self::csrf(&search)
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The fake snapshot is 5 h 1 min old: past the default threshold (1 h) the data-age banner
/// is red and says so in words; with a threshold of 6 h it is the plain banner.
#[tokio::test]
async fn the_data_age_banner_turns_red_past_the_configured_threshold() {
    let mut app = App::new();
    let page = app.get("/login").await;
    assert!(
        page.body.contains(r#"class="data-age stale""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("5時間前"), "{}", page.body);
    assert!(page.body.contains("古いデータです"), "{}", page.body);

    let relaxed = PagesConfig {
        stale_after: std::time::Duration::from_secs(6 * 60 * 60),
        ..PagesConfig::default()
    };
    let mut app = App::with_config(Arc::new(FakeSnapshot::new()), relaxed);
    let page = app.get("/login").await;
    assert!(page.body.contains(r#"class="data-age""#), "{}", page.body);
    assert!(!page.body.contains("古いデータです"), "{}", page.body);
}

#[tokio::test]
async fn session_identifier_changes_at_login_and_cookie_is_strict() {
    let mut app = App::new();
    let login = app.get("/login").await;
    let anon = app
        .cookie
        .clone()
        .expect("login page sets a session cookie");
    let sc = login.set_cookie.clone().unwrap();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(sc.contains(attr), "{sc} lacks {attr}");
    }
    assert!(sc.starts_with("__Host-akari="));
    let csrf = App::csrf(&login);
    let r = app
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("account_id", "ER-1"),
                ("credential", "right-credential"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let after = app.cookie.clone().unwrap();
    assert_ne!(anon, after, "session id must rotate at login");
    // The pre-login identifier no longer names any session.
    app.cookie = Some(anon);
    let r = app.get("/declare").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn posts_without_a_valid_csrf_token_are_refused() {
    let mut app = App::new();
    app.get("/login").await;
    for token in ["", "forged-token"] {
        let r = app
            .post(
                "/login",
                &[
                    ("csrf", token),
                    ("account_id", "ER-1"),
                    ("credential", "right-credential"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.location.is_none());
    }
    let good = app.login_and_declare().await;
    let r = app
        .post("/search", &[("csrf", "nope"), ("q", "マキノ")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.body.contains("牧野"), "no data behind a refused POST");
    let r = app.post("/logout", &[("csrf", "nope")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The real token still works: the session was not disturbed.
    let r = app
        .post("/search", &[("csrf", &good), ("q", "マキノ")])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("牧野 爛漫"));
}

#[tokio::test]
async fn search_then_summary_shows_the_allergy_and_audits_each_read() {
    let mut app = App::new();
    let csrf = app.login_and_declare().await;
    let r = app
        .post("/search", &[("csrf", &csrf), ("q", "マキノ")])
        .await;
    assert!(r.body.contains("牧野 爛漫") && r.body.contains("マキノ ランマン"));
    assert!(r.body.contains("/patients/k-maki"));
    let p = app.get("/patients/k-maki").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("ペニシリン"));
    assert!(p.body.contains("訓練モード"), "drill banner");
    assert!(p.body.contains("データ時点"));
    assert!(p.body.contains("5時間前"));
    assert!(p.body.contains("看護 花子"), "declared person shown");
    let events = app.sink.events();
    assert!(events.iter().any(|e| matches!(
        &e.action,
        Action::PatientSearch { query_kind, results: 1, keys }
            if query_kind == "name" && keys == &["k-maki"]
    )));
    assert!(events
        .iter()
        .any(|e| e.action == Action::PatientRead && e.patient.as_deref() == Some("k-maki")));
    // The query text is nowhere in the audit events.
    let dump = format!("{events:?}");
    assert!(!dump.contains("マキノ"));
    // The accounts session token (a secret) is never audited; its public id is.
    assert!(!dump.contains("token-"));
    assert!(dump.contains("acc-session-declared"));
    assert_eq!(app.gate.declared.lock().unwrap()[0].staff_number, "N1234");
}

/// More namesakes than the page lists: the page says so and how to narrow the search,
/// and the audit entry lists exactly the patients shown.
#[tokio::test]
async fn a_search_with_more_namesakes_than_listed_asks_to_narrow_it() {
    let records = (0..60)
        .map(|i| record(&format!("k-n{i:02}"), "鈴木 一郎", "スズキ イチロウ", None))
        .collect();
    let mut app = App::with_snapshot(Arc::new(FakeSnapshot { records }));
    let csrf = app.login_and_declare().await;
    let r = app
        .post("/search", &[("csrf", &csrf), ("q", "スズキ")])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let notice = r
        .body
        .split_once("id=\"more-results\"")
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map(|(notice, _)| notice)
        .unwrap_or_else(|| panic!("no notice that more patients match: {}", r.body));
    assert!(
        notice.contains("生年月日") && notice.contains("患者ID"),
        "the notice says how to narrow the search: {notice}"
    );
    assert!(r.body.contains("/patients/k-n00"));
    let events = app.sink.events();
    let listed = events
        .iter()
        .find_map(|e| match &e.action {
            Action::PatientSearch { results, keys, .. } => Some((*results, keys.len())),
            _ => None,
        })
        .expect("the search is audited");
    assert_eq!(listed.0 as usize, listed.1);
    assert!(listed.1 < 60, "only the patients shown are audited");
    // Few matches: no such notice.
    let mut app = App::new();
    let csrf = app.login_and_declare().await;
    let r = app
        .post("/search", &[("csrf", &csrf), ("q", "マキノ")])
        .await;
    assert!(r.body.contains("/patients/k-maki"));
    assert!(!r.body.contains("id=\"more-results\""));
}

/// An encrypted snapshot whose key is not in memory.
struct LockedSnapshot;

impl Snapshot for LockedSnapshot {
    fn as_of(&self) -> Option<DateTime<Utc>> {
        Some(Utc::now())
    }
    fn patient(&self, _key: &PatientKey) -> Result<Option<PatientRecord>, SnapshotError> {
        Err(SnapshotError::Locked)
    }
    fn search(&self, _query: &str, _limit: usize) -> Result<Hits, SnapshotError> {
        Err(SnapshotError::Locked)
    }
    fn wards(&self) -> Result<Vec<String>, SnapshotError> {
        Err(SnapshotError::Locked)
    }
    fn census(&self, _ward: &str) -> Result<Vec<PatientSummary>, SnapshotError> {
        Err(SnapshotError::Locked)
    }
}

#[tokio::test]
async fn a_locked_snapshot_gets_a_page_saying_how_to_unlock_it() {
    let mut app = App::with_snapshot(Arc::new(LockedSnapshot));
    // Login and declaration do not read the snapshot.
    let login = app.get("/login").await;
    let csrf = App::csrf(&login);
    app.post(
        "/login",
        &[
            ("csrf", &csrf),
            ("account_id", "ER-1"),
            ("credential", "right-credential"),
        ],
    )
    .await;
    let csrf = App::csrf(&app.get("/declare").await);
    let r = app
        .post(
            "/declare",
            &[
                ("csrf", &csrf),
                ("name", "看護 花子"),
                ("staff_number", "N1234"),
                ("profession", "看護師"),
                ("department", "5階西"),
                ("reason", "drill"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/search"));
    for path in ["/search", "/patients/k-maki", "/wards/5%E9%9A%8E%E8%A5%BF"] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(r.body.contains("ロックされています"), "{path}: {}", r.body);
        assert!(
            r.body.contains("管理者でログイン"),
            "{path}: says what to do"
        );
    }
}

#[tokio::test]
async fn audit_failure_shows_no_patient_data() {
    let mut app = App::new();
    let csrf = app.login_and_declare().await;
    app.sink.fail_records(true);
    for path in [
        "/patients/k-maki",
        "/patients/k-maki/print",
        "/wards/5%E9%9A%8E%E8%A5%BF",
        "/wards/5%E9%9A%8E%E8%A5%BF/print",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(
            !r.body.contains("牧野") && !r.body.contains("ペニシリン"),
            "{path}"
        );
        assert!(r.body.contains("監査記録"), "{path}: explains why");
    }
    let r = app
        .post("/search", &[("csrf", &csrf), ("q", "マキノ")])
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!r.body.contains("牧野"));
}

#[tokio::test]
async fn names_and_documents_are_escaped() {
    let mut app = App::new();
    app.login_and_declare().await;
    let p = app.get("/patients/k-xss").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(!p.body.contains("<script>document"));
    assert!(!p.body.contains("<img src=x"));
    assert!(p
        .body
        .contains("&#60;script&#62;document.title=&#39;pwned&#39;"));
    assert!(p.body.contains("&#60;img src=x onerror=&#34;"));
    let w = app.get("/wards/5%E9%9A%8E%E8%A5%BF").await;
    assert!(!w.body.contains("<script>document"));
    assert!(w.body.contains("牧野 爛漫"));
}

#[tokio::test]
async fn ward_print_has_the_census_then_every_patient_and_audits_it() {
    let mut app = App::new();
    app.login_and_declare().await;
    let r = app.get("/wards/5%E9%9A%8E%E8%A5%BF/print").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.matches("class=\"sheet patient-sheet\"").count(), 2);
    assert!(r.body.find("census-sheet").unwrap() < r.body.find("patient-sheet").unwrap());
    let events = app.sink.events();
    let prints: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.action, Action::WardPrint { .. } | Action::PatientPrint))
        .collect();
    assert_eq!(prints.len(), 1, "one entry for the whole ward: {prints:?}");
    let Action::WardPrint { patients, keys, .. } = &prints[0].action else {
        panic!("{prints:?}")
    };
    assert_eq!(*patients, 2);
    assert_eq!(keys.len(), 2, "every patient printed is listed");
}

#[tokio::test]
async fn clinician_pages_need_a_declared_session_and_a_crisis_mode() {
    let mut app = App::new();
    assert_eq!(
        app.get("/patients/k-maki").await.status,
        StatusCode::FORBIDDEN
    );
    app.login_and_declare().await;
    *app.gate.mode.lock().unwrap() = Some(Mode::Recovery);
    let r = app.get("/patients/k-maki").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.body.contains("牧野"));
    assert!(app
        .sink
        .events()
        .iter()
        .all(|e| e.action != Action::PatientRead));
}

#[tokio::test]
async fn login_is_closed_in_standby_and_wrong_credentials_say_so() {
    let mut app = App::new();
    let page = app.get("/login").await;
    let csrf = App::csrf(&page);
    let r = app
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("account_id", "ER-1"),
                ("credential", "wrong"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("ログインできませんでした"));
    *app.gate.mode.lock().unwrap() = Some(Mode::Standby);
    let page = app.get("/login").await;
    assert!(page.body.contains("待機中"));
    assert!(page.body.contains("id=\"login-closed\""));
}

#[tokio::test]
async fn english_by_accept_language_and_errors_without_internals() {
    let mut app = App::new();
    let r = app
        .send(
            Request::get("/patients/nope").header(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Please log in again"), "{}", r.body);
    let r = app
        .send(
            Request::get("/login").header(header::ACCEPT_LANGUAGE, "en"),
            None,
        )
        .await;
    assert!(r.body.contains("Log in with an emergency account"));
    assert!(r.body.contains("lang=\"en\""));
    app.login_and_declare().await;
    let r = app.get("/patients/no-such-key").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("見つかりません"));
    assert!(
        app.sink.events().iter().any(|e| e.action
            == Action::PatientNotFound {
                key: "no-such-key".into()
            }),
        "a lookup of an unknown key is audited"
    );
}

#[tokio::test]
async fn stylesheet_is_served_from_the_binary() {
    let mut app = App::new();
    let r = app.get("/static/akari.css").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("@media print"));
}

/// A real snapshot (sync engine + reader) of a synthetic hospital from the testkit.
fn real_snapshot(
    patients: u64,
) -> (
    akari_sync::SnapshotReader,
    akari_testkit::synth::Hospital,
    tempfile::TempDir,
) {
    use akari_sync::engine::{CancellationToken, MemorySource};
    use akari_sync::source::Change;
    use akari_testkit::synth::{Hospital, SynthConfig};
    let hospital = Hospital::generate(SynthConfig {
        patients,
        ..SynthConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let store = akari_sync::Store::open(
        &dir.path().join("snapshot.redb"),
        akari_sync::StoreOptions::default(),
    )
    .unwrap();
    let config = akari_sync::Config::default();
    let reader = akari_sync::SnapshotReader::open(store.clone(), config.windows).unwrap();
    let source = MemorySource::new(
        hospital
            .resources()
            .map(|r| Change::Upsert(r.json))
            .collect(),
    );
    let engine =
        akari_sync::Engine::new(store, Arc::new(source), config).with_reader(reader.clone());
    engine.sync_now(true, &CancellationToken::new()).unwrap();
    (reader, hospital, dir)
}

fn to_hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap(),
            c => c,
        })
        .collect()
}

const VARIANTS: &[(char, char)] = &[
    ('髙', '高'),
    ('﨑', '崎'),
    ('邊', '辺'),
    ('邉', '辺'),
    ('齋', '斎'),
    ('齊', '斎'),
    ('澤', '沢'),
    ('濱', '浜'),
];

fn standard_kanji(s: &str) -> String {
    s.chars()
        .map(|c| {
            VARIANTS
                .iter()
                .find(|(v, _)| *v == c)
                .map_or(c, |(_, std)| *std)
        })
        .collect()
}

/// docs/domain.md's normalisation cases, each typed into the search page of a real snapshot,
/// each finding its patient: half-width kana, hiragana, no space, variant kanji.
#[tokio::test]
async fn search_page_finds_patients_however_their_name_is_typed() {
    let (reader, hospital, _dir) = real_snapshot(400);
    let truth = hospital.truth();
    let with_variant = truth
        .values()
        .find(|r| {
            let k = r.patient.name_kanji.as_deref().unwrap_or("");
            VARIANTS.iter().any(|(v, _)| k.contains(*v))
        })
        .expect("the generator makes variant-kanji names");
    let plain = truth.values().next().unwrap();
    let kana = |r: &PatientRecord| r.patient.name_kana.clone().unwrap();
    let kanji = |r: &PatientRecord| r.patient.name_kanji.clone().unwrap();
    let cases: Vec<(&str, String, &PatientRecord)> = vec![
        ("full-width kana", kana(plain), plain),
        (
            "half-width kana",
            akari_testkit::synth::names::to_halfwidth_katakana(&kana(plain)),
            plain,
        ),
        ("hiragana", to_hiragana(&kana(plain)), plain),
        (
            "kana without the space",
            kana(plain).replace(' ', ""),
            plain,
        ),
        (
            "kanji without the space",
            kanji(plain).replace(' ', ""),
            plain,
        ),
        (
            "ideographic space",
            kanji(plain).replace(' ', "\u{3000}"),
            plain,
        ),
        (
            "variant kanji typed as standard",
            standard_kanji(&kanji(with_variant)),
            with_variant,
        ),
        ("variant kanji as stored", kanji(with_variant), with_variant),
        (
            "hospital ID",
            plain.patient.hospital_id.clone().unwrap(),
            plain,
        ),
        (
            "birth date",
            plain
                .patient
                .birth_date
                .unwrap()
                .format("%Y/%m/%d")
                .to_string(),
            plain,
        ),
    ];
    let mut app = App::with_snapshot(Arc::new(reader.clone()));
    let csrf = app.login_and_declare().await;
    for (case, query, want) in cases {
        let key = reader
            .patient_by_hospital_id(want.patient.hospital_id.as_deref().unwrap())
            .unwrap()
            .unwrap()
            .key;
        let r = app.post("/search", &[("csrf", &csrf), ("q", &query)]).await;
        if case == "hospital ID" {
            // One patient with exactly that ID: scan-to-open goes straight to the patient.
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{case}");
            assert_eq!(r.location, Some(format!("/patients/{}", key.0)), "{case}");
            continue;
        }
        assert_eq!(r.status, StatusCode::OK, "{case}");
        assert!(
            r.body.contains(&format!("/patients/{}", key.0)),
            "{case}: query {query:?} did not find its patient"
        );
    }
}

/// Every time on a page is on the configured clock with its abbreviation: a node set to
/// New York shows the data's time in New York, labelled EST or EDT, and nothing in JST.
#[tokio::test]
async fn a_page_shows_times_on_the_configured_clock_with_its_label() {
    let zone: akari_accounts::Zone = "America/New_York".parse().unwrap();
    let snapshot = FakeSnapshot::new();
    // The fake data is always 5 h 1 min old: the shown minute is the one before or after.
    let shows = |body: &str, zone: akari_accounts::Zone, before: DateTime<Utc>| {
        let after = FakeSnapshot::new().as_of().unwrap();
        [before, after]
            .iter()
            .any(|t| body.contains(&zone.minute(t)))
    };
    let as_of = snapshot.as_of().unwrap();
    let config = PagesConfig {
        zone,
        ..PagesConfig::default()
    };
    let mut app = App::with_config(Arc::new(snapshot), config);
    app.login_and_declare().await;
    let p = app.get("/patients/k-maki").await;
    assert_eq!(p.status, StatusCode::OK);
    let shown = zone.minute(&as_of);
    assert!(
        shown.ends_with(" EST") || shown.ends_with(" EDT"),
        "{shown}"
    );
    assert!(shows(&p.body, zone, as_of), "{shown} not in {}", p.body);
    assert!(!p.body.contains(" JST"), "{}", p.body);

    let mut app = App::new();
    app.login_and_declare().await;
    let as_of = FakeSnapshot::new().as_of().unwrap();
    let p = app.get("/patients/k-maki").await;
    let tokyo = akari_accounts::Zone::default();
    assert!(tokyo.minute(&as_of).ends_with(" JST"));
    assert!(shows(&p.body, tokyo, as_of), "{}", p.body);
}
