//! Errors of the `akari` library. Messages name the file, key or address at fault and
//! say what to do; they never contain key material or patient data.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("data directory {path}: {hint} ({source})")]
    DataDir {
        path: PathBuf,
        hint: &'static str,
        source: io::Error,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path}: {message}")]
    BadKeyFile { path: PathBuf, message: String },
    #[error("cannot generate a key or certificate: {0}")]
    KeyGeneration(String),
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("cannot listen on {addr} (`{key}`): {source}")]
    Bind {
        key: &'static str,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("listener error: {0}")]
    Listener(io::Error),
    /// Opening or wiring one of the node's services failed.
    #[error("cannot {what} ({path}): {message}")]
    Service {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    /// The control socket failed.
    #[error("control socket {path}: {message}")]
    Control { path: PathBuf, message: String },
}
