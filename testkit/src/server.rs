//! A FHIR R4 test server (axum) serving synthetic resources: REST search with `_count`
//! paging and `Bundle.link[next]`, `_lastUpdated` filters, type-level `_history` (which
//! carries deletions), Bulk Data `$export` (system and Group level) with async kick-off,
//! status polling with `Retry-After` and NDJSON outputs, a SMART Backend Services token
//! endpoint that verifies RS384/ES384 client assertions, bearer/basic checks, optional
//! TLS with client-certificate verification, and fault knobs.
//!
//! It binds `127.0.0.1:0` and runs on its own thread and runtime, so blocking test code
//! (like a sync) can use it directly. Synthetic data only.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Router};
use base64::Engine as _;
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::pki::TestPki;
use crate::synth::{self, DeltaChange, Resource};

/// How the server checks requests to `/fhir` and the Bulk endpoints.
#[derive(Debug, Clone, Default)]
pub enum ServerAuth {
    #[default]
    None,
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    /// SMART Backend Services: clients registered with their public keys; tokens from
    /// `POST /auth/token` live `token_lifetime_secs`.
    Smart {
        clients: Vec<SmartClient>,
        token_lifetime_secs: u64,
    },
}

/// A registered SMART client.
#[derive(Debug, Clone)]
pub struct SmartClient {
    pub client_id: String,
    /// "RS384" or "ES384".
    pub algorithm: &'static str,
    /// SPKI PEM public key.
    pub public_pem: String,
}

/// TLS for the server; with `require_client_cert`, only clients with a certificate issued
/// by the test CA get in (mutual TLS).
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub pki: TestPki,
    pub require_client_cert: bool,
}

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub auth: ServerAuth,
    pub tls: Option<ServerTls>,
    /// Bulk status polls answered 202 before the manifest is ready.
    pub bulk_polls_before_ready: u32,
    /// `Retry-After` seconds on those 202s.
    pub bulk_retry_after_secs: u64,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            auth: ServerAuth::None,
            tls: None,
            bulk_polls_before_ready: 1,
            bulk_retry_after_secs: 1,
        }
    }
}

/// A fault to inject into upcoming requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds, if given) instead.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Send the first half of the body, then drop the connection.
    DropMidBody,
    /// Wait this long before answering.
    Slow(Duration),
    /// Redirect (307) to the same path and query on another server.
    RedirectTo(String),
}

#[derive(Debug, Clone)]
struct FaultRule {
    /// Only requests whose path contains this (None: every data request).
    path_contains: Option<String>,
    fault: Fault,
    remaining: u64,
}

/// One request as the server saw it (for assertions: which credentials arrived where).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub prefer: Option<String>,
}

#[derive(Debug, Clone)]
struct Stored {
    last_updated: DateTime<FixedOffset>,
    json: Arc<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct History {
    resource_type: String,
    id: String,
    at: DateTime<FixedOffset>,
    /// None: deleted.
    json: Option<Arc<Vec<u8>>>,
}

#[derive(Debug)]
struct BulkJob {
    transaction_time: String,
    request: String,
    polls_left: u32,
    /// (type, NDJSON bytes)
    files: Vec<(String, Arc<Vec<u8>>)>,
    deleted: Arc<Vec<u8>>,
}

#[derive(Default)]
struct Data {
    resources: BTreeMap<String, BTreeMap<String, Stored>>,
    history: Vec<History>,
    groups: HashMap<String, HashSet<String>>,
}

struct Shared {
    base: String,
    opts: ServerOptions,
    data: Mutex<Data>,
    cursors: Mutex<HashMap<String, Arc<Vec<Vec<u8>>>>>,
    jobs: Mutex<HashMap<String, BulkJob>>,
    faults: Mutex<VecDeque<FaultRule>>,
    malformed_lines: AtomicU32,
    requests: Mutex<Vec<RecordedRequest>>,
    tokens: Mutex<HashMap<String, DateTime<Utc>>>,
    jtis: Mutex<HashSet<String>>,
    tokens_issued: AtomicU64,
    counter: AtomicU64,
}

/// A running test server. Stops when dropped.
pub struct FhirServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FhirServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirServer")
            .field("addr", &self.addr)
            .finish()
    }
}

