//! The sorted load of a full generation into its epoch's fresh tables.
//!
//! A full sync starts a new epoch whose tables are empty, so nothing it writes depends on
//! what is already stored. Inserting each resource where its key falls (patient keys are
//! keyed hashes: random positions) makes redb descend the tree, copy and split pages per
//! row; that single writer thread was the limit of a full sync. Instead, while the pull
//! runs, the build only *collects* compact rows — key, a copy of the stored value (already
//! encoded, hashed and, for an encrypted store, sealed by the workers), arrival order — in
//! buckets by the first key bytes. Once the pull is complete it settles what survives
//! exactly as applying the resources one by one would have (the last version of each
//! resource wins, retractions end earlier versions, a deleted Patient takes its items
//! with it, items of unknown patients are rejected, out-of-scope patients are dropped),
//! sorts the buckets on helper threads and appends them in key order through a redb
//! cursor, which packs full leaves without descending the tree per row. Each bucket is
//! read back and compared byte for byte with what was meant to be written, and the
//! manifest's counts and set hash are computed from exactly those rows.
//!
//! All of it happens inside the generation's one write transaction: a failure at any
//! point (disk full, SIGKILL) leaves the previous generation current.
//!
//! The item and owner rows (the bulk: every stored value, and one row per resource) are
//! held within a memory budget: beyond it they go to sorted runs in temporary files and are merged back bucket by bucket (see
//! [`spill`]); the result is the same either way.
//!
//! This module collects the rows and runs the load; [`settle`] decides what survives,
//! [`write`] appends the settled buckets and flushes the file meanwhile.

mod settle;
mod spill;
mod write;

pub use spill::remove_leftovers as remove_spill_leftovers;

use std::collections::{BTreeMap, HashMap};
use std::mem::size_of;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use redb::{ReadableTableMetadata, Table, WriteTransaction};

use super::build::{BuildStats, Scope};
use super::index_blob::{Accumulator, BaseEntry, Entry};
use super::keys::{IdHash, Pk, SetHash, RKEY_LEN, SPACE_MEDICATION, SPACE_RECORD};
use super::prepare::{EncounterFact, Prepared, Target};
use super::tables::EpochTable;
use super::StoreError;
use crate::mapping::{ItemKind, RejectReason, ResourceType};
use settle::Judge;
use spill::Spill;
use write::{write_idents, write_items, write_owners, Flusher};

/// Item buckets: by space (index — unused since index entries went to blobs —, record,
/// medication) and the first byte of the patient
/// key, so bucket order is key order.
const ITEM_BUCKETS: usize = 3 * 256;
/// Owner buckets: by resource type and the first byte of the id hash, so bucket order is
/// key order (owner keys begin with the type's number).
const OWNER_BUCKETS: usize = (ResourceType::ALL.len() + 1) * 256;

type BytesTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// One version to write: its key without the born generation, where its value lies in
/// the bucket's byte arena, and its place in the pull (later wins).
#[derive(Clone, Copy)]
struct ItemRow {
    rkey: [u8; RKEY_LEN],
    seq: u32,
    off: u32,
    len: u32,
}

impl ItemRow {
    fn pk(&self) -> Pk {
        self.rkey[1..17].try_into().expect("16 bytes")
    }

    /// Order inside one bucket (space and first patient-key byte are the same).
    fn sort_key(&self) -> (u128, u8, u128) {
        (
            u128::from_be_bytes(self.rkey[1..17].try_into().expect("16 bytes")),
            self.rkey[17],
            u128::from_be_bytes(self.rkey[18..34].try_into().expect("16 bytes")),
        )
    }
}

#[derive(Default)]
struct ItemBucket {
    rows: Vec<ItemRow>,
    bytes: Vec<u8>,
}

impl ItemBucket {
    fn value(&self, r: &ItemRow) -> &[u8] {
        &self.bytes[r.off as usize..r.off as usize + r.len as usize]
    }
}

/// One upsert or retraction of a resource, for the owner table.
#[derive(Clone, Copy)]
struct OwnerRow {
    rtype: u8,
    space: u8,
    tombstone: bool,
    has_index: bool,
    seq: u32,
    idh: IdHash,
    pk: Pk,
}

