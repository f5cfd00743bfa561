//! The build side: search-index entries as the prepare workers make them, and the
//! accumulator that collects a build's changes and writes its blob at the end.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use redb::WriteTransaction;
use zeroize::Zeroize;

use super::chunks::{write_blob, Chain, CHAIN_START, KIND_BASE, KIND_DELTA};
use super::format::{encode_base, encode_delta};
use crate::crypto::Sealer;
use crate::store::keys::{IdHash, Pk};
use crate::store::{IndexEntry, StoreError};
use crate::text::{name_keys, normalize_hospital_id};

/// A search-index entry as the prepare workers make it: the entry and, for a Patient, its
/// search keys (normalised once here rather than at every unlock). Debug output holds no
/// patient data.
#[derive(Clone, PartialEq)]
pub struct Entry {
    pub entry: IndexEntry,
    pub(super) id_key: Option<String>,
    pub(super) name_keys: Vec<String>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            IndexEntry::Patient { .. } => f.write_str("Entry(Patient, ..)"),
            IndexEntry::Location { .. } => f.write_str("Entry(Location, ..)"),
        }
    }
}

impl Entry {
    pub fn new(entry: IndexEntry) -> Entry {
        let (id_key, name_keys) = match &entry {
            IndexEntry::Patient {
                hospital_id,
                name_kanji,
                name_kana,
                ..
            } => {
                let mut keys: Vec<String> = name_kanji
                    .iter()
                    .chain(name_kana.iter())
                    .flat_map(|n| name_keys(n))
                    .collect();
                keys.dedup();
                (hospital_id.as_deref().map(normalize_hospital_id), keys)
            }
            IndexEntry::Location { .. } => (None, Vec::new()),
        };
        Entry {
            entry,
            id_key,
            name_keys,
        }
    }
}

impl Zeroize for Entry {
    fn zeroize(&mut self) {
        zeroize_entry(&mut self.entry);
        for s in self.id_key.iter_mut().chain(self.name_keys.iter_mut()) {
            s.zeroize();
        }
    }
}

/// Wipe the strings of an entry (names, IDs, places).
pub(crate) fn zeroize_entry(e: &mut IndexEntry) {
    match e {
        IndexEntry::Patient {
            hospital_id,
            name_kanji,
            name_kana,
            birth_date,
            ..
        } => {
            for s in [hospital_id, name_kanji, name_kana].into_iter().flatten() {
                s.zeroize();
            }
            *birth_date = None;
        }
        IndexEntry::Location {
            ward,
            room,
            bed,
            class,
            ..
        } => {
            for s in [ward, room, bed, class].into_iter().flatten() {
                s.zeroize();
            }
        }
    }
}

/// Collects a build's index changes and writes its blob at the end of the build. Holds
/// plaintext only while the build runs (what arrives during a sync); wiped when dropped.
pub(crate) struct Accumulator {
    generation: u64,
    /// Entries born in this generation, by resource (type, id hash).
    born: HashMap<(u8, IdHash), (Pk, Arc<Entry>)>,
    /// Inherited entries this generation ended.
    ended: Vec<(u8, IdHash, Pk)>,
}

impl fmt::Debug for Accumulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Accumulator(generation {}, {} born, {} ended)",
            self.generation,
            self.born.len(),
            self.ended.len()
        )
    }
}

impl Drop for Accumulator {
    fn drop(&mut self) {
        for (_, (_, e)) in self.born.drain() {
            if let Ok(mut e) = Arc::try_unwrap(e) {
                e.zeroize();
            }
        }
    }
}

impl Accumulator {
    pub(crate) fn new(generation: u64) -> Accumulator {
        Accumulator {
            generation,
            born: HashMap::new(),
            ended: Vec::new(),
        }
    }

    /// A version with an index entry was written (born in this generation).
    pub(crate) fn upsert(&mut self, rtype: u8, idh: IdHash, pk: Pk, entry: Arc<Entry>) {
        self.born.insert((rtype, idh), (pk, entry));
    }

    /// A version with an index entry ended; `born` is the generation that wrote it.
    pub(crate) fn remove(&mut self, rtype: u8, idh: &IdHash, pk: &Pk, born: u64) {
        if born == self.generation {
            self.born.remove(&(rtype, *idh));
        } else {
            self.ended.push((rtype, *idh, *pk));
        }
    }

    /// Entries born in this generation (live at its end).
    pub(crate) fn born(&self) -> usize {
        self.born.len()
    }

    /// Write the generation's blob in `txn`: the base of the new epoch for a full build,
    /// else the delta (nothing if no entry changed). Returns the manifest's index chain.
    pub(crate) fn write(
        &mut self,
        txn: &WriteTransaction,
        epoch: u64,
        full: bool,
        sealer: Option<&Sealer>,
        parent_chain: Option<&str>,
    ) -> Result<String, StoreError> {
        let mut chain = if full {
            Chain::new(CHAIN_START)
        } else {
            parent_chain
                .and_then(Chain::from_hex)
                .ok_or_else(|| StoreError::Corrupt("parent index chain".into()))?
        };
        let (kind, plain) = if full {
            (KIND_BASE, encode_base(&self.born)?)
        } else if self.born.is_empty() && self.ended.is_empty() {
            return Ok(chain.finish());
        } else {
            (KIND_DELTA, self.encode_delta())
        };
        write_blob(
            txn,
            epoch,
            self.generation,
            kind,
            &plain,
            sealer,
            &mut chain,
        )?;
        Ok(chain.finish())
    }

    fn encode_delta(&self) -> zeroize::Zeroizing<Vec<u8>> {
        encode_delta(
            &self.ended,
            self.born
                .iter()
                .map(|((rtype, idh), (pk, e))| (*rtype, *idh, *pk, &e.entry))
                .collect(),
        )
    }
}
