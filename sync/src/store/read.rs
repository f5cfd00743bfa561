//! Reading one generation: a patient's items and medication names (the search index is
//! read from its blobs: see [`super::index_blob`]).
//!
//! Stored content is checked against its header hash before use (damaged storage gives a
//! data-free [`StoreError::Corrupt`]). Content of an encrypted store is then opened with a
//! [`Keyring`] (AEAD: authenticated too); without one every content read fails with
//! [`StoreError::Locked`].

use std::borrow::Cow;

use redb::ReadOnlyTable;
use serde::de::DeserializeOwned;

use super::keys::{
    content_of, item_key, parse_meta, prefix_range, sha256, ItemKey, MetaView, Pk,
    SPACE_MEDICATION, SPACE_RECORD,
};
use super::tables::EpochTable;
use super::{Manifest, Store, StoreError};
use crate::crypto::{Keyring, ValuePlace};
use crate::mapping::{Item, ItemKind, ResourceType};

/// Is this version part of generation `g`? A damaged key is [`StoreError::Corrupt`].
pub(crate) fn visible(key: &[u8], meta: &MetaView, g: u64) -> Result<bool, StoreError> {
    Ok(ItemKey::parse(key)?.born <= g && meta.died > g)
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
            let key = ItemKey::parse(key)?;
            let place = ValuePlace {
                space: key.space,
                rtype: key.rtype,
                id_hash: &key.idh,
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

    /// The items table of `m`'s epoch, for reading its content: an encrypted store needs
    /// `keys` (else [`StoreError::Locked`]); a generation whose epoch is gone is
    /// [`StoreError::NoSuchGeneration`].
    fn items_to_read(
        &self,
        m: &Manifest,
        keys: Option<&Keyring>,
    ) -> Result<ReadOnlyTable<&'static [u8], &'static [u8]>, StoreError> {
        if self.is_encrypted() && keys.is_none() {
            return Err(StoreError::Locked);
        }
        let txn = self.begin_read()?;
        txn.open_table(EpochTable::Items.of(m.epoch).def())
            .map_err(missing_generation(m))
    }

    /// The items of one patient in generation `m` (unordered). An encrypted store needs
    /// `keys` (else [`StoreError::Locked`]).
    pub fn patient_items(
        &self,
        m: &Manifest,
        pk: &Pk,
        keys: Option<&Keyring>,
    ) -> Result<Vec<Item>, StoreError> {
        self.patient_items_of(m, pk, keys, None)
    }

    /// The items of one patient in generation `m` of the given kinds only (all of them
    /// when `kinds` is `None`). The kind is read from each version's header, so the
    /// other versions are neither opened nor decoded.
    pub fn patient_items_of(
        &self,
        m: &Manifest,
        pk: &Pk,
        keys: Option<&Keyring>,
        kinds: Option<&[ItemKind]>,
    ) -> Result<Vec<Item>, StoreError> {
        let items = self.items_to_read(m, keys)?;
        self.items_in(&items, m, pk, keys, kinds)
    }

    /// [`Store::patient_items_of`] for several patients in one read (a result list, a
    /// ward): one transaction and one table for all of them, the patients in the order
    /// given.
    pub fn patients_items_of(
        &self,
        m: &Manifest,
        pks: &[Pk],
        keys: Option<&Keyring>,
        kinds: Option<&[ItemKind]>,
    ) -> Result<Vec<Vec<Item>>, StoreError> {
        let items = self.items_to_read(m, keys)?;
        pks.iter()
            .map(|pk| self.items_in(&items, m, pk, keys, kinds))
            .collect()
    }

    fn items_in(
        &self,
        items: &ReadOnlyTable<&'static [u8], &'static [u8]>,
        m: &Manifest,
        pk: &Pk,
        keys: Option<&Keyring>,
        kinds: Option<&[ItemKind]>,
    ) -> Result<Vec<Item>, StoreError> {
        let (lo, hi) = prefix_range(&[&[SPACE_RECORD][..], &pk[..]].concat());
        let mut out = Vec::new();
        for row in items.range(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = row?;
            let value = v.value();
            let mv = parse_meta(value).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
            let wanted = kinds.is_none_or(|ks| ks.iter().any(|&w| w as u8 == mv.kind));
            if !wanted || !visible(k.value(), &mv, m.generation)? {
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
        Ok(
            match self.reference_item(m, ResourceType::Medication, id, keys)? {
                Some(Item::Medication { name }) => Some(name),
                _ => None,
            },
        )
    }

    /// The reference-data item (Medication, Practitioner, PractitionerRole: see
    /// [`ResourceType::is_reference_data`]) of type `rtype` with this logical id in
    /// generation `m`.
    pub fn reference_item(
        &self,
        m: &Manifest,
        rtype: ResourceType,
        id: &str,
        keys: Option<&Keyring>,
    ) -> Result<Option<Item>, StoreError> {
        let items = self.items_to_read(m, keys)?;
        let idh = self.keyer().id_hash(rtype, id);
        let rt = rtype as u8;
        let lo = item_key(SPACE_MEDICATION, &[0; 16], rt, &idh, 0);
        let hi = item_key(SPACE_MEDICATION, &[0; 16], rt, &idh, u64::MAX);
        for row in items.range(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = row?;
            let value = v.value();
            let mv = parse_meta(value).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
            if visible(k.value(), &mv, m.generation)? {
                return self
                    .decode(keys, m, k.value(), value, "stored reference item")
                    .map(Some);
            }
        }
        Ok(None)
    }

    /// Damage the stored content of one item of `m` (tests of `verify` only).
    #[cfg(feature = "test-hooks")]
    pub fn corrupt_one_item_for_test(&self, m: &Manifest) -> Result<bool, StoreError> {
        use redb::ReadableTable;
        let txn = self.begin_write()?;
        let done = {
            let items_name = EpochTable::Items.of(m.epoch);
            let mut items = txn.open_table(items_name.def())?;
            let mut target = None;
            let (lo, hi) = prefix_range(&[SPACE_RECORD]);
            for row in items.range(lo.as_slice()..=hi.as_slice())? {
                let (k, v) = row?;
                let visible = parse_meta(v.value())
                    .is_some_and(|mv| visible(k.value(), &mv, m.generation).unwrap_or(false));
                if visible {
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
