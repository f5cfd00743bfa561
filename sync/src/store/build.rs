//! Building one generation: applying prepared items (see [`super::prepare`]) inside the
//! generation's single write transaction. An incremental build
//! applies each batch as it arrives (cost ∝ the delta); a full build collects the rows
//! and writes the new epoch's tables in one sorted load, in key order, once the pull is
//! complete (see [`super::sorted_load`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use redb::{ReadableTable, Table, WriteTransaction};

use super::guard::{self, Guard, Quarantine};
use super::index_blob::{self, Accumulator};
use super::keys::{
    self, grave_item, grave_key, item_key, owner_key, owner_value, parse_meta, parse_owner,
    with_died, IdHash, ItemKey, Owner, Pk, SetHash, ALIVE, KEY_LEN, RKEY_LEN, SPACE_INDEX,
    SPACE_MEDICATION, SPACE_RECORD,
};
use super::prepare::{EncounterFact, Prepared, Preparer, Target};
use super::sorted_load::SortedLoad;
use super::tables::{EpochTable, DATA_KEYS};
use super::{
    apply_retention, next_generation, record_generation, switch_to, GenerationKind, Manifest,
    Store, StoreError,
};
use crate::crypto::Sealer;
use crate::mapping::{ItemKind, RejectReason, ResourceType};

/// Which patients a full sync keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Patients with an encounter (any status) starting or ending in the last N days, or
    /// in house now.
    RecentEncounter {
        days: u32,
    },
    /// Inpatients now (an in-progress IMP encounter).
    CurrentInpatients,
}

/// Counts of what one build did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildStats {
    pub upserts: u64,
    pub removals: u64,
    pub rejects: BTreeMap<RejectReason, u64>,
    pub out_of_scope_patients: u64,
    /// A full build over its memory budget: sorted runs written to temporary files, and
    /// their bytes.
    pub spilled_runs: u64,
    pub spilled_bytes: u64,
}

/// How a finished build ended (see [`super::guard`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    /// The new generation is current.
    Current(Manifest),
    /// The pull left the data as it was: nothing was written; this is the current
    /// generation, its data-as-of time moved on.
    Unchanged(Manifest),
    /// The pull would lose too much: the generation is kept, not served. `new` is false
    /// when it equals the newest quarantined generation (then `manifest` is that one and
    /// nothing was written).
    Quarantined { manifest: Manifest, new: bool },
}

impl Finished {
    /// The generation the outcome names.
    pub fn manifest(&self) -> &Manifest {
        match self {
            Finished::Current(m) | Finished::Unchanged(m) => m,
            Finished::Quarantined { manifest, .. } => manifest,
        }
    }
}

/// Builds one generation inside one write transaction. Dropping it without
/// [`GenerationBuilder::finish`] discards everything it wrote.
pub struct GenerationBuilder {
    store: Store,
    /// Taken out while a method works with table handles borrowing it.
    txn: Option<WriteTransaction>,
    generation: u64,
    epoch: u64,
    full: bool,
    parent: Option<Manifest>,
    /// The current generation when the build began: what the guard compares with.
    reference: Option<Manifest>,
    source: String,
    set: SetHash,
    counts: BTreeMap<ItemKind, i64>,
    index_entries: i64,
    written: u64,
    removed: u64,
    patients_written: HashSet<Pk>,
    referenced: HashSet<Pk>,
    deferred: Vec<Prepared>,
    facts: HashMap<Pk, EncounterFact>,
    stats: BuildStats,
    /// Seals this build's content (encrypted store); dropped, and its key wiped, with the
    /// builder.
    sealer: Option<Arc<Sealer>>,
    /// This build's search-index changes, written as one blob at the end.
    index: Accumulator,
    /// A full build: rows collected until [`GenerationBuilder::resolve`] writes them in a
    /// sorted load (`None` afterwards, and always for an incremental build).
    sorted_load: Option<Box<SortedLoad>>,
    /// A full build was written by its sorted load and verified on reading back.
    loaded: bool,
    /// Locations this pull sent, for the place book, and whether they replace it.
    places: Option<(crate::mapping::PlaceBook, bool)>,
}

impl std::fmt::Debug for GenerationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerationBuilder")
            .field("generation", &self.generation)
            .field("full", &self.full)
            .finish()
    }
}

