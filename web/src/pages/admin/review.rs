//! Review after recovery: episodes → emergency sessions → their events, anomaly flags,
//! verdicts (ledger entries themselves), and exports of the ledger (NDJSON with hashes
//! and checkpoints, FHIR AuditEvent bundle, CSV). Every export is audited first.

use std::collections::HashMap;

use akari_accounts::event::{
    Action, AdminRecovery, AuditEvent, AuditSink, Client, KeySlotChange, Reason,
};
use akari_accounts::ledger::{ExportFormat, ExportRange, Ledger, LedgerEntry};
use akari_accounts::review::resolve::{DirectoryError, Resolution};
use akari_accounts::review::{
    self, EpisodeReview, Flag, RecordedVerdict, ReviewError, SessionReview, SignOff, Verdict,
};
use akari_accounts::WardScope;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use serde::Deserialize;

use super::text::{actor_text, mode_label, say, time};
use super::{AdminCtx, PageQuery, Paging};
use crate::error::{PageError, Problem};
use crate::i18n::Tr;
use crate::pages::{render, Chrome};

pub(super) fn review_failure(admin: &AdminCtx, e: ReviewError) -> Result<Response, PageError> {
    match e {
        ReviewError::CommentRequired(_)
        | ReviewError::UnknownVerdict(_)
        | ReviewError::UnknownSignOff(_) => {
            admin.message(StatusCode::BAD_REQUEST, "admin_refused", e.to_string())
        }
        ReviewError::PurposeRequired => admin.message(
            StatusCode::BAD_REQUEST,
            "admin_refused",
            admin.ctx.tr().s("purpose_required").to_owned(),
        ),
        ReviewError::Directory(DirectoryError::Locked) => admin.message(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin_refused",
            admin.ctx.tr().s("review_locked").to_owned(),
        ),
        other => Err(review_problem(other)),
    }
}

/// A review failure that is not the reviewer's to correct, with its cause logged.
fn review_problem(e: ReviewError) -> PageError {
    match e {
        ReviewError::NoSuchEpisode(_) => PageError::from(Problem::NotFound),
        ReviewError::Audit(_) => {
            tracing::error!(error = %e, "verdict not recorded");
            PageError::from(Problem::Audit)
        }
        other => {
            tracing::error!(error = %other, "review failed");
            PageError::from(Problem::Internal)
        }
    }
}

// ---------------------------------------------------------------- episodes

struct EpisodeRow {
    id: u64,
    drill: bool,
    started: String,
    declared_by: String,
    reason: String,
    ended: String,
}

#[derive(Template)]
#[template(path = "admin_review.html")]
struct EpisodesPage {
    c: Chrome,
    rows: Vec<EpisodeRow>,
}

pub(crate) async fn episodes(admin: AdminCtx) -> Result<Response, PageError> {
    let result = admin
        .blocking(|svc, _| review::episodes(&svc.ledger))
        .await?;
    let list = match result {
        Ok(l) => l,
        Err(e) => return review_failure(&admin, e),
    };
    let tr = admin.ctx.tr();
    let page = EpisodesPage {
        c: admin.chrome(),
        rows: list
            .iter()
            .rev()
            .map(|e| EpisodeRow {
                id: e.id,
                drill: e.drill,
                started: time(tr, &e.started),
                declared_by: actor_text(tr, &e.declared_by),
                reason: e.reason.clone(),
                ended: e
                    .end
                    .as_ref()
                    .map(|x| time(tr, &x.time))
                    .unwrap_or_default(),
            })
            .collect(),
    };
    render(&page)
}

// ---------------------------------------------------------------- one episode

struct SessionRow {
    id: String,
    account: String,
    person: String,
    reasons: String,
    first: String,
    last: String,
    patients: usize,
    searches: u32,
    printed: u32,
    flags: Vec<String>,
    verdicts: Vec<String>,
    /// The patients whose records it opened, then those it listed, named: only on a page
    /// the reviewer resolved (empty otherwise).
    opened_names: Vec<String>,
    listed_names: Vec<String>,
}

pub(super) fn reason_text(tr: Tr, r: &Reason) -> String {
    match r {
        Reason::EmergencyTreatment => tr.s("reason_treatment").to_owned(),
        Reason::Drill => tr.s("reason_drill").to_owned(),
        Reason::Other(t) => format!("{}: {t}", tr.s("reason_other")),
    }
}

