//! Verifying generations: one pass over an epoch's versions checks every generation of that
//! epoch at once (each stored content is hashed once, however many generations see it), so
//! checking all retained generations at start-up costs about as much as checking one.

use std::collections::BTreeMap;

use redb::ReadableTable;

use super::keys::{self, parse_meta, SetHash};
use super::tables::EpochTable;
use super::{read, Manifest, Store, StoreError, VerifyReport};
use crate::mapping::ItemKind;

/// One retained generation and what verifying it found (an error: it could not be read).
pub type Verified = (Manifest, Result<VerifyReport, StoreError>);

/// What one generation's share of the pass found.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, u64>,
    set: SetHash,
    checked: u64,
    corrupt: u64,
}

impl Store {
    /// Verify `generations` (all of `epoch`) in one pass over the epoch's versions; reports
    /// in the order given. See [`Store::verify`].
    pub(crate) fn verify_epoch(
        &self,
        epoch: u64,
        generations: &[&Manifest],
    ) -> Result<Vec<VerifyReport>, StoreError> {
        let mut tallies: Vec<Tally> = generations.iter().map(|_| Tally::default()).collect();
        {
            let txn = self.begin_read()?;
            let items_name = EpochTable::Items.of(epoch);
            let items = txn.open_table(items_name.def())?;
            for row in items.iter()? {
                let (k, v) = row?;
                let key = k.value();
                // A damaged header or key counts as damage, like a damaged content.
                let (Some(mv), Ok(rkey)) = (parse_meta(v.value()), keys::rkey_of(key)) else {
                    tallies.iter_mut().for_each(|t| t.corrupt += 1);
                    continue;
                };
                let mut intact = None;
                for (m, t) in generations.iter().zip(tallies.iter_mut()) {
                    if !read::visible(key, &mv, m.generation)? {
                        continue;
                    }
                    let ok = *intact.get_or_insert_with(|| {
                        keys::sha256(keys::content_of(v.value())) == mv.hash
                    });
                    t.checked += 1;
                    if !ok {
                        t.corrupt += 1;
                    }
                    t.set.add(rkey, &mv.hash);
                    let name = ItemKind::from_byte(mv.kind)
                        .map(ItemKind::name)
                        .unwrap_or("?");
                    *t.counts.entry(name.to_string()).or_default() += 1;
                }
            }
        }
        let mut reports = Vec::with_capacity(generations.len());
        for (m, t) in generations.iter().zip(tallies) {
            let (chunks, damaged_chunks, chain_ok) = self.verify_index(m)?;
            let want: BTreeMap<String, u64> = m
                .counts
                .iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            reports.push(VerifyReport {
                generation: m.generation,
                items_checked: t.checked + chunks,
                corrupt_items: t.corrupt + damaged_chunks,
                counts_match: t.counts == want,
                set_hash_matches: t.set.to_hex() == m.set_hash && chain_ok,
                encrypted: self.is_encrypted(),
            });
        }
        Ok(reports)
    }

    /// Verify every retained generation, one pass per epoch. An epoch whose versions cannot
    /// be read (a damaged page) gives each of its generations that error. Newest first.
    pub fn verify_all(&self) -> Result<Vec<Verified>, StoreError> {
        let list = self.list()?;
        let mut by_epoch: BTreeMap<u64, Vec<&Manifest>> = BTreeMap::new();
        for g in &list {
            by_epoch
                .entry(g.manifest.epoch)
                .or_default()
                .push(&g.manifest);
        }
        let mut out = Vec::new();
        for (epoch, manifests) in by_epoch {
            match self.verify_epoch(epoch, &manifests) {
                Ok(reports) => out.extend(
                    manifests
                        .into_iter()
                        .cloned()
                        .zip(reports.into_iter().map(Ok)),
                ),
                Err(e) if e.is_storage() => return Err(e),
                Err(e) => {
                    let text = e.to_string();
                    out.extend(
                        manifests
                            .into_iter()
                            .cloned()
                            .map(|m| (m, Err(StoreError::Corrupt(text.clone())))),
                    )
                }
            }
        }
        out.sort_by_key(|(m, _)| std::cmp::Reverse(m.generation));
        Ok(out)
    }
}
