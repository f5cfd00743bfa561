//! The whole drill as one story, over HTTPS against a node running in this process (real
//! TLS, the node's own self-signed certificate as the only trusted root, a cookie store):
//!
//! standby sync from the testkit FHIR server → start a drill at the console → sealed login
//! and declaration → search with half-width kana, the patient page shows the allergy, a
//! ward printed → end the drill → the account is retired and refused in the next drill →
//! re-seal → old credential refused, new one accepted → ledger export → offline verification
//! (and a tampered copy fails) → review: episodes and sessions listed, a verdict recorded
//! as a ledger entry → report.
//!
//! Small on purpose (50 patients, cheap argon2 parameters from the configuration) so it
//! stays well under a minute in CI.

#[path = "drill_common/web.rs"]
mod web;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use akari::config::{self, FlagOverride, Sources};
use akari::console::{self, ModeChange, Request};
use akari::datadir::DataDir;
use akari::{Listeners, Services};
use akari_accounts::event::{Action, Actor};
use akari_accounts::review::{self, Verdict};
use akari_accounts::{Console, SealStatus};
use akari_sync::model::PatientRecord;
use akari_testkit::poll::poll_until_async;
use akari_testkit::server::{FhirServer, ServerOptions};
use akari_testkit::synth::names::to_halfwidth_katakana;
use akari_testkit::synth::{Hospital, SynthConfig};
use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use web::{sheet_field, Page, Web};

const PATIENTS: u64 = 50;

/// The node's settings for the test: the FHIR test server as source, cheap hashing,
/// no metrics listener.
fn sources(data_dir: &Path, fhir_base: &str) -> Sources {
    let flag = |key: &'static str, value: toml::Value| FlagOverride {
        key,
        value,
        flag: "(drill test)",
    };
    let int = toml::Value::Integer;
    Sources {
        data_dir: data_dir.to_path_buf(),
        file: None,
        env: Vec::new(),
        flags: vec![
            flag("metrics.enabled", toml::Value::Boolean(false)),
            flag(
                "sync.source.base_url",
                toml::Value::String(fhir_base.into()),
            ),
            flag("accounts.argon2.memory_kib", int(256)),
            flag("accounts.argon2.iterations", int(1)),
            flag("accounts.argon2.parallelism", int(1)),
        ],
    }
}

/// A node in this process, on 127.0.0.1:0, with its services.
struct Running {
    node: Option<akari::Node>,
    services: Arc<Services>,
    shutdown: CancellationToken,
    web: Web,
    console: Console,
    /// Printed once by `akari init`; opens the encrypted snapshot's key for the console.
    recovery_key: akari::Secret,
}

impl Running {
    async fn start(data_dir: &Path, fhir_base: &str) -> Running {
        let sources = sources(data_dir, fhir_base);
        let config = config::load(&sources).unwrap();
        let init_config = config.clone();
        let init = tokio::task::spawn_blocking(move || {
            akari::services::init_node(&init_config, "drill-test")
        })
        .await
        .unwrap()
        .expect("akari init");
        let recovery_key = akari::Secret::new(
            init.recovery_key
                .expect("a new node gets a snapshot key and a recovery key")
                .to_string(),
        );
        let shutdown = CancellationToken::new();
        let node = akari::start(
            config,
            Listeners {
                https: TcpListener::bind("127.0.0.1:0").await.unwrap(),
                metrics: None,
                http_redirect: None,
            },
            shutdown.clone(),
        )
        .await
        .expect("the node starts");
        let cert = CertificateDer::from_pem_file(data_dir.join("tls/cert.pem")).unwrap();
        Running {
            web: Web::new(&cert, node.https_addr),
            services: node.services.clone(),
            node: Some(node),
            shutdown,
            console: Console::new("drill-test"),
            recovery_key,
        }
    }

    /// A console command, as `akari …` on the node runs it; must succeed.
    async fn console(&self, request: Request) -> String {
        let name = request.name();
        let response =
            console::execute_async(self.services.clone(), self.console.clone(), request).await;
        assert!(
            response.ok,
            "`{name}` failed: {}",
            response.error.unwrap_or_default()
        );
        response.output
    }

    async fn mode(&self, change: ModeChange, reason: &str) -> String {
        self.console(Request::Mode {
            change,
            reason: reason.into(),
        })
        .await
    }