pub(super) fn flag_text(tr: Tr, f: &Flag) -> String {
    match f {
        Flag::ManyPatients {
            distinct,
            threshold,
        } => format!("{} {distinct} (> {threshold})", tr.s("flag_many_patients")),
        Flag::OutsideWardScope { seq, ward } => {
            let ward = if ward.is_empty() {
                tr.s("no_ward")
            } else {
                ward
            };
            format!("{} {ward} (#{seq})", tr.s("flag_outside_scope"))
        }
        Flag::OutsideEpisode { seq } => format!("{} (#{seq})", tr.s("flag_outside_episode")),
        Flag::BulkPrinting { printed, threshold } => {
            format!("{} {printed} (> {threshold})", tr.s("flag_bulk_print"))
        }
        Flag::SameFamilyName { seq, patient } => {
            format!("{} {patient} (#{seq})", tr.s("flag_same_family_name"))
        }
        Flag::VipPatient { seq, patient } => {
            format!("{} {patient} (#{seq})", tr.s("flag_vip"))
        }
        Flag::RapidAccess {
            patients,
            minutes,
            threshold,
            first_seq,
            last_seq,
        } => format!(
            "{} {patients} / {minutes} {} (> {threshold}; #{first_seq}–#{last_seq})",
            tr.s("flag_rapid"),
            tr.s("minutes"),
        ),
        Flag::EndOfEpisode {
            records,
            minutes,
            last_seq,
            seconds_before,
        } => format!(
            "{} {records} ({minutes} {}; {seconds_before} {}; #{last_seq})",
            tr.s("flag_episode_end"),
            tr.s("minutes"),
            tr.s("seconds_before_end"),
        ),
        Flag::NeverClosed { last_seq } => {
            format!("{} (#{last_seq})", tr.s("flag_never_closed"))
        }
    }
}

pub(super) fn verdict_label(tr: Tr, recorded: &str) -> String {
    match recorded.parse::<Verdict>() {
        Ok(Verdict::LegitimateEmergency) => tr.s("verdict_legitimate").to_owned(),
        Ok(Verdict::Drill) => tr.s("verdict_drill").to_owned(),
        Ok(Verdict::NeedsFollowUp) => tr.s("verdict_follow_up").to_owned(),
        Ok(Verdict::Misuse) => tr.s("verdict_misuse").to_owned(),
        Err(_) => recorded.to_owned(),
    }
}

/// A verdict or sign-off as the page lists it: label — who (when): comment.
pub(super) fn verdict_line(tr: Tr, v: &RecordedVerdict, label: String) -> String {
    let mut line = format!(
        "{label} — {} ({})",
        actor_text(tr, &v.by),
        time(tr, &v.time)
    );
    if !v.comment.is_empty() {
        line.push_str(": ");
        line.push_str(&v.comment);
    }
    line
}

pub(super) fn sign_off_label(tr: Tr, recorded: &str) -> String {
    match recorded.parse::<SignOff>() {
        Ok(SignOff::NoIssues) => tr.s("sign_off_no_issues").to_owned(),
        Ok(SignOff::NeedsCheck) => tr.s("sign_off_needs_check").to_owned(),
        Ok(SignOff::Inappropriate) => tr.s("sign_off_inappropriate").to_owned(),
        Err(_) => recorded.to_owned(),
    }
}

fn session_row(tr: Tr, s: &SessionReview, names: Option<&Resolution>) -> SessionRow {
    let named = |keys: &[String]| -> Vec<String> {
        names.map_or_else(Vec::new, |n| keys.iter().map(|k| n.describe(k)).collect())
    };
    SessionRow {
        opened_names: named(&s.patients),
        listed_names: named(&s.listed),
        id: s.session_id.clone(),
        account: s.account_id.clone(),
        person: s
            .declared
            .as_ref()
            .map(|p| {
                format!(
                    "{} ({} · {} · {})",
                    p.name, p.staff_number, p.profession, p.department
                )
            })
            .unwrap_or_else(|| tr.s("not_declared").to_owned()),
        reasons: s
            .reasons
            .iter()
            .map(|r| reason_text(tr, r))
            .collect::<Vec<_>>()
            .join(", "),
        first: time(tr, &s.first_time),
        last: time(tr, &s.last_time),
        patients: s.patients.len(),
        searches: s.searches,
        printed: s.printed,
        flags: s.flags.iter().map(|f| flag_text(tr, f)).collect(),
        verdicts: s
            .verdicts
            .iter()
            .map(|v| verdict_line(tr, v, verdict_label(tr, &v.verdict)))
            .collect(),
    }
}

