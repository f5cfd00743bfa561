//! The node's services, opened once per process: the snapshot store and its reader, the
//! sync engine, the audit ledger and the accounts layer, wired to each other.
//!
//! ```text
//! <data>/snapshot.redb  Store ─ SnapshotReader (refreshed after every sync / rollback)
//!                        └─ Engine (source from [sync.source]; records quarantined syncs
//!                           in the ledger)
//! <data>/snapshot-copy.redb  the newest good generation again (restored from if
//!                        snapshot.redb is damaged)
//! <data>/ledger.redb    Ledger (node key <data>/keys/node-signing.key, config [ledger])
//! <data>/accounts.redb  Accounts (the ledger is its AuditSink; SystemClock)
//! <data>/downtime.redb  DowntimeStore (entries sealed to the snapshot key; readable while
//!                        the snapshot is unlocked)
//! ```
//!
//! redb locks each file: a process opens [`Services`] at most once. The running node owns
//! them; console commands reach them through the control socket (see [`crate::console`])
//! or, when no node runs, open them in-process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use akari_accounts::event::{Action, Actor, AuditEvent, AuditSink, Client, Mode};
use akari_accounts::ledger::Ledger;
use akari_accounts::{Accounts, Console, SystemClock, WardScope};
use akari_accounts::{KeyObserver, RecoveryKey};
use akari_sync::crypto::{SnapshotPublicKey, SnapshotSecret};
use akari_sync::engine::{PullSummary, SinkStopped, SourceError};
use akari_sync::source::{Change, PullKind};
use akari_sync::{Engine, SnapshotReader, Source, Store, StoreOptions, SyncError, SyncReport};
use akari_web::pages::admin::AdminServices;
use akari_web::pages::{Pages, PagesConfig};
use akari_web::{NodeAlert, NodeStatus, SnapshotStatus, SyncHealth};
use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::datadir::{self, DataDir, InitReport};
use crate::error::Error;

/// How often idle sessions are expired.
const SESSION_EXPIRY_EVERY: Duration = Duration::from_secs(60);
/// How often `/healthz` status is recomputed even without a trigger.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Everything a node (or an in-process console command) works with.
pub struct Services {
    pub config: Config,
    pub data: DataDir,
    pub store: Store,
    pub reader: SnapshotReader,
    pub engine: Arc<Engine>,
    /// False when `[sync.source]` names no `base_url` / `dir`: the node starts, the
    /// scheduler does not run, `akari sync now` says what to configure.
    pub source_configured: bool,
    pub ledger: Arc<Ledger>,
    pub accounts: Arc<Accounts>,
    /// The downtime records (append-only, beside the snapshot, never in a generation).
    pub downtime: akari_downtime::DowntimeStore,
    status: watch::Sender<NodeStatus>,
    status_changed: Notify,
    failing_since: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("data", &self.data)
            .field("source_configured", &self.source_configured)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Opens (creating if needed) the three databases of `config.data_dir` and wires them.
    /// Blocking (redb recovery, index build): call from `spawn_blocking` in async code.
    pub fn open(config: &Config) -> Result<Services, Error> {
        let data = DataDir::new(&config.data_dir);
        data.check_readable()?;

        let (ledger, accounts) = open_ledger_and_accounts(config, &data)?;

        // With `<data>/keys/snapshot.pub` (written by `akari init`) every stored
        // value is encrypted to it; the node never holds the secret except while unlocked.
        let public_key = match data.snapshot_public_key().exists() {
            true => Some(
                SnapshotPublicKey::read_file(&data.snapshot_public_key()).map_err(|e| {
                    Error::Service {
                        what: "read the snapshot public key",
                        path: data.snapshot_public_key(),
                        message: e.to_string(),
                    }
                })?,
            ),
            false => None,
        };
        let options = StoreOptions {
            public_key,
            ..config.sync.store_options()
        };
        // A damaged, emptied or missing snapshot file is replaced by the second copy (and
        // the administrators are told) instead of stopping the node or starting it empty.
        let store = Store::open_with_copy(&data.snapshot_db(), &data.snapshot_copy_db(), options)
            .map_err(|e| Error::Service {
            what: "open the snapshot store",
            path: data.snapshot_db(),
            message: e.to_string(),
        })?;
        let reader = SnapshotReader::open(store.clone(), config.sync.windows).map_err(|e| {
            Error::Service {
                what: "read the current snapshot generation",
                path: data.snapshot_db(),
                message: e.to_string(),
            }
        })?;

        let source_config = resolve_source_paths(&config.sync.source, &config.data_dir);
        let source_configured = source_config.base_url.is_some()
            || source_config.dir.is_some()
            || source_config.root.is_some();
        let source: Arc<dyn Source> = if source_configured {
            akari_sync::source::build(&source_config).map_err(|e| Error::Service {
                what: "set up the sync source [sync.source]",
                path: data.config_file(),
                message: e.to_string(),
            })?
        } else {
            Arc::new(Unconfigured)
        };
        let engine = Arc::new(
            Engine::new(store.clone(), source, config.sync.clone())
                .with_reader(reader.clone())
                .with_quarantine_hook(quarantine_recorder(ledger.clone(), accounts.clone())),
        );

        // Downtime entries are sealed to the snapshot's public key and read with its
        // secret: the key observer unlocks both.
        let downtime_key = public_key.map(crate::downtime::SnapshotKeyCipher::new);
        let cipher: Arc<dyn akari_downtime::Cipher> = match &downtime_key {
            Some(key) => key.clone(),
            None => Arc::new(akari_downtime::Plain),
        };
        let downtime =
            akari_downtime::DowntimeStore::open(&data.downtime_db(), cipher).map_err(|e| {
                Error::Service {
                    what: "open the downtime records",
                    path: data.downtime_db(),
                    message: e.to_string(),
                }
            })?;
        accounts.set_key_observer(Arc::new(ReaderKey {
            reader: reader.clone(),
            downtime: downtime_key,
        }));

        let services = Services {
            config: config.clone(),
            data,
            store,
            reader,
            engine,
            source_configured,
            ledger,
            accounts,
            downtime,
            status: watch::channel(NodeStatus::starting()).0,
            status_changed: Notify::new(),
            failing_since: Mutex::new(None),
        };
        services.publish_status();
        Ok(services)
    }

