//! Writing the settled rows into the new epoch's empty tables: buckets settled on helper
//! threads, appended in key order through redb cursors on the writing thread, each read
//! back and compared; the file flushed in the background meanwhile.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use redb::ReadableTable;

use super::settle::{settle_items, settle_owners, Judge, Settled};
use super::spill::Spill;
use super::{BytesTable, IdentRow, ItemBucket, OwnerRow};
use crate::store::build::BuildStats;
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

/// Settle and append the owner rows; returns how many were written and the versions
/// (by arrival) that a later one replaced.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_owners(
    owners: Vec<Vec<OwnerRow>>,
    spill: Option<&Spill>,
    helpers: usize,
    judge: &Judge<'_>,
    table: &mut BytesTable<'_>,
    generation: u64,
    stats: &mut BuildStats,
) -> Result<(u64, HashSet<u32>), StoreError> {
    let dead: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    let removals = AtomicUsize::new(0);
    let mut owners_written = 0u64;
    run_pipeline(
        owners.into_iter().enumerate().collect(),
        helpers,
        |(i, mut rows): (usize, Vec<OwnerRow>)| {
            if let Some(spill) = spill {
                spill.load_owners(i, &mut rows)?;
            }
            let mut lost = Vec::new();
            let n = settle_owners(&mut rows, judge, &mut lost);
            removals.fetch_add(n, Ordering::Relaxed);
            if !lost.is_empty() {
                dead.lock().unwrap_or_else(|e| e.into_inner()).extend(lost);
            }
            Ok(rows)
        },
        |rows: Result<Vec<OwnerRow>, StoreError>| {
            let rows = rows?;
            owners_written += rows.len() as u64;
            append_owners(table, &rows, generation)
        },
    )?;
    stats.removals += removals.load(Ordering::Relaxed) as u64;
    let dead = dead
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .collect();
    Ok((owners_written, dead))
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
    run_pipeline(
        items.into_iter().enumerate().collect(),
        helpers,
        |(i, mut bucket): (usize, ItemBucket)| {
            if let Some(spill) = spill {
                spill.load(i, &mut bucket)?;
            }
            let settled = settle_items(&mut bucket, judge, dead);
            Ok((bucket, settled))
        },
        |settled: Result<(ItemBucket, Settled), StoreError>| {
            let (bucket, settled) = settled?;
            append_items(table, &bucket, generation)?;
            totals.merge(&settled);
            Ok(())
        },
    )?;
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

/// Append a sorted bucket after everything in `table`, then read it back.
pub(super) fn append_items(
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
