//! Downtime records: what clinicians gave and measured during an outage (medication
//! administrations, vital signs, notes), kept in their own append-only store beside the
//! snapshot — never inside a synced generation, so no sync can hide or replace them — and
//! handed back for back-entry after recovery.
//!
//! * **Append-only.** [`DowntimeStore::append`] is the only write of an entry. A
//!   correction is a new entry that names the one it supersedes and why; nothing is
//!   edited or deleted. Marking entries reconciled (entered back) is a separate table.
//! * **Durable before acknowledged.** Every append is one redb commit with immediate
//!   durability (fsynced) before it returns.
//! * **Audited first.** The store knows nothing of the ledger: its callers (the web pages)
//!   write the audit entry first and pass its sequence number in
//!   ([`Entry::audit_seq`]); a refused audit entry means no call here.
//! * **Encrypted at rest with the snapshot's key.** Each entry's content is sealed by a
//!   [`Cipher`] the composition root supplies: on a node with a snapshot key it seals to
//!   the same X25519 public key as the snapshot (a fresh data key per entry, wrapped
//!   like a generation's), so recording needs no secret and reading needs the snapshot
//!   secret that a sealed-account, admin or recovery-key login unlocks — the same key
//!   slots and unlock path, no second key scheme. A node without a snapshot key keeps
//!   its snapshot in plain form and, with [`Plain`], its downtime records too. What stays
//!   readable without the key is only what the store needs to index: entry numbers, the
//!   opaque patient key, the episode and the reconciliation marks.
//!
//! The crate depends on neither the sync nor the accounts crate: patients are opaque
//! keys, people are the declaration copied in.

pub mod fhir;
pub mod model;
pub mod sign;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use zeroize::Zeroizing;

pub use model::{
    Administration, DoseRef, Entry, Note, NoteKind, Outcome, Person, Reconciliation, Record,
    Recorder, Subject, Supersedes, Vitals,
};

/// Entry id → sealed JSON of the [`Entry`].
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// (patient key, entry id): the entries of a patient.
const BY_PATIENT: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_patient");
/// (episode, entry id): the entries of an episode.
const BY_EPISODE: TableDefinition<(u64, u64), ()> = TableDefinition::new("by_episode");
/// Entry id → id of the entry that supersedes it.
const SUPERSEDED: TableDefinition<u64, u64> = TableDefinition::new("superseded");
/// Entry id → JSON of its [`Reconciliation`].
const RECONCILED: TableDefinition<u64, &str> = TableDefinition::new("reconciled");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the downtime store failed: {0}")]
    Storage(String),
    #[error("{field} {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("downtime entry {0} does not exist")]
    NoSuchEntry(u64),
    #[error("downtime entry {entry} was already corrected by entry {by}: correct that one")]
    AlreadySuperseded { entry: u64, by: u64 },
    #[error("downtime entry {0} is about another patient")]
    OtherPatient(u64),
    #[error(
        "the downtime records are encrypted and the snapshot key is locked: log in with a \
         sealed account or as an admin, or unlock with the recovery key"
    )]
    Locked,
    #[error("a downtime entry failed authentication (damaged, or moved from elsewhere)")]
    Damaged,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn storage(e: impl std::fmt::Display) -> Error {
    Error::Storage(e.to_string())
}

/// Seals and opens an entry's content, bound to its id (a sealed entry cannot be moved
/// to another id).
pub trait Cipher: Send + Sync {
    fn seal(&self, id: u64, plain: &[u8]) -> Result<Vec<u8>>;
    fn open(&self, id: u64, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// No encryption: for a node whose snapshot is not encrypted either (no snapshot key) and
/// for tests of other things. A version byte tells it from a sealed value.
pub struct Plain;

const PLAIN_TAG: u8 = 0;

impl Cipher for Plain {
    fn seal(&self, _id: u64, plain: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(plain.len() + 1);
        out.push(PLAIN_TAG);
        out.extend_from_slice(plain);
        Ok(out)
    }

    fn open(&self, _id: u64, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match sealed.split_first() {
            Some((&PLAIN_TAG, rest)) => Ok(Zeroizing::new(rest.to_vec())),
            // Sealed by a node that has since lost its key file: not readable here.
            _ => Err(Error::Locked),
        }
    }
}

/// What a caller asks to append; the store gives it its id and storage time.
#[derive(Debug, Clone)]
pub struct Draft {
    pub patient: String,
    pub subject: Subject,
    pub recorder: Recorder,
    pub refers_to: DateTime<Utc>,
    pub ward: String,
    pub outside_ward: bool,
    pub audit_seq: u64,
    pub supersedes: Option<Supersedes>,
    pub record: Record,
}

/// An entry with what later happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub entry: Entry,
    /// The entry that corrected this one, if any.
    pub superseded_by: Option<u64>,
    pub reconciled: Option<Reconciliation>,
}

/// The append-only downtime store (`<data>/downtime.redb`).
#[derive(Clone)]
pub struct DowntimeStore {
    db: Arc<Database>,
    cipher: Arc<dyn Cipher>,
}

impl std::fmt::Debug for DowntimeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DowntimeStore")
    }
}