fn now_jst() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&FixedOffset::east_opt(9 * 3600).expect("offset"))
}

fn instant(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// `<prefix><instant>` in `_lastUpdated` / `_since`.
fn parse_date_param(v: &str) -> Option<(String, DateTime<FixedOffset>)> {
    let (prefix, rest) = match v.get(..2) {
        Some(p @ ("gt" | "ge" | "lt" | "le" | "eq")) => (p.to_string(), &v[2..]),
        _ => ("ge".to_string(), v),
    };
    DateTime::parse_from_rfc3339(rest).ok().map(|t| (prefix, t))
}

fn matches_date(prefix: &str, t: &DateTime<FixedOffset>, bound: &DateTime<FixedOffset>) -> bool {
    match prefix {
        "gt" => t > bound,
        "lt" => t < bound,
        "le" => t <= bound,
        "eq" => t == bound,
        _ => t >= bound,
    }
}

fn outcome(status: StatusCode, text: &str) -> Response {
    let body = serde_json::json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics": text}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

/// The patient a resource belongs to (for Group exports).
fn patient_of(resource_type: &str, id: &str, json: &[u8]) -> Option<String> {
    if resource_type == "Patient" {
        return Some(id.to_string());
    }
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let r = v
        .get("subject")
        .or_else(|| v.get("patient"))?
        .get("reference")?
        .as_str()?;
    r.strip_prefix("Patient/").map(|s| s.to_string())
}

impl FhirServer {
    /// Start serving on 127.0.0.1:0 with no data.
    pub fn start(opts: ServerOptions) -> FhirServer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            base: format!("{scheme}://127.0.0.1:{}/fhir", addr.port()),
            opts,
            data: Mutex::new(Data::default()),
            cursors: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            faults: Mutex::new(VecDeque::new()),
            malformed_lines: AtomicU32::new(0),
            requests: Mutex::new(Vec::new()),
            tokens: Mutex::new(HashMap::new()),
            jtis: Mutex::new(HashSet::new()),
            tokens_issued: AtomicU64::new(0),
            counter: AtomicU64::new(0),
        });
        let app = router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let tls = shared.opts.tls.clone();
        let thread = std::thread::Builder::new()
            .name("fhir-test-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(std_listener).expect("listener");
                    match tls {
                        None => {
                            let _ = axum::serve(listener, app)
                                .with_graceful_shutdown(async {
                                    let _ = rx.await;
                                })
                                .await;
                        }
                        Some(tls) => serve_tls(listener, app, tls, rx).await,
                    }
                });
            })
            .expect("server thread");
        FhirServer {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Start serving `resources`.
    pub fn with_resources(
        opts: ServerOptions,
        resources: impl IntoIterator<Item = Resource>,
    ) -> FhirServer {
        let s = FhirServer::start(opts);
        s.load(resources);
        s
    }

    /// e.g. `http://127.0.0.1:41234/fhir`.
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    /// The SMART token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/auth/token", self.origin())
    }

    fn origin(&self) -> String {
        self.shared.base.trim_end_matches("/fhir").to_string()
    }

    /// Replace all data (no history).
    pub fn load(&self, resources: impl IntoIterator<Item = Resource>) {
        let mut d = self.shared.data.lock().unwrap_or_else(|e| e.into_inner());
        d.resources.clear();
        d.history.clear();
        for r in resources {
            d.resources
                .entry(r.resource_type.to_string())
                .or_default()
                .insert(
                    r.id,
                    Stored {
                        last_updated: r.last_updated,
                        json: Arc::new(r.json),
                    },
                );
        }
    }

    /// Apply a delta: upserts replace, deletes remove; both are recorded in `_history`.
    pub fn apply(&self, changes: &[DeltaChange]) {
        let mut d = self.shared.data.lock().unwrap_or_else(|e| e.into_inner());
        for c in changes {
            match c {
                DeltaChange::Upsert(r) => {
                    let json = Arc::new(r.json.clone());
                    d.resources
                        .entry(r.resource_type.to_string())
                        .or_default()
                        .insert(
                            r.id.clone(),
                            Stored {
                                last_updated: r.last_updated,
                                json: json.clone(),
                            },
                        );
                    d.history.push(History {
                        resource_type: r.resource_type.to_string(),
                        id: r.id.clone(),
                        at: r.last_updated,
                        json: Some(json),
                    });
                }
                DeltaChange::Delete { resource_type, id } => {
                    if let Some(m) = d.resources.get_mut(*resource_type) {
                        m.remove(id);
                    }
                    d.history.push(History {
                        resource_type: resource_type.to_string(),
                        id: id.clone(),
                        at: now_jst(),
                        json: None,
                    });
                }
            }
        }
    }

    /// Define a Group for Group-level export.
    pub fn set_group(&self, id: &str, patient_ids: impl IntoIterator<Item = String>) {
        self.shared
            .data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .groups
            .insert(id.to_string(), patient_ids.into_iter().collect());
    }

    /// Inject `fault` into the next `times` data requests whose path contains
    /// `path_contains` (None: any data request).
    pub fn inject(&self, path_contains: Option<&str>, fault: Fault, times: u64) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(FaultRule {
                path_contains: path_contains.map(|s| s.to_string()),
                fault,
                remaining: times,
            });
    }

    pub fn clear_faults(&self) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Bulk outputs get this many malformed lines each (from the next export on).
    pub fn set_malformed_ndjson_lines(&self, n: u32) {
        self.shared.malformed_lines.store(n, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn clear_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued.load(Ordering::SeqCst)
    }

    /// Revoke every issued access token (the next request with one gets 401).
    pub fn revoke_tokens(&self) {
        self.shared
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn resource_count(&self) -> usize {
        self.shared
            .data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .resources
            .values()
            .map(|m| m.len())
            .sum()
    }
}

impl Drop for FhirServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: ServerTls,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(tls.pki.server.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("server cert");
    let key = PrivateKeyDer::from_pem_slice(tls.pki.server.key_pem.as_bytes()).expect("server key");
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocols");
    let config = if tls.require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(tls.pki.ca_pem.as_bytes()) {
            roots.add(c.expect("ca")).expect("add ca");
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
        builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .expect("tls config")
    } else {
        builder
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("tls config")
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            // A client without an acceptable certificate fails the handshake here.
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = TowerToHyperService::new(app);
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let data = Router::new()
        .route("/fhir/$export", get(export_system))
        .route("/fhir/Group/{id}/$export", get(export_group))
        .route("/fhir/{rtype}", get(search))
        .route("/fhir/{rtype}/_history", get(history))
        .route("/bulk-status/{job}", get(bulk_status))
        .route("/bulk-status/{job}", delete(bulk_delete))
        .route("/bulk-files/{job}/{file}", get(bulk_file))
        .layer(middleware::from_fn_with_state(shared.clone(), guard));
    Router::new()
        .route(
            "/auth/token",
            post(token).layer(middleware::from_fn_with_state(shared.clone(), token_faults)),
        )
        .route(
            "/fhir/.well-known/smart-configuration",
            get(smart_configuration),
        )
        .merge(data)
        .with_state(shared)
}

fn record(shared: &Shared, req: &Request) {
    let h = req.headers();
    let get = |n: header::HeaderName| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_string())
    };
    shared
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(RecordedRequest {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().unwrap_or("").to_string(),
            authorization: get(header::AUTHORIZATION),
            prefer: h
                .get("prefer")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.to_string()),
        });
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match &shared.opts.auth {
        ServerAuth::None => true,
        ServerAuth::Bearer(t) => auth.strip_prefix("Bearer ") == Some(t.as_str()),
        ServerAuth::Basic { username, password } => {
            let want =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            auth.strip_prefix("Basic ") == Some(want.as_str())
        }
        ServerAuth::Smart { .. } => match auth.strip_prefix("Bearer ") {
            Some(t) => shared
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(t)
                .is_some_and(|exp| *exp > Utc::now()),
            None => false,
        },
    }
}

