//! What a sync reports: the source's summary of a pull and its per-item problems, why a
//! pull failed, the outcome of one sync (the report `akari sync report` prints), and the
//! status shown to admins, `/healthz` and `/metrics`. Data-free: counts, reason names,
//! FHIR type names and file paths only.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::copy::CopyInfo;
use crate::store::{QuarantineAlert, StoreError};

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
    /// Items of the source (files) that could not be used at all; counted with the
    /// rejected resources against `max_reject_share`.
    pub skipped: u64,
    /// Problems with single items of the source (data-free), at most
    /// [`MAX_SOURCE_PROBLEMS`] of them; `skipped` and the warnings are counted in full.
    pub problems: Vec<SourceProblem>,
    /// Items of the source the record does not use, by kind (e.g. SS-MIX2 data types).
    pub not_kept: BTreeMap<String, u64>,
    /// An incremental pull that could not learn what was deleted since the last pull
    /// (no history read, an export manifest listing no deleted resources): deletions wait
    /// for the next full pull.
    pub deletions_unreported: bool,
}

/// Problems kept per pull for the sync report.
pub const MAX_SOURCE_PROBLEMS: usize = 200;

/// One problem with one item of the source, e.g. an SS-MIX2 file: which file (its path
/// relative to the storage root), where in it (segment and field), what was wrong, and
/// whether the file was skipped or used with a warning. Never patient data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceProblem {
    pub file: String,
    pub place: String,
    pub problem: String,
    pub skipped: bool,
}

impl std::fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.skipped { "skipped" } else { "warning" };
        if self.place.is_empty() {
            write!(f, "{} ({what}): {}", self.file, self.problem)
        } else {
            write!(f, "{} {} ({what}): {}", self.file, self.place, self.problem)
        }
    }
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
    /// Reading a file or directory of the source failed; `detail` names it (never its
    /// content) and repeats the I/O error's text, which `source` keeps.
    #[error("reading the source failed: {detail}")]
    Io {
        detail: String,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error("the source is misconfigured: {0}")]
    Config(String),
    #[error("the pull was cancelled")]
    Cancelled,
    #[error("the pull was stopped by the engine")]
    Stopped,
}

impl SourceError {
    /// A failed read: `detail` says what was read and repeats `e`'s text.
    pub fn io(detail: String, e: std::io::Error) -> SourceError {
        SourceError::Io {
            detail,
            source: Some(e),
        }
    }
}

