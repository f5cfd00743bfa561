/// What can stop a benchmark run; each message says what to check.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error("file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("PostgreSQL: {0} (is the server the script started still running? see scripts/perf-suite.sh)")]
    Postgres(#[from] postgres::Error),
    #[error("snapshot store: {0}")]
    Store(#[from] akari_sync::store::StoreError),
    #[error("sync: {0}")]
    Sync(#[from] akari_sync::SyncError),
    #[error("load generator: {0}")]
    Http(#[from] reqwest::Error),
}

impl BenchError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        BenchError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
