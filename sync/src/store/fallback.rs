//! What the node does when stored snapshot data turns out to be damaged.
//!
//! A generation is immutable once committed, but the disk under it is not: a bad sector,
//! a failing SSD or someone editing the file can change stored bytes later. Every stored
//! version carries the SHA-256 of its content and every manifest the set hash over its
//! versions, so damage is *detected* by [`Store::verify`], by the reader while it builds
//! the search index, and when it reads a patient's items (see `read.rs`).
//!
//! [`Store::check_current`] is the recovery: it verifies every retained generation (one pass
//! per epoch). If the current one is damaged, it makes a copy of the newest older good
//! generation that verifies current (an ordinary [`Store::rollback`]: history stays
//! linear, the damaged generations stay listed for the administrator to inspect until
//! retention removes them); if none does, it brings back the second copy's generation (see
//! [`super::copy`]). Damage to older generations only is reported too: they can no longer
//! be rolled back to. A snapshot file that cannot be opened at all is handled before, by
//! [`Store::open_with_copy`]. Each case records an [`IntegrityAlert`] in the store's
//! metadata, so the node can tell the administrators (sync status, `/healthz`, admin
//! pages, `akari status`) until one of them clears it. Alerts name generations and counts
//! only, never patient data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::tables::META;
use super::{Store, StoreError, VerifyReport};

const ALERT_KEY: &str = "integrity_alert";

/// The snapshot file itself could not be used (see [`Store::open_with_copy`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDamage {
    /// What was wrong with it (no data).
    pub problem: String,
    /// Where the damaged file was moved for inspection.
    pub moved_to: Option<String>,
}

/// A data-free notice that stored snapshot data was found damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityAlert {
    /// When the damage was found.
    pub at: DateTime<Utc>,
    /// Generations that failed verification, newest first.
    pub damaged: Vec<u64>,
    /// The generation whose copy is now served (`None`: nothing was restored).
    pub restored_from: Option<u64>,
    /// The generation made current by the fall-back.
    pub now_current: Option<u64>,
    /// What verification found in the newest damaged generation (counts, no data).
    pub problem: String,
    /// `restored_from` is the second copy's generation, not one of this file.
    #[serde(default)]
    pub from_copy: bool,
    /// Only older generations are damaged: the current one verified and is served.
    #[serde(default)]
    pub current_ok: bool,
    /// The whole snapshot file could not be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileDamage>,
    /// Why the second copy could not help, when it was needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_problem: Option<String>,
}

impl IntegrityAlert {
    fn new(damaged: Vec<u64>, problem: String) -> IntegrityAlert {
        IntegrityAlert {
            at: Utc::now(),
            damaged,
            restored_from: None,
            now_current: None,
            problem,
            from_copy: false,
            current_ok: false,
            file: None,
            copy_problem: None,
        }
    }

    /// The snapshot file was unusable; `restored`: the second copy's generation now served.
    pub(crate) fn file_damaged(
        file: FileDamage,
        restored: Option<u64>,
        copy_problem: Option<String>,
    ) -> IntegrityAlert {
        IntegrityAlert {
            restored_from: restored,
            now_current: restored,
            from_copy: restored.is_some(),
            copy_problem,
            problem: file.problem.clone(),
            file: Some(file),
            ..IntegrityAlert::new(Vec::new(), String::new())
        }
    }

    /// One line for an administrator.
    pub fn message(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = &self.file {
            parts.push(match &f.moved_to {
                Some(to) => format!(
                    "the snapshot file could not be used ({}); it was moved to {to}",
                    f.problem
                ),
                None => format!("the snapshot file could not be used ({})", f.problem),
            });
        }
        if !self.damaged.is_empty() {
            let damaged: Vec<String> = self.damaged.iter().map(u64::to_string).collect();
            parts.push(format!(
                "generation(s) {} failed verification ({})",
                damaged.join(", "),
                self.problem
            ));
        }
        let copy_problem = self
            .copy_problem
            .as_ref()
            .map(|p| format!(" (second copy: {p})"))
            .unwrap_or_default();
        parts.push(match (self.restored_from, self.now_current) {
            _ if self.current_ok => "the current generation verifies and is served; the \
                damaged older generation(s) can no longer be rolled back to"
                .to_owned(),
            (Some(from), Some(now)) if self.from_copy && from == now => {
                format!("generation {from} was restored from the second copy and is served")
            }
            (Some(from), Some(now)) if self.from_copy => format!(
                "now serving generation {now}, generation {from} brought back from the second copy"
            ),
            (Some(from), Some(now)) => {
                format!("now serving generation {now}, a copy of generation {from} (older data)")
            }
            _ if self.file.is_some() => {
                format!("no usable second copy{copy_problem}: the node holds no snapshot")
            }
            _ => format!(
                "no retained generation verifies{copy_problem}; damaged records are refused"
            ),
        });
        format!(
            "snapshot damage found at {}: {}. Check the disk, run `akari sync now --full`, \
             then clear this alert",
            self.at.format("%Y-%m-%d %H:%M:%SZ"),
            parts.join("; ")
        )
    }
}

