//! End-to-end tests of a node started in-process on 127.0.0.1:0 over real TLS.

mod common;

use std::time::Duration;

use akari_testkit::poll::{poll_until, poll_until_async};
use common::{handshake, https_client, tls_client_config, TestDir, TestNode};

#[tokio::test]
async fn healthz_over_tls13_trusting_only_the_generated_certificate() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[])).await;
    let cert = dir.cert();

    let client = https_client(&cert, node.https);
    let response = client.get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["mode"], "standby");
    assert_eq!(health["snapshot"]["state"], "none");
    // Nothing else: in particular no patient data.
    let mut keys: Vec<&String> = health.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["alerts", "mode", "snapshot", "status", "sync", "version"]
    );
    assert_eq!(health["alerts"], serde_json::json!([]));
    assert_eq!(health["sync"]["state"], "not_run");

    // A client offering both versions gets TLS 1.3.
    let both = tls_client_config(
        std::slice::from_ref(&cert),
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    );
    assert_eq!(
        handshake(node.https, both).await.unwrap(),
        rustls::ProtocolVersion::TLSv1_3
    );
    // A client that trusts nothing (e.g. only public CAs) refuses the node's certificate.
    let nothing = tls_client_config(&[], &[&rustls::version::TLS13]);
    let err = handshake(node.https, nothing).await.unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    node.stop().await;
}

#[tokio::test]
async fn a_ledger_disk_below_its_reserve_is_an_alert_on_healthz_and_in_metrics() {
    let dir = TestDir::new();
    let mut config = dir.config(&[]);
    // A reserve of the whole file system: the real statvfs reading is below it, whatever
    // the machine's disk (no disk is filled).
    config.ledger.disk_reserve_bytes = u64::MAX;
    config.ledger.disk_reserve_percent = 100;
    let node = TestNode::start(config).await;
    let client = https_client(&dir.cert(), node.https);
    let health: serde_json::Value = client
        .get(node.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "alert", "{health}");
    let alert = &health["alerts"][0];
    assert_eq!(alert["kind"], "ledger_disk_low", "{health}");
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("below the reserve"),
        "{health}"
    );
    let text = node.metrics_text().await;
    assert!(
        text.contains("akari_alert{kind=\"ledger_disk_low\"} 1"),
        "{text}"
    );
    node.stop().await;
}

#[tokio::test]
async fn tls12_client_is_refused_by_default() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[])).await;
    let only12 = tls_client_config(&[dir.cert()], &[&rustls::version::TLS12]);
    let err = handshake(node.https, only12).await.unwrap_err();
    assert!(
        err.to_string().contains("ProtocolVersion") || err.to_string().contains("protocol version"),
        "{err}"
    );
    node.stop().await;
}

