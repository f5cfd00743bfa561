//! A blob at rest: cut in chunk rows of table `e<epoch>.index` (sealed in an encrypted
//! store), chained into the manifest's `index_chain`, loaded and opened on two threads,
//! verified, and copied on rollback (see the storage section of [`super`]).

use std::fmt;

use redb::{ReadableTable, WriteTransaction};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::format::{decode_delta, Base, Delta};
use crate::crypto::{Keyring, Sealer, ValuePlace, SEAL_OVERHEAD, TAG_LEN};
use crate::store::keys::IdHash;
use crate::store::tables::EpochTable;
use crate::store::{Manifest, Store, StoreError};

/// Plaintext bytes per chunk: 1 MiB less 4 KiB, so that a chunk's row (its 12-byte key,
/// the row header, the seal's nonce and tag and redb's leaf header) fits one 1 MiB page
/// allocation. redb allocates pages in power-of-two runs, and a chunk of a whole MiB
/// took a 2 MiB run, half of it empty.
pub const CHUNK: usize = (1 << 20) - 4096;
/// The `space` of an index chunk's AEAD place (record values use 0..=2).
const SPACE_BLOB: u8 = 3;
pub(super) const KIND_BASE: u8 = 1;
pub(super) const KIND_DELTA: u8 = 2;
const ROW_HEADER: usize = 32 + 1 + 1;
pub(super) const CHAIN_START: [u8; 32] = [0; 32];

pub(super) fn row_key(generation: u64, chunk: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&generation.to_be_bytes());
    k[8..].copy_from_slice(&chunk.to_be_bytes());
    k
}

pub(super) fn parse_row_key(k: &[u8]) -> Option<(u64, u32)> {
    Some((
        u64::from_be_bytes(k.get(..8)?.try_into().ok()?),
        u32::from_be_bytes(k.get(8..12)?.try_into().ok()?),
    ))
}

/// The AEAD place of one chunk: kind, chunk index, last flag and generation are bound.
fn place_id(generation: u64, chunk: u32, last: bool) -> IdHash {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&chunk.to_be_bytes());
    id[4] = last as u8;
    id[5..13].copy_from_slice(&generation.to_be_bytes());
    id
}

pub(super) fn damaged(generation: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "the search index of generation {generation} failed its integrity check"
    ))
}

/// Running hash over the blobs of one generation's index (see the module doc).
pub(super) struct Chain {
    value: [u8; 32],
    blob: Option<(u64, Sha256)>,
}

impl Chain {
    pub(super) fn new(start: [u8; 32]) -> Chain {
        Chain {
            value: start,
            blob: None,
        }
    }

    pub(super) fn from_hex(s: &str) -> Option<Chain> {
        let b: [u8; 32] = hex::decode(s).ok()?.try_into().ok()?;
        Some(Chain::new(b))
    }

    /// One chunk row (its key and header), in key order.
    pub(super) fn row(&mut self, generation: u64, chunk: u32, header: &[u8]) {
        if self.blob.as_ref().is_some_and(|(g, _)| *g != generation) {
            self.close();
        }
        let (_, h) = self.blob.get_or_insert_with(|| {
            let mut h = Sha256::new();
            h.update(b"akari-index-blob/v1");
            h.update(generation.to_be_bytes());
            (generation, h)
        });
        h.update(chunk.to_be_bytes());
        h.update(&header[..ROW_HEADER]);
    }

    fn close(&mut self) {
        if let Some((_, h)) = self.blob.take() {
            let mut c = Sha256::new();
            c.update(b"akari-index-chain/v1");
            c.update(self.value);
            c.update(h.finalize());
            self.value = c.finalize().into();
        }
    }

    pub(super) fn finish(mut self) -> String {
        self.close();
        hex::encode(self.value)
    }
}

/// The chain of a generation without any blob.
pub(crate) fn empty_chain() -> String {
    hex::encode(CHAIN_START)
}

