//! The admin console pages: status and mode changes, emergency accounts (provision → the
//! seal sheet, key enrolment, re-seal, revoke), snapshot generations and "sync now", and
//! the latest signed checkpoint.

use akari_accounts::event::{
    Action, Actor, AuditError, AuditEvent, AuditReceipt, AuditSink, Client, Mode,
};
use akari_accounts::{
    AccountSummary, Error, OpenedBy, ProvisionRequest, RegisterPublicKeyCredential, SealSheet,
    SealStatus, WardScope,
};
use akari_sync::store::{GenerationInfo, GenerationKind, StoreError};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;

use super::auth::{json_admin_request, json_failure, CsrfOnly};
use super::{AdminCtx, PageQuery, Paging};
use crate::display::{fmt_time, jst};
use crate::error::PageError;
use crate::i18n::Tr;
use crate::pages::{render, render_with, Chrome, Pages};

pub(super) fn routes() -> Router<Pages> {
    Router::new()
        .route("/admin", get(status))
        .route("/admin/mode", post(change_mode))
        .route("/admin/accounts", get(accounts).post(provision))
        .route("/admin/accounts/{id}/reseal", post(reseal))
        .route("/admin/accounts/{id}/revoke", post(revoke))
        .route("/admin/accounts/{id}/key", get(key_form))
        .route("/admin/accounts/{id}/key/begin", post(key_begin))
        .route("/admin/accounts/{id}/key/finish", post(key_finish))
        .route("/admin/sync", get(sync_page))
        .route("/admin/sync/now", post(sync_now))
        .route("/admin/sync/alert/clear", post(clear_alert))
        .route("/admin/sync/{generation}/verify", post(verify))
        .route("/admin/sync/{generation}/rollback", post(rollback))
        .route("/admin/sync/{generation}/pin", post(pin))
        .route("/admin/checkpoint", get(checkpoint).post(checkpoint_now))
}

pub(super) fn time(t: &DateTime<Utc>) -> String {
    fmt_time(&t.with_timezone(&jst()))
}

fn opt_time(t: Option<&DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_default()
}

pub(super) fn actor_text(a: &Actor) -> String {
    match a {
        Actor::System => "system".into(),
        Actor::Console { os_user } => format!("console ({os_user})"),
        Actor::Admin { admin_id } => format!("admin {admin_id}"),
        Actor::Emergency { account_id, .. } => account_id.clone(),
        Actor::Anonymous => "-".into(),
    }
}

pub(super) fn mode_label(tr: Tr, mode: Mode) -> &'static str {
    tr.s(match mode {
        Mode::Emergency => "mode_emergency",
        Mode::Drill => "mode_drill",
        Mode::Standby => "mode_standby",
        Mode::Recovery => "mode_recovery",
    })
}

// ---------------------------------------------------------------- status and mode

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
    generation: String,
    /// `Some(true)`: the encrypted snapshot is locked; `None`: no reader given.
    snapshot_locked: Option<bool>,
    emergency_sessions: usize,
    admin_sessions: usize,
    sealed: usize,
    opened: usize,
    can_declare: bool,
    can_end: bool,
    can_standby: bool,
}

async fn status(admin: AdminCtx) -> Result<Response, PageError> {
    let result = admin.blocking(|svc, cap| svc.accounts.status(cap)).await?;
    let st = match result {
        Ok(s) => s,
        Err(e) => return admin.refused(e),
    };
    let sync = admin.svc.engine.status();
    let tr = admin.ctx.tr();
    let mode = st.mode.mode;
    let count = |s: SealStatus| st.accounts.iter().filter(|a| a.status == s).count();
    let page = StatusPage {
        c: admin.chrome(),
        mode: mode_label(tr, mode),
        mode_code: mode.to_string(),
        since: time(&st.mode.since),
        decided_by: actor_text(&st.mode.decided_by),
        reason: st.mode.reason.clone(),
        episode: st
            .mode
            .episode
            .as_ref()
            .map(|e| {
                format!(
                    "#{} ({}) {}",
                    e.id,
                    if e.drill {
                        tr.s("drill")
                    } else {
                        tr.s("emergency")
                    },
                    time(&e.started_at)
                )
            })
            .unwrap_or_default(),
        unreachable_minutes: st.main_system_unreachable_minutes,
        sync_running: sync.running,
        last_success: opt_time(sync.last_success.as_ref()),
        last_error: sync.last_error.clone().unwrap_or_default(),
        generation: sync
            .current_generation
            .map(|g| g.to_string())
            .unwrap_or_default(),
        snapshot_locked: admin.svc.reader.as_ref().map(|r| r.is_locked()),
        emergency_sessions: st.emergency_sessions,
        admin_sessions: st.admin_sessions,
        sealed: count(SealStatus::Sealed),
        opened: count(SealStatus::Opened),
        can_declare: mode == Mode::Standby,
        can_end: mode.allows_emergency_login(),
        can_standby: mode == Mode::Recovery,
    };
    render(admin.lang(), &page)
}