    /// The console principal for the OS user running a command.
    pub fn console(os_user: &str) -> Console {
        Console::new(os_user)
    }

    /// A receiver of the node's `/healthz` status (mode, snapshot generation).
    pub fn status_receiver(&self) -> watch::Receiver<NodeStatus> {
        self.status.subscribe()
    }

    /// The sender behind [`Self::status_receiver`] (kept on [`crate::Node`]).
    pub fn status_sender(&self) -> watch::Sender<NodeStatus> {
        self.status.clone()
    }

    /// The status `/healthz` shows now, computed from the accounts mode and the reader.
    pub fn node_status(&self) -> NodeStatus {
        let mode = match self.accounts.mode() {
            Ok(state) => state.mode,
            Err(e) => {
                warn!(error = %e, "cannot read the mode for /healthz");
                self.status.borrow().mode
            }
        };
        let snapshot = match self.reader.generation() {
            Some(m) => SnapshotStatus::Current {
                generation: m.generation,
                completed_at: m.created_at.to_rfc3339(),
            },
            None => SnapshotStatus::None,
        };
        let sync = self.engine.status();
        let alerts = sync
            .quarantine
            .iter()
            .map(|q| NodeAlert::new(NodeAlert::SNAPSHOT_QUARANTINE, q.message()))
            .chain(
                sync.integrity_alert
                    .iter()
                    .map(|a| NodeAlert::new(NodeAlert::SNAPSHOT_INTEGRITY, a.message())),
            )
            .chain(self.ledger_disk_alert())
            .collect();
        NodeStatus {
            mode,
            snapshot,
            sync: sync_health(&sync),
            alerts,
        }
    }

    /// The alert for the audit ledger's disk below its reserve, if it is (read now; the
    /// ledger logs each crossing). A failed reading is logged, not alerted.
    fn ledger_disk_alert(&self) -> Option<NodeAlert> {
        match self.ledger.disk_space()? {
            Ok(space) if space.is_low() => {
                Some(NodeAlert::new(NodeAlert::LEDGER_DISK_LOW, space.message()))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(error = %e, "ledger disk space not read");
                None
            }
        }
    }

    /// Recomputes the `/healthz` status now (after a mode change, sync or rollback).
    pub fn publish_status(&self) {
        let status = self.node_status();
        self.status.send_if_modified(|current| {
            if *current == status {
                false
            } else {
                *current = status;
                true
            }
        });
        self.status_changed.notify_one();
    }

