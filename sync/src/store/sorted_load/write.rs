//! Writing the settled rows into the new epoch's empty tables: buckets settled on helper
//! threads, appended in key order through redb cursors on a writing thread per table, each
//! item bucket read back and compared; the file flushed in the background meanwhile.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use redb::ReadableTable;

use super::settle::{replaced, settle_items, settle_owners, sort_owners, Judge, Settled};
use super::spill::Spill;
use super::{BytesTable, IdentRow, ItemBucket, OwnerRow};
use crate::store::keys::{owner_key, owner_value, Owner, KEY_LEN, RKEY_LEN};
use crate::store::StoreError;

/// Flushes the snapshot file to disk every so often while a sorted load writes it, so the
/// commit's fsync finds little left to write (disk I/O overlaps the CPU work). Only an
/// extra `fdatasync` of data redb wrote anyway: the commit protocol and its own fsync are
/// unchanged, and a failure here is ignored (the commit's fsync reports real I/O errors).
pub(super) struct Flusher {
    pub(super) stop: Option<mpsc::Sender<()>>,
    pub(super) thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    pub(super) fn start(path: &Path) -> Flusher {
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

/// What [`find_replaced`] found.
pub(super) struct Replaced {
    /// The owner buckets, to write.
    pub(super) owners: Vec<Vec<OwnerRow>>,
    /// Arrival numbers of versions that a later version of the same resource replaced.
    pub(super) dead: HashSet<u32>,
    /// Retractions that ended a version that was alive.
    pub(super) removals: u64,
}

/// The versions (by arrival) that a later version of the same resource replaced, and how
/// many retractions ended a version that was alive: the owner buckets are sorted on
/// `helpers` threads and scanned (those in memory stay sorted; those on disk are read
/// here and again when written). Nothing is written.
pub(super) fn find_replaced(
    owners: Vec<Vec<OwnerRow>>,
    spill: Option<&Spill>,
    helpers: usize,
) -> Result<Replaced, StoreError> {
    let mut sorted = Vec::with_capacity(owners.len());
    let mut dead = HashSet::new();
    let mut removals = 0u64;
    run_pipeline(
        owners.into_iter().enumerate().collect(),
        helpers,
        |(i, mut rows): (usize, Vec<OwnerRow>)| {
            let mut lost = Vec::new();
            let n = match spill {
                Some(spill) => {
                    let mut all = rows.clone();
                    spill.load_owners(i, &mut all)?;
                    sort_owners(&mut all);
                    replaced(&all, &mut lost)
                }
                None => {
                    sort_owners(&mut rows);
                    replaced(&rows, &mut lost)
                }
            };
            Ok((rows, lost, n))
        },
        |r: Result<(Vec<OwnerRow>, Vec<u32>, usize), StoreError>| {
            let (rows, lost, n) = r?;
            sorted.push(rows);
            dead.extend(lost);
            removals += n as u64;
            Ok(())
        },
    )?;
    Ok(Replaced {
        owners: sorted,
        dead,
        removals,
    })
}

/// Settle and append the owner rows (see [`find_replaced`]); returns how many were written.
pub(super) fn write_owners(
    owners: Vec<Vec<OwnerRow>>,
    spill: Option<&Spill>,
    helpers: usize,
    judge: &Judge<'_>,
    table: &mut BytesTable<'_>,
    generation: u64,
) -> Result<u64, StoreError> {
    let mut owners_written = 0u64;
    run_pipeline(
        owners.into_iter().enumerate().collect(),
        helpers,
        |(i, mut rows): (usize, Vec<OwnerRow>)| {
            if let Some(spill) = spill {
                spill.load_owners(i, &mut rows)?;
            }
            sort_owners(&mut rows);
            settle_owners(&mut rows, judge);
            Ok(rows)
        },
        |rows: Result<Vec<OwnerRow>, StoreError>| {
            let rows = rows?;
            owners_written += rows.len() as u64;
            append_owners(table, &rows, generation)
        },
    )?;
    Ok(owners_written)
}

/// Settle and append the item buckets in key order (each merged first from its sorted
/// runs on disk, if rows were spilled); returns what was written.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_items(
    items: Vec<ItemBucket>,
    spill: Option<&Spill>,
    helpers: usize,
    judge: &Judge<'_>,
    dead: &HashSet<u32>,
    table: &mut BytesTable<'_>,
    generation: u64,
) -> Result<Settled, StoreError> {
    let mut totals = Settled::default();
    let (merge_ns, settle_ns) = (AtomicU64::new(0), AtomicU64::new(0));
    let (mut append, mut check) = (Duration::ZERO, Duration::ZERO);
    let (wall, writer_cpu) = (Instant::now(), super::clock::thread_cpu());
    run_pipeline(
        items.into_iter().enumerate().collect(),
        helpers,
        |(i, mut bucket): (usize, ItemBucket)| {
            let t = Instant::now();
            if let Some(spill) = spill {
                spill.load(i, &mut bucket)?;
            }
            let t1 = Instant::now();
            merge_ns.fetch_add((t1 - t).as_nanos() as u64, Ordering::Relaxed);
            let settled = settle_items(&mut bucket, judge, dead);
            settle_ns.fetch_add(t1.elapsed().as_nanos() as u64, Ordering::Relaxed);
            Ok((bucket, settled))
        },
        |settled: Result<(ItemBucket, Settled), StoreError>| {
            let (bucket, settled) = settled?;
            let t = Instant::now();
            append_items(table, &bucket, generation)?;
            let t1 = Instant::now();
            append += t1 - t;
            check_items(table, &bucket, generation)?;
            check += t1.elapsed();
            totals.merge(&settled);
            Ok(())
        },
    )?;
    tracing::debug!(
        target: "akari_sync::sorted_load",
        wall_ms = wall.elapsed().as_millis() as u64,
        writer_cpu_ms = super::clock::thread_cpu().saturating_sub(writer_cpu).as_millis() as u64,
        append_ms = append.as_millis() as u64,
        check_ms = check.as_millis() as u64,
        helpers_merge_ms = merge_ns.load(Ordering::Relaxed) / 1_000_000,
        helpers_settle_ms = settle_ns.load(Ordering::Relaxed) / 1_000_000,
        "full sync items"
    );
    Ok(totals)
}

/// Append the identifier rows (sorted, unique) through a cursor.
pub(super) fn write_idents(
    table: &mut BytesTable<'_>,
    idents: &[IdentRow],
) -> Result<(), StoreError> {
    if idents.is_empty() {
        return Ok(());
    }
    let mut cur = table.upper_bound_mut(Bound::<&[u8]>::Unbounded)?;
    for r in idents {
        cur.insert_before(r.hash.as_slice(), r.pk.as_slice())
            .map_err(redb::Error::from)?;
    }
    cur.close()?;
    Ok(())
}

pub(super) fn full_key(rkey: &[u8; RKEY_LEN], generation: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[..RKEY_LEN].copy_from_slice(rkey);
    k[RKEY_LEN..].copy_from_slice(&generation.to_be_bytes());
    k
}

/// Append a sorted bucket after everything in `table`.
pub(super) fn append_items(
    table: &mut BytesTable<'_>,
    bucket: &ItemBucket,
    generation: u64,
) -> Result<(), StoreError> {
    if bucket.rows.is_empty() {
        return Ok(());
    }
    let mut cur = table.upper_bound_mut(Bound::<&[u8]>::Unbounded)?;
    for r in &bucket.rows {
        cur.insert_before(full_key(&r.rkey, generation).as_slice(), bucket.value(r))
            .map_err(redb::Error::from)?;
    }
    cur.close()?;
    Ok(())
}

/// Read an appended bucket back and compare it byte for byte with what was meant to be
/// written.
pub(super) fn check_items(
    table: &BytesTable<'_>,
    bucket: &ItemBucket,
    generation: u64,
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (bucket.rows.first(), bucket.rows.last()) else {
        return Ok(());
    };
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

pub(super) fn append_owners(
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
/// the first error of `write`. Helpers run at most a few buckets ahead of `write`, so
/// buckets merged from disk are not all held at once.
pub(super) fn run_pipeline<B, R, S, W>(
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
    let done = AtomicUsize::new(0);
    let window = 2 * helpers;
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, R)>();
        for _ in 0..helpers {
            let tx = tx.clone();
            let (jobs, next, done, stop, settle) = (&jobs, &next, &done, &stop, &settle);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || stop.load(Ordering::Relaxed) {
                    break;
                }
                // At most `window` buckets ahead of the writer.
                while i >= done.load(Ordering::Acquire) + window && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_micros(200));
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
                    done.store(want, Ordering::Release);
                }
            }
            if want != n {
                return Err(StoreError::Build(
                    "a sorted-load helper thread stopped early".into(),
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
