//! Size bounds on what an entry keeps. Much of an event comes from whoever sent the request
//! (an account ID typed into the login form, the browser's user agent, a declared name, a
//! free-text reason): every text field is bounded before the entry is written, so a request
//! can never make the ledger grow by more than a few kilobytes.
//!
//! A value over its bound is kept as its first bytes (cut on a character boundary), then
//! `…[N bytes, sha256 H]`: the original length in bytes and the SHA-256 of the original, so
//! a reviewer can still match it against a suspected value. The whole stays within the
//! bound. Values within their bound are kept exactly as given.
//!
//! | field | bound (bytes of UTF-8) |
//! |---|---|
//! | identifiers and names: account, admin, session and patient keys, slots, wards, the OS user, the declared person's fields, the user agent, the search field's kind, the export format, a verdict, the keys a reviewer resolved | [`MAX_NAME_BYTES`] (256) |
//! | `details` | [`MAX_DETAILS_BYTES`] (512) |
//! | free text: a failed login's reason, a declared "other" reason, a mode change's reason, a reviewer's comment or purpose, a quarantine's losses | [`MAX_TEXT_BYTES`] (2048) |
//! | the downtime entry numbers one reconciliation entry lists | [`MAX_RECONCILED_ENTRIES`] (256 numbers) |
//!
//! Entry numbers cannot be cut and hashed like text (the review must see every one), so a
//! larger reconciliation is written as several entries of at most
//! [`MAX_RECONCILED_ENTRIES`] numbers each ([`reconciled_actions`]), all in one durable
//! commit ([`crate::ledger::Ledger::record_all`]). The ledger refuses a single entry over
//! the bound rather than cut it.

use sha2::{Digest, Sha256};

use crate::event::{Action, Actor, AuditEvent, DeclaredPerson, Reason};

/// Identifiers and names.
pub const MAX_NAME_BYTES: usize = 256;
/// The `details` string.
pub const MAX_DETAILS_BYTES: usize = 512;
/// Free text.
pub const MAX_TEXT_BYTES: usize = 2048;
/// Downtime entry numbers listed by one `DowntimeReconciled` entry.
pub const MAX_RECONCILED_ENTRIES: usize = 256;

/// The ledger actions that mark `entries` reconciled: one per run of at most
/// [`MAX_RECONCILED_ENTRIES`] numbers, in order, covering each number exactly once.
/// Written together with [`crate::ledger::Ledger::record_all`].
pub fn reconciled_actions(entries: &[u64]) -> Vec<Action> {
    entries
        .chunks(MAX_RECONCILED_ENTRIES)
        .map(|chunk| Action::DowntimeReconciled {
            entries: chunk.to_vec(),
        })
        .collect()
}

/// Why `event` cannot be written at all: a field that is bounded by count, not cut
/// (see the module documentation). `None` when it can.
pub fn refusal(event: &AuditEvent) -> Option<String> {
    match &event.action {
        Action::DowntimeReconciled { entries } if entries.len() > MAX_RECONCILED_ENTRIES => {
            Some(format!(
                "a reconciliation entry lists {} downtime entries, over the bound of {}; \
                 split it into several entries written together",
                entries.len(),
                MAX_RECONCILED_ENTRIES
            ))
        }
        _ => None,
    }
}

/// `value` within `max` bytes: unchanged if it fits, else its first bytes and
/// `…[N bytes, sha256 H]` (see the module documentation).
pub fn bounded(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let tail = format!(
        "…[{} bytes, sha256 {}]",
        value.len(),
        hex::encode(Sha256::digest(value.as_bytes()))
    );
    let mut cut = max.saturating_sub(tail.len());
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tail}", &value[..cut])
}

fn bound(value: &mut String, max: usize) {
    if value.len() > max {
        *value = bounded(value, max);
    }
}

fn bound_all(values: &mut [String], max: usize) {
    for v in values {
        bound(v, max);
    }
}

fn bound_person(p: &mut DeclaredPerson) {
    for v in [
        &mut p.name,
        &mut p.staff_number,
        &mut p.profession,
        &mut p.department,
    ] {
        bound(v, MAX_NAME_BYTES);
    }
}

