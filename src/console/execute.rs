//! Carrying out a console command on the node's [`Services`]: one small function per
//! command, grouped by family (sync and snapshot, admin and mode, accounts and the
//! snapshot key, audit). Acts that change the node or let data leave it are recorded in
//! the ledger first (fail closed); the text printed is made in [`super::render`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use akari_accounts::event::{Action, AdminRecovery, AuditEvent, AuditSink, Client};
use akari_accounts::ledger::{ExportFormat, ExportRange, REMOVABLE_FILE_NAME};
use akari_accounts::{Console, NewAdmin, Password, ProvisionRequest, WardScope};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::info;

use akari_web::viewer::ReviewDirectory;

use super::protocol::{ModeChange, Request, Response, ReviewOptions};
use super::render;
use crate::secret::Secret;
use crate::services::Services;

/// Carries out one console command on `services` as `console`. Blocking (argon2, redb,
/// sync): call from `spawn_blocking` in async code.
pub fn execute(services: &Services, console: &Console, request: Request) -> Response {
    let command = Command { services, console };
    match command.run(request) {
        Ok(output) => Response::ok(output),
        Err(Failure::Locked(message)) => Response::locked(message),
        Err(Failure::Other(message)) => Response::fail(message),
    }
}

/// [`execute`] from async code: on a blocking thread, so the runtime keeps serving.
pub async fn execute_async(
    services: Arc<Services>,
    console: Console,
    request: Request,
) -> Response {
    let name = request.name();
    match tokio::task::spawn_blocking(move || execute(&services, &console, request)).await {
        Ok(response) => response,
        Err(e) => Response::fail(format!("the `{name}` command did not finish: {e}")),
    }
}

/// Why a command did not do what was asked.
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

impl From<akari_sync::StoreError> for Failure {
    fn from(e: akari_sync::StoreError) -> Self {
        Failure::Other(e.to_string())
    }
}

impl From<akari_accounts::review::ReviewError> for Failure {
    fn from(e: akari_accounts::review::ReviewError) -> Self {
        Failure::Other(e.to_string())
    }
}

impl From<akari_accounts::ledger::LedgerError> for Failure {
    fn from(e: akari_accounts::ledger::LedgerError) -> Self {
        Failure::Other(e.to_string())
    }
}

/// What a command's output is: the text printed, or why it failed.
type Outcome = Result<String, Failure>;

/// One console command in progress: the node's services and who runs it.
struct Command<'a> {
    services: &'a Services,
    console: &'a Console,
}

