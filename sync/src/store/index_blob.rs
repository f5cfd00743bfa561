//! The search index at rest: one blob per generation build, not one row per entry.
//!
//! Unlocking must turn the stored index into a searchable one in well under 2 s at 1M
//! patients. Reading, opening and decoding 1.3 M individually sealed rows and
//! then normalising every name costs ~6 µs per entry; so the builder, which sees the
//! plaintext entries while it maps them anyway, computes everything the in-memory index
//! needs and stores it in a form that loads with a decrypt and no per-entry work:
//!
//! * A **full sync** (a new epoch) writes the epoch's *base blob*: every Patient entry
//!   sorted by patient key (fixed-width records), every Location entry sorted by patient,
//!   the winning location of each patient, the normalised name keys (full and given name,
//!   kanji and kana: [`crate::text::name_keys`]), the normalised hospital IDs and the birth
//!   dates as sorted arrays, and one string arena. The reader keeps the decrypted bytes as
//!   they are and searches them in place (binary search on the sorted arrays).
//! * An **incremental sync** writes a small *delta blob* for its generation (nothing if no
//!   entry changed): the entries it wrote and the inherited entries it ended, by resource
//!   (type, id hash) and patient key. The builder knows both without reading stored
//!   content: upserts are what it writes, and a version's header says whether the
//!   resource has an index entry ([`super::keys::KIND_INDEXED`]), so ending the version
//!   ends the entry. The index of generation `G` is the base of its epoch plus the
//!   epoch's deltas up to `G`; a reader that holds generation `G` applies only the deltas
//!   after it (cost ∝ delta).
//!
//! # Storage
//!
//! Table `e<epoch>.index`, key `generation(8, BE) ‖ chunk(4, BE)`, value
//! `SHA-256 of the stored content(32) ‖ kind(1: base 1, delta 2) ‖ last chunk(1) ‖
//! content`. A blob is cut in chunks of [`CHUNK`] bytes of plaintext; in an encrypted
//! store each chunk is sealed like a record value ([`Sealer`], the build's data key) with
//! `space = 3`, `rtype = kind` and the chunk index, last-chunk flag and generation in the
//! place, so a chunk cannot be reordered, moved to another blob or truncated away
//! unnoticed (as in age's STREAM). Chunks are opened on two threads.
//!
//! Each manifest carries `index_chain`: a SHA-256 chain over the row headers of every
//! blob its index is made of (over ciphertext hashes: no secret needed). Verify checks
//! each chunk's hash and the chain; the reader checks the chain before it trusts what it
//! loads, so a damaged, missing or extra blob is found like a damaged record. A rollback
//! copies the rows byte for byte (no decryption) into the new epoch. Retention drops the
//! table with its epoch; inside a live epoch every delta is still needed.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::keys::{IdHash, Pk};
use super::{table_name, IndexEntry, Manifest, Store, StoreError};
use crate::crypto::{Keyring, Sealer, ValuePlace, SEAL_OVERHEAD, TAG_LEN};
use crate::model::Sex;
use crate::text::{name_keys, normalize_hospital_id};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 1 << 20;
/// The `space` of an index chunk's AEAD place (record values use 0..=2).
const SPACE_BLOB: u8 = 3;
const KIND_BASE: u8 = 1;
const KIND_DELTA: u8 = 2;
const ROW_HEADER: usize = 32 + 1 + 1;
const BASE_MAGIC: &[u8; 4] = b"AKIX";
const DELTA_MAGIC: &[u8; 4] = b"AKID";
/// Version of the blob layouts and of the search-key normalisation baked into them
/// (2: hospital IDs normalised ignoring case and separators).
const FORMAT: u32 = 2;
const CHAIN_START: [u8; 32] = [0; 32];

fn def(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

fn row_key(generation: u64, chunk: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&generation.to_be_bytes());
    k[8..].copy_from_slice(&chunk.to_be_bytes());
    k
}

fn parse_row_key(k: &[u8]) -> Option<(u64, u32)> {
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

fn damaged(generation: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "the search index of generation {generation} failed its integrity check"
    ))
}

/// Running hash over the blobs of one generation's index (see the module doc).
struct Chain {
    value: [u8; 32],
    blob: Option<(u64, Sha256)>,
}

impl Chain {
    fn new(start: [u8; 32]) -> Chain {
        Chain {
            value: start,
            blob: None,
        }
    }

    fn from_hex(s: &str) -> Option<Chain> {
        let b: [u8; 32] = hex::decode(s).ok()?.try_into().ok()?;
        Some(Chain::new(b))
    }

    /// One chunk row (its key and header), in key order.
    fn row(&mut self, generation: u64, chunk: u32, header: &[u8]) {
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

    fn finish(mut self) -> String {
        self.close();
        hex::encode(self.value)
    }
}

/// The chain of a generation without any blob.
pub(crate) fn empty_chain() -> String {
    hex::encode(CHAIN_START)
}

// ---------------------------------------------------------------------------------------
// Build side
// ---------------------------------------------------------------------------------------

/// A search-index entry as the prepare workers make it: the entry and, for a Patient, its
/// search keys (normalised once here rather than at every unlock). Debug output holds no
/// patient data.
#[derive(Clone, PartialEq)]
pub struct Entry {
    pub entry: IndexEntry,
    id_key: Option<String>,
    name_keys: Vec<String>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            IndexEntry::Patient { .. } => f.write_str("Entry(Patient, ..)"),
            IndexEntry::Location { .. } => f.write_str("Entry(Location, ..)"),
        }
    }
}

