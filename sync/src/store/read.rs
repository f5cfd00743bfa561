//! Reading one generation: the search-index entries (all at once) and a patient's items.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::keys::{
    content_of, item_key, key_born, key_pk, parse_meta, prefix_range, MetaView, Pk, SPACE_INDEX,
    SPACE_MEDICATION, SPACE_RECORD,
};
use super::{table_name, IndexEntry, Manifest, Store, StoreError};
use crate::mapping::{Item, ResourceType};

fn def(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

/// Is this version part of generation `g`?
pub(crate) fn visible(key: &[u8], meta: &MetaView, g: u64) -> bool {
    key_born(key) <= g && meta.died > g
}

fn missing_generation(m: &Manifest) -> impl Fn(redb::TableError) -> StoreError + '_ {
    move |e| match e {
        redb::TableError::TableDoesNotExist(_) => StoreError::NoSuchGeneration(m.generation),
        other => other.into(),
    }
}

impl Store {
    /// Every search-index entry of generation `m`, with its patient key and the type of
    /// the resource it came from.
    pub fn index_entries(
        &self,
        m: &Manifest,
    ) -> Result<Vec<(Pk, ResourceType, IndexEntry)>, StoreError> {
        let txn = self.db().begin_read()?;
        let items_name = table_name(m.epoch, "items");
        let items = txn
            .open_table(def(&items_name))
            .map_err(missing_generation(m))?;
        let (lo, hi) = prefix_range(&[SPACE_INDEX]);
        let mut out = Vec::with_capacity(m.index_entries as usize);
        for row in items.range(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = row?;
            let key = k.value();
            let value = v.value();
            let mv = parse_meta(value).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
            if !visible(key, &mv, m.generation) {
                continue;
            }
            let entry: IndexEntry = postcard::from_bytes(content_of(value))
                .map_err(|_| StoreError::Corrupt("index entry".into()))?;
            let rtype = ResourceType::from_byte(key[17])
                .ok_or_else(|| StoreError::Corrupt("resource type".into()))?;
            out.push((key_pk(key), rtype, entry));
        }
        Ok(out)
    }

    /// The items of one patient in generation `m` (unordered).
    pub fn patient_items(&self, m: &Manifest, pk: &Pk) -> Result<Vec<Item>, StoreError> {
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
            let item: Item = postcard::from_bytes(content_of(value))
                .map_err(|_| StoreError::Corrupt("stored item".into()))?;
            out.push(item);
        }
        Ok(out)
    }

    /// The name of the Medication with this logical id in generation `m`.
    pub fn medication_name(&self, m: &Manifest, id: &str) -> Result<Option<String>, StoreError> {
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
                if let Ok(Item::Medication { name }) = postcard::from_bytes(content_of(value)) {
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
