//! Snapshot generations on the admin pages: sync status and "sync now", the integrity and
//! quarantine alerts, and verify, roll back, promote (a quarantined generation) and pin by
//! generation number. Every decision is recorded in the ledger before it is carried out.

use akari_accounts::event::{
    Action, AuditError, AuditEvent, AuditReceipt, AuditSink, Client, Mode,
};
use akari_sync::store::{GenerationInfo, QuarantineAlert, StoreError};
use akari_sync::SnapshotControl;
use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use serde::Deserialize;

use super::text::{opt_time, time};
use super::AdminCtx;
use crate::error::PageError;
use crate::i18n::Tr;
use crate::pages::{render, Chrome};
use crate::pages::{Confirmed, CsrfOnly};

/// Records an admin's snapshot decision in the ledger before it is carried out (fail
/// closed: no record, no action).
fn record(
    svc: &super::AdminServices,
    cap: &akari_accounts::AdminCapability,
    mode: Mode,
    client: Client,
    action: Action,
) -> Result<AuditReceipt, AuditError> {
    svc.ledger.record(AuditEvent {
        time: Utc::now(),
        actor: cap.actor(),
        action,
        patient: None,
        details: None,
        client,
        mode,
    })
}

/// Why a snapshot action was not carried out.
enum SnapshotFailure {
    Audit(AuditError),
    Store(StoreError),
}

impl From<StoreError> for SnapshotFailure {
    fn from(e: StoreError) -> Self {
        SnapshotFailure::Store(e)
    }
}

fn snapshot_failure(admin: &AdminCtx, e: SnapshotFailure) -> Result<Response, PageError> {
    match e {
        SnapshotFailure::Store(e) => store_failure(admin, e),
        SnapshotFailure::Audit(e) => {
            tracing::error!(error = %e, "audit sink refused; snapshot action not carried out");
            Err(PageError::from(crate::error::Problem::Audit))
        }
    }
}

pub(super) struct GenerationRow {
    generation: u64,
    kind: String,
    created: String,
    as_of: String,
    patients: u64,
    items: u64,
    pinned: bool,
    current: bool,
    quarantined: bool,
    /// Quarantined or promoted, and what it would lose / lost (counts only).
    state: String,
}

fn generation_row(tr: Tr, g: &GenerationInfo) -> GenerationRow {
    let m = &g.manifest;
    let state = match &m.quarantine {
        Some(q) if q.promoted_at.is_some() => {
            format!("{}: {}", tr.s("state_promoted"), q.losses_text())
        }
        Some(q) => format!("{}: {}", tr.s("state_quarantined"), q.losses_text()),
        None => String::new(),
    };
    GenerationRow {
        generation: m.generation,
        kind: m.kind.to_string(),
        quarantined: m.is_quarantined(),
        state,
        created: time(tr, &m.created_at),
        as_of: opt_time(tr, m.high_water.as_ref()),
        patients: m.patients(),
        items: m.total_items(),
        pinned: m.pinned,
        current: g.current,
    }
}

/// One line of a sync report table: a reason, a FHIR type, a count.
pub(super) struct CountRow {
    reason: String,
    label: &'static str,
    rtype: String,
    count: u64,
}

/// A sync report as the admin sync page shows it.
pub(super) struct ReportView {
    heading: String,
    resources: u64,
    rejected: u64,
    warned: u64,
    rejects: Vec<CountRow>,
    warnings: Vec<CountRow>,
    ignored: String,
    dropped: String,
    /// Deletions since the last full sync are not known (the source did not report them).
    deletions_pending: bool,
}

/// What a reason means, for administrators.
fn reason_label(tr: Tr, reason: &str) -> &'static str {
    let key = match reason {
        "profile_violation" => "warn_profile_violation",
        "invalid_time" => "warn_invalid_time",
        "invalid_value" => "warn_invalid_value",
        "unexpected_status" => "warn_unexpected_status",
        "unrecognised_category" => "warn_unrecognised_category",
        "unresolved_location" => "warn_unresolved_location",
        "missing_subject" | "unknown_patient" => "reject_no_patient",
        "missing_code" => "reject_missing_code",
        "invalid_json" | "wrong_type" => "reject_not_fhir",
        _ => return "",
    };
    tr.s(key)
}