impl Entry {
    pub fn new(entry: IndexEntry) -> Entry {
        let (id_key, name_keys) = match &entry {
            IndexEntry::Patient {
                hospital_id,
                name_kanji,
                name_kana,
                ..
            } => {
                let mut keys: Vec<String> = name_kanji
                    .iter()
                    .chain(name_kana.iter())
                    .flat_map(|n| name_keys(n))
                    .collect();
                keys.dedup();
                (hospital_id.as_deref().map(normalize_hospital_id), keys)
            }
            IndexEntry::Location { .. } => (None, Vec::new()),
        };
        Entry {
            entry,
            id_key,
            name_keys,
        }
    }
}

impl Zeroize for Entry {
    fn zeroize(&mut self) {
        zeroize_entry(&mut self.entry);
        for s in self.id_key.iter_mut().chain(self.name_keys.iter_mut()) {
            s.zeroize();
        }
    }
}

/// Wipe the strings of an entry (names, IDs, places).
pub(crate) fn zeroize_entry(e: &mut IndexEntry) {
    match e {
        IndexEntry::Patient {
            hospital_id,
            name_kanji,
            name_kana,
            birth_date,
            ..
        } => {
            for s in [hospital_id, name_kanji, name_kana].into_iter().flatten() {
                s.zeroize();
            }
            *birth_date = None;
        }
        IndexEntry::Location {
            ward,
            room,
            bed,
            class,
            ..
        } => {
            for s in [ward, room, bed, class].into_iter().flatten() {
                s.zeroize();
            }
        }
    }
}

/// Collects a build's index changes and writes its blob at the end of the build. Holds
/// plaintext only while the build runs (what arrives during a sync); wiped when dropped.
pub(crate) struct Accumulator {
    generation: u64,
    /// Entries born in this generation, by resource (type, id hash).
    born: HashMap<(u8, IdHash), (Pk, Arc<Entry>)>,
    /// Inherited entries this generation ended.
    ended: Vec<(u8, IdHash, Pk)>,
}

impl fmt::Debug for Accumulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Accumulator(generation {}, {} born, {} ended)",
            self.generation,
            self.born.len(),
            self.ended.len()
        )
    }
}

impl Drop for Accumulator {
    fn drop(&mut self) {
        for (_, (_, e)) in self.born.drain() {
            if let Ok(mut e) = Arc::try_unwrap(e) {
                e.zeroize();
            }
        }
    }
}

impl Accumulator {
    pub(crate) fn new(generation: u64) -> Accumulator {
        Accumulator {
            generation,
            born: HashMap::new(),
            ended: Vec::new(),
        }
    }

    /// A version with an index entry was written (born in this generation).
    pub(crate) fn upsert(&mut self, rtype: u8, idh: IdHash, pk: Pk, entry: Arc<Entry>) {
        self.born.insert((rtype, idh), (pk, entry));
    }

    /// A version with an index entry ended; `born` is the generation that wrote it.
    pub(crate) fn remove(&mut self, rtype: u8, idh: &IdHash, pk: &Pk, born: u64) {
        if born == self.generation {
            self.born.remove(&(rtype, *idh));
        } else {
            self.ended.push((rtype, *idh, *pk));
        }
    }

    /// Entries born in this generation (live at its end).
    pub(crate) fn born(&self) -> usize {
        self.born.len()
    }

