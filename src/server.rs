//! Starting and stopping a node: the HTTPS listener (rustls + hyper), the metrics and
//! redirect listeners, and graceful shutdown.
//!
//! Shutdown: when the `shutdown` token is cancelled the node stops accepting, asks every
//! open connection to finish its in-flight requests (HTTP/1 closes after the current
//! response, HTTP/2 sends GOAWAY), waits up to `server.drain_timeout_secs`, then drops
//! whatever is left and waits for background tasks registered on the node's
//! [`TaskTracker`].
//!
//! Slow and idle clients: every connection is admitted through
//! [`crate::connections::Connections`] (a cap that keeps descriptors in reserve and lets
//! a new connection replace the idlest), and closed when its TLS handshake, its HTTP/1
//! headers or its idleness outlast the configured timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use akari_web::{AppState, HttpMetrics, NodeStatus};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::connections::{self, Connections, ProxyNet, Tracked};
use crate::console;
use crate::datadir::DataDir;
use crate::error::Error;
use crate::services::Services;
use crate::tls::{self, TlsMaterial};

/// After the drain timeout, how long plain listeners and background tasks get to stop.
const FINAL_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Listening sockets handed to [`start`]. Binding is the caller's business, so tests can
/// use port 0 and the binary can report bind errors with the config key at fault.
pub struct Listeners {
    pub https: TcpListener,
    pub metrics: Option<TcpListener>,
    pub http_redirect: Option<TcpListener>,
}

impl Listeners {
    /// Binds the metrics and redirect listeners as configured, around an HTTPS listener.
    pub async fn bind_others(config: &Config, https: TcpListener) -> Result<Self, Error> {
        let metrics = if config.metrics.enabled {
            Some(bind("metrics.listen", config.metrics.listen).await?)
        } else {
            None
        };
        let http_redirect = match config.server.http_redirect_listen {
            Some(addr) => Some(bind("server.http_redirect_listen", addr).await?),
            None => None,
        };
        Ok(Listeners {
            https,
            metrics,
            http_redirect,
        })
    }
}

/// Binds a TCP listener; the error names the configuration key.
pub async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { key, addr, source })
}

/// A running node.
pub struct Node {
    pub https_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub http_redirect_addr: Option<SocketAddr>,
    /// SHA-256 fingerprint of the certificate served, as browsers show it.
    pub cert_fingerprint: String,
    /// Feeds `/healthz` (mode, snapshot); [`Services`] keeps it current.
    pub status: watch::Sender<NodeStatus>,
    /// The node's services (snapshot, sync, ledger, accounts).
    pub services: Arc<Services>,
    /// The control socket console commands reach this node through.
    pub control_socket: std::path::PathBuf,
    /// Background tasks register here; they must stop when the shutdown token is cancelled.
    pub tasks: TaskTracker,
    serving: JoinHandle<Result<(), Error>>,
}

impl Node {
    /// Waits until the node has shut down (after the shutdown token was cancelled).
    pub async fn wait(self) -> Result<(), Error> {
        match self.serving.await {
            Ok(result) => result,
            Err(e) => Err(Error::Listener(std::io::Error::other(format!(
                "the HTTPS server task failed: {e}"
            )))),
        }
    }
}

/// Runs a node on `listener` until `shutdown` is cancelled and in-flight requests have
/// drained. Metrics and redirect listeners are bound as configured.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let listeners = Listeners::bind_others(&config, listener).await?;
    start(config, listeners, shutdown).await?.wait().await
}

/// Starts serving and returns at once with the node's addresses and handles.
pub async fn start(
    config: Config,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<Node, Error> {
    DataDir::new(&config.data_dir).check_readable()?;
    let material = TlsMaterial::load(&config.tls_cert_path(), &config.tls_key_path())?;
    let cert_fingerprint = material.fingerprint();
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(
        &material,
        config.tls.allow_tls12,
    )?));

    let services = Arc::new(open_services(&config).await?);
    let status = services.status_sender();
    let engine = services.engine.clone();
    let metrics = Arc::new(HttpMetrics::new().with_sync(Arc::new(move || engine.status())));
    metrics.watch_node(services.status_receiver());
    #[cfg_attr(not(feature = "test-hooks"), allow(unused_mut))]
    let mut state = AppState::new(services.status_receiver(), metrics.clone())
        .with_pages(services.pages(shutdown.clone()));
    #[cfg(feature = "test-hooks")]
    {
        state.test_hooks.slow_route = config.server.test_slow_route;
    }
    let app = akari_web::router(state);

    let https_addr = listeners.https.local_addr().map_err(Error::Listener)?;
    let tasks = TaskTracker::new();
    let control_socket = console::listen(services.clone(), &tasks, shutdown.clone())?;
    services.spawn_background(&tasks, shutdown.clone());

    let metrics_addr = spawn_plain(
        &tasks,
        "metrics",
        listeners.metrics,
        akari_web::router::metrics_router(metrics),
        &shutdown,
    )?;
    let http_redirect_addr = spawn_plain(
        &tasks,
        "http-redirect",
        listeners.http_redirect,
        redirect_router(https_addr.port()),
        &shutdown,
    )?;

    info!(
        %https_addr,
        metrics_addr = ?metrics_addr,
        http_redirect_addr = ?http_redirect_addr,
        cert_sha256 = %cert_fingerprint,
        tls12 = config.tls.allow_tls12,
        "node started"
    );

    let drain = Duration::from_secs(config.server.drain_timeout_secs);
    let settings = ConnectionSettings::from_config(&config);
    let serving = tokio::spawn(serve_https(
        listeners.https,
        acceptor,
        app,
        shutdown,
        drain,
        tasks.clone(),
        settings,
    ));
    Ok(Node {
        https_addr,
        metrics_addr,
        http_redirect_addr,
        cert_fingerprint,
        status,
        services,
        control_socket,
        tasks,
        serving,
    })
}