impl DowntimeStore {
    /// Opens (creating if needed) the store file at `path`.
    pub fn open(path: &Path, cipher: Arc<dyn Cipher>) -> Result<Self> {
        let db = Database::create(path).map_err(storage)?;
        Self::with_database(db, cipher)
    }

    /// The store in `db` (tests pass an in-memory database).
    pub fn with_database(db: Database, cipher: Arc<dyn Cipher>) -> Result<Self> {
        let tx = db.begin_write().map_err(storage)?;
        tx.open_table(ENTRIES).map_err(storage)?;
        tx.open_table(BY_PATIENT).map_err(storage)?;
        tx.open_table(BY_EPISODE).map_err(storage)?;
        tx.open_table(SUPERSEDED).map_err(storage)?;
        tx.open_table(RECONCILED).map_err(storage)?;
        tx.commit().map_err(storage)?;
        Ok(DowntimeStore {
            db: Arc::new(db),
            cipher,
        })
    }

    /// Checks a draft without storing it (the pages check before auditing).
    pub fn check(&self, draft: &Draft) -> Result<()> {
        draft.record.validate()?;
        model::text("patient", &draft.patient, model::MAX_FIELD_CHARS, true)?;
        if let Some(s) = &draft.supersedes {
            model::text("reason", &s.reason, model::MAX_TEXT_CHARS, true)?;
            let tx = self.db.begin_read().map_err(storage)?;
            self.check_supersedes(
                &tx.open_table(ENTRIES).map_err(storage)?,
                &tx.open_table(SUPERSEDED).map_err(storage)?,
                &draft.patient,
                s.entry,
            )?;
        }
        Ok(())
    }

    fn check_supersedes(
        &self,
        entries: &impl ReadableTable<u64, &'static [u8]>,
        superseded: &impl ReadableTable<u64, u64>,
        patient: &str,
        id: u64,
    ) -> Result<()> {
        let Some(sealed) = entries.get(id).map_err(storage)? else {
            return Err(Error::NoSuchEntry(id));
        };
        let earlier = self.decode(id, sealed.value())?;
        if earlier.patient != patient {
            return Err(Error::OtherPatient(id));
        }
        if let Some(by) = superseded.get(id).map_err(storage)? {
            return Err(Error::AlreadySuperseded {
                entry: id,
                by: by.value(),
            });
        }
        Ok(())
    }

    /// Stores `draft` as the next entry, durably (fsynced) before returning it.
    pub fn append(&self, draft: Draft) -> Result<Entry> {
        draft.record.validate()?;
        let tx = self.db.begin_write().map_err(storage)?;
        let entry = {
            let mut entries = tx.open_table(ENTRIES).map_err(storage)?;
            let mut superseded = tx.open_table(SUPERSEDED).map_err(storage)?;
            if let Some(s) = &draft.supersedes {
                self.check_supersedes(&entries, &superseded, &draft.patient, s.entry)?;
            }
            let id = entries
                .last()
                .map_err(storage)?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(1);
            let entry = Entry {
                id,
                patient: draft.patient,
                subject: draft.subject,
                recorder: draft.recorder,
                recorded_at: Utc::now(),
                refers_to: draft.refers_to,
                ward: draft.ward,
                outside_ward: draft.outside_ward,
                audit_seq: draft.audit_seq,
                supersedes: draft.supersedes,
                record: draft.record,
            };
            let json = Zeroizing::new(serde_json::to_vec(&entry).map_err(storage)?);
            let sealed = self.cipher.seal(id, &json)?;
            entries.insert(id, sealed.as_slice()).map_err(storage)?;
            tx.open_table(BY_PATIENT)
                .map_err(storage)?
                .insert((entry.patient.as_str(), id), ())
                .map_err(storage)?;
            tx.open_table(BY_EPISODE)
                .map_err(storage)?
                .insert((entry.recorder.episode, id), ())
                .map_err(storage)?;
            if let Some(s) = &entry.supersedes {
                superseded.insert(s.entry, id).map_err(storage)?;
            }
            entry
        };
        tx.commit().map_err(storage)?;
        Ok(entry)
    }

