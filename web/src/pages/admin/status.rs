//! The admin status page (mode, episode, main system, sync, snapshot lock state, sessions,
//! accounts) and the mode changes made from it.

use akari_accounts::event::{Action, AuditEvent, AuditSink, Mode};
use akari_accounts::ledger::space::human;
use akari_accounts::ledger::SpaceStatus;
use akari_accounts::{Episode, SealStatus};
use akari_sync::SyncStatus;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::text::{actor_text, mode_label, opt_time, time};
use super::AdminCtx;
use crate::error::{PageError, Problem};
use crate::i18n::Tr;
use crate::pages::{render, Chrome};

#[derive(Template)]
#[template(path = "admin_status.html")]
struct StatusPage {
    c: Chrome,
    mode: &'static str,
    mode_code: String,
    since: String,
    decided_by: String,
    reason: String,
    episode: String,
    unreachable_minutes: Option<i64>,
    sync_running: bool,
    last_success: String,
    last_error: String,
    /// Resources the last committed sync kept with data-quality warnings.
    sync_warned: u64,
    /// Deletions since the last full sync are not known (the source did not report them).
    deletions_pending: bool,
    generation: String,
    /// Snapshot alerts (integrity, quarantine) in words; details on the sync page.
    alerts: Vec<String>,
    /// The audit ledger's disk is below its reserve, in words; empty when it is not.
    ledger_disk: String,
    /// `Some(true)`: the encrypted snapshot is locked; `None`: no reader given.
    snapshot_locked: Option<bool>,
    emergency_sessions: usize,
    admin_sessions: usize,
    sealed: usize,
    opened: usize,
    can_declare: bool,
    can_end: bool,
    can_standby: bool,
    max_notice_chars: usize,
    /// Downtime records: (episode, entries not yet reconciled), when the node keeps them.
    downtime: Option<Vec<(u64, u64)>>,
}

pub(crate) async fn status(admin: AdminCtx) -> Result<Response, PageError> {
    let result = admin.blocking(|svc, cap| svc.accounts.status(cap)).await?;
    let st = match result {
        Ok(s) => s,
        Err(e) => return admin.refused(e),
    };
    let sync = admin.svc.snapshots.status();
    let tr = admin.ctx.tr();
    let mode = st.mode.mode;
    let count = |s: SealStatus| st.accounts.iter().filter(|a| a.status == s).count();
    let page = StatusPage {
        c: admin.chrome(),
        mode: mode_label(tr, mode),
        mode_code: mode.to_string(),
        since: time(tr, &st.mode.since),
        decided_by: actor_text(tr, &st.mode.decided_by),
        reason: st.mode.reason.clone(),
        episode: episode_text(tr, st.mode.episode.as_ref()),
        unreachable_minutes: st.main_system_unreachable_minutes,
        sync_running: sync.running,
        last_success: opt_time(tr, sync.last_success.as_ref()),
        last_error: sync.last_error.clone().unwrap_or_default(),
        sync_warned: sync
            .last_report
            .as_ref()
            .map(|r| r.warned_resources)
            .unwrap_or(0),
        deletions_pending: sync
            .last_report
            .as_ref()
            .is_some_and(|r| r.deletions_pending_full),
        generation: sync
            .current_generation
            .map(|g| g.to_string())
            .unwrap_or_default(),
        alerts: snapshot_alerts(tr, &sync),
        ledger_disk: ledger_disk_alert(tr, admin.svc.ledger.disk_space()),
        snapshot_locked: admin.svc.snapshots.is_locked(),
        emergency_sessions: st.emergency_sessions,
        admin_sessions: st.admin_sessions,
        sealed: count(SealStatus::Sealed),
        opened: count(SealStatus::Opened),
        can_declare: mode == Mode::Standby,
        can_end: mode.allows_emergency_login(),
        can_standby: mode == Mode::Recovery,
        max_notice_chars: akari_accounts::MAX_NOTICE_CHARS,
        downtime: downtime_counts(&admin).await?,
    };
    render(&page)
}

