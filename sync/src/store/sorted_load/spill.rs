//! Sorted runs on disk: when the item and owner rows a full sync collects outgrow its
//! memory budget, they are written, each bucket sorted by key, to a temporary file in the data directory
//! (`spill-<pid>-<n>`) and the memory is freed. The rows' values are the stored bytes —
//! already encoded, hashed and, for an encrypted store, sealed — so nothing readable lands
//! on disk that the snapshot file would not hold. When the pull is complete each bucket is
//! merged from its parts in every run (they are sorted, so merging is a merge of runs) and
//! settled and written exactly as an in-memory bucket would be.
//!
//! A run's file is removed when the build ends (success, error or a dropped build). A file
//! left behind by a killed process is removed the next time the store is opened
//! ([`remove_leftovers`]): each run holds an exclusive lock on its file while it exists, so
//! a file whose lock can be taken belongs to no running build.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{ItemBucket, ItemRow, OwnerRow, ITEM_BUCKETS, OWNER_BUCKETS};
use crate::store::keys::RKEY_LEN;
use crate::store::StoreError;

/// The file name's prefix (in the snapshot file's directory).
const PREFIX: &str = "spill-";
/// An item row on disk: key without the generation, arrival number, value length.
const ROW_LEN: usize = RKEY_LEN + 8;
/// An owner row on disk: type, space, flags, arrival number, id hash, patient key.
const OWNER_LEN: usize = 4 + 4 + 16 + 16;
/// Test hook: when this variable names a file, the merge of the first spilled bucket
/// creates it and waits while it exists (a test kills the process there). Only in builds
/// with the crate's `test-hooks` feature (its own tests), never in a hospital build.
#[cfg(feature = "test-hooks")]
const MERGE_PAUSE_ENV: &str = "AKARI_SPILL_MERGE_PAUSE";

/// The test hook's marker file, if the hook is built in and asked for.
fn merge_pause() -> Option<PathBuf> {
    #[cfg(feature = "test-hooks")]
    {
        std::env::var_os(MERGE_PAUSE_ENV).map(PathBuf::from)
    }
    #[cfg(not(feature = "test-hooks"))]
    {
        None
    }
}

/// Distinguishes the runs of several builds in one process.
static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Storage(redb::Error::Io(e))
}

/// Where one bucket's rows lie in a run.
#[derive(Clone, Copy, Default)]
struct Part {
    offset: u64,
    rows: u32,
    bytes: u64,
}

struct Run {
    path: PathBuf,
    /// Open (and locked) for the run's life; read with positioned reads from any thread.
    file: File,
    parts: Vec<Part>,
    owner_parts: Vec<Part>,
}

/// The runs of one full build; removes their files when dropped.
pub(super) struct Spill {
    dir: PathBuf,
    runs: Vec<Run>,
    pub(super) bytes: u64,
    pause: Option<PathBuf>,
}

impl Spill {
    pub(super) fn new(dir: &Path) -> Spill {
        Spill {
            dir: dir.to_path_buf(),
            runs: Vec::new(),
            bytes: 0,
            pause: merge_pause(),
        }
    }

