//! FHIR R4 `AuditEvent` for ledger entries, following IHE BALP (Basic Audit Log Patterns):
//!
//! | ledger action | type | subtype | action |
//! |---|---|---|---|
//! | `patient_read` | audit-event-type `rest` | restful-interaction `read` | R |
//! | `patient_not_found` | `rest` | `read` (outcome 4, minor failure) | R |
//! | `patient_search`, `ward_census` | `rest` | `search-type` | E |
//! | `patient_print`, `ward_print` | DCM 110106 Export | — | R |
//! | login succeeded / failed | DCM 110114 User Authentication | DCM 110122 Login | E |
//! | logout, session expired | DCM 110114 | DCM 110123 Logout | E |
//! | mode → emergency/drill | DCM 110113 Security Alert | DCM 110127 Emergency Override Started | E |
//! | mode emergency/drill → other | DCM 110113 | DCM 110138 Emergency Override Stopped | E |
//! | seal broken, declared | DCM 110113 | DCM 110127 | E |
//! | account administration | DCM 110113 | DCM 110137 User Security Attributes Changed | U/C/D |
//! | audit exported, a reviewer's keys resolved or patient lookup (R); review verdict or sign-off (C) | DCM 110101 Audit Log Used | — | R/C |
//!
//! Emergency-account actors carry purpose of use `ETREAT` and `BTG` (v3-ActReason). The
//! patient is an entity with role Patient identified by the opaque patient key
//! (`urn:akari:patient-key`) — one such entity per patient listed by a search or ward census
//! and per patient of a ward print; the ledger entry itself is an entity carrying its sequence
//! number, chain head, mode and drill flag, so a FHIR copy can be matched to the chain.

use std::io::Write;

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use super::entry::{Hash, LedgerEntry};
use super::export::ExportSummary;
use super::{Ledger, LedgerError};
use crate::event::{Action, Actor, KeySlotChange, Mode};

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const AUDIT_EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const RESTFUL: &str = "http://hl7.org/fhir/restful-interaction";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";
const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

/// A stable `urn:uuid:` for an entry, derived from its chain head (version 8 layout).
fn urn_uuid(head: &Hash) -> String {
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&head.0[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn is_override(mode: Mode) -> bool {
    mode.allows_emergency_login()
}

/// The BALP `AuditEvent` for one entry: its codes, the user agent, the source, and the
/// patients and the ledger entry as entities.
pub fn audit_event(entry: &LedgerEntry, head: &Hash) -> Value {
    let ((ty, subtype), action, outcome) = event_codes(&entry.action);
    let purpose = purpose_of_use(entry);
    let mut agent = user_agent(entry, &purpose);
    if let Some(address) = entry.client.address {
        agent["network"] = json!({ "address": address.to_string(), "type": "2" });
    }

    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": format!("ledger-{}", entry.seq),
        "meta": {
            "profile": [balp_profile(&entry.action)]
        },
        "type": ty,
        "action": action,
        "recorded": entry.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        "outcome": outcome,
        "agent": [agent],
        "source": {
            "site": "akari",
            "observer": { "display": "Akari emergency viewer node" },
            "type": [coding(SOURCE_TYPE, "4", "Application Server")]
        },
    });
    if let Some(sub) = subtype {
        event["subtype"] = json!([sub]);
    }
    if !purpose.is_empty() {
        event["purposeOfEvent"] = json!(purpose);
    }
    if let Action::LoginFailed { reason } = &entry.action {
        event["outcomeDesc"] = json!(reason);
    }
    event["entity"] = json!(entities(entry, head));
    event
}