/// Sessions per page of an episode's review (each with its verdict form): keeps a long
/// outage's review page well under 100 KB.
const SESSIONS_PER_PAGE: usize = 40;
/// Events per page of one session's review.
const EVENTS_PER_PAGE: usize = 250;

#[derive(Template)]
#[template(path = "admin_episode.html")]
struct EpisodePage {
    c: Chrome,
    id: u64,
    drill: bool,
    started: String,
    declared_by: String,
    reason: String,
    ended: String,
    rows: Vec<SessionRow>,
    sign_offs: Vec<String>,
    /// The page names the patients (the reviewer resolved them).
    resolved: bool,
    paging: Paging,
    base: String,
}

/// The episode's review, with ward scopes from the accounts store.
pub(super) async fn load(admin: &AdminCtx, episode: u64) -> Result<EpisodeReview, PageError> {
    admin
        .blocking(move |svc, cap| {
            let scopes: HashMap<String, Vec<String>> = svc
                .accounts
                .list_accounts(cap)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "ward scopes unavailable; no scope flags");
                    Vec::new()
                })
                .into_iter()
                .filter_map(|a| match a.ward_scope {
                    WardScope::Wards(w) => Some((a.account_id, w)),
                    WardScope::All => None,
                })
                .collect();
            review::review_episode(&svc.ledger, episode, &scopes, &svc.review)
        })
        .await?
        .map_err(review_problem)
}

/// The session the URL names, among the episode's: one of another episode is not found.
fn session_in<'a>(
    review: &'a EpisodeReview,
    session_id: &str,
) -> Result<&'a SessionReview, PageError> {
    review
        .sessions
        .iter()
        .find(|s| s.session_id == session_id)
        .ok_or(PageError::from(Problem::NotFound))
}

pub(crate) async fn episode(
    admin: AdminCtx,
    Path(id): Path<u64>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let review = load(&admin, id).await?;
    episode_page(&admin, &review, q.page, None)
}

/// The sessions of page `page` of an episode's review, most serious first.
pub(super) fn page_of(
    review: &EpisodeReview,
    page: Option<usize>,
) -> (Paging, Vec<&SessionReview>) {
    let paging = Paging::new(review.sessions.len(), SESSIONS_PER_PAGE, page);
    let sessions = review.ranked()[paging.range()].to_vec();
    (paging, sessions)
}

/// An episode's review page; the patients of its sessions named when `names` holds the
/// reviewer's resolution of them.
pub(super) fn episode_page(
    admin: &AdminCtx,
    review: &EpisodeReview,
    page: Option<usize>,
    names: Option<&Resolution>,
) -> Result<Response, PageError> {
    let tr = admin.ctx.tr();
    let ep = &review.episode;
    let (paging, sessions) = page_of(review, page);
    let page = EpisodePage {
        c: admin.chrome(),
        id: ep.id,
        drill: ep.drill,
        started: time(tr, &ep.started),
        declared_by: actor_text(tr, &ep.declared_by),
        reason: ep.reason.clone(),
        ended: ep
            .end
            .as_ref()
            .map(|x| time(tr, &x.time))
            .unwrap_or_default(),
        rows: sessions.iter().map(|s| session_row(tr, s, names)).collect(),
        sign_offs: review
            .sign_offs
            .iter()
            .map(|v| verdict_line(tr, v, sign_off_label(tr, &v.verdict)))
            .collect(),
        resolved: names.is_some(),
        base: format!("/admin/review/{}", ep.id),
        paging,
    };
    render(&page)
}

// ---------------------------------------------------------------- one session

struct EventRow {
    seq: u64,
    time: String,
    action: String,
    patient: String,
    details: String,
    address: String,
    drill: bool,
}

