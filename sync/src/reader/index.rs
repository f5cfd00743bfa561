//! The in-memory search index of one generation: the epoch's base blob, searched in place
//! (see [`crate::store::index_blob`]), plus an *overlay* built from the epoch's deltas.
//!
//! The base is shared (`Arc`) by every view of its epoch and is never copied. The overlay
//! holds what the deltas changed, at two levels: by resource (which base entries ended,
//! which entries deltas wrote) and by patient (the effective record of every patient a
//! delta touched, which hides that patient's base record). A refresh to a newer generation
//! of the same epoch clones the overlay and applies the new deltas: cost ∝ the epoch's
//! changes so far, never ∝ the number of patients.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use zeroize::Zeroize;

use super::PatientSummary;
use crate::mapping::ResourceType;
use crate::model::{PatientKey, Sex};
use crate::store::index_blob::{start_key, zeroize_entry, Base, Delta};
use crate::store::keys::{IdHash, Pk};
use crate::store::{IndexBlobs, IndexEntry, Manifest, StoreError};
use crate::text::{name_keys, normalize_hospital_id, normalize_name};

/// The census label of a bed whose ward is not known.
pub(super) const UNKNOWN_WARD: &str = "(病棟不明)";

/// A patient found by a search: in the base (by position) or in the overlay (by key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hit {
    Base(u32),
    Over(Pk),
}

#[derive(Clone)]
struct Loc {
    ward: Option<String>,
    room: Option<String>,
    bed: Option<String>,
}

/// A patient as the overlay holds it (changed by a delta).
#[derive(Clone)]
struct Indexed {
    pk: Pk,
    hospital_id: Option<String>,
    name_kanji: Option<String>,
    name_kana: Option<String>,
    sex: Sex,
    birth_date: Option<NaiveDate>,
    location: Option<Loc>,
    id_key: Option<String>,
    name_keys: Vec<String>,
}

impl Indexed {
    fn wipe(&mut self) {
        for s in [
            &mut self.hospital_id,
            &mut self.name_kanji,
            &mut self.name_kana,
            &mut self.id_key,
        ]
        .into_iter()
        .flatten()
        {
            s.zeroize();
        }
        for s in &mut self.name_keys {
            s.zeroize();
        }
        if let Some(l) = &mut self.location {
            for s in [&mut l.ward, &mut l.room, &mut l.bed].into_iter().flatten() {
                s.zeroize();
            }
        }
        self.birth_date = None;
    }
}

type Rid = (u8, IdHash);

#[derive(Clone, Default)]
struct Overlay {
    /// Base entries that ended, by resource.
    ended: HashSet<Rid>,
    /// Entries written by deltas (live), by resource: patient key and entry.
    added: HashMap<Rid, (Pk, IndexEntry)>,
    /// `added` by patient.
    added_by_patient: HashMap<Pk, BTreeSet<Rid>>,
    /// The effective record of every patient a delta touched (`None`: no patient now).
    /// Hides the base record with the same key.
    patients: HashMap<Pk, Option<Indexed>>,
    names: BTreeSet<(String, Pk)>,
    ids: HashMap<String, BTreeSet<Pk>>,
    births: HashMap<NaiveDate, BTreeSet<Pk>>,
}

impl Drop for Overlay {
    /// Wipe the patient data this copy holds.
    fn drop(&mut self) {
        for (_, (_, e)) in self.added.iter_mut() {
            zeroize_entry(e);
        }
        for p in self.patients.values_mut().flatten() {
            p.wipe();
        }
        for (mut k, _) in std::mem::take(&mut self.names) {
            k.zeroize();
        }
        for (mut k, _) in self.ids.drain() {
            k.zeroize();
        }
        self.births.clear();
    }
}

impl Overlay {
    /// Take a patient's search keys out of the overlay's maps (wiping them).
    fn unindex(&mut self, old: &mut Indexed) {
        let pk = old.pk;
        for k in std::mem::take(&mut old.name_keys) {
            if let Some((mut s, _)) = self.names.take(&(k, pk)) {
                s.zeroize();
            }
        }
        if let Some(k) = &old.id_key {
            if let Some(set) = self.ids.get_mut(k) {
                set.remove(&pk);
                if set.is_empty() {
                    if let Some((mut k, _)) = self.ids.remove_entry(k) {
                        k.zeroize();
                    }
                }
            }
        }
        if let Some(b) = old.birth_date {
            if let Some(set) = self.births.get_mut(&b) {
                set.remove(&pk);
                if set.is_empty() {
                    self.births.remove(&b);
                }
            }
        }
    }

