//! Reading one generation: the search-index entries (all at once) and a patient's items.
//!
//! Stored content is checked against its header hash before use (damaged storage gives a
//! data-free [`StoreError::Corrupt`]). Content of an encrypted store is then opened with a
//! [`Keyring`] (AEAD: authenticated too); without one every content read fails with
//! [`StoreError::Locked`].

use std::borrow::Cow;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;

use super::keys::{
    content_of, item_key, key_born, key_pk, parse_meta, prefix_range, sha256, MetaView, Pk,
    KEY_LEN, SPACE_INDEX, SPACE_MEDICATION, SPACE_RECORD,
};
use super::{table_name, IndexEntry, Manifest, Store, StoreError};
use crate::crypto::{Keyring, ValuePlace};
use crate::mapping::{Item, ResourceType};

/// Index entries are opened and decoded on two threads above this many.
const PARALLEL_FROM: usize = 16 * 1024;

fn def(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

/// Is this version part of generation `g`?
pub(crate) fn visible(key: &[u8], meta: &MetaView, g: u64) -> bool {
    key_born(key) <= g && meta.died > g
}

/// Refuse a version whose stored bytes no longer hash to the hash recorded when it was
/// written (damaged disk or file): never decode and show damaged data.
fn check_content(value: &[u8], meta: &MetaView, m: &Manifest) -> Result<(), StoreError> {
    if sha256(content_of(value)) == meta.hash {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "an item of generation {} failed its integrity check",
            m.generation
        )))
    }
}

fn missing_generation(m: &Manifest) -> impl Fn(redb::TableError) -> StoreError + '_ {
    move |e| match e {
        redb::TableError::TableDoesNotExist(_) => StoreError::NoSuchGeneration(m.generation),
        other => other.into(),
    }
}