    /// One sync now (blocking), then: the reader serves the new generation, a streak of
    /// syncs the source did not answer is reported to the accounts layer ("main system
    /// unreachable for N min"; a pull the node refused is not that), `/healthz` is
    /// updated.
    pub fn sync_now(
        &self,
        full: bool,
        cancel: &CancellationToken,
    ) -> Result<SyncReport, SyncError> {
        if !self.source_configured {
            return Err(SyncError::Source(SourceError::Config(NO_SOURCE.into())));
        }
        let started = Utc::now();
        let result = self.engine.sync_now(full, cancel);
        self.after_sync(&result, started);
        result
    }

    fn after_sync(&self, result: &Result<SyncReport, SyncError>, started: DateTime<Utc>) {
        let mut failing = self.failing_since.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) => *failing = None,
            // The source did not answer: the main system may be down.
            Err(e) if e.source_unreachable() => {
                if failing.is_none() {
                    *failing = Some(started);
                }
            }
            // These say nothing about the main system.
            Err(SyncError::AlreadyRunning | SyncError::Cancelled) => {}
            Err(SyncError::Source(SourceError::Cancelled)) => {}
            // The source answered (a refused pull, a storage error, bad credentials):
            // it is reachable; the status says what failed instead.
            Err(_) => *failing = None,
        }
        self.accounts.report_sync_failing_since(*failing);
        drop(failing);
        if let Err(e) = self.reader.refresh() {
            warn!(error = %e, "cannot switch the reader to the current generation");
        }
        self.publish_status();
    }

    /// Since when syncs have been failing (`None`: the last one worked or none ran).
    pub fn sync_failing_since(&self) -> Option<DateTime<Utc>> {
        *self.failing_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Which wards each emergency account may see (for the review's anomaly flags).
    pub fn ward_scopes(&self, console: &Console) -> HashMap<String, Vec<String>> {
        let mut scopes = HashMap::new();
        if let Ok(list) = self.accounts.list_accounts(&console.capability()) {
            for account in list {
                if let WardScope::Wards(wards) = account.ward_scope {
                    scopes.insert(account.account_id, wards);
                }
            }
        }
        scopes
    }

    /// Starts the background work of a running node on `tasks`; everything stops when
    /// `cancel` fires: the sync scheduler (only with a configured source, and only in
    /// standby or recovery: during an emergency or drill the snapshot is frozen), session
    /// expiry and the summaries of counted failed logins every minute, and the `/healthz`
    /// status.
    pub fn spawn_background(self: &Arc<Self>, tasks: &TaskTracker, cancel: CancellationToken) {
        if self.source_configured {
            tasks.spawn(self.clone().run_scheduler(cancel.clone()));
        } else {
            info!("no [sync.source] configured: the sync scheduler is off");
        }
        // Write the second copy of the snapshot if it is missing or behind (the first start
        // after an upgrade, or after the copy could not be written): after serving starts.
        let engine = self.engine.clone();
        tasks.spawn(async move {
            let _ = tokio::task::spawn_blocking(move || engine.refresh_copy(false)).await;
        });
        let services = self.clone();
        let stop = cancel.clone();
        tasks.spawn(async move {
            let mut every = tokio::time::interval(SESSION_EXPIRY_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = every.tick() => {}
                }
                let accounts = services.accounts.clone();
                match tokio::task::spawn_blocking(move || accounts.expire_sessions()).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => info!(sessions = n, "expired idle sessions"),
                    Ok(Err(e)) => warn!(error = %e, "session expiry failed"),
                    Err(e) => warn!(error = %e, "session expiry task failed"),
                }
                // Failed logins counted in a window that has ended get their summary.
                let accounts = services.accounts.clone();
                match tokio::task::spawn_blocking(move || accounts.record_counted_login_failures())
                    .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => warn!(error = %e, "counted failed logins not yet recorded"),
                    Err(e) => warn!(error = %e, "failed-login summary task failed"),
                }
            }
        });
        let services = self.clone();
        tasks.spawn(async move {
            loop {
                let services2 = services.clone();
                let _ = tokio::task::spawn_blocking(move || services2.publish_status()).await;
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(STATUS_EVERY) => {}
                }
            }
        });
    }

    /// Incremental syncs every `sync.interval_secs`, a full one every
    /// `sync.full_every_secs`, each with jitter; the first at once. Skipped while an
    /// emergency or drill is declared (the snapshot stays as it was when declared).
    async fn run_scheduler(self: Arc<Self>, cancel: CancellationToken) {
        let config = self.config.sync.clone();
        let mut first = true;
        loop {
            if !first {
                let jitter = if config.jitter_secs > 0 {
                    rand::random::<u64>() % (config.jitter_secs + 1)
                } else {
                    0
                };
                let wait = Duration::from_secs(config.interval_secs.max(1) + jitter);
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            first = false;
            let frozen = self
                .accounts
                .mode()
                .map(|m| m.mode.allows_emergency_login())
                .unwrap_or(false);
            if frozen {
                info!("emergency or drill declared: scheduled sync skipped");
                continue;
            }
            let status = self.engine.status();
            let full = status.last_full_success.is_none_or(|t| {
                Utc::now() - t >= chrono::Duration::seconds(config.full_every_secs as i64)
            });
            let services = self.clone();
            let token = cancel.child_token();
            let run = tokio::task::spawn_blocking(move || {
                let result = services.sync_now(full, &token);
                // Daily, after the full sync: re-verify what is served (falls back to an
                // older generation if the disk damaged the current one).
                if full && result.is_ok() {
                    services.check_integrity();
                }
                result
            });
            if run.await.is_err() {
                warn!("the sync task panicked; the current generation stays in service");
            }
            if cancel.is_cancelled() {
                break;
            }
        }
    }

    /// The PDF printouts' font (`[print] font`, else Debian's Japanese fonts), read once
    /// here. None found is a warning, not a failure: the node serves HTML printing and
    /// its PDF buttons answer with a page that says what to install.
    pub(crate) fn print_font(&self) -> Result<akari_print::PdfFont, String> {
        let configured = self
            .config
            .print
            .font
            .as_ref()
            .map(|p| self.config.data_dir.join(p));
        match akari_print::PdfFont::load(configured.as_deref()) {
            Ok(font) => {
                info!(font = %font.path().display(), family = font.family(), "print font loaded for PDF printouts");
                Ok(font)
            }
            Err(e) => {
                warn!(error = %e, "no print font: PDF downloads are refused, HTML printing works");
                Err(e.to_string())
            }
        }
    }

    /// The clinician pages over this node's reader, ledger and accounts, and the admin /
    /// review pages (`/admin/…`). `cancel` stops a "sync now" started from the web.
    pub fn pages(&self, cancel: CancellationToken) -> Pages {
        let config = PagesConfig {
            idle_timeout: Duration::from_secs(self.config.accounts.idle_timeout_secs),
            absolute_timeout: Duration::from_secs(self.config.accounts.absolute_timeout_secs),
            stale_after: Duration::from_secs(self.config.web.stale_after_minutes * 60),
            zone: self.config.display.time_zone,
            // Checked when the configuration was loaded.
            dose_times: self.config.display.dose_times.times().unwrap_or_default(),
            print_font: self.print_font(),
            vital_limits: self.config.display.vital_limits.clone(),
        };
        let admin = AdminServices::new(
            self.accounts.clone(),
            self.engine.control(),
            self.ledger.clone(),
        )
        .with_cancel(cancel)
        .with_review_config(self.config.ledger.review.clone());
        Pages::new(
            Arc::new(self.reader.clone()),
            self.ledger.clone(),
            self.accounts.clone(),
            config,
        )
        .with_admin(admin)
        .with_downtime(self.downtime.clone())
    }

    /// Verifies the current generation; if it is damaged, falls back to the newest older
    /// generation that verifies (the alert is in `engine.status().integrity_alert`).
    /// Blocking; run at start-up before serving.
    pub fn check_integrity(&self) {
        match self.engine.check_integrity() {
            Ok(akari_sync::store::Integrity::Verified(g)) => {
                info!(generation = g, "snapshot verified")
            }
            Ok(akari_sync::store::Integrity::Empty) => {}
            Ok(akari_sync::store::Integrity::FellBack(alert))
            | Ok(akari_sync::store::Integrity::OlderDamaged(alert))
            | Ok(akari_sync::store::Integrity::NothingVerifies(alert)) => {
                warn!(alert = %alert.message(), "snapshot damage found")
            }
            Err(e) => warn!(error = %e, "the snapshot integrity check failed"),
        }
        if let Err(e) = self.reader.refresh() {
            warn!(error = %e, "cannot switch the reader to the current generation");
        }
        self.publish_status();
    }

    /// The current mode (for messages).
    pub fn mode(&self) -> Option<Mode> {
        self.accounts.mode().ok().map(|m| m.mode)
    }
}

