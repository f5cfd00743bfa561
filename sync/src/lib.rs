//! akari-sync: pulls a minimal, read-only FHIR R4 snapshot from the main EHR into
//! immutable, verified generations, and reads the current generation back for the web
//! layer. Knows nothing of HTTP serving, accounts or the audit ledger.

pub mod crypto;
pub mod engine;
pub mod fhir;
pub mod mapping;
pub mod model;
pub mod reader;
pub mod source;
pub mod store;
pub mod text;

pub use crypto::{SnapshotPublicKey, SnapshotSecret};
pub use engine::{Engine, SnapshotControl, Source, SyncError, SyncReport, SyncStatus};
pub use mapping::Windows;
pub use reader::SnapshotReader;
pub use store::{Store, StoreError as Error, StoreError, StoreOptions};

/// Which patients the snapshot holds (applied at each full sync; incremental syncs add
/// whatever arrives for patients already held or new).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScopeConfig {
    /// Every patient the source sends.
    #[default]
    All,
    /// Patients with an encounter in the last `days` days, or in house now.
    RecentEncounter { days: u32 },
    /// Current inpatients only.
    CurrentInpatients,
}

/// Configuration owned by this crate: the `[sync]` section of `akari.toml`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Seconds between incremental syncs (default 300).
    pub interval_secs: u64,
    /// Seconds between full syncs (default 86400: daily).
    pub full_every_secs: u64,
    /// Up to this many seconds of random delay added to each interval (default 60).
    pub jitter_secs: u64,
    /// Incremental pulls ask for changes since the last high-water mark minus this many
    /// seconds, so clock skew between source and node loses nothing (default 300).
    pub overlap_secs: u64,
    /// Generations to keep; never fewer than 3 (default 3).
    pub keep_generations: usize,
    /// A sync with a larger share of malformed resources is discarded (default 0.05).
    pub max_reject_share: f64,
    /// ... but only once more than this many were rejected (default 20).
    pub min_rejects_to_abort: u64,
    /// Threads that parse and map resources (default 2).
    pub parse_threads: usize,
    pub scope: ScopeConfig,
    pub windows: Windows,
    /// Identifier systems that name the hospital patient ID at this site, tried before
    /// the JP Core rules (the JP patient-ID OID with or without its institution suffix,
    /// then identifier type `MR`). Default none.
    pub hospital_id_systems: Vec<String>,
    /// `[sync.source]`: where to pull from (see `docs/sync-source.md`).
    pub source: source::Config,
}

impl Config {
    /// Store settings from this configuration (`Store::open(path, config.store_options())`).
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            keep: self.keep_generations,
            public_key: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval_secs: 300,
            full_every_secs: 86_400,
            jitter_secs: 60,
            overlap_secs: 300,
            keep_generations: store::MIN_KEEP,
            max_reject_share: 0.05,
            min_rejects_to_abort: 20,
            parse_threads: 2,
            scope: ScopeConfig::All,
            windows: Windows::default(),
            hospital_id_systems: Vec::new(),
            source: source::Config::default(),
        }
    }
}