/// Write one blob's plaintext as chunk rows of generation `generation` in `txn` (sealed
/// with `sealer` in an encrypted store), adding each row to `chain`.
pub(super) fn write_blob(
    txn: &WriteTransaction,
    epoch: u64,
    generation: u64,
    kind: u8,
    parts: &[&[u8]],
    sealer: Option<&Sealer>,
    chain: &mut Chain,
) -> Result<(), StoreError> {
    let name = EpochTable::Index.of(epoch);
    let mut table = txn.open_table(name.def())?;
    let g = generation;
    // The plaintext is the parts one after the other, cut in chunks as they are read (no
    // copy of the whole blob is made).
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let n = total.div_ceil(CHUNK).max(1);
    let mut rest = parts.iter().copied();
    let mut cur: &[u8] = &[];
    for c in 0..n {
        let len = CHUNK.min(total - c * CHUNK);
        let last = c + 1 == n;
        let reserve = ROW_HEADER + sealer.map_or(0, |_| Sealer::HEADER_LEN);
        let mut buf = Zeroizing::new(Vec::with_capacity(reserve + len + TAG_LEN));
        buf.resize(reserve, 0);
        while buf.len() < reserve + len {
            if cur.is_empty() {
                cur = rest.next().expect("the parts hold the blob's length");
                continue;
            }
            let take = (reserve + len - buf.len()).min(cur.len());
            buf.extend_from_slice(&cur[..take]);
            cur = &cur[take..];
        }
        if let Some(s) = sealer {
            let id = place_id(g, c as u32, last);
            let place = ValuePlace {
                space: SPACE_BLOB,
                rtype: kind,
                id_hash: &id,
            };
            s.seal_in_place(place, &mut buf, ROW_HEADER);
        }
        let hash = Sha256::digest(&buf[ROW_HEADER..]);
        buf[..32].copy_from_slice(&hash);
        buf[32] = kind;
        buf[33] = last as u8;
        chain.row(g, c as u32, &buf);
        table.insert(row_key(g, c as u32).as_slice(), buf.as_slice())?;
    }
    Ok(())
}

/// What a reader loads for one generation: the base of its epoch (unless it already holds
/// it) and the deltas after what it holds.
pub struct IndexBlobs {
    pub(crate) base: Option<Base>,
    pub(crate) deltas: Vec<Delta>,
    /// The generation and chain these blobs bring the index to.
    pub(crate) generation: u64,
    pub(crate) chain: String,
    pub(super) bytes: u64,
}

impl fmt::Debug for IndexBlobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IndexBlobs(generation {}, base: {}, {} delta(s), {} bytes)",
            self.generation,
            self.base.is_some(),
            self.deltas.len(),
            self.bytes
        )
    }
}

impl IndexBlobs {
    /// Plaintext bytes loaded.
    pub fn plaintext_bytes(&self) -> u64 {
        self.bytes
    }

    /// Patients in the base blob (0 if only deltas were loaded).
    pub fn base_patients(&self) -> usize {
        self.base.as_ref().map_or(0, Base::patients)
    }

    /// Delta blobs loaded.
    pub fn deltas(&self) -> usize {
        self.deltas.len()
    }
}

/// One blob's rows, copied out of the table: where each chunk's plaintext goes.
struct ChunkJob {
    chunk: u32,
    last: bool,
    /// Sealed header (encrypted store) and tag.
    header: [u8; 17],
    tag: [u8; TAG_LEN],
    /// Plaintext store: the content hash to check.
    hash: [u8; 32],
    range: std::ops::Range<usize>,
}

struct Blob {
    generation: u64,
    kind: u8,
    buf: Zeroizing<Vec<u8>>,
    jobs: Vec<ChunkJob>,
}

