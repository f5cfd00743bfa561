//! Copies of a generation: into a new epoch of the same file (rollback, re-basing an
//! incremental build), into a file of its own (the *second copy*), and back from that file
//! when the snapshot file has nothing that verifies.
//!
//! # Why a second file
//!
//! Every generation of a store lives in one redb file. Generations share most of their
//! bytes (an incremental generation is a delta on its epoch), so a damaged page, a
//! truncated or zeroed file, or a file emptied to 0 bytes can take every retained
//! generation with it. The second copy is the newest good generation written into a file
//! of its own (`snapshot-copy.redb` beside `snapshot.redb`) as a complete store holding
//! just that generation: its versions and index chunks byte for byte (still sealed when the
//! store is encrypted; no secret is needed), its epoch's owner and identifier tables, the
//! wrapped data keys it needs and the node's keyed-hash secret, so that a node restored
//! from it keeps syncing incrementally. It is written to a temporary file and renamed over
//! the old copy, so a crash leaves the old copy or the new one, never a mix.
//!
//! A copy per generation-per-file layout would avoid the extra write, but every retained
//! generation of an epoch would still share its epoch's file; a second file holding only
//! the newest good generation protects what clinicians need most at the cost of one
//! sequential write of the snapshot's size (measured in `docs/benchmarks.md`). The engine
//! rewrites it after every full sync, promotion, rollback and fall-back, and after an
//! incremental sync when the copy is older than `[sync] copy_every_secs`.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::keys::{
    owner_key, owner_value, parse_meta, with_died, ItemKey, Owner, OwnerValue, ALIVE,
};
use super::tables::{EpochTable, DATA_KEYS, EPOCH_TIPS, GENERATIONS, META};
use super::{
    commit_copy, decode_manifest, encode_manifest, next_generation, read, GenerationKind, Manifest,
    Store, StoreError, StoreOptions, SCHEMA_VERSION,
};

type Bytes = &'static [u8];

/// What the second copy holds (no patient data).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyInfo {
    /// The generation it holds.
    pub generation: u64,
    /// When it was written.
    pub written_at: DateTime<Utc>,
}

/// META key: when a copy file was written (RFC 3339).
const COPIED_AT: &str = "copied_at";

/// Append `rows` (ascending keys, all greater than what `table` holds) through a cursor, which
/// fills leaves without descending the tree per row.
fn append<'r>(
    table: &mut redb::Table<'_, Bytes, Bytes>,
    rows: impl IntoIterator<Item = (&'r [u8], &'r [u8])>,
) -> Result<(), StoreError> {
    let mut cur = table.upper_bound_mut(Bound::<&[u8]>::Unbounded)?;
    for (k, v) in rows {
        cur.insert_before(k, v).map_err(redb::Error::from)?;
    }
    cur.close()?;
    Ok(())
}

/// The source side of a copy: the tables of `source`'s epoch, in any transaction.
struct Source<'a, T> {
    manifest: &'a Manifest,
    items: T,
    /// The epoch's owner table, when it describes `manifest` (its epoch's newest
    /// generation): copied as it is. `None`: rebuilt from the visible versions.
    owner: Option<T>,
    idents: T,
    index: Option<T>,
}

