//! Patient labels and wristbands, and scan-to-open.
//!
//! A label sheet (`/patients/{key}/labels`: one A4 sheet of the patient's labels;
//! `/wards/{ward}/labels`: a row of labels for every patient of the ward) and a wristband
//! strip (`/patients/{key}/wristband`, `/wards/{ward}/wristbands`: one strip a patient)
//! carry the hospital ID as Code 128 and as QR, the name in kanji and kana, birth date,
//! age and sex, blood type and an allergy mark. They are print jobs and are audited as
//! prints, before anything is read out: one patient's as a patient print, a ward's as one
//! ward print listing every patient.
//!
//! A USB barcode scanner is a keyboard: it types what the symbol holds (the hospital ID)
//! and Enter. Typed into the search box, an ID that names exactly one patient opens that
//! patient ([`scanned`]).

mod symbols;
#[cfg(test)]
mod tests;

use akari_sync::model::{PatientKey, PatientRecord};
use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use chrono::Utc;

use super::{render, Chrome, Ctx};
use crate::display::{Identity, IdentityCard};
use crate::error::PageError;
use crate::i18n::Tr;
use crate::viewer::PatientSummary;
pub use symbols::Svg;

/// Labels on one sheet: the common A4 24-up layout (3 columns × 8 rows of 70 × 33.9 mm).
pub const LABELS_PER_SHEET: usize = 24;
/// Labels for each patient of a ward's sheets: one row.
pub const LABELS_PER_WARD_PATIENT: usize = 3;
/// The allergy mark names at most this many characters of substances; the patient page
/// has the full list.
const ALLERGY_TEXT_CHARS: usize = 40;

/// What a label or wristband shows about one patient.
#[derive(Debug, Clone)]
pub struct Label {
    pub id: Identity,
    /// "A型 Rh(+)", empty when no blood type is recorded.
    pub blood_type: String,
    /// The patient has an allergy or drug contraindication on record.
    pub allergy: bool,
    /// The substances, most critical first, cut to a label's width ("ペニシリン系・卵…").
    pub allergy_text: String,
    /// Message key of what is said when no allergy is on record (confirmed none,
    /// unconfirmed none, nothing recorded): never a blank that reads as "no allergy".
    pub no_allergy: &'static str,
    /// The Code 128 symbol of the hospital ID; `None` when the ID has characters Code 128
    /// cannot carry, or there is no ID.
    pub code128: Option<Svg>,
    /// The QR symbol of the hospital ID; `None` when there is no ID.
    pub qr: Option<Svg>,
}

impl Label {
    pub fn new(tr: Tr, record: PatientRecord, as_of: chrono::DateTime<Utc>) -> Self {
        let summary = IdentityCard::new(tr, record, as_of);
        let substances: Vec<&str> = summary
            .allergies
            .iter()
            .map(|a| a.substance.as_str())
            .collect();
        let joined = substances.join("・");
        let mut allergy_text: String = joined.chars().take(ALLERGY_TEXT_CHARS).collect();
        if allergy_text.len() < joined.len() {
            allergy_text.push('…');
        }
        // The blood type without its test date: a label has room for the type alone.
        let blood_type = summary
            .blood_type
            .split('（')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let hospital_id = &summary.id.hospital_id;
        Label {
            code128: symbols::code128_svg(hospital_id),
            qr: symbols::qr_svg(hospital_id),
            blood_type,
            allergy: !summary.allergies.is_empty(),
            allergy_text,
            no_allergy: summary.no_allergy,
            id: summary.id,
        }
    }
}

#[derive(Template)]
#[template(path = "labels.html")]
struct LabelsPage {
    c: Chrome,
    /// What is printed: a patient's name or a ward.
    title: String,
    /// Each sheet's labels, [`LABELS_PER_SHEET`] at most.
    sheets: Vec<Vec<Label>>,
}

#[derive(Template)]
#[template(path = "wristbands.html")]
struct WristbandsPage {
    c: Chrome,
    title: String,
    bands: Vec<Label>,
}