fn take_fault(shared: &Shared, path: &str) -> Option<Fault> {
    let mut q = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
    let idx = q.iter().position(|r| {
        r.remaining > 0 && r.path_contains.as_deref().is_none_or(|p| path.contains(p))
    })?;
    let rule = &mut q[idx];
    rule.remaining -= 1;
    let f = rule.fault.clone();
    if rule.remaining == 0 {
        q.remove(idx);
    }
    Some(f)
}

async fn guard(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    record(&shared, &req);
    if !authorized(&shared, req.headers()) {
        let mut r = outcome(StatusCode::UNAUTHORIZED, "authentication required");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    with_faults(&shared, req, next).await
}

/// The token endpoint: faults apply (path `/auth/token`), no bearer check.
async fn token_faults(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    with_faults(&shared, req, next).await
}

async fn with_faults(shared: &Shared, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    match take_fault(shared, &path) {
        None => next.run(req).await,
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let mut r = outcome(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "injected fault",
            );
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            r
        }
        Some(Fault::Slow(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::RedirectTo(other)) => {
            let target = format!("{}{}", other.trim_end_matches('/'), path_and_query);
            let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Some(Fault::DropMidBody) => {
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            let stream = futures_util::stream::iter(vec![
                Ok::<_, std::io::Error>(half),
                Err(std::io::Error::other("injected connection drop")),
            ]);
            let mut parts = parts;
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}

fn new_id(shared: &Shared) -> String {
    let n = shared.counter.fetch_add(1, Ordering::SeqCst);
    format!("{n:x}{:x}", rand::random::<u32>())
}

fn searchset(
    shared: &Shared,
    self_url: &str,
    next: Option<String>,
    total: usize,
    entries: &[Vec<u8>],
    kind: &str,
) -> Response {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 64).sum::<usize>() + 512);
    out.extend_from_slice(b"{\"resourceType\":\"Bundle\",\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"meta\":{\"lastUpdated\":\"");
    out.extend_from_slice(instant(&now_jst()).as_bytes());
    out.extend_from_slice(b"\"},\"total\":");
    out.extend_from_slice(total.to_string().as_bytes());
    out.extend_from_slice(b",\"link\":[");
    out.extend_from_slice(
        serde_json::json!({"relation": "self", "url": self_url})
            .to_string()
            .as_bytes(),
    );
    if let Some(n) = next {
        out.push(b',');
        out.extend_from_slice(
            serde_json::json!({"relation": "next", "url": n})
                .to_string()
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"],\"entry\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(b"]}");
    let _ = shared;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        out,
    )
        .into_response()
}

fn page(
    shared: &Shared,
    path: &str,
    params: &HashMap<String, String>,
    build: impl FnOnce() -> Result<Vec<Vec<u8>>, Box<Response>>,
    kind: &str,
) -> Response {
    let count: usize = params
        .get("_count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let (cursor, list) = match params.get("_cursor") {
        Some(c) => match shared
            .cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(c)
        {
            Some(l) => (c.clone(), l.clone()),
            None => return outcome(StatusCode::GONE, "paging cursor expired"),
        },
        None => {
            let list = match build() {
                Ok(l) => Arc::new(l),
                Err(r) => return *r,
            };
            let c = new_id(shared);
            shared
                .cursors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(c.clone(), list.clone());
            (c, list)
        }
    };
    let offset: usize = params
        .get("_offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let end = (offset + count).min(list.len());
    let slice = if offset < list.len() {
        &list[offset..end]
    } else {
        &[][..]
    };
    let url = |off: usize| {
        format!(
            "{}{}?_cursor={cursor}&_offset={off}&_count={count}",
            shared.base.trim_end_matches("/fhir"),
            path
        )
    };
    let next = (end < list.len()).then(|| url(end));
    searchset(shared, &url(offset), next, list.len(), slice, kind)
}

async fn search(
    State(shared): State<Arc<Shared>>,
    Path(rtype): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if !rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        return outcome(StatusCode::NOT_FOUND, "unknown resource type");
    }
    let base = shared.base.clone();
    let path = format!("/fhir/{rtype}");
    let sh = shared.clone();
    let p2 = params.clone();
    page(
        &shared,
        &path,
        &p2,
        move || {
            let filter = match params.get("_lastUpdated") {
                Some(v) => match parse_date_param(v) {
                    Some(f) => Some(f),
                    None => {
                        return Err(Box::new(outcome(
                            StatusCode::BAD_REQUEST,
                            "bad _lastUpdated",
                        )))
                    }
                },
                None => None,
            };
            let d = sh.data.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = vec![];
            if let Some(m) = d.resources.get(&rtype) {
                for (id, s) in m {
                    if let Some((p, t)) = &filter {
                        if !matches_date(p, &s.last_updated, t) {
                            continue;
                        }
                    }
                    let mut e = Vec::with_capacity(s.json.len() + 96);
                    e.extend_from_slice(b"{\"fullUrl\":\"");
                    e.extend_from_slice(format!("{base}/{rtype}/{id}").as_bytes());
                    e.extend_from_slice(b"\",\"resource\":");
                    e.extend_from_slice(&s.json);
                    e.extend_from_slice(b",\"search\":{\"mode\":\"match\"}}");
                    out.push(e);
                }
            }
            Ok(out)
        },
        "searchset",
    )
}

async fn history(
    State(shared): State<Arc<Shared>>,
    Path(rtype): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let path = format!("/fhir/{rtype}/_history");
    let sh = shared.clone();
    let p2 = params.clone();
    page(
        &shared,
        &path,
        &p2,
        move || {
            let since = match params.get("_since") {
                Some(v) => match DateTime::parse_from_rfc3339(v) {
                    Ok(t) => Some(t),
                    Err(_) => return Err(Box::new(outcome(StatusCode::BAD_REQUEST, "bad _since"))),
                },
                None => None,
            };
            let d = sh.data.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = vec![];
            // Newest first, as FHIR history is.
            for h in d.history.iter().rev() {
                if h.resource_type != rtype || since.is_some_and(|s| h.at < s) {
                    continue;
                }
                let url = format!("{}/{}", h.resource_type, h.id);
                let e = match &h.json {
                    Some(j) => {
                        let mut e = Vec::with_capacity(j.len() + 128);
                        e.extend_from_slice(b"{\"resource\":");
                        e.extend_from_slice(j);
                        let request = serde_json::json!({"method": "PUT", "url": url});
                        e.extend_from_slice(format!(",\"request\":{request}}}").as_bytes());
                        e
                    }
                    None => serde_json::to_vec(&serde_json::json!({
                        "request": {"method": "DELETE", "url": url},
                        "response": {"status": "204", "lastModified": instant(&h.at)}
                    }))
                    .unwrap_or_default(),
                };
                out.push(e);
            }
            Ok(out)
        },
        "history",
    )
}

fn kickoff(
    shared: &Shared,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    group: Option<&str>,
    request: String,
) -> Response {
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !prefer.contains("respond-async") {
        return outcome(StatusCode::BAD_REQUEST, "Prefer: respond-async is required");
    }
    if let Some(f) = params.get("_outputFormat") {
        if !matches!(
            f.as_str(),
            "application/fhir+ndjson" | "application/ndjson" | "ndjson"
        ) {
            return outcome(StatusCode::BAD_REQUEST, "unsupported _outputFormat");
        }
    }
    let since = match params.get("_since") {
        Some(v) => match DateTime::parse_from_rfc3339(v) {
            Ok(t) => Some(t),
            Err(_) => return outcome(StatusCode::BAD_REQUEST, "bad _since"),
        },
        None => None,
    };
    let types: Option<HashSet<String>> = params
        .get("_type")
        .map(|t| t.split(',').map(|s| s.trim().to_string()).collect());
    let transaction_time = now_jst();
    let d = shared.data.lock().unwrap_or_else(|e| e.into_inner());
    let members = match group {
        Some(g) => match d.groups.get(g) {
            Some(m) => Some(m.clone()),
            None => return outcome(StatusCode::NOT_FOUND, "unknown Group"),
        },
        None => None,
    };
    let bad = shared.malformed_lines.load(Ordering::SeqCst);
    let mut files = vec![];
    for (rtype, m) in &d.resources {
        if types.as_ref().is_some_and(|t| !t.contains(rtype)) {
            continue;
        }
        let mut buf = Vec::new();
        let mut n = 0u64;
        for (id, s) in m {
            if since.is_some_and(|t| s.last_updated < t) {
                continue;
            }
            if let Some(members) = &members {
                match patient_of(rtype, id, &s.json) {
                    Some(p) if members.contains(&p) => {}
                    _ => continue,
                }
            }
            buf.extend_from_slice(&s.json);
            buf.push(b'\n');
            n += 1;
            if bad > 0 && n == 2 {
                for _ in 0..bad {
                    buf.extend_from_slice(b"{\"resourceType\":\"Observation\",\"id\":\"broken\n");
                }
            }
        }
        if !buf.is_empty() {
            files.push((rtype.clone(), Arc::new(buf)));
        }
    }
    let mut deleted = Vec::new();
    if let Some(t) = since {
        for h in &d.history {
            if h.json.is_none()
                && h.at >= t
                && types
                    .as_ref()
                    .is_none_or(|ty| ty.contains(&h.resource_type))
            {
                deleted.extend_from_slice(&synth::deletion_bundle(&h.resource_type, &h.id, h.at));
                deleted.push(b'\n');
            }
        }
    }
    drop(d);
    let job = new_id(shared);
    shared
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            job.clone(),
            BulkJob {
                transaction_time: instant(&transaction_time),
                request,
                polls_left: shared.opts.bulk_polls_before_ready,
                files,
                deleted: Arc::new(deleted),
            },
        );
    let loc = format!(
        "{}/bulk-status/{job}",
        shared.base.trim_end_matches("/fhir")
    );
    let mut r = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    r
}