/// The event's `(type, subtype)`, action code and outcome code for a ledger action: the
/// table in the module documentation, one arm per action.
fn event_codes(action: &Action) -> ((Value, Option<Value>), &'static str, &'static str) {
    let dcm = |code: &str, display: &str| coding(DCM, code, display);
    let plain = |code: &str, display: &str| (dcm(code, display), None);
    let rest = |code: &str, display: &str| {
        let ty = coding(AUDIT_EVENT_TYPE, "rest", "RESTful Operation");
        (ty, Some(coding(RESTFUL, code, display)))
    };
    let authentication = |code: &str, display: &str| {
        (
            dcm("110114", "User Authentication"),
            Some(dcm(code, display)),
        )
    };
    let alert = |sub: Option<Value>| (dcm("110113", "Security Alert"), sub);
    let attributes = || alert(Some(dcm("110137", "User Security Attributes Changed")));
    let override_started = || Some(dcm("110127", "Emergency Override Started"));
    match action {
        Action::PatientRead => (rest("read", "read"), "R", "0"),
        Action::PatientNotFound { .. } => (rest("read", "read"), "R", "4"),
        Action::PatientSearch { .. } | Action::WardCensus { .. } => {
            (rest("search-type", "search type"), "E", "0")
        }
        Action::PatientPrint | Action::WardPrint { .. } => (plain("110106", "Export"), "R", "0"),
        Action::LoginSucceeded => (authentication("110122", "Login"), "E", "0"),
        Action::LoginFailed { .. } => (authentication("110122", "Login"), "E", "4"),
        Action::Logout | Action::SessionExpired => (authentication("110123", "Logout"), "E", "0"),
        Action::ModeChanged { from, to, .. } => {
            let sub = if is_override(*to) {
                override_started()
            } else if is_override(*from) {
                Some(dcm("110138", "Emergency Override Stopped"))
            } else {
                None
            };
            (alert(sub), "E", "0")
        }
        Action::SealBroken | Action::Declared { .. } => (alert(override_started()), "E", "0"),
        Action::AdminCreated | Action::AccountProvisioned { .. } => (attributes(), "C", "0"),
        Action::AdminCredentialEnrolled
        | Action::AdminRecovered { .. }
        | Action::KeyEnrolled { .. }
        | Action::AccountResealed { .. } => (attributes(), "U", "0"),
        Action::AccountRetired { .. } | Action::AccountRevoked { .. } => (attributes(), "D", "0"),
        Action::KeySlotChanged { change, .. } => {
            let code = match change {
                KeySlotChange::Created => "C",
                KeySlotChange::Replaced => "U",
                KeySlotChange::Removed => "D",
            };
            (attributes(), code, "0")
        }
        Action::SnapshotUnlocked { .. } | Action::SnapshotLocked => (alert(None), "E", "0"),
        Action::SyncRequested { .. } => (plain("110100", "Application Activity"), "E", "0"),
        Action::SnapshotRolledBack { .. }
        | Action::SnapshotPinned { .. }
        | Action::SnapshotPromoted { .. } => (plain("110100", "Application Activity"), "U", "0"),
        Action::SnapshotQuarantined { .. } => (alert(None), "E", "4"),
        Action::AuditExported { .. } => (plain("110101", "Audit Log Used"), "R", "0"),
        Action::ReviewVerdict { .. } | Action::ReviewSignOff { .. } => {
            (plain("110101", "Audit Log Used"), "C", "0")
        }
        Action::ReviewResolved { .. } | Action::ReviewPatientLookup { .. } => {
            (plain("110101", "Audit Log Used"), "R", "0")
        }
        Action::NoticePosted { .. } => (plain("110100", "Application Activity"), "C", "0"),
        Action::NoticeWithdrawn => (plain("110100", "Application Activity"), "D", "0"),
        Action::DowntimeRecorded { .. } => (rest("create", "create"), "C", "0"),
        Action::DowntimeReconciled { .. } => (rest("update", "update"), "U", "0"),
        Action::DowntimeExported { .. } => (plain("110106", "Export"), "R", "0"),
    }
}

/// Emergency treatment and break-the-glass, for an emergency account's events and for the
/// mode change that starts an emergency or drill; nothing otherwise.
fn purpose_of_use(entry: &LedgerEntry) -> Vec<Value> {
    let emergency = matches!(entry.actor, Actor::Emergency { .. });
    if emergency || is_override(entry.mode) && matches!(entry.action, Action::ModeChanged { .. }) {
        vec![
            json!({ "coding": [coding(ACT_REASON, "ETREAT", "Emergency Treatment")] }),
            json!({ "coding": [coding(ACT_REASON, "BTG", "break the glass")] }),
        ]
    } else {
        Vec::new()
    }
}

/// The event's entities: each patient it read or listed, the query of a search or of a
/// key that named no patient, and last the ledger entry itself.
fn entities(entry: &LedgerEntry, head: &Hash) -> Vec<Value> {
    let mut entities: Vec<Value> = entry
        .patient
        .iter()
        .chain(listed_patients(&entry.action))
        .map(|key| patient_entity(key))
        .collect();
    if let Action::PatientNotFound { key } = &entry.action {
        entities.push(json!({
            "type": coding(ENTITY_TYPE, "2", "System Object"),
            "role": coding(OBJECT_ROLE, "24", "Query"),
            "description": "lookup of a patient key that names no patient",
            "detail": [{ "type": "patient_key", "valueString": key }]
        }));
    }
    if let Action::PatientSearch {
        query_kind,
        results,
        ..
    } = &entry.action
    {
        entities.push(json!({
            "type": coding(ENTITY_TYPE, "2", "System Object"),
            "role": coding(OBJECT_ROLE, "24", "Query"),
            "description": format!("search by {query_kind}"),
            "detail": [
                { "type": "query_kind", "valueString": query_kind },
                { "type": "results", "valueString": results.to_string() }
            ]
        }));
    }
    entities.push(ledger_entry_entity(entry, head));
    entities
}