/// A search-index entry (plaintext, in memory only, one compact byte string each): it
/// goes to the build's index blob if the version that carries it survives.
type IndexRow = BaseEntry;

#[derive(Clone, Copy)]
struct IdentRow {
    hash: [u8; 32],
    pk: Pk,
    seq: u32,
}

/// The last upsert and the last deletion of a Patient in this pull.
#[derive(Default, Clone, Copy)]
struct PatientEvents {
    upsert: Option<u32>,
    purge: Option<u32>,
}

/// What the sorted load wrote, for the manifest.
pub(super) struct Written {
    pub set: SetHash,
    pub counts: BTreeMap<ItemKind, i64>,
    pub index_entries: i64,
    pub written: u64,
}

/// How the collected item and owner rows are held: within `budget` bytes in memory, the
/// rest in sorted runs in `dir`.
struct Budget {
    budget: usize,
    dir: PathBuf,
    /// Bytes allocated for item and owner rows now in memory.
    held: usize,
    spill: Option<Spill>,
}

/// Rows collected for a full build.
pub(super) struct SortedLoad {
    next_seq: u32,
    items: Vec<ItemBucket>,
    owners: Vec<Vec<OwnerRow>>,
    idents: Vec<IdentRow>,
    index: Vec<IndexRow>,
    patients: HashMap<Pk, PatientEvents>,
    facts: HashMap<Pk, EncounterFact>,
    /// References by identifier, resolved once every Patient has arrived.
    deferred: Vec<(u32, Prepared)>,
    /// `None`: every row stays in memory (no budget, or a store without a directory).
    budget: Option<Budget>,
}

impl SortedLoad {
    pub(super) fn new() -> SortedLoad {
        SortedLoad {
            next_seq: 0,
            items: (0..ITEM_BUCKETS).map(|_| ItemBucket::default()).collect(),
            owners: (0..OWNER_BUCKETS).map(|_| Vec::new()).collect(),
            idents: Vec::new(),
            index: Vec::new(),
            patients: HashMap::new(),
            facts: HashMap::new(),
            deferred: Vec::new(),
            budget: None,
        }
    }

    /// Hold at most about `bytes` of item and owner rows in memory; beyond that write them
    /// to sorted runs in temporary files in `dir` (the snapshot file's directory).
    pub(super) fn set_budget(&mut self, bytes: usize, dir: &Path) {
        self.budget = Some(Budget {
            budget: bytes,
            dir: dir.to_path_buf(),
            held: 0,
            spill: None,
        });
    }

    /// Move the item and owner rows in memory to a sorted run on disk.
    fn spill(&mut self) -> Result<(), StoreError> {
        let Some(b) = self.budget.as_mut() else {
            return Ok(());
        };
        let spill = b.spill.get_or_insert_with(|| Spill::new(&b.dir));
        spill.write_run(&mut self.items, &mut self.owners)?;
        b.held = 0;
        Ok(())
    }

