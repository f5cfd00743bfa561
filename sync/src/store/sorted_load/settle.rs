//! Settling what survives a full sync's pull, exactly as applying it one resource at a
//! time would: the last version of each resource wins, retractions end earlier versions,
//! a deleted Patient takes its items with it, items of unknown patients are rejected and
//! out-of-scope patients are dropped.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::{ItemBucket, ItemRow, OwnerRow, PatientEvents};
use crate::mapping::{ItemKind, ResourceType};
use crate::store::build::Scope;
use crate::store::keys::{Pk, SetHash, KIND_AT, META_LEN, SPACE_MEDICATION, SPACE_RECORD};
use crate::store::prepare::EncounterFact;

/// What becomes of a patient's items.
#[derive(Clone, Copy)]
pub(super) struct Fate {
    /// Items that arrived before this were removed with a deleted Patient.
    pub(super) purged_before: u32,
    pub(super) keep: bool,
    /// The patient does not exist at the end of the pull (items count as rejected).
    pub(super) unknown: bool,
}

pub(super) struct Judge<'a> {
    pub(super) patients: &'a HashMap<Pk, PatientEvents>,
    pub(super) facts: &'a HashMap<Pk, EncounterFact>,
    pub(super) scope: Scope,
    pub(super) now: DateTime<Utc>,
}

impl Judge<'_> {
    pub(super) fn fate(&self, pk: &Pk) -> Fate {
        let Some(ev) = self.patients.get(pk) else {
            return Fate {
                purged_before: 0,
                keep: false,
                unknown: true,
            };
        };
        let purged_before = ev.purge.map_or(0, |p| p + 1);
        let exists = ev.upsert.is_some_and(|u| ev.purge.is_none_or(|p| u > p));
        if !exists {
            return Fate {
                purged_before,
                keep: false,
                unknown: true,
            };
        }
        let f = self.facts.get(pk).copied();
        let keep = match self.scope {
            Scope::All => true,
            Scope::CurrentInpatients => f.is_some_and(|f| f.inpatient_now),
            Scope::RecentEncounter { days } => f.is_some_and(|f| {
                f.inpatient_now
                    || f.last
                        .is_some_and(|l| l >= self.now - Duration::days(days.into()))
            }),
        };
        Fate {
            purged_before,
            keep,
            unknown: false,
        }
    }

    /// Does the version of `pk` that arrived at `seq` stay?
    /// Patients that exist at the end of the pull but are out of scope.
    pub(super) fn out_of_scope(&self) -> u64 {
        self.patients
            .keys()
            .filter(|pk| {
                let f = self.fate(pk);
                !f.keep && !f.unknown
            })
            .count() as u64
    }

    pub(super) fn keeps(&self, space: u8, pk: &Pk, seq: u32) -> bool {
        if space == SPACE_MEDICATION {
            return true;
        }
        let f = self.fate(pk);
        f.keep && seq >= f.purged_before
    }
}

/// Sort one owner bucket and keep the last version of each resource if its patient keeps
/// it; the arrival numbers of versions replaced go to `lost`. Returns how many
/// retractions ended a version that was alive.
pub(super) fn settle_owners(
    rows: &mut Vec<OwnerRow>,
    judge: &Judge<'_>,
    lost: &mut Vec<u32>,
) -> usize {
    rows.sort_unstable_by_key(|r| (u128::from_be_bytes(r.idh), r.seq));
    let mut removals = 0;
    let mut out = 0;
    let mut i = 0;
    while i < rows.len() {
        let mut j = i + 1;
        while j < rows.len() && rows[j].idh == rows[i].idh {
            j += 1;
        }
        let mut alive = false;
        for r in &rows[i..j] {
            if r.tombstone {
                // A deleted Patient's own version goes with its items (not a removal).
                if alive && r.rtype != ResourceType::Patient as u8 {
                    removals += 1;
                }
                alive = false;
            } else {
                alive = true;
            }
        }
        for r in &rows[i..j - 1] {
            if !r.tombstone {
                lost.push(r.seq);
            }
        }
        let last = rows[j - 1];
        if !last.tombstone && judge.keeps(last.space, &last.pk, last.seq) {
            rows[out] = last;
            out += 1;
        }
        i = j;
    }
    rows.truncate(out);
    removals
}

/// Counts and set hash of what one bucket keeps.
#[derive(Default)]
pub(super) struct Settled {
    pub(super) set: SetHash,
    /// By item kind byte (every [`crate::mapping::ItemKind`] fits).
    pub(super) counts: [u64; 32],
    pub(super) rows: u64,
    /// Record items dropped because their patient does not exist.
    pub(super) unknown: u64,
}

impl Settled {
    /// The non-zero counts by item kind.
    pub(super) fn by_kind(&self) -> BTreeMap<ItemKind, i64> {
        let mut counts = BTreeMap::new();
        for k in ItemKind::ALL {
            let n = self.counts[k as usize];
            if n > 0 {
                counts.insert(k, n as i64);
            }
        }
        counts
    }

    pub(super) fn merge(&mut self, o: &Settled) {
        self.set.merge(&o.set);
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.rows += o.rows;
        self.unknown += o.unknown;
    }
}

/// Sort one item bucket by key and keep what survives; count and hash it.
pub(super) fn settle_items(
    bucket: &mut ItemBucket,
    judge: &Judge<'_>,
    dead: &HashSet<u32>,
) -> Settled {
    let mut s = Settled::default();
    let rows = &mut bucket.rows;
    rows.sort_unstable_by_key(ItemRow::sort_key);
    let mut fate: Option<(Pk, Fate)> = None;
    let mut out = 0;
    for i in 0..rows.len() {
        let r = rows[i];
        if !dead.is_empty() && dead.contains(&r.seq) {
            continue;
        }
        let space = r.rkey[0];
        if space != SPACE_MEDICATION {
            let pk = r.pk();
            let f = match fate {
                Some((p, f)) if p == pk => f,
                _ => {
                    let f = judge.fate(&pk);
                    fate = Some((pk, f));
                    f
                }
            };
            if r.seq < f.purged_before {
                continue;
            }
            if !f.keep {
                if f.unknown && space == SPACE_RECORD {
                    s.unknown += 1;
                }
                continue;
            }
        }
        let value = &bucket.bytes[r.off as usize..(r.off + r.len) as usize];
        let hash: [u8; 32] = value[..32].try_into().expect("header");
        s.set.add(&r.rkey, &hash);
        if value.len() >= META_LEN {
            s.counts[value[KIND_AT] as usize & 15] += 1;
        }
        s.rows += 1;
        rows[out] = r;
        out += 1;
    }
    rows.truncate(out);
    s
}
