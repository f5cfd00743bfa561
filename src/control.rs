//! Console commands: one [`Request`] type, one [`execute`] function, two ways to reach it.
//!
//! - The running node listens on `<data>/control.sock` (a Unix socket, mode 0600, in the
//!   0700 data directory; removed at shutdown). A console command connects, writes one
//!   JSON line ([`Envelope`]), reads one JSON line ([`Response`]). The node takes the
//!   console user's name from the socket's peer credentials, not from the request.
//! - With no node running (nothing answers on the socket), the command opens
//!   [`Services`] in its own process and calls [`execute`] directly. redb locks the
//!   files, so the two never hold them at once.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use akari_accounts::event::{Action, AuditEvent, AuditSink, Client};
use akari_accounts::ledger::{ExportFormat, ExportRange, REMOVABLE_FILE_NAME};
use akari_accounts::{Console, NewAdmin, Password, ProvisionRequest, WardScope};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::services::Services;

/// File name of the control socket inside the data directory.
pub const SOCKET_FILE: &str = "control.sock";
/// Largest request line the node reads.
const MAX_REQUEST: usize = 1024 * 1024;

/// A string that is a secret (a password, the recovery key): serialised (it must cross
/// the socket) but never shown by `Debug`, and wiped from memory on drop.
#[derive(Clone)]
pub struct SecretText(pub Zeroizing<String>);

impl Serialize for SecretText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SecretText(Zeroizing::new(String::deserialize(d)?)))
    }
}

impl SecretText {
    pub fn new(s: impl Into<String>) -> Self {
        SecretText(Zeroizing::new(s.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The mode changes the console can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeChange {
    DeclareEmergency,
    StartDrill,
    End,
    Standby,
}

/// One console command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    /// Node status: mode, snapshot, sync.
    Status,
    SyncNow {
        full: bool,
    },
    SnapshotList,
    /// Verify one generation (the current one when `None`).
    SnapshotVerify {
        generation: Option<u64>,
    },
    SnapshotRollback {
        generation: u64,
    },
    /// Serve a quarantined generation after all (an admin found its loss real).
    SnapshotPromote {
        generation: u64,
    },
    SnapshotPin {
        generation: u64,
        pinned: bool,
    },
    AdminCreate {
        admin_id: String,
        display_name: String,
        password: SecretText,
        /// The recovery key printed by `akari init` (key slots), when required.
        recovery_key: Option<SecretText>,
    },
    Mode {
        change: ModeChange,
        reason: String,
    },
    AccountProvision {
        label: String,
        /// Empty: all wards.
        wards: Vec<String>,
        expires_at: Option<DateTime<Utc>>,
        /// Needed when key slots exist and the snapshot key is not in memory.
        #[serde(default)]
        recovery_key: Option<SecretText>,
    },
    AccountList,
    AccountReseal {
        account_id: String,
        #[serde(default)]
        recovery_key: Option<SecretText>,
    },
    /// Unlock the snapshot with the recovery key (until an episode ends or `lock`).
    Unlock {
        recovery_key: SecretText,
    },
    /// Wipe the snapshot key from memory now.
    Lock,
    AccountRevoke {
        account_id: String,
        reason: String,
    },
    /// Export to `out` (an absolute path the node writes), or into the response.
    AuditExport {
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        format: String,
        out: Option<PathBuf>,
    },
    /// The review summary of an episode; without one, the list of episodes.
    AuditReport {
        episode: Option<u64>,
    },
    /// Sign a checkpoint now; optionally write it to a directory (removable media).
    AuditCheckpoint {
        write_to: Option<PathBuf>,
    },
}

/// What the console user typed, as sent over the socket.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub request: Request,
}

/// The answer to a [`Request`]: text for the person at the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// False: the command failed; `error` says why and what to do.
    pub ok: bool,
    /// What to print on standard output.
    pub output: String,
    pub error: Option<String>,
    /// The command needs the recovery key (key slots are initialised and the snapshot key
    /// is not in memory): the CLI asks for it and sends the command again with it.
    #[serde(default)]
    pub needs_recovery_key: bool,
}

impl Response {
    fn ok(output: impl Into<String>) -> Self {
        Response {
            ok: true,
            output: output.into(),
            error: None,
            needs_recovery_key: false,
        }
    }