    pub(super) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Write every non-empty bucket, sorted by key (equal keys in arrival order), as one
    /// run, and empty the buckets (their memory is freed).
    pub(super) fn write_run(
        &mut self,
        buckets: &mut [ItemBucket],
        owners: &mut [Vec<OwnerRow>],
    ) -> Result<(), StoreError> {
        // A name left by an earlier process with the same id is skipped, not reused.
        let (path, file) = loop {
            let n = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
            let path = self.dir.join(format!("{PREFIX}{}-{n}", std::process::id()));
            match File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error(e)),
            }
        };
        // Registered first, so the file is removed whatever fails next.
        self.runs.push(Run {
            path,
            file,
            parts: vec![Part::default(); ITEM_BUCKETS],
            owner_parts: vec![Part::default(); OWNER_BUCKETS],
        });
        let run = self.runs.last_mut().expect("just pushed");
        run.file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::Error(e) => io_error(e),
            std::fs::TryLockError::WouldBlock => {
                io_error(std::io::Error::other("a new spill file is locked"))
            }
        })?;
        let mut w = BufWriter::with_capacity(1 << 20, &run.file);
        let mut offset = 0u64;
        for (i, bucket) in buckets.iter_mut().enumerate() {
            if bucket.rows.is_empty() {
                continue;
            }
            // Stable: versions of one key stay in arrival order.
            bucket.rows.sort_by_key(ItemRow::sort_key);
            let mut bytes = 0u64;
            for r in &bucket.rows {
                let mut head = [0u8; ROW_LEN];
                head[..RKEY_LEN].copy_from_slice(&r.rkey);
                head[RKEY_LEN..RKEY_LEN + 4].copy_from_slice(&r.seq.to_le_bytes());
                head[RKEY_LEN + 4..].copy_from_slice(&r.len.to_le_bytes());
                w.write_all(&head).map_err(io_error)?;
                bytes += u64::from(r.len);
            }
            for r in &bucket.rows {
                w.write_all(bucket.value(r)).map_err(io_error)?;
            }
            let rows = bucket.rows.len();
            run.parts[i] = Part {
                offset,
                rows: u32::try_from(rows)
                    .map_err(|_| StoreError::Build("a spilled bucket is too large".into()))?,
                bytes,
            };
            offset += (rows * ROW_LEN) as u64 + bytes;
            *bucket = ItemBucket::default();
        }
        for (i, rows) in owners.iter_mut().enumerate() {
            if rows.is_empty() {
                continue;
            }
            rows.sort_unstable_by_key(|r| (u128::from_be_bytes(r.idh), r.seq));
            for r in rows.iter() {
                w.write_all(&encode_owner(r)).map_err(io_error)?;
            }
            run.owner_parts[i] = Part {
                offset,
                rows: u32::try_from(rows.len())
                    .map_err(|_| StoreError::Build("a spilled bucket is too large".into()))?,
                bytes: 0,
            };
            offset += (rows.len() * OWNER_LEN) as u64;
            *rows = Vec::new();
        }
        w.flush().map_err(io_error)?;
        self.bytes += offset;
        Ok(())
    }

    /// Append owner bucket `i`'s rows from every run to `rows` (settling sorts them).
    pub(super) fn load_owners(&self, i: usize, rows: &mut Vec<OwnerRow>) -> Result<(), StoreError> {
        let mut buf = Vec::new();
        for run in &self.runs {
            let part = run.owner_parts[i];
            if read_rows(run, part, OWNER_LEN, &mut buf)? {
                rows.extend(buf.chunks_exact(OWNER_LEN).map(decode_owner));
            }
        }
        Ok(())
    }

    /// Append bucket `i`'s rows from every run to `bucket` and put them in key order
    /// (equal keys in arrival order: runs are in arrival order, and so is each run).
    pub(super) fn load(&self, i: usize, bucket: &mut ItemBucket) -> Result<(), StoreError> {
        let too_large = || StoreError::Build("a full sync bucket exceeds 4 GiB".into());
        let mut head = Vec::new();
        for run in &self.runs {
            let part = run.parts[i];
            if !read_rows(run, part, ROW_LEN, &mut head)? {
                continue;
            }
            let base = bucket.bytes.len();
            let end = base
                .checked_add(usize::try_from(part.bytes).map_err(|_| too_large())?)
                .ok_or_else(too_large)?;
            u32::try_from(end).map_err(|_| too_large())?;
            bucket.bytes.resize(end, 0);
            run.file
                .read_exact_at(&mut bucket.bytes[base..], part.offset + head.len() as u64)
                .map_err(io_error)?;
            let mut off = base as u32;
            for h in head.chunks_exact(ROW_LEN) {
                let len = u32::from_le_bytes(h[RKEY_LEN + 4..].try_into().expect("4 bytes"));
                bucket.rows.push(ItemRow {
                    rkey: h[..RKEY_LEN].try_into().expect("key"),
                    seq: u32::from_le_bytes(h[RKEY_LEN..RKEY_LEN + 4].try_into().expect("4")),
                    off,
                    len,
                });
                off += len;
            }
            if off as usize != end {
                return Err(StoreError::Build(
                    "a spill file does not read back as written".into(),
                ));
            }
        }
        // Sorted runs one after the other: a stable sort merges them in linear passes.
        bucket.rows.sort_by_key(ItemRow::sort_key);
        if let Some(pause) = &self.pause {
            if !bucket.rows.is_empty() {
                pause_here(pause);
            }
        }
        Ok(())
    }
}

/// Read a part's fixed-size rows into `buf`; false if it has none.
fn read_rows(run: &Run, part: Part, row_len: usize, buf: &mut Vec<u8>) -> Result<bool, StoreError> {
    if part.rows == 0 {
        return Ok(false);
    }
    buf.resize(part.rows as usize * row_len, 0);
    run.file.read_exact_at(buf, part.offset).map_err(io_error)?;
    Ok(true)
}

fn encode_owner(r: &OwnerRow) -> [u8; OWNER_LEN] {
    let mut b = [0u8; OWNER_LEN];
    b[0] = r.rtype;
    b[1] = r.space;
    b[2] = u8::from(r.tombstone);
    b[3] = u8::from(r.has_index);
    b[4..8].copy_from_slice(&r.seq.to_le_bytes());
    b[8..24].copy_from_slice(&r.idh);
    b[24..40].copy_from_slice(&r.pk);
    b
}

fn decode_owner(b: &[u8]) -> OwnerRow {
    OwnerRow {
        rtype: b[0],
        space: b[1],
        tombstone: b[2] != 0,
        has_index: b[3] != 0,
        seq: u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")),
        idh: b[8..24].try_into().expect("16 bytes"),
        pk: b[24..40].try_into().expect("16 bytes"),
    }
}

/// The merge-pause test hook (see `merge_pause`): once per process.
fn pause_here(marker: &Path) {
    static PAUSED: std::sync::Once = std::sync::Once::new();
    PAUSED.call_once(|| {
        if std::fs::write(marker, b"merging").is_ok() {
            while marker.exists() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    });
}

impl Drop for Spill {
    fn drop(&mut self) {
        for run in self.runs.drain(..) {
            let _ = std::fs::remove_file(&run.path);
        }
    }
}

/// Remove spill files in `dir` that no running build holds (left by a killed process).
/// Returns how many were removed.
pub fn remove_leftovers(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        // `spill-<pid>-<n>` only: never another file that happens to share the prefix.
        let mut parts = rest.split('-');
        let ours = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(a), Some(b), None) if a.parse::<u32>().is_ok() && b.parse::<u64>().is_ok()
        );
        if !ours || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            "removed temporary files an interrupted full sync left behind"
        );
    }
    removed
}