#[tokio::test]
async fn tls12_client_is_accepted_with_allow_tls12() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[("AKARI_TLS__ALLOW_TLS12", "true")])).await;
    let only12 = tls_client_config(&[dir.cert()], &[&rustls::version::TLS12]);
    assert_eq!(
        handshake(node.https, only12.clone()).await.unwrap(),
        rustls::ProtocolVersion::TLSv1_2
    );
    // And HTTP works over it.
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(only12)
        .resolve("localhost", node.https)
        .build()
        .unwrap();
    let response = client.get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    node.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[])).await;
    let client = https_client(&dir.cert(), node.https);
    for (path, status) in [("/healthz", 200), ("/no/such/page?id=1", 404)] {
        let response = client.get(node.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let h = response.headers();
        let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
        let hsts = get("strict-transport-security").expect("HSTS");
        assert!(
            hsts.starts_with("max-age=") && hsts != "max-age=0",
            "{hsts}"
        );
        let csp = get("content-security-policy").expect("CSP");
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(get("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(get("referrer-policy").as_deref(), Some("no-referrer"));
        assert_eq!(get("cache-control").as_deref(), Some("no-store"));
    }
    node.stop().await;
}

#[tokio::test]
async fn metrics_listener_counts_requests_by_route_template() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[])).await;
    let client = https_client(&dir.cert(), node.https);
    client.get(node.url("/healthz")).send().await.unwrap();
    client
        .get(node.url("/patients/0042?name=x"))
        .send()
        .await
        .unwrap();

    let text = node.metrics_text().await;
    assert!(
        text.contains(
            "akari_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    // The route template, never the address typed (a duration may well contain "0042").
    assert!(text.contains("route=\"/patients/{key}\""), "{text}");
    assert!(
        !text.contains("/patients/0042") && !text.contains("name=x"),
        "{text}"
    );
    // The metrics listener is not the HTTPS one, and HTTPS does not serve metrics.
    let response = client.get(node.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    node.stop().await;
}

#[tokio::test]
async fn plain_http_listener_only_redirects_to_https() {
    let dir = TestDir::new();
    let config = dir.config(&[]);
    let https = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let node = akari::start(
        config,
        akari::Listeners {
            https,
            metrics: None,
            http_redirect: Some(redirect),
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("http://{}/healthz?x=1", node.http_redirect_addr.unwrap());
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("https://127.0.0.1:{}/healthz?x=1", node.https_addr.port()).as_str()
    );
    shutdown.cancel();
    node.wait().await.unwrap();
}

/// Polls `/healthz` until `done` holds for it.
async fn wait_health(
    client: &reqwest::Client,
    url: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    poll_until_async("the expected /healthz", Duration::from_secs(30), || async {
        let health: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
        if done(&health) {
            Ok(health)
        } else {
            Err(health)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_syncs_at_start_serves_pages_and_takes_console_commands_on_its_socket() {
    use akari::console::{self, ModeChange, Request};
    use akari_testkit::server::{FhirServer, ServerOptions};
    use akari_testkit::synth::{Hospital, SynthConfig};

    let hospital = Hospital::generate(SynthConfig {
        patients: 20,
        ..SynthConfig::default()
    });
    let fhir = FhirServer::with_resources(ServerOptions::default(), hospital.resources());
    let dir = TestDir::new();
    let base_url = fhir.base_url();
    let node = TestNode::start(dir.config(&[
        ("AKARI_SYNC__SOURCE__BASE_URL", &base_url),
        ("AKARI_SYNC__INTERVAL_SECS", "86400"),
        ("AKARI_SYNC__JITTER_SECS", "0"),
    ]))
    .await;
    let client = https_client(&dir.cert(), node.https);
    let url = node.url("/healthz");

    // The scheduler's first sync runs at start-up; /healthz follows.
    let health = wait_health(&client, &url, |h| h["snapshot"]["state"] == "current").await;
    assert_eq!(health["snapshot"]["generation"], 1, "{health}");
    assert_eq!(health["mode"], "standby");

    // The clinician pages are mounted: the login page answers.
    let login = client.get(node.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("<html"));
    // ... and so are the admin and review pages.
    let admin = client.get(node.url("/admin/login")).send().await.unwrap();
    assert_eq!(admin.status(), 200);
    let review = client.get(node.url("/admin/review")).send().await.unwrap();
    assert_ne!(
        review.status(),
        404,
        "review pages are mounted (login required)"
    );

    // Console commands reach this node through <data>/control.sock.
    let data = dir.data_dir.clone();
    let send = move |request: Request| {
        let data = data.clone();
        tokio::task::spawn_blocking(move || console::send(&data, &request))
    };
    // A full sync writes a generation even when nothing changed.
    let response = send(Request::SyncNow { full: true })
        .await
        .unwrap()
        .unwrap()
        .expect("the running node answers on its socket");
    assert!(response.ok, "{response:?}");
    assert!(response.output.contains("generation 2"), "{response:?}");
    let health: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["snapshot"]["generation"], 2, "{health}");

    let response = send(Request::Mode {
        change: ModeChange::DeclareEmergency,
        reason: "EHR down (test)".into(),
    })
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    assert!(response.ok, "{response:?}");
    let health: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["mode"], "emergency", "{health}");
    // A command that fails says why, and the node keeps running.
    let response = send(Request::SnapshotRollback { generation: 42 })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!response.ok);
    assert!(
        response
            .error
            .unwrap()
            .contains("generation 42 does not exist"),
        "clear error"
    );

    let socket = node.node.as_ref().unwrap().control_socket.clone();
    assert!(socket.exists());
    node.stop().await;
    assert!(!socket.exists());
    // Stopped: nothing answers, so a console command would open the files itself.
    assert!(console::send(&dir.data_dir, &Request::Status)
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn node_without_a_sync_source_starts_and_says_so() {
    use akari::console::{self, Request};
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[])).await;
    let data = dir.data_dir.clone();
    let response =
        tokio::task::spawn_blocking(move || console::send(&data, &Request::SyncNow { full: true }))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    assert!(!response.ok);
    let error = response.error.unwrap();
    assert!(error.contains("no sync source is configured"), "{error}");
    let client = https_client(&dir.cert(), node.https);
    let login = client.get(node.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_snapshot_unlocks_at_a_sealed_login_and_locks_when_the_drill_ends() {
    use akari_accounts::event::Client;
    use akari_accounts::{EmergencyLogin, ProvisionRequest, WardScope};
    use akari_testkit::server::{FhirServer, ServerOptions};
    use akari_testkit::synth::{Hospital, SynthConfig};

    let hospital = Hospital::generate(SynthConfig {
        patients: 10,
        ..SynthConfig::default()
    });
    let hospital_id = hospital.patients[0].hospital_id.clone();
    let fhir = FhirServer::with_resources(ServerOptions::default(), hospital.resources());
    let dir = TestDir::new();
    let base_url = fhir.base_url();
    let config = dir.config(&[
        ("AKARI_SYNC__SOURCE__BASE_URL", &base_url),
        ("AKARI_SYNC__INTERVAL_SECS", "86400"),
        ("AKARI_ACCOUNTS__ARGON2__MEMORY_KIB", "1024"),
        ("AKARI_ACCOUNTS__ARGON2__ITERATIONS", "1"),
    ]);
    // What `akari init` does: key pair, key slots, the recovery key once.
    let init = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || akari::services::init_node(&config, "it-staff"))
            .await
            .unwrap()
            .unwrap()
    };
    let recovery = init
        .recovery_key
        .expect("a recovery key on first init")
        .to_string();
    assert!(dir.data_dir.join("keys/snapshot.pub").is_file());

    let node = TestNode::start(config).await;
    let services = node.node.as_ref().unwrap().services.clone();
    assert!(services.store.is_encrypted());
    let s = services.clone();
    let (sheet, patient_locked) = tokio::task::spawn_blocking(move || {
        // The scheduler's first sync runs at start-up.
        poll_until("the sync at start-up", Duration::from_secs(30), || {
            s.reader.generation()
        });
        // Synced with the public key only: the content cannot be read.
        assert!(s.reader.is_locked());
        let locked = s.reader.patient_by_hospital_id(&hospital_id);
        let console = akari_accounts::Console::new("it-staff");
        let sheet = s
            .accounts
            .provision_with_recovery(
                &console,
                ProvisionRequest {
                    label: "ER-1".into(),
                    ward_scope: WardScope::All,
                    expires_at: None,
                },
                &recovery,
                &Client::default(),
            )
            .unwrap();
        s.accounts
            .start_drill(&console.capability(), "drill", &Client::default())
            .unwrap();
        (sheet, locked.is_err())
    })
    .await
    .unwrap();
    assert!(patient_locked, "a locked snapshot refuses reads");

    let s = services.clone();
    let hospital_id = hospital.patients[0].hospital_id.clone();
    tokio::task::spawn_blocking(move || {
        let login = EmergencyLogin {
            account_id: sheet.account_id.clone(),
            credential: sheet.credential().clone(),
            key: None,
        };
        s.accounts
            .login_emergency(login, &Client::default())
            .unwrap();
        // The login unwrapped the key and the node's observer unlocked the reader.
        assert!(!s.reader.is_locked());
        let record = s.reader.patient_by_hospital_id(&hospital_id).unwrap();
        assert!(
            record.is_some(),
            "the patient is readable after a sealed login"
        );
        let console = akari_accounts::Console::new("it-staff");
        s.accounts
            .end_episode(&console.capability(), "drill over", &Client::default())
            .unwrap();
        assert!(s.reader.is_locked(), "ending the drill wipes the key");
        assert!(s.reader.patient_by_hospital_id(&hospital_id).is_err());
    })
    .await
    .unwrap();
    drop(services);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_failures_tell_admins_the_main_system_is_unreachable_until_a_sync_works() {
    use akari_testkit::server::{Fault, FhirServer, ServerOptions};
    use akari_testkit::synth::{Hospital, SynthConfig};
    use tokio_util::sync::CancellationToken;

    let hospital = Hospital::generate(SynthConfig {
        patients: 5,
        ..SynthConfig::default()
    });
    let fhir = FhirServer::with_resources(ServerOptions::default(), hospital.resources());
    let dir = TestDir::new();
    let base_url = fhir.base_url();
    let config = dir.config(&[
        ("AKARI_SYNC__SOURCE__BASE_URL", &base_url),
        ("AKARI_SYNC__SOURCE__MAX_ATTEMPTS", "1"),
    ]);
    tokio::task::spawn_blocking(move || {
        // No node: the services alone, as a console command opens them.
        let services = akari::Services::open(&config).unwrap();
        let console = akari_accounts::Console::new("it-staff");
        let cap = console.capability();
        fhir.inject(
            None,
            Fault::Status {
                status: 503,
                retry_after: None,
            },
            1_000,
        );
        let cancel = CancellationToken::new();
        let err = services.sync_now(true, &cancel).unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
        let since = services
            .sync_failing_since()
            .expect("failing since the first failure");
        let status = services.accounts.status(&cap).unwrap();
        assert_eq!(status.main_system_unreachable_since, Some(since));
        // A second failure keeps the start of the streak.
        services.sync_now(true, &cancel).unwrap_err();
        assert_eq!(services.sync_failing_since(), Some(since));
        assert_eq!(
            services.mode(),
            Some(akari_accounts::event::Mode::Standby),
            "never declares by itself"
        );

        fhir.clear_faults();
        let report = services.sync_now(true, &cancel).unwrap();
        assert_eq!(report.generation, 1);
        assert_eq!(services.sync_failing_since(), None);
        let status = services.accounts.status(&cap).unwrap();
        assert_eq!(status.main_system_unreachable_since, None);
        assert_eq!(services.reader.generation().unwrap().generation, 1);
    })
    .await
    .unwrap();
}

/// A pull the source answered but the node refused (too many resources that cannot be
/// shown) is "sync refused: N of M resources rejected (reasons…)" in `akari status`,
/// `/healthz`, `/metrics` and `akari sync report` — never "main system unreachable" — and a
/// pull that is only imperfect (warned resources) is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_pull_is_reported_as_refused_not_unreachable() {
    use akari::console::{self, Request};
    use akari_testkit::server::{FhirServer, ServerOptions};
    use akari_testkit::synth::{DeltaChange, Hospital, Resource, SynthConfig};

    let hospital = Hospital::generate(SynthConfig {
        patients: 5,
        ..SynthConfig::default()
    });
    let good: Vec<Resource> = hospital.resources().collect();
    // Lab results that name no patient the source sent: they cannot be shown on anyone's
    // page, so they are rejected — a third of the pull, far above the 5 % limit.
    let orphans: Vec<Resource> = (0..good.len() / 2)
        .map(|i| Resource {
            resource_type: "Observation",
            id: format!("orphan-{i}"),
            last_updated: chrono::Utc::now().fixed_offset(),
            json: serde_json::to_vec(&serde_json::json!({
                "resourceType": "Observation",
                "id": format!("orphan-{i}"),
                "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                "code": {"text": "CRP"},
                "subject": {"reference": "Patient/not-sent"},
                "effectiveDateTime": "2026-11-01T08:00:00+09:00",
                "valueQuantity": {"value": 1.2, "unit": "mg/dL"}
            }))
            .unwrap(),
        })
        .collect();
    let fhir = FhirServer::with_resources(
        ServerOptions::default(),
        good.iter().cloned().chain(orphans.iter().cloned()),
    );
    let dir = TestDir::new();
    let base_url = fhir.base_url();
    let node = TestNode::start(dir.config(&[
        ("AKARI_SYNC__SOURCE__BASE_URL", &base_url),
        ("AKARI_SYNC__INTERVAL_SECS", "86400"),
        ("AKARI_SYNC__JITTER_SECS", "0"),
    ]))
    .await;
    let client = https_client(&dir.cert(), node.https);
    let url = node.url("/healthz");

    let health = wait_health(&client, &url, |h| h["sync"]["state"] == "refused").await;
    let message = health["sync"]["message"].as_str().unwrap().to_owned();
    let total = good.len() + orphans.len();
    assert!(
        message.starts_with(&format!(
            "sync refused: {} of {total} resources rejected (unknown_patient {})",
            orphans.len(),
            orphans.len()
        )),
        "{message}"
    );
    assert_eq!(
        health["snapshot"]["state"], "none",
        "nothing of it was stored"
    );

    let data = dir.data_dir.clone();
    let send = move |request: Request| {
        let data = data.clone();
        async move {
            tokio::task::spawn_blocking(move || console::send(&data, &request))
                .await
                .unwrap()
                .unwrap()
                .expect("the running node answers")
        }
    };
    let status = send(Request::Status).await;
    assert!(status.ok, "{status:?}");
    assert!(status.output.contains("sync refused:"), "{}", status.output);
    assert!(
        !status.output.contains("unreachable"),
        "the source answered: {}",
        status.output
    );
    let report = send(Request::SyncReport).await;
    assert!(report.ok, "{report:?}");
    assert!(
        report.output.starts_with("LAST PULL REFUSED"),
        "{}",
        report.output
    );
    assert!(
        report.output.contains("unknown_patient"),
        "{}",
        report.output
    );
    let metrics = reqwest::get(format!("http://{}/metrics", node.metrics.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("akari_sync_refused 1"), "{metrics}");
    assert!(
        metrics.contains("akari_sync_rejects{reason=\"unknown_patient\"}"),
        "{metrics}"
    );

    // The source is repaired: the next pull is served and the refusal is gone.
    fhir.apply(
        &orphans
            .iter()
            .map(|r| DeltaChange::Delete {
                resource_type: r.resource_type,
                id: r.id.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let done = send(Request::SyncNow { full: true }).await;
    assert!(done.ok, "{done:?}");
    let health = wait_health(&client, &url, |h| h["sync"]["state"] == "ok").await;
    assert_eq!(health["snapshot"]["state"], "current", "{health}");
    let metrics = reqwest::get(format!("http://{}/metrics", node.metrics.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("akari_sync_refused 0"), "{metrics}");
    node.stop().await;
}