async fn export_system(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let req = format!("{}/$export", shared.base);
    kickoff(&shared, &headers, &params, None, req)
}

async fn export_group(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let req = format!("{}/Group/{id}/$export", shared.base);
    kickoff(&shared, &headers, &params, Some(&id), req)
}

async fn bulk_status(State(shared): State<Arc<Shared>>, Path(job): Path<String>) -> Response {
    let mut jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
    let Some(j) = jobs.get_mut(&job) else {
        return outcome(StatusCode::NOT_FOUND, "unknown export job");
    };
    if j.polls_left > 0 {
        j.polls_left -= 1;
        let mut r = StatusCode::ACCEPTED.into_response();
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(shared.opts.bulk_retry_after_secs),
        );
        r.headers_mut()
            .insert("x-progress", HeaderValue::from_static("in progress"));
        return r;
    }
    let origin = shared.base.trim_end_matches("/fhir").to_string();
    let output: Vec<_> = j
        .files
        .iter()
        .map(|(t, _)| serde_json::json!({"type": t, "url": format!("{origin}/bulk-files/{job}/{t}.ndjson")}))
        .collect();
    let deleted: Vec<_> = if j.deleted.is_empty() {
        vec![]
    } else {
        vec![
            serde_json::json!({"type": "Bundle", "url": format!("{origin}/bulk-files/{job}/deleted.ndjson")}),
        ]
    };
    let manifest = serde_json::json!({
        "transactionTime": j.transaction_time,
        "request": j.request,
        "requiresAccessToken": !matches!(shared.opts.auth, ServerAuth::None),
        "output": output,
        "deleted": deleted,
        "error": []
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        manifest.to_string(),
    )
        .into_response()
}