/// Each episode's un-reconciled downtime entries (from the store's index: needs no key).
async fn downtime_counts(admin: &AdminCtx) -> Result<Option<Vec<(u64, u64)>>, PageError> {
    let Some(store) = admin.ctx.downtime().cloned() else {
        return Ok(None);
    };
    let counts = tokio::task::spawn_blocking(move || store.unreconciled()).await?;
    match counts {
        Ok(c) => Ok(Some(c.into_iter().collect())),
        Err(e) => {
            tracing::error!(error = %e, "the downtime records could not be counted");
            Err(PageError::from(Problem::Internal))
        }
    }
}

/// Records an admin's act on the downtime records in the ledger before it is carried out;
/// the error starts with `audit:` (the caller fails closed on it).
fn record_first(
    svc: &super::AdminServices,
    cap: &akari_accounts::AdminCapability,
    client: akari_accounts::event::Client,
    action: Action,
) -> Result<akari_accounts::event::AuditReceipt, String> {
    svc.ledger
        .record(admin_event(svc, cap, client, action))
        .map_err(|e| format!("audit: {e}"))
}

/// The ledger event for an admin's downtime `action`, now.
fn admin_event(
    svc: &super::AdminServices,
    cap: &akari_accounts::AdminCapability,
    client: akari_accounts::event::Client,
    action: Action,
) -> AuditEvent {
    let mode = svc
        .accounts
        .mode()
        .map(|m| m.mode)
        .unwrap_or(Mode::Recovery);
    AuditEvent {
        time: chrono::Utc::now(),
        actor: cap.actor(),
        action,
        patient: None,
        details: None,
        client,
        mode,
    }
}