/// The event with every text field within its bound.
pub fn bound_event(mut event: AuditEvent) -> AuditEvent {
    match &mut event.actor {
        Actor::System | Actor::Anonymous => {}
        Actor::Console { os_user } => bound(os_user, MAX_NAME_BYTES),
        Actor::Admin { admin_id } => bound(admin_id, MAX_NAME_BYTES),
        Actor::Emergency {
            account_id,
            session_id,
            declared,
        } => {
            bound(account_id, MAX_NAME_BYTES);
            bound(session_id, MAX_NAME_BYTES);
            if let Some(p) = declared {
                bound_person(p);
            }
        }
    }
    bound_action(&mut event.action);
    if let Some(p) = &mut event.patient {
        bound(p, MAX_NAME_BYTES);
    }
    if let Some(d) = &mut event.details {
        bound(d, MAX_DETAILS_BYTES);
    }
    if let Some(ua) = &mut event.client.user_agent {
        bound(ua, MAX_NAME_BYTES);
    }
    event
}

fn bound_action(action: &mut Action) {
    match action {
        Action::LoginSucceeded
        | Action::SealBroken
        | Action::Logout
        | Action::SessionExpired
        | Action::AdminCreated
        | Action::AdminCredentialEnrolled
        | Action::SnapshotLocked
        | Action::SyncRequested { .. }
        | Action::SnapshotRolledBack { .. }
        | Action::SnapshotPinned { .. }
        | Action::SnapshotPromoted { .. }
        | Action::PatientRead
        | Action::PatientPrint
        | Action::NoticeWithdrawn
        | Action::DowntimeReconciled { .. } => {}
        Action::DowntimeRecorded { record, .. } => bound(record, MAX_NAME_BYTES),
        Action::DowntimeExported { format, .. } => bound(format, MAX_NAME_BYTES),
        Action::NoticePosted { text } => bound(text, MAX_TEXT_BYTES),
        Action::LoginFailed { reason } | Action::ModeChanged { reason, .. } => {
            bound(reason, MAX_TEXT_BYTES)
        }
        Action::Declared { reason } => {
            if let Reason::Other(text) = reason {
                bound(text, MAX_TEXT_BYTES);
            }
        }
        Action::AccountProvisioned { account_id }
        | Action::KeyEnrolled { account_id }
        | Action::AccountRetired { account_id }
        | Action::AccountResealed { account_id }
        | Action::AccountRevoked { account_id }
        | Action::AdminRecovered {
            admin_id: account_id,
            ..
        } => bound(account_id, MAX_NAME_BYTES),
        Action::KeySlotChanged { slot, .. } | Action::SnapshotUnlocked { slot } => {
            bound(slot, MAX_NAME_BYTES)
        }
        Action::SnapshotQuarantined { losses, .. } => bound(losses, MAX_TEXT_BYTES),
        Action::PatientSearch {
            query_kind, keys, ..
        } => {
            bound(query_kind, MAX_NAME_BYTES);
            bound_all(keys, MAX_NAME_BYTES);
        }
        Action::PatientNotFound { key } => bound(key, MAX_NAME_BYTES),
        Action::WardCensus { ward, keys } | Action::WardPrint { ward, keys, .. } => {
            bound(ward, MAX_NAME_BYTES);
            bound_all(keys, MAX_NAME_BYTES);
        }
        Action::AuditExported { format } => bound(format, MAX_NAME_BYTES),
        Action::ReviewVerdict {
            session_id,
            verdict,
            comment,
        } => {
            bound(session_id, MAX_NAME_BYTES);
            bound(verdict, MAX_NAME_BYTES);
            bound(comment, MAX_TEXT_BYTES);
        }
        Action::ReviewResolved { keys, purpose } => {
            bound_all(keys, MAX_NAME_BYTES);
            bound(purpose, MAX_TEXT_BYTES);
        }
        Action::ReviewPatientLookup { purpose } => bound(purpose, MAX_TEXT_BYTES),
        Action::ReviewSignOff {
            verdict, comment, ..
        } => {
            bound(verdict, MAX_NAME_BYTES);
            bound(comment, MAX_TEXT_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlong_value_keeps_its_start_length_and_hash_within_the_bound() {
        assert_eq!(bounded("EA-K7QH3X", 256), "EA-K7QH3X");
        let long = "あ".repeat(500_000);
        let b = bounded(&long, MAX_NAME_BYTES);
        assert!(b.len() <= MAX_NAME_BYTES, "{}", b.len());
        assert!(b.starts_with("あああ"));
        let hash = hex::encode(Sha256::digest(long.as_bytes()));
        assert!(
            b.ends_with(&format!("…[1500000 bytes, sha256 {hash}]")),
            "{b}"
        );
    }
}