async fn bulk_delete(State(shared): State<Arc<Shared>>, Path(job): Path<String>) -> Response {
    shared
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&job);
    StatusCode::ACCEPTED.into_response()
}

async fn bulk_file(
    State(shared): State<Arc<Shared>>,
    Path((job, file)): Path<(String, String)>,
) -> Response {
    let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
    let Some(j) = jobs.get(&job) else {
        return outcome(StatusCode::NOT_FOUND, "unknown export job");
    };
    let name = file.trim_end_matches(".ndjson");
    let bytes = if name == "deleted" {
        Some(j.deleted.clone())
    } else {
        j.files
            .iter()
            .find(|(t, _)| t == name)
            .map(|(_, b)| b.clone())
    };
    drop(jobs);
    match bytes {
        None => outcome(StatusCode::NOT_FOUND, "no such file"),
        Some(b) => {
            // Stream in 64 KiB chunks, as a real server would.
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = b
                .chunks(64 * 1024)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/fhir+ndjson")],
                Body::from_stream(futures_util::stream::iter(chunks)),
            )
                .into_response()
        }
    }
}

async fn smart_configuration(State(shared): State<Arc<Shared>>) -> Response {
    let origin = shared.base.trim_end_matches("/fhir").to_string();
    axum::Json(serde_json::json!({
        "token_endpoint": format!("{origin}/auth/token"),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.read"],
        "capabilities": ["client-confidential-asymmetric"]
    }))
    .into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    scope: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": code}))).into_response()
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    jti: String,
}