struct Tables<'t> {
    items: Table<'t, &'static [u8], &'static [u8]>,
    graves: Table<'t, &'static [u8], &'static [u8]>,
    owner: Table<'t, &'static [u8], &'static [u8]>,
    idents: Table<'t, &'static [u8], &'static [u8]>,
}

fn open_tables(txn: &WriteTransaction, epoch: u64) -> Result<Tables<'_>, StoreError> {
    let open = |table: EpochTable| -> Result<Table<'_, &'static [u8], &'static [u8]>, StoreError> {
        Ok(txn.open_table(table.of(epoch).def())?)
    };
    Ok(Tables {
        items: open(EpochTable::Items)?,
        graves: open(EpochTable::Graves)?,
        owner: open(EpochTable::Owner)?,
        idents: open(EpochTable::Idents)?,
    })
}

impl GenerationBuilder {
    pub(super) fn new(
        store: Store,
        parent: Option<Manifest>,
        full: bool,
        source: &str,
    ) -> Result<Self, StoreError> {
        let reference = parent.clone();
        let mut txn = store.begin_write()?;
        // A long build should not make redb keep repair metadata for every page.
        txn.set_quick_repair(false);
        let generation = next_generation(&txn)?;
        let (epoch, parent) = match (&parent, full) {
            (Some(p), false) => (p.epoch, Some(p.clone())),
            _ => (generation, None),
        };
        // Create the epoch's tables now so an empty generation is still complete.
        drop(open_tables(&txn, epoch)?);
        // An encrypted store: a fresh data key for this build, stored wrapped to the public
        // key in the same transaction (a discarded build leaves no key behind).
        let sealer = match store.public_key() {
            Some(pk) => {
                let (sealer, wrapped) = Sealer::new(&pk, generation);
                txn.open_table(DATA_KEYS)?
                    .insert(generation, wrapped.as_slice())?;
                Some(Arc::new(sealer))
            }
            None => None,
        };
        let mut counts = BTreeMap::new();
        let mut set = SetHash::default();
        let mut index_entries = 0;
        if let Some(p) = &parent {
            for k in ItemKind::ALL {
                counts.insert(k, p.counts.get(k.name()).copied().unwrap_or(0) as i64);
            }
            set = SetHash::from_hex(&p.set_hash)
                .ok_or_else(|| StoreError::Corrupt("parent set hash".into()))?;
            index_entries = p.index_entries as i64;
        }
        Ok(GenerationBuilder {
            store,
            txn: Some(txn),
            generation,
            epoch,
            full,
            parent,
            reference,
            source: source.to_string(),
            set,
            counts,
            index_entries,
            written: 0,
            removed: 0,
            patients_written: HashSet::new(),
            referenced: HashSet::new(),
            deferred: Vec::new(),
            facts: HashMap::new(),
            stats: BuildStats::default(),
            sealer,
            index: Accumulator::new(generation),
            sorted_load: full.then(|| Box::new(SortedLoad::new())),
            loaded: false,
            places: None,
        })
    }

    /// A full build holds at most about `bytes` of collected rows and redb's page cache in
    /// memory and writes the rest of the rows to sorted runs in temporary files next to the
    /// snapshot file (see [`super::sorted_load`]); the generation is the same either way.
    /// The page cache ([`super::PAGE_CACHE`]) takes its share first, leaving the rows at
    /// least a quarter of `bytes`. Without a snapshot file (a database given by the
    /// caller) everything stays in memory.
    pub fn set_memory_budget(&mut self, bytes: usize) {
        let dir = self.store.path().map(|p| super::data_dir(p).to_path_buf());
        if let (Some(load), Some(dir)) = (self.sorted_load.as_mut(), dir) {
            load.set_budget(rows_budget(bytes), &dir);
        }
    }