/// Records each quarantined sync in the audit ledger (by the node itself), so the review
/// after an outage shows when the source started losing data. A ledger that cannot record
/// changes nothing served (the generation is not served anyway); the failure is logged.
fn quarantine_recorder(
    ledger: Arc<Ledger>,
    accounts: Arc<Accounts>,
) -> akari_sync::engine::QuarantineHook {
    Arc::new(move |m: &akari_sync::store::Manifest| {
        let Some(q) = &m.quarantine else { return };
        let mode = accounts.mode().map(|s| s.mode).unwrap_or(Mode::Standby);
        let event = AuditEvent {
            time: chrono::Utc::now(),
            actor: Actor::System,
            action: Action::SnapshotQuarantined {
                generation: m.generation,
                current: Some(q.compared_with),
                losses: q.losses_text(),
            },
            patient: None,
            details: None,
            client: Client::default(),
            mode,
        };
        if let Err(e) = ledger.record(event) {
            warn!(error = %e, generation = m.generation, "the quarantined sync could not be recorded in the audit ledger");
        }
    })
}

/// Unlocks / locks the snapshot reader when the accounts layer unwraps / wipes the
/// snapshot secret (a login, the recovery key; the end of an episode, the last admin out).
struct ReaderKey {
    reader: SnapshotReader,
    /// The downtime records' key (on a node with a snapshot key).
    downtime: Option<Arc<crate::downtime::SnapshotKeyCipher>>,
}