#[derive(Deserialize)]
struct ModeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
}

async fn change_mode(admin: AdminCtx, Form(form): Form<ModeForm>) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let action = form.action.clone();
    if !matches!(action.as_str(), "declare" | "drill" | "end" | "standby") {
        return admin.message(
            StatusCode::BAD_REQUEST,
            "admin_refused",
            admin.ctx.tr().s("error_bad_request").to_owned(),
        );
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

// ---------------------------------------------------------------- emergency accounts

pub(super) struct AccountRow {
    id: String,
    label: String,
    wards: String,
    expires: String,
    key: bool,
    status: &'static str,
    status_code: String,
    seal_number: String,
    opened: String,
    can_reseal: bool,
    can_key: bool,
    can_revoke: bool,
}

pub(super) fn wards_text(tr: Tr, scope: &WardScope) -> String {
    match scope {
        WardScope::All => tr.s("all_wards").to_owned(),
        WardScope::Wards(w) => w.join(", "),
    }
}

fn status_label(tr: Tr, s: SealStatus) -> &'static str {
    tr.s(match s {
        SealStatus::Sealed => "seal_sealed",
        SealStatus::Opened => "seal_opened",
        SealStatus::Retired => "seal_retired",
        SealStatus::Revoked => "seal_revoked",
    })
}

fn account_row(tr: Tr, a: &AccountSummary, mode: Mode) -> AccountRow {
    let in_episode = mode.allows_emergency_login();
    AccountRow {
        id: a.account_id.clone(),
        label: a.label.clone(),
        wards: wards_text(tr, &a.ward_scope),
        expires: opt_time(a.expires_at.as_ref()),
        key: a.key_enrolled,
        status: status_label(tr, a.status),
        status_code: a.status.to_string(),
        seal_number: a.seal_number.clone().unwrap_or_default(),
        opened: a
            .opening
            .as_ref()
            .map(|o| {
                let by = match &o.by {
                    OpenedBy::AwaitingDeclaration { .. } => String::new(),
                    OpenedBy::Declared { person, .. } => {
                        format!(" {} ({})", person.name, person.staff_number)
                    }
                };
                format!("{}{by}", time(&o.at))
            })
            .unwrap_or_default(),
        can_reseal: !in_episode && a.status != SealStatus::Opened,
        can_key: a.status == SealStatus::Sealed,
        can_revoke: a.status != SealStatus::Revoked,
    }
}

#[derive(Template)]
#[template(path = "admin_accounts.html")]
struct AccountsPage {
    c: Chrome,
    rows: Vec<AccountRow>,
    can_provision: bool,
    paging: Paging,
    base: &'static str,
}

/// Accounts per page of the list (each row carries its re-seal and revoke forms): a
/// hospital may keep a few hundred sealed envelopes.
const ACCOUNTS_PER_PAGE: usize = 50;

async fn accounts(admin: AdminCtx, Query(q): Query<PageQuery>) -> Result<Response, PageError> {
    let result = admin
        .blocking(|svc, cap| {
            Ok::<_, Error>((svc.accounts.list_accounts(cap)?, svc.accounts.mode()?))
        })
        .await?;
    let (list, mode) = match result {
        Ok(x) => x,
        Err(e) => return admin.refused(e),
    };
    let tr = admin.ctx.tr();
    let paging = Paging::new(list.len(), ACCOUNTS_PER_PAGE, q.page);
    let page = AccountsPage {
        c: admin.chrome(),
        rows: list[paging.range()]
            .iter()
            .map(|a| account_row(tr, a, mode.mode))
            .collect(),
        can_provision: !mode.mode.allows_emergency_login(),
        paging,
        base: "/admin/accounts",
    };
    render(admin.lang(), &page)
}

#[derive(Deserialize)]
struct ProvisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    /// Ward names separated by commas or new lines; empty means every ward.
    #[serde(default)]
    wards: String,
    /// `YYYY-MM-DD` (the account works until the end of that day, Japan time); empty: none.
    #[serde(default)]
    expires: String,
}