    fn decode(&self, id: u64, sealed: &[u8]) -> Result<Entry> {
        let plain = self.cipher.open(id, sealed)?;
        let entry: Entry = serde_json::from_slice(&plain).map_err(|_| Error::Damaged)?;
        if entry.id != id {
            return Err(Error::Damaged);
        }
        Ok(entry)
    }

    /// Entries by id, with what became of them, in the order of `ids`.
    fn listed(&self, ids: impl IntoIterator<Item = u64>) -> Result<Vec<Listed>> {
        let tx = self.db.begin_read().map_err(storage)?;
        let entries = tx.open_table(ENTRIES).map_err(storage)?;
        let superseded = tx.open_table(SUPERSEDED).map_err(storage)?;
        let reconciled = tx.open_table(RECONCILED).map_err(storage)?;
        let mut out = Vec::new();
        for id in ids {
            let Some(sealed) = entries.get(id).map_err(storage)? else {
                return Err(Error::NoSuchEntry(id));
            };
            let entry = self.decode(id, sealed.value())?;
            let reconciled = match reconciled.get(id).map_err(storage)? {
                Some(r) => Some(serde_json::from_str(r.value()).map_err(|_| Error::Damaged)?),
                None => None,
            };
            out.push(Listed {
                entry,
                superseded_by: superseded.get(id).map_err(storage)?.map(|v| v.value()),
                reconciled,
            });
        }
        Ok(out)
    }

    /// One patient's entries, in the order of the time they refer to (then of recording).
    pub fn patient(&self, patient: &str) -> Result<Vec<Listed>> {
        let ids = {
            let tx = self.db.begin_read().map_err(storage)?;
            let index = tx.open_table(BY_PATIENT).map_err(storage)?;
            let range = index
                .range((patient, 0)..=(patient, u64::MAX))
                .map_err(storage)?;
            range
                .map(|r| r.map(|(k, _)| k.value().1))
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage)?
        };
        let mut out = self.listed(ids)?;
        sort_by_time(&mut out);
        Ok(out)
    }

    /// Every entry of `episode` (every entry when `None`), in time order.
    pub fn entries(&self, episode: Option<u64>) -> Result<Vec<Listed>> {
        let ids = self.entry_ids(episode)?;
        let mut out = self.listed(ids)?;
        sort_by_time(&mut out);
        Ok(out)
    }

    /// The ids of the entries of `episode` (every entry when `None`), from the index:
    /// needs no key.
    pub fn entry_ids(&self, episode: Option<u64>) -> Result<Vec<u64>> {
        let tx = self.db.begin_read().map_err(storage)?;
        let index = tx.open_table(BY_EPISODE).map_err(storage)?;
        let range = match episode {
            Some(e) => index.range((e, 0)..=(e, u64::MAX)),
            None => index.range::<(u64, u64)>(..),
        }
        .map_err(storage)?;
        range
            .map(|r| r.map(|(k, _)| k.value().1))
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage)
    }

    /// Fails unless every id names an entry.
    pub fn check_ids(&self, ids: &[u64]) -> Result<()> {
        let tx = self.db.begin_read().map_err(storage)?;
        let entries = tx.open_table(ENTRIES).map_err(storage)?;
        for &id in ids {
            if entries.get(id).map_err(storage)?.is_none() {
                return Err(Error::NoSuchEntry(id));
            }
        }
        Ok(())
    }

    /// Episodes with entries, and how many entries each has not yet marked reconciled
    /// (drill entries included: a drill's entries are reconciled by being dismissed).
    /// Needs no key: only the index is read.
    pub fn unreconciled(&self) -> Result<BTreeMap<u64, u64>> {
        let tx = self.db.begin_read().map_err(storage)?;
        let index = tx.open_table(BY_EPISODE).map_err(storage)?;
        let reconciled = tx.open_table(RECONCILED).map_err(storage)?;
        let mut out = BTreeMap::new();
        for row in index.range::<(u64, u64)>(..).map_err(storage)? {
            let (k, _) = row.map_err(storage)?;
            let (episode, id) = k.value();
            let open = reconciled.get(id).map_err(storage)?.is_none();
            *out.entry(episode).or_insert(0) += u64::from(open);
        }
        Ok(out)
    }

    /// How many entries remain un-reconciled, over all episodes.
    pub fn unreconciled_total(&self) -> Result<u64> {
        Ok(self.unreconciled()?.values().sum())
    }

    /// Marks `ids` reconciled (entered back into the hospital's records) by `by`; the
    /// caller audited it first (`audit_seq`). Ids already marked keep their first mark.
    /// Returns how many were newly marked.
    pub fn mark_reconciled(&self, ids: &[u64], by: &str, audit_seq: u64) -> Result<usize> {
        let tx = self.db.begin_write().map_err(storage)?;
        let mut marked = 0;
        {
            let entries = tx.open_table(ENTRIES).map_err(storage)?;
            let mut reconciled = tx.open_table(RECONCILED).map_err(storage)?;
            let mark = Reconciliation {
                at: Utc::now(),
                by: by.to_owned(),
                audit_seq,
            };
            let json = serde_json::to_string(&mark).map_err(storage)?;
            for &id in ids {
                if entries.get(id).map_err(storage)?.is_none() {
                    return Err(Error::NoSuchEntry(id));
                }
                if reconciled.get(id).map_err(storage)?.is_none() {
                    reconciled.insert(id, json.as_str()).map_err(storage)?;
                    marked += 1;
                }
            }
        }
        tx.commit().map_err(storage)?;
        Ok(marked)
    }
}