impl Store {
    /// Read and open the search-index blobs of generation `m`: the base of its epoch and
    /// every delta up to `m` or, with `since = (generation, chain)` of an index already
    /// held (same epoch), only the deltas after it. Checks the chain against the
    /// manifest; damage gives [`StoreError::Corrupt`]. An encrypted store needs `keys`.
    pub fn read_index(
        &self,
        m: &Manifest,
        keys: Option<&Keyring>,
        since: Option<(u64, &str)>,
    ) -> Result<IndexBlobs, StoreError> {
        if self.is_encrypted() && keys.is_none() {
            return Err(StoreError::Locked);
        }
        let txn = self.begin_read()?;
        let name = EpochTable::Index.of(m.epoch);
        let table = txn.open_table(name.def()).map_err(|e| match e {
            redb::TableError::TableDoesNotExist(_) => damaged(m.generation),
            other => other.into(),
        })?;
        let (from, mut chain) = match since {
            Some((g, c)) => (
                g + 1,
                Chain::from_hex(c).ok_or_else(|| damaged(m.generation))?,
            ),
            None => (0, Chain::new(CHAIN_START)),
        };
        let lo = row_key(from, 0);
        let hi = row_key(m.generation, u32::MAX);
        let encrypted = self.is_encrypted();
        let min_len = ROW_HEADER + if encrypted { SEAL_OVERHEAD } else { 0 };
        // Pass 1: the rows (held, not copied), their order and the chain.
        let mut rows = Vec::new();
        for row in table.range(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = row?;
            let (g, c) = parse_row_key(k.value()).ok_or_else(|| damaged(m.generation))?;
            if v.value().len() < min_len {
                return Err(damaged(m.generation));
            }
            chain.row(g, c, v.value());
            rows.push((g, c, v));
        }
        // Pass 2: each blob's chunks in one buffer of its exact size.
        let mut blobs: Vec<Blob> = Vec::new();
        let mut bytes = 0u64;
        let mut i = 0;
        while i < rows.len() {
            let g = rows[i].0;
            let end = i + rows[i..].iter().take_while(|r| r.0 == g).count();
            let chunks: Vec<(u32, &[u8])> = rows[i..end]
                .iter()
                .map(|(_, c, v)| (*c, v.value()))
                .collect();
            let blob =
                gather_blob(g, &chunks, encrypted, min_len).ok_or_else(|| damaged(m.generation))?;
            bytes += blob.buf.len() as u64;
            blobs.push(blob);
            i = end;
        }
        drop(rows);
        drop(table);
        drop(txn);
        let chain = chain.finish();
        if chain != m.index_chain {
            return Err(damaged(m.generation));
        }
        let (base, deltas) = open_blobs(blobs, keys, encrypted, since.is_some(), m.generation)?;
        Ok(IndexBlobs {
            base,
            deltas,
            generation: m.generation,
            chain,
            bytes,
        })
    }
}

/// One blob's chunk rows (index, stored value; in key order) copied into one buffer of
/// its exact size, with where each chunk's plaintext goes. `None` if the chunks are out
/// of order, of mixed kinds, or not ended by exactly one last chunk.
fn gather_blob(
    generation: u64,
    chunks: &[(u32, &[u8])],
    encrypted: bool,
    min_len: usize,
) -> Option<Blob> {
    let total: usize = chunks.iter().map(|(_, v)| v.len() - min_len).sum();
    let kind = chunks.first()?.1[32];
    let mut blob = Blob {
        generation,
        kind,
        buf: Zeroizing::new(Vec::with_capacity(total)),
        jobs: Vec::with_capacity(chunks.len()),
    };
    for (n, (c, v)) in chunks.iter().enumerate() {
        let last = v[33] != 0;
        if *c != n as u32 || v[32] != kind || last != (n + 1 == chunks.len()) {
            return None;
        }
        let content = &v[ROW_HEADER..];
        let mut job = ChunkJob {
            chunk: *c,
            last,
            header: [0; 17],
            tag: [0; TAG_LEN],
            hash: v[..32].try_into().ok()?,
            range: 0..0,
        };
        let body = if encrypted {
            let (h, rest) = content.split_at(Sealer::HEADER_LEN);
            let (b, t) = rest.split_at(rest.len() - TAG_LEN);
            job.header.copy_from_slice(h);
            job.tag.copy_from_slice(t);
            b
        } else {
            content
        };
        let at = blob.buf.len();
        blob.buf.extend_from_slice(body);
        job.range = at..at + body.len();
        blob.jobs.push(job);
    }
    Some(blob)
}

/// Open (or check) every chunk of the blobs, the large one on two threads, and parse
/// them: the base first (unless the reader holds it: `have_base`), then the deltas.
fn open_blobs(
    blobs: Vec<Blob>,
    keys: Option<&Keyring>,
    encrypted: bool,
    have_base: bool,
    generation: u64,
) -> Result<(Option<Base>, Vec<Delta>), StoreError> {
    let mut base = None;
    let mut deltas = Vec::new();
    for (n, mut blob) in blobs.into_iter().enumerate() {
        let want = if n == 0 && !have_base {
            KIND_BASE
        } else {
            KIND_DELTA
        };
        if blob.kind != want {
            return Err(damaged(generation));
        }
        open_blob(&mut blob, keys, encrypted, generation)?;
        if blob.kind == KIND_BASE {
            base = Some(Base::parse(blob.buf, generation)?);
        } else {
            deltas.push(decode_delta(&blob.buf, generation)?);
        }
    }
    if !have_base && base.is_none() {
        return Err(damaged(generation));
    }
    Ok((base, deltas))
}