    /// Provisions (or re-seals) an account at the console; returns its ID and credential
    /// as printed on the seal sheet.
    async fn seal_sheet(&self, request: Request) -> (String, String) {
        let sheet = self.console(request).await;
        (
            sheet_field(&sheet, "Account ID"),
            sheet_field(&sheet, "Credential"),
        )
    }

    async fn account_status(&self, account_id: &str) -> SealStatus {
        let services = self.services.clone();
        let cap = self.console.capability();
        let id = account_id.to_owned();
        tokio::task::spawn_blocking(move || services.accounts.account(&cap, &id))
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        self.node.take().unwrap().wait().await.unwrap();
    }
}

/// Polls `/healthz` until `done` holds for it (the status is pushed right after a change,
/// but served from a watch channel); returns the status that satisfied it.
async fn health_until(
    web: &Web,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    poll_until_async(what, Duration::from_secs(60), || async {
        let page = web.get("/healthz").await;
        match serde_json::from_str::<serde_json::Value>(&page.body) {
            Ok(health) if page.status == StatusCode::OK && done(&health) => Ok(health),
            _ => Err(format!("{}: {}", page.status, page.body)),
        }
    })
    .await
}

/// Logs in through the form; returns the page the browser lands on.
async fn login(web: &Web, account_id: &str, credential: &str) -> Page {
    let form = web.get("/login").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    web.post(
        "/login",
        &[
            ("csrf", csrf.as_str()),
            ("account_id", account_id),
            ("credential", credential),
        ],
    )
    .await
}

async fn declare(web: &Web, declare_page: &Page) -> Page {
    let csrf = declare_page.csrf();
    web.post(
        "/declare",
        &[
            ("csrf", csrf.as_str()),
            ("name", "灯 花子"),
            ("staff_number", "N-20931"),
            ("profession", "看護師"),
            ("department", "救急外来"),
            ("reason", "drill"),
        ],
    )
    .await
}

async fn logout(web: &Web, page: &Page) -> Page {
    let csrf = page.csrf();
    web.post("/logout", &[("csrf", csrf.as_str())]).await
}