/// What a print job makes of the patients' labels.
#[derive(Clone, Copy)]
enum Job {
    /// A label sheet with `copies` labels for each patient.
    Sheet {
        copies: usize,
    },
    Wristband,
}

fn as_of(ctx: &Ctx) -> chrono::DateTime<Utc> {
    ctx.viewer().as_of().unwrap_or_else(Utc::now)
}

fn render_job(
    ctx: &Ctx,
    title: String,
    labels: Vec<Label>,
    job: Job,
) -> Result<Response, PageError> {
    match job {
        Job::Sheet { copies } => {
            let all: Vec<Label> = labels
                .iter()
                .flat_map(|l| std::iter::repeat_n(l, copies).cloned())
                .collect();
            let page = LabelsPage {
                c: ctx.chrome(),
                title,
                sheets: all
                    .chunks(LABELS_PER_SHEET)
                    .map(<[Label]>::to_vec)
                    .collect(),
            };
            render(&page)
        }
        Job::Wristband => render(&WristbandsPage {
            c: ctx.chrome(),
            title,
            bands: labels,
        }),
    }
}

/// One patient's labels or wristband: audited as a patient print before the record is
/// read out (the same check and entry as the patient print).
async fn patient_job(ctx: Ctx, key: String, job: Job) -> Result<Response, PageError> {
    let check = ctx.reader_check()?;
    let view = ctx
        .viewer()
        .patient(PatientKey(key), true, check)
        .await?
        .map_err(|refusal| ctx.session_refused(refusal))?;
    let label = Label::new(ctx.tr(), view.into_inner(), as_of(&ctx));
    let title = label.id.name.clone();
    render_job(&ctx, title, vec![label], job)
}

/// Every patient of a ward: one ward print entry listing them all, before anything is
/// read out.
async fn ward_job(ctx: Ctx, ward: String, job: Job) -> Result<Response, PageError> {
    let reader = ctx.reader().await?;
    let printed = ctx.viewer().ward_print(&reader, ward.clone()).await?;
    let (_, records) = printed.into_inner();
    let (tr, as_of) = (ctx.tr(), as_of(&ctx));
    let labels = records
        .into_iter()
        .map(|r| Label::new(tr, r, as_of))
        .collect();
    render_job(&ctx, ward, labels, job)
}

pub(crate) async fn patient_labels(
    ctx: Ctx,
    Path(key): Path<String>,
) -> Result<Response, PageError> {
    patient_job(
        ctx,
        key,
        Job::Sheet {
            copies: LABELS_PER_SHEET,
        },
    )
    .await
}

pub(crate) async fn patient_wristband(
    ctx: Ctx,
    Path(key): Path<String>,
) -> Result<Response, PageError> {
    patient_job(ctx, key, Job::Wristband).await
}

pub(crate) async fn ward_labels(ctx: Ctx, Path(ward): Path<String>) -> Result<Response, PageError> {
    ward_job(
        ctx,
        ward,
        Job::Sheet {
            copies: LABELS_PER_WARD_PATIENT,
        },
    )
    .await
}

pub(crate) async fn ward_wristbands(
    ctx: Ctx,
    Path(ward): Path<String>,
) -> Result<Response, PageError> {
    ward_job(ctx, ward, Job::Wristband).await
}

/// Scan-to-open: where a search goes when its results name exactly one patient whose
/// hospital ID is exactly the query (what a scanner types from a label or wristband, or
/// an ID typed in full): that patient's page. `None` (the results list) for anything
/// else, including an ID that only matches when case, hyphens or leading zeros are
/// ignored: the search entry already in the ledger is the audited lookup by ID.
pub(crate) fn scanned(query: &str, found: &[PatientSummary]) -> Option<String> {
    match found {
        [one] if one.patient.hospital_id.as_deref() == Some(query) => {
            Some(format!("/patients/{}", path_segment(&one.key.0)))
        }
        _ => None,
    }
}

/// `text` as one URL path segment: everything but the unreserved characters
/// percent-encoded.
pub(crate) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
