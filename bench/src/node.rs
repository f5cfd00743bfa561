//! The node under test: a prepared snapshot served over TLS 1.3 on 127.0.0.1:0 with the
//! real accounts service (one sealed account, a drill declared) and a durable,
//! file-backed audit ledger — every page read waits for its fsynced audit entry.
//!
//! Built from the lower crates the way `web/benches/pages.rs` does (the composition
//! root's `start()` did not yet mount the clinician pages when this suite was written).

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use akari_accounts::event::{AuditError, AuditEvent, AuditReceipt, AuditSink, Client};
use akari_accounts::ledger::{Ledger, LedgerConfig};
use akari_accounts::{Accounts, Console, ProvisionRequest, SystemClock, WardScope};
use akari_sync::engine::CancellationToken;
use akari_sync::source::NdjsonDirSource;
use akari_sync::{Engine, SnapshotReader, Store, SyncReport};
use akari_testkit::synth::{self, SynthConfig};
use akari_web::pages::{Pages, PagesConfig};
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::stats::loadavg;
use crate::BenchError;

pub const SNAPSHOT: &str = "snapshot.redb";
pub const CERT: &str = "node-cert.pem";
pub const KEYS: &str = "node-keys.txt";

fn setup(what: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(format!("{what}: {e}"))
}

/// Build a full snapshot (all 30-odd resources per patient) of `patients` into
/// `data/snapshot.redb`, unless one with that many patients is already there.
pub fn prepare(patients: u64, data: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(data).map_err(|e| BenchError::io(data, e))?;
    let path = data.join(SNAPSHOT);
    if path.exists() {
        let store = Store::open(&path, Default::default())?;
        let reader = SnapshotReader::open(store, Default::default())?;
        if reader.patient_count() as u64 == patients {
            eprintln!(
                "[prepare] {} already holds {patients} patients: kept",
                path.display()
            );
            return Ok(());
        }
        drop(reader);
        std::fs::remove_file(&path).map_err(|e| BenchError::io(&path, e))?;
    }
    let ndjson = data.join("ndjson");
    let cfg = SynthConfig {
        patients,
        ..SynthConfig::default()
    };
    eprintln!(
        "[prepare] writing {patients} synthetic patients as NDJSON (load {})",
        loadavg()
    );
    let t = Instant::now();
    let written = synth::write_ndjson_dir(&cfg, &ndjson).map_err(|e| BenchError::io(&ndjson, e))?;
    let gen_s = t.elapsed().as_secs_f64();
    let store = Store::open(&path, Default::default())?;
    let (report, sync_s) = full_sync(store, &ndjson)?;
    std::fs::remove_dir_all(&ndjson).map_err(|e| BenchError::io(&ndjson, e))?;
    let (hwm, _) = crate::stats::rss_kb("self");
    println!(
        "prepared: {patients} patients, {} resources, {:.0} MB NDJSON generated in {gen_s:.1} s, \
         full sync {sync_s:.1} s ({:.0} MB/s), snapshot {:.0} MB, bench process peak RSS {} MB \
         (memory budget {} MiB, {} runs spilled) (load {})",
        report.resources,
        written.bytes as f64 / 1e6,
        written.bytes as f64 / 1e6 / sync_s,
        std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / 1e6,
        hwm.map_or("?".into(), |k| format!("{:.0}", k as f64 / 1024.0)),
        akari_sync::Config::default().memory_budget_mib,
        report.spilled_runs,
        loadavg()
    );
    Ok(())
}

fn memory_db() -> Result<redb::Database, BenchError> {
    redb::Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .map_err(|e| setup("in-memory accounts database", e))
}

/// A full sync of the NDJSON files in `ndjson` into `store`, timed (seconds).
pub fn full_sync(store: Store, ndjson: &Path) -> Result<(SyncReport, f64), BenchError> {
    let t = Instant::now();
    let report = Engine::new(
        store,
        Arc::new(NdjsonDirSource::new(ndjson.to_path_buf())),
        akari_sync::Config::default(),
    )
    .sync_now(true, &CancellationToken::new())?;
    Ok((report, t.elapsed().as_secs_f64()))
}

/// Run the node; print one JSON line (port, account, credential, biggest ward) on
/// standard output when it serves; exit when standard input closes.
pub fn serve_until_stdin_closes(data: &Path) -> Result<(), BenchError> {
    let path = data.join(SNAPSHOT);
    if !path.exists() {
        return Err(BenchError::Setup(format!(
            "{} does not exist: run `akari-bench prepare --patients N --data {}` first",
            path.display(),
            data.display()
        )));
    }
    let t = Instant::now();
    let store = Store::open(&path, Default::default())?;
    let reader = SnapshotReader::open(store, Default::default())?;
    let index_ms = t.elapsed().as_millis();

    let ledger_path = data.join("ledger.redb");
    if ledger_path.exists() {
        std::fs::remove_file(&ledger_path).map_err(|e| BenchError::io(&ledger_path, e))?;
    }
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let ledger = Arc::new(
        Ledger::open(&ledger_path, key, &LedgerConfig::default())
            .map_err(|e| setup("ledger", e))?,
    );
    let timed = Arc::new(TimedSink {
        inner: ledger.clone(),
        micros: std::sync::Mutex::new(Vec::new()),
    });
    let sink: Arc<dyn AuditSink> = timed.clone();
    let config = akari_accounts::Config {
        // Login cost is not what is measured here (see the accounts bench).
        argon2: akari_accounts::Argon2Config {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        },
        ..akari_accounts::Config::default()
    };
    let accounts = Arc::new(
        Accounts::open(memory_db()?, config, sink.clone(), Arc::new(SystemClock))
            .map_err(|e| setup("accounts", e))?,
    );
    let console = Console::new("perf-suite").capability();
    let sheet = accounts
        .provision(
            &console,
            ProvisionRequest {
                label: "PERF-1".into(),
                ward_scope: WardScope::All,
                expires_at: None,
            },
            &Client::default(),
        )
        .map_err(|e| setup("provisioning the bench account", e))?;
    accounts
        .start_drill(&console, "performance suite", &Client::default())
        .map_err(|e| setup("starting the drill", e))?;

    let biggest_ward = write_census_keys(&reader, data)?;

    let pages = Pages::new(
        Arc::new(reader),
        sink,
        accounts.clone(),
        PagesConfig::default(),
    );
    let acceptor = tls_acceptor(data)?;
    let app: axum::Router = akari_web::router::for_pages(pages);

    // The account, its credential and the biggest ward go to the parent with the port.
    let ready = serde_json::json!({
        "account": sheet.account_id,
        "credential": sheet.credential().expose(),
        "ward": biggest_ward,
        "index_ms": index_ms as u64,
    });
    serve_until_stdin_ends(acceptor, app, ready)?;
    drop(accounts);
    write_audit_latency(&timed, data)
}