    /// Put a patient's search keys into the overlay's maps.
    fn index(&mut self, p: &Indexed) {
        for k in &p.name_keys {
            self.names.insert((k.clone(), p.pk));
        }
        if let Some(k) = &p.id_key {
            self.ids.entry(k.clone()).or_default().insert(p.pk);
        }
        if let Some(b) = p.birth_date {
            self.births.entry(b).or_default().insert(p.pk);
        }
    }
}

/// The search index of one generation.
pub(super) struct SearchIndex {
    epoch: u64,
    generation: u64,
    chain: String,
    base: Arc<Base>,
    over: Overlay,
    patients: usize,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SearchIndex(generation {}, {} patients)",
            self.generation, self.patients
        )
    }
}

fn mismatch(m: &Manifest) -> StoreError {
    StoreError::Corrupt(format!(
        "the search index of generation {} does not hold the entries its manifest counts",
        m.generation
    ))
}

impl SearchIndex {
    /// The index of `m` from its epoch's base and deltas.
    pub(super) fn load(mut blobs: IndexBlobs, m: &Manifest) -> Result<SearchIndex, StoreError> {
        let base = blobs.base.take().ok_or_else(|| mismatch(m))?;
        let mut idx = SearchIndex {
            epoch: m.epoch,
            generation: m.generation,
            chain: std::mem::take(&mut blobs.chain),
            patients: base.patients(),
            base: Arc::new(base),
            over: Overlay::default(),
        };
        for d in std::mem::take(&mut blobs.deltas) {
            idx.apply(d);
        }
        idx.check(m)?;
        Ok(idx)
    }

    /// The index of `m`, a newer generation of the same epoch, from this one and the
    /// deltas after it.
    pub(super) fn advance(
        &self,
        mut blobs: IndexBlobs,
        m: &Manifest,
    ) -> Result<SearchIndex, StoreError> {
        let mut idx = SearchIndex {
            epoch: m.epoch,
            generation: m.generation,
            chain: std::mem::take(&mut blobs.chain),
            base: Arc::clone(&self.base),
            over: self.over.clone(),
            patients: self.patients,
        };
        for d in std::mem::take(&mut blobs.deltas) {
            idx.apply(d);
        }
        idx.check(m)?;
        Ok(idx)
    }

    fn check(&self, m: &Manifest) -> Result<(), StoreError> {
        let entries = (self.base.patients() + self.base.locations() + self.over.added.len())
            .checked_sub(self.over.ended.len());
        if entries != Some(m.index_entries as usize) {
            return Err(mismatch(m));
        }
        Ok(())
    }

    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    pub(super) fn chain(&self) -> &str {
        &self.chain
    }

    pub(super) fn patient_count(&self) -> usize {
        self.patients
    }

    /// Plaintext bytes of the base held in memory.
    pub(super) fn base_bytes(&self) -> usize {
        self.base.len_bytes()
    }

    fn apply(&mut self, mut d: Delta) {
        let mut touched: BTreeSet<Pk> = BTreeSet::new();
        for (rtype, idh, pk) in std::mem::take(&mut d.ended) {
            let id = (rtype, idh);
            match self.over.added.remove(&id) {
                Some((owner, mut e)) => {
                    zeroize_entry(&mut e);
                    if let Some(s) = self.over.added_by_patient.get_mut(&owner) {
                        s.remove(&id);
                    }
                    touched.insert(owner);
                }
                None => {
                    self.over.ended.insert(id);
                }
            }
            touched.insert(pk);
        }
        for (rtype, idh, pk, entry) in std::mem::take(&mut d.born) {
            let id = (rtype, idh);
            if let Some((owner, mut e)) = self.over.added.insert(id, (pk, entry)) {
                zeroize_entry(&mut e);
                if let Some(s) = self.over.added_by_patient.get_mut(&owner) {
                    s.remove(&id);
                }
                touched.insert(owner);
            }
            self.over.added_by_patient.entry(pk).or_default().insert(id);
            touched.insert(pk);
        }
        for pk in touched {
            self.recompute(pk);
        }
    }

