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
    /// A pull that would lose more than this share of the current generation's patients or
    /// of any kind of item is quarantined: kept, not served, until an administrator
    /// promotes it (default 0.10; 1.0 quarantines only a pull that leaves nothing at all).
    /// See `store::guard`.
    pub quarantine_loss_share: f64,
    /// ... provided it loses at least this many items of that kind (default 10). A pull that
    /// leaves nothing where there was data is quarantined whatever the numbers.
    pub quarantine_min_loss: u64,
    /// After an incremental sync, rewrite the second copy of the snapshot (the newest good
    /// generation in a file of its own) if it is older than this many seconds (default 3600;
    /// 0: after every sync). Full syncs, promotions and rollbacks always rewrite it.
    pub copy_every_secs: u64,
    /// A full sync holds at most about this many MiB of collected rows and the snapshot
    /// file's page cache in memory and writes the rest of the rows to sorted runs in
    /// temporary files in the data directory (default 512; they hold only what the
    /// snapshot file holds, sealed if it is encrypted).
    pub memory_budget_mib: u64,
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
    /// The guard's thresholds.
    pub fn guard(&self) -> store::Guard {
        store::Guard {
            max_loss_share: self.quarantine_loss_share,
            min_loss: self.quarantine_min_loss,
        }
    }

    /// Ranges the types cannot express: `Err((key within [sync], what is wrong))`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.quarantine_loss_share > 0.0 && self.quarantine_loss_share <= 1.0) {
            return Err((
                "quarantine_loss_share",
                format!(
                    "{} is out of range; expected a share above 0 and at most 1 (0.10: a pull \
                     losing more than 10 % of a kind is quarantined; 1: only an empty one)",
                    self.quarantine_loss_share
                ),
            ));
        }
        if self.keep_generations < store::MIN_KEEP {
            return Err((
                "keep_generations",
                format!(
                    "{} is too few; at least {} generations are kept",
                    self.keep_generations,
                    store::MIN_KEEP
                ),
            ));
        }
        if self.memory_budget_mib == 0 || self.memory_budget_mib > 1 << 30 {
            return Err((
                "memory_budget_mib",
                format!(
                    "{} is out of range; expected at least 1 (MiB of rows a full sync holds \
                     in memory before it writes sorted runs to temporary files; default 512)",
                    self.memory_budget_mib
                ),
            ));
        }
        self.source.validate()
    }

    /// [`Config::memory_budget_mib`] in bytes.
    pub fn memory_budget(&self) -> usize {
        usize::try_from(self.memory_budget_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

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
            quarantine_loss_share: 0.10,
            quarantine_min_loss: 10,
            copy_every_secs: 3600,
            memory_budget_mib: 512,
            scope: ScopeConfig::All,
            windows: Windows::default(),
            hospital_id_systems: Vec::new(),
            source: source::Config::default(),
        }
    }
}