/// Open the node's stores and services (blocking work, off the async threads) and check
/// their integrity.
async fn open_services(config: &Config) -> Result<Services, Error> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let services = Services::open(&config)?;
        services.check_integrity();
        Ok::<_, Error>(services)
    })
    .await
    .map_err(|e| {
        Error::Listener(std::io::Error::other(format!(
            "opening the node's services failed: {e}"
        )))
    })?
}

/// Serve `router` over plain HTTP on `listener`, when one is configured.
fn spawn_plain(
    tasks: &TaskTracker,
    name: &'static str,
    listener: Option<TcpListener>,
    router: Router,
    shutdown: &CancellationToken,
) -> Result<Option<SocketAddr>, Error> {
    let Some(listener) = listener else {
        return Ok(None);
    };
    let addr = listener.local_addr().map_err(Error::Listener)?;
    tasks.spawn(serve_plain(name, listener, router, shutdown.clone()));
    Ok(Some(addr))
}

/// How client connections are bounded: timeouts, the cap, and whose forwarded address
/// is believed.
struct ConnectionSettings {
    handshake_timeout: Duration,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    trusted_proxies: Arc<[ProxyNet]>,
    connections: Arc<Connections>,
}

impl ConnectionSettings {
    /// Raises the open-file limit and derives the connection cap from it.
    fn from_config(config: &Config) -> Self {
        let server = &config.server;
        let fd_soft = match connections::raise_fd_limit() {
            Ok(limit) => {
                if limit.soft > limit.before {
                    info!(
                        from = limit.before,
                        to = limit.soft,
                        "raised the open-file limit"
                    );
                }
                limit.soft
            }
            Err(e) => {
                warn!(error = %e, "could not read or raise the open-file limit");
                u64::MAX
            }
        };
        let cap = connections::effective_cap(server.max_connections, fd_soft, server.fd_reserve);
        if cap < server.max_connections {
            warn!(
                configured = server.max_connections,
                cap,
                open_file_limit = fd_soft,
                reserve = server.fd_reserve,
                "the open-file limit is too low for server.max_connections; \
                 capping connections lower (raise the limit, e.g. LimitNOFILE= in the \
                 systemd unit)"
            );
        }
        ConnectionSettings {
            handshake_timeout: Duration::from_secs(server.handshake_timeout_secs),
            header_read_timeout: Duration::from_secs(server.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(server.idle_timeout_secs),
            trusted_proxies: server.trusted_proxies.clone().into(),
            connections: Connections::new(cap),
        }
    }
}

/// What every connection task shares.
#[derive(Clone)]
struct Shared {
    acceptor: TlsAcceptor,
    app: Router,
    builder: hyper_util::server::conn::auto::Builder<TokioExecutor>,
    settings: Arc<ConnectionSettings>,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
}

async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    shutdown: CancellationToken,
    drain: Duration,
    tasks: TaskTracker,
    settings: ConnectionSettings,
) -> Result<(), Error> {
    let connections = TaskTracker::new();
    // Cancelled when the drain timeout has passed: connections still open are dropped.
    let hard_stop = CancellationToken::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let shared = Shared {
        acceptor,
        app,
        builder,
        settings: Arc::new(settings),
        shutdown: shutdown.clone(),
        hard_stop: hard_stop.clone(),
    };
    let registry = shared.settings.connections.clone();

    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection_error(&e) => {
                    debug!(error = %e, "accept failed for one connection");
                    continue;
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match registry.admit() {
            Ok(slot) => slot,
            Err(full) => {
                // Every open connection has a request in progress: refuse this one.
                warn!(%peer, open = full.open, cap = registry.cap(), "connection cap reached; refusing a connection");
                continue;
            }
        };
        connections.spawn(serve_connection(stream, peer, slot, shared.clone()));
    }

    drop(listener);
    drain_connections(connections, drain, &hard_stop).await;
    tasks.close();
    if tokio::time::timeout(FINAL_STOP_TIMEOUT, tasks.wait())
        .await
        .is_err()
    {
        warn!(
            tasks = tasks.len(),
            "background tasks did not stop in time; leaving them"
        );
    }
    info!("node stopped");
    Ok(())
}