/// The end of `date` in Japan time.
fn end_of_day_jst(date: NaiveDate) -> Option<DateTime<Utc>> {
    let t = date.and_hms_opt(23, 59, 59)?;
    jst()
        .from_local_datetime(&t)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

async fn provision(
    admin: AdminCtx,
    Form(form): Form<ProvisionForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let wards: Vec<String> = form
        .wards
        .split([',', '、', '\n'])
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    let ward_scope = if wards.is_empty() {
        WardScope::All
    } else {
        WardScope::Wards(wards)
    };
    let expires_at = match form.expires.trim() {
        "" => None,
        text => match NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(end_of_day_jst)
        {
            Some(t) => Some(t),
            None => {
                return admin.message(
                    StatusCode::BAD_REQUEST,
                    "admin_refused",
                    admin.ctx.tr().s("admin_bad_expiry").to_owned(),
                )
            }
        },
    };
    let request = ProvisionRequest {
        label: form.label.clone(),
        ward_scope,
        expires_at,
    };
    let client = admin.ctx.client.clone();
    let result = admin
        .blocking(move |svc, cap| svc.accounts.provision(cap, request, &client))
        .await?;
    match result {
        Ok(sheet) => seal_sheet(&admin, sheet),
        Err(e) => admin.refused(e),
    }
}

#[derive(Template)]
#[template(path = "admin_seal.html")]
struct SealPage {
    c: Chrome,
    account_id: String,
    label: String,
    seal_number: String,
    credential: String,
    wards_ja: String,
    wards_en: String,
    expires: String,
    key_enrolled: bool,
    issued: String,
    instructions_ja: &'static [&'static str],
    instructions_en: &'static [&'static str],
}

/// The seal sheet: the only response that ever carries the credential. It is the answer
/// to the POST that issued it, never stored, and no GET can show it again.
fn seal_sheet(admin: &AdminCtx, sheet: SealSheet) -> Result<Response, PageError> {
    let ja = Tr {
        lang: crate::i18n::Lang::Ja,
    };
    let en = Tr {
        lang: crate::i18n::Lang::En,
    };
    let page = SealPage {
        c: admin.chrome(),
        account_id: sheet.account_id.clone(),
        label: sheet.label.clone(),
        seal_number: sheet.seal_number.clone(),
        credential: sheet.credential().expose().to_owned(),
        wards_ja: wards_text(ja, &sheet.ward_scope),
        wards_en: wards_text(en, &sheet.ward_scope),
        expires: sheet
            .expires_at
            .as_ref()
            .map(time)
            .unwrap_or_else(|| "なし / none".to_owned()),
        key_enrolled: sheet.key_enrolled,
        issued: time(&sheet.issued_at),
        instructions_ja: sheet.instructions_ja(),
        instructions_en: sheet.instructions_en(),
    };
    drop(sheet);
    render(admin.lang(), &page)
}

