//! A FHIR R4 test server (axum) serving synthetic resources: REST search with `_count`
//! paging and `Bundle.link[next]`, `_lastUpdated` filters, type-level `_history` (which
//! carries deletions), Bulk Data `$export` (system and Group level) with async kick-off,
//! status polling with `Retry-After` and NDJSON outputs, `transaction` Bundles posted to
//! the base (all or nothing, references resolved), a SMART Backend Services token
//! endpoint that verifies RS384/ES384 client assertions, bearer/basic checks, optional
//! TLS with client-certificate verification, and fault knobs.
//!
//! It binds `127.0.0.1:0` and runs on its own thread and runtime, so blocking test code
//! (like a sync) can use it directly. Synthetic data only.
//!
//! Modules by what they own: [`state`] the stored resources and history, [`guard`] what
//! every data request passes (recording, the auth check, injected faults), [`rest`] search
//! and `_history` with paging, [`export`] Bulk Data `$export`, [`transaction`] transaction
//! Bundles, [`smart`] the SMART token
//! endpoint, [`tls`] serving over (mutual) TLS.

mod export;
mod guard;
mod rest;
mod smart;
mod state;
mod tls;
mod transaction;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::middleware;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::pki::TestPki;
use crate::synth::Resource;
use export::{bulk_delete, bulk_file, bulk_status, export_group, export_system};
use guard::{guard, token_faults};
pub use guard::{Fault, RecordedRequest};
use rest::{history, search};
use smart::{smart_configuration, token};
use state::Shared;
use tls::serve_tls;

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
    /// Export manifests list no `deleted` files even when resources were deleted (as
    /// some real servers do); `_history` still carries the deletions.
    pub bulk_omit_deleted: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            auth: ServerAuth::None,
            tls: None,
            bulk_polls_before_ready: 1,
            bulk_retry_after_secs: 1,
            bulk_omit_deleted: false,
        }
    }
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

impl FhirServer {
    /// Start serving on 127.0.0.1:0 with no data.
    pub fn start(opts: ServerOptions) -> FhirServer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared::new(
            format!("{scheme}://127.0.0.1:{}/fhir", addr.port()),
            opts,
        ));
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

fn router(shared: Arc<Shared>) -> Router {
    let data = Router::new()
        .route("/fhir", post(transaction::transaction))
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
