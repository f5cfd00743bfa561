//! Read API for the web layer on the current generation.
//!
//! [`SnapshotReader`] is cheap to clone. It holds the current generation's search index in
//! memory and reads a patient's items from the store on demand. The index is loaded at
//! open (or unlock) from the epoch's base blob, which is searched in place, plus the
//! epoch's deltas; [`SnapshotReader::refresh`] to a newer generation of the same epoch
//! applies only the deltas after the one held (see `reader/index.rs`), a new epoch (full
//! sync, rollback) loads its base. A view keeps serving its generation until a refresh
//! swaps in the next complete one.
//!
//! # Locked and unlocked
//!
//! On an encrypted store the reader opens *locked*: [`SnapshotReader::generation`] (the
//! manifest: counts, times) works, every read of patient data fails with
//! [`StoreError::Locked`]. [`SnapshotReader::unlock`] checks the secret,
//! unwraps the data keys and decrypts the search index into memory; while a secret is held,
//! refreshes after new generations stay unlocked. [`SnapshotReader::lock`] drops the
//! secret, the data keys and the index (their memory is wiped). A plaintext store is always
//! unlocked.

mod assemble;
mod index;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration as StdDuration, Instant};

use chrono::NaiveDate;
use unicode_normalization::UnicodeNormalization;

use crate::crypto::{Keyring, SnapshotSecret};
use crate::mapping::{Item, ItemKind, PlaceBook, Windows};
use crate::model::{PatientKey, PatientRecord, Sex};
use crate::store::keys::Pk;
use crate::store::{Manifest, Store, StoreError};
use crate::text::{looks_like_hospital_id, parse_birth_date_query};
use assemble::{Recent, References};
use index::{Hit, SearchIndex};

/// Most results a search returns.
pub const MAX_RESULTS: usize = 200;

/// What a search found: at most [`MAX_RESULTS`] patients, and whether more matched.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub kind: SearchKind,
    pub patients: Vec<PatientSummary>,
    /// More patients matched than are in `patients`: the user should narrow the search
    /// (a birth date after the name, the full name).
    pub more: bool,
}

/// What a result list or census row shows of a patient beyond its [`PatientSummary`]:
/// the patient as stored (logical id, death) and the markers.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFacts {
    pub patient: crate::model::Patient,
    /// A current allergy or intolerance is on record ([`crate::model::Allergy::warns`]).
    pub allergy: bool,
    /// A positive infection result is on record.
    pub infection: bool,
}

/// One patient in a result list or the census.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientSummary {
    pub key: PatientKey,
    pub hospital_id: Option<String>,
    pub name_kanji: Option<String>,
    pub name_kana: Option<String>,
    pub sex: Sex,
    pub birth_date: Option<NaiveDate>,
    pub ward: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
}

/// One occupied bed of a ward.
#[derive(Debug, Clone, PartialEq)]
pub struct CensusEntry {
    pub room: Option<String>,
    pub bed: Option<String>,
    pub patient: PatientSummary,
}

/// Patients by ward, rooms and beds in natural order ("2" before "10").
#[derive(Debug, Clone, PartialEq)]
pub struct WardCensus {
    pub ward: String,
    pub beds: Vec<CensusEntry>,
}

/// How a free-text search was understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKind {
    BirthDate(NaiveDate),
    HospitalId,
    Name,
}

