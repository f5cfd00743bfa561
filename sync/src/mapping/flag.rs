//! Flag → an alert on the patient (DNR, isolation, fall risk, other); inactive flags are
//! retracted.

use super::fields::{require_id, subject_of, LocalSubjects, Notes};
use super::{item, retract, DropReason, Item, Mapped, Reject, ResourceType};
use crate::fhir;
use crate::model::{self, FlagKind};

/// Flag kind (documented rule): code/category text or codes mentioning DNR/DNAR/蘇生
/// (SNOMED 304253006) → DNR; 隔離/isolation/感染対策 (SNOMED 40174006) → isolation;
/// 転倒/転落/fall (SNOMED 129839007) → fall risk.
pub fn flag_kind(f: &fhir::Flag) -> FlagKind {
    let mut words: Vec<String> = Vec::new();
    for cc in std::iter::once(&f.code).chain(f.category.iter()) {
        words.extend(cc.text.as_deref().map(str::to_string));
        for c in &cc.coding {
            words.extend(c.code.as_deref().map(str::to_string));
            words.extend(c.display.as_deref().map(str::to_string));
        }
    }
    let hay = words.join(" ").to_lowercase();
    if hay.contains("dnr")
        || hay.contains("dnar")
        || hay.contains("蘇生")
        || hay.contains("304253006")
    {
        FlagKind::Dnr
    } else if hay.contains("隔離")
        || hay.contains("isolation")
        || hay.contains("感染対策")
        || hay.contains("40174006")
    {
        FlagKind::Isolation
    } else if hay.contains("転倒")
        || hay.contains("転落")
        || hay.contains("fall")
        || hay.contains("129839007")
    {
        FlagKind::FallRisk
    } else {
        FlagKind::Other
    }
}

pub(super) fn map_flag(f: fhir::Flag, local: Option<&LocalSubjects>) -> Result<Mapped, Reject> {
    let rt = "Flag";
    let id = require_id(f.id.clone(), rt)?;
    let subject = subject_of(f.subject.as_ref(), local);
    match f.status.as_deref() {
        Some("entered-in-error") => {
            return Ok(retract(
                ResourceType::Flag,
                id,
                subject,
                DropReason::EnteredInError,
            ))
        }
        Some("inactive") => {
            return Ok(retract(
                ResourceType::Flag,
                id,
                subject,
                DropReason::Inactive,
            ))
        }
        _ => {}
    }
    let kind = flag_kind(&f);
    let mut notes = Notes::default();
    let start = notes.time(
        f.period.as_ref().and_then(|p| p.start.as_ref()),
        "period.start",
    );
    Ok(notes.into(item(
        ResourceType::Flag,
        id.clone(),
        subject,
        Item::Flag(model::Flag {
            id,
            kind,
            text: f
                .code
                .readable()
                .unwrap_or_else(|| "(内容なし)".to_string()),
            start,
        }),
    )))
}
