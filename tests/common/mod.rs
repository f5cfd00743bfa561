//! Shared helpers of the end-to-end tests: fresh data directories, nodes on port 0, and
//! HTTPS clients that trust only the node's generated certificate.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use akari::config::{self, FlagOverride, Sources};
use akari::datadir::DataDir;
use akari::{Config, Listeners, Node};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A data directory made by `init`, deleted when dropped.
pub struct TestDir {
    _dir: tempfile::TempDir,
    pub data_dir: PathBuf,
}

impl TestDir {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let config = Config {
            data_dir: data_dir.clone(),
            ..Config::default()
        };
        DataDir::new(&data_dir).init(&config).unwrap();
        TestDir {
            _dir: dir,
            data_dir,
        }
    }

    /// Loads the configuration with environment-style overrides, e.g.
    /// `("AKARI_TLS__ALLOW_TLS12", "true")`.
    pub fn config(&self, env: &[(&str, &str)]) -> Config {
        config::load(&Sources {
            data_dir: self.data_dir.clone(),
            file: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            flags: vec![FlagOverride {
                key: "metrics.listen",
                value: toml::Value::String("127.0.0.1:0".into()),
                flag: "(test)",
            }],
        })
        .unwrap()
    }

    pub fn cert(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.data_dir.join("tls/cert.pem")).unwrap()
    }
}

/// A node running in this process; shut down when dropped.
pub struct TestNode {
    pub node: Option<Node>,
    pub https: SocketAddr,
    pub metrics: Option<SocketAddr>,
    pub shutdown: CancellationToken,
}

impl TestNode {
    pub async fn start(config: Config) -> Self {
        let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let node = akari::start(
            config,
            Listeners {
                https,
                metrics: Some(metrics),
                http_redirect: None,
            },
            shutdown.clone(),
        )
        .await
        .unwrap();
        TestNode {
            https: node.https_addr,
            metrics: node.metrics_addr,
            node: Some(node),
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https.port())
    }

    /// The metrics listener's `GET /metrics` text (the node must have one).
    pub async fn metrics_text(&self) -> String {
        let url = format!(
            "http://{}/metrics",
            self.metrics.expect("a metrics listener")
        );
        reqwest::get(&url).await.unwrap().text().await.unwrap()
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        self.node.take().unwrap().wait().await.unwrap();
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn tls_client_config(
    trusted: &[CertificateDer<'static>],
    versions: &[&'static SupportedProtocolVersion],
) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.clone()).unwrap();
    }
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// An HTTPS client that trusts only `cert` and resolves `localhost` to `addr`.
pub fn https_client(cert: &CertificateDer<'static>, addr: SocketAddr) -> reqwest::Client {
    let tls = tls_client_config(std::slice::from_ref(cert), &[&rustls::version::TLS13]);
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve("localhost", addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Performs a TLS handshake with `addr` as `localhost`; returns the negotiated version.
pub async fn handshake(
    addr: SocketAddr,
    config: ClientConfig,
) -> Result<rustls::ProtocolVersion, std::io::Error> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    Ok(tls.get_ref().1.protocol_version().unwrap())
}

pub fn read_cert(data_dir: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(data_dir.join("tls/cert.pem")).unwrap()
}