/// What an entry did, in the reader's language. Values recorded as text (a ward, a
/// reason, an ID) are shown as recorded.
pub(super) fn action_text(tr: Tr, a: &Action) -> String {
    let l = |ja: &str, en: &str| say(tr, ja, en);
    match a {
        Action::LoginSucceeded => l("ログイン", "login"),
        Action::LoginFailed { reason } => {
            format!("{}: {reason}", l("ログイン失敗", "login failed"))
        }
        Action::SealBroken => l("開封（初回ログイン）", "seal broken"),
        Action::Declared { .. } => l("利用者の申告", "declared"),
        Action::Logout => l("ログアウト", "logout"),
        Action::SessionExpired => l("セッション期限切れ", "session expired"),
        Action::ModeChanged { from, to, reason } => format!(
            "{} {} → {}: {reason}",
            l("モード変更", "mode"),
            mode_label(tr, *from),
            mode_label(tr, *to)
        ),
        Action::AdminCreated => l("管理者作成", "admin created"),
        Action::AdminCredentialEnrolled => l("管理者キー登録", "admin credential enrolled"),
        Action::AdminRecovered { admin_id, change } => {
            let change = match change {
                AdminRecovery::EnrolmentCodeReissued => l("登録コード再発行", "new enrolment code"),
                AdminRecovery::PasskeysReplaced => l("パスキー再登録", "passkeys replaced"),
                AdminRecovery::PasswordReset => l("パスワード再設定", "password reset"),
            };
            format!(
                "{} {admin_id}: {change}",
                l("管理者の回復", "admin recovered")
            )
        }
        Action::AccountProvisioned { account_id } => {
            format!("{} {account_id}", l("アカウント発行", "provisioned"))
        }
        Action::KeyEnrolled { account_id } => {
            format!("{} {account_id}", l("キー登録", "key enrolled"))
        }
        Action::AccountRetired { account_id } => {
            format!("{} {account_id}", l("使用済み", "retired"))
        }
        Action::AccountResealed { account_id } => {
            format!("{} {account_id}", l("再封印", "re-sealed"))
        }
        Action::AccountRevoked { account_id } => {
            format!("{} {account_id}", l("失効", "revoked"))
        }
        Action::PatientSearch {
            query_kind,
            results,
            ..
        } => {
            let kind = match query_kind.as_str() {
                "hospital_id" => tr.s("hospital_id").to_owned(),
                "birth_date" => tr.s("born").to_owned(),
                "name" => tr.s("name").to_owned(),
                other => other.to_owned(),
            };
            format!("{} ({kind}): {results}", l("患者検索", "search"))
        }
        Action::PatientRead => l("患者閲覧", "patient read"),
        Action::PatientPrint => l("患者印刷", "patient print"),
        Action::PatientNotFound { .. } => l(
            "存在しない患者キーの参照",
            "lookup of an unknown patient key",
        ),
        Action::WardCensus { ward, .. } => format!("{} {ward}", l("病棟一覧", "ward census")),
        Action::WardPrint { ward, patients, .. } => {
            format!("{} {ward} ({patients})", l("病棟印刷", "ward print"))
        }
        Action::AuditExported { format } => {
            format!("{} ({format})", l("監査ログ書き出し", "audit exported"))
        }
        Action::KeySlotChanged { slot, change } => {
            let change = match change {
                KeySlotChange::Created => l("作成", "created"),
                KeySlotChange::Replaced => l("置換", "replaced"),
                KeySlotChange::Removed => l("削除", "removed"),
            };
            format!("{} {slot} {change}", l("鍵スロット", "key slot"))
        }
        Action::SnapshotUnlocked { slot } => {
            format!(
                "{} ({slot})",
                l("スナップショット解錠", "snapshot unlocked")
            )
        }
        Action::SnapshotLocked => l("スナップショット施錠", "snapshot locked"),
        Action::SyncRequested { full } => match full {
            true => l("全件同期の要求", "sync requested (full)"),
            false => l("同期の要求", "sync requested"),
        },
        Action::SnapshotRolledBack { from, to } => {
            let from = from.map(|f| format!("{f} ")).unwrap_or_default();
            format!(
                "{} {from}→ {to}",
                l("世代の巻き戻し", "snapshot rolled back")
            )
        }
        Action::SnapshotPinned { generation, pinned } => format!(
            "{} {generation} {}",
            tr.s("generation"),
            match pinned {
                true => l("保持", "pinned"),
                false => l("保持解除", "unpinned"),
            }
        ),
        Action::SnapshotQuarantined {
            generation, losses, ..
        } => format!(
            "{}: {} {generation} ({losses})",
            tr.s("quarantine_alert"),
            tr.s("generation")
        ),
        Action::SnapshotPromoted { generation, from } => {
            let from = from
                .map(|f| format!(" ({} {f})", l("前の世代", "was")))
                .unwrap_or_default();
            format!(
                "{} {generation} {}{from}",
                tr.s("generation"),
                l("昇格", "promoted")
            )
        }
        Action::NoticePosted { text } => format!("{}: {text}", l("お知らせ掲示", "notice posted")),
        Action::NoticeWithdrawn => l("お知らせ取り下げ", "notice withdrawn"),
        Action::DowntimeRecorded { record, supersedes } => {
            let what = match record.as_str() {
                "administration" => l("投与", "administration"),
                "vitals" => l("バイタルサイン", "vital signs"),
                "note" => l("記事", "note"),
                other => other.to_owned(),
            };
            let fix = supersedes
                .map(|e| format!(" ({} #{e})", l("訂正", "correcting")))
                .unwrap_or_default();
            format!("{}: {what}{fix}", l("停電中記録", "downtime record"))
        }
        Action::DowntimeReconciled { entries } => format!(
            "{} ({})",
            l("停電中記録を照合済みに", "downtime entries reconciled"),
            entries.len()
        ),
        Action::DowntimeExported { format, .. } => format!(
            "{} ({format})",
            l("停電中記録の書き出し", "downtime records exported")
        ),
        Action::ReviewVerdict {
            session_id,
            verdict,
            ..
        } => format!(
            "{} {} ({session_id})",
            l("判定", "verdict"),
            verdict_label(tr, verdict)
        ),
        Action::ReviewResolved { keys, .. } => format!(
            "{} ({})",
            l("患者キーから患者名を表示", "patient keys resolved"),
            keys.len()
        ),
        Action::ReviewPatientLookup { .. } => l(
            "患者を見たセッションを検索",
            "sessions that saw a patient looked up",
        ),
        Action::ReviewSignOff {
            episode, verdict, ..
        } => format!(
            "{} {episode}: {}",
            l("レビュー承認 エピソード", "review signed off, episode"),
            sign_off_label(tr, verdict)
        ),
    }
}