async fn reseal(
    admin: AdminCtx,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let client = admin.ctx.client.clone();
    let result = admin
        .blocking(move |svc, cap| svc.accounts.reseal(cap, &id, &client))
        .await?;
    match result {
        Ok(sheet) => seal_sheet(&admin, sheet),
        Err(e) => admin.refused(e),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn revoke(
    admin: AdminCtx,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let client = admin.ctx.client.clone();
    let result = admin
        .blocking(move |svc, cap| svc.accounts.revoke(cap, &id, &form.reason, &client))
        .await?;
    match result {
        Ok(()) => Ok(Redirect::to("/admin/accounts").into_response()),
        Err(e) => admin.refused(e),
    }
}

#[derive(Template)]
#[template(path = "admin_key.html")]
struct KeyPage {
    c: Chrome,
    account: AccountRow,
}

async fn key_form(admin: AdminCtx, Path(id): Path<String>) -> Result<Response, PageError> {
    let result = admin
        .blocking(move |svc, cap| {
            Ok::<_, Error>((svc.accounts.account(cap, &id)?, svc.accounts.mode()?))
        })
        .await?;
    let (account, mode) = match result {
        Ok(x) => x,
        Err(e) => return admin.refused(e),
    };
    let page = KeyPage {
        c: admin.chrome(),
        account: account_row(admin.ctx.tr(), &account, mode.mode),
    };
    render(admin.lang(), &page)
}

async fn key_begin(
    admin: AdminCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = json_admin_request::<serde_json::Value>(&admin, &headers, &body) {
        return refusal.into_response();
    }
    let tr = admin.ctx.tr();
    match admin
        .blocking(move |svc, cap| svc.accounts.begin_key_enrolment(cap, &id))
        .await
    {
        Ok(Ok(challenge)) => Json(json!({
            "ceremony_id": challenge.ceremony_id,
            "options": challenge.options,
        }))
        .into_response(),
        Ok(Err(e)) => json_failure(StatusCode::CONFLICT, &refusal_text(tr, &e)),
        Err(_) => json_failure(StatusCode::INTERNAL_SERVER_ERROR, tr.s("error_internal")),
    }
}

#[derive(Deserialize)]
struct KeyFinish {
    ceremony_id: String,
    response: RegisterPublicKeyCredential,
}

async fn key_finish(
    admin: AdminCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: KeyFinish = match json_admin_request(&admin, &headers, &body) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    let tr = admin.ctx.tr();
    let client = admin.ctx.client.clone();
    match admin
        .blocking(move |svc, cap| {
            svc.accounts
                .finish_key_enrolment(cap, &req.ceremony_id, &req.response, &client)
        })
        .await
    {
        Ok(Ok(())) => Json(json!({ "redirect": "/admin/accounts" })).into_response(),
        Ok(Err(e)) => {
            tracing::info!(account_id = %id, error = %e, "key enrolment refused");
            json_failure(StatusCode::CONFLICT, &refusal_text(tr, &e))
        }
        Err(_) => json_failure(StatusCode::INTERNAL_SERVER_ERROR, tr.s("error_internal")),
    }
}

/// What an admin may read of a refusal: the accounts layer's own words for refusals,
/// nothing internal.
fn refusal_text(tr: Tr, e: &Error) -> String {
    match e {
        Error::Audit(_) => tr.s("error_audit").to_owned(),
        Error::Store(_) | Error::Internal(_) | Error::Config(_) => {
            tracing::error!(error = %e, "accounts service failed");
            tr.s("error_internal").to_owned()
        }
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------- sync

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
            Err(admin.ctx.fail(crate::error::Problem::Audit))
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
}

fn generation_row(g: &GenerationInfo) -> GenerationRow {
    let m = &g.manifest;
    GenerationRow {
        generation: m.generation,
        kind: match m.kind {
            GenerationKind::Full => "full".into(),
            GenerationKind::Incremental => "incremental".into(),
            GenerationKind::Rollback { from } => format!("rollback ← {from}"),
        },
        created: time(&m.created_at),
        as_of: opt_time(m.high_water.as_ref()),
        patients: m.patients(),
        items: m.total_items(),
        pinned: m.pinned,
        current: g.current,
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
    rows: Vec<GenerationRow>,
}

/// The integrity alert in words (generation numbers and counts only).
fn alert_text(tr: Tr, a: &akari_sync::store::IntegrityAlert) -> String {
    let damaged: Vec<String> = a.damaged.iter().map(|g| g.to_string()).collect();
    let mut text = format!(
        "{} {}: {} {} — {}",
        time(&a.at),
        tr.s("integrity_damaged"),
        tr.s("generation"),
        damaged.join(", "),
        a.problem
    );
    match (a.restored_from, a.now_current) {
        (Some(from), Some(now)) => {
            text.push_str(&format!(" · {} {from} → {now}", tr.s("integrity_restored")))
        }
        _ => text.push_str(&format!(" · {}", tr.s("integrity_nothing_restored"))),
    }
    text
}

async fn sync_page(admin: AdminCtx) -> Result<Response, PageError> {
    let result = admin.blocking(|svc, _| svc.engine.store().list()).await?;
    let list = match result {
        Ok(l) => l,
        Err(e) => return store_failure(&admin, e),
    };
    let st = admin.svc.engine.status();
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
        last_attempt: opt_time(st.last_attempt.as_ref()),
        last_success: opt_time(st.last_success.as_ref()),
        last_full_success: opt_time(st.last_full_success.as_ref()),
        last_error: st.last_error.clone().unwrap_or_default(),
        last_error_at: opt_time(st.last_error_at.as_ref()),
        data_as_of: opt_time(st.data_as_of.as_ref()),
        alert: st
            .integrity_alert
            .as_ref()
            .map(|a| alert_text(admin.ctx.tr(), a))
            .unwrap_or_default(),
        rows: list.iter().rev().map(generation_row).collect(),
    };
    render(admin.lang(), &page)
}

/// A snapshot-store failure: its message is data-free (generation numbers, counts).
fn store_failure(admin: &AdminCtx, e: StoreError) -> Result<Response, PageError> {
    tracing::warn!(error = %e, "snapshot operation failed");
    admin.message(StatusCode::CONFLICT, "admin_refused", e.to_string())
}

#[derive(Deserialize)]
struct SyncNowForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    full: Option<String>,
}

async fn sync_now(admin: AdminCtx, Form(form): Form<SyncNowForm>) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    if admin.svc.engine.status().running {
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
        match svc.engine.sync_now(full, &svc.cancel) {
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

async fn clear_alert(admin: AdminCtx, Form(form): Form<CsrfOnly>) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let who = admin.session.admin_id.clone();
    let result = admin
        .blocking(move |svc, _| svc.engine.clear_integrity_alert())
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

async fn verify(
    admin: AdminCtx,
    Path(generation): Path<u64>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let result = admin
        .blocking(move |svc, _| svc.engine.store().verify(generation))
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

async fn rollback(
    admin: AdminCtx,
    Path(generation): Path<u64>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let who = admin.session.admin_id.clone();
    let (mode, client) = (admin.ctx.mode, admin.ctx.client.clone());
    let result = admin
        .blocking(move |svc, cap| {
            let store = svc.engine.store();
            // Refuse a missing generation before recording anything.
            store.manifest(generation)?;
            let from = store.current()?.map(|m| m.generation);
            record(
                svc,
                cap,
                mode,
                client,
                Action::SnapshotRolledBack {
                    from,
                    to: generation,
                },
            )
            .map_err(SnapshotFailure::Audit)
            .map(|_receipt| ())?;
            // Verified first; the engine refreshes the served reader and its status.
            let manifest = svc.engine.rollback(generation)?;
            tracing::info!(admin_id = %who, from = generation, to = manifest.generation, "snapshot rolled back from the admin page");
            Ok::<_, SnapshotFailure>(manifest)
        })
        .await?;
    match result {
        Ok(_) => Ok(Redirect::to("/admin/sync").into_response()),
        Err(e) => snapshot_failure(&admin, e),
    }
}

#[derive(Deserialize)]
struct PinForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pinned: String,
}

async fn pin(
    admin: AdminCtx,
    Path(generation): Path<u64>,
    Form(form): Form<PinForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let pinned = form.pinned == "true";
    let (mode, client) = (admin.ctx.mode, admin.ctx.client.clone());
    let result = admin
        .blocking(move |svc, cap| {
            svc.engine.store().manifest(generation)?;
            record(
                svc,
                cap,
                mode,
                client,
                Action::SnapshotPinned { generation, pinned },
            )
            .map_err(SnapshotFailure::Audit)
            .map(|_receipt| ())?;
            Ok::<_, SnapshotFailure>(svc.engine.store().set_pinned(generation, pinned)?)
        })
        .await?;
    match result {
        Ok(_) => Ok(Redirect::to("/admin/sync").into_response()),
        Err(e) => snapshot_failure(&admin, e),
    }
}

// ---------------------------------------------------------------- checkpoint

#[derive(Template)]
#[template(path = "admin_checkpoint.html")]
struct CheckpointPage {
    c: Chrome,
    text: String,
    size: String,
    signed_at: String,
    valid: bool,
    public_key: String,
    removable: String,
    remote: String,
    pending: usize,
    publish_error: String,
}

async fn checkpoint(admin: AdminCtx) -> Result<Response, PageError> {
    let ledger = &admin.svc.ledger;
    let key = ledger.public_key();
    let latest = ledger.latest_checkpoint();
    let publish = ledger.publish_status();
    let page = CheckpointPage {
        c: admin.chrome(),
        text: latest.as_ref().map(|c| c.to_text(&key)).unwrap_or_default(),
        size: latest
            .as_ref()
            .map(|c| c.size.to_string())
            .unwrap_or_default(),
        signed_at: latest.as_ref().map(|c| time(&c.time)).unwrap_or_default(),
        valid: latest.as_ref().is_some_and(|c| c.verify(&key)),
        public_key: key.as_bytes().iter().map(|b| format!("{b:02x}")).collect(),
        removable: publish
            .removable_size
            .map(|s| s.to_string())
            .unwrap_or_default(),
        remote: publish
            .remote_size
            .map(|s| s.to_string())
            .unwrap_or_default(),
        pending: publish.remote_pending,
        publish_error: publish.last_error.unwrap_or_default(),
    };
    render(admin.lang(), &page)
}

async fn checkpoint_now(
    admin: AdminCtx,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let result = admin.blocking(|svc, _| svc.ledger.checkpoint_now()).await?;
    match result {
        Ok(_) => Ok(Redirect::to("/admin/checkpoint").into_response()),
        Err(e) => {
            tracing::error!(error = %e, "signing a checkpoint failed");
            render_with(
                admin.lang(),
                StatusCode::SERVICE_UNAVAILABLE,
                &super::MessagePage {
                    c: admin.chrome(),
                    title: admin.ctx.tr().s("admin_refused"),
                    detail: admin.ctx.tr().s("error_audit").to_owned(),
                    ok: false,
                    back: "/admin/checkpoint".into(),
                },
            )
        }
    }
}