    /// Write the generation's blob in `txn`: the base of the new epoch for a full build,
    /// else the delta (nothing if no entry changed). Returns the manifest's index chain.
    pub(crate) fn write(
        &mut self,
        txn: &WriteTransaction,
        epoch: u64,
        full: bool,
        sealer: Option<&Sealer>,
        parent_chain: Option<&str>,
    ) -> Result<String, StoreError> {
        let mut chain = if full {
            Chain::new(CHAIN_START)
        } else {
            parent_chain
                .and_then(Chain::from_hex)
                .ok_or_else(|| StoreError::Corrupt("parent index chain".into()))?
        };
        let (kind, plain) = if full {
            (KIND_BASE, encode_base(&self.born)?)
        } else if self.born.is_empty() && self.ended.is_empty() {
            return Ok(chain.finish());
        } else {
            (KIND_DELTA, self.encode_delta())
        };
        let name = table_name(epoch, "index");
        let mut table = txn.open_table(def(&name))?;
        let g = self.generation;
        let n = plain.len().div_ceil(CHUNK).max(1);
        for c in 0..n {
            let part = &plain[(c * CHUNK).min(plain.len())..((c + 1) * CHUNK).min(plain.len())];
            let last = c + 1 == n;
            let reserve = ROW_HEADER + sealer.map_or(0, |_| Sealer::HEADER_LEN);
            let mut buf = Zeroizing::new(Vec::with_capacity(reserve + part.len() + TAG_LEN));
            buf.resize(reserve, 0);
            buf.extend_from_slice(part);
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
        Ok(chain.finish())
    }

    fn encode_delta(&self) -> Zeroizing<Vec<u8>> {
        let delta = DeltaRef {
            ended: &self.ended,
            born: self
                .born
                .iter()
                .map(|((rtype, idh), (pk, e))| (*rtype, *idh, *pk, &e.entry))
                .collect(),
        };
        let mut out = Zeroizing::new(Vec::new());
        out.extend_from_slice(DELTA_MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        let bytes =
            postcard::to_extend(&delta, std::mem::take(&mut *out)).expect("index deltas serialise");
        Zeroizing::new(bytes)
    }
}

#[derive(Serialize)]
struct DeltaRef<'a> {
    ended: &'a [(u8, IdHash, Pk)],
    born: Vec<(u8, IdHash, Pk, &'a IndexEntry)>,
}

/// The index changes of one incremental generation, as the reader applies them.
#[derive(Deserialize)]
pub(crate) struct Delta {
    /// Entries of earlier generations that ended (resource type, id hash, patient key).
    pub ended: Vec<(u8, IdHash, Pk)>,
    /// Entries written (resource type, id hash, patient key, entry).
    pub born: Vec<(u8, IdHash, Pk, IndexEntry)>,
}

impl Drop for Delta {
    fn drop(&mut self) {
        for (_, _, _, e) in &mut self.born {
            zeroize_entry(e);
        }
    }
}

// Base layout (little endian):
//   header: magic(4) format(4) patients(4) locations(4) names(4) ids(4) births(4) arena(4)
//   patients:  pk(16) hospital id(8) kanji(8) kana(8) birth(4, days from CE; i32::MIN none)
//              location(4, index; u32::MAX none) sex(1)
//   locations: pk(16) rtype(1) id hash(16) ward(8) room(8) bed(8) start(16, i128 ns; MIN none)
//   names, ids: key(8) patient(4), sorted by key bytes then patient
//   births:    days(4) patient(4), sorted
//   arena:     string bytes
// A string is `offset(4) ‖ length(4)` into the arena; offset u32::MAX is "none".
const HEADER_LEN: usize = 32;
const PATIENT_LEN: usize = 16 + 8 * 3 + 4 + 4 + 1;
const LOCATION_LEN: usize = 16 + 1 + 16 + 8 * 3 + 16;
const KEY_ROW_LEN: usize = 12;
const BIRTH_LEN: usize = 8;
const NONE32: u32 = u32::MAX;
const NO_BIRTH: i32 = i32::MIN;

fn sex_byte(s: Sex) -> u8 {
    match s {
        Sex::Male => 0,
        Sex::Female => 1,
        Sex::Other => 2,
        Sex::Unknown => 3,
    }
}

fn byte_sex(b: u8) -> Sex {
    match b {
        0 => Sex::Male,
        1 => Sex::Female,
        2 => Sex::Other,
        _ => Sex::Unknown,
    }
}

/// Order key of a location's start (`None` first), the same in base and overlay.
pub(crate) fn start_key(t: Option<DateTime<Utc>>) -> i128 {
    t.map_or(i128::MIN, |t| {
        t.timestamp() as i128 * 1_000_000_000 + t.timestamp_subsec_nanos() as i128
    })
}

pub(crate) fn birth_days(d: Option<NaiveDate>) -> i32 {
    d.map_or(NO_BIRTH, |d| d.num_days_from_ce())
}

fn days_birth(days: i32) -> Option<NaiveDate> {
    (days != NO_BIRTH)
        .then(|| NaiveDate::from_num_days_from_ce_opt(days))
        .flatten()
}

struct Arena(Vec<u8>);

impl Arena {
    fn put(&mut self, s: Option<&str>) -> Result<[u8; 8], StoreError> {
        let mut r = [0u8; 8];
        match s {
            None => r[..4].copy_from_slice(&NONE32.to_le_bytes()),
            Some(s) => {
                let off = u32::try_from(self.0.len())
                    .ok()
                    .filter(|o| *o != NONE32)
                    .ok_or_else(|| StoreError::Database("search index too large".into()))?;
                r[..4].copy_from_slice(&off.to_le_bytes());
                r[4..].copy_from_slice(&(s.len() as u32).to_le_bytes());
                self.0.extend_from_slice(s.as_bytes());
            }
        }
        Ok(r)
    }
}

/// The base blob's plaintext from the entries of a full build.
fn encode_base(
    born: &HashMap<(u8, IdHash), (Pk, Arc<Entry>)>,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    struct Loc<'a> {
        pk: &'a Pk,
        rtype: u8,
        idh: &'a IdHash,
        entry: &'a Entry,
        start: i128,
    }
    let mut patients: Vec<(&Pk, &Entry)> = Vec::new();
    let mut locs: Vec<Loc<'_>> = Vec::new();
    for ((rtype, idh), (pk, e)) in born {
        match &e.entry {
            IndexEntry::Patient { .. } => patients.push((pk, e)),
            IndexEntry::Location { start, .. } => locs.push(Loc {
                pk,
                rtype: *rtype,
                idh,
                entry: e,
                start: start_key(*start),
            }),
        }
    }
    patients.sort_unstable_by(|a, b| a.0.cmp(b.0));
    locs.sort_unstable_by(|a, b| (a.pk, a.rtype, a.idh).cmp(&(b.pk, b.rtype, b.idh)));
    let mut arena = Arena(Vec::new());
    // Locations first (patients refer to them).
    let mut loc_rows = Vec::with_capacity(locs.len() * LOCATION_LEN);
    for l in &locs {
        let IndexEntry::Location {
            ward, room, bed, ..
        } = &l.entry.entry
        else {
            unreachable!("only locations were collected");
        };
        loc_rows.extend_from_slice(l.pk);
        loc_rows.push(l.rtype);
        loc_rows.extend_from_slice(l.idh);
        for s in [ward, room, bed] {
            loc_rows.extend_from_slice(&arena.put(s.as_deref())?);
        }
        loc_rows.extend_from_slice(&l.start.to_le_bytes());
    }
    let mut patient_rows = Vec::with_capacity(patients.len() * PATIENT_LEN);
    let mut names: Vec<(&str, u32, [u8; 8])> = Vec::with_capacity(patients.len() * 4);
    let mut ids: Vec<(&str, u32, [u8; 8])> = Vec::with_capacity(patients.len());
    let mut births: Vec<(i32, u32)> = Vec::with_capacity(patients.len());
    let mut li = 0usize;
    for (i, (pk, e)) in patients.iter().enumerate() {
        let IndexEntry::Patient {
            hospital_id,
            name_kanji,
            name_kana,
            sex,
            birth_date,
        } = &e.entry
        else {
            unreachable!("only patients were collected");
        };
        // The patient's most recent admission (ties: first in resource order).
        while li < locs.len() && locs[li].pk < *pk {
            li += 1;
        }
        let mut winner: Option<usize> = None;
        let mut j = li;
        while j < locs.len() && locs[j].pk == *pk {
            if winner.is_none_or(|w| locs[j].start > locs[w].start) {
                winner = Some(j);
            }
            j += 1;
        }
        let i = i as u32;
        patient_rows.extend_from_slice(*pk);
        for s in [hospital_id, name_kanji, name_kana] {
            patient_rows.extend_from_slice(&arena.put(s.as_deref())?);
        }
        let days = birth_days(*birth_date);
        patient_rows.extend_from_slice(&days.to_le_bytes());
        patient_rows.extend_from_slice(&winner.map_or(NONE32, |w| w as u32).to_le_bytes());
        patient_rows.push(sex_byte(*sex));
        if days != NO_BIRTH {
            births.push((days, i));
        }
        if let Some(k) = &e.id_key {
            ids.push((k, i, arena.put(Some(k))?));
        }
        // A given-name key is the end of the full-name key before it: stored once.
        let mut prev: Option<(&str, [u8; 8])> = None;
        let mut keys: Vec<&str> = e.name_keys.iter().map(String::as_str).collect();
        keys.dedup();
        for k in keys {
            let r = match prev {
                Some((p, r)) if p.ends_with(k) => {
                    let off = u32::from_le_bytes(r[..4].try_into().expect("4 bytes"))
                        + (p.len() - k.len()) as u32;
                    let mut s = [0u8; 8];
                    s[..4].copy_from_slice(&off.to_le_bytes());
                    s[4..].copy_from_slice(&(k.len() as u32).to_le_bytes());
                    s
                }
                _ => arena.put(Some(k))?,
            };
            prev = Some((k, r));
            names.push((k, i, r));
        }
    }
    sort_keys(&mut names);
    names.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    sort_keys(&mut ids);
    births.sort_unstable();
    let mut out = Zeroizing::new(Vec::with_capacity(
        HEADER_LEN
            + patient_rows.len()
            + loc_rows.len()
            + (names.len() + ids.len()) * KEY_ROW_LEN
            + births.len() * BIRTH_LEN
            + arena.0.len(),
    ));
    out.extend_from_slice(BASE_MAGIC);
    for n in [
        FORMAT as usize,
        patients.len(),
        locs.len(),
        names.len(),
        ids.len(),
        births.len(),
        arena.0.len(),
    ] {
        let n =
            u32::try_from(n).map_err(|_| StoreError::Database("search index too large".into()))?;
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&patient_rows);
    out.extend_from_slice(&loc_rows);
    for (_, i, r) in names.iter().chain(ids.iter()) {
        out.extend_from_slice(r);
        out.extend_from_slice(&i.to_le_bytes());
    }
    for (d, i) in &births {
        out.extend_from_slice(&d.to_le_bytes());
        out.extend_from_slice(&i.to_le_bytes());
    }
    out.extend_from_slice(&arena.0);
    // Patient data in the intermediate buffers is wiped before they are freed.
    patient_rows.zeroize();
    loc_rows.zeroize();
    arena.0.zeroize();
    Ok(out)
}

/// Sort search keys by key bytes, then patient; large sets on two threads.
fn sort_keys(v: &mut Vec<(&str, u32, [u8; 8])>) {
    let cmp = |a: &(&str, u32, [u8; 8]), b: &(&str, u32, [u8; 8])| (a.0, a.1).cmp(&(b.0, b.1));
    if v.len() < 100_000 {
        v.sort_unstable_by(cmp);
        return;
    }
    let mid = v.len() / 2;
    {
        let (a, b) = v.split_at_mut(mid);
        std::thread::scope(|s| {
            s.spawn(|| b.sort_unstable_by(cmp));
            a.sort_unstable_by(cmp);
        });
    }
    let mut merged = Vec::with_capacity(v.len());
    let (a, b) = v.split_at(mid);
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if cmp(&a[i], &b[j]) != std::cmp::Ordering::Greater {
            merged.push(a[i]);
            i += 1;
        } else {
            merged.push(b[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&a[i..]);
    merged.extend_from_slice(&b[j..]);
    *v = merged;
}

// ---------------------------------------------------------------------------------------
// Read side
// ---------------------------------------------------------------------------------------

/// The decrypted base blob of an epoch, searched in place. Wiped when dropped.
pub(crate) struct Base {
    buf: Zeroizing<Vec<u8>>,
    patients: usize,
    locations: usize,
    names: usize,
    ids: usize,
    births: usize,
    at_locations: usize,
    at_names: usize,
    at_ids: usize,
    at_births: usize,
    at_arena: usize,
}

impl fmt::Debug for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base({} patients)", self.patients)
    }
}

/// One patient of the base.
pub(crate) struct BasePatient<'a> {
    pub pk: Pk,
    pub hospital_id: Option<&'a str>,
    pub name_kanji: Option<&'a str>,
    pub name_kana: Option<&'a str>,
    pub sex: Sex,
    pub birth_date: Option<NaiveDate>,
    pub location: Option<u32>,
}