impl KeyObserver for ReaderKey {
    fn unlocked(&self, secret: &[u8; 32]) {
        // Synchronous: the login that unwrapped the key returns once its data is readable.
        let secret = SnapshotSecret::from_bytes(Zeroizing::new(*secret));
        if let Some(downtime) = &self.downtime {
            downtime.unlock(secret.clone());
        }
        match self.reader.unlock(&secret) {
            Ok(stats) => info!(
                generation = stats.generation,
                patients = stats.patients,
                elapsed_ms = stats.elapsed.as_millis() as u64,
                "snapshot unlocked"
            ),
            Err(e) => {
                warn!(error = %e, "the snapshot could not be unlocked with the key slot's secret")
            }
        }
    }

    fn locked(&self) {
        self.reader.lock();
        if let Some(downtime) = &self.downtime {
            downtime.lock();
        }
        info!("snapshot locked");
    }
}

/// The ledger (first: the accounts layer cannot decide anything without it) and the
/// accounts layer recording into it.
fn open_ledger_and_accounts(
    config: &Config,
    data: &DataDir,
) -> Result<(Arc<Ledger>, Arc<Accounts>), Error> {
    let key = datadir::load_signing_key(&data.signing_key())?;
    let mut ledger_config = config.ledger.clone();
    ledger_config.removable_path = ledger_config
        .removable_path
        .map(|p| resolve(&config.data_dir, &p));
    ledger_config.remote_ca_file = ledger_config
        .remote_ca_file
        .map(|p| resolve(&config.data_dir, &p));
    let ledger =
        Ledger::open(&data.ledger_db(), key, &ledger_config).map_err(|e| Error::Service {
            what: "open the audit ledger",
            path: data.ledger_db(),
            message: e.to_string(),
        })?;
    let ledger = Arc::new(ledger);

    let accounts = Accounts::open_file(
        &data.accounts_db(),
        config.accounts.clone(),
        ledger.clone(),
        Arc::new(SystemClock),
    )
    .map_err(|e| Error::Service {
        what: "open the accounts store",
        path: data.accounts_db(),
        message: e.to_string(),
    })?;
    let accounts = Arc::new(accounts);

    Ok((ledger, accounts))
}

/// What [`init_node`] did.
pub struct NodeInit {
    pub report: InitReport,
    /// The recovery key, printed ONCE by `akari init` (None: key slots existed already, or
    /// the data directory holds a plaintext snapshot from before encryption).
    pub recovery_key: Option<RecoveryKey>,
    /// The snapshot public key written now.
    pub snapshot_key: Option<SnapshotPublicKey>,
    /// Why no snapshot key was made, when none was.
    pub note: Option<&'static str>,
}

