//! The review that names patients, for holders of the review right: an episode's patient
//! keys resolved to names, the sessions that saw one patient (from a patient search), the
//! episode's CSV export and its sign-off. Every name shown and every export is recorded
//! in the ledger first (see `akari_accounts::review::resolve`); names and search text
//! travel only in POST bodies, never in URLs.

use std::sync::Arc;

use akari_accounts::event::{Action, AuditEvent, AuditSink, Client, Mode};
use akari_accounts::ledger::Ledger;
use akari_accounts::review::resolve::{
    self, PatientIdentity, Resolution, ReviewAct, SessionSighting, Sighting,
};
use akari_accounts::review::{self, ReviewError, SignOff};
use akari_accounts::ReviewCapability;
use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use serde::Deserialize;

use super::review::{download, episode_page, load, page_of, review_failure};
use super::review_pdf;
use super::text::time;
use super::AdminCtx;
use crate::error::PageError;
use crate::i18n::Tr;
use crate::pages::{render, Chrome};
use crate::viewer::ReviewDirectory;

/// One review act of this administrator, ready for the blocking pool: their review right,
/// the snapshot's patients it opens, the ledger, the request, and the purpose they typed.
struct Reviewing {
    cap: ReviewCapability,
    directory: ReviewDirectory,
    ledger: Arc<Ledger>,
    client: Client,
    mode: Mode,
    purpose: String,
}

impl Reviewing {
    fn new(admin: &AdminCtx, purpose: &str) -> Reviewing {
        let cap = admin.session.reviewer();
        Reviewing {
            directory: admin.ctx.viewer().directory(&cap),
            cap,
            ledger: admin.svc.ledger.clone(),
            client: admin.ctx.client.clone(),
            mode: admin.ctx.mode,
            purpose: purpose.to_owned(),
        }
    }

    fn act(&self) -> ReviewAct<'_> {
        ReviewAct {
            reviewer: &self.cap,
            sink: &*self.ledger,
            client: self.client.clone(),
            mode: self.mode,
            purpose: &self.purpose,
        }
    }

    fn resolve<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<Resolution, ReviewError> {
        resolve::resolve(&self.act(), &self.directory, keys)
    }
}

// ---------------------------------------------------------------- names on an episode page

#[derive(Deserialize)]
pub(crate) struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    page: Option<usize>,
}

/// The episode's page with the patients of the sessions it shows named.
pub(crate) async fn resolve(
    admin: AdminCtx,
    Path(id): Path<u64>,
    Form(form): Form<ResolveForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let review = Arc::new(load(&admin, id).await?);
    let reviewing = Reviewing::new(&admin, &form.purpose);
    let shown = review.clone();
    let page = form.page;
    let result = admin
        .blocking(move |_, _| {
            let (_, sessions) = page_of(&shown, page);
            reviewing.resolve(
                sessions
                    .iter()
                    .flat_map(|s| s.patients.iter().chain(&s.listed))
                    .map(String::as_str),
            )
        })
        .await?;
    match result {
        Ok(names) => episode_page(&admin, &review, form.page, Some(&names)),
        Err(e) => review_failure(&admin, e),
    }
}

// ---------------------------------------------------------------- start from a patient

#[derive(Deserialize)]
pub(crate) struct PatientForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    purpose: String,
    /// A patient search (name, kana, hospital ID).
    #[serde(default)]
    query: String,
    /// A patient chosen from the results.
    #[serde(default)]
    key: String,
}

struct PatientRow {
    key: String,
    label: String,
}

struct SightingRow {
    episode: String,
    session: String,
    account: String,
    person: String,
    seen: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_review_patient.html")]
struct PatientPage {
    c: Chrome,
    purpose: String,
    query: String,
    /// Patients the search found (after a search).
    found: Option<Vec<PatientRow>>,
    /// The chosen patient and the sessions that saw them (after a choice).
    patient: Option<String>,
    sightings: Vec<SightingRow>,
}

fn sighting_text(tr: Tr, how: Sighting) -> &'static str {
    tr.s(match how {
        Sighting::Read => "seen_read",
        Sighting::Printed => "seen_printed",
        Sighting::WardPrinted => "seen_ward_printed",
        Sighting::SearchResult => "seen_search_result",
        Sighting::WardList => "seen_ward_list",
    })
}

fn sighting_row(tr: Tr, s: &SessionSighting) -> SightingRow {
    SightingRow {
        episode: s.episode.map(|e| e.to_string()).unwrap_or_default(),
        session: s.session_id.clone(),
        account: s.account_id.clone(),
        person: s
            .declared
            .as_ref()
            .map(|p| format!("{} ({} · {})", p.name, p.staff_number, p.profession))
            .unwrap_or_else(|| tr.s("not_declared").to_owned()),
        seen: s
            .entries
            .iter()
            .map(|e| {
                format!(
                    "#{} {} {}",
                    e.seq,
                    time(tr, &e.time),
                    sighting_text(tr, e.how)
                )
            })
            .collect(),
    }
}

/// The patient search form of the review.
pub(crate) async fn patient_form(admin: AdminCtx) -> Result<Response, PageError> {
    render(&PatientPage {
        c: admin.chrome(),
        purpose: String::new(),
        query: String::new(),
        found: None,
        patient: None,
        sightings: Vec::new(),
    })
}