    /// Is the base entry of this resource still live?
    fn base_live(&self, id: &Rid) -> bool {
        !self.over.ended.contains(id) && !self.over.added.contains_key(id)
    }

    /// Work out a touched patient's record again from its live entries.
    fn recompute(&mut self, pk: Pk) {
        let mut fresh = self.live_patient(&pk);
        if let Some(p) = &mut fresh {
            p.location = self.current_location(&pk);
            p.id_key = p.hospital_id.as_deref().map(normalize_hospital_id);
            let mut keys: Vec<String> = p
                .name_kanji
                .iter()
                .chain(p.name_kana.iter())
                .flat_map(|n| name_keys(n))
                .collect();
            keys.sort();
            keys.dedup();
            p.name_keys = keys;
        }
        let before = match self.over.patients.get(&pk) {
            Some(p) => p.is_some(),
            None => self.base.find(&pk).is_some(),
        };
        if let Some(Some(mut old)) = self.over.patients.remove(&pk) {
            self.over.unindex(&mut old);
            old.wipe();
        }
        if let Some(p) = &fresh {
            self.over.index(p);
        }
        let after = fresh.is_some();
        self.patients = self.patients + after as usize - before as usize;
        self.over.patients.insert(pk, fresh);
    }

    /// The patient's live Patient entry (a delta's, else the base's if still live),
    /// without location and search keys.
    fn live_patient(&self, pk: &Pk) -> Option<Indexed> {
        let pid: Rid = (ResourceType::Patient as u8, *pk);
        match self.over.added.get(&pid) {
            Some((
                _,
                IndexEntry::Patient {
                    hospital_id,
                    name_kanji,
                    name_kana,
                    sex,
                    birth_date,
                },
            )) => Some(Indexed {
                pk: *pk,
                hospital_id: hospital_id.clone(),
                name_kanji: name_kanji.clone(),
                name_kana: name_kana.clone(),
                sex: *sex,
                birth_date: *birth_date,
                location: None,
                id_key: None,
                name_keys: Vec::new(),
            }),
            _ if self.base_live(&pid) => self.base.find(pk).map(|i| {
                let p = self.base.patient(i);
                Indexed {
                    pk: *pk,
                    hospital_id: p.hospital_id.map(String::from),
                    name_kanji: p.name_kanji.map(String::from),
                    name_kana: p.name_kana.map(String::from),
                    sex: p.sex,
                    birth_date: p.birth_date,
                    location: None,
                    id_key: None,
                    name_keys: Vec::new(),
                }
            }),
            _ => None,
        }
    }

    /// The patient's most recent admission among its live location entries (base and
    /// deltas); ties go to the first resource (as in the base).
    fn current_location(&self, pk: &Pk) -> Option<Loc> {
        let mut best: Option<(i128, Rid, Loc)> = None;
        let mut consider = |start: i128, id: Rid, loc: Loc| {
            if best
                .as_ref()
                .is_none_or(|(s, b, _)| start > *s || (start == *s && id < *b))
            {
                best = Some((start, id, loc));
            }
        };
        for j in self.base.locations_of(pk) {
            let l = self.base.location(j);
            let id = (l.rtype, l.idh);
            if l.pk == *pk && self.base_live(&id) {
                let loc = Loc {
                    ward: l.ward.map(String::from),
                    room: l.room.map(String::from),
                    bed: l.bed.map(String::from),
                };
                consider(l.start, id, loc);
            }
        }
        for id in self.over.added_by_patient.get(pk).into_iter().flatten() {
            if let Some((
                _,
                IndexEntry::Location {
                    ward,
                    room,
                    bed,
                    start,
                    ..
                },
            )) = self.over.added.get(id)
            {
                let loc = Loc {
                    ward: ward.clone(),
                    room: room.clone(),
                    bed: bed.clone(),
                };
                consider(start_key(*start), *id, loc);
            }
        }
        best.map(|(_, _, l)| l)
    }