/// The outcome of [`Store::check_current`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// No generation yet.
    Empty,
    /// Every retained generation verified (the current one is given).
    Verified(u64),
    /// The current generation verified; older ones are damaged.
    OlderDamaged(IntegrityAlert),
    /// The current generation was damaged; a copy of an older one (or of the second
    /// copy's generation) is now current.
    FellBack(IntegrityAlert),
    /// The current generation was damaged and no retained generation verifies, nor the
    /// second copy.
    NothingVerifies(IntegrityAlert),
}

/// What verification found wrong with one generation (`None`: it verified). A read error
/// on a damaged page counts as a failed verification.
fn problem(result: &Result<VerifyReport, StoreError>) -> Option<String> {
    match result {
        Ok(r) if r.ok() => None,
        Ok(r) => Some(format!(
            "{} damaged item(s) of {} checked, counts match: {}, set hash matches: {}",
            r.corrupt_items, r.items_checked, r.counts_match, r.set_hash_matches
        )),
        Err(e) => Some(format!("stored data unreadable: {e}")),
    }
}

impl Store {
    /// Verify every retained generation; if the current one is damaged, fall back to (a
    /// copy of) the newest older good generation that verifies, else to the second copy,
    /// and record an [`IntegrityAlert`] (also when only older generations are damaged).
    /// Reads every version once per epoch (seconds for a large snapshot): run it at
    /// start-up before serving, periodically, and when a read finds damage. Errors of the
    /// storage device (I/O, disk full) are returned: they say nothing about the data.
    pub fn check_current(&self) -> Result<Integrity, StoreError> {
        let Some(current) = self.current()? else {
            return Ok(Integrity::Empty);
        };
        let results = self.verify_all()?;
        let damaged: Vec<(u64, String)> = results
            .iter()
            .filter_map(|(m, r)| problem(r).map(|p| (m.generation, p)))
            .collect();
        let Some((_, current_problem)) = damaged.iter().find(|(g, _)| *g == current.generation)
        else {
            if damaged.is_empty() {
                return Ok(Integrity::Verified(current.generation));
            }
            let mut alert = IntegrityAlert::new(
                damaged.iter().map(|(g, _)| *g).collect(),
                damaged[0].1.clone(),
            );
            alert.current_ok = true;
            alert.now_current = Some(current.generation);
            tracing::error!(alert = %alert.message(), "older snapshot generations are damaged");
            self.set_integrity_alert(&alert)?;
            return Ok(Integrity::OlderDamaged(alert));
        };
        tracing::error!(
            generation = current.generation,
            problem = %current_problem,
            "the current snapshot generation failed verification; looking for an older one"
        );
        let mut alert = IntegrityAlert::new(
            damaged.iter().map(|(g, _)| *g).collect(),
            current_problem.clone(),
        );
        let older_good = results
            .iter()
            .find(|(m, r)| {
                m.generation < current.generation && !m.is_quarantined() && problem(r).is_none()
            })
            .map(|(m, _)| m.generation);
        // The second copy wins when it holds newer data than the newest older good
        // generation of this file (it was written when the now damaged one was good).
        let copy = self.copy_info().ok().flatten().map(|c| c.generation);
        let try_copy = match (older_good, copy) {
            (None, _) => true,
            (Some(older), Some(copy)) => copy > older,
            (Some(_), None) => false,
        };
        let mut restored = None;
        if try_copy {
            match self.import_copy() {
                Ok(Some(m)) => restored = m.parent.map(|from| (from, m, true)),
                Ok(None) => alert.copy_problem = Some("there is none".into()),
                Err(e) if e.is_storage() => return Err(e),
                Err(e) => {
                    tracing::error!(error = %e, "the second copy cannot be brought back");
                    alert.copy_problem = Some(e.to_string());
                }
            }
        }
        if restored.is_none() {
            if let Some(g) = older_good {
                restored = Some((g, self.rollback(g)?, false));
            }
        }
        let Some((from, now, from_copy)) = restored else {
            self.set_integrity_alert(&alert)?;
            return Ok(Integrity::NothingVerifies(alert));
        };
        alert.restored_from = Some(from);
        alert.now_current = Some(now.generation);
        alert.from_copy = from_copy;
        self.set_integrity_alert(&alert)?;
        tracing::error!(
            restored_from = from,
            now_current = now.generation,
            from_copy,
            "fell back to a snapshot generation that verifies"
        );
        Ok(Integrity::FellBack(alert))
    }

    /// The last recorded alert, until an administrator clears it.
    pub fn integrity_alert(&self) -> Result<Option<IntegrityAlert>, StoreError> {
        let txn = self.begin_read()?;
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
        let txn = self.begin_write()?;
        txn.open_table(META)?.remove(ALERT_KEY)?;
        txn.commit()?;
        Ok(())
    }

    pub(crate) fn set_integrity_alert(&self, alert: &IntegrityAlert) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(alert).expect("alert serialises");
        let txn = self.begin_write()?;
        txn.open_table(META)?.insert(ALERT_KEY, bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }
}