fn report_view(tr: Tr, heading: String, r: &akari_sync::SyncReport) -> ReportView {
    let list = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rejects = Vec::new();
    for (reason, n) in &r.rejects {
        let types = r.reject_types.get(reason);
        match types {
            Some(t) if !t.is_empty() => {
                for (rtype, m) in t {
                    rejects.push(CountRow {
                        reason: reason.clone(),
                        label: reason_label(tr, reason),
                        rtype: rtype.clone(),
                        count: *m,
                    });
                }
            }
            _ => rejects.push(CountRow {
                reason: reason.clone(),
                label: reason_label(tr, reason),
                rtype: String::new(),
                count: *n,
            }),
        }
    }
    let warnings = r
        .warnings
        .iter()
        .flat_map(|(reason, by_type)| by_type.iter().map(move |(rtype, n)| (reason, rtype, *n)))
        .map(|(reason, rtype, count)| CountRow {
            reason: reason.clone(),
            label: reason_label(tr, reason),
            rtype: rtype.clone(),
            count,
        })
        .collect();
    ReportView {
        heading,
        resources: r.resources,
        rejected: r.rejects.values().sum(),
        warned: r.warned_resources,
        rejects,
        warnings,
        ignored: list(&r.ignored),
        dropped: list(&r.dropped),
        deletions_pending: r.deletions_pending_full,
    }
}

#[derive(Template)]
#[template(path = "admin_sync.html")]
struct SyncPage {
    c: Chrome,
    /// The source the node pulls from (data-free).
    source: String,
    /// Files the last sync skipped or warned about (path, segment/field, reason).
    skipped: u64,
    problems: Vec<String>,
    running: bool,
    last_attempt: String,
    last_success: String,
    last_full_success: String,
    last_error: String,
    last_error_at: String,
    data_as_of: String,
    /// The integrity check's alert (damaged generations, what is served now), if any.
    alert: String,
    /// The quarantine alert (the newest pulls were kept out of service), if any.
    quarantine: String,
    rows: Vec<GenerationRow>,
    /// The last refused pull (first) and the last committed sync.
    reports: Vec<ReportView>,
}

/// The integrity alert in words (generation numbers and counts only).
pub(super) fn alert_text(tr: Tr, a: &akari_sync::store::IntegrityAlert) -> String {
    let mut parts = vec![time(tr, &a.at)];
    if let Some(f) = &a.file {
        let moved = f
            .moved_to
            .as_ref()
            .map(|to| format!(" ({} {to})", tr.s("integrity_moved_to")))
            .unwrap_or_default();
        parts.push(format!("{}: {}{moved}", tr.s("integrity_file"), f.problem));
    }
    if !a.damaged.is_empty() {
        let damaged: Vec<String> = a.damaged.iter().map(|g| g.to_string()).collect();
        parts.push(format!(
            "{}: {} {} — {}",
            tr.s("integrity_damaged"),
            tr.s("generation"),
            damaged.join(", "),
            a.problem
        ));
    }
    parts.push(match (a.restored_from, a.now_current) {
        _ if a.current_ok => tr.s("integrity_current_ok").to_owned(),
        (Some(from), Some(now)) if a.from_copy => {
            format!("{} ({from} → {now})", tr.s("integrity_from_copy"))
        }
        (Some(from), Some(now)) => format!("{} {from} → {now}", tr.s("integrity_restored")),
        _ if a.file.is_some() => tr.s("integrity_no_copy").to_owned(),
        _ => tr.s("integrity_nothing_restored").to_owned(),
    });
    parts.join(" · ")
}

/// The quarantine alert in words (generation numbers and counts only).
pub(super) fn quarantine_text(tr: Tr, q: &QuarantineAlert) -> String {
    let mut text = format!(
        "{} {}: {} {} — {}",
        time(tr, &q.quarantine.at),
        tr.s("quarantine_text"),
        tr.s("generation"),
        q.generation,
        q.quarantine.losses_text()
    );
    if let Some(c) = q.current {
        text.push_str(&format!(" · {} {c}", tr.s("quarantine_keep")));
    }
    text.push_str(&format!(" · {}", tr.s("quarantine_check")));
    text
}