    fn fail(error: impl std::fmt::Display) -> Self {
        Response {
            ok: false,
            output: String::new(),
            error: Some(error.to_string()),
            needs_recovery_key: false,
        }
    }

    fn locked(error: impl std::fmt::Display) -> Self {
        Response {
            needs_recovery_key: true,
            ..Response::fail(error)
        }
    }
}

fn console_client() -> Client {
    Client {
        address: None,
        user_agent: Some(format!("akari-console/{}", env!("CARGO_PKG_VERSION"))),
    }
}

/// Carries out one console command on `services` as `console`. Blocking (argon2, redb,
/// sync): call from `spawn_blocking` in async code.
pub fn execute(services: &Services, console: &Console, request: Request) -> Response {
    match run(services, console, request) {
        Ok(response) => response,
        Err(Failure::Locked(message)) => Response::locked(message),
        Err(Failure::Other(message)) => Response::fail(message),
    }
}

enum Failure {
    /// The snapshot key is needed: ask for the recovery key.
    Locked(String),
    Other(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Other(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Self {
        Failure::Other(s.to_owned())
    }
}

impl From<akari_accounts::Error> for Failure {
    fn from(e: akari_accounts::Error) -> Self {
        match e {
            akari_accounts::Error::Locked { .. } => Failure::Locked(e.to_string()),
            other => Failure::Other(other.to_string()),
        }
    }
}

/// Records a console act in the ledger before it is carried out (fail closed).
fn audit(services: &Services, console: &Console, action: Action) -> Result<(), Failure> {
    let mode = services
        .mode()
        .unwrap_or(akari_accounts::event::Mode::Standby);
    services
        .ledger
        .record(AuditEvent {
            time: Utc::now(),
            actor: console.actor(),
            action,
            patient: None,
            details: None,
            client: console_client(),
            mode,
        })
        .map(|_receipt| ())
        .map_err(|e| Failure::Other(format!("not done: {e}")))
}

fn run(services: &Services, console: &Console, request: Request) -> Result<Response, Failure> {
    let client = console_client();
    let cap = console.capability();
    let accounts = &services.accounts;
    let text = |e: &dyn std::fmt::Display| e.to_string();
    match request {
        Request::Status => Ok(Response::ok(status_text(services))),
        Request::SyncNow { full } => {
            audit(services, console, Action::SyncRequested { full })?;
            let report = services
                .sync_now(full, &CancellationToken::new())
                .map_err(|e| {
                    format!("sync failed; the current generation stays in service: {e}")
                })?;
            let rejects: u64 = report.rejects.values().sum();
            if report.unchanged {
                return Ok(Response::ok(format!(
                    "sync {} done: no change; generation {} stays current ({} resources, {} ms)\n",
                    if report.full { "full" } else { "incremental" },
                    report.generation,
                    report.resources,
                    report.duration_ms
                )));
            }
            Ok(Response::ok(format!(
                "sync {} done: generation {} ({} resources, {} deletions, {} rejected, {} ms)\n",
                if report.full { "full" } else { "incremental" },
                report.generation,
                report.resources,
                report.deletions,
                rejects,
                report.duration_ms
            )))
        }
        Request::SnapshotList => {
            let list = services.store.list().map_err(|e| text(&e))?;
            if list.is_empty() {
                return Ok(Response::ok(
                    "no generation yet: run `akari sync now --full`\n",
                ));
            }
            let mut out = String::from(
                "  GEN  KIND         CREATED (UTC)         PATIENTS  ITEMS    PINNED  STATE        SET HASH\n",
            );
            let mut quarantined = Vec::new();
            for g in list {
                let m = &g.manifest;
                let state = match &m.quarantine {
                    Some(q) if q.promoted_at.is_some() => "promoted",
                    Some(q) => {
                        quarantined.push(format!("  {}: {}", m.generation, q.losses_text()));
                        "QUARANTINED"
                    }
                    None => "",
                };
                out.push_str(&format!(
                    "{} {:>4}  {:<12} {}  {:>8}  {:>7}  {:<6}  {:<11}  {}\n",
                    if g.current { "*" } else { " " },
                    m.generation,
                    m.kind.to_string(),
                    m.created_at.format("%Y-%m-%d %H:%M:%S"),
                    m.patients(),
                    m.total_items(),
                    if m.pinned { "yes" } else { "" },
                    state,
                    &m.set_hash[..m.set_hash.len().min(16)],
                ));
            }
            out.push_str("(* = current)\n");
            if !quarantined.is_empty() {
                out.push_str(
                    "Quarantined (not served; `akari snapshot promote GEN` if the loss is real):\n",
                );
                for line in quarantined {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            Ok(Response::ok(out))
        }
        Request::SnapshotVerify { generation } => {
            let generation = match generation {
                Some(g) => g,
                None => {
                    services
                        .store
                        .current()
                        .map_err(|e| text(&e))?
                        .ok_or("the snapshot holds no generation yet: run `akari sync now --full`")?
                        .generation
                }
            };
            let report = services.store.verify(generation).map_err(|e| text(&e))?;
            let detail = format!(
                "{} items checked, {} corrupt, counts {}, set hash {}",
                report.items_checked,
                report.corrupt_items,
                if report.counts_match {
                    "match"
                } else {
                    "DIFFER"
                },
                if report.set_hash_matches {
                    "matches"
                } else {
                    "DIFFERS"
                }
            );
            if report.ok() {
                Ok(Response::ok(format!(
                    "generation {generation} verifies: {detail}\n"
                )))
            } else {
                Err(Failure::Other(format!(
                    "generation {generation} FAILED verification: {detail}; roll back to an \
                     older generation (`akari snapshot list`, `akari snapshot rollback GEN`)"
                )))
            }
        }
        Request::SnapshotRollback { generation } => {
            let from = services
                .store
                .current()
                .ok()
                .flatten()
                .map(|m| m.generation);
            services.store.manifest(generation).map_err(|e| text(&e))?;
            audit(
                services,
                console,
                Action::SnapshotRolledBack {
                    from,
                    to: generation,
                },
            )?;
            // One path with the web: rollback, then the reader and the sync status follow.
            let manifest = services.engine.rollback(generation).map_err(|e| text(&e))?;
            services.publish_status();
            info!(
                from = generation,
                generation = manifest.generation,
                "snapshot rolled back by the console"
            );
            Ok(Response::ok(format!(
                "rolled back: generation {} (a copy of generation {generation}) is now current\n",
                manifest.generation
            )))
        }
        Request::SnapshotPromote { generation } => {
            let from = services
                .store
                .current()
                .ok()
                .flatten()
                .map(|m| m.generation);
            // Refuse what cannot be promoted before recording anything.
            let manifest = services.store.manifest(generation).map_err(|e| text(&e))?;
            if !manifest.is_quarantined() {
                return Err(Failure::Other(text(
                    &akari_sync::StoreError::NotQuarantined(generation),
                )));
            }
            audit(
                services,
                console,
                Action::SnapshotPromoted { generation, from },
            )?;
            let manifest = services.engine.promote(generation).map_err(|e| text(&e))?;
            services.publish_status();
            info!(generation, "quarantined generation promoted by the console");
            Ok(Response::ok(format!(
                "promoted: generation {} ({} patients) is now current\n",
                manifest.generation,
                manifest.patients()
            )))
        }
        Request::SnapshotPin { generation, pinned } => {
            services.store.manifest(generation).map_err(|e| text(&e))?;
            audit(
                services,
                console,
                Action::SnapshotPinned { generation, pinned },
            )?;
            let m = services
                .store
                .set_pinned(generation, pinned)
                .map_err(|e| text(&e))?;
            Ok(Response::ok(format!(
                "generation {} is {}\n",
                m.generation,
                if m.pinned {
                    "pinned: retention keeps it"
                } else {
                    "no longer pinned"
                }
            )))
        }
        Request::AdminCreate {
            admin_id,
            display_name,
            password,
            recovery_key,
        } => {
            let new = NewAdmin {
                admin_id,
                display_name,
                password: Password::new(password.expose()),
            };
            let ticket = match &recovery_key {
                Some(key) => {
                    accounts.create_admin_with_recovery(console, new, key.expose(), &client)
                }
                None => accounts.create_admin(console, new, &client),
            }?;
            Ok(Response::ok(format!(
                "admin {} created.\n\
                 One-time enrolment code (shown only now): {}\n\
                 It expires at {}. The admin opens the node's admin page, enters the ID and \
                 this code, and registers a passkey or security key with a PIN.\n",
                ticket.admin_id,
                ticket.code.expose(),
                ticket.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )))
        }
        Request::Mode { change, reason } => {
            let state = match change {
                ModeChange::DeclareEmergency => accounts.declare_emergency(&cap, &reason, &client),
                ModeChange::StartDrill => accounts.start_drill(&cap, &reason, &client),
                ModeChange::End => accounts.end_episode(&cap, &reason, &client),
                ModeChange::Standby => accounts.resume_standby(&cap, &reason, &client),
            }?;
            services.publish_status();
            // One number per episode for staff: the review's (the ledger entry that began
            // it), which `akari audit report` takes; the accounts' own counter stays inside.
            let mut out = format!("mode is now {}\n", state.mode);
            if !matches!(change, ModeChange::Standby) {
                if let Ok(Some(ep)) = akari_accounts::review::episodes(&services.ledger)
                    .map(|all| all.into_iter().next_back())
                {
                    out.push_str(&format!(
                        "review it after recovery with `akari audit report {}`\n",
                        ep.id
                    ));
                }
            }
            Ok(Response::ok(out))
        }
        Request::AccountProvision {
            label,
            wards,
            expires_at,
            recovery_key,
        } => {
            let ward_scope = if wards.is_empty() {
                WardScope::All
            } else {
                WardScope::Wards(wards)
            };
            let req = ProvisionRequest {
                label,
                ward_scope,
                expires_at,
            };
            let sheet = match &recovery_key {
                Some(key) => accounts.provision_with_recovery(console, req, key.expose(), &client),
                None => accounts.provision(&cap, req, &client),
            }?;
            Ok(Response::ok(sheet.to_printable_text()))
        }
        Request::AccountList => {
            let list = accounts.list_accounts(&cap)?;
            if list.is_empty() {
                return Ok(Response::ok(
                    "no emergency accounts yet: `akari account provision --label ER-1`\n",
                ));
            }
            let mut out = String::from(
                "ACCOUNT       LABEL          STATUS    SEAL        WARDS / EXPIRES\n",
            );
            for a in list {
                let wards = match &a.ward_scope {
                    WardScope::All => "all".to_owned(),
                    WardScope::Wards(w) => w.join(","),
                };
                let expires = a
                    .expires_at
                    .map(|t| format!(" / until {}", t.format("%Y-%m-%d %H:%M")))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{:<13} {:<14} {:<9} {:<11} {wards}{expires}\n",
                    a.account_id,
                    a.label,
                    a.status.to_string(),
                    a.seal_number.as_deref().unwrap_or("-"),
                ));
            }
            Ok(Response::ok(out))
        }
        Request::AccountReseal {
            account_id,
            recovery_key,
        } => {
            let sheet = match &recovery_key {
                Some(key) => {
                    accounts.reseal_with_recovery(console, &account_id, key.expose(), &client)
                }
                None => accounts.reseal(&cap, &account_id, &client),
            }?;
            Ok(Response::ok(sheet.to_printable_text()))
        }
        Request::Unlock { recovery_key } => {
            accounts.unlock_with_recovery(console, recovery_key.expose())?;
            Ok(Response::ok(
                "snapshot unlocked: the node can show patient data until the episode ends, \
                 the last admin logs out, or `akari lock`\n",
            ))
        }
        Request::Lock => {
            accounts.lock_snapshot(&cap, &client)?;
            Ok(Response::ok(
                "snapshot locked: its key is wiped from memory\n",
            ))
        }
        Request::AccountRevoke { account_id, reason } => {
            accounts.revoke(&cap, &account_id, &reason, &client)?;
            Ok(Response::ok(format!("account {account_id} revoked\n")))
        }
        Request::AuditExport {
            from,
            to,
            format,
            out,
        } => audit_export(services, console, from, to, &format, out),
        Request::AuditReport { episode } => {
            let ledger = &services.ledger;
            match episode {
                None => {
                    let episodes =
                        akari_accounts::review::episodes(ledger).map_err(|e| text(&e))?;
                    if episodes.is_empty() {
                        return Ok(Response::ok("no emergency or drill episode yet\n"));
                    }
                    let mut out = String::from("EPISODE  KIND       STARTED (UTC)        ENDED\n");
                    for ep in episodes {
                        out.push_str(&format!(
                            "{:>7}  {:<9}  {}  {}\n",
                            ep.id,
                            if ep.drill { "drill" } else { "emergency" },
                            ep.started.format("%Y-%m-%d %H:%M:%S"),
                            ep.end
                                .as_ref()
                                .map(|e| e.time.format("%Y-%m-%d %H:%M:%S").to_string())
                                .unwrap_or_else(|| "(ongoing)".into())
                        ));
                    }
                    out.push_str("Show one with `akari audit report EPISODE`.\n");
                    Ok(Response::ok(out))
                }
                Some(id) => {
                    let scopes = services.ward_scopes(console);
                    let review = akari_accounts::review::review_episode(
                        ledger,
                        id,
                        &scopes,
                        &services.config.ledger.review,
                    )
                    .map_err(|e| text(&e))?;
                    Ok(Response::ok(akari_accounts::review::report(&review)))
                }
            }
        }
        Request::AuditCheckpoint { write_to } => {
            let cp = services.ledger.checkpoint_now().map_err(|e| text(&e))?;
            let key = services.ledger.public_key();
            let body = cp.to_text(&key);
            let mut out = body.clone();
            if !out.ends_with('\n') {
                out.push('\n');
            }
            if let Some(dir) = write_to {
                let path = dir.join(REMOVABLE_FILE_NAME);
                write_atomically(&path, body.as_bytes()).map_err(|e| {
                    format!("cannot write the checkpoint to {}: {e}", path.display())
                })?;
                out.push_str(&format!("written to {}\n", path.display()));
            }
            Ok(Response::ok(out))
        }
    }
}

fn status_text(services: &Services) -> String {
    let status = services.node_status();
    let sync = services.engine.status();
    let mut out = format!("mode: {}\n", status.mode);
    match services.reader.generation() {
        Some(m) => out.push_str(&format!(
            "snapshot: generation {} ({} patients), data as of {}\n",
            m.generation,
            m.patients(),
            m.high_water
                .unwrap_or(m.created_at)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        )),
        None => out.push_str("snapshot: none yet (run `akari sync now --full`)\n"),
    }
    if services.store.is_encrypted() {
        out.push_str(if services.reader.is_locked() {
            "snapshot key: locked (encrypted at rest; a sealed-account or admin login, or \
             `akari unlock`, unlocks it)\n"
        } else {
            "snapshot key: unlocked\n"
        });
    }
    if let Some(alert) = &sync.integrity_alert {
        out.push_str(&format!("ALERT: {}\n", alert.message()));
    }
    if let Some(alert) = &sync.quarantine {
        out.push_str(&format!("ALERT: {}\n", alert.message()));
    }
    match (&sync.copy, &sync.copy_error) {
        (_, Some(e)) => out.push_str(&format!("second copy: {e}\n")),
        (Some(c), None) => out.push_str(&format!(
            "second copy: generation {}, written {}\n",
            c.generation,
            c.written_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )),
        (None, None) => {}
    }
    if !services.source_configured {
        out.push_str("sync: no [sync.source] configured\n");
    } else {
        if let Some(t) = sync.last_success {
            out.push_str(&format!(
                "sync: last success {}\n",
                t.to_rfc3339_opts(SecondsFormat::Secs, true)
            ));
        }
        if let Some(e) = &sync.last_error {
            out.push_str(&format!("sync: last error: {e}\n"));
        }
        if let Some(since) = services.sync_failing_since() {
            let minutes = (Utc::now() - since).num_minutes().max(0);
            out.push_str(&format!(
                "main system unreachable for {minutes} min (since {})\n",
                since.to_rfc3339_opts(SecondsFormat::Secs, true)
            ));
        }
    }
    out
}

fn audit_export(
    services: &Services,
    console: &Console,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    format: &str,
    out: Option<PathBuf>,
) -> Result<Response, Failure> {
    let format: ExportFormat = format.parse::<ExportFormat>()?;
    let format_name = match format {
        ExportFormat::Ndjson => "ndjson",
        ExportFormat::Fhir => "fhir",
        ExportFormat::Csv => "csv",
    };
    // The export itself is an auditable act, recorded before anything leaves.
    audit(
        services,
        console,
        Action::AuditExported {
            format: format_name.into(),
        },
    )?;
    let range = ExportRange { from, to };
    match out {
        Some(path) => {
            let tmp = tmp_path(&path);
            let file = std::fs::File::create(&tmp)
                .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            let summary = services
                .ledger
                .export(&range, format, &mut writer)
                .map_err(|e| e.to_string())?;
            let file = writer
                .into_inner()
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            file.sync_all()
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(Response::ok(format!(
                "exported entries {}..{} ({} entries, {} checkpoints) as {format_name} to {}\n",
                summary.first_seq,
                summary.last_seq,
                summary.entries,
                summary.checkpoints,
                path.display()
            )))
        }
        None => {
            let mut buf = Vec::new();
            services
                .ledger
                .export(&range, format, &mut buf)
                .map_err(|e| e.to_string())?;
            Ok(Response::ok(String::from_utf8_lossy(&buf).into_owned()))
        }
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

// ------------------------------------------------------------------ the socket

/// The socket path of a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Sends `request` to the node running on `data_dir`. `Ok(None)`: no node answers there
/// (no socket, or a stale one left by a crash) — the caller may open the files itself.
pub fn send(data_dir: &Path, request: &Request) -> Result<Option<Response>, Error> {
    use std::os::unix::net::UnixStream;
    let path = socket_path(data_dir);
    let fail = |message: String| Error::Control {
        path: path.clone(),
        message,
    };
    let stream = match UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(fail(format!("cannot connect to the running node: {e}"))),
    };
    let mut line = serde_json::to_string(&Envelope {
        request: request.clone(),
    })
    .map_err(|e| fail(e.to_string()))?;
    line.push('\n');
    (&stream)
        .write_all(line.as_bytes())
        .map_err(|e| fail(format!("cannot send the command: {e}")))?;
    let mut reader = BufReader::new(&stream);
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .map_err(|e| fail(format!("no answer from the running node: {e}")))?;
    if answer.is_empty() {
        return Err(fail(
            "the running node closed the connection without answering; see its log".into(),
        ));
    }
    let response = serde_json::from_str(&answer)
        .map_err(|e| fail(format!("unreadable answer from the running node: {e}")))?;
    Ok(Some(response))
}

/// Listens on `<data>/control.sock` for console commands until `cancel` fires; the socket
/// file is removed then. A stale socket (from a node that crashed) is replaced; a socket
/// another live node answers on is an error.
pub fn listen(
    services: Arc<Services>,
    tasks: &TaskTracker,
    cancel: CancellationToken,
) -> Result<PathBuf, Error> {
    let path = socket_path(services.data.root());
    let fail = |message: String| Error::Control {
        path: path.clone(),
        message,
    };
    if path.exists() {
        match std::os::unix::net::UnixStream::connect(&path) {
            Ok(_) => {
                return Err(fail(
                    "another Akari node is already running on this data directory".into(),
                ))
            }
            Err(_) => std::fs::remove_file(&path)
                .map_err(|e| fail(format!("cannot remove the stale socket: {e}")))?,
        }
    }
    let listener = tokio::net::UnixListener::bind(&path).map_err(|e| fail(e.to_string()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail(format!("cannot make the socket private: {e}")))?;
    let socket = path.clone();
    let connections = tasks.clone();
    tasks.spawn(async move {
        loop {
            let stream = tokio::select! {
                () = cancel.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            connections.spawn(serve_one(services.clone(), stream));
        }
        drop(listener);
        if let Err(e) = std::fs::remove_file(&socket) {
            warn!(error = %e, "cannot remove the control socket");
        }
    });
    Ok(path)
}

async fn serve_one(services: Arc<Services>, stream: tokio::net::UnixStream) {
    let user = match stream.peer_cred() {
        // Only the node's own user (or root) may command it; the 0700 data directory
        // already keeps others from reaching the socket.
        Ok(cred) if cred.uid() == nix::unistd::geteuid().as_raw() || cred.uid() == 0 => {
            user_name(cred.uid())
        }
        Ok(cred) => {
            warn!(
                uid = cred.uid(),
                "control socket: a connection from another user; refused"
            );
            return;
        }
        Err(e) => {
            warn!(error = %e, "control socket: no peer credentials; refused");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST as u64);
    let mut line = String::new();
    let response = match reader.read_line(&mut line).await {
        Ok(_) => match serde_json::from_str::<Envelope>(&line) {
            Ok(envelope) => {
                let console = Console::new(user);
                let request = envelope.request;
                let name = request_name(&request);
                info!(command = name, "console command via the control socket");
                match tokio::task::spawn_blocking(move || execute(&services, &console, request))
                    .await
                {
                    Ok(response) => response,
                    Err(e) => Response::fail(format!("the command failed inside the node: {e}")),
                }
            }
            Err(e) => Response::fail(format!(
                "not a valid command for this node ({e}); is the akari binary the same version?"
            )),
        },
        Err(e) => Response::fail(format!("cannot read the command: {e}")),
    };
    let Ok(mut text) = serde_json::to_string(&response) else {
        return;
    };
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
    let _ = write.shutdown().await;
}

/// A short, data-free name of the command, for logs.
pub fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Status => "status",
        Request::SyncNow { .. } => "sync now",
        Request::SnapshotList => "snapshot list",
        Request::SnapshotVerify { .. } => "snapshot verify",
        Request::SnapshotRollback { .. } => "snapshot rollback",
        Request::SnapshotPromote { .. } => "snapshot promote",
        Request::SnapshotPin { .. } => "snapshot pin",
        Request::AdminCreate { .. } => "admin create",
        Request::Mode { .. } => "mode",
        Request::AccountProvision { .. } => "account provision",
        Request::AccountList => "account list",
        Request::Unlock { .. } => "unlock",
        Request::Lock => "lock",
        Request::AccountReseal { .. } => "account reseal",
        Request::AccountRevoke { .. } => "account revoke",
        Request::AuditExport { .. } => "audit export",
        Request::AuditReport { .. } => "audit report",
        Request::AuditCheckpoint { .. } => "audit checkpoint",
    }
}

/// The OS user name of `uid` (or `uid:N` if it has none).
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid:{uid}"),
    }
}

/// The OS user running this process.
pub fn current_user() -> String {
    user_name(nix::unistd::getuid().as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_requests_are_not_debug_printed_but_cross_the_socket() {
        let request = Request::AdminCreate {
            admin_id: "it-1".into(),
            display_name: "IT".into(),
            password: SecretText::new("Correct-horse-9-battery"),
            recovery_key: Some(SecretText::new("RECOVERY-KEY-1234")),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("Correct-horse"), "{debug}");
        assert!(!debug.contains("RECOVERY-KEY"), "{debug}");
        let json = serde_json::to_string(&Envelope { request }).unwrap();
        let back: Envelope = serde_json::from_str(&json).unwrap();
        match back.request {
            Request::AdminCreate { password, .. } => {
                assert_eq!(password.expose(), "Correct-horse-9-battery")
            }
            other => panic!("{other:?}"),
        }
    }
}