/// A patient search (the patients found are listed, audited first), or, with a patient
/// chosen, every session in any episode that saw them (audited first).
pub(crate) async fn patient(
    admin: AdminCtx,
    Form(form): Form<PatientForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let reviewing = Reviewing::new(&admin, &form.purpose);
    let key = form.key.trim().to_owned();
    let query = form.query.clone();
    type Found = (
        Option<Vec<PatientIdentity>>,
        Option<Option<PatientIdentity>>,
        Vec<SessionSighting>,
    );
    let result = admin
        .blocking(move |_, _| -> Result<Found, ReviewError> {
            if key.is_empty() {
                let found = resolve::find_patients(&reviewing.act(), &reviewing.directory, &query)?;
                return Ok((Some(found), None, Vec::new()));
            }
            let (who, sessions) = resolve::patient_sessions(
                &reviewing.act(),
                &reviewing.directory,
                &reviewing.ledger,
                &key,
            )?;
            Ok((None, Some(who), sessions))
        })
        .await?;
    let (found, chosen, sessions) = match result {
        Ok(r) => r,
        Err(e) => return review_failure(&admin, e),
    };
    let tr = admin.ctx.tr();
    let label = |p: &PatientIdentity| PatientRow {
        key: p.key.clone(),
        label: p.label(),
    };
    render(&PatientPage {
        c: admin.chrome(),
        purpose: form.purpose,
        query: form.query,
        found: found.map(|f| f.iter().map(label).collect()),
        patient: chosen.map(|who| match who {
            Some(p) => format!("{} [{}]", p.label(), p.key),
            None => format!("{} ({})", form.key.trim(), tr.s("not_in_snapshot")),
        }),
        sightings: sessions.iter().map(|s| sighting_row(tr, s)).collect(),
    })
}

// ---------------------------------------------------------------- CSV, PDF and sign-off

#[derive(Deserialize)]
pub(crate) struct ReportForm {
    #[serde(default)]
    csrf: String,
    /// `csv` or `pdf`.
    #[serde(default)]
    format: String,
    /// Name the patients (recorded with this purpose); empty: keys only.
    #[serde(default)]
    purpose: String,
}

/// Why a report file was not made.
enum ReportFailure {
    Review(ReviewError),
    Font(String),
    Pdf(String),
}

impl From<ReviewError> for ReportFailure {
    fn from(e: ReviewError) -> Self {
        ReportFailure::Review(e)
    }
}

impl From<akari_accounts::event::AuditError> for ReportFailure {
    fn from(e: akari_accounts::event::AuditError) -> Self {
        ReportFailure::Review(e.into())
    }
}

/// The episode's review report as CSV or as a printable PDF: the export is recorded
/// first, and so is the resolution when the reviewer asked for names.
pub(crate) async fn report(
    admin: AdminCtx,
    Path(id): Path<u64>,
    Form(form): Form<ReportForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let pdf = match form.format.as_str() {
        "csv" => false,
        "pdf" => true,
        _ => return Err(PageError::from(crate::error::Problem::BadRequest)),
    };
    let review = load(&admin, id).await?;
    let named = !form.purpose.trim().is_empty();
    let reviewing = Reviewing::new(&admin, &form.purpose);
    let tr = admin.ctx.tr();
    let font = admin.ctx.print_font().clone();
    let printed_by = admin.session.admin_id.clone();
    let result = admin
        .blocking(move |_, _| -> Result<Vec<u8>, ReportFailure> {
            // The font first: a node without one records nothing and says what to install.
            let font = if pdf {
                Some(font.map_err(ReportFailure::Font)?)
            } else {
                None
            };
            let names = if named {
                let keys = review
                    .sessions
                    .iter()
                    .flat_map(|s| s.patients.iter().chain(&s.listed))
                    .map(String::as_str);
                Some(reviewing.resolve(keys)?)
            } else {
                None
            };
            let _receipt = reviewing.ledger.record(AuditEvent {
                time: Utc::now(),
                actor: reviewing.cap.actor(),
                action: Action::AuditExported {
                    format: if pdf { "review-pdf" } else { "review-csv" }.into(),
                },
                patient: None,
                details: Some(format!("episode={id}")),
                client: reviewing.client.clone(),
                mode: reviewing.mode,
            })?;
            match font {
                Some(font) => review_pdf::document(tr, &review, names.as_ref(), &printed_by)
                    .render(&font)
                    .map(|r| r.pdf)
                    .map_err(|e| ReportFailure::Pdf(e.to_string())),
                None => Ok(review::csv(&review, names.as_ref(), &tr.zone)),
            }
        })
        .await?;
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    match result {
        Ok(body) if pdf => Ok(download(
            "application/pdf",
            format!("akari-review-episode{id}-{stamp}.pdf"),
            body,
        )),
        Ok(body) => Ok(download(
            "text/csv; charset=utf-8",
            format!("akari-review-episode{id}-{stamp}.csv"),
            body,
        )),
        Err(ReportFailure::Review(e)) => review_failure(&admin, e),
        Err(ReportFailure::Font(message)) => {
            admin.message(StatusCode::SERVICE_UNAVAILABLE, "admin_refused", message)
        }
        Err(ReportFailure::Pdf(e)) => {
            tracing::error!(error = %e, "the review PDF could not be written");
            Err(PageError::from(crate::error::Problem::Internal))
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct SignOffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    comment: String,
}

/// The reviewer's sign-off of the episode, as a ledger entry.
pub(crate) async fn sign_off(
    admin: AdminCtx,
    Path(id): Path<u64>,
    Form(form): Form<SignOffForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let verdict = match form.verdict.parse::<SignOff>() {
        Ok(v) => v,
        Err(e) => return review_failure(&admin, e),
    };
    // Only an episode that exists can be signed off.
    load(&admin, id).await?;
    let reviewing = Reviewing::new(&admin, "");
    let result = admin
        .blocking(move |_, _| {
            review::sign_off(
                &reviewing.cap,
                &*reviewing.ledger,
                reviewing.client.clone(),
                reviewing.mode,
                id,
                verdict,
                &form.comment,
            )
        })
        .await?;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/review/{id}")).into_response()),
        Err(e) => review_failure(&admin, e),
    }
}