/// A patient with an active allergy and a kana name, from the generator's truth.
fn patient_with_allergy(hospital: &Hospital) -> (PatientRecord, String) {
    hospital
        .truth()
        .into_values()
        .find_map(|r| {
            let substance = r
                .allergies
                .iter()
                .find(|a| a.clinical_status.as_deref() == Some("active"))?
                .substance
                .clone();
            r.patient.name_kana.as_ref()?;
            Some((r, substance))
        })
        .expect("the synthetic hospital has patients with active allergies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_drill_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir: PathBuf = dir.path().join("data");
    let hospital = Hospital::generate(SynthConfig {
        patients: PATIENTS,
        ..SynthConfig::default()
    });
    let resources: Vec<_> = hospital.resources().collect();
    let fhir = tokio::task::spawn_blocking(move || {
        FhirServer::with_resources(ServerOptions::default(), resources)
    })
    .await
    .unwrap();
    let node = Running::start(&data_dir, &fhir.base_url()).await;
    let web = &node.web;

    // ---- Standby: the scheduler's first sync pulls the hospital from the FHIR server.
    let health = health_until(web, "the standby sync", |h| {
        h["snapshot"]["state"] == "current"
    })
    .await;
    assert_eq!(health["mode"], "standby", "{health}");
    let generation = node.services.reader.generation().unwrap();
    assert_eq!(generation.patients(), PATIENTS);
    assert!(
        node.services.reader.is_locked(),
        "the snapshot is encrypted at rest and locked in standby"
    );
    assert!(
        fhir.requests()
            .iter()
            .any(|r| r.path.contains("/fhir/Patient")),
        "the node pulled from the FHIR source"
    );
    let closed = web.get("/login").await;
    assert!(
        closed.has("Emergency accounts work only in emergency or drill mode"),
        "standby: the login form is closed"
    );

    // ---- The console provisions sealed accounts; logins are refused in standby.
    let (account, credential) = node
        .seal_sheet(Request::AccountProvision {
            label: "ER-1".into(),
            wards: Vec::new(),
            expires_at: None,
            recovery_key: Some(node.recovery_key.clone()),
        })
        .await;
    assert!(credential.len() >= 20, "a long random credential");
    assert_eq!(node.account_status(&account).await, SealStatus::Sealed);
    let anon = web.get("/login").await;
    assert!(
        anon.text_of("login-closed").is_some() && !anon.body.contains("name=\"credential\""),
        "standby: the sealed account cannot log in (no login form)"
    );

    // ---- Start the drill at the console (the CLI's control path).
    let out = node.mode(ModeChange::StartDrill, "quarterly drill").await;
    assert!(out.contains("mode is now drill"), "{out}");
    health_until(web, "the drill mode", |h| h["mode"] == "drill").await;

    // ---- Sealed login, then the declaration of the real person.
    let declare_page = login(web, &account, &credential).await;
    assert_eq!(declare_page.location.as_deref(), Some("/declare"));
    assert!(declare_page.has("DRILL"), "the banner says DRILL");
    assert_eq!(node.account_status(&account).await, SealStatus::Opened);
    assert!(
        !node.services.reader.is_locked(),
        "the sealed login unlocked the snapshot"
    );
    let search_page = declare(web, &declare_page).await;
    assert_eq!(search_page.location.as_deref(), Some("/search"));
    let who = search_page.text_of("who").unwrap();
    assert!(who.contains(&account) && who.contains("灯 花子"), "{who}");

    // ---- Search with half-width kana; the patient page shows the allergy.
    let (patient, substance) = patient_with_allergy(&hospital);
    let hospital_id = patient.patient.hospital_id.clone().unwrap();
    let kana = to_halfwidth_katakana(patient.patient.name_kana.as_deref().unwrap());
    let results = web
        .post(
            "/search",
            &[("csrf", search_page.csrf().as_str()), ("q", kana.as_str())],
        )
        .await;
    assert_eq!(results.status, StatusCode::OK);
    let row = results
        .row_with(&hospital_id)
        .unwrap_or_else(|| panic!("half-width kana search did not find the patient"));
    let link = Page {
        status: results.status,
        location: None,
        path: results.path.clone(),
        body: row.to_owned(),
    }
    .links("/patients/")
    .into_iter()
    .next()
    .expect("the result row links to the patient");
    let patient_page = web.get(&link).await;
    assert_eq!(patient_page.status, StatusCode::OK);
    let allergies = patient_page.text_of("allergies").unwrap();
    assert!(
        allergies.contains(&substance),
        "the allergy is shown: {allergies}"
    );
    assert!(patient_page.has(&hospital_id));

    // ---- A ward: the census, then the whole ward printed.
    let ward_link = search_page
        .links("/wards/")
        .into_iter()
        .next()
        .expect("the search page lists the wards");
    let ward_page = web.get(&ward_link).await;
    assert_eq!(ward_page.status, StatusCode::OK);
    let print_link = ward_page
        .links("/wards/")
        .into_iter()
        .find(|l| l.ends_with("/print"))
        .expect("the ward page has a print link");
    let printed = web.get(&print_link).await;
    assert_eq!(printed.status, StatusCode::OK);
    let ward_name = web::decode_segment(ward_link.trim_start_matches("/wards/"));
    let beds = node
        .services
        .reader
        .census()
        .unwrap()
        .into_iter()
        .find(|w| w.ward == ward_name)
        .expect("the linked ward is in the census")
        .beds
        .len();
    assert!(beds > 0);
    assert_eq!(
        printed
            .body
            .matches("class=\"sheet patient-sheet\"")
            .count(),
        beds,
        "every patient of the ward is in the print job"
    );

    // ---- Downtime records: vital signs and a note for the patient, each audited first,
    // then stored, then acknowledged; the patient page lists them, marked.
    let recorded = web
        .post(
            &format!("{link}/downtime"),
            &[
                ("csrf", patient_page.csrf().as_str()),
                ("kind", "vitals"),
                ("temperature", "37.9"),
                ("pulse", "92"),
            ],
        )
        .await;
    assert!(
        recorded
            .location
            .as_deref()
            .is_some_and(|l| l.contains("recorded=1")),
        "{:?} {}",
        recorded.location,
        recorded.body
    );
    let recorded = web
        .post(
            &format!("{link}/downtime"),
            &[
                ("csrf", patient_page.csrf().as_str()),
                ("kind", "note"),
                ("author", "nursing"),
                ("text", "drill: observation note"),
            ],
        )
        .await;
    assert!(recorded
        .location
        .as_deref()
        .is_some_and(|l| l.contains("recorded=2")));
    let shown = web.get(&link).await;
    assert!(shown.body.contains("id=\"dt-1\"") && shown.body.contains("id=\"dt-2\""));
    assert!(shown.has("drill: observation note"));

    // ---- End the drill: the session ends, the account is retired.
    let out = node.mode(ModeChange::End, "drill over").await;
    assert!(out.contains("mode is now recovery"), "{out}");
    let after = web.get("/search").await;
    assert_eq!(after.status, StatusCode::FORBIDDEN, "the session ended");
    assert!(
        !after.has(&hospital_id),
        "no patient data after the episode"
    );
    assert_eq!(node.account_status(&account).await, SealStatus::Retired);
    assert!(
        node.services.reader.is_locked(),
        "the end of the drill locked the snapshot again"
    );
    let list = node.console(Request::AccountList).await;
    assert!(
        list.lines()
            .any(|l| l.contains(&account) && l.contains("retired")),
        "{list}"
    );

    // ---- Next drill, before re-sealing: the retired account cannot log in.
    node.mode(ModeChange::Standby, "reviewed").await;
    node.mode(ModeChange::StartDrill, "second drill").await;
    let refused = login(web, &account, &credential).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "retired: refused");
    assert!(refused.has("Login refused"), "{}", refused.body);
    node.mode(ModeChange::End, "second drill over").await;

    // ---- Re-seal: a new credential; the old one is refused, the new one accepted.
    let (resealed_id, new_credential) = node
        .seal_sheet(Request::AccountReseal {
            account_id: account.clone(),
            recovery_key: Some(node.recovery_key.clone()),
        })
        .await;
    assert_eq!(resealed_id, account);
    assert_ne!(new_credential, credential);
    assert_eq!(node.account_status(&account).await, SealStatus::Sealed);
    node.mode(ModeChange::Standby, "re-sealed").await;
    node.mode(ModeChange::StartDrill, "third drill").await;
    let old = login(web, &account, &credential).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "the old credential");
    let new = login(web, &account, &new_credential).await;
    assert_eq!(
        new.location.as_deref(),
        Some("/declare"),
        "the new credential"
    );
    let searching = declare(web, &new).await;
    let session_cookie = web.cookie("__Host-akari");
    let out = logout(web, &searching).await;
    assert!(out.has("logged out"), "{}", out.body);
    assert_ne!(
        web.cookie("__Host-akari"),
        session_cookie,
        "the session cookie is replaced at logout"
    );
    let gone = web.get("/search").await;
    assert_eq!(gone.status, StatusCode::FORBIDDEN, "logged out");
    node.mode(ModeChange::End, "third drill over").await;

    // ---- Recovery: the downtime records await reconciliation; a new generation hides
    // none of them; the export (FHIR per patient, reconciliation CSV, signed manifest)
    // verifies offline; marking them reconciled is recorded first.
    let status = node.console(Request::DowntimeStatus).await;
    assert!(status.contains("  2"), "{status}");
    let out = node.console(Request::SyncNow { full: true }).await;
    assert!(out.contains("sync full done"), "{out}");
    assert_eq!(
        node.services.downtime.unreconciled_total().unwrap(),
        2,
        "a new generation hides no downtime record"
    );
    let downtime_dir = dir.path().join("downtime-export");
    let out = node
        .console(Request::DowntimeExport {
            episode: None,
            out: downtime_dir.clone(),
            recovery_key: Some(node.recovery_key.clone()),
        })
        .await;
    assert!(
        out.contains("exported 2 downtime entries of 1 patients"),
        "{out}"
    );
    let node_key = akari::datadir::load_public_key(&DataDir::new(&data_dir).public_key()).unwrap();
    let manifest = akari_downtime::sign::verify_dir(&downtime_dir, &node_key)
        .expect("the downtime export verifies offline");
    assert!(manifest.files.iter().any(|f| f.name == "fhir-001.json"));
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(downtime_dir.join("fhir-001.json")).unwrap())
            .unwrap();
    assert_eq!(bundle["type"], "transaction");
    assert!(bundle
        .to_string()
        .contains(&format!("Patient/{}", patient.patient.id)));
    let csv = std::fs::read_to_string(downtime_dir.join("reconciliation.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        csv.contains(&hospital_id) && csv.contains("灯 花子"),
        "{csv}"
    );
    std::fs::write(
        downtime_dir.join("reconciliation.csv"),
        csv.replace("37.9", "36.9"),
    )
    .unwrap();
    assert!(akari_downtime::sign::verify_dir(&downtime_dir, &node_key).is_err());
    let out = node
        .console(Request::DowntimeReconcile {
            entries: vec![1, 2],
            episode: None,
        })
        .await;
    assert!(
        out.contains("2 downtime entries marked reconciled"),
        "{out}"
    );
    assert!(out.contains("0 remain"), "{out}");

    // ---- Export the ledger; verify it offline with only the file and the public key.
    let export = dir.path().join("audit-export.ndjson");
    let out = node
        .console(Request::AuditExport {
            from: None,
            to: None,
            format: "ndjson".into(),
            out: Some(export.clone()),
        })
        .await;
    assert!(out.contains("exported entries"), "{out}");
    let key = akari::datadir::load_public_key(&DataDir::new(&data_dir).public_key()).unwrap();
    let verify = |bytes: &[u8]| akari_accounts::ledger::verify::verify(bytes, &key);
    let bytes = std::fs::read(&export).unwrap();
    let report = verify(&bytes).expect("the export verifies offline");
    assert!(report.entries > 20, "{report:?}");
    assert!(report.checkpoints >= 1);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        !text.contains(&credential) && !text.contains(&new_credential),
        "no credential in the audit export"
    );
    let tampered = text.replacen("quarterly drill", "quarterly drilL", 1);
    assert_ne!(tampered, text, "the export records the drill's reason");
    assert!(
        verify(tampered.as_bytes()).is_err(),
        "an altered export does not verify"
    );

    // ---- Review: episodes, the first drill's session, a verdict, the report.
    let listing = node
        .console(Request::AuditReport {
            episode: None,
            review: Default::default(),
        })
        .await;
    assert_eq!(
        listing.lines().filter(|l| l.contains("drill")).count(),
        3,
        "{listing}"
    );
    let episodes = review::episodes(&node.services.ledger).unwrap();
    let first = episodes.iter().find(|e| e.drill).unwrap();
    assert_eq!(first.reason, "quarterly drill");
    let reviewed = review::review_episode(
        &node.services.ledger,
        first.id,
        &review::Unscoped,
        &node.services.config.ledger.review,
    )
    .unwrap();
    assert_eq!(reviewed.sessions.len(), 1, "one session in the first drill");
    let session = &reviewed.sessions[0];
    assert_eq!(session.account_id, account);
    assert_eq!(
        session.declared.as_ref().map(|p| p.staff_number.as_str()),
        Some("N-20931")
    );
    assert!(session.searches >= 1, "the search is in the review");
    assert!(
        session.events.iter().any(|e| matches!(
            &e.action,
            Action::WardPrint { ward, patients, keys }
                if *ward == ward_name && *patients as usize == beds && keys.len() == beds
        )),
        "the ward print is in the session's events"
    );
    assert!(session
        .patients
        .contains(&link.trim_start_matches("/patients/").to_owned()));
    assert!(session.verdicts.is_empty());

    let before = node.services.ledger.last_seq().unwrap();
    let receipt = review::record_verdict(
        node.services.ledger.as_ref(),
        node.console.actor(),
        node.services.mode().unwrap(),
        &session.session_id,
        Verdict::Drill,
        "planned drill, access matched the scenario",
    )
    .unwrap();
    assert_eq!(
        receipt.sequence(),
        before + 1,
        "the verdict is the next ledger entry"
    );
    let mut verdict_entry = None;
    node.services
        .ledger
        .scan(
            receipt.sequence()..=receipt.sequence(),
            |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
                verdict_entry = Some(e);
                Ok(())
            },
        )
        .unwrap();
    let verdict_entry = verdict_entry.unwrap();
    assert!(matches!(verdict_entry.actor, Actor::Console { .. }));
    assert!(matches!(
        &verdict_entry.action,
        Action::ReviewVerdict { session_id, verdict, .. }
            if *session_id == session.session_id && verdict == "drill"
    ));
    let report = node
        .console(Request::AuditReport {
            episode: Some(first.id),
            review: Default::default(),
        })
        .await;
    assert!(report.contains("DRILL episode"), "{report}");
    assert!(report.contains(&session.session_id), "{report}");
    assert!(report.contains("Sessions without a verdict: 0"), "{report}");
    assert!(report.contains("planned drill"), "{report}");

    node.stop().await;
    drop(fhir);
}