/// Decrypt (encrypted store) or hash-check (plaintext store) every chunk of a blob.
fn open_blob(
    blob: &mut Blob,
    keys: Option<&Keyring>,
    encrypted: bool,
    generation: u64,
) -> Result<(), StoreError> {
    let g = blob.generation;
    let kind = blob.kind;
    let work = |jobs: &[ChunkJob], buf: &mut [u8], base: usize| -> Result<(), StoreError> {
        for j in jobs {
            let part = &mut buf[j.range.start - base..j.range.end - base];
            if encrypted {
                let keys = keys.ok_or(StoreError::Locked)?;
                let id = place_id(g, j.chunk, j.last);
                let place = ValuePlace {
                    space: SPACE_BLOB,
                    rtype: kind,
                    id_hash: &id,
                };
                keys.open_in_place(place, &j.header, part, &j.tag)
                    .map_err(|e| match e {
                        crate::crypto::CryptoError::Open => damaged(generation),
                        other => other.into(),
                    })?;
            } else if <[u8; 32]>::from(Sha256::digest(&*part)) != j.hash {
                return Err(damaged(generation));
            }
        }
        Ok(())
    };
    let jobs = &blob.jobs;
    let buf: &mut [u8] = &mut blob.buf;
    if jobs.len() < 4 {
        return work(jobs, buf, 0);
    }
    let mid = jobs.len() / 2;
    let split = jobs[mid].range.start;
    let (a, b) = buf.split_at_mut(split);
    let (ja, jb) = jobs.split_at(mid);
    std::thread::scope(|s| {
        let second = s.spawn(|| work(jb, b, split));
        let first = work(ja, a, 0);
        let second = second
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        first.and(second)
    })
}

/// Check the index blobs of generation `m` without opening them: every chunk's content
/// hash (if `content`) and the chain. Returns (chunks checked, chunks damaged, chain ok).
pub(crate) fn verify_blobs<T>(
    table: &T,
    m: &Manifest,
    content: bool,
) -> Result<(u64, u64, bool), StoreError>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    let mut chain = Chain::new(CHAIN_START);
    let (mut checked, mut corrupt) = (0u64, 0u64);
    let hi = row_key(m.generation, u32::MAX);
    for row in table.range(..=hi.as_slice())? {
        let (k, v) = row?;
        let v = v.value();
        checked += 1;
        let Some((g, c)) = parse_row_key(k.value()) else {
            corrupt += 1;
            continue;
        };
        if v.len() < ROW_HEADER {
            corrupt += 1;
            continue;
        }
        chain.row(g, c, v);
        if content && <[u8; 32]>::from(Sha256::digest(&v[ROW_HEADER..])) != v[..32] {
            corrupt += 1;
        }
    }
    Ok((checked, corrupt, chain.finish() == m.index_chain))
}

impl Store {
    /// [`verify_blobs`] in a read transaction.
    pub(crate) fn verify_index(&self, m: &Manifest) -> Result<(u64, u64, bool), StoreError> {
        let txn = self.begin_read()?;
        let name = EpochTable::Index.of(m.epoch);
        match txn.open_table(name.def()) {
            Ok(t) => verify_blobs(&t, m, true),
            Err(redb::TableError::TableDoesNotExist(_)) => {
                Ok((0, 0, m.index_chain == empty_chain()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Header-only check of the blobs just written (in the build's transaction).
pub(crate) fn check_written(txn: &WriteTransaction, m: &Manifest) -> Result<bool, StoreError> {
    let name = EpochTable::Index.of(m.epoch);
    let t = txn.open_table(name.def())?;
    Ok(verify_blobs(&t, m, false)?.2)
}

/// Damage one byte of a stored index chunk of `generation` (tests of verify only).
#[cfg(feature = "test-hooks")]
pub fn corrupt_blob_for_test(
    store: &Store,
    epoch: u64,
    generation: u64,
) -> Result<bool, StoreError> {
    let txn = store.begin_write()?;
    let done = {
        let name = EpochTable::Index.of(epoch);
        let mut t = txn.open_table(name.def())?;
        let k = row_key(generation, 0);
        let v = t.get(k.as_slice())?.map(|v| v.value().to_vec());
        match v {
            Some(mut v) => {
                if let Some(b) = v.last_mut() {
                    *b ^= 0x55;
                }
                t.insert(k.as_slice(), v.as_slice())?;
                true
            }
            None => false,
        }
    };
    txn.commit()?;
    Ok(done)
}