/// The ledger entry as an entity: its seq, action, mode, drill flag and chain head (so a
/// FHIR copy can be matched to the chain), and whatever else the entry recorded.
fn ledger_entry_entity(entry: &LedgerEntry, head: &Hash) -> Value {
    let mut details = vec![
        json!({ "type": "action", "valueString": super::export::action_kind(&entry.action) }),
        json!({ "type": "mode", "valueString": mode_name(entry.mode) }),
        json!({ "type": "drill", "valueString": entry.drill.to_string() }),
        json!({ "type": "chain_head", "valueString": head.to_hex() }),
    ];
    if entry.clock_back {
        details.push(json!({ "type": "clock_back", "valueString": "true" }));
    }
    if let Some(d) = &entry.details {
        details.push(json!({ "type": "details", "valueString": d }));
    }
    if let Some(ua) = &entry.client.user_agent {
        details.push(json!({ "type": "user_agent", "valueString": ua }));
    }
    if let Some(extra) = action_text(&entry.action) {
        details.push(json!({ "type": "action_details", "valueString": extra }));
    }
    json!({
        "what": { "identifier": { "system": "urn:akari:ledger-seq", "value": entry.seq.to_string() } },
        "type": coding(ENTITY_TYPE, "2", "System Object"),
        "description": "Akari audit ledger entry",
        "detail": details,
    })
}

/// The patients an entry lists besides its own `patient`: those shown by a search or ward
/// census, those printed by a ward print.
fn listed_patients(action: &Action) -> &[String] {
    match action {
        Action::PatientSearch { keys, .. }
        | Action::WardCensus { keys, .. }
        | Action::WardPrint { keys, .. }
        | Action::ReviewResolved { keys, .. } => keys,
        _ => &[],
    }
}

fn patient_entity(key: &str) -> Value {
    json!({
        "what": { "identifier": { "system": "urn:akari:patient-key", "value": key } },
        "type": coding(ENTITY_TYPE, "1", "Person"),
        "role": coding(OBJECT_ROLE, "1", "Patient"),
    })
}

fn balp_profile(action: &Action) -> String {
    let name = match action {
        Action::PatientRead => "PatientRead",
        Action::PatientSearch { .. } | Action::WardCensus { .. } => "PatientQuery",
        Action::LoginSucceeded | Action::LoginFailed { .. } => "Login",
        Action::Logout | Action::SessionExpired => "Logout",
        _ => "SecurityAlert",
    };
    format!("https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.{name}")
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Standby => "standby",
        Mode::Emergency => "emergency",
        Mode::Drill => "drill",
        Mode::Recovery => "recovery",
    }
}