fn event_row(tr: Tr, e: &LedgerEntry) -> EventRow {
    EventRow {
        seq: e.seq,
        time: time(tr, &e.time),
        action: action_text(tr, &e.action),
        patient: e.patient.clone().unwrap_or_default(),
        details: e.details.clone().unwrap_or_default(),
        address: e.client.address.map(|a| a.to_string()).unwrap_or_default(),
        drill: e.drill,
    }
}

#[derive(Template)]
#[template(path = "admin_session.html")]
struct SessionPage {
    c: Chrome,
    episode: u64,
    s: SessionRow,
    events: Vec<EventRow>,
    paging: Paging,
    base: String,
}

pub(crate) async fn session(
    admin: AdminCtx,
    Path((episode, session_id)): Path<(u64, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let review = load(&admin, episode).await?;
    let s = session_in(&review, &session_id)?;
    let paging = Paging::new(s.events.len(), EVENTS_PER_PAGE, q.page);
    let page = SessionPage {
        c: admin.chrome(),
        episode,
        s: session_row(admin.ctx.tr(), s, None),
        events: s.events[paging.range()]
            .iter()
            .map(|e| event_row(admin.ctx.tr(), e))
            .collect(),
        base: format!(
            "/admin/review/{episode}/sessions/{}",
            urlencode_path(&s.session_id)
        ),
        paging,
    };
    render(&page)
}

/// Percent-encodes a path segment (session identifiers are URL-safe already; this keeps
/// any other character from breaking the link).
fn urlencode_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
pub(crate) struct VerdictForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    comment: String,
}