/// README's first command, smaller: `akari demo` (the real binary) generates a hospital,
/// syncs it, prints seal sheets, starts a drill and serves it over TLS; a clinician logs in
/// with a printed sheet; Ctrl-C (SIGINT) ends the drill, prints the review summary and the
/// verified ledger export, and the command exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_a_drill_and_reports_on_ctrl_c() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_akari"))
        .args([
            "demo",
            "--patients",
            "40",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data_dir)
        .env_remove("AKARI_DATA_DIR")
        // The default level: request and sync lines are logged, to the demo's log file.
        .env("AKARI_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run akari demo");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();

    // Everything up to the invitation to press Ctrl-C.
    let mut before = String::new();
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            before.push_str(&line);
            before.push('\n');
            if line.starts_with("Press Ctrl-C") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    if !ready {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err).await;
        panic!("the demo did not come up:\n{before}\nstderr:\n{err}");
    }
    assert!(before.contains(&data_dir.display().to_string()), "{before}");
    assert!(before.contains("40 patients"), "{before}");
    assert!(before.contains("mode is now drill"), "{before}");
    assert_eq!(
        before.matches("Credential").count(),
        3,
        "three seal sheets: {before}"
    );
    let url_line = before
        .lines()
        .find(|l| l.contains("The viewer is serving https://localhost:"))
        .unwrap();
    let port: u16 = url_line
        .rsplit_once("https://localhost:")
        .unwrap()
        .1
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let material = akari::tls::TlsMaterial::load(
        &data_dir.join("tls/cert.pem"),
        &data_dir.join("tls/key.pem"),
    )
    .unwrap();
    assert!(
        before.contains(&format!("certificate SHA-256: {}", material.fingerprint())),
        "the printed fingerprint is the served certificate's: {before}"
    );

    // A clinician opens the first envelope and logs in.
    let cert = CertificateDer::from_pem_file(data_dir.join("tls/cert.pem")).unwrap();
    let web = Web::new(&cert, ([127, 0, 0, 1], port).into());
    assert!(
        before.contains("One-time enrolment code"),
        "an admin for the admin pages: {before}"
    );
    let admin = web.get("/admin/login").await;
    assert_eq!(admin.status, StatusCode::OK, "the admin pages are served");
    let account = sheet_field(&before, "Account ID");
    let credential = sheet_field(&before, "Credential");
    let declare_page = login(&web, &account, &credential).await;
    assert_eq!(declare_page.location.as_deref(), Some("/declare"));
    assert!(declare_page.has("DRILL"));
    let search = declare(&web, &declare_page).await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(!search.links("/wards/").is_empty(), "the wards are listed");

    // Ctrl-C.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut after = String::new();
    let status = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            after.push_str(&line);
            after.push('\n');
        }
        child.wait().await.unwrap()
    })
    .await
    .expect("the demo stops after Ctrl-C");
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err).await;
    assert!(status.success(), "exit {status:?}\n{after}\nstderr:\n{err}");
    assert!(after.contains("mode is now recovery"), "{after}");
    assert!(after.contains("Review summary"), "{after}");
    assert!(after.contains(&format!("account {account}")), "{after}");
    assert!(after.contains("Sessions: 1"), "{after}");
    assert!(after.contains(": OK"), "{after}");
    let export = data_dir.join("audit-export.ndjson");
    let key = akari::datadir::load_public_key(&DataDir::new(&data_dir).public_key()).unwrap();
    let report = akari_accounts::ledger::verify::verify(&std::fs::read(&export).unwrap()[..], &key)
        .expect("the demo's export verifies");
    assert!(
        after.contains(&format!("({} entries)", report.entries)),
        "{after}"
    );
    assert!(
        !err.contains(&credential) && !after.contains(&credential),
        "the credential is printed on its sheet and in the summary, and never logged"
    );

    // The terminal stays readable: request and sync lines went to the log file in the
    // data directory (named at start-up), not to the terminal.
    let log_path = data_dir.join("demo.log");
    assert!(before.contains(&log_path.display().to_string()), "{before}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("response") && log.contains("/admin/login"),
        "the requests are in the log file:\n{log}"
    );
    assert!(!log.contains(&credential), "no credential in the log");
    for line in before.lines().chain(after.lines()).chain(err.lines()) {
        assert!(
            !(line.contains(" INFO ") || line.contains("latency_ms")),
            "a log line on the terminal: {line}"
        );
    }
    // Once the node listens, the summary is printed again below everything else:
    // URLs, the certificate fingerprint, every account's credential, the admin's password.
    let summary = &before[before
        .find("=== Akari demo is up: summary ===")
        .expect("a summary")..];
    assert!(
        before.find("[6/6]").unwrap() < before.find("=== Akari demo is up").unwrap(),
        "{before}"
    );
    assert!(
        summary.contains(&format!("https://localhost:{port}/admin/login")),
        "{summary}"
    );
    assert!(summary.contains(&material.fingerprint()), "{summary}");
    assert!(
        summary.contains(&account) && summary.contains(&credential),
        "{summary}"
    );
    assert!(summary.contains("demo-admin, password "), "{summary}");
    assert!(
        summary.contains(&log_path.display().to_string()),
        "{summary}"
    );
    assert!(
        summary.lines().last().unwrap().starts_with("Press Ctrl-C"),
        "the summary is the last thing before the wait: {summary}"
    );
}

