//! The sync engine: pulls from a [`Source`], maps every resource into the minimal record,
//! and builds a new generation in the store; the scheduler runs it periodically.
//!
//! Pipeline of one sync (designed for ≥ 100 MB/s of NDJSON on 2 cores): the source runs
//! on its own thread and hands raw resources to the sink, which copies them into batch
//! buffers; worker threads parse, map, encode, hash (and seal) batches in parallel; the
//! calling thread takes prepared batches in their original order. An incremental sync
//! applies each batch to the generation's single write transaction at once (cost ∝ the
//! delta); a full sync only collects compact rows while the pull runs and then writes the
//! new epoch in one sorted load, in key order, sorting on helper threads (see
//! `store::sorted_load`). Any failure
//! (source error, storage error, too many rejects, cancel) drops the transaction: the
//! current generation stays, and the error goes into [`SyncStatus`]. A finished build goes
//! through the store's guard (`store::guard`): unchanged data writes no generation, a pull
//! that would lose too much is kept quarantined ([`SyncError::Quarantined`]) until an
//! administrator promotes it ([`Engine::promote`]). After a new generation is served the
//! engine rewrites the second copy of the snapshot (`store::copy`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant as StdInstant;

use chrono::{DateTime, Duration, Utc};

use crate::mapping::{
    map_resource, place_encounter, Body, Item, MapContext, Mapped, Outcome, PlaceBook,
    RejectReason, ResourceType, Warning, WarningReason,
};
use crate::reader::SnapshotReader;
use crate::source::{Change, PullKind};
use crate::store::build::Scope;
use crate::store::{Finished, GenerationBuilder, Manifest};
use crate::store::{Payload, Preparer, Target};
use crate::store::{Prepared, Store, StoreError};
use crate::{Config, ScopeConfig};
pub use tokio_util::sync::CancellationToken;

mod control;
mod memory;
mod pipeline;
mod report;

pub use control::SnapshotControl;
pub use memory::MemorySource;
use pipeline::*;
use report::by_reason_and_type;
pub use report::{
    reasons_text, PullSummary, SourceError, SourceProblem, SyncError, SyncReport, SyncStatus,
    MAX_SOURCE_PROBLEMS,
};

/// Why the sink stopped the pull (disk full, too many rejects, cancelled). The source just
/// returns [`SourceError::Stopped`]; the engine keeps the real reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkStopped;

/// Where resources come from. Implementations live in `crate::source`; each repeats the
/// signature of [`Source::pull`] (the one place they look alike), while what they share —
/// mapping, guards, writing the generation — is the engine's.
pub trait Source: Send + Sync {
    /// Short, data-free label for logs and status, e.g. `fhir-rest https://ehr.example/fhir`.
    fn describe(&self) -> String;

    /// The time the source's data is current as of, when the source knows it before the
    /// pull (an export made earlier, replayed data). Windows at sync time are measured back
    /// from it; `None` (a live source): from the pull's start.
    fn data_time(&self) -> Option<DateTime<Utc>> {
        None
    }

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

/// Called with each newly quarantined generation (e.g. to record it in the audit ledger).
pub type QuarantineHook = Arc<dyn Fn(&Manifest) + Send + Sync>;

/// A change kept back until the pull's Locations are in: an encounter to place, or a
/// later change to one (applied after it, in pull order).
enum Held {
    Place(Box<Mapped>),
    Prepared(Prepared),
}

/// Runs syncs against one store and source. Share it in an `Arc`.
pub struct Engine {
    store: Store,
    source: Arc<dyn Source>,
    config: Config,
    reader: Option<SnapshotReader>,
    status: Mutex<SyncStatus>,
    running: Mutex<()>,
    on_quarantine: Option<QuarantineHook>,
    /// Serialises writing the second copy.
    copying: Mutex<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("source", &self.source.describe())
            .finish()
    }
}

impl Engine {
    pub fn new(store: Store, source: Arc<dyn Source>, config: Config) -> Engine {
        let mut status = SyncStatus {
            source: source.describe(),
            ..SyncStatus::default()
        };
        match store.copy_info() {
            Ok(info) => status.copy = info,
            Err(e) => status.copy_error = Some(format!("the second copy is unreadable: {e}")),
        }
        if let Ok((report, refused)) = store.saved_sync_reports() {
            let parse = |b: Option<Vec<u8>>| b.and_then(|b| serde_json::from_slice(&b).ok());
            status.last_report = parse(report);
            status.last_refused = parse(refused);
        }
        let engine = Engine {
            store,
            source,
            config,
            reader: None,
            status: Mutex::new(status),
            running: Mutex::new(()),
            on_quarantine: None,
            copying: Mutex::new(()),
        };
        engine.refresh_status();
        engine
    }

