//! Retention: which generations a commit keeps (never fewer than [`MIN_KEEP`] distinct
//! good contents, the newest quarantined ones, the pinned ones and the current one).

use std::collections::{BTreeMap, BTreeSet};

use redb::{ReadableTable, WriteTransaction};

use super::build;
use super::tables::{EpochTable, DATA_KEYS, EPOCH_TIPS, GENERATIONS, META};
use super::{decode_manifest, Manifest, StoreError, MIN_KEEP, QUARANTINE_KEEP};

/// Which generations retention keeps: the newest `keep` good generations and, further
/// back, good ones until `keep` distinct contents are kept (a full sync that found
/// nothing changed or a rollback copy does not push older data out); the newest [`QUARANTINE_KEEP`] quarantined ones, the
/// pinned ones and the current one. `manifests` are oldest first.
fn retained(manifests: &[Manifest], keep: usize, current: Option<u64>) -> BTreeSet<u64> {
    let mut kept = BTreeSet::new();
    let mut contents = BTreeSet::new();
    for (i, m) in manifests
        .iter()
        .rev()
        .filter(|m| !m.is_quarantined())
        .enumerate()
    {
        let new_content = contents.insert(m.set_hash.as_str());
        if i < keep || (new_content && contents.len() <= keep) {
            kept.insert(m.generation);
        }
        if i + 1 >= keep && contents.len() >= keep {
            break;
        }
    }
    kept.extend(
        manifests
            .iter()
            .rev()
            .filter(|m| m.is_quarantined())
            .take(QUARANTINE_KEEP)
            .map(|m| m.generation),
    );
    kept.extend(
        manifests
            .iter()
            .filter(|m| m.pinned || Some(m.generation) == current)
            .map(|m| m.generation),
    );
    kept
}

/// Drop the generations [`retained`] does not keep and free what only they used.
pub(crate) fn apply_retention(txn: &WriteTransaction, keep: usize) -> Result<(), StoreError> {
    let keep = keep.max(MIN_KEEP);
    let current = {
        let meta = txn.open_table(META)?;
        let v = meta.get("current")?.map(|v| v.value().to_vec());
        v.and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
    };
    let manifests: Vec<Manifest> = {
        let gens = txn.open_table(GENERATIONS)?;
        let mut v = Vec::new();
        for row in gens.iter()? {
            v.push(decode_manifest(row?.1.value())?);
        }
        v
    };
    let keeping = retained(&manifests, keep, current);
    let (kept, dropped): (Vec<&Manifest>, Vec<&Manifest>) = manifests
        .iter()
        .partition(|m| keeping.contains(&m.generation));
    if dropped.is_empty() {
        return Ok(());
    }
    // Wrapped data keys no retained generation can use any more.
    let needed: BTreeSet<u64> = kept
        .iter()
        .flat_map(|m| m.key_ids.iter().copied())
        .collect();
    {
        let mut keys = txn.open_table(DATA_KEYS)?;
        let unused: Vec<u64> = keys
            .iter()?
            .map(|row| row.map(|(k, _)| k.value()))
            .collect::<Result<Vec<u64>, _>>()?
            .into_iter()
            .filter(|id| !needed.contains(id))
            .collect();
        for id in unused {
            keys.remove(id)?;
        }
    }
    {
        let mut gens = txn.open_table(GENERATIONS)?;
        for m in &dropped {
            gens.remove(m.generation)?;
        }
    }
    let mut min_kept: BTreeMap<u64, u64> = BTreeMap::new();
    for m in &kept {
        let e = min_kept.entry(m.epoch).or_insert(m.generation);
        *e = (*e).min(m.generation);
    }
    let dropped_epochs: BTreeSet<u64> = dropped.iter().map(|m| m.epoch).collect();
    for epoch in dropped_epochs {
        match min_kept.get(&epoch) {
            None => {
                for table in EpochTable::ALL {
                    txn.delete_table(table.of(epoch).def())?;
                }
                txn.open_table(EPOCH_TIPS)?.remove(epoch)?;
            }
            Some(&oldest) => build::collect_graves(txn, epoch, oldest)?,
        }
    }
    Ok(())
}