#[derive(Deserialize)]
pub(crate) struct ReconcileForm {
    #[serde(default)]
    csrf: String,
    episode: u64,
    /// The admin ticked "entered back into the hospital's records".
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /admin/downtime/reconcile`: marks every entry of an episode reconciled, recorded
/// in the ledger first.
pub(crate) async fn downtime_reconcile(
    admin: AdminCtx,
    Form(form): Form<ReconcileForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    if form.confirm.is_none() {
        return admin.unconfirmed();
    }
    let Some(store) = admin.ctx.downtime().cloned() else {
        return Err(PageError::from(Problem::NotFound));
    };
    let client = admin.ctx.client.clone();
    let episode = form.episode;
    let result = admin
        .blocking(move |svc, cap| -> Result<usize, String> {
            let ids = store.entry_ids(Some(episode)).map_err(|e| e.to_string())?;
            if ids.is_empty() {
                return Ok(0);
            }
            let by = match cap.actor() {
                akari_accounts::event::Actor::Admin { admin_id } => format!("admin:{admin_id}"),
                _ => "admin".into(),
            };
            crate::downtime_export::reconcile(&svc.ledger, &store, &ids, &by, |action| {
                admin_event(svc, cap, client.clone(), action)
            })
        })
        .await?;
    match result {
        Ok(_) => Ok(Redirect::to("/admin#downtime-panel").into_response()),
        Err(e) if e.starts_with("audit:") => {
            tracing::error!(error = %e, "audit sink refused; nothing marked reconciled");
            Err(PageError::from(Problem::Audit))
        }
        Err(e) => {
            tracing::error!(error = %e, "downtime entries could not be marked reconciled");
            Err(PageError::from(Problem::Internal))
        }
    }
}

/// `GET /admin/downtime/{episode}/reconciliation.csv`: the episode's reconciliation list,
/// recorded in the ledger first. Needs the snapshot key (an admin login unlocks it).
pub(crate) async fn downtime_csv(
    admin: AdminCtx,
    axum::extract::Path(episode): axum::extract::Path<u64>,
) -> Result<Response, PageError> {
    let Some(store) = admin.ctx.downtime().cloned() else {
        return Err(PageError::from(Problem::NotFound));
    };
    let client = admin.ctx.client.clone();
    let tr = admin.ctx.tr();
    let result = admin
        .blocking(move |svc, cap| -> Result<Vec<u8>, String> {
            let _receipt = record_first(
                svc,
                cap,
                client,
                Action::DowntimeExported {
                    episode: Some(episode),
                    format: "csv".into(),
                },
            )?;
            crate::downtime_export::reconciliation(&store, Some(episode), tr)
        })
        .await?;
    attachment(
        result,
        "text/csv; charset=utf-8",
        "attachment; filename=\"downtime-reconciliation.csv\"".into(),
        "the reconciliation list could not be made",
    )
}

/// A downtime download's response: the bytes as an attachment that is never cached, or
/// the page that says why not (the ledger refused: nothing left the node).
fn attachment(
    result: Result<Vec<u8>, String>,
    content_type: &'static str,
    disposition: String,
    failed: &'static str,
) -> Result<Response, PageError> {
    match result {
        Ok(bytes) => Ok((
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static(content_type),
                ),
                (
                    axum::http::header::CACHE_CONTROL,
                    axum::http::HeaderValue::from_static("no-store"),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    axum::http::HeaderValue::from_str(&disposition)
                        .map_err(|_| PageError::from(Problem::Internal))?,
                ),
            ],
            bytes,
        )
            .into_response()),
        Err(e) if e.starts_with("audit:") => {
            tracing::error!(error = %e, "audit sink refused; nothing exported");
            Err(PageError::from(Problem::Audit))
        }
        Err(e) => {
            tracing::warn!(error = %e, "{failed}");
            Err(PageError::from(Problem::Locked))
        }
    }
}

/// What `GET /admin/downtime/{episode}/...` hands over besides the CSV.
#[derive(Clone, Copy)]
enum Download {
    /// The whole signed export as one zip archive.
    Archive,
    /// The reconciliation list as a PDF.
    Pdf,
}

/// `GET /admin/downtime/{episode}/export.zip`: the episode's signed export (the console's
/// export directory: FHIR Bundles, reconciliation CSV and PDF, signed manifest) as one
/// zip archive, verifiable offline with `akari downtime verify`. Recorded first.
pub(crate) async fn downtime_archive(
    admin: AdminCtx,
    axum::extract::Path(episode): axum::extract::Path<u64>,
) -> Result<Response, PageError> {
    downtime_download(admin, episode, Download::Archive).await
}

/// `GET /admin/downtime/{episode}/reconciliation.pdf`: the episode's reconciliation list
/// to print. Recorded first.
pub(crate) async fn downtime_pdf(
    admin: AdminCtx,
    axum::extract::Path(episode): axum::extract::Path<u64>,
) -> Result<Response, PageError> {
    downtime_download(admin, episode, Download::Pdf).await
}

async fn downtime_download(
    admin: AdminCtx,
    episode: u64,
    what: Download,
) -> Result<Response, PageError> {
    let Some(store) = admin.ctx.downtime().cloned() else {
        return Err(PageError::from(Problem::NotFound));
    };
    let client = admin.ctx.client.clone();
    let tr = admin.ctx.tr();
    let font = admin.ctx.print_font().clone();
    if matches!(what, Download::Pdf) && font.is_err() {
        return Err(PageError::from(Problem::PrintFont));
    }
    let result = admin
        .blocking(move |svc, cap| -> Result<Vec<u8>, String> {
            let format = match what {
                Download::Archive => "fhir+csv+pdf (zip)",
                Download::Pdf => "pdf",
            };
            let _receipt = record_first(
                svc,
                cap,
                client,
                Action::DowntimeExported {
                    episode: Some(episode),
                    format: format.into(),
                },
            )?;
            let signer = crate::downtime_export::LedgerSigner(&svc.ledger);
            let by = match cap.actor() {
                akari_accounts::event::Actor::Admin { admin_id } => format!("admin:{admin_id}"),
                _ => "admin".into(),
            };
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let out = dir.path().join("export");
            let options = crate::downtime_export::ExportOptions {
                episode: Some(episode),
                node: crate::downtime_export::node_fingerprint(&svc.ledger.public_key()),
                zone: tr.zone,
                lang: tr.lang,
                font: &font,
                signer: &signer,
                by,
            };
            let report = crate::downtime_export::export(&store, &options, &out)?;
            match what {
                Download::Archive => {
                    let names = &report.files[..report.files.len() - 1];
                    akari_downtime::sign::zip_dir(&out, names)
                }
                Download::Pdf => {
                    std::fs::read(out.join(crate::downtime_export::RECONCILIATION_PDF))
                        .map_err(|e| e.to_string())
                }
            }
        })
        .await?;
    let (content_type, name) = match what {
        Download::Archive => (
            "application/zip",
            format!("attachment; filename=\"downtime-episode-{episode}.zip\""),
        ),
        Download::Pdf => (
            "application/pdf",
            format!("attachment; filename=\"downtime-reconciliation-{episode}.pdf\""),
        ),
    };
    attachment(
        result,
        content_type,
        name,
        "the downtime export could not be made",
    )
}

/// The current episode in words (number, emergency or drill, start), or empty outside one.
fn episode_text(tr: Tr, episode: Option<&Episode>) -> String {
    episode
        .map(|e| {
            format!(
                "#{} ({}) {}",
                e.id,
                if e.drill {
                    tr.s("drill")
                } else {
                    tr.s("emergency")
                },
                time(tr, &e.started_at)
            )
        })
        .unwrap_or_default()
}

/// Snapshot alerts (integrity, then quarantine) in words; details on the sync page.
fn snapshot_alerts(tr: Tr, sync: &SyncStatus) -> Vec<String> {
    sync.integrity_alert
        .iter()
        .map(|a| {
            format!(
                "{}: {}",
                tr.s("integrity_alert"),
                super::snapshots::alert_text(tr, a)
            )
        })
        .chain(sync.quarantine.iter().map(|q| {
            format!(
                "{}: {}",
                tr.s("quarantine_alert"),
                super::snapshots::quarantine_text(tr, q)
            )
        }))
        .collect()
}

/// The ledger disk's alert in words (sizes only), or empty while its free space is above
/// the reserve or unknown.
fn ledger_disk_alert(tr: Tr, space: Option<Result<SpaceStatus, String>>) -> String {
    match space {
        Some(Ok(s)) if s.is_low() => format!(
            "{}: {}",
            tr.s("ledger_disk_alert"),
            tr.s("ledger_disk_text")
                .replace("{free}", &human(s.space.free_bytes))
                .replace("{total}", &human(s.space.total_bytes))
                .replace("{reserve}", &human(s.reserve_bytes))
        ),
        _ => String::new(),
    }
}

#[derive(Deserialize)]
pub(crate) struct ModeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    /// `yes` when "I understand" was ticked (ending an episode needs it).
    #[serde(default)]
    confirm: String,
}

pub(crate) async fn change_mode(
    admin: AdminCtx,
    Form(form): Form<ModeForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let action = form.action.clone();
    if !matches!(action.as_str(), "declare" | "drill" | "end" | "standby") {
        return admin.message(
            StatusCode::BAD_REQUEST,
            "admin_refused",
            admin.ctx.tr().s("error_bad_request").to_owned(),
        );
    }
    if action == "end" && form.confirm != "yes" {
        return admin.unconfirmed();
    }
    let client = admin.ctx.client.clone();
    let result = admin
        .blocking(move |svc, cap| {
            let a = &svc.accounts;
            match action.as_str() {
                "declare" => a.declare_emergency(cap, &form.reason, &client),
                "drill" => a.start_drill(cap, &form.reason, &client),
                "end" => a.end_episode(cap, &form.reason, &client),
                _ => a.resume_standby(cap, &form.reason, &client),
            }
        })
        .await?;
    match result {
        Ok(_) => Ok(Redirect::to("/admin").into_response()),
        Err(e) => admin.refused(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct NoticeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    text: String,
}

/// Posts or withdraws the staff notice (recorded in the ledger first).
pub(crate) async fn notice(
    admin: AdminCtx,
    Form(form): Form<NoticeForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let client = admin.ctx.client.clone();
    let withdraw = match form.action.as_str() {
        "post" => false,
        "withdraw" => true,
        _ => {
            return admin.message(
                StatusCode::BAD_REQUEST,
                "admin_refused",
                admin.ctx.tr().s("error_bad_request").to_owned(),
            )
        }
    };
    let result = admin
        .blocking(move |svc, cap| {
            if withdraw {
                svc.accounts.withdraw_notice(cap, &client).map(|_| ())
            } else {
                svc.accounts
                    .post_notice(cap, &form.text, &client)
                    .map(|_| ())
            }
        })
        .await?;
    match result {
        Ok(()) => Ok(Redirect::to("/admin").into_response()),
        Err(e) => admin.refused(e),
    }
}