fn action_text(action: &Action) -> Option<String> {
    match action {
        Action::ModeChanged { from, to, reason } => Some(format!(
            "{} -> {}: {reason}",
            mode_name(*from),
            mode_name(*to)
        )),
        Action::ReviewVerdict {
            session_id,
            verdict,
            comment,
        } => Some(format!("session {session_id}: {verdict}: {comment}")),
        Action::WardCensus { ward, .. } => Some(format!("ward {ward}")),
        Action::WardPrint { ward, patients, .. } => {
            Some(format!("ward {ward}, {patients} patients"))
        }
        Action::AccountProvisioned { account_id }
        | Action::KeyEnrolled { account_id }
        | Action::AccountRetired { account_id }
        | Action::AccountResealed { account_id }
        | Action::AccountRevoked { account_id } => Some(format!("account {account_id}")),
        Action::AdminRecovered { admin_id, change } => Some(format!("admin {admin_id}: {change}")),
        Action::AuditExported { format } => Some(format!("format {format}")),
        Action::KeySlotChanged { slot, change } => Some(format!("key slot {slot} {change}")),
        Action::SnapshotUnlocked { slot } => Some(format!("snapshot key unlocked by {slot}")),
        Action::SnapshotLocked => Some("snapshot key locked".to_owned()),
        Action::SyncRequested { full } => Some(
            if *full {
                "full sync requested"
            } else {
                "incremental sync requested"
            }
            .to_owned(),
        ),
        Action::SnapshotRolledBack { from, to } => Some(match from {
            Some(from) => format!("snapshot rolled back from generation {from} to {to}"),
            None => format!("snapshot rolled back to generation {to}"),
        }),
        Action::SnapshotPinned { generation, pinned } => Some(format!(
            "generation {generation} {}",
            if *pinned { "pinned" } else { "unpinned" }
        )),
        Action::SnapshotQuarantined {
            generation,
            current,
            losses,
        } => Some(match current {
            Some(c) => format!(
                "sync quarantined as generation {generation} (would lose {losses}); generation {c} stays in service"
            ),
            None => format!("sync quarantined as generation {generation} (would lose {losses})"),
        }),
        Action::NoticePosted { text } => Some(format!("staff notice posted: {text}")),
        Action::NoticeWithdrawn => Some("staff notice withdrawn".to_owned()),
        Action::DowntimeRecorded { record, supersedes } => Some(match supersedes {
            Some(e) => format!("downtime {record} recorded, correcting entry {e}"),
            None => format!("downtime {record} recorded"),
        }),
        Action::DowntimeReconciled { entries } => Some(format!(
            "{} downtime entries marked reconciled",
            entries.len()
        )),
        Action::DowntimeExported { episode, format } => Some(match episode {
            Some(e) => format!("downtime records of episode {e} exported as {format}"),
            None => format!("downtime records exported as {format}"),
        }),
        Action::SnapshotPromoted { generation, from } => Some(match from {
            Some(from) => format!("quarantined generation {generation} promoted (was serving {from})"),
            None => format!("quarantined generation {generation} promoted"),
        }),
        _ => None,
    }
}

fn user_agent(entry: &LedgerEntry, purpose: &[Value]) -> Value {
    let user_type = json!({ "coding": [coding(PARTICIPATION, "IRCP", "information recipient")] });
    let mut agent = match &entry.actor {
        Actor::Emergency {
            account_id,
            session_id,
            declared,
        } => {
            let mut a = json!({
                "type": user_type,
                "who": {
                    "identifier": { "system": "urn:akari:emergency-account", "value": account_id },
                    "display": account_id,
                },
                "altId": session_id,
                "requestor": true,
            });
            if let Some(p) = declared {
                a["name"] = json!(format!(
                    "{} (staff {}, {}, {})",
                    p.name, p.staff_number, p.profession, p.department
                ));
            }
            a
        }
        Actor::Admin { admin_id } => json!({
            "type": user_type,
            "who": { "identifier": { "system": "urn:akari:admin", "value": admin_id } },
            "requestor": true,
        }),
        Actor::Console { os_user } => json!({
            "type": user_type,
            "who": { "identifier": { "system": "urn:akari:console-user", "value": os_user } },
            "requestor": true,
        }),
        Actor::System => json!({
            "type": { "coding": [coding(DCM, "110150", "Application")] },
            "who": { "display": "Akari node" },
            "requestor": false,
        }),
        Actor::Anonymous => json!({
            "type": user_type,
            "who": { "display": "unauthenticated user" },
            "requestor": true,
        }),
    };
    if !purpose.is_empty() {
        agent["purposeOfUse"] = json!(purpose);
    }
    agent
}

/// Writes the entries `first..=last` as one FHIR R4 `Bundle` of type `collection`.
pub(crate) fn export_bundle(
    ledger: &Ledger,
    first: u64,
    last: u64,
    out: &mut dyn Write,
) -> Result<ExportSummary, LedgerError> {
    let opening = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
    })
    .to_string();
    // Leave the object open to stream the entries into it.
    if first > last {
        // FHIR forbids empty arrays: an empty range is a bundle without entries.
        writeln!(out, "{opening}")?;
        out.flush()?;
        return Ok(ExportSummary {
            first_seq: first,
            last_seq: last,
            entries: 0,
            checkpoints: 0,
        });
    }
    out.write_all(&opening.as_bytes()[..opening.len() - 1])?;
    out.write_all(b",\"entry\":[\n")?;
    let mut entries = 0u64;
    ledger.scan(first..=last, |entry, head| -> Result<(), LedgerError> {
        if entries > 0 {
            out.write_all(b",\n")?;
        }
        let item = json!({ "fullUrl": urn_uuid(&head), "resource": audit_event(&entry, &head) });
        serde_json::to_writer(&mut *out, &item).map_err(|e| LedgerError::Io(e.into()))?;
        entries += 1;
        Ok(())
    })?;
    out.write_all(b"\n]}\n")?;
    out.flush()?;
    Ok(ExportSummary {
        first_seq: first,
        last_seq: last,
        entries,
        checkpoints: 0,
    })
}