async fn token(State(shared): State<Arc<Shared>>, Form(f): Form<TokenForm>) -> Response {
    let ServerAuth::Smart {
        clients,
        token_lifetime_secs,
    } = &shared.opts.auth
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    };
    if f.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if f.client_assertion_type.as_deref()
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let Some(jwt) = f.client_assertion.as_deref() else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Ok(header) = jsonwebtoken::decode_header(jwt) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    let token_url = format!("{}/auth/token", shared.base.trim_end_matches("/fhir"));
    let mut verified: Option<AssertionClaims> = None;
    for c in clients {
        let (alg, key) = match c.algorithm {
            "RS384" => (
                Algorithm::RS384,
                DecodingKey::from_rsa_pem(c.public_pem.as_bytes()),
            ),
            "ES384" => (
                Algorithm::ES384,
                DecodingKey::from_ec_pem(c.public_pem.as_bytes()),
            ),
            _ => continue,
        };
        if header.alg != alg {
            continue;
        }
        let Ok(key) = key else { continue };
        let mut v = Validation::new(alg);
        v.set_audience(&[token_url.as_str()]);
        v.set_issuer(&[c.client_id.as_str()]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        if let Ok(data) = jsonwebtoken::decode::<AssertionClaims>(jwt, &key, &v) {
            if data.claims.sub == c.client_id && data.claims.iss == c.client_id {
                verified = Some(data.claims);
                break;
            }
        }
    }
    let Some(claims) = verified else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if !shared
        .jtis
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(format!("{}:{}", claims.iss, claims.jti))
    {
        // A replayed assertion.
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let access =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
    shared
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            access.clone(),
            Utc::now() + chrono::Duration::seconds(*token_lifetime_secs as i64),
        );
    shared.tokens_issued.fetch_add(1, Ordering::SeqCst);
    axum::Json(serde_json::json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": token_lifetime_secs,
        "scope": f.scope.unwrap_or_else(|| "system/*.read".into()),
    }))
    .into_response()
}
