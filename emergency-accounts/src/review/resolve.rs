//! "Who looked at patient X?": the review right's two ways from opaque patient keys to
//! people, each audited before any name is shown (fail closed, like every read).
//!
//! - [`resolve`]: the names behind the keys of a report or review page. The ledger's
//!   patient keys are the snapshot's own keys (a keyed hash of the source's patient id,
//!   stable for as long as the node secret lives), so each distinct key is one index
//!   lookup in the snapshot, collected into a map; nothing is recomputed per entry.
//! - [`find_patients`] then [`patient_sessions`]: start from a patient (name, kana or
//!   hospital ID), pick one, and list every session in any episode that saw them: records
//!   read or printed, and appearances in search results, ward lists and ward prints.
//!
//! Only a [`ReviewCapability`] opens either; this crate does not read the snapshot, so the
//! caller passes a [`PatientDirectory`] over it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use super::{episodes, ReviewError};
use crate::event::{Action, AuditEvent, AuditReceipt, AuditSink, Client, DeclaredPerson, Mode};
use crate::ledger::{Ledger, LedgerError};
use crate::session::ReviewCapability;

/// Who a patient key stands for, as the snapshot knows the patient now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientIdentity {
    pub key: String,
    pub name: Option<String>,
    pub kana: Option<String>,
    pub hospital_id: Option<String>,
    pub birth_date: Option<NaiveDate>,
}

impl PatientIdentity {
    /// `山田 太郎（ヤマダ タロウ）ID 000123 1950-01-02`, leaving out what is unknown.
    pub fn label(&self) -> String {
        let mut out = self.name.clone().unwrap_or_default();
        if let Some(kana) = &self.kana {
            if out.is_empty() {
                out.push_str(kana);
            } else {
                out.push_str(&format!("（{kana}）"));
            }
        }
        if let Some(id) = &self.hospital_id {
            out.push_str(&format!(" ID {id}"));
        }
        if let Some(d) = self.birth_date {
            out.push_str(&format!(" {d}"));
        }
        out.trim().to_owned()
    }
}

/// Why the snapshot could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Encrypted and its key not in memory: the caller says how to unlock it.
    #[error("the snapshot is locked")]
    Locked,
    #[error("the snapshot could not be read: {0}")]
    Unavailable(String),
}

/// The snapshot's patients, as the review needs them. Blocking.
pub trait PatientDirectory: Send + Sync {
    /// The patient with this key, `None` when the current snapshot has no such patient.
    fn identify(&self, key: &str) -> Result<Option<PatientIdentity>, DirectoryError>;
    /// Patients by hospital ID, name or kana (as the clinicians' search understands it).
    fn find(&self, query: &str) -> Result<Vec<PatientIdentity>, DirectoryError>;
}

/// Names behind patient keys, made only by [`resolve`] after its audit entry was
/// committed.
#[derive(Debug)]
pub struct Resolution {
    names: HashMap<String, PatientIdentity>,
    receipt: AuditReceipt,
}

impl Resolution {
    /// The patient behind `key`; `None` for a key the current snapshot does not know.
    pub fn get(&self, key: &str) -> Option<&PatientIdentity> {
        self.names.get(key)
    }

    /// How many of the keys the snapshot resolved.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The `ReviewResolved` entry that recorded this resolution.
    pub fn receipt(&self) -> &AuditReceipt {
        &self.receipt
    }

    /// `key` as a person reads it: the patient's label and the key, or the key alone
    /// (with a note) when the snapshot no longer has the patient.
    pub fn describe(&self, key: &str) -> String {
        match self.get(key) {
            Some(p) => format!("{} [{key}]", p.label()),
            None => format!("{key} (not in the current snapshot)"),
        }
    }
}

/// Where and as whom a review act is done, for its audit entry.
#[derive(Clone)]
pub struct ReviewAct<'a> {
    pub reviewer: &'a ReviewCapability,
    pub sink: &'a dyn AuditSink,
    pub client: Client,
    pub mode: Mode,
    /// Why, as the reviewer gave it (required).
    pub purpose: &'a str,
}

impl ReviewAct<'_> {
    fn record(&self, action: Action, patient: Option<String>) -> Result<AuditReceipt, ReviewError> {
        Ok(self.sink.record(AuditEvent {
            time: Utc::now(),
            actor: self.reviewer.actor(),
            action,
            patient,
            details: None,
            client: self.client.clone(),
            mode: self.mode,
        })?)
    }

    fn purpose(&self) -> Result<String, ReviewError> {
        let p = self.purpose.trim();
        if p.is_empty() {
            return Err(ReviewError::PurposeRequired);
        }
        Ok(p.to_owned())
    }
}