/// `akari init`: the data directory layout ([`DataDir::init`]), then the
/// snapshot key pair: the public key goes to `<data>/keys/snapshot.pub`, the secret only
/// into the key slots of `accounts.redb`, opened by the recovery key returned here (and
/// later by admin and sealed-account logins). Safe to re-run: nothing is replaced.
pub fn init_node(config: &Config, os_user: &str) -> Result<NodeInit, Error> {
    let data = DataDir::new(&config.data_dir);
    let report = data.init(config)?;
    let mut init = NodeInit {
        report,
        recovery_key: None,
        snapshot_key: None,
        note: None,
    };
    let pub_path = data.snapshot_public_key();
    if pub_path.exists() {
        init.report.kept.push(pub_path);
        return Ok(init);
    }
    if data.snapshot_db().exists() {
        init.note = Some(
            "snapshot.redb exists without keys/snapshot.pub: the snapshot stays unencrypted \
             (move snapshot.redb away and re-run init to start an encrypted one)",
        );
        return Ok(init);
    }
    let (ledger, accounts) = open_ledger_and_accounts(config, &data)?;
    let fail = |e: akari_accounts::Error| Error::Service {
        what: "set up the key slots",
        path: data.accounts_db(),
        message: e.to_string(),
    };
    if accounts.key_slots_initialised().map_err(fail)? {
        return Err(Error::Service {
            what: "set up the snapshot key",
            path: pub_path,
            message: "key slots exist in accounts.redb but keys/snapshot.pub is missing; \
                      restore keys/snapshot.pub from a backup"
                .into(),
        });
    }
    let (public, secret) = akari_sync::crypto::generate();
    let recovery = accounts
        .init_key_slots(&Console::new(os_user), secret.expose_bytes())
        .map_err(fail)?;
    public.write_file(&pub_path).map_err(|e| Error::Service {
        what: "write the snapshot public key",
        path: pub_path.clone(),
        message: e.to_string(),
    })?;
    drop(accounts);
    drop(ledger);
    init.report.created.push(pub_path);
    init.recovery_key = Some(recovery);
    init.snapshot_key = Some(public);
    Ok(init)
}

const NO_SOURCE: &str = "no sync source is configured: set [sync.source] kind and base_url \
     (or dir for kind = \"ndjson-dir\", root for kind = \"ss-mix2\") in akari.toml, then check \
     with `akari config check`";

/// The source of a node without `[sync.source]`: every pull fails with a clear message.
struct Unconfigured;

impl Source for Unconfigured {
    fn describe(&self) -> String {
        "no source configured".into()
    }

    fn pull(
        &self,
        _kind: PullKind,
        _cancel: &CancellationToken,
        _sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        Err(SourceError::Config(NO_SOURCE.into()))
    }
}

fn resolve(data_dir: &Path, path: &Path) -> PathBuf {
    data_dir.join(path)
}

/// Relative paths in `[sync.source]` are relative to the data directory.
fn resolve_source_paths(
    source: &akari_sync::source::Config,
    data_dir: &Path,
) -> akari_sync::source::Config {
    let mut s = source.clone();
    let fix = |p: &mut Option<PathBuf>| {
        if let Some(path) = p {
            *path = resolve(data_dir, path);
        }
    };
    fix(&mut s.dir);
    fix(&mut s.root);
    fix(&mut s.extended_root);
    fix(&mut s.transaction_dir);
    fix(&mut s.extended_transaction_dir);
    fix(&mut s.auth.token_file);
    fix(&mut s.auth.password_file);
    fix(&mut s.auth.private_key_file);
    fix(&mut s.tls.ca_file);
    fix(&mut s.tls.client_cert_file);
    fix(&mut s.tls.client_key_file);
    s
}

/// The last sync's outcome for `/healthz` (see [`SyncHealth`]).
fn sync_health(s: &akari_sync::SyncStatus) -> SyncHealth {
    match (&s.last_error, &s.last_refused, &s.last_report) {
        (Some(message), Some(_), _) => SyncHealth::Refused {
            message: message.clone(),
        },
        (Some(message), None, _) => SyncHealth::Failed {
            message: message.clone(),
        },
        (None, _, Some(report)) => SyncHealth::Ok {
            warned: report.warned_resources,
        },
        (None, _, None) => SyncHealth::NotRun,
    }
}