impl Store {
    /// Check, open (if encrypted) and decode one stored version's content.
    fn decode<T: DeserializeOwned>(
        &self,
        keys: Option<&Keyring>,
        m: &Manifest,
        key: &[u8],
        value: &[u8],
        what: &str,
    ) -> Result<T, StoreError> {
        let stored = content_of(value);
        // Sealed content is authenticated by its AEAD tag (damage fails to open, as
        // `Corrupt`); plaintext is checked against its header hash.
        let content: Cow<'_, [u8]> = if self.is_encrypted() {
            let keys = keys.ok_or(StoreError::Locked)?;
            let idh: [u8; 16] = key
                .get(18..34)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("item key".into()))?;
            let place = ValuePlace {
                space: key[0],
                rtype: key[17],
                id_hash: &idh,
            };
            let mut plain = keys.open(place, stored)?;
            Cow::Owned(std::mem::take(&mut *plain))
        } else {
            let mv = parse_meta(value).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
            check_content(value, &mv, m)?;
            Cow::Borrowed(stored)
        };
        let out = postcard::from_bytes(&content)
            .map_err(|_| StoreError::Corrupt(format!("{what} does not decode")));
        if let Cow::Owned(mut plain) = content {
            zeroize::Zeroize::zeroize(&mut plain);
        }
        out
    }

    fn require_keys(&self, keys: Option<&Keyring>) -> Result<(), StoreError> {
        if self.is_encrypted() && keys.is_none() {
            return Err(StoreError::Locked);
        }
        Ok(())
    }

    /// Every search-index entry of generation `m`, with its patient key and the type of
    /// the resource it came from. An encrypted store needs `keys` (else
    /// [`StoreError::Locked`]). A large index is read, opened and decoded by two threads,
    /// each on half of the patient-key space in its own read transaction.
    pub fn index_entries(
        &self,
        m: &Manifest,
        keys: Option<&Keyring>,
    ) -> Result<Vec<(Pk, ResourceType, IndexEntry)>, StoreError> {
        self.require_keys(keys)?;
        if (m.index_entries as usize) < PARALLEL_FROM {
            let (lo, hi) = prefix_range(&[SPACE_INDEX]);
            return self.index_range(m, keys, &lo, &hi);
        }
        // Patient keys are keyed hashes: uniformly spread, so halves are even.
        let (lo_a, _) = prefix_range(&[SPACE_INDEX, 0x00]);
        let (_, hi_a) = prefix_range(&[SPACE_INDEX, 0x7F]);
        let (lo_b, _) = prefix_range(&[SPACE_INDEX, 0x80]);
        let (_, hi_b) = prefix_range(&[SPACE_INDEX, 0xFF]);
        let (a, b) = std::thread::scope(|scope| {
            let second = scope.spawn(|| self.index_range(m, keys, &lo_b, &hi_b));
            let first = self.index_range(m, keys, &lo_a, &hi_a);
            let second = second
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (first, second)
        });
        let mut out = a?;
        out.extend(b?);
        Ok(out)
    }

    fn index_range(
        &self,
        m: &Manifest,
        keys: Option<&Keyring>,
        lo: &[u8; KEY_LEN],
        hi: &[u8; KEY_LEN],
    ) -> Result<Vec<(Pk, ResourceType, IndexEntry)>, StoreError> {
        let txn = self.db().begin_read()?;
        let items_name = table_name(m.epoch, "items");
        let items = txn
            .open_table(def(&items_name))
            .map_err(missing_generation(m))?;
        let mut out = Vec::new();
        for row in items.range(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = row?;
            let key = k.value();
            let value = v.value();
            let mv = parse_meta(value).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
            if !visible(key, &mv, m.generation) {
                continue;
            }
            let entry: IndexEntry = self.decode(keys, m, key, value, "index entry")?;
            let rtype = ResourceType::from_byte(key[17])
                .ok_or_else(|| StoreError::Corrupt("resource type".into()))?;
            out.push((key_pk(key), rtype, entry));
        }
        Ok(out)
    }

    /// The items of one patient in generation `m` (unordered). An encrypted store needs
    /// `keys` (else [`StoreError::Locked`]).
    pub fn patient_items(
        &self,
        m: &Manifest,
        pk: &Pk,
        keys: Option<&Keyring>,
    ) -> Result<Vec<Item>, StoreError> {
        self.require_keys(keys)?;
        let txn = self.db().begin_read()?;
        let items_name = table_name(m.epoch, "items");
        let items = txn
            .open_table(def(&items_name))
            .map_err(missing_generation(m))?;
        let (lo, hi) = prefix_range(&[&[SPACE_RECORD][..], &pk[..]].concat());
        let mut out = Vec::new();
        for row in items.range(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = row?;
            let value = v.value();
            let mv = parse_meta(value).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
            if !visible(k.value(), &mv, m.generation) {
                continue;
            }
            out.push(self.decode(keys, m, k.value(), value, "stored item")?);
        }
        Ok(out)
    }

    /// The name of the Medication with this logical id in generation `m`.
    pub fn medication_name(
        &self,
        m: &Manifest,
        id: &str,
        keys: Option<&Keyring>,
    ) -> Result<Option<String>, StoreError> {
        self.require_keys(keys)?;
        let txn = self.db().begin_read()?;
        let items_name = table_name(m.epoch, "items");
        let items = txn
            .open_table(def(&items_name))
            .map_err(missing_generation(m))?;
        let idh = self.keyer().id_hash(ResourceType::Medication, id);
        let rt = ResourceType::Medication as u8;
        let lo = item_key(SPACE_MEDICATION, &[0; 16], rt, &idh, 0);
        let hi = item_key(SPACE_MEDICATION, &[0; 16], rt, &idh, u64::MAX);
        for row in items.range(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = row?;
            let value = v.value();
            let mv = parse_meta(value).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
            if visible(k.value(), &mv, m.generation) {
                if let Item::Medication { name } =
                    self.decode(keys, m, k.value(), value, "stored medication")?
                {
                    return Ok(Some(name));
                }
            }
        }
        Ok(None)
    }

    /// Damage the stored content of one item of `m` (tests of `verify` only).
    #[doc(hidden)]
    pub fn corrupt_one_item_for_test(&self, m: &Manifest) -> Result<bool, StoreError> {
        let txn = self.db().begin_write()?;
        let done = {
            let items_name = table_name(m.epoch, "items");
            let mut items = txn.open_table(def(&items_name))?;
            let mut target = None;
            let (lo, hi) = prefix_range(&[SPACE_RECORD]);
            for row in items.range(lo.as_slice()..=hi.as_slice())? {
                let (k, v) = row?;
                if parse_meta(v.value()).is_some_and(|mv| visible(k.value(), &mv, m.generation)) {
                    target = Some((k.value().to_vec(), v.value().to_vec()));
                    break;
                }
            }
            match target {
                Some((key, mut value)) => {
                    if let Some(b) = value.last_mut() {
                        *b ^= 0x55;
                    }
                    items.insert(key.as_slice(), value.as_slice())?;
                    true
                }
                None => false,
            }
        };
        txn.commit()?;
        Ok(done)
    }
}