    /// What worker threads use to prepare items for this build.
    pub fn preparer(&self) -> Preparer {
        Preparer::new(self.store.keyer_handle(), self.sealer.clone())
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_full(&self) -> bool {
        self.full
    }

    pub fn stats(&self) -> &BuildStats {
        &self.stats
    }

    /// Record the Locations this pull sent in the node's place book when the generation
    /// commits (see [`super::places`]): replacing the book (a full pull) or adding to it.
    pub fn record_places(&mut self, book: crate::mapping::PlaceBook, replace: bool) {
        self.places = Some((book, replace));
    }

    fn reject(&mut self, reason: RejectReason, n: u64) {
        if n > 0 {
            *self.stats.rejects.entry(reason).or_default() += n;
        }
    }

    /// Apply a batch of prepared items (one set of table handles per batch).
    pub fn apply(&mut self, batch: &[Prepared]) -> Result<(), StoreError> {
        let txn = self.take_txn()?;
        let result = self.apply_in(&txn, batch);
        self.txn = Some(txn);
        result
    }

    fn take_txn(&mut self) -> Result<WriteTransaction, StoreError> {
        self.txn
            .take()
            .ok_or_else(|| StoreError::Build("the generation build already failed".into()))
    }

    fn apply_in(&mut self, txn: &WriteTransaction, batch: &[Prepared]) -> Result<(), StoreError> {
        if let Some(load) = self.sorted_load.as_mut() {
            let key_id = self.sealer.as_ref().map(|s| s.key_id());
            for p in batch {
                if p.payload.as_ref().is_some_and(|pl| pl.sealed_by != key_id) {
                    return Err(StoreError::Unsealed);
                }
                load.collect(p, &mut self.stats)?;
            }
            return Ok(());
        }
        let mut t = open_tables(txn, self.epoch)?;
        for p in batch {
            self.apply_one(&mut t, p)?;
        }
        Ok(())
    }

    fn apply_one(&mut self, t: &mut Tables<'_>, p: &Prepared) -> Result<(), StoreError> {
        if let Some(payload) = &p.payload {
            if payload.sealed_by != self.sealer.as_ref().map(|s| s.key_id()) {
                return Err(StoreError::Unsealed);
            }
        }
        let Some(payload) = &p.payload else {
            // Retraction or deletion: needs no subject, only the owner entry.
            if p.rtype == ResourceType::Patient {
                self.purge_patient(t, &p.idh)?;
            }
            self.retract(t, p.rtype, &p.idh)?;
            return Ok(());
        };
        let (space, pk) = match &p.target {
            Target::SelfPatient(pk) => {
                for h in &p.identifiers {
                    t.idents.insert(h.as_slice(), pk.as_slice())?;
                }
                self.patients_written.insert(*pk);
                (SPACE_RECORD, *pk)
            }
            Target::Medication => (SPACE_MEDICATION, [0u8; 16]),
            Target::Patient(pk) => {
                self.referenced.insert(*pk);
                (SPACE_RECORD, *pk)
            }
            Target::Identifier(h) => {
                let found = t.idents.get(h.as_slice())?.map(|v| v.value().to_vec());
                match found.and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok()) {
                    Some(pk) => {
                        self.referenced.insert(pk);
                        (SPACE_RECORD, pk)
                    }
                    None => {
                        // The patient may come later in this pull.
                        self.deferred.push(p.clone());
                        return Ok(());
                    }
                }
            }
            Target::Missing => {
                self.reject(RejectReason::MissingSubject, 1);
                return Ok(());
            }
        };
        if let Some(f) = p.encounter {
            f.record(&mut self.facts, pk);
        }
        let g = self.generation;
        let new_owner = Owner {
            pk,
            born: g,
            has_index: payload.index.is_some(),
        };
        let ok = owner_key(p.rtype as u8, &p.idh);
        let old = t
            .owner
            .insert(ok.as_slice(), owner_value(&new_owner).as_slice())?
            .and_then(|v| parse_owner(v.value()));
        if let Some(old) = old {
            self.kill_versions(t, p.rtype, &p.idh, &old)?;
        }
        let key = item_key(space, &pk, p.rtype as u8, &p.idh, g);
        t.items.insert(key.as_slice(), payload.record.as_slice())?;
        self.set.add(&key[..RKEY_LEN], &payload.record_hash);
        *self.counts.entry(payload.kind).or_default() += 1;
        self.written += 1;
        if let Some(entry) = &payload.index {
            self.index.upsert(p.rtype as u8, p.idh, pk, entry.clone());
            self.index_entries += 1;
        }
        self.stats.upserts += 1;
        Ok(())
    }

    /// End the visibility of a resource's newest version (record and index entry).
    fn retract(
        &mut self,
        t: &mut Tables<'_>,
        rtype: ResourceType,
        idh: &IdHash,
    ) -> Result<(), StoreError> {
        let ok = owner_key(rtype as u8, idh);
        let old = t
            .owner
            .remove(ok.as_slice())?
            .and_then(|v| parse_owner(v.value()));
        if let Some(old) = old {
            self.kill_versions(t, rtype, idh, &old)?;
            self.stats.removals += 1;
        }
        Ok(())
    }

