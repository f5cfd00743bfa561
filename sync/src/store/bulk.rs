//! Bulk loading of a full generation into its epoch's fresh tables.
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
//! point (disk full, SIGKILL) leaves the previous generation current, as before.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use redb::{ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction};

use super::build::{BuildStats, EncounterFact, Prepared, Scope, Target};
use super::index_blob::{Accumulator, Entry};
use super::keys::{
    owner_key, owner_value, IdHash, Owner, Pk, SetHash, KEY_LEN, META_LEN, RKEY_LEN,
    SPACE_MEDICATION, SPACE_RECORD,
};
use super::{table_name, StoreError};
use crate::mapping::{ItemKind, RejectReason, ResourceType};

/// Item buckets: by space (index — unused since index entries went to blobs —, record,
/// medication) and the first byte of the patient
/// key, so bucket order is key order.
const ITEM_BUCKETS: usize = 3 * 256;
/// Owner buckets: by resource type and the first byte of the id hash.
const OWNER_BUCKETS: usize = 16 * 256;

type BytesTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

fn def(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

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

/// A search-index entry (plaintext, in memory only): it goes to the build's index blob
/// if the version that carries it survives.
struct IndexRow {
    seq: u32,
    rtype: u8,
    idh: IdHash,
    pk: Pk,
    entry: Arc<Entry>,
}

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

/// What becomes of a patient's items.
#[derive(Clone, Copy)]
struct Fate {
    /// Items that arrived before this were removed with a deleted Patient.
    purged_before: u32,
    keep: bool,
    /// The patient does not exist at the end of the pull (items count as rejected).
    unknown: bool,
}

/// What the bulk load wrote, for the manifest.
pub(super) struct Written {
    pub set: SetHash,
    pub counts: BTreeMap<ItemKind, i64>,
    pub index_entries: i64,
    pub written: u64,
}

/// Rows collected for a full build.
pub(super) struct Bulk {
    next_seq: u32,
    items: Vec<ItemBucket>,
    owners: Vec<Vec<OwnerRow>>,
    idents: Vec<IdentRow>,
    index: Vec<IndexRow>,
    patients: HashMap<Pk, PatientEvents>,
    facts: HashMap<Pk, EncounterFact>,
    /// References by identifier, resolved once every Patient has arrived.
    deferred: Vec<(u32, Prepared)>,
}

impl Bulk {
    pub(super) fn new() -> Bulk {
        Bulk {
            next_seq: 0,
            items: (0..ITEM_BUCKETS).map(|_| ItemBucket::default()).collect(),
            owners: (0..OWNER_BUCKETS).map(|_| Vec::new()).collect(),
            idents: Vec::new(),
            index: Vec::new(),
            patients: HashMap::new(),
            facts: HashMap::new(),
            deferred: Vec::new(),
        }
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
            .ok_or_else(|| StoreError::Database("too many resources in one full sync".into()))?;
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
            self.owners[owner_bucket(p.rtype as u8, &p.idh)].push(owner(0, [0; 16], false, true));
            return Ok(());
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
            let e = self.facts.entry(pk).or_insert(EncounterFact {
                inpatient_now: false,
                last: None,
            });
            e.inpatient_now |= f.inpatient_now;
            e.last = e.last.max(f.last);
        }
        self.push_item(space, &pk, p, seq, &payload.record)?;
        if let Some(entry) = &payload.index {
            self.index.push(IndexRow {
                seq,
                rtype: p.rtype as u8,
                idh: p.idh,
                pk,
                entry: entry.clone(),
            });
        }
        self.owners[owner_bucket(p.rtype as u8, &p.idh)].push(owner(
            space,
            pk,
            payload.index.is_some(),
            false,
        ));
        stats.upserts += 1;
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
        let too_large = || StoreError::Database("a full sync bucket exceeds 4 GiB".into());
        let off = u32::try_from(bucket.bytes.len()).map_err(|_| too_large())?;
        let len = u32::try_from(value.len()).map_err(|_| too_large())?;
        off.checked_add(len).ok_or_else(too_large)?;
        bucket.bytes.extend_from_slice(value);
        bucket.rows.push(ItemRow {
            rkey,
            seq,
            off,
            len,
        });
        Ok(())
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
        // Identifiers: the last Patient to claim one wins.
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

        let judge = Judge {
            patients: &self.patients,
            facts: &self.facts,
            scope,
            now,
        };
        stats.out_of_scope_patients += self
            .patients
            .keys()
            .filter(|pk| {
                let f = judge.fate(pk);
                !f.keep && !f.unknown
            })
            .count() as u64;

        let helpers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4);
        let items_name = table_name(epoch, "items");
        let owner_name = table_name(epoch, "owner");
        let idents_name = table_name(epoch, "idents");
        let mut owner_table = txn.open_table(def(&owner_name))?;
        let mut items_table = txn.open_table(def(&items_name))?;
        let mut idents_table = txn.open_table(def(&idents_name))?;

        // 1. Owners: the last version of each resource, if its patient keeps it. Versions
        //    it replaced are dead.
        let owners = std::mem::take(&mut self.owners);
        let dead: Mutex<Vec<u32>> = Mutex::new(Vec::new());
        let removals = AtomicUsize::new(0);
        let mut owners_written = 0u64;
        run_pipeline(
            owners,
            helpers,
            |mut rows: Vec<OwnerRow>| {
                let mut lost = Vec::new();
                let n = settle_owners(&mut rows, &judge, &mut lost);
                removals.fetch_add(n, Ordering::Relaxed);
                if !lost.is_empty() {
                    dead.lock().unwrap_or_else(|e| e.into_inner()).extend(lost);
                }
                rows
            },
            |rows| {
                owners_written += rows.len() as u64;
                append_owners(&mut owner_table, &rows, generation)
            },
        )?;
        stats.removals += removals.load(Ordering::Relaxed) as u64;
        let dead: HashSet<u32> = dead
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .collect();

        // Search-index entries go to the build's index blob (not to rows) when the version
        // that carries them survives, by the same rule as its record row.
        let mut index_entries = 0i64;
        for r in std::mem::take(&mut self.index) {
            if !dead.contains(&r.seq) && judge.keeps(SPACE_RECORD, &r.pk, r.seq) {
                index.upsert(r.rtype, r.idh, r.pk, r.entry);
                index_entries += 1;
            }
        }

        // 2. Items, bucket by bucket in key order; each bucket is read
        //    back and compared with what was meant to be written.
        let items = std::mem::take(&mut self.items);
        let mut totals = Settled::default();
        run_pipeline(
            items,
            helpers,
            |mut bucket: ItemBucket| {
                let settled = settle_items(&mut bucket, &judge, &dead);
                (bucket, settled)
            },
            |(bucket, settled)| {
                append_items(&mut items_table, &bucket, generation)?;
                totals.merge(&settled);
                Ok(())
            },
        )?;
        if totals.unknown > 0 {
            *stats
                .rejects
                .entry(RejectReason::UnknownPatient)
                .or_default() += totals.unknown;
        }

        // 3. Identifiers → patient keys.
        if !unique.is_empty() {
            let mut cur = idents_table.upper_bound_mut(Bound::<&[u8]>::Unbounded)?;
            for r in &unique {
                cur.insert_before(r.hash.as_slice(), r.pk.as_slice())
                    .map_err(redb::Error::from)?;
            }
            cur.close()?;
        }

        // Nothing else is in the epoch's tables: they were empty and every bucket read
        // back exactly as written.
        let rows = totals.rows;
        if items_table.len()? != rows
            || owner_table.len()? != owners_written
            || idents_table.len()? != unique.len() as u64
        {
            return Err(StoreError::VerifyFailed {
                generation,
                problem: "the new epoch's tables hold other rows than were written".into(),
            });
        }
        let mut counts = BTreeMap::new();
        for k in ItemKind::ALL {
            let n = totals.counts[k as usize];
            if n > 0 {
                counts.insert(k, n as i64);
            }
        }
        Ok(Written {
            set: totals.set,
            counts,
            index_entries,
            written: rows,
        })
    }
}

