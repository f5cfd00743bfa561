//! The sync engine: pulls from a [`Source`], maps every resource into the minimal record,
//! and builds a new generation in the store.

use crate::source::{Change, PullKind};
pub use tokio_util::sync::CancellationToken;

/// Why the sink stopped the pull (disk full, too many rejects, cancelled). The source just
/// returns [`SourceError::Stopped`]; the engine keeps the real reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkStopped;

/// Where resources come from. Implementations live in `crate::source`.
pub trait Source: Send + Sync {
    /// Short, data-free label for logs and status, e.g. `fhir-rest https://ehr.example/fhir`.
    fn describe(&self) -> String;

    /// Blocking. Called on a plain thread that is not inside a tokio runtime, so an HTTP
    /// source owns its runtime and blocks on it. Delivers every resource through `sink`;
    /// stops promptly if `cancel` fires ([`SourceError::Cancelled`]) or the sink returns
    /// [`SinkStopped`] ([`SourceError::Stopped`]).
    fn pull(
        &self,
        kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError>;
}

/// What a source reports at the end of a successful pull.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullSummary {
    /// Time the data is current as of, used for the next [`PullKind::Since`]. `None`: the
    /// engine uses the local time at which the pull started.
    pub high_water: Option<chrono::DateTime<chrono::Utc>>,
    /// JSON bytes received.
    pub bytes: u64,
    /// Upserts delivered.
    pub resources: u64,
    /// Deletions delivered.
    pub deletions: u64,
}

/// Why a pull failed. Messages carry no patient data and no secrets.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the source refused our credentials: {0}")]
    Unauthorized(String),
    #[error("connection to the source failed: {0}")]
    Connection(String),
    #[error("the source answered HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    #[error("the source sent something we cannot follow: {0}")]
    Protocol(String),
    #[error("reading the source failed: {0}")]
    Io(String),
    #[error("the source is misconfigured: {0}")]
    Config(String),
    #[error("the pull was cancelled")]
    Cancelled,
    #[error("the pull was stopped by the engine")]
    Stopped,
}