    fn kill_versions(
        &mut self,
        t: &mut Tables<'_>,
        rtype: ResourceType,
        idh: &IdHash,
        old: &Owner,
    ) -> Result<(), StoreError> {
        let record_space = if rtype.is_reference_data() {
            SPACE_MEDICATION
        } else {
            SPACE_RECORD
        };
        // Its index entry (if any) ends with it: see `kill_key`.
        let key = item_key(record_space, &old.pk, rtype as u8, idh, old.born);
        self.kill_key(t, &key)
    }

    fn kill_key(&mut self, t: &mut Tables<'_>, key: &[u8; KEY_LEN]) -> Result<(), StoreError> {
        let g = self.generation;
        let value = t.items.get(key.as_slice())?.map(|v| v.value().to_vec());
        let Some(value) = value else {
            return Err(StoreError::Corrupt(
                "owner points at a missing version".into(),
            ));
        };
        let mv = parse_meta(&value).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
        if mv.died != ALIVE {
            return Ok(());
        }
        let parts = ItemKey::of(key);
        if parts.born == g {
            t.items.remove(key.as_slice())?;
        } else {
            // Copy the opaque bytes with the new `died`; nothing is decoded.
            t.items
                .insert(key.as_slice(), with_died(&value, g).as_slice())?;
            t.graves
                .insert(grave_key(g, key).as_slice(), [].as_slice())?;
        }
        self.set.remove(&key[..RKEY_LEN], &mv.hash);
        if mv.indexed {
            self.index
                .remove(parts.rtype, &parts.idh, &parts.pk, parts.born);
            self.index_entries -= 1;
        }
        if let Some(kind) = ItemKind::from_byte(mv.kind) {
            *self.counts.entry(kind).or_default() -= 1;
        }
        self.removed += 1;
        Ok(())
    }

