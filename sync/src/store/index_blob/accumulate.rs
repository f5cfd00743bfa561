//! The build side: search-index entries as the prepare workers make them, and the
//! accumulator that collects a build's changes and writes its blob at the end.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use redb::WriteTransaction;
use zeroize::{Zeroize, Zeroizing};

use super::chunks::{write_blob, Chain, CHAIN_START, KIND_BASE, KIND_DELTA};
use super::format::{encode_base, encode_delta};
use crate::crypto::Sealer;
use crate::store::keys::{IdHash, Pk};
use crate::store::{IndexEntry, StoreError};
use crate::text::{name_keys, normalize_hospital_id};

/// A search-index entry as the prepare workers make it: the entry and, for a Patient, its
/// search keys (normalised once here rather than at every unlock), held as one encoded
/// byte string. A full build holds one per Patient and encounter until its end, so the
/// compact form (one allocation instead of one per string) is what its memory grows by.
/// Wiped when dropped; Debug output holds no patient data.
#[derive(Clone, PartialEq)]
pub struct Entry(Zeroizing<Box<[u8]>>);

/// An [`Entry`] decoded: wiped when dropped.
pub(super) struct Decoded {
    pub entry: IndexEntry,
    pub id_key: Option<String>,
    pub name_keys: Vec<String>,
}

impl Drop for Decoded {
    fn drop(&mut self) {
        zeroize_entry(&mut self.entry);
        for s in self.id_key.iter_mut().chain(self.name_keys.iter_mut()) {
            s.zeroize();
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_patient() {
            f.write_str("Entry(Patient, ..)")
        } else {
            f.write_str("Entry(Location, ..)")
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
        let d = Decoded {
            entry,
            id_key,
            name_keys,
        };
        let mut bytes = postcard::to_allocvec(&(&d.entry, &d.id_key, &d.name_keys))
            .expect("index entries serialise");
        // Exactly sized; the growing buffer is wiped, like the strings.
        let compact = Entry(Zeroizing::new(bytes.as_slice().into()));
        bytes.zeroize();
        compact
    }

    /// The entry and its search keys.
    pub(super) fn decode(&self) -> Decoded {
        let (entry, id_key, name_keys) =
            postcard::from_bytes(&self.0).expect("index entries were encoded by Entry::new");
        Decoded {
            entry,
            id_key,
            name_keys,
        }
    }

    /// A Patient's entry (else a Location's), read from the enum's tag without decoding.
    pub(super) fn is_patient(&self) -> bool {
        self.0.first() == Some(&0)
    }
}

impl Zeroize for Entry {
    fn zeroize(&mut self) {
        self.0.zeroize();
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

/// An entry of a full build's base, as the sorted load keeps it (`seq`: its place in the
/// pull, which the blob does not use). The entry is its own copy (not shared with the
/// prepared resource): one allocation fewer per entry than an `Arc` for as long as the
/// build runs.
pub(crate) struct BaseEntry {
    pub seq: u32,
    pub rtype: u8,
    pub idh: IdHash,
    pub pk: Pk,
    pub entry: Entry,
}

impl BaseEntry {
    /// An entry of the born map (by resource), outside any pull order.
    pub(crate) fn from_born(
        ((rtype, idh), (pk, entry)): ((u8, IdHash), (Pk, Arc<Entry>)),
    ) -> BaseEntry {
        BaseEntry {
            seq: 0,
            rtype,
            idh,
            pk,
            entry: Arc::unwrap_or_clone(entry),
        }
    }
}

/// Collects a build's index changes and writes its blob at the end of the build. Holds
/// plaintext only while the build runs (what arrives during a sync); wiped when dropped.
pub(crate) struct Accumulator {
    generation: u64,
    /// Entries born in this generation, by resource (type, id hash).
    born: HashMap<(u8, IdHash), (Pk, Arc<Entry>)>,
    /// A full build's entries, each resource once, as its sorted load settled them (held
    /// as they are: no map of millions of entries is built from them).
    base: Vec<BaseEntry>,
    /// Inherited entries this generation ended.
    ended: Vec<(u8, IdHash, Pk)>,
}

impl fmt::Debug for Accumulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Accumulator(generation {}, {} born, {} ended)",
            self.generation,
            self.born(),
            self.ended.len()
        )
    }
}

impl Accumulator {
    pub(crate) fn new(generation: u64) -> Accumulator {
        Accumulator {
            generation,
            born: HashMap::new(),
            base: Vec::new(),
            ended: Vec::new(),
        }
    }

    /// A full build's surviving entries, each resource once.
    pub(crate) fn set_base(&mut self, base: Vec<BaseEntry>) {
        self.base = base;
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
        self.born.len() + self.base.len()
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
        let (kind, parts) = if full {
            let mut base = std::mem::take(&mut self.base);
            base.extend(self.born.drain().map(BaseEntry::from_born));
            // The entries are dropped (wiped) as soon as the blob's parts hold them.
            (KIND_BASE, encode_base(base)?)
        } else if self.born.is_empty() && self.ended.is_empty() {
            return Ok(chain.finish());
        } else {
            (KIND_DELTA, vec![self.encode_delta()])
        };
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        write_blob(
            txn,
            epoch,
            self.generation,
            kind,
            &parts,
            sealer,
            &mut chain,
        )?;
        Ok(chain.finish())
    }

    fn encode_delta(&self) -> Zeroizing<Vec<u8>> {
        let decoded: Vec<(u8, IdHash, Pk, Decoded)> = self
            .born
            .iter()
            .map(|((rtype, idh), (pk, e))| (*rtype, *idh, *pk, e.decode()))
            .collect();
        encode_delta(
            &self.ended,
            decoded
                .iter()
                .map(|(rtype, idh, pk, d)| (*rtype, *idh, *pk, &d.entry))
                .collect(),
        )
    }
}