pub(crate) async fn sync_page(admin: AdminCtx) -> Result<Response, PageError> {
    let result = admin.blocking(|svc, _| svc.snapshots.generations()).await?;
    let list = match result {
        Ok(l) => l,
        Err(e) => return store_failure(&admin, e),
    };
    let st = admin.svc.snapshots.status();
    let tr = admin.ctx.tr();
    let page = SyncPage {
        c: admin.chrome(),
        source: st.source.clone(),
        skipped: st.last_report.as_ref().map_or(0, |r| r.skipped),
        problems: st
            .last_report
            .as_ref()
            .map(|r| r.source_problems.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default(),
        running: st.running,
        last_attempt: opt_time(tr, st.last_attempt.as_ref()),
        last_success: opt_time(tr, st.last_success.as_ref()),
        last_full_success: opt_time(tr, st.last_full_success.as_ref()),
        last_error: st.last_error.clone().unwrap_or_default(),
        last_error_at: opt_time(tr, st.last_error_at.as_ref()),
        data_as_of: opt_time(tr, st.data_as_of.as_ref()),
        alert: st
            .integrity_alert
            .as_ref()
            .map(|a| alert_text(admin.ctx.tr(), a))
            .unwrap_or_default(),
        quarantine: st
            .quarantine
            .as_ref()
            .map(|q| quarantine_text(admin.ctx.tr(), q))
            .unwrap_or_default(),
        rows: list
            .iter()
            .rev()
            .map(|g| generation_row(admin.ctx.tr(), g))
            .collect(),
        reports: {
            let tr = admin.ctx.tr();
            let mut v = Vec::new();
            if let Some(r) = &st.last_refused {
                let heading = format!("{} ({})", tr.s("sync_refused"), time(tr, &r.started_at));
                v.push(report_view(tr, heading, r));
            }
            if let Some(r) = &st.last_report {
                let heading = format!(
                    "{} {} ({})",
                    tr.s("sync_last_report"),
                    r.generation,
                    time(tr, &r.started_at)
                );
                v.push(report_view(tr, heading, r));
            }
            v
        },
    };
    render(&page)
}

/// A snapshot-store failure: its message is data-free (generation numbers, counts).
fn store_failure(admin: &AdminCtx, e: StoreError) -> Result<Response, PageError> {
    tracing::warn!(error = %e, "snapshot operation failed");
    admin.message(StatusCode::CONFLICT, "admin_refused", e.to_string())
}

#[derive(Deserialize)]
pub(crate) struct SyncNowForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    full: Option<String>,
}

pub(crate) async fn sync_now(
    admin: AdminCtx,
    Form(form): Form<SyncNowForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    if admin.svc.snapshots.status().running {
        return admin.message(
            StatusCode::CONFLICT,
            "admin_refused",
            admin.ctx.tr().s("sync_already_running").to_owned(),
        );
    }
    let full = form.full.is_some();
    let (mode, client) = (admin.ctx.mode, admin.ctx.client.clone());
    let recorded = admin
        .blocking(move |svc, cap| record(svc, cap, mode, client, Action::SyncRequested { full }))
        .await?;
    if let Err(e) = recorded {
        return snapshot_failure(&admin, SnapshotFailure::Audit(e));
    }
    let svc = admin.svc.clone();
    let who = admin.session.admin_id.clone();
    // A sync may take minutes: it runs on its own; the sync page shows its progress.
    tokio::task::spawn_blocking(move || {
        tracing::info!(admin_id = %who, full, "sync started from the admin page");
        match svc.snapshots.sync_now(full, &svc.cancel) {
            Ok(report) => {
                tracing::info!(
                    generation = report.generation,
                    "sync from the admin page done"
                )
            }
            Err(e) => tracing::warn!(error = %e, "sync from the admin page failed"),
        }
    });
    Ok(Redirect::to("/admin/sync").into_response())
}

pub(crate) async fn clear_alert(
    admin: AdminCtx,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let who = admin.session.admin_id.clone();
    let result = admin
        .blocking(move |svc, _| svc.snapshots.clear_integrity_alert())
        .await?;
    match result {
        Ok(()) => {
            tracing::info!(admin_id = %who, "integrity alert acknowledged");
            Ok(Redirect::to("/admin/sync").into_response())
        }
        Err(e) => {
            tracing::warn!(error = %e, "clearing the integrity alert failed");
            admin.message(StatusCode::CONFLICT, "admin_refused", e.to_string())
        }
    }
}