/// `akari demo --source ss-mix2`: the synthetic hospital is written as an SS-MIX2 storage
/// (with a stored delta), the node syncs it through the SS-MIX2 source, and a clinician
/// finds the wards. The drill is then ended with `akari mode end` (as an IT admin may do
/// before pressing Ctrl-C): Ctrl-C still prints the review, exports and verifies, and the
/// demo exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_from_an_ss_mix2_storage() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_akari"))
        .args([
            "demo",
            "--source",
            "ss-mix2",
            "--patients",
            "40",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data_dir)
        .env_remove("AKARI_DATA_DIR")
        .env("AKARI_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run akari demo");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let mut before = String::new();
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            before.push_str(&line);
            before.push('\n');
            if line.starts_with("Press Ctrl-C") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    if !ready {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err).await;
        panic!("the demo did not come up:\n{before}\nstderr:\n{err}");
    }
    assert!(before.contains("written as an SS-MIX2 storage"), "{before}");
    let standard = data_dir.join("demo-ss-mix2/standard");
    assert!(standard.is_dir() && data_dir.join("demo-ss-mix2/transaction").is_dir());
    let url_line = before
        .lines()
        .find(|l| l.contains("The viewer is serving https://localhost:"))
        .unwrap();
    let port: u16 = url_line
        .rsplit_once("https://localhost:")
        .unwrap()
        .1
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let cert = CertificateDer::from_pem_file(data_dir.join("tls/cert.pem")).unwrap();
    let web = Web::new(&cert, ([127, 0, 0, 1], port).into());
    let account = sheet_field(&before, "Account ID");
    let credential = sheet_field(&before, "Credential");
    let declare_page = login(&web, &account, &credential).await;
    let search = declare(&web, &declare_page).await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(
        !search.links("/wards/").is_empty(),
        "the census comes from the SS-MIX2 stays"
    );

    // The drill is ended at the console, through the demo's control socket.
    let ended = tokio::process::Command::new(env!("CARGO_BIN_EXE_akari"))
        .args(["mode", "end", "--reason", "drill over", "--data-dir"])
        .arg(&data_dir)
        .env_remove("AKARI_DATA_DIR")
        .output()
        .await
        .unwrap();
    let ended_out = String::from_utf8_lossy(&ended.stdout);
    assert!(ended.status.success(), "{ended:?}");
    assert!(ended_out.contains("mode is now recovery"), "{ended_out}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut after = String::new();
    let status = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            after.push_str(&line);
            after.push('\n');
        }
        child.wait().await.unwrap()
    })
    .await
    .expect("the demo stops after Ctrl-C");
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err).await;
    assert!(status.success(), "exit {status:?}\n{after}\nstderr:\n{err}");
    assert!(after.contains("The drill was already ended"), "{after}");
    assert!(!after.contains("cannot change mode"), "{after}");
    assert!(after.contains("Review summary"), "{after}");
    assert!(after.contains(&format!("account {account}")), "{after}");
    assert!(
        after.contains("drill over"),
        "the review names who ended it: {after}"
    );
    let export = data_dir.join("audit-export.ndjson");
    let key = akari::datadir::load_public_key(&DataDir::new(&data_dir).public_key()).unwrap();
    let report = akari_accounts::ledger::verify::verify(&std::fs::read(&export).unwrap()[..], &key)
        .expect("the demo's export verifies");
    assert!(
        after.contains(&format!("({} entries)", report.entries)) && after.contains(": OK"),
        "{after}"
    );
}