/// Why a sync failed. The current generation is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("pull from the source failed: {0}")]
    Source(#[from] SourceError),
    #[error("writing the new generation failed: {0}")]
    Store(#[from] StoreError),
    #[error("sync refused: {rejected} of {total} resources rejected ({}), more than the allowed share of {max_share}; the new generation was discarded and the current one stays in service — `akari sync report` lists them by reason and resource type; check the source", reasons_text(.reasons))]
    TooManyRejects {
        rejected: u64,
        total: u64,
        max_share: f64,
        /// Rejected resources by reason.
        reasons: BTreeMap<String, u64>,
    },
    /// The pull would lose more than the guard allows: kept as a quarantined generation,
    /// not served (see `store::guard`). `new` is false when it equals the newest
    /// quarantined generation (nothing new was written).
    #[error("{}", quarantined_message(*.generation, *.current, .losses, *.share, *.new))]
    Quarantined {
        generation: u64,
        current: u64,
        /// What it would lose, e.g. `patient 1000 → 0 (−100.0 %)`.
        losses: String,
        /// The configured share (`quarantine_loss_share`).
        share: f64,
        new: bool,
    },
    #[error("a sync is already running")]
    AlreadyRunning,
    #[error("the sync was cancelled")]
    Cancelled,
    #[error("internal error in the sync pipeline: {0}")]
    Internal(String),
}

fn quarantined_message(
    generation: u64,
    current: u64,
    losses: &str,
    share: f64,
    new: bool,
) -> String {
    let kept = if new {
        format!("kept as quarantined generation {generation}")
    } else {
        format!("the same as quarantined generation {generation} (nothing new written)")
    };
    format!(
        "the pull would lose {losses}, more than the allowed {:.0} % of the current \
         generation: {kept}, not served; generation {current} stays in service. Check the \
         source; if the loss is real, promote it (`akari snapshot promote {generation}` or \
         the admin sync page)",
        share * 100.0
    )
}

/// "invalid_json 3, missing_subject 1", largest first.
pub fn reasons_text(reasons: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = reasons.iter().filter(|(_, n)| **n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SyncReport {
    /// The report as `akari sync report` prints it: what was received, stored, rejected
    /// (by reason, then FHIR type), kept with warnings (by reason and type), ignored and
    /// dropped. `time` writes the start time as a person reads it (on the hospital's
    /// clock, which this crate does not know).
    pub fn text(&self, time: impl Fn(&DateTime<Utc>) -> String) -> String {
        let mut out = format!(
            "{} sync, generation {}, started {}: {} resources received ({} bytes), {} deletions, {} ms\n",
            if self.full { "full" } else { "incremental" },
            self.generation,
            time(&self.started_at),
            self.resources,
            self.bytes,
            self.deletions,
            self.duration_ms,
        );
        out.push_str(&format!(
            "  stored: {} upserts, {} removals; {} Locations for the census\n",
            self.upserts, self.removals, self.places
        ));
        let rejected: u64 = self.rejects.values().sum();
        out.push_str(&format!(
            "  rejected (not stored; count towards the reject limit): {rejected}\n"
        ));
        for (reason, n) in &self.rejects {
            out.push_str(&format!("    {reason:<24} {n:>8}\n"));
            for (rtype, m) in self.reject_types.get(reason).into_iter().flatten() {
                out.push_str(&format!("      {rtype:<22} {m:>8}\n"));
            }
        }
        out.push_str(&format!(
            "  kept with a warning (stored and shown; never rejects): {} resources\n",
            self.warned_resources
        ));
        for (reason, by_type) in &self.warnings {
            for (rtype, n) in by_type {
                out.push_str(&format!("    {reason:<24} {rtype:<22} {n:>8}\n"));
            }
        }
        let list = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.ignored.is_empty() {
            out.push_str(&format!("  types not kept: {}\n", list(&self.ignored)));
        }
        if !self.dropped.is_empty() {
            out.push_str(&format!(
                "  not kept by rule (retracted): {}\n",
                list(&self.dropped)
            ));
        }
        if self.deletions_pending_full {
            out.push_str("  DELETIONS WAIT FOR THE NEXT FULL SYNC: the source did not say what was deleted since the last pull\n");
        }
        if self.out_of_scope_patients > 0 {
            out.push_str(&format!(
                "  patients out of scope: {}\n",
                self.out_of_scope_patients
            ));
        }
        out
    }
}

impl SyncError {
    /// Did the source fail to answer (so the main system may be down), as opposed to
    /// answering with something the node refused or could not store?
    pub fn source_unreachable(&self) -> bool {
        match self {
            SyncError::Source(SourceError::Connection(_) | SourceError::Io { .. }) => true,
            SyncError::Source(SourceError::Http { status, .. }) => *status >= 500,
            _ => false,
        }
    }
}

/// The outcome of one sync (a committed one, or one refused for too many rejects).
/// Data-free: counts, reason names and FHIR type names only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    pub generation: u64,
    pub full: bool,
    /// The pull left the data as it was: no generation was written, `generation` (the
    /// current one) is current as of this pull.
    #[serde(default)]
    pub unchanged: bool,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Bytes of JSON received.
    pub bytes: u64,
    /// Resources received (upserts, before mapping) and deletions.
    pub resources: u64,
    pub deletions: u64,
    pub upserts: u64,
    pub removals: u64,
    /// Rejected resources by reason (mapping and linking to patients together).
    pub rejects: BTreeMap<String, u64>,
    /// Rejected resources by reason, then FHIR type (mapping rejects only: linking
    /// rejects name no type).
    pub reject_types: BTreeMap<String, BTreeMap<String, u64>>,
    /// Data-quality warnings on kept resources by reason, then FHIR type. Never counted
    /// as rejects.
    pub warnings: BTreeMap<String, BTreeMap<String, u64>>,
    /// Kept resources with at least one warning.
    pub warned_resources: u64,
    pub ignored: BTreeMap<String, u64>,
    pub dropped: BTreeMap<String, u64>,
    pub out_of_scope_patients: u64,
    /// A full sync over its memory budget: sorted runs written to temporary files (removed
    /// when the sync ended), and their bytes.
    #[serde(default)]
    pub spilled_runs: u64,
    #[serde(default)]
    pub spilled_bytes: u64,
    /// Source items (files) skipped as unusable, and the first problems found with the
    /// source's items (see [`SourceProblem`]).
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub source_problems: Vec<SourceProblem>,
    /// Locations received for the place book.
    pub places: u64,
    /// An incremental pull whose source could not say what was deleted: deletions since
    /// the last pull show only after the next full sync.
    #[serde(default)]
    pub deletions_pending_full: bool,
}

/// For `/healthz`, `/metrics` and the admin pages. No patient data.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncStatus {
    /// The source, data-free (e.g. `ss-mix2 /mnt/ssmix2`): named on the admin pages only.
    pub source: String,
    pub running: bool,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_full_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub current_generation: Option<u64>,
    /// What the source said the current generation's data is current as of.
    pub data_as_of: Option<DateTime<Utc>>,
    /// Items in the current generation by kind.
    pub counts: BTreeMap<String, u64>,
    /// Rejected resources by reason, since this process started.
    pub rejects_total: BTreeMap<String, u64>,
    /// Warnings on kept resources by reason, since this process started.
    pub warnings_total: BTreeMap<String, u64>,
    /// The last sync refused for too many rejects (what it found; nothing was stored),
    /// until a later sync succeeds.
    pub last_refused: Option<SyncReport>,
    /// Resources of types not kept, since this process started.
    pub ignored_total: BTreeMap<String, u64>,
    pub last_report: Option<SyncReport>,
    /// Damage found in stored snapshot data and what the node did about it (data-free;
    /// show `message()` to administrators until one clears it).
    pub integrity_alert: Option<crate::store::IntegrityAlert>,
    /// The newest pulls were quarantined (data-free; show `message()` to administrators
    /// until a later pull passes the guard or one of them promotes it).
    pub quarantine: Option<QuarantineAlert>,
    /// What the second copy of the snapshot holds.
    pub copy: Option<CopyInfo>,
    /// Why the second copy could not be written or read, if it could not.
    pub copy_error: Option<String>,
}

impl SyncStatus {
    /// How old the served data is (now − data_as_of).
    pub fn data_age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.data_as_of.map(|t| now - t)
    }
}

/// Counts by reason, then resource type.
pub(super) fn by_reason_and_type(
    counts: impl Iterator<Item = (&'static str, String, u64)>,
) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (reason, rtype, n) in counts {
        *out.entry(reason.to_string())
            .or_default()
            .entry(rtype)
            .or_default() += n;
    }
    out
}
