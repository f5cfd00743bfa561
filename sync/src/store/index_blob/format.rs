//! The layouts of the two blob kinds: the *base* (fixed-width sorted records, searched
//! in place without per-entry work) and the *delta* (postcard). A blob starts with its
//! magic and [`FORMAT`]; a reader that finds another format asks for a full sync.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::accumulate::{zeroize_entry, BaseEntry};
use super::chunks::damaged;
use crate::model::Sex;
use crate::store::keys::{IdHash, Pk};
use crate::store::{IndexEntry, StoreError};

const BASE_MAGIC: &[u8; 4] = b"AKIX";
const DELTA_MAGIC: &[u8; 4] = b"AKID";
/// Version of the blob layouts and of the search-key normalisation baked into them
/// (2: hospital IDs normalised ignoring case and separators; 3: each name key row's
/// patient has its rank in the order search results are listed).
const FORMAT: u32 = 3;

/// The delta blob's plaintext: the entries a generation ended and the ones it wrote.
pub(super) fn encode_delta(
    ended: &[(u8, IdHash, Pk)],
    born: Vec<(u8, IdHash, Pk, &IndexEntry)>,
) -> Zeroizing<Vec<u8>> {
    let delta = DeltaRef { ended, born };
    let mut out = Zeroizing::new(Vec::new());
    out.extend_from_slice(DELTA_MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    let bytes =
        postcard::to_extend(&delta, std::mem::take(&mut *out)).expect("index deltas serialise");
    Zeroizing::new(bytes)
}

/// A delta blob's plaintext, checked for its magic and format.
pub(super) fn decode_delta(b: &[u8], generation: u64) -> Result<Delta, StoreError> {
    if b.len() < 8 || &b[..4] != DELTA_MAGIC || u32_at(b, 4) != FORMAT {
        return Err(damaged(generation));
    }
    postcard::from_bytes(&b[8..]).map_err(|_| damaged(generation))
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
//   names:     key(8) patient(4), sorted by key bytes then patient
//   name ranks: rank(4) of each name row's patient, in the order of the name rows
//   ids:       key(8) patient(4), sorted by key bytes then patient
//   births:    days(4) patient(4), sorted
//   arena:     string bytes
// A string is `offset(4) ‖ length(4)` into the arena; offset u32::MAX is "none".
// A patient's rank is its position in the order search results are listed (kana name,
// then hospital ID, then key; "none" first): a name search keeps the first ranks among
// its matches and reads no other patient row, however many share the name.
const HEADER_LEN: usize = 32;
const PATIENT_LEN: usize = 16 + 8 * 3 + 4 + 4 + 1;
const LOCATION_LEN: usize = 16 + 1 + 16 + 8 * 3 + 16;
const KEY_ROW_LEN: usize = 12;
const RANK_LEN: usize = 4;
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
                    .ok_or_else(|| StoreError::Build("search index too large".into()))?;
                r[..4].copy_from_slice(&off.to_le_bytes());
                r[4..].copy_from_slice(&(s.len() as u32).to_le_bytes());
                self.0.extend_from_slice(s.as_bytes());
            }
        }
        Ok(r)
    }
}

/// A search key row: patient index and the key's reference into the arena.
type KeyRow = (u32, [u8; 8]);

/// The patient rows and the search-key rows that point at them.
#[derive(Default)]
struct PatientRows {
    rows: Vec<u8>,
    names: Vec<KeyRow>,
    ids: Vec<KeyRow>,
    births: Vec<(i32, u32)>,
}

/// The bytes a string reference (`offset ‖ length`) points at in `arena`.
fn arena_bytes<'a>(arena: &'a [u8], r: &[u8]) -> Option<&'a [u8]> {
    let off = u32::from_le_bytes(r[..4].try_into().expect("4 bytes"));
    if off == NONE32 {
        return None;
    }
    let len = u32::from_le_bytes(r[4..8].try_into().expect("4 bytes")) as usize;
    arena.get(off as usize..off as usize + len)
}