/// Compare strings with digit runs as numbers: "2号室" < "10号室".
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, u64, String)> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut digits = false;
        for c in s.nfkc() {
            let d = c.is_ascii_digit();
            if !cur.is_empty() && d != digits {
                out.push((digits, cur.parse().unwrap_or(0), std::mem::take(&mut cur)));
            }
            digits = d;
            cur.push(c);
        }
        if !cur.is_empty() {
            out.push((digits, cur.parse().unwrap_or(0), cur));
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let o = match (x.0, y.0) {
            (true, true) => x.1.cmp(&y.1).then_with(|| x.2.cmp(&y.2)),
            _ => x.2.cmp(&y.2),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

fn opt_natural(a: &Option<String>, b: &Option<String>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => natural_cmp(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// What an unlocked view holds: the decrypted index and the data keys (`None` for a
/// plaintext store).
struct Open {
    index: Arc<SearchIndex>,
    keys: Option<Arc<Keyring>>,
}

struct View {
    manifest: Manifest,
    /// `None` while locked.
    open: Option<Open>,
    /// The node's place book (plaintext reference data), read with the view.
    places: Arc<PlaceBook>,
}

struct Shared {
    store: Store,
    windows: Windows,
    view: RwLock<Option<Arc<View>>>,
    /// Held while unlocked (encrypted store), so refreshes can open new generations.
    secret: Mutex<Option<SnapshotSecret>>,
    /// Serialises building views (refresh, unlock, lock).
    building: Mutex<()>,
}

/// What [`SnapshotReader::unlock`] did (no patient data).
#[derive(Debug, Clone, PartialEq)]
pub struct UnlockStats {
    /// The generation now searchable (`None`: the store holds no generation yet).
    pub generation: Option<u64>,
    pub patients: usize,
    pub index_entries: usize,
    /// Data keys unwrapped.
    pub data_keys: usize,
    /// Wall time from the call to a searchable index.
    pub elapsed: StdDuration,
}

/// Read access to the current generation. Clone freely.
#[derive(Clone)]
pub struct SnapshotReader {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SnapshotReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("generation", &self.generation().map(|m| m.generation))
            .finish()
    }
}

impl SnapshotReader {
    /// Open on the store's current generation (if any) and build the search index.
    pub fn open(store: Store, windows: Windows) -> Result<SnapshotReader, StoreError> {
        let reader = SnapshotReader {
            shared: Arc::new(Shared {
                store,
                windows,
                view: RwLock::new(None),
                secret: Mutex::new(None),
                building: Mutex::new(()),
            }),
        };
        reader.refresh()?;
        Ok(reader)
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    fn held_secret(&self) -> Option<SnapshotSecret> {
        self.shared
            .secret
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_view(&self, view: Option<Arc<View>>) {
        let old = std::mem::replace(
            &mut *self.shared.view.write().unwrap_or_else(|e| e.into_inner()),
            view,
        );
        // The old index (and its keys) is wiped when the last reader using it lets go.
        drop(old);
    }

    /// Switch to the store's current generation if it changed (or if the lock state
    /// changed). Returns whether it did. The new index is built before the swap: readers
    /// never see a half-built one. On an encrypted store the new view is unlocked only if
    /// a secret is held (see [`SnapshotReader::unlock`]).
    pub fn refresh(&self) -> Result<bool, StoreError> {
        let _building = self
            .shared
            .building
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.refresh_locked_out()
    }

    /// [`SnapshotReader::refresh`] with `building` held.
    fn refresh_locked_out(&self) -> Result<bool, StoreError> {
        let store = &self.shared.store;
        let Some(current) = store.current()? else {
            return Ok(false);
        };
        let secret = if store.is_encrypted() {
            self.held_secret()
        } else {
            None
        };
        let want_open = !store.is_encrypted() || secret.is_some();
        let existing = self.view();
        if existing
            .as_ref()
            .is_some_and(|v| v.manifest == current && v.open.is_some() == want_open)
        {
            return Ok(false);
        }
        if !want_open {
            self.set_view(Some(Arc::new(View {
                manifest: current,
                open: None,
                places: Arc::default(),
            })));
            return Ok(true);
        }
        let keys = match &secret {
            Some(secret) => {
                let reuse = existing
                    .as_ref()
                    .and_then(|v| v.open.as_ref())
                    .and_then(|o| o.keys.clone());
                Some(Arc::new(store.keyring(secret, reuse.as_deref())?))
            }
            None => None,
        };
        let t0 = Instant::now();
        // Same epoch, newer generation, index held: apply only the deltas after it.
        let held = existing
            .as_ref()
            .and_then(|v| v.open.as_ref())
            .map(|o| Arc::clone(&o.index))
            .filter(|i| i.epoch() == current.epoch && i.generation() <= current.generation);
        let incremental = held.is_some();
        let loaded = match self.load(&current, keys.as_deref(), held) {
            Ok(index) => Ok((current, index)),
            // Damaged stored data: fall back to an older generation that verifies (this
            // records an alert for the administrators) and load whatever is current then.
            Err(StoreError::Corrupt(_) | StoreError::Database(_)) => {
                store.check_current()?;
                let current = store.current()?.ok_or(StoreError::Empty)?;
                self.load(&current, keys.as_deref(), None)
                    .map(|index| (current, index))
            }
            Err(e) => Err(e),
        };
        let (current, index) = loaded?;
        tracing::info!(
            generation = current.generation,
            entries = current.index_entries,
            encrypted = store.is_encrypted(),
            incremental,
            base_bytes = index.base_bytes(),
            load_ms = t0.elapsed().as_millis() as u64,
            "search index loaded"
        );
        let view = Arc::new(View {
            open: Some(Open { index, keys }),
            manifest: current,
            places: Arc::new(store.places()?),
        });
        self.set_view(Some(view));
        Ok(true)
    }

    /// The search index of `m`: from `held` (an index of an older or the same generation
    /// of `m`'s epoch) plus the newer deltas, or from the epoch's base and all its deltas.
    fn load(
        &self,
        m: &Manifest,
        keys: Option<&Keyring>,
        held: Option<Arc<SearchIndex>>,
    ) -> Result<Arc<SearchIndex>, StoreError> {
        let store = &self.shared.store;
        match held {
            // Same generation (only the manifest's pin changed, or the lock state).
            Some(h) if h.generation() == m.generation && h.chain() == m.index_chain => Ok(h),
            Some(h) if h.generation() < m.generation => {
                let blobs = store.read_index(m, keys, Some((h.generation(), h.chain())))?;
                Ok(Arc::new(h.advance(blobs, m)?))
            }
            _ => {
                let blobs = store.read_index(m, keys, None)?;
                Ok(Arc::new(SearchIndex::load(blobs, m)?))
            }
        }
    }

    /// Is patient data unreadable now (an encrypted store without a secret)?
    pub fn is_locked(&self) -> bool {
        self.shared.store.is_encrypted()
            && self
                .shared
                .secret
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none()
    }

    /// Unlock an encrypted snapshot: check `secret` against the store's key (a wrong one
    /// fails with [`StoreError::WrongKey`] having decrypted nothing), unwrap the data keys
    /// and decrypt the current generation's search index into memory. The secret is kept
    /// (in wiped-on-drop memory) until [`SnapshotReader::lock`], so later generations open
    /// too. On a plaintext store this only reports what is loaded.
    pub fn unlock(&self, secret: &SnapshotSecret) -> Result<UnlockStats, StoreError> {
        let t0 = Instant::now();
        let store = &self.shared.store;
        let _building = self
            .shared
            .building
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(pk) = store.public_key() {
            crate::crypto::check_secret(&pk, secret)?;
            *self.shared.secret.lock().unwrap_or_else(|e| e.into_inner()) = Some(secret.clone());
            if let Err(e) = self.refresh_locked_out() {
                *self.shared.secret.lock().unwrap_or_else(|e| e.into_inner()) = None;
                self.set_locked_view();
                return Err(e);
            }
        }
        let view = self.view();
        let open = view.as_ref().and_then(|v| v.open.as_ref());
        Ok(UnlockStats {
            generation: view.as_ref().map(|v| v.manifest.generation),
            patients: open.map(|o| o.index.patient_count()).unwrap_or(0),
            index_entries: view
                .as_ref()
                .map(|v| v.manifest.index_entries as usize)
                .unwrap_or(0),
            data_keys: open
                .and_then(|o| o.keys.as_ref())
                .map(|k| k.len())
                .unwrap_or(0),
            elapsed: t0.elapsed(),
        })
    }

    fn set_locked_view(&self) {
        let manifest = self.view().map(|v| v.manifest.clone());
        self.set_view(manifest.map(|manifest| {
            Arc::new(View {
                manifest,
                open: None,
                places: Arc::default(),
            })
        }));
    }

    /// Lock an encrypted snapshot: forget the secret, the data keys and the decrypted index
    /// (wiped once no request still uses them). Reads fail with [`StoreError::Locked`] from
    /// now on. No effect on a plaintext store.
    pub fn lock(&self) {
        if !self.shared.store.is_encrypted() {
            return;
        }
        // Effective at once for new requests ...
        *self.shared.secret.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.set_locked_view();
        // ... and final once an unlock or refresh in progress has ended.
        let _building = self
            .shared
            .building
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *self.shared.secret.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.set_locked_view();
    }

    fn view(&self) -> Option<Arc<View>> {
        self.shared
            .view
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn require_view(&self) -> Result<Arc<View>, StoreError> {
        let view = self.view().ok_or(StoreError::Empty)?;
        if view.open.is_none() {
            return Err(StoreError::Locked);
        }
        Ok(view)
    }

    /// The current view for a search or census: `None` while the store holds no
    /// generation, [`StoreError::Locked`] while locked.
    fn readable_view(&self) -> Result<Option<Arc<View>>, StoreError> {
        match self.view() {
            Some(v) if v.open.is_none() => Err(StoreError::Locked),
            v => Ok(v),
        }
    }

    /// The open part of the current view, if unlocked.
    fn open_view(&self) -> Option<Arc<View>> {
        self.view().filter(|v| v.open.is_some())
    }

    /// The generation being served.
    pub fn generation(&self) -> Option<Manifest> {
        self.view().map(|v| v.manifest.clone())
    }

    /// Patients in the in-memory index (0 while locked; the manifest counts them too).
    pub fn patient_count(&self) -> usize {
        self.open_view()
            .and_then(|v| v.open.as_ref().map(|o| o.index.patient_count()))
            .unwrap_or(0)
    }

    /// A patient's full record by opaque key.
    pub fn patient(&self, key: &PatientKey) -> Result<Option<PatientRecord>, StoreError> {
        let view = self.require_view()?;
        let Some(pk) = pk_of(key) else {
            return Ok(None);
        };
        if !open(&view).index.contains(&pk) {
            return Ok(None);
        }
        self.assemble(&view, &pk).map(Some)
    }

    /// A patient's full record by hospital ID (leading zeros and width ignored). `None` if
    /// no patient or more than one patient has it.
    pub fn patient_by_hospital_id(&self, id: &str) -> Result<Option<PatientRecord>, StoreError> {
        let view = self.require_view()?;
        let index = &open(&view).index;
        match index.by_hospital_id(id).as_slice() {
            [one] => {
                let pk = index.pk_of(*one);
                self.assemble(&view, &pk).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Summary of one patient by key (`None`: no such patient, or no generation yet).
    pub fn summary(&self, key: &PatientKey) -> Result<Option<PatientSummary>, StoreError> {
        let Some(view) = self.readable_view()? else {
            return Ok(None);
        };
        let Some(pk) = pk_of(key) else {
            return Ok(None);
        };
        Ok(open(&view).index.summary_of_key(&pk))
    }

    /// [`RowFacts`] of one patient (`None`: no such patient), from the patient's own item,
    /// allergies and infection results alone: the rest of the record is neither opened nor
    /// assembled, so a result list or a census costs a few items a row.
    pub fn row_facts(&self, key: &PatientKey) -> Result<Option<RowFacts>, StoreError> {
        Ok(self.rows_facts(std::slice::from_ref(key))?.pop().flatten())
    }

    /// [`SnapshotReader::row_facts`] of each listed patient, in the order given, read in
    /// one transaction from one generation (a result list or a ward is one read).
    pub fn rows_facts(&self, keys: &[PatientKey]) -> Result<Vec<Option<RowFacts>>, StoreError> {
        let view = self.require_view()?;
        let index = &open(&view).index;
        let pks: Vec<Option<Pk>> = keys
            .iter()
            .map(|k| pk_of(k).filter(|pk| index.contains(pk)))
            .collect();
        let present: Vec<Pk> = pks.iter().flatten().copied().collect();
        let kinds = [ItemKind::Patient, ItemKind::Allergy, ItemKind::Infection];
        let ring = open(&view).keys.as_deref();
        let mut read = (self.shared.store)
            .patients_items_of(&view.manifest, &present, ring, Some(&kinds))?
            .into_iter();
        pks.iter()
            .map(|pk| pk.and_then(|_| read.next()).map(row_facts_of).transpose())
            .collect()
    }

    fn assemble(&self, view: &View, pk: &Pk) -> Result<PatientRecord, StoreError> {
        let keys = open(view).keys.as_deref();
        let items = self.shared.store.patient_items(&view.manifest, pk, keys)?;
        let recent = Recent::new(&self.shared.windows, view.manifest.data_time());
        let mut refs = References::new(self, view, keys);
        let mut patient = None;
        let mut r = PatientRecord::new(
            PatientKey(hex::encode(pk)),
            crate::model::Patient::default(),
        );
        for item in items {
            if let Some(pt) = refs.add(&mut r, &recent, item)? {
                patient = Some(pt);
            }
        }
        r.patient =
            patient.ok_or_else(|| StoreError::Corrupt("indexed patient without record".into()))?;
        r.sort_canonical();
        Ok(r)
    }

    /// Search by what staff typed: a birth date in any accepted form, a hospital ID
    /// (letters, digits and hyphens with at least one digit; compared ignoring case,
    /// hyphens and leading zeros), or a kana/kanji name prefix (family name, full name or
    /// given name), or a name with a birth date. Digits alone that read both as a birth
    /// date and as a patient's hospital ID find that patient; a date written with
    /// separators finds birth dates unless a hospital ID is written exactly so. Finds
    /// nothing while the store holds no generation.
    pub fn search(&self, query: &str) -> Result<(SearchKind, Vec<PatientSummary>), StoreError> {
        let r = self.search_results(query)?;
        Ok((r.kind, r.patients))
    }

    /// [`SnapshotReader::search`], saying also whether more patients matched than the
    /// [`MAX_RESULTS`] returned (the user should narrow the search).
    pub fn search_results(&self, query: &str) -> Result<SearchResults, StoreError> {
        self.search_results_up_to(query, MAX_RESULTS)
    }

    /// [`SnapshotReader::search_results`] listing at most `limit` patients (at most
    /// [`MAX_RESULTS`]): the first in list order, as many as a page shows, and whether
    /// more matched. Only those listed are summarised, however many share a name.
    pub fn search_results_up_to(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<SearchResults, StoreError> {
        let (kind, (patients, more)) = self.search_in(query, limit.min(MAX_RESULTS))?;
        Ok(SearchResults {
            kind,
            patients,
            more,
        })
    }

    #[allow(clippy::type_complexity)]
    fn search_in(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<(SearchKind, (Vec<PatientSummary>, bool)), StoreError> {
        let view = self.readable_view()?;
        let index = view.as_deref().map(|v| open(v).index.as_ref());
        let found_capped = |find: &dyn Fn(&SearchIndex) -> (Vec<Hit>, bool)| {
            index.map_or_else(
                || (Vec::new(), false),
                |i| {
                    let (hits, capped) = find(i);
                    i.summaries(hits, capped, limit)
                },
            )
        };
        let found = |find: &dyn Fn(&SearchIndex) -> Vec<Hit>| found_capped(&|i| (find(i), false));
        if let Some(d) = parse_birth_date_query(query) {
            // Digits that read both as a date and as an ID ("19500401", scanned from a
            // wristband or typed on a keypad) are the patient who holds that ID: an exact
            // ID is the narrower question. A date written with separators ("2005-03-04",
            // "1950/4/1") is a birth date unless a patient's ID is written exactly so: IDs
            // are otherwise compared ignoring hyphens and leading zeros, which would turn
            // many dates into somebody's ID.
            if looks_like_hospital_id(query) {
                let (mut by_id, more) = found(&|i| i.by_hospital_id(query));
                if !is_digits_only(query) {
                    by_id.retain(|p| {
                        p.hospital_id
                            .as_deref()
                            .is_some_and(|id| same_id_text(id, query))
                    });
                }
                if !by_id.is_empty() {
                    return Ok((SearchKind::HospitalId, (by_id, more)));
                }
            }
            return Ok((SearchKind::BirthDate(d), found(&|i| i.by_birth(d))));
        }
        if looks_like_hospital_id(query) {
            return Ok((SearchKind::HospitalId, found(&|i| i.by_hospital_id(query))));
        }
        if let Some((name, date)) = split_name_and_birth_date(query) {
            return Ok((SearchKind::Name, found(&|i| i.by_name_born(name, date))));
        }
        Ok((SearchKind::Name, found_capped(&|i| i.by_name(query, limit))))
    }

    /// Every ward with its occupied beds: wards in the hospital's order (by their first
    /// room number, then by name), rooms and beds in natural order.
    pub fn census(&self) -> Result<Vec<WardCensus>, StoreError> {
        self.census_of(None)
    }

    /// One ward's census (exact ward name).
    pub fn ward(&self, ward: &str) -> Result<Option<WardCensus>, StoreError> {
        Ok(self
            .census_of(Some(ward))?
            .into_iter()
            .find(|w| w.ward == ward))
    }

    /// The census of every ward, or of the ward labelled `only`.
    fn census_of(&self, only: Option<&str>) -> Result<Vec<WardCensus>, StoreError> {
        let Some(view) = self.readable_view()? else {
            return Ok(vec![]);
        };
        let mut wards: BTreeMap<String, Vec<CensusEntry>> = BTreeMap::new();
        for (ward, room, bed, patient) in open(&view).index.located(only) {
            wards
                .entry(ward)
                .or_default()
                .push(CensusEntry { room, bed, patient });
        }
        let mut out: Vec<WardCensus> = wards
            .into_iter()
            .map(|(ward, mut beds)| {
                beds.sort_by(|a, b| {
                    opt_natural(&a.room, &b.room)
                        .then_with(|| opt_natural(&a.bed, &b.bed))
                        .then_with(|| a.patient.key.cmp(&b.patient.key))
                });
                WardCensus { ward, beds }
            })
            .collect();
        // The hospital's order: room numbers follow the building (floor, then wing), so a
        // ward's first room places it; wards without rooms follow, by name.
        out.sort_by(|a, b| {
            let first_room = |w: &WardCensus| w.beds.first().and_then(|e| e.room.clone());
            opt_natural(&first_room(a), &first_room(b)).then_with(|| natural_cmp(&a.ward, &b.ward))
        });
        Ok(out)
    }
}

/// "山田 太郎 S25.1.2" or "1950-01-02 ヤマダ": a name narrowed by a birth date, for common
/// names in a large hospital. The date is the first or the last word.
fn split_name_and_birth_date(query: &str) -> Option<(&str, NaiveDate)> {
    let q = query.trim();
    let last = q
        .rsplit_once(char::is_whitespace)
        .and_then(|(name, date)| Some((name, parse_birth_date_query(date)?)));
    let first = || {
        q.split_once(char::is_whitespace)
            .and_then(|(date, name)| Some((name, parse_birth_date_query(date)?)))
    };
    let (name, date) = last.or_else(first)?;
    let name = name.trim();
    (!name.is_empty()).then_some((name, date))
}

/// A listed patient's row from their own item, allergies and infection results.
fn row_facts_of(items: Vec<Item>) -> Result<RowFacts, StoreError> {
    let (mut patient, mut allergy, mut infection) = (None, false, false);
    for item in items {
        match item {
            Item::Patient(p) => patient = Some(p),
            Item::Allergy(a) => allergy |= a.warns(),
            Item::Infection(i) => infection |= i.positive,
            _ => {}
        }
    }
    let patient =
        patient.ok_or_else(|| StoreError::Corrupt("indexed patient without record".into()))?;
    Ok(RowFacts {
        patient,
        allergy,
        infection,
    })
}

/// Only digits (full-width ones too), as a barcode scanner or a keypad types an ID.
fn is_digits_only(query: &str) -> bool {
    let mut chars = query.nfkc().filter(|c| !c.is_whitespace()).peekable();
    chars.peek().is_some() && chars.all(|c| c.is_ascii_digit())
}

/// An ID exactly as the hospital writes it, separators and zeros included (width and
/// letter case aside).
fn same_id_text(id: &str, query: &str) -> bool {
    let fold = |s: &str| -> String {
        s.nfkc()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    fold(id) == fold(query)
}

/// The patient key a page names, if it is one.
fn pk_of(key: &PatientKey) -> Option<Pk> {
    hex::decode(&key.0)
        .ok()
        .and_then(|b| <Pk>::try_from(b.as_slice()).ok())
}

/// The open part of a view the caller checked is unlocked.
fn open(view: &View) -> &Open {
    view.open
        .as_ref()
        .expect("callers only pass views checked to be unlocked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["10号室", "2号室", "1号室", "東3病棟", "東10病棟"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["1号室", "2号室", "10号室", "東3病棟", "東10病棟"]);
    }
}