/// Serve on 127.0.0.1:0; print `ready` with the port added as one JSON line on standard
/// output once listening; return when standard input closes.
fn serve_until_stdin_ends(
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
    mut ready: serde_json::Value,
) -> Result<(), BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| setup("tokio runtime", e))?;
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| setup("binding 127.0.0.1:0", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| setup("listener address", e))?
            .port();
        tokio::spawn(accept_loop(listener, acceptor, app));
        ready["port"] = serde_json::json!(port);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{ready}")
            .and_then(|_| out.flush())
            .map_err(|e| setup("writing the ready line", e))?;
        drop(out);
        // Serve until the parent closes our standard input.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let mut stdin = std::io::stdin().lock();
            while stdin.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                line.clear();
            }
        })
        .await
        .map_err(|e| setup("waiting on standard input", e))?;
        Ok::<(), BenchError>(())
    })
}

/// The opaque patient keys of the inpatients (the census), one a line, for the load
/// generator; returns the ward with the most beds.
fn write_census_keys(reader: &SnapshotReader, data: &Path) -> Result<String, BenchError> {
    let census = reader.census()?;
    let mut keys = String::new();
    for w in &census {
        for b in &w.beds {
            keys.push_str(&b.patient.key.0);
            keys.push('\n');
        }
    }
    let keys_path = data.join(KEYS);
    std::fs::write(&keys_path, keys).map_err(|e| BenchError::io(&keys_path, e))?;
    Ok(census
        .iter()
        .max_by_key(|w| w.beds.len())
        .map(|w| w.ward.clone())
        .unwrap_or_default())
}

/// TLS 1.3 with a fresh self-signed certificate for localhost, written to `data` for the
/// load generator to trust.
fn tls_acceptor(data: &Path) -> Result<tokio_rustls::TlsAcceptor, BenchError> {
    let tls_key = rcgen::KeyPair::generate().map_err(|e| setup("TLS key", e))?;
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| setup("certificate", e))?;
    let cert = params
        .self_signed(&tls_key)
        .map_err(|e| setup("certificate", e))?;
    let cert_path = data.join(CERT);
    std::fs::write(&cert_path, cert.pem()).map_err(|e| BenchError::io(&cert_path, e))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = rustls::ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(tls_key.serialize_der().into()),
        )
        .map_err(|e| setup("TLS configuration", e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(tls)))
}

/// Accept TLS connections and serve the pages on each (with the peer address the
/// handlers expect).
async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            return;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app) = (acceptor.clone(), app.clone());
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
}

/// How long each durable audit append took (the wait every page has before its data is
/// shown), summarised for the parent to print beside the page latencies.
fn write_audit_latency(timed: &TimedSink, data: &Path) -> Result<(), BenchError> {
    let mut lat = timed.micros.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    let line = format!(
        "{} appends: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    let path = data.join(AUDIT_LATENCY);
    std::fs::write(&path, line).map_err(|e| BenchError::io(&path, e))?;
    Ok(())
}

/// Where the node leaves its audit-append latency summary.
pub const AUDIT_LATENCY: &str = "audit-latency.txt";

/// The ledger, timing each durable append (group commit + fsync) as the page sees it.
struct TimedSink {
    inner: Arc<Ledger>,
    micros: std::sync::Mutex<Vec<u64>>,
}

impl AuditSink for TimedSink {
    fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        let t = Instant::now();
        let r = self.inner.record(event);
        self.timed(t);
        r
    }

    fn record_now(
        &self,
        clock: &dyn akari_accounts::Clock,
        event: AuditEvent,
    ) -> Result<AuditReceipt, AuditError> {
        let t = Instant::now();
        let r = self.inner.record_now(clock, event);
        self.timed(t);
        r
    }

    fn pseudonym(
        &self,
        kind: akari_accounts::pseudonym::PseudonymKind,
        text: &str,
    ) -> Option<String> {
        self.inner.pseudonym(kind, text)
    }
}

impl TimedSink {
    fn timed(&self, since: Instant) {
        let us = since.elapsed().as_micros() as u64;
        if let Ok(mut l) = self.micros.lock() {
            l.push(us);
        }
    }
}