    /// Call `hook` with every generation the guard newly quarantines.
    pub fn with_quarantine_hook(mut self, hook: QuarantineHook) -> Engine {
        self.on_quarantine = Some(hook);
        self
    }

    /// Re-read what the status shows of the store: the current generation, the integrity
    /// and quarantine alerts.
    fn refresh_status(&self) {
        let current = self.store.current();
        let integrity = self.store.integrity_alert();
        let quarantine = self.store.quarantine_alert();
        self.update_status(|s| {
            if let Ok(alert) = integrity {
                s.integrity_alert = alert;
            }
            if let Ok(alert) = quarantine {
                s.quarantine = alert;
            }
            if let Ok(Some(m)) = current {
                s.current_generation = Some(m.generation);
                s.data_as_of = m.high_water;
                s.counts = m.counts.clone();
            }
        });
    }

    /// Refresh this reader after every successful sync.
    pub fn with_reader(mut self, reader: SnapshotReader) -> Engine {
        self.reader = Some(reader);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn status(&self) -> SyncStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Verify the current generation and fall back to an older one that verifies if it is
    /// damaged ([`Store::check_current`]); refreshes the reader and the status. Run at
    /// start-up before serving and periodically. Waits for a running sync to finish.
    pub fn check_integrity(&self) -> Result<crate::store::Integrity, SyncError> {
        let _guard = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = self.store.check_current()?;
        if let Some(reader) = &self.reader {
            reader.refresh()?;
        }
        self.refresh_status();
        if matches!(outcome, crate::store::Integrity::FellBack(_)) {
            self.refresh_copy(true);
        }
        Ok(outcome)
    }

    /// Roll back to a copy of `generation` ([`Store::rollback`]: verified first, needs no
    /// secret), then refresh the reader and the status, so web and CLI share one path.
    /// Waits for a running sync to finish.
    pub fn rollback(&self, generation: u64) -> Result<crate::store::Manifest, StoreError> {
        self.switch_by_hand(|store| store.rollback(generation))
    }

    /// Promote a quarantined generation ([`Store::promote`]: verified first) to current,
    /// then refresh the reader, the status and the second copy. Waits for a running sync.
    pub fn promote(&self, generation: u64) -> Result<Manifest, StoreError> {
        self.switch_by_hand(|store| store.promote(generation))
    }

    /// An administrator's switch of the current generation (rollback, promotion), then the
    /// reader, the status and the second copy follow.
    fn switch_by_hand(
        &self,
        switch: impl FnOnce(&Store) -> Result<Manifest, StoreError>,
    ) -> Result<Manifest, StoreError> {
        let _guard = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let manifest = switch(&self.store)?;
        if let Some(reader) = &self.reader {
            reader.refresh()?;
        }
        self.refresh_status();
        self.refresh_copy(true);
        Ok(manifest)
    }

    /// Rewrite the second copy of the snapshot if it does not hold the current generation
    /// and either `force` or it is older than `copy_every_secs` (or there is none). A
    /// failure is logged and shown in the status; it never fails the caller.
    pub fn refresh_copy(&self, force: bool) {
        if self.store.copy_path().is_none() {
            return;
        }
        let _copying = self.copying.lock().unwrap_or_else(|e| e.into_inner());
        let status = self.status();
        let due = match &status.copy {
            None => true,
            Some(c) => {
                Some(c.generation) != status.current_generation
                    && (force
                        || Utc::now() - c.written_at
                            >= Duration::seconds(self.config.copy_every_secs as i64))
            }
        };
        if !due || status.current_generation.is_none() {
            return;
        }
        let t0 = StdInstant::now();
        match self.store.write_copy() {
            Ok(info) => {
                if let Some(c) = &info {
                    tracing::info!(
                        generation = c.generation,
                        ms = t0.elapsed().as_millis() as u64,
                        "second copy of the snapshot written"
                    );
                }
                self.update_status(|s| {
                    s.copy = info;
                    s.copy_error = None;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "the second copy of the snapshot could not be written");
                self.update_status(|s| {
                    s.copy_error = Some(format!("the second copy could not be written: {e}"))
                });
            }
        }
    }

    /// An administrator acknowledged the integrity alert.
    pub fn clear_integrity_alert(&self) -> Result<(), SyncError> {
        self.store.clear_integrity_alert()?;
        self.update_status(|s| s.integrity_alert = None);
        Ok(())
    }

    /// Keep the report of a committed or refused sync in the store (see
    /// [`Store::save_sync_report`]); failing to is logged, never fatal.
    fn save_report(&self, result: &Result<SyncReport, SyncError>) {
        let (report, refused) = match result {
            Ok(r) => (Some(r.clone()), false),
            Err(SyncError::TooManyRejects { .. }) => (self.status().last_refused, true),
            Err(_) => (None, false),
        };
        let Some(report) = report else { return };
        let saved = serde_json::to_vec(&report)
            .map_err(|e| StoreError::Build(e.to_string()))
            .and_then(|json| self.store.save_sync_report(&json, refused));
        if let Err(e) = saved {
            tracing::warn!(error = %e, "the sync report could not be kept");
        }
    }

    fn update_status(&self, f: impl FnOnce(&mut SyncStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Run one sync now (blocking): `full`, or incremental from the current generation's
    /// high-water mark (a full sync when there is none yet).
    pub fn sync_now(
        &self,
        full: bool,
        cancel: &CancellationToken,
    ) -> Result<SyncReport, SyncError> {
        let _guard = self
            .running
            .try_lock()
            .map_err(|_| SyncError::AlreadyRunning)?;
        let started = Utc::now();
        self.update_status(|s| {
            s.running = true;
            s.last_attempt = Some(started);
        });
        let result = self.run_sync(full, cancel, started);
        self.save_report(&result);
        self.update_status(|s| {
            s.running = false;
            match &result {
                Ok(report) => {
                    s.last_success = Some(Utc::now());
                    if report.full {
                        s.last_full_success = s.last_success;
                    }
                    s.last_error = None;
                    for (k, v) in &report.rejects {
                        *s.rejects_total.entry(k.clone()).or_default() += v;
                    }
                    for (k, v) in &report.ignored {
                        *s.ignored_total.entry(k.clone()).or_default() += v;
                    }
                    for (k, by_type) in &report.warnings {
                        *s.warnings_total.entry(k.clone()).or_default() +=
                            by_type.values().sum::<u64>();
                    }
                    s.last_report = Some(report.clone());
                    s.last_refused = None;
                }
                Err(e) => {
                    s.last_error = Some(e.to_string());
                    s.last_error_at = Some(Utc::now());
                    if !matches!(e, SyncError::TooManyRejects { .. }) {
                        s.last_refused = None;
                    }
                }
            }
        });
        self.refresh_status();
        match &result {
            Ok(r) => tracing::info!(
                generation = r.generation,
                full = r.full,
                unchanged = r.unchanged,
                resources = r.resources,
                duration_ms = r.duration_ms,
                "sync finished"
            ),
            Err(e @ SyncError::Quarantined { .. }) => {
                tracing::error!(error = %e, "sync quarantined; the current generation stays in service")
            }
            Err(e) => {
                tracing::error!(error = %e, "sync failed; the current generation stays in service")
            }
        }
        result
    }

    fn run_sync(
        &self,
        full_requested: bool,
        cancel: &CancellationToken,
        started: DateTime<Utc>,
    ) -> Result<SyncReport, SyncError> {
        let t0 = StdInstant::now();
        let since = self.store.current()?.and_then(|m| m.high_water);
        let full = full_requested || since.is_none();
        let kind = match (full, since) {
            (false, Some(t)) => {
                PullKind::Since(t - Duration::seconds(self.config.overlap_secs as i64))
            }
            _ => PullKind::Full,
        };
        let mut builder = self.store.begin(full, &self.source.describe())?;
        builder.set_memory_budget(self.config.memory_budget());
        // The data time: what the source says, else (a live source) the pull's start (see
        // `mapping`'s module doc).
        let ctx = MapContext {
            now: self.source.data_time().unwrap_or(started),
            windows: self.config.windows,
            hospital_id_systems: self.config.hospital_id_systems.clone(),
        };
        let (mut tally, held, summary) = self.pull_and_write(&mut builder, kind, &ctx, cancel)?;
        self.place_held(&mut builder, &mut tally, held)?;
        builder.resolve(self.scope(), ctx.now)?;
        let mut rejects = std::mem::take(&mut tally.rejects);
        for (k, v) in &builder.stats().rejects {
            *rejects.entry(*k).or_default() += v;
        }
        let places = std::mem::take(&mut tally.places);
        let mut report = self.report_of(&builder, full, started, &rejects, tally, &summary);
        report.places = places.len() as u64;
        if let Err(e) = self.check_rejects(&rejects, &summary) {
            report.duration_ms = t0.elapsed().as_millis() as u64;
            self.update_status(|s| s.last_refused = Some(report));
            return Err(e);
        }
        if !places.is_empty() {
            builder.record_places(places, full);
        }
        self.commit(
            builder,
            full,
            summary.high_water.or(Some(started)),
            &mut report,
        )?;
        report.duration_ms = t0.elapsed().as_millis() as u64;
        Ok(report)
    }

    fn scope(&self) -> Scope {
        match self.config.scope {
            ScopeConfig::All => Scope::All,
            ScopeConfig::RecentEncounter { days } => Scope::RecentEncounter { days },
            ScopeConfig::CurrentInpatients => Scope::CurrentInpatients,
        }
    }

    /// The report of a pull before it is committed (the commit adds the generation's
    /// figures).
    fn report_of(
        &self,
        builder: &GenerationBuilder,
        full: bool,
        started: DateTime<Utc>,
        rejects: &BTreeMap<RejectReason, u64>,
        tally: Tally,
        summary: &PullSummary,
    ) -> SyncReport {
        let mut ignored = tally.ignored;
        for (k, v) in &summary.not_kept {
            *ignored.entry(k.clone()).or_default() += v;
        }
        SyncReport {
            generation: builder.generation(),
            full,
            unchanged: false,
            started_at: started,
            duration_ms: 0,
            bytes: summary.bytes,
            resources: summary.resources,
            deletions: summary.deletions,
            upserts: 0,
            removals: 0,
            rejects: rejects
                .iter()
                .map(|(k, v)| (k.name().to_string(), *v))
                .collect(),
            reject_types: by_reason_and_type(
                tally
                    .reject_types
                    .into_iter()
                    .map(|((r, t), n)| (r.name(), t, n)),
            ),
            warnings: by_reason_and_type(
                tally
                    .warnings
                    .into_iter()
                    .map(|((r, t), n)| (r.name(), t.name().to_string(), n)),
            ),
            warned_resources: tally.warned,
            ignored,
            dropped: tally.dropped,
            skipped: summary.skipped,
            source_problems: summary.problems.clone(),
            out_of_scope_patients: 0,
            spilled_runs: 0,
            spilled_bytes: 0,
            places: 0,
            // Until a full sync, deletions the source did not report stay unknown.
            deletions_pending_full: !full
                && (summary.deletions_unreported
                    || self
                        .status()
                        .last_report
                        .is_some_and(|r| r.deletions_pending_full)),
        }
    }

    /// Finish the generation (the guard may quarantine it), refresh the reader and the
    /// second copy, and complete the report with the generation's figures.
    fn commit(
        &self,
        builder: GenerationBuilder,
        full: bool,
        high_water: Option<DateTime<Utc>>,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let guard = self.config.guard();
        let (finished, stats) = builder.finish(high_water, Utc::now(), Some(&guard))?;
        if let Some(reader) = &self.reader {
            reader.refresh()?;
        }
        let (manifest, unchanged) = match finished {
            Finished::Current(m) => {
                // A full sync always renews the second copy; an incremental one when due.
                self.update_status(|s| s.current_generation = Some(m.generation));
                self.refresh_copy(full);
                (m, false)
            }
            Finished::Unchanged(m) => (m, true),
            Finished::Quarantined { manifest, new } => {
                return Err(self.quarantined(&manifest, new));
            }
        };
        report.generation = manifest.generation;
        report.unchanged = unchanged;
        report.upserts = stats.upserts;
        report.removals = stats.removals;
        report.out_of_scope_patients = stats.out_of_scope_patients;
        report.spilled_runs = stats.spilled_runs;
        report.spilled_bytes = stats.spilled_bytes;
        Ok(())
    }

    /// Report (and hand to the hook) a quarantined generation.
    fn quarantined(&self, m: &Manifest, new: bool) -> SyncError {
        let q = m
            .quarantine
            .clone()
            .unwrap_or_else(|| crate::store::Quarantine {
                at: Utc::now(),
                compared_with: 0,
                losses: Vec::new(),
                promoted_at: None,
            });
        if new {
            if let Some(hook) = &self.on_quarantine {
                hook(m);
            }
        }
        SyncError::Quarantined {
            generation: m.generation,
            current: q.compared_with,
            losses: q.losses_text(),
            share: self.config.quarantine_loss_share,
            new,
        }
    }

    /// The pipeline of one sync: the source on its own thread hands batches of raw
    /// resources to `parse_threads` workers, which parse, map, encode and hash them; this
    /// thread applies the prepared batches in their original order. Returns the merged
    /// tally, what was held back for the pull's Locations (see [`Engine::place_held`])
    /// and what the source pulled.
    fn pull_and_write(
        &self,
        builder: &mut crate::store::GenerationBuilder,
        kind: PullKind,
        ctx: &MapContext,
        cancel: &CancellationToken,
    ) -> Result<(Tally, Vec<Held>, PullSummary), SyncError> {
        let preparer = builder.preparer();
        let stop = Arc::new(AtomicBool::new(false));
        let workers = self.config.parse_threads.clamp(1, 16);
        let (raw_tx, raw_rx) = sync_channel::<RawBatch>(workers * 2);
        let raw_rx = Arc::new(Mutex::new(raw_rx));
        let (prep_tx, prep_rx) = sync_channel::<PreparedBatch>(workers * 2);
        let (written, pulled) = std::thread::scope(|scope| {
            let source = self.source.clone();
            let stop_src = stop.clone();
            let cancel_src = cancel.clone();
            let pull = scope
                .spawn(move || pull_in_batches(&*source, kind, &stop_src, &cancel_src, raw_tx));
            // Workers: parse, map, encode, hash.
            for _ in 0..workers {
                let rx = raw_rx.clone();
                let tx = prep_tx.clone();
                let preparer = preparer.clone();
                scope.spawn(move || loop {
                    let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(batch) = next else { break };
                    if tx.send(map_batch(&preparer, ctx, batch)).is_err() {
                        break;
                    }
                });
            }
            drop(prep_tx);
            // Writer (this thread): apply batches in order.
            let written = self.write_in_order(builder, prep_rx, &stop);
            if written.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            let pulled = pull
                .join()
                .map_err(|_| SyncError::Internal("the source thread panicked".into()))?;
            Ok::<_, SyncError>((written, pulled))
        })?;
        let (tally, held) = written?;
        if cancel.is_cancelled() {
            return Err(SyncError::Cancelled);
        }
        Ok((tally, held, pulled?))
    }

    /// Place the in-house encounters held back during the pull (ward, room and bed from
    /// the pull's Locations, else the stored place book) and store them, with the later
    /// changes held with them, in pull order. An encounter none of whose Locations is
    /// known keeps what its own display said, with an `unresolved_location` warning.
    fn place_held(
        &self,
        builder: &mut crate::store::GenerationBuilder,
        tally: &mut Tally,
        held: Vec<Held>,
    ) -> Result<(), SyncError> {
        if held.is_empty() {
            return Ok(());
        }
        let preparer = builder.preparer();
        let mut book = self.store.places()?;
        book.extend(tally.places.clone());
        let mut ready = Vec::with_capacity(held.len());
        for h in held {
            match h {
                Held::Prepared(p) => ready.push(p),
                Held::Place(mut m) => {
                    if let Body::Item(Item::Encounter(e)) = &mut m.body {
                        if !place_encounter(e, &book) {
                            m.warnings.push(Warning::new(
                                WarningReason::UnresolvedLocation,
                                "none of the encounter's Locations was sent; ward, room and bed from its display text",
                            ));
                        }
                    }
                    tally.warn(m.rtype, &m.warnings);
                    ready.push(preparer.prepare(*m));
                }
            }
        }
        builder.apply(&ready)?;
        Ok(())
    }

    /// Too large a share of malformed resources discards the new generation.
    fn check_rejects(
        &self,
        rejects: &BTreeMap<RejectReason, u64>,
        summary: &PullSummary,
    ) -> Result<(), SyncError> {
        // Source items (files) skipped as unusable count like rejected resources.
        let rejected: u64 = rejects.values().sum::<u64>() + summary.skipped;
        let total = (summary.resources + summary.skipped).max(rejected);
        if rejected > self.config.min_rejects_to_abort
            && (rejected as f64) > self.config.max_reject_share * total as f64
        {
            return Err(SyncError::TooManyRejects {
                rejected,
                total,
                max_share: self.config.max_reject_share,
                reasons: rejects
                    .iter()
                    .map(|(k, v)| (k.name().to_string(), *v))
                    .collect(),
            });
        }
        Ok(())
    }

    /// Apply prepared batches in sequence order; returns the merged tally and what was
    /// held back for the pull's Locations.
    fn write_in_order(
        &self,
        builder: &mut crate::store::GenerationBuilder,
        rx: Receiver<PreparedBatch>,
        stop: &AtomicBool,
    ) -> Result<(Tally, Vec<Held>), SyncError> {
        let (dropper, garbage) = sync_channel::<Vec<Prepared>>(8);
        let dropping = std::thread::spawn(move || {
            for batch in garbage {
                drop(batch)
            }
        });
        let result = self.write_batches(builder, rx, stop, &dropper);
        drop(dropper);
        let _ = dropping.join();
        result
    }

    fn write_batches(
        &self,
        builder: &mut crate::store::GenerationBuilder,
        rx: Receiver<PreparedBatch>,
        stop: &AtomicBool,
        dropper: &SyncSender<Vec<Prepared>>,
    ) -> Result<(Tally, Vec<Held>), SyncError> {
        let mut pending: HashMap<u64, PreparedBatch> = HashMap::new();
        let mut next = 0u64;
        let mut total = Tally::default();
        let mut held: Vec<Held> = Vec::new();
        let mut held_ids: std::collections::HashSet<crate::store::keys::IdHash> =
            std::collections::HashSet::new();
        let keyer = builder.preparer().keyer().clone();
        for b in rx {
            pending.insert(b.seq, b);
            while let Some(b) = pending.remove(&next) {
                next += 1;
                total.merge(b.tally);
                let items = if b.held.is_empty() && held_ids.is_empty() {
                    b.items
                } else {
                    // Keep pull order between a held encounter and later changes to it.
                    let mut now = Vec::with_capacity(b.items.len());
                    let mut waiting = b.held.into_iter().peekable();
                    for (i, p) in b.items.into_iter().enumerate() {
                        while let Some((_, m)) = waiting.next_if(|(pos, _)| *pos <= i) {
                            held_ids.insert(keyer.id_hash(m.rtype, &m.id));
                            held.push(Held::Place(Box::new(m)));
                        }
                        if p.rtype == ResourceType::Encounter && held_ids.contains(&p.idh) {
                            held.push(Held::Prepared(p));
                        } else {
                            now.push(p);
                        }
                    }
                    for (_, m) in waiting {
                        held_ids.insert(keyer.id_hash(m.rtype, &m.id));
                        held.push(Held::Place(Box::new(m)));
                    }
                    now
                };
                if let Err(e) = builder.apply(&items) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e.into());
                }
                // Buffers were allocated on the workers: free them off the writer thread.
                let _ = dropper.send(items);
            }
        }
        Ok((total, held))
    }

    /// Run incremental syncs every `interval` and a full one every `full_every`, each
    /// with random jitter, until `cancel` fires. A sync in progress is cancelled too (its
    /// generation is discarded). The first sync runs at once.
    pub async fn run_scheduler(self: Arc<Self>, cancel: CancellationToken) {
        let mut first = true;
        loop {
            if !first {
                let jitter = if self.config.jitter_secs > 0 {
                    rand::random::<u64>() % (self.config.jitter_secs + 1)
                } else {
                    0
                };
                let wait = std::time::Duration::from_secs(self.config.interval_secs + jitter);
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            first = false;
            let status = self.status();
            let full = status.last_full_success.is_none_or(|t| {
                Utc::now() - t >= Duration::seconds(self.config.full_every_secs as i64)
            });
            let engine = self.clone();
            let token = cancel.child_token();
            let run = tokio::task::spawn_blocking(move || engine.sync_now(full, &token));
            if run.await.is_err() {
                tracing::error!("the sync task panicked; the current generation stays in service");
            }
            if cancel.is_cancelled() {
                break;
            }
        }
    }
}