/// Copy the versions visible in the source generation (keys unchanged, each marked alive),
/// its owner and identifier rows and the index chunks its chain covers into the empty
/// tables of `epoch` in `dst`. Stored bytes are copied as they are: nothing is decoded.
fn copy_tables<T>(src: &Source<'_, T>, dst: &WriteTransaction, epoch: u64) -> Result<(), StoreError>
where
    T: ReadableTable<Bytes, Bytes>,
{
    let g = src.manifest.generation;
    let mut owners: Vec<([u8; 17], OwnerValue)> = Vec::new();
    {
        let name = EpochTable::Items.of(epoch);
        let mut items = dst.open_table(name.def())?;
        let mut cur = items.upper_bound_mut(Bound::<&[u8]>::Unbounded)?;
        for row in src.items.iter()? {
            let (k, v) = row?;
            let key = k.value();
            let mv =
                parse_meta(v.value()).ok_or_else(|| StoreError::Corrupt("item header".into()))?;
            if !read::visible(key, &mv, g)? {
                continue;
            }
            cur.insert_before(key, with_died(v.value(), ALIVE).as_slice())
                .map_err(redb::Error::from)?;
            if src.owner.is_none() {
                let parts = ItemKey::parse(key)?;
                let owner = Owner {
                    pk: parts.pk,
                    born: parts.born,
                    has_index: mv.indexed,
                };
                owners.push((owner_key(parts.rtype, &parts.idh), owner_value(&owner)));
            }
        }
        cur.close()?;
    }
    let owner_name = EpochTable::Owner.of(epoch);
    let mut owner_table = dst.open_table(owner_name.def())?;
    match &src.owner {
        Some(table) => {
            let rows = table.iter()?.collect::<Result<Vec<_>, _>>()?;
            append(
                &mut owner_table,
                rows.iter().map(|(k, v)| (k.value(), v.value())),
            )?;
        }
        None => {
            owners.sort_unstable();
            owners.dedup_by(|a, b| a.0 == b.0);
            append(
                &mut owner_table,
                owners.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
            )?;
        }
    }
    drop(owner_table);
    let idents_name = EpochTable::Idents.of(epoch);
    let rows = src.idents.iter()?.collect::<Result<Vec<_>, _>>()?;
    append(
        &mut dst.open_table(idents_name.def())?,
        rows.iter().map(|(k, v)| (k.value(), v.value())),
    )?;
    drop(rows);
    // Graves: none (every copied version is alive). The index chunks are keyed by the
    // generation that wrote them, and sealed chunks bind it: copied unchanged.
    let index_name = EpochTable::Index.of(epoch);
    let mut index = dst.open_table(index_name.def())?;
    if let Some(table) = &src.index {
        let hi = g.to_be_bytes();
        let rows = table
            .iter()?
            .filter(|r| {
                r.as_ref().map_or(true, |(k, _)| {
                    k.value().get(..8).is_some_and(|p| p <= &hi[..])
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        append(&mut index, rows.iter().map(|(k, v)| (k.value(), v.value())))?;
    }
    drop(index);
    dst.open_table(EpochTable::Graves.of(epoch).def())?;
    Ok(())
}

/// Is `m` the newest generation built in its epoch (so its epoch's owner table describes
/// it)? `unknown` answers for an epoch written before this was recorded.
fn is_tip<T>(tips: &T, m: &Manifest, unknown: bool) -> Result<bool, StoreError>
where
    T: ReadableTable<u64, u64>,
{
    Ok(match tips.get(m.epoch)? {
        Some(t) => t.value() == m.generation,
        None => unknown,
    })
}

/// Open the tables of `m`'s epoch in a read or write transaction as a [`Source`].
macro_rules! source_of {
    ($txn:expr, $m:expr, $tip:expr) => {{
        let m: &Manifest = $m;
        let open = |t: EpochTable| $txn.open_table(t.of(m.epoch).def());
        Source {
            manifest: m,
            items: open(EpochTable::Items)?,
            owner: if $tip {
                Some(open(EpochTable::Owner)?)
            } else {
                None
            },
            idents: open(EpochTable::Idents)?,
            index: match open(EpochTable::Index) {
                Ok(t) => Some(t),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            },
        }
    }};
}

/// Copy generation `source` into the new epoch `epoch` of the same file (inside `txn`).
pub(crate) fn copy_within(
    txn: &WriteTransaction,
    source: &Manifest,
    epoch: u64,
) -> Result<(), StoreError> {
    let tip = is_tip(&txn.open_table(EPOCH_TIPS)?, source, false)?;
    let src = source_of!(txn, source, tip);
    copy_tables(&src, txn, epoch)
}

/// Copy the wrapped data keys `ids` from one file's table to another's.
fn copy_data_keys(
    from: &impl ReadableTable<u64, Bytes>,
    to: &WriteTransaction,
    ids: &[u64],
) -> Result<(), StoreError> {
    let mut keys = to.open_table(DATA_KEYS)?;
    for id in ids {
        if let Some(v) = from.get(*id)? {
            keys.insert(*id, v.value())?;
        }
    }
    Ok(())
}

fn meta_bytes(
    meta: &impl ReadableTable<&'static str, Bytes>,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(meta.get(key)?.map(|v| v.value().to_vec()))
}

/// `path` with `.partial` appended: where a file is written before it is renamed into place.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Make a rename in `path`'s directory durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

impl Store {
    /// Where the second copy is kept (`None`: the store keeps none).
    pub fn copy_path(&self) -> Option<&Path> {
        self.inner.copy.as_deref()
    }

    /// Write the current generation into the second copy, replacing it. `Ok(None)`: the
    /// store keeps no copy or holds no generation. Reads the snapshot file in one read
    /// transaction: syncs and readers go on meanwhile.
    pub fn write_copy(&self) -> Result<Option<CopyInfo>, StoreError> {
        let Some(path) = self.copy_path() else {
            return Ok(None);
        };
        let rtxn = self.begin_read()?;
        let meta = rtxn.open_table(META)?;
        let Some(current) = meta_bytes(&meta, "current")? else {
            return Ok(None);
        };
        let g = u64::from_be_bytes(
            current
                .try_into()
                .map_err(|_| StoreError::Corrupt("current pointer".into()))?,
        );
        let manifest = decode_manifest(
            rtxn.open_table(GENERATIONS)?
                .get(g)?
                .ok_or(StoreError::NoSuchGeneration(g))?
                .value(),
        )?;
        let tip = is_tip(&rtxn.open_table(EPOCH_TIPS)?, &manifest, true)?;
        let partial = partial_path(path);
        match std::fs::remove_file(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::Storage(e.into()))
            }
            _ => {}
        }
        let written_at = Utc::now();
        {
            let db = Database::builder()
                .set_cache_size(super::PAGE_CACHE)
                .create(&partial)?;
            let wtxn = db.begin_write()?;
            {
                let mut dst_meta = wtxn.open_table(META)?;
                dst_meta.insert("schema", SCHEMA_VERSION.to_be_bytes().as_slice())?;
                for key in ["node_secret", "public_key", "last_generation"] {
                    if let Some(v) = meta_bytes(&meta, key)? {
                        dst_meta.insert(key, v.as_slice())?;
                    }
                }
                dst_meta.insert("current", g.to_be_bytes().as_slice())?;
                dst_meta.insert(COPIED_AT, written_at.to_rfc3339().as_bytes())?;
            }
            let kept = Manifest {
                pinned: false,
                ..manifest.clone()
            };
            wtxn.open_table(GENERATIONS)?
                .insert(g, encode_manifest(&kept).as_slice())?;
            wtxn.open_table(EPOCH_TIPS)?.insert(manifest.epoch, g)?;
            copy_data_keys(&rtxn.open_table(DATA_KEYS)?, &wtxn, &manifest.key_ids)?;
            let src = source_of!(rtxn, &manifest, tip);
            copy_tables(&src, &wtxn, manifest.epoch)?;
            drop(src);
            wtxn.commit()?;
        }
        let io = |e: std::io::Error| StoreError::Storage(e.into());
        std::fs::rename(&partial, path).map_err(io)?;
        sync_dir(path).map_err(io)?;
        Ok(Some(CopyInfo {
            generation: g,
            written_at,
        }))
    }

    /// What the second copy holds, read without locking it. `Ok(None)`: there is none.
    pub fn copy_info(&self) -> Result<Option<CopyInfo>, StoreError> {
        match self.copy_path() {
            Some(path) if path.exists() => read_copy_info(path).map(Some),
            _ => Ok(None),
        }
    }

    /// Open the second copy as a store of its own (same keep and key as this one).
    fn open_copy(&self) -> Result<Option<Store>, StoreError> {
        let Some(path) = self.copy_path().filter(|p| p.exists()) else {
            return Ok(None);
        };
        let options = StoreOptions {
            keep: self.keep(),
            public_key: self.public_key(),
        };
        Store::open(path, options).map(Some)
    }

    /// Bring the second copy's generation back as a new current generation of this file
    /// (kind [`GenerationKind::Restored`]), after verifying it in the copy. `Ok(None)`:
    /// there is no copy, or it holds nothing.
    pub(crate) fn import_copy(&self) -> Result<Option<Manifest>, StoreError> {
        let Some(copy) = self.open_copy()? else {
            return Ok(None);
        };
        let Some(source) = copy.current()? else {
            return Ok(None);
        };
        {
            let here = self.begin_read()?;
            let there = copy.begin_read()?;
            let secret = |txn: &redb::ReadTransaction| -> Result<Option<Vec<u8>>, StoreError> {
                meta_bytes(&txn.open_table(META)?, "node_secret")
            };
            if secret(&here)? != secret(&there)? {
                return Err(StoreError::Corrupt(
                    "the second copy belongs to another snapshot file (its keyed-hash secret differs)"
                        .into(),
                ));
            }
        }
        copy.verify_ok(source.generation)?;
        let rtxn = copy.begin_read()?;
        let txn = self.begin_write()?;
        let generation = next_generation(&txn)?;
        let epoch = generation;
        copy_data_keys(&rtxn.open_table(DATA_KEYS)?, &txn, &source.key_ids)?;
        let tip = is_tip(&rtxn.open_table(EPOCH_TIPS)?, &source, true)?;
        let src = source_of!(rtxn, &source, tip);
        copy_tables(&src, &txn, epoch)?;
        drop(src);
        let from = source.generation;
        let keep = self.keep();
        commit_copy(
            txn,
            source,
            generation,
            GenerationKind::Restored { from },
            keep,
        )
        .map(Some)
    }

    /// Give generation `m` (the current one, not the newest of its epoch) an epoch of its
    /// own, so an incremental build can extend it: a quarantined build left its epoch's
    /// owner and identifier tables describing the quarantined generation. Costs one copy
    /// of the generation, once.
    pub(crate) fn move_to_own_epoch(&self, m: &Manifest) -> Result<Manifest, StoreError> {
        let txn = self.begin_write()?;
        // A fresh epoch number: one generation number is used up for it.
        let epoch = next_generation(&txn)?;
        super::raise_last_generation(&txn, epoch)?;
        copy_within(&txn, m, epoch)?;
        let moved = Manifest { epoch, ..m.clone() };
        txn.open_table(GENERATIONS)?
            .insert(moved.generation, encode_manifest(&moved).as_slice())?;
        txn.open_table(EPOCH_TIPS)?
            .insert(epoch, moved.generation)?;
        txn.commit()?;
        tracing::info!(
            generation = m.generation,
            from_epoch = m.epoch,
            epoch,
            "moved the current generation to an epoch of its own (a quarantined build followed it)"
        );
        Ok(moved)
    }

    /// Is `m` the newest generation of its epoch?
    pub(crate) fn is_epoch_tip(&self, m: &Manifest) -> Result<bool, StoreError> {
        let txn = self.begin_read()?;
        is_tip(&txn.open_table(EPOCH_TIPS)?, m, true)
    }
}

/// Read a copy file's generation and time without locking it for writing.
fn read_copy_info(path: &Path) -> Result<CopyInfo, StoreError> {
    let db = redb::ReadOnlyDatabase::open(path)?;
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    let generation = meta_bytes(&meta, "current")?
        .and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
        .ok_or_else(|| StoreError::Corrupt("the second copy holds no generation".into()))?;
    let written_at = meta_bytes(&meta, COPIED_AT)?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| StoreError::Corrupt("the second copy has no time".into()))?;
    Ok(CopyInfo {
        generation,
        written_at,
    })
}

/// Why the snapshot file cannot be used as it is, found before redb touches it: a 0-byte
/// file (redb would start an empty database in it) or a missing one while a copy exists.
fn unusable_before_open(path: &Path, copy: &Path) -> Result<Option<String>, StoreError> {
    match std::fs::metadata(path) {
        Ok(md) if md.len() == 0 => Ok(Some("the snapshot file is empty (0 bytes)".into())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && copy.exists() => {
            Ok(Some("the snapshot file is missing".into()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Storage(e.into())),
    }
}

/// Move a damaged snapshot file aside (kept for inspection); returns where it went.
fn move_aside(path: &Path) -> Result<Option<PathBuf>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{}", Utc::now().format("%Y%m%dT%H%M%SZ")));
    let to = path.with_file_name(name);
    std::fs::rename(path, &to).map_err(|e| StoreError::Storage(e.into()))?;
    Ok(Some(to))
}

/// Put a copy of the second copy's file at `path` (through a temporary file).
fn restore_file(copy: &Path, path: &Path) -> std::io::Result<()> {
    let partial = partial_path(path);
    std::fs::copy(copy, &partial)?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&partial)?
        .sync_all()?;
    std::fs::rename(&partial, path)?;
    sync_dir(path)
}

impl Store {
    /// Open the snapshot file at `path`, keeping a second copy of the newest good
    /// generation at `copy` (see the module doc). A snapshot file that cannot be used —
    /// 0 bytes, missing while a copy exists, or one redb cannot read (zeroed, truncated,
    /// overwritten) — is moved aside (`<name>.damaged-<time>`) and replaced by the copy; if
    /// the copy is unusable too, the node starts with an empty store. Either way an
    /// [`super::IntegrityAlert`] tells the administrators, so a node never starts silently
    /// empty. Errors that say nothing about damage (a lock held by another process, a
    /// permission, a key or schema mismatch) are returned as they are.
    pub fn open_with_copy(
        path: &Path,
        copy: &Path,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        let problem = match unusable_before_open(path, copy)? {
            Some(problem) => problem,
            None => match Store::open(path, options) {
                Ok(store) => return Ok(store.with_copy(copy)),
                Err(e) if e.is_damaged_file() => format!("the snapshot file is unreadable: {e}"),
                Err(e) => return Err(e),
            },
        };
        tracing::error!(%problem, "the snapshot file cannot be used; restoring the second copy");
        let moved_to = move_aside(path)?;
        let restored = match copy.exists() {
            false => Err("there is none".to_owned()),
            true => restore_file(copy, path)
                .map_err(|e| format!("it could not be copied: {e}"))
                .and_then(|()| Store::open(path, options).map_err(|e| format!("unreadable: {e}"))),
        };
        let (store, restored, copy_problem) = match restored {
            Ok(store) => {
                let g = store.current()?.map(|m| m.generation);
                (store, g, None)
            }
            Err(why) => {
                tracing::error!(problem = %why, "the second copy cannot be used either");
                if path.exists() {
                    std::fs::remove_file(path).map_err(|e| StoreError::Storage(e.into()))?;
                }
                (Store::open(path, options)?, None, Some(why))
            }
        };
        let store = store.with_copy(copy);
        let file = super::FileDamage {
            problem,
            moved_to: moved_to.map(|p| p.display().to_string()),
        };
        store.set_integrity_alert(&super::IntegrityAlert::file_damaged(
            file,
            restored,
            copy_problem,
        ))?;
        Ok(store)
    }

    fn with_copy(mut self, copy: &Path) -> Store {
        if let Some(inner) = std::sync::Arc::get_mut(&mut self.inner) {
            inner.copy = Some(copy.to_path_buf());
        }
        self
    }
}