    /// Take one prepared resource (in pull order). Copies its stored bytes; `p` may be
    /// dropped afterwards.
    pub(super) fn collect(
        &mut self,
        p: &Prepared,
        stats: &mut BuildStats,
    ) -> Result<(), StoreError> {
        let seq = self.next_seq;
        self.next_seq = seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Build("too many resources in one full sync".into()))?;
        self.collect_at(seq, p, None, stats)
    }

    fn collect_at(
        &mut self,
        seq: u32,
        p: &Prepared,
        resolved: Option<Pk>,
        stats: &mut BuildStats,
    ) -> Result<(), StoreError> {
        let owner = |space: u8, pk: Pk, has_index: bool, tombstone: bool| OwnerRow {
            rtype: p.rtype as u8,
            space,
            tombstone,
            has_index,
            seq,
            idh: p.idh,
            pk,
        };
        let Some(payload) = &p.payload else {
            // Retraction or deletion: ends any earlier version; a Patient takes its items.
            if p.rtype == ResourceType::Patient {
                self.patients.entry(p.idh).or_default().purge = Some(seq);
            }
            return self.push_owner(owner(0, [0; 16], false, true));
        };
        let (space, pk) = match (&p.target, resolved) {
            (_, Some(pk)) => (SPACE_RECORD, pk),
            (Target::SelfPatient(pk), None) => {
                for h in &p.identifiers {
                    self.idents.push(IdentRow {
                        hash: *h,
                        pk: *pk,
                        seq,
                    });
                }
                self.patients.entry(*pk).or_default().upsert = Some(seq);
                (SPACE_RECORD, *pk)
            }
            (Target::Medication, None) => (SPACE_MEDICATION, [0u8; 16]),
            (Target::Patient(pk), None) => (SPACE_RECORD, *pk),
            (Target::Identifier(_), None) => {
                // The patient may come later in this pull.
                self.deferred.push((seq, p.clone()));
                return Ok(());
            }
            (Target::Missing, None) => {
                *stats
                    .rejects
                    .entry(RejectReason::MissingSubject)
                    .or_default() += 1;
                return Ok(());
            }
        };
        if let Some(f) = p.encounter {
            f.record(&mut self.facts, pk);
        }
        self.push_item(space, &pk, p, seq, &payload.record)?;
        if let Some(entry) = &payload.index {
            self.index.push(IndexRow {
                seq,
                rtype: p.rtype as u8,
                idh: p.idh,
                pk,
                entry: Entry::clone(entry),
            });
        }
        self.push_owner(owner(space, pk, payload.index.is_some(), false))?;
        stats.upserts += 1;
        Ok(())
    }

    fn push_owner(&mut self, row: OwnerRow) -> Result<(), StoreError> {
        let bucket = &mut self.owners[owner_bucket(row.rtype, &row.idh)];
        let before = bucket.capacity();
        bucket.push(row);
        let grown = bucket.capacity() - before;
        self.account(grown * size_of::<OwnerRow>())
    }

    /// Count `bytes` more rows in memory; over the budget, spill them.
    fn account(&mut self, bytes: usize) -> Result<(), StoreError> {
        if let Some(b) = self.budget.as_mut() {
            b.held += bytes;
            if b.held > b.budget {
                self.spill()?;
            }
        }
        Ok(())
    }

    fn push_item(
        &mut self,
        space: u8,
        pk: &Pk,
        p: &Prepared,
        seq: u32,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let mut rkey = [0u8; RKEY_LEN];
        rkey[0] = space;
        rkey[1..17].copy_from_slice(pk);
        rkey[17] = p.rtype as u8;
        rkey[18..34].copy_from_slice(&p.idh);
        let bucket = &mut self.items[space as usize * 256 + pk[0] as usize];
        let too_large = || StoreError::Build("a full sync bucket exceeds 4 GiB".into());
        let off = u32::try_from(bucket.bytes.len()).map_err(|_| too_large())?;
        let len = u32::try_from(value.len()).map_err(|_| too_large())?;
        off.checked_add(len).ok_or_else(too_large)?;
        // What is allocated counts, not what is used: a growing vector holds up to twice
        // its length, across 768 buckets.
        let before = bucket.bytes.capacity() + bucket.rows.capacity() * size_of::<ItemRow>();
        bucket.bytes.extend_from_slice(value);
        bucket.rows.push(ItemRow {
            rkey,
            seq,
            off,
            len,
        });
        let after = bucket.bytes.capacity() + bucket.rows.capacity() * size_of::<ItemRow>();
        self.account(after - before)
    }

    /// Settle and write everything collected into the (empty) tables of `epoch`, born at
    /// `generation`. Call once, after the last resource.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write(
        mut self,
        txn: &WriteTransaction,
        epoch: u64,
        generation: u64,
        scope: Scope,
        now: DateTime<Utc>,
        file: Option<&Path>,
        stats: &mut BuildStats,
        index: &mut Accumulator,
    ) -> Result<Written, StoreError> {
        let _flusher = file.map(Flusher::start);
        let idents = self.resolve_identifiers(stats)?;
        // Once anything went to disk, the rest follows: the merge then holds only the
        // buckets it is working on.
        let spilled = self
            .budget
            .as_ref()
            .is_some_and(|b| b.spill.is_some() && b.held > 0);
        if spilled {
            self.spill()?;
        }
        let spill = self.budget.as_mut().and_then(|b| b.spill.take());
        if let Some(s) = &spill {
            stats.spilled_runs = s.runs() as u64;
            stats.spilled_bytes = s.bytes;
        }
        let judge = Judge {
            patients: &self.patients,
            facts: &self.facts,
            scope,
            now,
        };
        stats.out_of_scope_patients += judge.out_of_scope();
        let helpers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4);
        let mut owner_table = txn.open_table(EpochTable::Owner.of(epoch).def())?;
        let mut items_table = txn.open_table(EpochTable::Items.of(epoch).def())?;
        let mut idents_table = txn.open_table(EpochTable::Idents.of(epoch).def())?;

        // 1. Owners: the last version of each resource, if its patient keeps it. Versions
        //    it replaced are dead.
        let owners = std::mem::take(&mut self.owners);
        let (owners_written, dead) = write_owners(
            owners,
            spill.as_ref(),
            helpers,
            &judge,
            &mut owner_table,
            generation,
            stats,
        )?;

        // Search-index entries go to the build's index blob (not to rows) when the version
        // that carries them survives, by the same rule as its record row.
        // The rows are kept where they are (no second collection of them is built).
        let mut entries = std::mem::take(&mut self.index);
        entries.retain(|r| !dead.contains(&r.seq) && judge.keeps(SPACE_RECORD, &r.pk, r.seq));
        let index_entries = entries.len() as i64;
        index.set_base(entries);

        // 2. Items, bucket by bucket in key order; each bucket is read back and compared
        //    with what was meant to be written.
        let items = std::mem::take(&mut self.items);
        let totals = write_items(
            items,
            spill.as_ref(),
            helpers,
            &judge,
            &dead,
            &mut items_table,
            generation,
        )?;
        if totals.unknown > 0 {
            *stats
                .rejects
                .entry(RejectReason::UnknownPatient)
                .or_default() += totals.unknown;
        }

        // 3. Identifiers → patient keys.
        write_idents(&mut idents_table, &idents)?;

        // Nothing else is in the epoch's tables: they were empty and every bucket read
        // back exactly as written.
        let rows = totals.rows;
        if items_table.len()? != rows
            || owner_table.len()? != owners_written
            || idents_table.len()? != idents.len() as u64
        {
            return Err(StoreError::VerifyFailed {
                generation,
                problem: "the new epoch's tables hold other rows than were written".into(),
            });
        }
        Ok(Written {
            set: totals.set,
            counts: totals.by_kind(),
            index_entries,
            written: rows,
        })
    }

    /// Every identifier once (the last Patient to claim one wins), sorted; then the
    /// resources that referred to a patient by identifier are collected under the
    /// patient's key, or rejected as of an unknown patient.
    fn resolve_identifiers(&mut self, stats: &mut BuildStats) -> Result<Vec<IdentRow>, StoreError> {
        let mut idents = std::mem::take(&mut self.idents);
        idents.sort_unstable_by(|a, b| a.hash.cmp(&b.hash).then(a.seq.cmp(&b.seq)));
        let mut unique: Vec<IdentRow> = Vec::with_capacity(idents.len());
        for r in idents {
            match unique.last_mut() {
                Some(last) if last.hash == r.hash => *last = r,
                _ => unique.push(r),
            }
        }
        for (seq, p) in std::mem::take(&mut self.deferred) {
            let Target::Identifier(h) = &p.target else {
                continue;
            };
            match unique.binary_search_by(|r| r.hash.cmp(h)) {
                Ok(i) => {
                    let pk = unique[i].pk;
                    self.collect_at(seq, &p, Some(pk), stats)?;
                }
                Err(_) => {
                    *stats
                        .rejects
                        .entry(RejectReason::UnknownPatient)
                        .or_default() += 1
                }
            }
        }
        Ok(unique)
    }
}

fn owner_bucket(rtype: u8, idh: &IdHash) -> usize {
    debug_assert!(
        (rtype as usize) <= ResourceType::ALL.len(),
        "type numbers run 1..=ALL.len()"
    );
    rtype as usize * 256 + idh[0] as usize
}