/// The base blob's plaintext from the entries of a full build, as parts to be written one
/// after the other. The entries are decoded one at a time and dropped (wiped) once their
/// rows are made: what is held at the end is the blob itself, once.
pub(super) fn encode_base(
    mut entries: Vec<BaseEntry>,
) -> Result<Vec<Zeroizing<Vec<u8>>>, StoreError> {
    // Patients by key, then locations by (patient, resource).
    entries.sort_unstable_by(|a, b| {
        (!a.entry.is_patient(), &a.pk, a.rtype, &a.idh).cmp(&(
            !b.entry.is_patient(),
            &b.pk,
            b.rtype,
            &b.idh,
        ))
    });
    let patients = entries.partition_point(|e| e.entry.is_patient());
    let mut arena = Arena(Vec::new());
    // Locations first (patients refer to them).
    let (loc_rows, starts) = location_rows(&entries[patients..], &mut arena)?;
    let mut p = patient_rows(
        &entries[..patients],
        &entries[patients..],
        &starts,
        &mut arena,
    )?;
    let locations = entries.len() - patients;
    drop(entries);
    drop(starts);
    let key = |r: &KeyRow| arena_bytes(&arena.0, &r.1).unwrap_or(&[]);
    sort_keys(&mut p.names, &arena.0);
    p.names.dedup_by(|a, b| a.0 == b.0 && key(a) == key(b));
    sort_keys(&mut p.ids, &arena.0);
    p.births.sort_unstable();
    let ranks = result_ranks(&p.rows, &arena.0);

    let mut header = Zeroizing::new(Vec::with_capacity(HEADER_LEN));
    header.extend_from_slice(BASE_MAGIC);
    for n in [
        FORMAT as usize,
        patients,
        locations,
        p.names.len(),
        p.ids.len(),
        p.births.len(),
        arena.0.len(),
    ] {
        let n = u32::try_from(n).map_err(|_| StoreError::Build("search index too large".into()))?;
        header.extend_from_slice(&n.to_le_bytes());
    }
    let key_rows = |v: &[KeyRow]| {
        let mut out = Zeroizing::new(Vec::with_capacity(v.len() * KEY_ROW_LEN));
        for (i, r) in v {
            out.extend_from_slice(r);
            out.extend_from_slice(&i.to_le_bytes());
        }
        out
    };
    let names = key_rows(&p.names);
    let mut name_ranks = Zeroizing::new(Vec::with_capacity(p.names.len() * RANK_LEN));
    for (i, _) in &p.names {
        name_ranks.extend_from_slice(&ranks[*i as usize].to_le_bytes());
    }
    let ids = key_rows(&p.ids);
    let mut births = Zeroizing::new(Vec::with_capacity(p.births.len() * BIRTH_LEN));
    for (d, i) in &p.births {
        births.extend_from_slice(&d.to_le_bytes());
        births.extend_from_slice(&i.to_le_bytes());
    }
    Ok(vec![
        header,
        Zeroizing::new(std::mem::take(&mut p.rows)),
        loc_rows,
        names,
        name_ranks,
        ids,
        births,
        Zeroizing::new(std::mem::take(&mut arena.0)),
    ])
}

/// The rank of each patient (by row) in the order search results are listed: kana name,
/// hospital ID, key ("none" first), as [`crate::reader`] sorts them.
fn result_ranks(rows: &[u8], arena: &[u8]) -> Vec<u32> {
    let n = rows.len() / PATIENT_LEN;
    let listed = |i: u32| {
        let at = i as usize * PATIENT_LEN;
        (
            arena_bytes(arena, &rows[at + 32..at + 40]),
            arena_bytes(arena, &rows[at + 16..at + 24]),
            &rows[at..at + 16],
        )
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| listed(a).cmp(&listed(b)));
    let mut ranks = vec![0u32; n];
    for (rank, i) in order.into_iter().enumerate() {
        ranks[i as usize] = rank as u32;
    }
    ranks
}

/// The location rows, in the order of `locs`, and each one's start as an order key; their
/// strings go to `arena`.
fn location_rows(
    locs: &[BaseEntry],
    arena: &mut Arena,
) -> Result<(Zeroizing<Vec<u8>>, Vec<i128>), StoreError> {
    let mut loc_rows = Zeroizing::new(Vec::with_capacity(locs.len() * LOCATION_LEN));
    let mut starts = Vec::with_capacity(locs.len());
    for l in locs {
        let d = l.entry.decode();
        let IndexEntry::Location {
            ward,
            room,
            bed,
            start,
            ..
        } = &d.entry
        else {
            unreachable!("locations sort after patients");
        };
        let start = start_key(*start);
        loc_rows.extend_from_slice(&l.pk);
        loc_rows.push(l.rtype);
        loc_rows.extend_from_slice(&l.idh);
        for s in [ward, room, bed] {
            loc_rows.extend_from_slice(&arena.put(s.as_deref())?);
        }
        loc_rows.extend_from_slice(&start.to_le_bytes());
        starts.push(start);
    }
    Ok((loc_rows, starts))
}