/// Resolves `keys` (each distinct key once) to the patients the snapshot holds, records a
/// `ReviewResolved` entry naming the keys and the purpose, and only then returns the
/// names. Nothing is returned if the entry cannot be written.
pub fn resolve<'k>(
    act: &ReviewAct<'_>,
    directory: &dyn PatientDirectory,
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<Resolution, ReviewError> {
    let purpose = act.purpose()?;
    let distinct: BTreeSet<&str> = keys.into_iter().filter(|k| !k.is_empty()).collect();
    let mut names = HashMap::with_capacity(distinct.len());
    for key in &distinct {
        if let Some(p) = directory.identify(key)? {
            names.insert((*key).to_owned(), p);
        }
    }
    let receipt = act.record(
        Action::ReviewResolved {
            keys: distinct.into_iter().map(str::to_owned).collect(),
            purpose,
        },
        None,
    )?;
    Ok(Resolution { names, receipt })
}

/// A reviewer's patient search: the patients found, after a `ReviewResolved` entry
/// listing their keys (their names are about to be shown) was committed.
pub fn find_patients(
    act: &ReviewAct<'_>,
    directory: &dyn PatientDirectory,
    query: &str,
) -> Result<Vec<PatientIdentity>, ReviewError> {
    let purpose = act.purpose()?;
    let found = directory.find(query.trim())?;
    let _receipt = act.record(
        Action::ReviewResolved {
            keys: found.iter().map(|p| p.key.clone()).collect(),
            purpose,
        },
        None,
    )?;
    Ok(found)
}

/// How a session saw a patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sighting {
    /// The record was opened.
    Read,
    /// The record was printed.
    Printed,
    /// The record was printed with the whole ward.
    WardPrinted,
    /// The name was listed in search results.
    SearchResult,
    /// The name was listed in a ward's census.
    WardList,
}

impl Sighting {
    pub fn as_str(self) -> &'static str {
        match self {
            Sighting::Read => "read",
            Sighting::Printed => "printed",
            Sighting::WardPrinted => "ward_printed",
            Sighting::SearchResult => "search_result",
            Sighting::WardList => "ward_list",
        }
    }

    fn of(action: &Action, on_entry: bool, key: &str) -> Option<Sighting> {
        let listed = |keys: &[String]| keys.iter().any(|k| k == key);
        match action {
            Action::PatientRead if on_entry => Some(Sighting::Read),
            Action::PatientPrint if on_entry => Some(Sighting::Printed),
            Action::WardPrint { keys, .. } if listed(keys) => Some(Sighting::WardPrinted),
            Action::PatientSearch { keys, .. } if listed(keys) => Some(Sighting::SearchResult),
            Action::WardCensus { keys, .. } if listed(keys) => Some(Sighting::WardList),
            _ => None,
        }
    }
}

/// One entry of a session that saw the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SightingEntry {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub how: Sighting,
}

/// A session that saw the patient, with every entry that did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSighting {
    pub session_id: String,
    pub account_id: String,
    pub declared: Option<DeclaredPerson>,
    /// The episode of its first sighting (`None`: outside every episode).
    pub episode: Option<u64>,
    pub entries: Vec<SightingEntry>,
}

/// Every session, in any episode, that saw the patient with `key`, in order of their first
/// sighting; the patient's identity when the snapshot still has them. Recorded first as a
/// `ReviewPatientLookup` entry naming the patient and the purpose.
pub fn patient_sessions(
    act: &ReviewAct<'_>,
    directory: &dyn PatientDirectory,
    ledger: &Ledger,
    key: &str,
) -> Result<(Option<PatientIdentity>, Vec<SessionSighting>), ReviewError> {
    let purpose = act.purpose()?;
    let identity = directory.identify(key)?;
    let _receipt = act.record(
        Action::ReviewPatientLookup { purpose },
        Some(key.to_owned()),
    )?;
    let all = episodes(ledger)?;
    let mut sessions: BTreeMap<String, SessionSighting> = BTreeMap::new();
    ledger.scan(1..=u64::MAX, |e, _| -> Result<(), LedgerError> {
        let Some(session_id) = e.session_id() else {
            return Ok(());
        };
        let on_entry = e.patient.as_deref() == Some(key);
        let Some(how) = Sighting::of(&e.action, on_entry, key) else {
            return Ok(());
        };
        let s = sessions
            .entry(session_id.to_owned())
            .or_insert_with(|| SessionSighting {
                session_id: session_id.to_owned(),
                account_id: e.account_id().unwrap_or_default().to_owned(),
                declared: None,
                episode: all.iter().find(|ep| ep.contains(e.seq)).map(|ep| ep.id),
                entries: Vec::new(),
            });
        if let crate::event::Actor::Emergency {
            declared: Some(p), ..
        } = &e.actor
        {
            s.declared = Some(p.clone());
        }
        s.entries.push(SightingEntry {
            seq: e.seq,
            time: e.time,
            how,
        });
        Ok(())
    })?;
    let mut out: Vec<SessionSighting> = sessions.into_values().collect();
    out.sort_by_key(|s| s.entries.first().map_or(0, |e| e.seq));
    Ok((identity, out))
}