fn sort_by_time(entries: &mut [Listed]) {
    entries.sort_by_key(|a| (a.entry.refers_to, a.entry.id));
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn memory() -> DowntimeStore {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        DowntimeStore::with_database(db, Arc::new(Plain)).unwrap()
    }

    fn draft(patient: &str, record: Record) -> Draft {
        Draft {
            patient: patient.into(),
            subject: Subject::default(),
            recorder: Recorder {
                account_id: "ER-1".into(),
                session_id: "s1".into(),
                person: Person {
                    name: "灯 花子".into(),
                    staff_number: "N-1".into(),
                    profession: "看護師".into(),
                    department: "4東".into(),
                },
                episode: 3,
                drill: true,
            },
            refers_to: Utc::now(),
            ward: "4東".into(),
            outside_ward: false,
            audit_seq: 10,
            supersedes: None,
            record,
        }
    }

    fn note(text: &str) -> Record {
        Record::Note(Note {
            author: NoteKind::Nursing,
            text: text.into(),
        })
    }

    #[test]
    fn corrections_supersede_without_deleting() {
        let store = memory();
        let first = store.append(draft("p1", note("食事全量摂取"))).unwrap();
        store.append(draft("p2", note("other patient"))).unwrap();
        let mut fix = draft("p1", note("食事半量摂取"));
        fix.supersedes = Some(Supersedes {
            entry: first.id,
            reason: "誤記".into(),
        });
        let second = store.append(fix.clone()).unwrap();
        // The first is corrected once; a second correction must correct the correction.
        assert!(matches!(
            store.append(fix.clone()),
            Err(Error::AlreadySuperseded { entry: 1, by: 3 })
        ));
        // Another patient's entry cannot be corrected from here.
        fix.supersedes = Some(Supersedes {
            entry: 2,
            reason: "x".into(),
        });
        assert!(matches!(store.append(fix), Err(Error::OtherPatient(2))));
        let listed = store.patient("p1").unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].entry, first);
        assert_eq!(listed[0].superseded_by, Some(second.id));
        assert_eq!(listed[1].superseded_by, None);
        assert_eq!(store.entries(Some(3)).unwrap().len(), 3);
        assert_eq!(store.entries(Some(4)).unwrap().len(), 0);
        assert_eq!(store.unreconciled_total().unwrap(), 3);
        assert_eq!(store.mark_reconciled(&[1, 2], "admin-1", 20).unwrap(), 2);
        assert_eq!(store.mark_reconciled(&[1], "admin-2", 21).unwrap(), 0);
        assert_eq!(store.unreconciled_total().unwrap(), 1);
        assert_eq!(
            store.patient("p1").unwrap()[0]
                .reconciled
                .as_ref()
                .unwrap()
                .by,
            "admin-1"
        );
        assert!(matches!(
            store.mark_reconciled(&[99], "a", 1),
            Err(Error::NoSuchEntry(99))
        ));
    }

    #[test]
    fn records_are_checked() {
        let store = memory();
        assert!(store.append(draft("p1", note("  "))).is_err());
        let vitals = |v: Vitals| draft("p1", Record::Vitals(v));
        assert!(store.append(vitals(Vitals::default())).is_err());
        assert!(store
            .append(vitals(Vitals {
                temperature: Some(52.0),
                ..Vitals::default()
            }))
            .is_err());
        assert!(store
            .append(vitals(Vitals {
                systolic: Some(120),
                ..Vitals::default()
            }))
            .is_err());
        assert!(store
            .append(vitals(Vitals {
                temperature: Some(37.2),
                systolic: Some(120),
                diastolic: Some(70),
                ..Vitals::default()
            }))
            .is_ok());
        assert!(store.patient("p1").unwrap().len() == 1);
    }
}
