//! Composition and DocumentReference → a readable document (referral, discharge
//! summary, health check, other): narrative and text attachments as plain text; other
//! attachments are named, not stored.

use base64::Engine as _;

use super::fields::{require_id, subject_of, LocalSubjects, Notes};
use super::{item, retract, DropReason, Item, Mapped, Reject, ResourceType, WarningReason};
use crate::fhir;
use crate::model::{self, DocumentKind};
use crate::text::html_to_text;

/// Document kind from a LOINC / JP document type code.
pub fn document_kind(cc: Option<&fhir::CodeableConcept>) -> DocumentKind {
    let Some(cc) = cc else {
        return DocumentKind::Other;
    };
    if cc.has_code("57133-1") {
        DocumentKind::Referral
    } else if cc.has_code("18842-5") {
        DocumentKind::DischargeSummary
    } else if cc.has_code("53576-5") {
        DocumentKind::HealthCheck
    } else {
        let t = cc.readable().unwrap_or_default();
        if t.contains("診療情報提供") {
            DocumentKind::Referral
        } else if t.contains("退院") {
            DocumentKind::DischargeSummary
        } else if t.contains("健診") || t.contains("健康診断") {
            DocumentKind::HealthCheck
        } else {
            DocumentKind::Other
        }
    }
}

fn section_text(s: &fhir::Section, depth: usize, out: &mut String) {
    if depth > 8 {
        return;
    }
    if let Some(title) = s.title.as_deref().filter(|t| !t.trim().is_empty()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("■ ");
        out.push_str(title.trim());
        out.push('\n');
    }
    if let Some(div) = s.text.as_ref().and_then(|t| t.div.as_deref()) {
        let t = html_to_text(div);
        if !t.is_empty() {
            out.push_str(&t);
            out.push('\n');
        }
    }
    for sub in &s.section {
        section_text(sub, depth + 1, out);
    }
}

/// Text of a Composition: every section's title (as "■ title") followed by its narrative
/// as plain text, depth first. `bundle_id` names the document when the Composition has
/// no id.
pub(super) fn map_composition(
    c: fhir::Composition,
    bundle_id: Option<&str>,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "Composition";
    let id = require_id(
        c.id.clone().or(bundle_id.map(std::borrow::Cow::Borrowed)),
        rt,
    )?;
    let subject = subject_of(c.subject.as_ref(), local);
    if c.status.as_deref() == Some("entered-in-error") {
        return Ok(retract(
            ResourceType::Composition,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let mut text = String::new();
    for s in &c.section {
        section_text(s, 0, &mut text);
    }
    let kind = document_kind(Some(&c.type_));
    let mut notes = Notes::default();
    let date = notes.time(c.date.as_ref(), "date");
    Ok(notes.into(item(
        ResourceType::Composition,
        id.clone(),
        subject,
        Item::Document(model::Document {
            id,
            kind,
            title: c
                .title
                .as_deref()
                .map(str::to_string)
                .or_else(|| c.type_.readable())
                .unwrap_or_else(|| "(文書)".to_string()),
            date,
            text: text.trim_end().to_string(),
        }),
    )))
}

pub(super) fn map_document_reference(
    d: fhir::DocumentReference,
    local: Option<&LocalSubjects>,
) -> Result<Mapped, Reject> {
    let rt = "DocumentReference";
    let id = require_id(d.id.clone(), rt)?;
    let subject = subject_of(d.subject.as_ref(), local);
    if d.status.as_deref() == Some("entered-in-error") {
        return Ok(retract(
            ResourceType::DocumentReference,
            id,
            subject,
            DropReason::EnteredInError,
        ));
    }
    let mut notes = Notes::default();
    let mut parts = Vec::new();
    for c in &d.content {
        parts.extend(attachment_text(&c.attachment, &mut notes));
    }
    let title = d
        .description
        .as_deref()
        .map(str::to_string)
        .or_else(|| d.type_.as_ref().and_then(fhir::CodeableConcept::readable))
        .unwrap_or_else(|| "(文書)".to_string());
    let date = notes.time(d.date.as_ref(), "date");
    Ok(notes.into(item(
        ResourceType::DocumentReference,
        id.clone(),
        subject,
        Item::Document(model::Document {
            id,
            kind: document_kind(d.type_.as_ref()),
            title,
            date,
            text: parts.join("\n"),
        }),
    )))
}

/// An attachment as text: text and HTML content decoded (HTML reduced to text); other
/// content named, not stored. Data that is not base64 is left out with a warning.
pub(super) fn attachment_text(a: &fhir::Attachment, notes: &mut Notes) -> Option<String> {
    let ct = a.content_type.as_deref().unwrap_or("").to_ascii_lowercase();
    match &a.data {
        Some(data) if ct.starts_with("text/") || ct.contains("xhtml") || ct.is_empty() => {
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data.trim()) else {
                notes.warn(
                    WarningReason::InvalidValue,
                    "attachment data is not base64; that attachment is left out",
                );
                return Some("[添付: 読み取れないデータ]".to_string());
            };
            let s = String::from_utf8_lossy(&bytes);
            Some(if ct.contains("html") {
                html_to_text(&s)
            } else {
                s.into_owned()
            })
        }
        _ => {
            let label = a.title.as_deref().map(str::to_string).unwrap_or_else(|| {
                if ct.is_empty() {
                    "添付".to_string()
                } else {
                    ct.clone()
                }
            });
            Some(format!("[添付: {label}（本文はこのノードにありません）]"))
        }
    }
}
