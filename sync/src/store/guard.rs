//! The guard between a finished build and the clinicians: a poisoned or emptied source
//! must never replace good data.
//!
//! Ransomware often empties or corrupts the main system shortly before an outage is
//! declared — exactly when the node matters. So before a build goes live it is compared
//! with the current generation, item kind by item kind (patients, allergies, labs, ...):
//!
//! - **the same data** (same versions, counts and index) from an incremental pull: nothing
//!   is written; the current generation's data-as-of time moves on. (A full pull of the same
//!   data is written — a fresh epoch, verified as it is written, which also replaces any
//!   silently damaged pages — and retention keeps only the newest generation of each
//!   content, so "no change" never rotates good generations out);
//! - **a loss** of more than [`Guard::max_loss_share`] of the current count of any kind (and
//!   of at least [`Guard::min_loss`] items, so that a ward of ten losing two flags is not an
//!   attack), or **nothing at all** where there was data: the build is committed as a
//!   *quarantined* generation — listed, verifiable, kept by retention, never served — and
//!   the sync reports it. An administrator who finds the loss real promotes it
//!   ([`Store::promote`]); a quarantined pull identical to the newest quarantined
//!   generation writes nothing new;
//! - otherwise the build becomes current.
//!
//! A first sync into an empty store has nothing to lose and is never quarantined. The
//! guard applies to every source kind: it lives here, after mapping, not in a source.

use chrono::{DateTime, Utc};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::tables::{GENERATIONS, META};
use super::{apply_retention, decode_manifest, encode_manifest, Manifest, Store, StoreError};

/// The guard's thresholds (`[sync] quarantine_loss_share`, `quarantine_min_loss`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guard {
    /// A kind losing more than this share of the current generation's count quarantines
    /// the build (0.10: 10 %).
    pub max_loss_share: f64,
    /// ... provided it loses at least this many items of that kind. A build that keeps
    /// no item at all where the current generation has some is quarantined whatever the
    /// numbers.
    pub min_loss: u64,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            max_loss_share: 0.10,
            min_loss: 10,
        }
    }
}

/// One kind of item a build would lose (counts only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loss {
    /// The item kind (`patient`, `allergy`, `lab`, ...).
    pub kind: String,
    pub before: u64,
    pub after: u64,
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lost = self.before.saturating_sub(self.after);
        let share = if self.before == 0 {
            0.0
        } else {
            100.0 * lost as f64 / self.before as f64
        };
        write!(
            f,
            "{} {} → {} (−{share:.1} %)",
            self.kind, self.before, self.after
        )
    }
}

/// Why and when a generation was quarantined, and whether it was promoted since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantine {
    pub at: DateTime<Utc>,
    /// The generation it was compared with (current at the time).
    pub compared_with: u64,
    /// What it would have lost, largest share first.
    pub losses: Vec<Loss>,
    /// When an administrator promoted it: from then on it is a good generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<DateTime<Utc>>,
}

impl Quarantine {
    /// The losses in one line, e.g. `patient 1000 → 0 (−100.0 %), allergy 2000 → 0 (…)`.
    pub fn losses_text(&self) -> String {
        let parts: Vec<String> = self.losses.iter().map(Loss::to_string).collect();
        parts.join(", ")
    }
}