/// Let in-flight requests finish for up to `drain`, then drop what is still open.
async fn drain_connections(
    connections: TaskTracker,
    drain: Duration,
    hard_stop: &CancellationToken,
) {
    connections.close();
    info!(
        timeout_secs = drain.as_secs(),
        "stopped accepting; draining in-flight requests"
    );
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        warn!(
            open_connections = connections.len(),
            "drain timeout passed; closing the remaining connections"
        );
        hard_stop.cancel();
        connections.wait().await;
    }
}

/// The TLS handshake, within the handshake timeout; `None` when it failed, timed out,
/// the node is stopping or a newer connection took this one's place.
async fn handshake(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: &TlsAcceptor,
    settings: &ConnectionSettings,
    activity: &connections::Activity,
    shutdown: &CancellationToken,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    tokio::select! {
        () = shutdown.cancelled() => None,
        () = activity.evicted().cancelled() => {
            debug!(%peer, "connection gave way to a new one during its handshake");
            None
        }
        handshake = tokio::time::timeout(settings.handshake_timeout, acceptor.accept(stream)) => {
            match handshake {
                Ok(Ok(tls)) => Some(tls),
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "TLS handshake refused");
                    None
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake timed out");
                    None
                }
            }
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: connections::Slot,
    shared: Shared,
) {
    let Shared {
        acceptor,
        app,
        builder,
        settings,
        shutdown,
        hard_stop,
    } = shared;
    let activity = slot.activity.clone();
    let Some(tls) = handshake(stream, peer, &acceptor, &settings, &activity, &shutdown).await
    else {
        return;
    };
    let trusted = settings.trusted_proxies.clone();
    let on_request = activity.clone();
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        // The client's address, for the audit trail and per-address login backoff.
        let client = connections::client_address(peer, request.headers(), &trusted);
        request.extensions_mut().insert(ConnectInfo(client));
        let in_flight = on_request.request();
        let response = app.clone().call(request);
        async move {
            let response = response.await;
            drop(in_flight);
            response
        }
    });
    let conn = builder.serve_connection(TokioIo::new(Tracked::new(tls, activity.clone())), service);
    tokio::pin!(conn);
    let idle_timeout = settings.idle_timeout;
    loop {
        let idle = activity.idle_for();
        if idle >= idle_timeout {
            debug!(%peer, "idle connection closed");
            return;
        }
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.evicted().cancelled() => {
                debug!(%peer, "idle connection gave way to a new one");
                return;
            }
            () = tokio::time::sleep(idle_timeout - idle) => continue,
            () = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                break;
            }
        }
    }
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended with an error while draining");
            }
        }
        () = hard_stop.cancelled() => {}
    }
}

/// Errors that concern only the connection being accepted, not the listener.
fn is_per_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

async fn serve_plain(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) {
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(e) = result {
        warn!(listener = name, error = %e, "listener stopped with an error");
    }
}

/// The plain-HTTP listener: every request is redirected to the same host over HTTPS.
fn redirect_router(https_port: u16) -> Router {
    Router::new().fallback(move |request: Request| async move {
        redirect_to_https(request.headers(), request.uri(), https_port)
    })
}

fn redirect_to_https(headers: &axum::http::HeaderMap, uri: &Uri, https_port: u16) -> Response {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_without_port)
    else {
        return (
            StatusCode::BAD_REQUEST,
            "Use https:// to reach this server.\n",
        )
            .into_response();
    };
    let authority = if https_port == 443 {
        host.to_owned()
    } else {
        format!("{host}:{https_port}")
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    match format!("https://{authority}{path}").parse::<Uri>() {
        Ok(target) => Redirect::permanent(&target.to_string()).into_response(),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "Use https:// to reach this server.\n",
        )
            .into_response(),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → the host part, if it is well-formed.
fn host_without_port(value: &str) -> Option<&str> {
    let host = if value.starts_with('[') {
        &value[..=value.find(']')?]
    } else {
        value.split(':').next()?
    };
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn redirect_keeps_host_and_path_and_uses_https_port() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "akari.local:8080".parse().unwrap());
        let uri: Uri = "/login?next=%2F".parse().unwrap();
        let response = redirect_to_https(&headers, &uri, 8443);
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            response.headers()[header::LOCATION],
            "https://akari.local:8443/login?next=%2F"
        );
        headers.insert(header::HOST, "[::1]:80".parse().unwrap());
        let response = redirect_to_https(&headers, &"/".parse().unwrap(), 443);
        assert_eq!(response.headers()[header::LOCATION], "https://[::1]/");
    }

    #[test]
    fn redirect_refuses_missing_or_odd_hosts() {
        let headers = HeaderMap::new();
        let response = redirect_to_https(&headers, &"/".parse().unwrap(), 8443);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "evil.com/@x".parse().unwrap());
        let response = redirect_to_https(&headers, &"/".parse().unwrap(), 8443);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}