pub(crate) async fn verify(
    admin: AdminCtx,
    Path(generation): Path<u64>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let result = admin
        .blocking(move |svc, _| svc.snapshots.verify(generation))
        .await?;
    let tr = admin.ctx.tr();
    match result {
        Ok(report) => {
            let detail = format!(
                "{} {generation}: {} {} · {} {} · {} {} · {} {}",
                tr.s("generation"),
                tr.s("items_checked"),
                report.items_checked,
                tr.s("corrupt_items"),
                report.corrupt_items,
                tr.s("counts_match"),
                yes_no(tr, report.counts_match),
                tr.s("hash_matches"),
                yes_no(tr, report.set_hash_matches),
            );
            if report.ok() {
                admin.message(StatusCode::OK, "verify_ok", detail)
            } else {
                admin.message(StatusCode::OK, "verify_failed", detail)
            }
        }
        Err(e) => store_failure(&admin, e),
    }
}

fn yes_no(tr: Tr, b: bool) -> &'static str {
    tr.s(if b { "yes" } else { "no" })
}

/// One decision on a generation, as rollback, promote and pin share it: `check` refuses
/// what cannot be done and names the action before anything is recorded; the action is
/// recorded in the ledger (fail closed); only then does `apply` carry it out. Back to the
/// sync page, or a page saying why not.
async fn decide(
    admin: AdminCtx,
    check: impl FnOnce(&SnapshotControl) -> Result<Action, StoreError> + Send + 'static,
    apply: impl FnOnce(&SnapshotControl) -> Result<(), StoreError> + Send + 'static,
) -> Result<Response, PageError> {
    let (mode, client) = (admin.ctx.mode, admin.ctx.client.clone());
    let result = admin
        .blocking(move |svc, cap| {
            let action = check(&svc.snapshots)?;
            let _receipt =
                record(svc, cap, mode, client, action).map_err(SnapshotFailure::Audit)?;
            Ok::<_, SnapshotFailure>(apply(&svc.snapshots)?)
        })
        .await?;
    match result {
        Ok(()) => Ok(Redirect::to("/admin/sync").into_response()),
        Err(e) => snapshot_failure(&admin, e),
    }
}

pub(crate) async fn rollback(
    admin: AdminCtx,
    Path(generation): Path<u64>,
    Form(form): Form<Confirmed>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    if !form.confirmed() {
        return admin.unconfirmed();
    }
    let who = admin.session.admin_id.clone();
    decide(
        admin,
        move |snapshots| {
            // Refuse a missing generation before recording anything.
            snapshots.manifest(generation)?;
            let from = snapshots.current()?.map(|m| m.generation);
            Ok(Action::SnapshotRolledBack {
                from,
                to: generation,
            })
        },
        move |snapshots| {
            // Verified first; the engine refreshes the served reader and its status.
            let manifest = snapshots.rollback(generation)?;
            tracing::info!(admin_id = %who, from = generation, to = manifest.generation, "snapshot rolled back from the admin page");
            Ok(())
        },
    )
    .await
}

// Its handler prologue matches rollback's (each route its own handler); what they share is `decide`.
pub(crate) async fn promote(
    admin: AdminCtx,
    Path(generation): Path<u64>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let who = admin.session.admin_id.clone();
    decide(
        admin,
        move |snapshots| {
            // Refuse what cannot be promoted before recording anything.
            if !snapshots.manifest(generation)?.is_quarantined() {
                return Err(StoreError::NotQuarantined(generation));
            }
            let from = snapshots.current()?.map(|m| m.generation);
            Ok(Action::SnapshotPromoted { generation, from })
        },
        move |snapshots| {
            // Verified first; the engine refreshes the served reader and its status.
            let manifest = snapshots.promote(generation)?;
            tracing::info!(admin_id = %who, generation = manifest.generation, "quarantined generation promoted from the admin page");
            Ok(())
        },
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct PinForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pinned: String,
}

pub(crate) async fn pin(
    admin: AdminCtx,
    Path(generation): Path<u64>,
    Form(form): Form<PinForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let pinned = form.pinned == "true";
    decide(
        admin,
        move |snapshots| {
            snapshots.manifest(generation)?;
            Ok(Action::SnapshotPinned { generation, pinned })
        },
        move |snapshots| snapshots.set_pinned(generation, pinned).map(drop),
    )
    .await
}
