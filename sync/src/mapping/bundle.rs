//! Bundle → its entries, each mapped by its own family. A document Bundle's entries that
//! name no subject belong to its Composition's patient.

use std::collections::HashMap;

use super::document::map_composition;
use super::fields::{parse, LocalSubjects};
use super::patient::{is_hospital_id_system, map_patient};
use super::{
    map_typed, reject, retract, DropReason, MapContext, Mapped, Outcome, Reject, RejectReason,
    ResourceType, Subject,
};
use crate::fhir;

/// Unpack a Bundle. Patients inside a document/collection Bundle are copies made for the
/// document: references to them resolve to the node's patient with the same hospital ID
/// (or their first identifier); a copy without any identifier is kept as a patient.
/// Entries with `request.method = DELETE` (transaction/history) become retractions.
pub(super) fn map_bundle(
    b: fhir::Bundle,
    ctx: &MapContext,
    out: &mut Vec<Mapped>,
    nested: bool,
) -> Result<Outcome, Reject> {
    let rt = "Bundle";
    if nested {
        return Err(reject(
            RejectReason::InvalidValue,
            rt,
            "Bundle nested in a Bundle",
        ));
    }
    let (local, heads) = patient_copies(&b)?;
    let start = out.len();
    let mut document_subject = None;
    for (e, head) in b.entry.iter().zip(heads) {
        if let Some(req) = &e.request {
            if req.method.as_deref() == Some("DELETE") {
                out.extend(deletion(req));
                continue;
            }
        }
        let (Some(head), Some(raw)) = (head, &e.resource) else {
            continue;
        };
        let bytes = raw.get().as_bytes();
        match &*head.resource_type {
            "Patient" => {
                let p: fhir::Patient = parse(bytes, "Patient")?;
                if p.identifier.is_empty() {
                    out.push(map_patient(p, ctx)?);
                }
            }
            "Composition" => {
                let c: fhir::Composition = parse(bytes, "Composition")?;
                let m = map_composition(c, b.id.as_deref(), Some(&local))?;
                if document_subject.is_none() && m.subject != Subject::Missing {
                    document_subject = Some(m.subject.clone());
                }
                out.push(m);
            }
            other => {
                // Ignored types inside a bundle are not counted separately.
                map_typed(other, bytes, ctx, out, Some(&local))?;
            }
        }
    }
    // A document is about one patient: entries that name no subject of their own (the
    // document's encounters, attached DocumentReferences) belong to the Composition's.
    if b.type_.as_deref() == Some("document") {
        if let Some(subject) = document_subject {
            for m in &mut out[start..] {
                if m.subject == Subject::Missing {
                    m.subject = subject.clone();
                }
            }
        }
    }
    Ok(Outcome::Mapped)
}

/// Each entry's type and id (read once), and the subject that references to the Bundle's
/// Patient entries resolve to: by full URL and by `Patient/<id>`.
fn patient_copies<'a>(
    b: &'a fhir::Bundle<'_>,
) -> Result<(LocalSubjects, Vec<Option<fhir::ContainedHead<'a>>>), Reject> {
    let mut local: LocalSubjects = HashMap::new();
    let mut heads = Vec::with_capacity(b.entry.len());
    for e in &b.entry {
        let head = match &e.resource {
            Some(raw) => Some(parse::<fhir::ContainedHead>(
                raw.get().as_bytes(),
                "Bundle",
            )?),
            None => None,
        };
        if let (Some(h), Some(raw)) = (&head, &e.resource) {
            if h.resource_type == "Patient" {
                let p: fhir::Patient = parse(raw.get().as_bytes(), "Patient")?;
                let ident = p
                    .identifier
                    .iter()
                    .find(|i| i.system.as_deref().is_some_and(is_hospital_id_system))
                    .or(p.identifier.first())
                    .and_then(|i| {
                        Some((
                            i.system.as_deref()?.to_string(),
                            i.value.as_deref()?.to_string(),
                        ))
                    });
                let subject = match (ident, &p.id) {
                    (Some((system, value)), _) => Subject::Identifier { system, value },
                    (None, Some(id)) => Subject::PatientId(id.to_string()),
                    (None, None) => Subject::Missing,
                };
                if let Some(url) = &e.full_url {
                    local.insert(url.to_string(), subject.clone());
                }
                if let Some(id) = &p.id {
                    local.insert(format!("Patient/{id}"), subject);
                }
            }
        }
        heads.push(head);
    }
    Ok((local, heads))
}

/// A `DELETE <Type>/<id>` entry retracts that resource, if it is of a kept type.
fn deletion(req: &fhir::BundleRequest) -> Option<Mapped> {
    let mut parts = req.url.as_deref()?.split('/');
    let (t, id) = (parts.next()?, parts.next()?);
    let rtype = ResourceType::from_name(t)?;
    Some(retract(
        rtype,
        id.to_string(),
        Subject::Missing,
        DropReason::EnteredInError,
    ))
}