impl Guard {
    /// What `counts` (a finished build) would lose against `current`; empty: nothing that
    /// quarantines.
    pub fn losses(
        &self,
        current: &Manifest,
        counts: &std::collections::BTreeMap<String, u64>,
    ) -> Vec<Loss> {
        let emptied = current.total_items() > 0 && counts.values().all(|n| *n == 0);
        let mut out: Vec<Loss> = current
            .counts
            .iter()
            .filter(|(_, before)| **before > 0)
            .filter_map(|(kind, &before)| {
                let after = counts.get(kind).copied().unwrap_or(0);
                let lost = before.saturating_sub(after);
                let too_much = lost as f64 > self.max_loss_share * before as f64
                    && lost >= self.min_loss.max(1);
                (emptied || too_much).then(|| Loss {
                    kind: kind.clone(),
                    before,
                    after,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            let share = |l: &Loss| (l.before - l.after) as f64 / l.before as f64;
            share(b)
                .total_cmp(&share(a))
                .then_with(|| b.before.cmp(&a.before))
        });
        out
    }
}

/// The newest pulls were quarantined: what administrators are told (no patient data).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantineAlert {
    /// The newest quarantined generation.
    pub generation: u64,
    pub quarantine: Quarantine,
    /// Quarantined generations since the last pull that passed the guard, newest first.
    pub pending: Vec<u64>,
    /// The generation served meanwhile.
    pub current: Option<u64>,
}

impl QuarantineAlert {
    /// One line for an administrator.
    pub fn message(&self) -> String {
        let current = match self.current {
            Some(c) => format!("generation {c} stays in service"),
            None => "nothing is served".to_owned(),
        };
        format!(
            "sync quarantined at {}: generation {} would lose {} — not served; {current}. \
             Check the source; if the loss is real, promote it (`akari snapshot promote {}` \
             or the admin sync page)",
            self.quarantine.at.format("%Y-%m-%d %H:%M:%SZ"),
            self.generation,
            self.quarantine.losses_text(),
            self.generation
        )
    }
}

/// META key: when the last pull that passed the guard finished (RFC 3339).
const LAST_GOOD_PULL: &str = "last_good_pull";

pub(crate) fn set_last_good_pull(
    txn: &redb::WriteTransaction,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    txn.open_table(META)?
        .insert(LAST_GOOD_PULL, at.to_rfc3339().as_bytes())?;
    Ok(())
}

/// The newest quarantined generation that has not been promoted, inside a transaction.
pub(crate) fn newest_quarantined(
    gens: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<Option<Manifest>, StoreError> {
    for row in gens.iter()?.rev() {
        let m = decode_manifest(row?.1.value())?;
        if m.is_quarantined() {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

impl Store {
    /// The quarantine alert: quarantined generations newer than the last pull that passed
    /// the guard (`None` once a later pull passed, or they were promoted).
    pub fn quarantine_alert(&self) -> Result<Option<QuarantineAlert>, StoreError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META)?;
        let last_good = meta
            .get(LAST_GOOD_PULL)?
            .and_then(|v| std::str::from_utf8(v.value()).ok().map(str::to_owned))
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc));
        let current = meta
            .get("current")?
            .and_then(|v| v.value().try_into().ok().map(u64::from_be_bytes));
        let gens = txn.open_table(GENERATIONS)?;
        let mut pending: Vec<Manifest> = Vec::new();
        for row in gens.iter()?.rev() {
            let m = decode_manifest(row?.1.value())?;
            match &m.quarantine {
                Some(q) if m.is_quarantined() && last_good.is_none_or(|t| q.at > t) => {
                    pending.push(m)
                }
                _ => {}
            }
        }
        let Some(newest) = pending.first() else {
            return Ok(None);
        };
        Ok(Some(QuarantineAlert {
            generation: newest.generation,
            quarantine: newest.quarantine.clone().expect("quarantined"),
            pending: pending.iter().map(|m| m.generation).collect(),
            current,
        }))
    }

    /// An administrator found a quarantined generation's loss real: verify it and make it
    /// current (it counts as good from now on). Refuses a generation that is not
    /// quarantined ([`StoreError::NotQuarantined`]; roll back to those instead).
    pub fn promote(&self, generation: u64) -> Result<Manifest, StoreError> {
        let m = self.manifest(generation)?;
        if !m.is_quarantined() {
            return Err(StoreError::NotQuarantined(generation));
        }
        self.verify_ok(generation)?;
        let now = Utc::now();
        let txn = self.begin_write()?;
        let mut promoted = m;
        if let Some(q) = promoted.quarantine.as_mut() {
            q.promoted_at = Some(now);
        }
        super::switch_to(&txn, &promoted)?;
        set_last_good_pull(&txn, now)?;
        apply_retention(&txn, self.keep())?;
        txn.commit()?;
        Ok(promoted)
    }

    /// A pull found the current generation's data unchanged: record that it is current
    /// as of `high_water` (nothing else changes; no generation is written).
    pub(crate) fn touch_current(
        &self,
        high_water: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Manifest, StoreError> {
        let txn = self.begin_write()?;
        let current = {
            let meta = txn.open_table(META)?;
            let v = meta.get("current")?.ok_or(StoreError::Empty)?;
            u64::from_be_bytes(
                v.value()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("current pointer".into()))?,
            )
        };
        let manifest = {
            let mut gens = txn.open_table(GENERATIONS)?;
            let mut m = decode_manifest(
                gens.get(current)?
                    .ok_or(StoreError::NoSuchGeneration(current))?
                    .value(),
            )?;
            if high_water > m.high_water {
                m.high_water = high_water;
                gens.insert(current, encode_manifest(&m).as_slice())?;
            }
            m
        };
        set_last_good_pull(&txn, now)?;
        txn.commit()?;
        Ok(manifest)
    }
}