// Its handler signature matches `session`'s (each route its own); they share `load` and `session_in`.
pub(crate) async fn verdict(
    admin: AdminCtx,
    Path((episode, session_id)): Path<(u64, String)>,
    Form(form): Form<VerdictForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let verdict = match form.verdict.parse::<Verdict>() {
        Ok(v) => v,
        Err(e) => return review_failure(&admin, e),
    };
    // Only sessions that belong to the episode can be judged from its page.
    session_in(&load(&admin, episode).await?, &session_id)?;
    let mode = admin.ctx.mode;
    let sid = session_id.clone();
    let result = admin
        .blocking(move |svc, cap| {
            review::record_verdict(
                svc.ledger.as_ref(),
                cap.actor(),
                mode,
                &sid,
                verdict,
                &form.comment,
            )
        })
        .await?;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/review/{episode}")).into_response()),
        Err(e) => review_failure(&admin, e),
    }
}

// ---------------------------------------------------------------- export

#[derive(Deserialize)]
pub(crate) struct ExportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    format: String,
    /// Limit to one episode's time span; empty: the whole ledger.
    #[serde(default)]
    episode: String,
}

pub(crate) async fn export(
    admin: AdminCtx,
    Form(form): Form<ExportForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let Ok(format) = form.format.parse::<ExportFormat>() else {
        return Err(PageError::from(Problem::BadRequest));
    };
    let episode = match form.episode.trim() {
        "" => None,
        t => match t.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return Err(PageError::from(Problem::BadRequest)),
        },
    };
    let mode = admin.ctx.mode;
    let client: Client = admin.ctx.client.clone();
    let format_name = form.format.to_ascii_lowercase();
    let zone = admin.ctx.tr().zone;
    let result = admin
        .blocking(move |svc, cap| -> Result<Vec<u8>, ExportFailure> {
            let range = export_range(&svc.ledger, episode)?;
            // Audited first: the export leaves the node only once the ledger says so.
            let _receipt = svc
                .ledger
                .record(AuditEvent {
                    time: Utc::now(),
                    actor: cap.actor(),
                    action: Action::AuditExported {
                        format: format_name,
                    },
                    patient: None,
                    details: episode.map(|e| format!("episode={e}")),
                    client,
                    mode,
                })
                .map_err(|e| ExportFailure::Audit(e.to_string()))?;
            let mut out = Vec::new();
            svc.ledger
                .export(&range, format, &zone, &mut out)
                .map_err(|e| ExportFailure::Ledger(e.to_string()))?;
            Ok(out)
        })
        .await?;
    let body = match result {
        Ok(b) => b,
        Err(ExportFailure::NoEpisode) => return Err(PageError::from(Problem::NotFound)),
        Err(ExportFailure::Audit(e)) => {
            tracing::error!(error = %e, "export not audited; refused");
            return Err(PageError::from(Problem::Audit));
        }
        Err(ExportFailure::Review(e)) => return review_failure(&admin, e),
        Err(ExportFailure::Ledger(e)) => {
            tracing::error!(error = %e, "export failed");
            return Err(PageError::from(Problem::Internal));
        }
    };
    Ok(attachment(format, episode, body))
}

/// The export as a download named for its scope and time, never cached.
fn attachment(format: ExportFormat, episode: Option<u64>, body: Vec<u8>) -> Response {
    let (content_type, ext) = match format {
        ExportFormat::Ndjson => ("application/x-ndjson", "ndjson"),
        ExportFormat::Fhir => ("application/fhir+json", "fhir.json"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let scope = episode.map(|e| format!("-episode{e}")).unwrap_or_default();
    download(
        content_type,
        format!("akari-audit{scope}-{stamp}.{ext}"),
        body,
    )
}

/// A download named `filename`, never cached.
pub(super) fn download(content_type: &'static str, filename: String, body: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

/// The whole ledger, or one episode's time span.
fn export_range(ledger: &Ledger, episode: Option<u64>) -> Result<ExportRange, ExportFailure> {
    let Some(id) = episode else {
        return Ok(ExportRange::all());
    };
    let ep = review::episodes(ledger)
        .map_err(ExportFailure::Review)?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(ExportFailure::NoEpisode)?;
    Ok(ExportRange {
        from: Some(ep.started),
        to: ep.end.map(|e| e.time + chrono::Duration::microseconds(1)),
    })
}

enum ExportFailure {
    NoEpisode,
    Audit(String),
    Review(ReviewError),
    Ledger(String),
}