    /// A base patient whose record the overlay replaced (or removed).
    fn masked(&self, i: u32) -> bool {
        !self.over.patients.is_empty() && self.over.patients.contains_key(&self.base.pk(i))
    }

    /// Is there a patient with this key?
    pub(super) fn contains(&self, pk: &Pk) -> bool {
        match self.over.patients.get(pk) {
            Some(p) => p.is_some(),
            None => self.base.find(pk).is_some(),
        }
    }

    fn hit_of(&self, pk: &Pk) -> Option<Hit> {
        match self.over.patients.get(pk) {
            Some(Some(_)) => Some(Hit::Over(*pk)),
            Some(None) => None,
            None => self.base.find(pk).map(Hit::Base),
        }
    }

    /// Summary of the patient with this key.
    pub(super) fn summary_of_key(&self, pk: &Pk) -> Option<PatientSummary> {
        self.hit_of(pk).map(|h| self.summary(h))
    }

    fn hit_pk(&self, h: Hit) -> Pk {
        match h {
            Hit::Base(i) => self.base.pk(i),
            Hit::Over(pk) => pk,
        }
    }

    pub(super) fn pk_of(&self, h: Hit) -> Pk {
        self.hit_pk(h)
    }

    pub(super) fn summary(&self, h: Hit) -> PatientSummary {
        match h {
            Hit::Base(i) => {
                let p = self.base.patient(i);
                let loc = p.location.map(|j| self.base.location(j));
                let s = |v: Option<&str>| v.map(String::from);
                PatientSummary {
                    key: PatientKey(hex::encode(p.pk)),
                    hospital_id: s(p.hospital_id),
                    name_kanji: s(p.name_kanji),
                    name_kana: s(p.name_kana),
                    sex: p.sex,
                    birth_date: p.birth_date,
                    ward: loc.as_ref().and_then(|l| s(l.ward)),
                    room: loc.as_ref().and_then(|l| s(l.room)),
                    bed: loc.as_ref().and_then(|l| s(l.bed)),
                }
            }
            Hit::Over(pk) => {
                let Some(Some(p)) = self.over.patients.get(&pk) else {
                    unreachable!("overlay hits name overlay patients");
                };
                PatientSummary {
                    key: PatientKey(hex::encode(p.pk)),
                    hospital_id: p.hospital_id.clone(),
                    name_kanji: p.name_kanji.clone(),
                    name_kana: p.name_kana.clone(),
                    sex: p.sex,
                    birth_date: p.birth_date,
                    ward: p.location.as_ref().and_then(|l| l.ward.clone()),
                    room: p.location.as_ref().and_then(|l| l.room.clone()),
                    bed: p.location.as_ref().and_then(|l| l.bed.clone()),
                }
            }
        }
    }

    /// Summaries of the hits (each patient once), by kana name, hospital ID and key; at
    /// most `limit`, and whether more patients matched (`capped`: the hits themselves
    /// were cut short).
    pub(super) fn summaries(
        &self,
        hits: Vec<Hit>,
        capped: bool,
        limit: usize,
    ) -> (Vec<PatientSummary>, bool) {
        let mut seen = HashSet::new();
        let mut out: Vec<PatientSummary> = hits
            .into_iter()
            .filter(|h| seen.insert(self.hit_pk(*h)))
            .map(|h| self.summary(h))
            .collect();
        out.sort_by(|a, b| {
            a.name_kana
                .cmp(&b.name_kana)
                .then_with(|| a.hospital_id.cmp(&b.hospital_id))
                .then_with(|| a.key.cmp(&b.key))
        });
        let more = capped || out.len() > limit;
        out.truncate(limit);
        (out, more)
    }

