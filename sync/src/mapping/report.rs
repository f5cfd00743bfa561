//! DiagnosticReport → [`model::Report`]: an imaging, pathology or other report's
//! conclusion and presented text (a CT report matters in an outage).
//!
//! Rules: **kind** by category (LOINC LP29684-5 or v2-0074 RAD/RX/CT/MR/NMR/US/NMS →
//! imaging; LP7839-6 or SP/CP/PAT → pathology; a laboratory category → laboratory), else
//! by the report's name (CT, MRI, X線, エコー, 超音波 → imaging; 病理, 細胞診 →
//! pathology). **Text**: the conclusion and conclusion codes; the `presentedForm`
//! attachments (text and HTML as plain text, others named); the narrative when there is
//! no presented form. A laboratory report with no conclusion and no text only groups
//! results kept on their own: dropped (`no_content`). Reports older than the reports
//! window (by effective time, else issue time) are dropped; cancelled and
//! entered-in-error ones retracted. A report with no code and no category says nothing
//! and is rejected (`missing_code`).

use super::document::attachment_text;
use super::fields::{participant, require_id, subject_of, LocalSubjects, Notes};
use super::{
    item, reject, retract, DropReason, Item, MapContext, Mapped, Reject, RejectReason, ResourceType,
};
use crate::fhir;
use crate::model::{self, ReportKind};
use crate::text::html_to_text;

const IMAGING: &[&str] = &[
    "LP29684-5",
    "RAD",
    "RX",
    "CT",
    "MR",
    "NMR",
    "US",
    "NMS",
    "VUS",
    "OUS",
    "CUS",
    "XRC",
];
const PATHOLOGY: &[&str] = &["LP7839-6", "SP", "CP", "PAT"];
const LABORATORY: &[&str] = &[
    "LAB",
    "laboratory",
    "HM",
    "CH",
    "MB",
    "MCB",
    "BLB",
    "SR",
    "IMM",
    "UR",
    "BG",
    "CG",
    "TX",
    "VR",
    "LP7819-8",
];

fn report_kind(r: &fhir::DiagnosticReport) -> ReportKind {
    let in_category = |codes: &[&str]| {
        r.category
            .iter()
            .any(|cc| codes.iter().any(|c| cc.has_code_ignore_case(c)))
    };
    if in_category(IMAGING) {
        return ReportKind::Imaging;
    }
    if in_category(PATHOLOGY) {
        return ReportKind::Pathology;
    }
    if in_category(LABORATORY) {
        return ReportKind::Laboratory;
    }
    let name = r.code.readable_str().unwrap_or("");
    let upper = name.to_ascii_uppercase();
    if ["CT", "MRI", "MRA", "PET", "X-RAY", "XP"]
        .iter()
        .any(|w| upper.contains(w))
        || [
            "X線",
            "Ｘ線",
            "レントゲン",
            "エコー",
            "超音波",
            "造影",
            "シンチ",
        ]
        .iter()
        .any(|w| name.contains(w))
    {
        ReportKind::Imaging
    } else if name.contains("病理") || name.contains("細胞診") || name.contains("生検") {
        ReportKind::Pathology
    } else {
        ReportKind::Other
    }
}

/// The statuses of FHIR's DiagnosticReport value set (besides the retracted ones).
/// The conclusion text, then each conclusion code's text it does not already say.
fn conclusion_of(r: &fhir::DiagnosticReport) -> Option<String> {
    let mut conclusion: Vec<String> = r
        .conclusion
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .into_iter()
        .collect();
    for cc in &r.conclusion_code {
        if let Some(t) = cc.readable() {
            if !conclusion.iter().any(|c| c.contains(&t)) {
                conclusion.push(t);
            }
        }
    }
    (!conclusion.is_empty()).then(|| conclusion.join("\n"))
}

/// The report's presented text (its attachments), else its narrative as plain text.
fn presented_text(r: &fhir::DiagnosticReport, notes: &mut Notes) -> String {
    let mut parts: Vec<String> = r
        .presented_form
        .iter()
        .filter_map(|a| attachment_text(a, notes))
        .collect();
    if parts.is_empty() {
        if let Some(div) = r.text.as_ref().and_then(|t| t.div.as_deref()) {
            parts.push(html_to_text(div));
        }
    }
    parts.join("\n").trim().to_string()
}

pub(super) fn map_diagnostic_report(
    r: fhir::DiagnosticReport,
    ctx: &MapContext,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "DiagnosticReport";
    let id = require_id(r.id.clone(), rt)?;
    let subject = subject_of(r.subject.as_ref(), local);
    let status = r.status.as_deref().unwrap_or("unknown").to_string();
    let dropped = match status.as_str() {
        "entered-in-error" => Some(DropReason::EnteredInError),
        "cancelled" => Some(DropReason::Cancelled),
        _ => None,
    };
    if let Some(why) = dropped {
        return Ok(retract(ResourceType::DiagnosticReport, id, subject, why));
    }
    let Some(title) = r
        .code
        .readable()
        .or_else(|| r.category.iter().find_map(fhir::CodeableConcept::readable))
    else {
        return Err(reject(
            RejectReason::MissingCode,
            rt,
            "code and category missing: nothing says what was examined",
        ));
    };
    let mut notes = Notes::default();
    super::fields::check_vocabulary(
        &mut notes,
        Some(status.as_str()),
        &crate::model::status::REPORT,
        "status",
    );
    let kind = report_kind(&r);
    let time = match (&r.effective_date_time, &r.effective_period) {
        (Some(t), _) => notes.time(Some(t), "effectiveDateTime"),
        (None, Some(p)) => notes.time(p.start.as_ref(), "effectivePeriod.start"),
        (None, None) => None,
    };
    let issued = notes.time(r.issued.as_ref(), "issued");
    if time
        .or(issued)
        .is_some_and(|t| t < ctx.windows.reports_from(ctx.now))
    {
        return Ok(retract(
            ResourceType::DiagnosticReport,
            id,
            subject,
            DropReason::OutOfWindow,
        ));
    }
    let conclusion = conclusion_of(&r);
    let text = presented_text(&r, &mut notes);
    if kind == ReportKind::Laboratory && conclusion.is_none() && text.is_empty() {
        return Ok(retract(
            ResourceType::DiagnosticReport,
            id,
            subject,
            DropReason::NoContent,
        ));
    }
    let performer = r
        .results_interpreter
        .iter()
        .chain(r.performer.iter())
        .find_map(|p| participant(p, None));
    Ok(notes.into(item(
        ResourceType::DiagnosticReport,
        id.clone(),
        subject,
        Item::Report(model::Report {
            id,
            kind,
            title,
            status,
            time,
            issued,
            conclusion,
            text,
            performer,
        }),
    )))
}