    /// Remove every live item of a patient (deleted patient, unknown patient, out of
    /// scope). Returns how many record items (not index entries) went.
    fn purge_patient(&mut self, t: &mut Tables<'_>, pk: &Pk) -> Result<u64, StoreError> {
        let mut victims = Vec::new();
        for space in [SPACE_INDEX, SPACE_RECORD] {
            let (lo, hi) = keys::prefix_range(&[&[space][..], &pk[..]].concat());
            for row in t.items.range(lo.as_slice()..=hi.as_slice())? {
                let (k, v) = row?;
                if parse_meta(v.value()).is_some_and(|m| m.died == ALIVE) {
                    let key: [u8; KEY_LEN] = k
                        .value()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("key length".into()))?;
                    victims.push(key);
                }
            }
        }
        let mut records = 0;
        for key in victims {
            let parts = ItemKey::of(&key);
            if parts.space == SPACE_RECORD {
                records += 1;
                t.owner
                    .remove(owner_key(parts.rtype, &parts.idh).as_slice())?;
            }
            self.kill_key(t, &key)?;
        }
        self.facts.remove(pk);
        // A Patient deleted in this pull no longer exists for items arriving after it.
        self.patients_written.remove(pk);
        Ok(records)
    }

    /// Is there a live Patient with this key (written now or inherited)?
    fn patient_exists(&self, t: &Tables<'_>, pk: &Pk) -> Result<bool, StoreError> {
        if self.patients_written.contains(pk) {
            return Ok(true);
        }
        Ok(t.owner
            .get(owner_key(ResourceType::Patient as u8, pk).as_slice())?
            .is_some())
    }

    /// Resolve references deferred until the patient arrived, drop the items of patients
    /// that never arrived (`unknown_patient`) and, for a full sync, patients out of scope.
    /// Call once, after the last batch and before [`GenerationBuilder::finish`].
    pub fn resolve(&mut self, scope: Scope, now: DateTime<Utc>) -> Result<(), StoreError> {
        let txn = self.take_txn()?;
        let result = self.resolve_in(&txn, scope, now);
        self.txn = Some(txn);
        result
    }

    fn resolve_in(
        &mut self,
        txn: &WriteTransaction,
        scope: Scope,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let Some(load) = self.sorted_load.take() {
            let w = load.write(
                txn,
                self.epoch,
                self.generation,
                scope,
                now,
                self.store.path(),
                &mut self.stats,
                &mut self.index,
            )?;
            self.set = w.set;
            self.counts = w.counts;
            self.index_entries = w.index_entries;
            self.written = w.written;
            self.loaded = true;
            return Ok(());
        }
        let mut t = open_tables(txn, self.epoch)?;
        let deferred = std::mem::take(&mut self.deferred);
        for p in deferred {
            let Target::Identifier(h) = &p.target else {
                continue;
            };
            let found = t.idents.get(h.as_slice())?.map(|v| v.value().to_vec());
            match found.and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok()) {
                Some(pk) => {
                    let mut p = p;
                    p.target = Target::Patient(pk);
                    self.apply_one(&mut t, &p)?;
                }
                None => self.reject(RejectReason::UnknownPatient, 1),
            }
        }
        let referenced: Vec<Pk> = std::mem::take(&mut self.referenced).into_iter().collect();
        for pk in referenced {
            if !self.patient_exists(&t, &pk)? {
                let n = self.purge_patient(&mut t, &pk)?;
                self.reject(RejectReason::UnknownPatient, n);
            }
        }
        if self.full && scope != Scope::All {
            let patients: Vec<Pk> = self.patients_written.iter().copied().collect();
            for pk in patients {
                let f = self.facts.get(&pk).copied();
                let keep = match scope {
                    Scope::All => true,
                    Scope::CurrentInpatients => f.is_some_and(|f| f.inpatient_now),
                    Scope::RecentEncounter { days } => f.is_some_and(|f| {
                        f.inpatient_now
                            || f.last
                                .is_some_and(|l| l >= now - Duration::days(days.into()))
                    }),
                };
                if !keep {
                    self.purge_patient(&mut t, &pk)?;
                    self.stats.out_of_scope_patients += 1;
                }
            }
        }
        Ok(())
    }

    /// Verify the build and put it through `guard` (see [`super::guard`]; `None`: no
    /// guard): record the manifest, switch `current` and apply retention, all in one
    /// commit — or keep it quarantined, or write nothing when the data did not change.
    /// Call [`GenerationBuilder::resolve`] first.
    pub fn finish(
        mut self,
        high_water: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        guard: Option<&Guard>,
    ) -> Result<(Finished, BuildStats), StoreError> {
        let txn = self.take_txn()?;
        let mut manifest = self.finish_in(&txn, high_water, now)?;
        let stats = self.stats.clone();
        if let Some(reference) = &self.reference {
            // A full build of unchanged data is still written: a fresh, verified epoch
            // (it repairs silent damage); retention keeps one generation per content.
            if !self.full && manifest.same_content(reference) {
                // Discard what the build wrote; the current generation is current as of now.
                drop(txn);
                let current = self.store.touch_current(high_water, now)?;
                return Ok((Finished::Unchanged(current), stats));
            }
            let losses = guard.map(|g| g.losses(reference, &manifest.counts));
            if let Some(losses) = losses.filter(|l| !l.is_empty()) {
                let newest =
                    guard::newest_quarantined(&txn.open_table(super::tables::GENERATIONS)?)?;
                if let Some(same) = newest.filter(|q| q.same_content(&manifest)) {
                    drop(txn);
                    return Ok((
                        Finished::Quarantined {
                            manifest: same,
                            new: false,
                        },
                        stats,
                    ));
                }
                manifest.quarantine = Some(Quarantine {
                    at: now,
                    compared_with: reference.generation,
                    losses,
                    promoted_at: None,
                });
                record_generation(&txn, &manifest)?;
                apply_retention(&txn, self.store.keep())?;
                txn.commit()?;
                return Ok((
                    Finished::Quarantined {
                        manifest,
                        new: true,
                    },
                    stats,
                ));
            }
        }
        if let Some((book, replace)) = &self.places {
            super::places::write_places(&txn, book, *replace)?;
        }
        switch_to(&txn, &manifest)?;
        guard::set_last_good_pull(&txn, now)?;
        apply_retention(&txn, self.store.keep())?;
        txn.commit()?;
        Ok((Finished::Current(manifest), stats))
    }

    /// Visible items by kind name, for the manifest; a negative count is a bug caught
    /// before the generation goes live.
    fn manifest_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut counts = BTreeMap::new();
        for (k, v) in &self.counts {
            if *v < 0 {
                return Err(StoreError::VerifyFailed {
                    generation: self.generation,
                    problem: format!("negative {} count", k.name()),
                });
            }
            if *v > 0 {
                counts.insert(k.name().to_string(), *v as u64);
            }
        }
        Ok(counts)
    }

    /// The data keys the generation's items are sealed with: its parent's and its own.
    fn key_ids(&self) -> Vec<u64> {
        let mut ids = self
            .parent
            .as_ref()
            .map(|p| p.key_ids.clone())
            .unwrap_or_default();
        ids.extend(self.sealer.as_ref().map(|s| s.key_id()));
        ids
    }

    fn finish_in(
        &mut self,
        txn: &WriteTransaction,
        high_water: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Manifest, StoreError> {
        if self.sorted_load.is_some() {
            return Err(StoreError::Build(
                "a full generation must be resolved before it is finished".into(),
            ));
        }
        let counts = self.manifest_counts()?;
        if self.index_entries < 0 || (self.full && self.index_entries != self.index.born() as i64) {
            return Err(StoreError::VerifyFailed {
                generation: self.generation,
                problem: "index count differs from the index entries written".into(),
            });
        }
        let parent_chain = self.parent.as_ref().map(|p| p.index_chain.as_str());
        let index_chain = self.index.write(
            txn,
            self.epoch,
            self.full,
            self.sealer.as_deref(),
            parent_chain,
        )?;
        let manifest = Manifest {
            generation: self.generation,
            epoch: self.epoch,
            parent: self.parent.as_ref().map(|p| p.generation),
            kind: if self.full {
                GenerationKind::Full
            } else {
                GenerationKind::Incremental
            },
            created_at: now,
            high_water,
            counts,
            index_entries: self.index_entries as u64,
            set_hash: self.set.to_hex(),
            pinned: false,
            source: self.source.clone(),
            written: self.written,
            removed: self.removed,
            key_ids: self.key_ids(),
            index_chain,
            quarantine: None,
        };
        if self.full && !self.loaded {
            // A full generation is checked against its own metadata before it goes live:
            // every key the manifest counts is there with the hash it was written with.
            // (One written by a sorted load was: each bucket was read back and compared
            // byte for byte, and its counts and set hash come from exactly those rows.)
            verify_epoch_metadata(txn, &manifest)?;
        } else if self.full && !index_blob::check_written(txn, &manifest)? {
            return Err(StoreError::VerifyFailed {
                generation: self.generation,
                problem: "the index blob does not read back as written".into(),
            });
        }
        Ok(manifest)
    }
}