    /// Patients with a name key starting with the normalised query: of the base, the
    /// first `limit + 1` in the order results are listed (by the rank the base
    /// stores with each name key, so no other patient row is read however many share the
    /// name); of the overlay, every match. And whether the base had more matches than it
    /// gave (then more patients matched than a search lists).
    pub(super) fn by_name(&self, query: &str, limit: usize) -> (Vec<Hit>, bool) {
        let q = normalize_name(query);
        if q.is_empty() {
            return (Vec::new(), false);
        }
        let keep = limit + 1;
        // rank -> base patient: the first `keep` unmasked patients by rank.
        let mut first: BTreeMap<u32, u32> = BTreeMap::new();
        let mut more = false;
        for (i, rank) in self.base.names_with_prefix(q.as_bytes()) {
            if first.len() == keep {
                let last = *first.last_key_value().expect("full").0;
                if rank >= last {
                    // `rank == last` is the same patient under another key.
                    more = more || (rank > last && !self.masked(i));
                    continue;
                }
            }
            if first.contains_key(&rank) || self.masked(i) {
                continue;
            }
            first.insert(rank, i);
            if first.len() > keep {
                first.pop_last();
                more = true;
            }
        }
        let mut out: Vec<Hit> = first.into_values().map(Hit::Base).collect();
        out.extend(
            self.over
                .names
                .range((q.clone(), [0u8; 16])..)
                .take_while(|(k, _)| k.starts_with(&q))
                .map(|(_, pk)| Hit::Over(*pk)),
        );
        (out, more)
    }

    /// Patients born on `date`.
    pub(super) fn by_birth(&self, date: NaiveDate) -> Vec<Hit> {
        let mut out: Vec<Hit> = self
            .base
            .born_on(date)
            .filter(|i| !self.masked(*i))
            .map(Hit::Base)
            .collect();
        out.extend(
            self.over
                .births
                .get(&date)
                .into_iter()
                .flatten()
                .map(|pk| Hit::Over(*pk)),
        );
        out
    }

    /// Patients born on `date` with a name key starting with the normalised query.
    pub(super) fn by_name_born(&self, query: &str, date: NaiveDate) -> Vec<Hit> {
        let q = normalize_name(query);
        if q.is_empty() {
            return Vec::new();
        }
        self.by_birth(date)
            .into_iter()
            .filter(|h| match h {
                Hit::Base(i) => {
                    let p = self.base.patient(*i);
                    p.name_kanji
                        .into_iter()
                        .chain(p.name_kana)
                        .flat_map(name_keys)
                        .any(|k| k.starts_with(&q))
                }
                Hit::Over(pk) => self
                    .over
                    .patients
                    .get(pk)
                    .and_then(Option::as_ref)
                    .is_some_and(|p| p.name_keys.iter().any(|k| k.starts_with(&q))),
            })
            .collect()
    }

    /// Patients whose hospital ID equals `id` after normalisation.
    pub(super) fn by_hospital_id(&self, id: &str) -> Vec<Hit> {
        let key = normalize_hospital_id(id);
        let mut out: Vec<Hit> = self
            .base
            .with_id(key.as_bytes())
            .filter(|i| !self.masked(*i))
            .map(Hit::Base)
            .collect();
        out.extend(
            self.over
                .ids
                .get(&key)
                .into_iter()
                .flatten()
                .map(|pk| Hit::Over(*pk)),
        );
        out
    }

    /// Every patient with a current location (optionally only in the ward labelled
    /// `ward`): (ward label, room, bed, patient).
    pub(super) fn located(
        &self,
        ward: Option<&str>,
    ) -> Vec<(String, Option<String>, Option<String>, PatientSummary)> {
        let wanted = |w: Option<&str>| ward.is_none_or(|x| w.unwrap_or(UNKNOWN_WARD) == x);
        let mut out = Vec::new();
        for i in 0..self.base.patients() as u32 {
            if !self.base.has_location(i) || self.masked(i) {
                continue;
            }
            let p = self.base.patient(i);
            let Some(j) = p.location else { continue };
            let l = self.base.location(j);
            if !wanted(l.ward) {
                continue;
            }
            out.push((
                l.ward.unwrap_or(UNKNOWN_WARD).to_string(),
                l.room.map(String::from),
                l.bed.map(String::from),
                self.summary(Hit::Base(i)),
            ));
        }
        for p in self.over.patients.values().flatten() {
            let Some(l) = &p.location else { continue };
            if !wanted(l.ward.as_deref()) {
                continue;
            }
            out.push((
                l.ward.clone().unwrap_or_else(|| UNKNOWN_WARD.to_string()),
                l.room.clone(),
                l.bed.clone(),
                self.summary(Hit::Over(p.pk)),
            ));
        }
        out
    }
}