/// One location entry of the base.
pub(crate) struct BaseLocation<'a> {
    pub pk: Pk,
    pub rtype: u8,
    pub idh: IdHash,
    pub ward: Option<&'a str>,
    pub room: Option<&'a str>,
    pub bed: Option<&'a str>,
    pub start: i128,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl Base {
    fn parse(buf: Zeroizing<Vec<u8>>, generation: u64) -> Result<Base, StoreError> {
        if buf.len() < HEADER_LEN || &buf[..4] != BASE_MAGIC {
            return Err(damaged(generation));
        }
        let h = |i: usize| u32_at(&buf, 4 + 4 * i) as usize;
        if h(0) != FORMAT as usize {
            return Err(StoreError::Corrupt(format!(
                "the search index of generation {generation} has format {} (this Akari reads {FORMAT}): run `akari sync now --full`",
                h(0)
            )));
        }
        let (patients, locations, names, ids, births, arena) = (h(1), h(2), h(3), h(4), h(5), h(6));
        let at_locations = HEADER_LEN + patients * PATIENT_LEN;
        let at_names = at_locations + locations * LOCATION_LEN;
        let at_ids = at_names + names * KEY_ROW_LEN;
        let at_births = at_ids + ids * KEY_ROW_LEN;
        let at_arena = at_births + births * BIRTH_LEN;
        if at_arena + arena != buf.len() {
            return Err(damaged(generation));
        }
        Ok(Base {
            buf,
            patients,
            locations,
            names,
            ids,
            births,
            at_locations,
            at_names,
            at_ids,
            at_births,
            at_arena,
        })
    }

    pub(crate) fn patients(&self) -> usize {
        self.patients
    }

    pub(crate) fn locations(&self) -> usize {
        self.locations
    }

    fn str_at(&self, at: usize) -> Option<&str> {
        let off = u32_at(&self.buf, at);
        if off == NONE32 {
            return None;
        }
        let len = u32_at(&self.buf, at + 4) as usize;
        let start = self.at_arena + off as usize;
        self.buf
            .get(start..start + len)
            .and_then(|b| std::str::from_utf8(b).ok())
    }

    fn key_bytes(&self, at: usize) -> &[u8] {
        let off = u32_at(&self.buf, at) as usize;
        let len = u32_at(&self.buf, at + 4) as usize;
        let start = self.at_arena + off;
        self.buf.get(start..start + len).unwrap_or(&[])
    }

    pub(crate) fn pk(&self, i: u32) -> Pk {
        let at = HEADER_LEN + i as usize * PATIENT_LEN;
        self.buf[at..at + 16].try_into().expect("16 bytes")
    }

    pub(crate) fn patient(&self, i: u32) -> BasePatient<'_> {
        let at = HEADER_LEN + i as usize * PATIENT_LEN;
        let loc = u32_at(&self.buf, at + 44);
        BasePatient {
            pk: self.pk(i),
            hospital_id: self.str_at(at + 16),
            name_kanji: self.str_at(at + 24),
            name_kana: self.str_at(at + 32),
            birth_date: days_birth(u32_at(&self.buf, at + 40) as i32),
            location: (loc != NONE32 && (loc as usize) < self.locations).then_some(loc),
            sex: byte_sex(self.buf[at + 48]),
        }
    }

    /// Does the patient have a current location (without decoding the rest)?
    pub(crate) fn has_location(&self, i: u32) -> bool {
        let at = HEADER_LEN + i as usize * PATIENT_LEN;
        u32_at(&self.buf, at + 44) != NONE32
    }

    pub(crate) fn location(&self, j: u32) -> BaseLocation<'_> {
        let at = self.at_locations + j as usize * LOCATION_LEN;
        let b = &self.buf;
        BaseLocation {
            pk: b[at..at + 16].try_into().expect("16 bytes"),
            rtype: b[at + 16],
            idh: b[at + 17..at + 33].try_into().expect("16 bytes"),
            ward: self.str_at(at + 33),
            room: self.str_at(at + 41),
            bed: self.str_at(at + 49),
            start: i128::from_le_bytes(b[at + 57..at + 73].try_into().expect("16 bytes")),
        }
    }

    /// The patient with this key.
    pub(crate) fn find(&self, pk: &Pk) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.patients);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.pk(mid as u32).cmp(pk) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// Location entries of a patient.
    pub(crate) fn locations_of(&self, pk: &Pk) -> std::ops::Range<u32> {
        let at = |j: usize| {
            let a = self.at_locations + j * LOCATION_LEN;
            &self.buf[a..a + 16]
        };
        let lo = partition(self.locations, |j| at(j) < pk.as_slice());
        let hi = partition(self.locations, |j| at(j) <= pk.as_slice());
        lo as u32..hi as u32
    }

    /// Name keys starting with `prefix`, in key order: (key, patient).
    pub(crate) fn names_with_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a [u8], u32)> + 'a {
        let row = move |j: usize| self.at_names + j * KEY_ROW_LEN;
        let start = partition(self.names, |j| self.key_bytes(row(j)) < prefix);
        (start..self.names)
            .map(move |j| (self.key_bytes(row(j)), u32_at(&self.buf, row(j) + 8)))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .filter(move |(_, i)| (*i as usize) < self.patients)
    }

    /// Patients whose normalised hospital ID is exactly `key`.
    pub(crate) fn with_id<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = u32> + 'a {
        let row = move |j: usize| self.at_ids + j * KEY_ROW_LEN;
        let start = partition(self.ids, |j| self.key_bytes(row(j)) < key);
        (start..self.ids)
            .take_while(move |&j| self.key_bytes(row(j)) == key)
            .map(move |j| u32_at(&self.buf, row(j) + 8))
            .filter(move |&i| (i as usize) < self.patients)
    }

    /// Patients born on `date`.
    pub(crate) fn born_on(&self, date: NaiveDate) -> impl Iterator<Item = u32> + '_ {
        let days = date.num_days_from_ce();
        let row = move |j: usize| self.at_births + j * BIRTH_LEN;
        let start = partition(self.births, |j| (u32_at(&self.buf, row(j)) as i32) < days);
        (start..self.births)
            .take_while(move |&j| u32_at(&self.buf, row(j)) as i32 == days)
            .map(move |j| u32_at(&self.buf, row(j) + 4))
            .filter(move |&i| (i as usize) < self.patients)
    }

    /// Bytes held.
    pub(crate) fn len_bytes(&self) -> usize {
        self.buf.len()
    }
}