/// Recount a generation from its version headers (content is not decoded) and compare
/// with the manifest.
fn verify_epoch_metadata(txn: &WriteTransaction, m: &Manifest) -> Result<(), StoreError> {
    let name = EpochTable::Items.of(m.epoch);
    let meta = txn.open_table(name.def())?;
    let mut set = SetHash::default();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for row in meta.iter()? {
        let (k, v) = row?;
        let key = k.value();
        let mv = parse_meta(v.value()).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
        if !super::read::visible(key, &mv, m.generation)? {
            continue;
        }
        set.add(keys::rkey_of(key)?, &mv.hash);
        let kind = ItemKind::from_byte(mv.kind)
            .map(ItemKind::name)
            .unwrap_or("?");
        *counts.entry(kind.to_string()).or_default() += 1;
    }
    drop(meta);
    let index_ok = index_blob::check_written(txn, m)?;
    if set.to_hex() != m.set_hash || counts != m.counts || !index_ok {
        return Err(StoreError::VerifyFailed {
            generation: m.generation,
            problem: "recounted metadata differs from what was written".into(),
        });
    }
    Ok(())
}

/// Free versions that died at or before `oldest` (no retained generation of the epoch
/// can see them any more).
pub(crate) fn collect_graves(
    txn: &WriteTransaction,
    epoch: u64,
    oldest: u64,
) -> Result<(), StoreError> {
    let mut t = open_tables(txn, epoch)?;
    let hi = grave_key(oldest, &[0xFF; KEY_LEN]);
    let mut dead = Vec::new();
    for row in t.graves.range(..=hi.as_slice())? {
        let (k, _) = row?;
        dead.push(k.value().to_vec());
    }
    for g in dead {
        t.items.remove(grave_item(&g)?)?;
        t.graves.remove(g.as_slice())?;
    }
    Ok(())
}

/// What a full build's collected rows may hold of a memory budget of `bytes`.
fn rows_budget(bytes: usize) -> usize {
    bytes.saturating_sub(super::PAGE_CACHE).max(bytes / 4)
}
