//! What the node does when the current generation turns out to be damaged.
//!
//! A generation is immutable once committed, but the disk under it is not: a bad sector,
//! a failing SSD or someone editing the file can change stored bytes later. Every stored
//! version carries the SHA-256 of its content and every manifest the set hash over its
//! versions, so damage is *detected* by [`Store::verify`], by the reader while it builds
//! the search index, and when it reads a patient's items (see `read.rs`).
//!
//! [`Store::check_current`] is the recovery: it verifies the current generation and, if
//! that fails (a bad report, or an error reading a damaged page), verifies the older
//! retained generations newest first and makes a copy of the first that verifies current
//! (an ordinary [`Store::rollback`]: history stays linear, the damaged generations stay
//! listed for the administrator to inspect until retention removes them). Either way it
//! records an [`IntegrityAlert`] in the store's metadata, so the node can tell the
//! administrators (sync status, `/healthz`, admin page) until one of them clears it.
//! Alerts name generations and counts only, never patient data.

use chrono::{DateTime, Utc};
use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

use super::tables::META;
use super::{Store, StoreError};

const ALERT_KEY: &str = "integrity_alert";

/// A data-free notice that stored snapshot data was found damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityAlert {
    /// When the damage was found.
    pub at: DateTime<Utc>,
    /// Generations that failed verification, newest first.
    pub damaged: Vec<u64>,
    /// The newest older generation that verified, whose copy is now served (`None`: no
    /// retained generation verified and nothing was changed).
    pub restored_from: Option<u64>,
    /// The generation made current by the fall-back (a rollback copy of `restored_from`).
    pub now_current: Option<u64>,
    /// What verification found in the newest damaged generation (counts, no data).
    pub problem: String,
}

impl IntegrityAlert {
    /// One line for an administrator.
    pub fn message(&self) -> String {
        let damaged: Vec<String> = self.damaged.iter().map(u64::to_string).collect();
        match (self.restored_from, self.now_current) {
            (Some(from), Some(now)) => format!(
                "snapshot damage found at {}: generation(s) {} failed verification ({}); \
                 now serving generation {now}, a copy of generation {from} (older data). \
                 Check the disk, run `akari sync now --full`, then clear this alert",
                self.at.format("%Y-%m-%d %H:%M:%SZ"),
                damaged.join(", "),
                self.problem
            ),
            _ => format!(
                "snapshot damage found at {}: generation(s) {} failed verification ({}) and \
                 no retained generation verifies; damaged records are refused. Check the \
                 disk and run `akari sync now --full`",
                self.at.format("%Y-%m-%d %H:%M:%SZ"),
                damaged.join(", "),
                self.problem
            ),
        }
    }
}

/// The outcome of [`Store::check_current`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// No generation yet.
    Empty,
    /// The current generation verified.
    Verified(u64),
    /// The current generation was damaged; a copy of an older one is now current.
    FellBack(IntegrityAlert),
    /// The current generation was damaged and no retained generation verifies.
    NothingVerifies(IntegrityAlert),
}

/// Verify one generation; a read error on a damaged page counts as a failed verification.
/// Errors of the storage device (I/O, disk full) are returned: they say nothing about
/// the data.
fn check(store: &Store, generation: u64) -> Result<Option<String>, StoreError> {
    match store.verify(generation) {
        Ok(r) if r.ok() => Ok(None),
        Ok(r) => Ok(Some(format!(
            "{} damaged item(s) of {} checked, counts match: {}, set hash matches: {}",
            r.corrupt_items, r.items_checked, r.counts_match, r.set_hash_matches
        ))),
        Err(e @ (StoreError::Corrupt(_) | StoreError::Database(_))) => {
            Ok(Some(format!("stored data unreadable: {e}")))
        }
        Err(e) => Err(e),
    }
}

impl Store {
    /// Verify the current generation; if it is damaged, fall back to (a copy of) the newest
    /// older generation that verifies and record an [`IntegrityAlert`]. Reads every
    /// version of the generations it checks (seconds for a large snapshot): run it at
    /// start-up before serving, periodically, and when a read finds damage.
    pub fn check_current(&self) -> Result<Integrity, StoreError> {
        let Some(current) = self.current()? else {
            return Ok(Integrity::Empty);
        };
        let Some(problem) = check(self, current.generation)? else {
            return Ok(Integrity::Verified(current.generation));
        };
        tracing::error!(
            generation = current.generation,
            %problem,
            "the current snapshot generation failed verification; looking for an older one"
        );
        let mut damaged = vec![current.generation];
        let mut older: Vec<u64> = self
            .list()?
            .into_iter()
            .map(|g| g.manifest.generation)
            .filter(|g| *g < current.generation)
            .collect();
        older.sort_unstable_by(|a, b| b.cmp(a));
        for g in older {
            match check(self, g)? {
                Some(_) => damaged.push(g),
                None => {
                    let copy = self.rollback(g)?;
                    let alert = IntegrityAlert {
                        at: Utc::now(),
                        damaged,
                        restored_from: Some(g),
                        now_current: Some(copy.generation),
                        problem,
                    };
                    self.set_integrity_alert(&alert)?;
                    tracing::error!(
                        restored_from = g,
                        now_current = copy.generation,
                        "fell back to an older snapshot generation that verifies"
                    );
                    return Ok(Integrity::FellBack(alert));
                }
            }
        }
        let alert = IntegrityAlert {
            at: Utc::now(),
            damaged,
            restored_from: None,
            now_current: None,
            problem,
        };
        self.set_integrity_alert(&alert)?;
        Ok(Integrity::NothingVerifies(alert))
    }

    /// The last recorded alert, until an administrator clears it.
    pub fn integrity_alert(&self) -> Result<Option<IntegrityAlert>, StoreError> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(v) = meta.get(ALERT_KEY)? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|_| StoreError::Corrupt("integrity alert".into()))
    }

    /// An administrator has seen the alert (and, ideally, run a full sync).
    pub fn clear_integrity_alert(&self) -> Result<(), StoreError> {
        let txn = self.db().begin_write()?;
        txn.open_table(META)?.remove(ALERT_KEY)?;
        txn.commit()?;
        Ok(())
    }

    fn set_integrity_alert(&self, alert: &IntegrityAlert) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(alert).expect("alert serialises");
        let txn = self.db().begin_write()?;
        txn.open_table(META)?.insert(ALERT_KEY, bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }
}