impl Command<'_> {
    /// The hospital's clock, for every time a report prints.
    fn zone(&self) -> &akari_accounts::Zone {
        &self.services.config.display.time_zone
    }

    fn run(&self, request: Request) -> Outcome {
        match request {
            Request::Status => Ok(render::status(self.services)),
            Request::NoticePost { text } => self.notice_post(&text),
            Request::NoticeWithdraw => self.notice_withdraw(),
            Request::SyncNow { full } => self.sync_now(full),
            Request::SyncReport => Ok(render::sync_report_full(
                &self.services.engine.status(),
                self.zone(),
            )),
            Request::SnapshotList => self.snapshot_list(),
            Request::SnapshotVerify { generation } => self.snapshot_verify(generation),
            Request::SnapshotRollback { generation } => self.snapshot_rollback(generation),
            Request::SnapshotPromote { generation } => self.snapshot_promote(generation),
            Request::SnapshotPin { generation, pinned } => self.snapshot_pin(generation, pinned),
            Request::AdminCreate {
                admin_id,
                display_name,
                password,
                recovery_key,
            } => self.admin_create(admin_id, display_name, &password, recovery_key),
            Request::AdminRecover {
                admin_id,
                change,
                recovery_key,
            } => self.admin_recover(&admin_id, change, recovery_key),
            Request::Mode { change, reason } => self.change_mode(change, &reason),
            Request::AccountProvision {
                label,
                wards,
                expires_at,
                recovery_key,
            } => {
                let expires_at = expires_at.map(|t| t.end(self.zone())).transpose()?;
                self.account_provision(label, wards, expires_at, recovery_key)
            }
            Request::AccountList => self.account_list(),
            Request::AccountReseal {
                account_id,
                recovery_key,
            } => self.account_reseal(&account_id, recovery_key),
            Request::AccountRevoke { account_id, reason } => {
                self.account_revoke(&account_id, &reason)
            }
            Request::Unlock { recovery_key } => self.unlock(&recovery_key),
            Request::Lock => self.lock(),
            Request::AuditExport {
                from,
                to,
                format,
                out,
            } => {
                let zone = self.zone();
                let range = ExportRange {
                    from: from.map(|t| t.start(zone)).transpose()?,
                    to: to.map(|t| t.start(zone)).transpose()?,
                };
                self.audit_export(range, &format, out)
            }
            Request::AuditReport { episode, review } => self.audit_report(episode, review),
            Request::AuditSignOff {
                episode,
                verdict,
                comment,
            } => self.audit_sign_off(episode, &verdict, &comment),
            Request::AuditCheckpoint { write_to } => self.audit_checkpoint(write_to),
            Request::DowntimeStatus => self.downtime_status(),
            Request::DowntimeExport {
                episode,
                out,
                recovery_key,
            } => self.downtime_export(episode, &out, recovery_key.as_ref()),
            Request::DowntimeReconcile { entries, episode } => {
                self.downtime_reconcile(entries, episode)
            }
        }
    }

    /// Records a console act in the ledger before it is carried out (fail closed).
    fn audit(&self, action: Action) -> Result<(), Failure> {
        self.audit_with(action, None)
    }

    /// [`Self::audit`] with the entry's details.
    fn audit_with(&self, action: Action, details: Option<String>) -> Result<(), Failure> {
        let mode = self
            .services
            .mode()
            .unwrap_or(akari_accounts::event::Mode::Standby);
        self.services
            .ledger
            .record(AuditEvent {
                time: Utc::now(),
                actor: self.console.actor(),
                action,
                patient: None,
                details,
                client: client(),
                mode,
            })
            .map(|_receipt| ())
            .map_err(|e| Failure::Other(format!("not done: {e}")))
    }

    // ------------------------------------------------------------ sync and snapshot

    fn sync_now(&self, full: bool) -> Outcome {
        self.audit(Action::SyncRequested { full })?;
        let report = self
            .services
            .sync_now(full, &CancellationToken::new())
            .map_err(|e| format!("sync failed; the current generation stays in service: {e}"))?;
        Ok(render::sync_report(&report))
    }

    fn snapshot_list(&self) -> Outcome {
        Ok(render::generations(
            &self.services.store.list()?,
            self.zone(),
        ))
    }

    fn snapshot_verify(&self, generation: Option<u64>) -> Outcome {
        let generation = match generation {
            Some(g) => g,
            None => {
                self.services
                    .store
                    .current()?
                    .ok_or("the snapshot holds no generation yet: run `akari sync now --full`")?
                    .generation
            }
        };
        let report = self.services.store.verify(generation)?;
        let detail = render::verification(&report);
        if report.ok() {
            Ok(format!("generation {generation} verifies: {detail}\n"))
        } else {
            Err(Failure::Other(format!(
                "generation {generation} FAILED verification: {detail}; roll back to an \
                 older generation (`akari snapshot list`, `akari snapshot rollback GEN`)"
            )))
        }
    }

    /// The generation served now, if any (for the audit record of a switch).
    fn current_generation(&self) -> Option<u64> {
        let current = self.services.store.current();
        current.ok().flatten().map(|m| m.generation)
    }

    fn snapshot_rollback(&self, generation: u64) -> Outcome {
        let services = self.services;
        let from = self.current_generation();
        services.store.manifest(generation)?;
        self.audit(Action::SnapshotRolledBack {
            from,
            to: generation,
        })?;
        // One path with the web: rollback, then the reader and the sync status follow.
        let manifest = services
            .engine
            .rollback(generation)
            .map_err(|e| e.to_string())?;
        services.publish_status();
        info!(
            from = generation,
            generation = manifest.generation,
            "snapshot rolled back by a console command"
        );
        Ok(format!(
            "rolled back: generation {} (a copy of generation {generation}) is now current\n",
            manifest.generation
        ))
    }

    fn snapshot_promote(&self, generation: u64) -> Outcome {
        let services = self.services;
        let from = self.current_generation();
        // Refuse what cannot be promoted before recording anything.
        if !services.store.manifest(generation)?.is_quarantined() {
            return Err(akari_sync::StoreError::NotQuarantined(generation).into());
        }
        self.audit(Action::SnapshotPromoted { generation, from })?;
        // Verified first; the reader, the sync status and the second copy follow.
        let manifest = services
            .engine
            .promote(generation)
            .map_err(|e| e.to_string())?;
        services.publish_status();
        info!(
            generation,
            "quarantined generation promoted by a console command"
        );
        Ok(format!(
            "promoted: generation {} ({} patients) is now current\n",
            manifest.generation,
            manifest.patients()
        ))
    }

    fn snapshot_pin(&self, generation: u64, pinned: bool) -> Outcome {
        self.services.store.manifest(generation)?;
        self.audit(Action::SnapshotPinned { generation, pinned })?;
        let m = self.services.store.set_pinned(generation, pinned)?;
        Ok(format!(
            "generation {} is {}\n",
            m.generation,
            if m.pinned {
                "pinned: retention keeps it"
            } else {
                "no longer pinned"
            }
        ))
    }

    // ------------------------------------------------------------ admin and mode

    fn admin_create(
        &self,
        admin_id: String,
        display_name: String,
        password: &Secret,
        recovery_key: Option<Secret>,
    ) -> Outcome {
        let accounts = &self.services.accounts;
        let new = NewAdmin {
            admin_id,
            display_name,
            password: Password::new(password.expose()),
        };
        let ticket = match &recovery_key {
            Some(key) => {
                accounts.create_admin_with_recovery(self.console, new, key.expose(), &client())
            }
            None => accounts.create_admin(self.console, new, &client()),
        }?;
        Ok(render::admin_created(&ticket, self.zone()))
    }

    fn admin_recover(
        &self,
        admin_id: &str,
        change: AdminRecovery,
        recovery_key: Option<Secret>,
    ) -> Outcome {
        let recovered = self.services.accounts.recover_admin_at_console(
            self.console,
            admin_id,
            change,
            recovery_key.as_ref().map(Secret::expose),
            &client(),
        )?;
        Ok(render::admin_recovered(&recovered, self.zone()))
    }

    fn notice_post(&self, text: &str) -> Outcome {
        let cap = self.console.capability();
        let notice = self.services.accounts.post_notice(&cap, text, &client())?;
        Ok(format!(
            "notice posted; every clinician page and printout shows it until `akari notice withdraw`:\n  {}\n",
            notice.text
        ))
    }

    fn notice_withdraw(&self) -> Outcome {
        let cap = self.console.capability();
        Ok(
            match self.services.accounts.withdraw_notice(&cap, &client())? {
                Some(n) => format!("notice withdrawn: {}\n", n.text),
                None => "no notice was shown; nothing changed\n".to_owned(),
            },
        )
    }

    fn change_mode(&self, change: ModeChange, reason: &str) -> Outcome {
        let accounts = &self.services.accounts;
        let cap = self.console.capability();
        let client = client();
        let state = match change {
            ModeChange::DeclareEmergency => accounts.declare_emergency(&cap, reason, &client),
            ModeChange::StartDrill => accounts.start_drill(&cap, reason, &client),
            ModeChange::End => accounts.end_episode(&cap, reason, &client),
            ModeChange::Standby => accounts.resume_standby(&cap, reason, &client),
        }?;
        self.services.publish_status();
        // One number per episode: the accounts', which the status page, the review pages
        // and `akari audit report` all show.
        let mut out = format!("mode is now {}\n", state.mode);
        if let Some(ep) = state
            .episode
            .as_ref()
            .filter(|_| change != ModeChange::Standby)
        {
            out.push_str(&format!(
                "review it after recovery with `akari audit report {}`\n",
                ep.id
            ));
        }
        Ok(out)
    }

    // ------------------------------------------------------------ accounts and the key

    fn account_provision(
        &self,
        label: String,
        wards: Vec<String>,
        expires_at: Option<DateTime<Utc>>,
        recovery_key: Option<Secret>,
    ) -> Outcome {
        let accounts = &self.services.accounts;
        let ward_scope = if wards.is_empty() {
            WardScope::All
        } else {
            WardScope::Wards(wards)
        };
        let request = ProvisionRequest {
            label,
            ward_scope,
            expires_at,
        };
        let sheet = match &recovery_key {
            Some(key) => {
                accounts.provision_with_recovery(self.console, request, key.expose(), &client())
            }
            None => accounts.provision(&self.console.capability(), request, &client()),
        }?;
        Ok(sheet.to_printable_text(self.zone()))
    }

    fn account_list(&self) -> Outcome {
        let list = self
            .services
            .accounts
            .list_accounts(&self.console.capability())?;
        Ok(render::accounts(&list, self.zone()))
    }

    fn account_reseal(&self, account_id: &str, recovery_key: Option<Secret>) -> Outcome {
        let accounts = &self.services.accounts;
        let sheet = match &recovery_key {
            Some(key) => {
                accounts.reseal_with_recovery(self.console, account_id, key.expose(), &client())
            }
            None => accounts.reseal(&self.console.capability(), account_id, &client()),
        }?;
        Ok(sheet.to_printable_text(self.zone()))
    }

    fn account_revoke(&self, account_id: &str, reason: &str) -> Outcome {
        self.services
            .accounts
            .revoke(&self.console.capability(), account_id, reason, &client())?;
        Ok(format!("account {account_id} revoked\n"))
    }

    fn unlock(&self, recovery_key: &Secret) -> Outcome {
        self.services
            .accounts
            .unlock_with_recovery(self.console, recovery_key.expose())?;
        Ok(
            "snapshot unlocked: the node can show patient data until the episode ends, \
            the last admin logs out, or `akari lock`\n"
                .into(),
        )
    }

    fn lock(&self) -> Outcome {
        self.services
            .accounts
            .lock_snapshot(&self.console.capability(), &client())?;
        Ok("snapshot locked: its key is wiped from memory\n".into())
    }

    // ------------------------------------------------------------ audit

    fn audit_export(&self, range: ExportRange, format: &str, out: Option<PathBuf>) -> Outcome {
        let format: ExportFormat = format.parse::<ExportFormat>()?;
        let format_name = match format {
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Fhir => "fhir",
            ExportFormat::Csv => "csv",
        };
        // The export itself is an auditable act, recorded before anything leaves.
        self.audit(Action::AuditExported {
            format: format_name.into(),
        })?;
        let ledger = &self.services.ledger;
        let Some(path) = out else {
            let mut buf = Vec::new();
            ledger.export(&range, format, self.zone(), &mut buf)?;
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        };
        let tmp = partial_path(&path);
        let file = std::fs::File::create(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        let summary = ledger.export(&range, format, self.zone(), &mut writer)?;
        let file = writer
            .into_inner()
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        file.sync_all()
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(format!(
            "exported entries {}..{} ({} entries, {} checkpoints) as {format_name} to {}\n",
            summary.first_seq,
            summary.last_seq,
            summary.entries,
            summary.checkpoints,
            path.display()
        ))
    }

    // ------------------------------------------------------------ downtime records

    fn downtime_status(&self) -> Outcome {
        let open = self
            .services
            .downtime
            .unreconciled()
            .map_err(|e| e.to_string())?;
        if open.is_empty() {
            return Ok("no downtime records\n".into());
        }
        let mut out = String::from("episode  un-reconciled\n");
        for (episode, n) in &open {
            out.push_str(&format!("{episode:>7}  {n}\n"));
        }
        Ok(out)
    }

    fn downtime_export(
        &self,
        episode: Option<u64>,
        out: &Path,
        recovery_key: Option<&Secret>,
    ) -> Outcome {
        // Recorded before anything leaves the node.
        self.audit(Action::DowntimeExported {
            episode,
            format: "fhir+csv+pdf".into(),
        })?;
        let unlocked_here = self.unlock_for_review(recovery_key)?;
        let key = crate::datadir::load_signing_key(&self.services.data.signing_key())
            .map_err(|e| e.to_string())?;
        let font = self.services.print_font();
        let options = akari_web::downtime_export::ExportOptions {
            episode,
            node: akari_web::downtime_export::node_fingerprint(&key.verifying_key()),
            zone: *self.zone(),
            lang: akari_web::i18n::Lang::Ja,
            font: &font,
            signer: &key,
            by: console_name(self.console),
        };
        let result = akari_web::downtime_export::export(&self.services.downtime, &options, out);
        self.lock_again(unlocked_here);
        let report = result?;
        let mut text = format!(
            "exported {} downtime entries of {} patients to {}:\n",
            report.entries,
            report.patients,
            out.display()
        );
        for f in &report.files {
            text.push_str(&format!("  {f}\n"));
        }
        if let Some(why) = report.pdf_skipped {
            text.push_str(&format!("no PDF of the reconciliation list: {why}\n"));
        }
        text.push_str(
            "verify it anywhere with `akari downtime verify DIR --key node-signing.pub`\n",
        );
        Ok(text)
    }

    fn downtime_reconcile(&self, entries: Vec<u64>, episode: Option<u64>) -> Outcome {
        let store = &self.services.downtime;
        let ids: Vec<u64> = match episode {
            // The index, not the sealed entries: needs no key.
            Some(e) => store.entry_ids(Some(e)).map_err(|e| e.to_string())?,
            None => entries,
        };
        if ids.is_empty() {
            return Err("no downtime entries to mark".into());
        }
        store.check_ids(&ids).map_err(|e| e.to_string())?;
        // Recorded first: a ledger that cannot write marks nothing.
        let mode = self
            .services
            .mode()
            .unwrap_or(akari_accounts::event::Mode::Standby);
        let marked = akari_web::downtime_export::reconcile(
            &self.services.ledger,
            store,
            &ids,
            &console_name(self.console),
            |action| AuditEvent {
                time: Utc::now(),
                actor: self.console.actor(),
                action,
                patient: None,
                details: None,
                client: client(),
                mode,
            },
        )
        .map_err(|e| match e.strip_prefix("audit: ") {
            Some(audit) => format!("not done: {audit}"),
            None => e,
        })?;
        let left = store.unreconciled_total().map_err(|e| e.to_string())?;
        Ok(format!(
            "{marked} downtime entries marked reconciled ({} already were); {left} remain un-reconciled\n",
            ids.len() - marked
        ))
    }

    fn audit_report(&self, episode: Option<u64>, options: ReviewOptions) -> Outcome {
        let names_wanted = options.resolve || options.patient.is_some();
        if options.resolve && episode.is_none() {
            return Err(
                "--resolve names the patients of one episode: give its number \
                (`akari audit report` lists them)"
                    .into(),
            );
        }
        let unlocked_here =
            names_wanted && self.unlock_for_review(options.recovery_key.as_ref())?;
        let result = self.review_report(episode, &options);
        self.lock_again(unlocked_here);
        result
    }

    /// Locks the snapshot key again when this command unlocked it (`unlocked_here`): the
    /// key was in memory for this command only.
    fn lock_again(&self, unlocked_here: bool) {
        if !unlocked_here {
            return;
        }
        if let Err(e) = self
            .services
            .accounts
            .lock_snapshot(&self.console.capability(), &client())
        {
            tracing::warn!(error = %e, "the snapshot could not be locked again after the command");
        }
    }

    /// Makes the snapshot readable for naming patients: `true` when this command unlocked
    /// it (with the recovery key) and must lock it again.
    fn unlock_for_review(&self, recovery_key: Option<&Secret>) -> Result<bool, Failure> {
        if !self.services.reader.is_locked() {
            return Ok(false);
        }
        let Some(key) = recovery_key else {
            return Err(Failure::Locked(
                "naming patients needs the snapshot key, which is not in memory: type the \
                 recovery key (from the sheet printed at `akari init`), or run the command \
                 while an admin is logged in or after `akari unlock`"
                    .into(),
            ));
        };
        self.services
            .accounts
            .unlock_with_recovery(self.console, key.expose())?;
        Ok(true)
    }

    fn review_report(&self, episode: Option<u64>, options: &ReviewOptions) -> Outcome {
        use akari_accounts::review::{self, resolve};
        let ledger = &self.services.ledger;
        let reviewer = self.console.reviewer();
        let directory = ReviewDirectory::new(Arc::new(self.services.reader.clone()), &reviewer);
        let purpose = options.purpose.clone().unwrap_or_default();
        let act = resolve::ReviewAct {
            reviewer: &reviewer,
            sink: &**ledger,
            client: client(),
            mode: self
                .services
                .mode()
                .unwrap_or(akari_accounts::event::Mode::Standby),
            purpose: &purpose,
        };
        let mut out = String::new();
        if let Some(query) = &options.patient {
            out.push_str(&self.patient_report(&act, &directory, query)?);
        }
        let Some(id) = episode else {
            if options.patient.is_none() {
                out.push_str(&render::episodes(&review::episodes(ledger)?, self.zone()));
            }
            return Ok(out);
        };
        let scopes = self.services.ward_scopes(self.console);
        let episode_review =
            review::review_episode(ledger, id, &scopes, &self.services.config.ledger.review)?;
        let names = if options.resolve {
            let keys = episode_review
                .sessions
                .iter()
                .flat_map(|s| s.patients.iter().chain(&s.listed))
                .map(String::as_str);
            Some(resolve::resolve(&act, &directory, keys).map_err(review_failure)?)
        } else {
            None
        };
        out.push_str(&review::report_resolved(
            &episode_review,
            self.zone(),
            names.as_ref(),
        ));
        if let Some(path) = &options.pdf {
            // The font first: without one nothing is recorded, and the error says what to
            // install or set.
            let font = self.services.print_font()?;
            self.audit_with(
                Action::AuditExported {
                    format: "review-pdf".into(),
                },
                Some(format!("episode={id}")),
            )?;
            let tr = akari_web::i18n::Tr {
                lang: akari_web::i18n::Lang::Ja,
                zone: *self.zone(),
            };
            let printed_by = format!("console ({})", console_user(self.console));
            let pdf = akari_web::pages::admin::review_pdf::document(
                tr,
                &episode_review,
                names.as_ref(),
                &printed_by,
            )
            .render(&font)
            .map_err(|e| format!("the review PDF could not be written: {e}"))?;
            write_atomically(path, &pdf.pdf)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            out.push_str(&format!(
                "\nreview of episode {id} written as PDF ({} pages) to {}\n",
                pdf.pages,
                path.display()
            ));
        }
        if let Some(path) = &options.csv {
            // The copy leaving the node is recorded first, like every export.
            self.audit_with(
                Action::AuditExported {
                    format: "review-csv".into(),
                },
                Some(format!("episode={id}")),
            )?;
            let bytes = review::csv(&episode_review, names.as_ref(), self.zone());
            write_atomically(path, &bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            out.push_str(&format!(
                "\nreview of episode {id} written as CSV to {}{}\n",
                path.display(),
                if names.is_some() {
                    " (patients named)"
                } else {
                    " (patients by key)"
                }
            ));
        }
        Ok(out)
    }

    /// `--patient`: the patient the query names, then every session that saw them; a query
    /// that names several patients lists them (by key) to choose from.
    fn patient_report(
        &self,
        act: &akari_accounts::review::resolve::ReviewAct<'_>,
        directory: &ReviewDirectory,
        query: &str,
    ) -> Outcome {
        use akari_accounts::review::resolve::{self, PatientDirectory};
        let found = resolve::find_patients(act, directory, query).map_err(review_failure)?;
        let key = match found.as_slice() {
            [one] => one.key.clone(),
            [] if directory.identify(query.trim()).ok().flatten().is_some() => {
                query.trim().to_owned()
            }
            [] => {
                return Err(format!("no patient in the current snapshot matches `{query}`").into())
            }
            several => {
                let mut out = format!(
                    "{} patients match; run again with --patient and one of these keys:\n",
                    several.len()
                );
                for p in several {
                    out.push_str(&format!("  {}  {}\n", p.key, p.label()));
                }
                return Ok(out);
            }
        };
        let (who, sessions) =
            resolve::patient_sessions(act, directory, &self.services.ledger, &key)
                .map_err(review_failure)?;
        Ok(render::patient_sessions(
            &key,
            who.as_ref(),
            &sessions,
            self.zone(),
        ))
    }

    fn audit_sign_off(&self, episode: u64, verdict: &str, comment: &str) -> Outcome {
        use akari_accounts::review::{self, SignOff};
        let ledger = &self.services.ledger;
        // Only an episode the ledger knows can be signed off.
        if !review::episodes(ledger)?.iter().any(|e| e.id == episode) {
            return Err(review::ReviewError::NoSuchEpisode(episode).into());
        }
        let verdict: SignOff = verdict.parse()?;
        let mode = self
            .services
            .mode()
            .unwrap_or(akari_accounts::event::Mode::Standby);
        let receipt = review::sign_off(
            &self.console.reviewer(),
            &**ledger,
            client(),
            mode,
            episode,
            verdict,
            comment,
        )?;
        Ok(format!(
            "episode {episode} signed off: {} (ledger entry {})\n",
            verdict.label(),
            receipt.sequence()
        ))
    }

    fn audit_checkpoint(&self, write_to: Option<PathBuf>) -> Outcome {
        let ledger = &self.services.ledger;
        let checkpoint = ledger.checkpoint_now()?;
        let body = checkpoint.to_text(&ledger.public_key());
        let mut out = body.clone();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        if let Some(dir) = write_to {
            let path = dir.join(REMOVABLE_FILE_NAME);
            write_atomically(&path, body.as_bytes())
                .map_err(|e| format!("cannot write the checkpoint to {}: {e}", path.display()))?;
            out.push_str(&format!("written to {}\n", path.display()));
        }
        Ok(out)
    }
}

/// A review failure: a locked snapshot asks for the recovery key; an empty purpose says
/// which option to give.
fn review_failure(e: akari_accounts::review::ReviewError) -> Failure {
    use akari_accounts::review::{resolve::DirectoryError, ReviewError};
    match e {
        ReviewError::Directory(DirectoryError::Locked) => {
            Failure::Locked("naming patients needs the snapshot key, which is not in memory".into())
        }
        ReviewError::PurposeRequired => Failure::Other(
            "--purpose is empty: say why the names are needed (it is recorded in the ledger)"
                .into(),
        ),
        other => Failure::Other(other.to_string()),
    }
}

/// The OS user at the console, as the ledger names them.
fn console_user(console: &Console) -> String {
    match console.actor() {
        akari_accounts::event::Actor::Console { os_user } => os_user,
        other => format!("{other:?}"),
    }
}

/// The client of every console act in the ledger: no address, the binary's version.
fn client() -> Client {
    Client {
        address: None,
        user_agent: Some(format!("akari-console/{}", env!("CARGO_PKG_VERSION"))),
    }
}

/// `<path>.partial`: written first, renamed into place once complete.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = partial_path(path);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// "console:<OS user>", as downtime reconciliation marks and printouts name the console.
fn console_name(console: &Console) -> String {
    match console.actor() {
        akari_accounts::event::Actor::Console { os_user } => format!("console:{os_user}"),
        _ => "console".into(),
    }
}