/// The patient rows (sorted by key, each pointing at its most recent location in `locs`)
/// and their name, ID and birth-date keys (unsorted).
fn patient_rows(
    patients: &[BaseEntry],
    locs: &[BaseEntry],
    starts: &[i128],
    arena: &mut Arena,
) -> Result<PatientRows, StoreError> {
    let mut out = PatientRows {
        rows: Vec::with_capacity(patients.len() * PATIENT_LEN),
        names: Vec::with_capacity(patients.len() * 4),
        ids: Vec::with_capacity(patients.len()),
        births: Vec::with_capacity(patients.len()),
    };
    let mut li = 0usize;
    for (i, e) in patients.iter().enumerate() {
        let pk = &e.pk;
        let d = e.entry.decode();
        let IndexEntry::Patient {
            hospital_id,
            name_kanji,
            name_kana,
            sex,
            birth_date,
        } = &d.entry
        else {
            unreachable!("patients sort first");
        };
        // The patient's most recent admission (ties: first in resource order).
        while li < locs.len() && locs[li].pk < *pk {
            li += 1;
        }
        let mut winner: Option<usize> = None;
        let mut j = li;
        while j < locs.len() && locs[j].pk == *pk {
            if winner.is_none_or(|w| starts[j] > starts[w]) {
                winner = Some(j);
            }
            j += 1;
        }
        let i = i as u32;
        out.rows.extend_from_slice(pk);
        for s in [hospital_id, name_kanji, name_kana] {
            out.rows.extend_from_slice(&arena.put(s.as_deref())?);
        }
        let days = birth_days(*birth_date);
        out.rows.extend_from_slice(&days.to_le_bytes());
        out.rows
            .extend_from_slice(&winner.map_or(NONE32, |w| w as u32).to_le_bytes());
        out.rows.push(sex_byte(*sex));
        if days != NO_BIRTH {
            out.births.push((days, i));
        }
        if let Some(k) = &d.id_key {
            out.ids.push((i, arena.put(Some(k))?));
        }
        name_key_rows(&d.name_keys, i, arena, &mut out.names)?;
    }
    Ok(out)
}

/// The name keys of patient `i`. A given-name key is the end of the full-name key before
/// it: stored once in the arena.
fn name_key_rows(
    name_keys: &[String],
    i: u32,
    arena: &mut Arena,
    names: &mut Vec<KeyRow>,
) -> Result<(), StoreError> {
    let mut prev: Option<(&str, [u8; 8])> = None;
    let mut keys: Vec<&str> = name_keys.iter().map(String::as_str).collect();
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
        names.push((i, r));
    }
    Ok(())
}

/// Sort search keys by key bytes (in `arena`), then patient; large sets on two threads.
fn sort_keys(v: &mut Vec<KeyRow>, arena: &[u8]) {
    let key = |r: &KeyRow| arena_bytes(arena, &r.1).unwrap_or(&[]);
    let cmp = |a: &KeyRow, b: &KeyRow| (key(a), a.0).cmp(&(key(b), b.0));
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
    at_ranks: usize,
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
    pub(super) fn parse(buf: Zeroizing<Vec<u8>>, generation: u64) -> Result<Base, StoreError> {
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
        let at_ranks = at_names + names * KEY_ROW_LEN;
        let at_ids = at_ranks + names * RANK_LEN;
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
            at_ranks,
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

    /// Name keys starting with `prefix`, in key order: (patient, its rank in the order
    /// results are listed). Finds the keys' range with two binary searches and then reads
    /// only the rows, never the keys' bytes.
    pub(crate) fn names_with_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (u32, u32)> + 'a {
        let key = move |j: usize| self.key_bytes(self.at_names + j * KEY_ROW_LEN);
        let start = partition(self.names, |j| key(j) < prefix);
        let end = partition(self.names, |j| {
            let k = key(j);
            k < prefix || k.starts_with(prefix)
        });
        (start..end)
            .map(move |j| {
                (
                    u32_at(&self.buf, self.at_names + j * KEY_ROW_LEN + 8),
                    u32_at(&self.buf, self.at_ranks + j * RANK_LEN),
                )
            })
            .filter(move |(i, _)| (*i as usize) < self.patients)
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