/// Flushes the snapshot file to disk every so often while a bulk load writes it, so the
/// commit's fsync finds little left to write (disk I/O overlaps the CPU work). Only an
/// extra `fdatasync` of data redb wrote anyway: the commit protocol and its own fsync are
/// unchanged, and a failure here is ignored (the commit's fsync reports real I/O errors).
struct Flusher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    fn start(path: &Path) -> Flusher {
        let (tx, rx) = mpsc::channel::<()>();
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("akari-sync-flush".into())
            .spawn(move || {
                let Ok(file) = std::fs::File::open(&path) else {
                    return;
                };
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(std::time::Duration::from_millis(250))
                {
                    let _ = file.sync_data();
                }
            })
            .ok();
        Flusher {
            stop: Some(tx),
            thread,
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn owner_bucket(rtype: u8, idh: &IdHash) -> usize {
    (rtype as usize & 15) * 256 + idh[0] as usize
}

struct Judge<'a> {
    patients: &'a HashMap<Pk, PatientEvents>,
    facts: &'a HashMap<Pk, EncounterFact>,
    scope: Scope,
    now: DateTime<Utc>,
}

impl Judge<'_> {
    fn fate(&self, pk: &Pk) -> Fate {
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
    fn keeps(&self, space: u8, pk: &Pk, seq: u32) -> bool {
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
fn settle_owners(rows: &mut Vec<OwnerRow>, judge: &Judge<'_>, lost: &mut Vec<u32>) -> usize {
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
struct Settled {
    set: SetHash,
    /// By item kind byte (every [`ItemKind`] fits).
    counts: [u64; 32],
    rows: u64,
    /// Record items dropped because their patient does not exist.
    unknown: u64,
}

impl Settled {
    fn merge(&mut self, o: &Settled) {
        self.set.merge(&o.set);
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.rows += o.rows;
        self.unknown += o.unknown;
    }
}

/// Sort one item bucket by key and keep what survives; count and hash it.
fn settle_items(bucket: &mut ItemBucket, judge: &Judge<'_>, dead: &HashSet<u32>) -> Settled {
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
            s.counts[value[40] as usize & 15] += 1;
        }
        s.rows += 1;
        rows[out] = r;
        out += 1;
    }
    rows.truncate(out);
    s
}

fn full_key(rkey: &[u8; RKEY_LEN], generation: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[..RKEY_LEN].copy_from_slice(rkey);
    k[RKEY_LEN..].copy_from_slice(&generation.to_be_bytes());
    k
}

/// Append a sorted bucket after everything in `table`, then read it back.
fn append_items(
    table: &mut BytesTable<'_>,
    bucket: &ItemBucket,
    generation: u64,
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (bucket.rows.first(), bucket.rows.last()) else {
        return Ok(());
    };
    {
        let mut cur = table.upper_bound_mut(Bound::<&[u8]>::Unbounded)?;
        for r in &bucket.rows {
            cur.insert_before(full_key(&r.rkey, generation).as_slice(), bucket.value(r))
                .map_err(redb::Error::from)?;
        }
        cur.close()?;
    }
    let lo = full_key(&first.rkey, generation);
    let hi = full_key(&last.rkey, generation);
    let mut want = bucket.rows.iter();
    for stored in table.range(lo.as_slice()..=hi.as_slice())? {
        let (k, v) = stored?;
        let same = want.next().is_some_and(|r| {
            k.value() == full_key(&r.rkey, generation).as_slice() && v.value() == bucket.value(r)
        });
        if !same {
            return Err(StoreError::VerifyFailed {
                generation,
                problem: "written items do not read back as written".into(),
            });
        }
    }
    if want.next().is_some() {
        return Err(StoreError::VerifyFailed {
            generation,
            problem: "written items are missing on reading back".into(),
        });
    }
    Ok(())
}

fn append_owners(
    table: &mut BytesTable<'_>,
    rows: &[OwnerRow],
    generation: u64,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut cur = table.upper_bound_mut(Bound::<&[u8]>::Unbounded)?;
    for r in rows {
        let value = owner_value(&Owner {
            pk: r.pk,
            born: generation,
            has_index: r.has_index,
        });
        cur.insert_before(owner_key(r.rtype, &r.idh).as_slice(), value.as_slice())
            .map_err(redb::Error::from)?;
    }
    cur.close()?;
    Ok(())
}

/// Process `buckets` on `helpers` threads with `settle` and hand the results, in bucket
/// order, to `write` on this thread (which holds the write transaction's tables). Stops at
/// the first error of `write`.
fn run_pipeline<B, R, S, W>(
    buckets: Vec<B>,
    helpers: usize,
    settle: S,
    mut write: W,
) -> Result<(), StoreError>
where
    B: Send,
    R: Send,
    S: Fn(B) -> R + Sync,
    W: FnMut(R) -> Result<(), StoreError>,
{
    let n = buckets.len();
    let jobs: Vec<Mutex<Option<B>>> = buckets.into_iter().map(|b| Mutex::new(Some(b))).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, R)>();
        for _ in 0..helpers {
            let tx = tx.clone();
            let (jobs, next, stop, settle) = (&jobs, &next, &stop, &settle);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || stop.load(Ordering::Relaxed) {
                    break;
                }
                let job = jobs[i].lock().unwrap_or_else(|e| e.into_inner()).take();
                let Some(job) = job else { break };
                if tx.send((i, settle(job))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, R> = BTreeMap::new();
        let mut want = 0usize;
        let result = (|| {
            for (i, r) in rx.iter() {
                pending.insert(i, r);
                while let Some(r) = pending.remove(&want) {
                    want += 1;
                    write(r)?;
                }
            }
            if want != n {
                return Err(StoreError::Database(
                    "a bulk-load helper thread stopped early".into(),
                ));
            }
            Ok(())
        })();
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        result
    })
}