/// First index in `0..n` for which `pred` is false (`pred` true then false).
fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// What a reader loads for one generation: the base of its epoch (unless it already holds
/// it) and the deltas after what it holds.
pub struct IndexBlobs {
    pub(crate) base: Option<Base>,
    pub(crate) deltas: Vec<Delta>,
    /// The generation and chain these blobs bring the index to.
    pub(crate) generation: u64,
    pub(crate) chain: String,
    bytes: u64,
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
        let txn = self.db().begin_read()?;
        let name = table_name(m.epoch, "index");
        let table = txn.open_table(def(&name)).map_err(|e| match e {
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
            let body_len = |v: &[u8]| v.len() - min_len;
            let total: usize = rows[i..end].iter().map(|r| body_len(r.2.value())).sum();
            let kind = rows[i].2.value()[32];
            let mut blob = Blob {
                generation: g,
                kind,
                buf: Zeroizing::new(Vec::with_capacity(total)),
                jobs: Vec::with_capacity(end - i),
            };
            for (n, (_, c, v)) in rows[i..end].iter().enumerate() {
                let v = v.value();
                let last = v[33] != 0;
                if *c != n as u32 || v[32] != kind || last != (n + 1 == end - i) {
                    return Err(damaged(m.generation));
                }
                let content = &v[ROW_HEADER..];
                let mut job = ChunkJob {
                    chunk: *c,
                    last,
                    header: [0; 17],
                    tag: [0; TAG_LEN],
                    hash: v[..32].try_into().expect("32 bytes"),
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
            bytes += total as u64;
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
        // Open (or check) every chunk, the large blob on two threads.
        let mut base = None;
        let mut deltas = Vec::new();
        for (n, mut blob) in blobs.into_iter().enumerate() {
            let want = if n == 0 && since.is_none() {
                KIND_BASE
            } else {
                KIND_DELTA
            };
            if blob.kind != want {
                return Err(damaged(m.generation));
            }
            open_blob(&mut blob, keys, encrypted, m.generation)?;
            if blob.kind == KIND_BASE {
                base = Some(Base::parse(blob.buf, m.generation)?);
            } else {
                let b = &blob.buf;
                if b.len() < 8 || &b[..4] != DELTA_MAGIC || u32_at(b, 4) != FORMAT {
                    return Err(damaged(m.generation));
                }
                let d: Delta = postcard::from_bytes(&b[8..]).map_err(|_| damaged(m.generation))?;
                deltas.push(d);
            }
        }
        if since.is_none() && base.is_none() {
            return Err(damaged(m.generation));
        }
        Ok(IndexBlobs {
            base,
            deltas,
            generation: m.generation,
            chain,
            bytes,
        })
    }
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
        let txn = self.db().begin_read()?;
        let name = table_name(m.epoch, "index");
        match txn.open_table(def(&name)) {
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
    let name = table_name(m.epoch, "index");
    let t = txn.open_table(def(&name))?;
    Ok(verify_blobs(&t, m, false)?.2)
}

/// Rollback: copy the index rows generation `source` sees into the tables of `epoch`,
/// byte for byte (sealed chunks stay sealed; their places name their own generation).
pub(crate) fn copy_blobs(
    txn: &WriteTransaction,
    source: &Manifest,
    epoch: u64,
) -> Result<(), StoreError> {
    let src_name = table_name(source.epoch, "index");
    let dst_name = table_name(epoch, "index");
    let src = txn.open_table(def(&src_name))?;
    let mut dst = txn.open_table(def(&dst_name))?;
    let hi = row_key(source.generation, u32::MAX);
    for row in src.range(..=hi.as_slice())? {
        let (k, v) = row?;
        dst.insert(k.value(), v.value())?;
    }
    Ok(())
}

/// Damage one byte of a stored index chunk of `generation` (tests of verify only).
#[doc(hidden)]
pub fn corrupt_blob_for_test(
    store: &Store,
    epoch: u64,
    generation: u64,
) -> Result<bool, StoreError> {
    let txn = store.db().begin_write()?;
    let done = {
        let name = table_name(epoch, "index");
        let mut t = txn.open_table(def(&name))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(kanji: &str, kana: &str, id: &str, birth: (i32, u32, u32)) -> IndexEntry {
        IndexEntry::Patient {
            hospital_id: Some(id.into()),
            name_kanji: Some(kanji.into()),
            name_kana: Some(kana.into()),
            sex: Sex::Female,
            birth_date: NaiveDate::from_ymd_opt(birth.0, birth.1, birth.2),
        }
    }

    fn manifest(generation: u64, chain: String) -> Manifest {
        Manifest {
            generation,
            epoch: generation,
            parent: None,
            kind: super::super::GenerationKind::Full,
            created_at: Utc::now(),
            high_water: None,
            counts: Default::default(),
            index_entries: 0,
            set_hash: String::new(),
            pinned: false,
            source: String::new(),
            written: 0,
            removed: 0,
            key_ids: vec![generation],
            index_chain: chain,
        }
    }

    /// The chain over the rows as they are now (what someone rewriting the manifest too
    /// would put there).
    fn chain_of(store: &Store, epoch: u64) -> String {
        let txn = store.db().begin_read().unwrap();
        let name = table_name(epoch, "index");
        let t = txn.open_table(def(&name)).unwrap();
        let mut c = Chain::new(CHAIN_START);
        for row in t.iter().unwrap() {
            let (k, v) = row.unwrap();
            let (g, n) = parse_row_key(k.value()).unwrap();
            c.row(g, n, v.value());
        }
        c.finish()
    }

    fn edit_rows(store: &Store, epoch: u64, f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>)) {
        let txn = store.db().begin_write().unwrap();
        {
            let name = table_name(epoch, "index");
            let mut t = txn.open_table(def(&name)).unwrap();
            f(&mut t);
        }
        txn.commit().unwrap();
    }

    #[test]
    fn a_multi_chunk_sealed_blob_opens_and_chunks_cannot_be_swapped_or_dropped() {
        let db = redb::Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        let (pk, sk) = crate::crypto::generate();
        let store = Store::from_database(
            db,
            super::super::StoreOptions {
                public_key: Some(pk),
                ..Default::default()
            },
        )
        .unwrap();
        let g = 7;
        let (sealer, wrapped) = Sealer::new(&pk, g);
        let ring = Keyring::unwrap_all(&sk, [(g, wrapped.as_slice())], None).unwrap();
        let mut acc = Accumulator::new(g);
        let n = 40_000u32;
        for i in 0..n {
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&i.to_be_bytes());
            let e = patient(
                &format!("山田 {i}"),
                &format!("ヤマダ {i}"),
                &format!("{i:09}"),
                (1950, 1, 1 + i % 28),
            );
            acc.upsert(1, key, key, Arc::new(Entry::new(e)));
        }
        let txn = store.db().begin_write().unwrap();
        let chain = acc.write(&txn, g, true, Some(&sealer), None).unwrap();
        txn.commit().unwrap();
        let m = manifest(g, chain);
        let blobs = store.read_index(&m, Some(&ring), None).unwrap();
        assert!(blobs.plaintext_bytes() > 4 * CHUNK as u64, "{blobs:?}");
        let base = blobs.base.as_ref().unwrap();
        assert_eq!(base.patients(), n as usize);
        let hit: Vec<u32> = base.with_id(b"31337").collect();
        assert_eq!(base.pk(hit[0])[..4], 31337u32.to_be_bytes());
        let q = crate::text::normalize_name("ヤマダ 3999");
        assert_eq!(
            base.names_with_prefix(q.as_bytes()).count(),
            11,
            "3999, 39990..39999"
        );
        assert!(matches!(
            store.read_index(&m, None, None),
            Err(StoreError::Locked)
        ));
        assert_eq!(verify_blobs_now(&store, &m), (true, 0));

        // Swap two chunks, and rewrite the chain to match: the AEAD binds each chunk's
        // index, so opening fails (damage, not data).
        let swap = |t: &mut redb::Table<&[u8], &[u8]>| {
            let a = t
                .get(row_key(g, 1).as_slice())
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            let b = t
                .get(row_key(g, 2).as_slice())
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            t.insert(row_key(g, 1).as_slice(), b.as_slice()).unwrap();
            t.insert(row_key(g, 2).as_slice(), a.as_slice()).unwrap();
        };
        edit_rows(&store, g, swap);
        assert!(matches!(
            store.read_index(&m, Some(&ring), None),
            Err(StoreError::Corrupt(_))
        ));
        assert!(
            !verify_blobs_now(&store, &m).0,
            "the chain no longer matches"
        );
        let forged = manifest(g, chain_of(&store, g));
        assert!(matches!(
            store.read_index(&forged, Some(&ring), None),
            Err(StoreError::Corrupt(_))
        ));
        edit_rows(&store, g, swap);
        assert!(store.read_index(&m, Some(&ring), None).is_ok());

        // Drop the last chunk (and forge the chain): no chunk says "last", refused.
        let last = blobs.bytes.div_ceil(CHUNK as u64) as u32 - 1;
        edit_rows(&store, g, |t| {
            t.remove(row_key(g, last).as_slice()).unwrap();
        });
        let forged = manifest(g, chain_of(&store, g));
        assert!(matches!(
            store.read_index(&forged, Some(&ring), None),
            Err(StoreError::Corrupt(_))
        ));
    }

    fn verify_blobs_now(store: &Store, m: &Manifest) -> (bool, u64) {
        let (_, corrupt, chain_ok) = store.verify_index(m).unwrap();
        (chain_ok, corrupt)
    }

    #[test]
    fn base_round_trip_sorted_and_winning_location() {
        let mut born = HashMap::new();
        let t =
            |h: i64| Some(DateTime::<Utc>::from_timestamp(1_700_000_000 + h * 3600, 0).unwrap());
        born.insert(
            (1, [2u8; 16]),
            (
                [2u8; 16],
                Arc::new(Entry::new(patient(
                    "髙橋 太郎",
                    "ﾀｶﾊｼ ﾀﾛｳ",
                    "000123",
                    (1950, 1, 2),
                ))),
            ),
        );
        born.insert(
            (1, [1u8; 16]),
            (
                [1u8; 16],
                Arc::new(Entry::new(patient(
                    "山田 花子",
                    "ヤマダ ハナコ",
                    "77",
                    (1960, 5, 6),
                ))),
            ),
        );
        for (idh, ward, start) in [
            ([9u8; 16], "東3", t(1)),
            ([8u8; 16], "西5", t(5)),
            ([7u8; 16], "北1", None),
        ] {
            born.insert(
                (9, idh),
                (
                    [2u8; 16],
                    Arc::new(Entry::new(IndexEntry::Location {
                        ward: Some(ward.into()),
                        room: Some("301".into()),
                        bed: None,
                        class: None,
                        start,
                    })),
                ),
            );
        }
        let plain = encode_base(&born).unwrap();
        let base = Base::parse(plain, 1).unwrap();
        assert_eq!(base.patients(), 2);
        assert_eq!(base.locations(), 3);
        assert_eq!(base.pk(0), [1u8; 16]);
        let p = base.patient(base.find(&[2u8; 16]).unwrap());
        assert_eq!(p.name_kanji, Some("髙橋 太郎"));
        assert_eq!(p.hospital_id, Some("000123"));
        assert_eq!(p.birth_date, NaiveDate::from_ymd_opt(1950, 1, 2));
        let loc = base.location(p.location.unwrap());
        assert_eq!(loc.ward, Some("西5"), "the most recent admission wins");
        assert_eq!(base.locations_of(&[2u8; 16]).len(), 3);
        assert_eq!(base.locations_of(&[1u8; 16]).len(), 0);
        assert!(base
            .patient(base.find(&[1u8; 16]).unwrap())
            .location
            .is_none());
        let hits = |q: &str| -> Vec<u32> {
            base.names_with_prefix(crate::text::normalize_name(q).as_bytes())
                .map(|(_, i)| i)
                .collect()
        };
        assert_eq!(hits("高橋"), vec![1]);
        assert_eq!(hits("たろう"), vec![1], "given name, hiragana");
        assert_eq!(hits("ヤマダ"), vec![0]);
        assert!(hits("佐藤").is_empty());
        assert_eq!(base.with_id(b"123").collect::<Vec<_>>(), vec![1]);
        assert_eq!(base.with_id(b"77").collect::<Vec<_>>(), vec![0]);
        assert_eq!(
            base.born_on(NaiveDate::from_ymd_opt(1960, 5, 6).unwrap())
                .collect::<Vec<_>>(),
            vec![0]
        );
        assert!(format!("{base:?} {:?}", born.values().next().unwrap().1)
            .find("髙橋")
            .is_none());
    }
}
