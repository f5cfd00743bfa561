//! Generation-managed snapshot storage in one redb file.
//!
//! # Layout (decided for cost ∝ delta and for encryption at rest)
//!
//! Every stored record is a *version* of one resource's contribution, keyed by
//! `space ‖ patient key ‖ resource type ‖ id hash ‖ born generation` (see [`keys`]). Its
//! content (a postcard-encoded `Item`) is opaque to everything but the reader: encryption at rest
//! seals it to a public key. The value starts with a fixed header holding what the
//! writer needs without decoding content: the SHA-256 of the content, the generation in
//! which the version *died* (`u64::MAX` while alive) and the item kind, flagged when the
//! resource has a search-index entry.
//!
//! The search index (an [`IndexEntry`] per Patient and per encounter that places a
//! patient in a bed) is not stored per entry: each build writes one blob, the epoch's
//! base (full sync) or its delta (incremental), laid out so that unlocking is a decrypt
//! (see [`index_blob`]; schema 2).
//! Ending a version copies its bytes with a new `died` (cost ∝ that version; nothing is
//! decoded or decrypted). A generation `G` sees exactly the versions with
//! `born ≤ G < died`.
//!
//! Generations are grouped in *epochs*: a full sync starts a new epoch with fresh tables
//! (`e<epoch>.items`, `.graves`, `.owner`, `.idents`, `.index`); an incremental sync adds
//! generation `N+1` to the epoch of `N`, writing only the delta: new versions are born at
//! `N+1`, replaced or deleted ones get `died = N+1` in their header (plus a *grave* row
//! keyed by `died` so retention finds them without a scan). The *owner* table maps
//! `(type, id hash)` to where the newest version lives, so an upsert or delete finds what
//! it replaces with one point lookup and never reads content; the *idents* table maps
//! keyed hashes of patient identifiers to patient keys for references by identifier.
//! Unchanged data is shared by all generations of an epoch for free.
//!
//! A generation is built in ONE redb write transaction: the manifest (counts by kind, an
//! order-independent set hash over `(resource key, content hash)`), the switch of
//! `current` and retention all commit together or not at all, so a SIGKILL, a disk-full
//! or a write error at any moment leaves the previous generation current and intact.
//! Readers use redb read transactions (MVCC) and keep seeing their generation while the
//! next one is written.
//!
//! # The guard, quarantine and retention
//!
//! Before a finished build goes live it is compared with the current generation (see
//! [`guard`]): a pull that changed nothing writes no generation (the current one's "data as
//! of" moves on), and a pull that would lose more than a configured share of the current
//! generation's patients or of any kind of item is committed as a *quarantined* generation
//! — listed, verifiable, never served — until an administrator promotes it.
//!
//! Retention keeps the newest K generations that passed the guard and, further back, as many
//! more as it takes to hold K distinct contents (K ≥ 3; generations holding the same data
//! count once), the newest two
//! quarantined ones, the pinned ones and the current one: however many pulls are
//! quarantined or change nothing, the newest good generation and the ones before it stay.
//! Dropping generations frees whole epochs (`delete_table`) or, inside a live epoch, only
//! versions that died at or before the oldest retained generation of that epoch (found via
//! the graves table). A rollback copies the target generation's versions (still opaque
//! bytes) into a new epoch and makes that the new current generation, so history stays
//! linear and the target itself is kept.
//!
//! # A second copy
//!
//! A store opened with [`Store::open_with_copy`] keeps the newest good generation also in a
//! file of its own (see [`copy`]): when the snapshot file is truncated, zeroed, emptied or
//! missing, or none of its generations verifies, the node serves the copy's generation and
//! says so.
//!
//! # Encryption at rest
//!
//! A store opened with a [`SnapshotPublicKey`] (or whose file already records one) is
//! *encrypted*: every content value — record items, medication items and the chunks of the
//! search-index blobs — is sealed with ChaCha20-Poly1305 under a per-build data key wrapped to the
//! public key (see [`crate::crypto`]); the wrapped keys live in `akari_data_keys` by key
//! id. What stays readable needs no secret and holds no patient data: manifests (counts,
//! set hash, times, a data-free source label), version headers (hash of the *ciphertext*,
//! `died`, kind), keys made of keyed hashes, and the owner/idents/graves tables (keyed
//! hashes only). Builds, incremental syncs, retention, rollback and verify never decrypt.
//! Reading content needs a [`Keyring`] unwrapped with the [`SnapshotSecret`]; without
//! one, reads fail with [`StoreError::Locked`].

pub mod build;
pub mod copy;
mod error;
pub mod fallback;
pub mod guard;
mod handle;
pub mod index_blob;
pub mod keys;
pub mod places;
mod prepare;
pub mod read;
mod retention;
mod sorted_load;
mod tables;
mod verify;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use redb::{Database, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, Keyring, SnapshotPublicKey, SnapshotSecret};
use crate::mapping::ItemKind;
use crate::model::Sex;
pub use build::{Finished, GenerationBuilder};
pub use error::StoreError;
pub use fallback::{FileDamage, Integrity, IntegrityAlert};
pub use guard::{Guard, Loss, Quarantine, QuarantineAlert};
pub use handle::Reopen;
pub use index_blob::IndexBlobs;
use keys::Keyer;
pub use prepare::{prepare, EncounterFact, Payload, Prepared, Preparer, Target};
pub(crate) use retention::apply_retention;
pub use sorted_load::remove_spill_leftovers;
use tables::{DATA_KEYS, EPOCH_TIPS, GENERATIONS, META};

/// 2: the search index lives in per-build blobs (`e<epoch>.index`), not in index rows.
/// 3: the record model of reports, orders, immunisations, care teams, blood types and
/// staff (items of schema 2 do not decode as schema 3 items).
/// 4: prescriptions carry their days, span and prescriber.
/// 5: times and dates inside items are binary (seconds, nanoseconds and offset; day
/// numbers), not text.
/// 6: denser rows: a version's `died` is four bytes, an owner row's generation a varint,
/// index chunks sized to redb's page allocation.
const SCHEMA_VERSION: u32 = 6;

/// The fewest generations retention may keep (ransomware-proof backups: ≥ 3).
pub const MIN_KEEP: usize = 3;

/// Quarantined generations retention keeps (the newest ones) besides the good ones.
pub const QUARANTINE_KEEP: usize = 2;

/// A search-index entry: what the in-memory index needs, one per Patient and per
/// encounter that places a patient in a bed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IndexEntry {
    Patient {
        hospital_id: Option<String>,
        name_kanji: Option<String>,
        name_kana: Option<String>,
        sex: Sex,
        birth_date: Option<NaiveDate>,
    },
    Location {
        ward: Option<String>,
        room: Option<String>,
        bed: Option<String>,
        class: Option<String>,
        start: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GenerationKind {
    Full,
    Incremental,
    /// A copy of an older generation made current by an administrator.
    Rollback {
        from: u64,
    },
    /// Generation `from` brought back from the second copy (see [`copy`]) because no
    /// generation of the snapshot file verified.
    Restored {
        from: u64,
    },
}

impl std::fmt::Display for GenerationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GenerationKind::Full => f.write_str("full"),
            GenerationKind::Incremental => f.write_str("incremental"),
            GenerationKind::Rollback { from } => write!(f, "rollback<{from}"),
            GenerationKind::Restored { from } => write!(f, "restored<{from}"),
        }
    }
}

/// What a generation holds, readable without any key (no patient data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub generation: u64,
    pub epoch: u64,
    pub parent: Option<u64>,
    pub kind: GenerationKind,
    pub created_at: DateTime<Utc>,
    /// Time the source data is current as of (next incremental pulls since this).
    pub high_water: Option<DateTime<Utc>>,
    /// Visible items by kind (`ItemKind::name`).
    pub counts: BTreeMap<String, u64>,
    pub index_entries: u64,
    /// Hex of the set hash over every visible version.
    pub set_hash: String,
    pub pinned: bool,
    /// Data-free description of the source.
    pub source: String,
    /// Versions written and removed to build this generation (its delta).
    pub written: u64,
    pub removed: u64,
    /// Encrypted store: ids of the data keys its versions may be sealed with (retention
    /// drops wrapped keys no retained generation lists). Empty for a plaintext store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_ids: Vec<u64>,
    /// Hex SHA-256 chain over the stored search-index blobs this generation's index is
    /// made of (its epoch's base and deltas up to it; see [`index_blob`]).
    #[serde(default)]
    pub index_chain: String,
    /// Set when the guard kept this generation out of service (see [`guard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Quarantine>,
}

impl Manifest {
    /// Quarantined and not (yet) promoted: never served, never a fall-back target.
    pub fn is_quarantined(&self) -> bool {
        self.quarantine
            .as_ref()
            .is_some_and(|q| q.promoted_at.is_none())
    }

    /// The same data as `other`: same versions (set hash), counts and index size.
    pub fn same_content(&self, other: &Manifest) -> bool {
        self.set_hash == other.set_hash
            && self.counts == other.counts
            && self.index_entries == other.index_entries
    }

    pub fn patients(&self) -> u64 {
        self.counts
            .get(ItemKind::Patient.name())
            .copied()
            .unwrap_or(0)
    }

    pub fn total_items(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The time the generation's data is current as of (the source's high-water mark,
    /// else when the generation was made): every "recent" window of the record is
    /// measured back from it, never from the wall clock (see `mapping`'s module doc).
    pub fn data_time(&self) -> DateTime<Utc> {
        self.high_water.unwrap_or(self.created_at)
    }
}

/// One row of `akari snapshot list`.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationInfo {
    pub manifest: Manifest,
    pub current: bool,
}

/// Result of [`Store::verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    pub generation: u64,
    pub items_checked: u64,
    /// Versions whose stored bytes do not match their recorded hash.
    pub corrupt_items: u64,
    pub counts_match: bool,
    /// The set hash over every visible version matches the manifest, and so does the
    /// chain over the search-index blobs (none missing, none extra).
    pub set_hash_matches: bool,
    /// The store is encrypted: content hashes were checked over the stored ciphertext, so
    /// `ok()` means the bytes are exactly those written; the plaintext itself is
    /// authenticated (AEAD tag) when it is read after unlock. Verify needs no secret.
    pub encrypted: bool,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.corrupt_items == 0 && self.counts_match && self.set_hash_matches
    }

    /// One data-free line for admins, saying what was checked.
    pub fn summary(&self) -> String {
        let what = if self.encrypted {
            "content hashes over ciphertext (encrypted; checked without the secret)"
        } else {
            "content hashes"
        };
        format!(
            "generation {}: {} item(s) checked, {} damaged; counts {}; set hash {}; {}",
            self.generation,
            self.items_checked,
            self.corrupt_items,
            if self.counts_match { "match" } else { "DIFFER" },
            if self.set_hash_matches {
                "matches"
            } else {
                "DIFFERS"
            },
            what
        )
    }
}

/// Settings of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Generations to keep (at least [`MIN_KEEP`]).
    pub keep: usize,
    /// Encrypt stored content to this key. A file that already records a key
    /// stays encrypted to it even when this is `None`; a different key is refused.
    pub public_key: Option<SnapshotPublicKey>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            keep: MIN_KEEP,
            public_key: None,
        }
    }
}

/// redb's own page cache (reads and the write buffer of a transaction, which it keeps at
/// most half of it). The operating system caches the file's pages as well, so a small one
/// costs reads little; it counts against a full sync's memory budget (see
/// [`GenerationBuilder::set_memory_budget`]).
pub const PAGE_CACHE: usize = 128 << 20;

struct Inner {
    /// Replaced when a write finds the database refusing work after an I/O failure
    /// (`None` only between closing the failed handle and opening the file again).
    db: std::sync::RwLock<Option<Arc<Database>>>,
    /// How to open it again (`None`: a database given by the caller without one).
    reopen: Option<Reopen>,
    keyer: Keyer,
    keep: usize,
    public_key: Option<SnapshotPublicKey>,
    /// The snapshot file (`None` for a database given by the caller): a full build flushes
    /// it to disk in the background while it writes (see `sorted_load`).
    path: Option<std::path::PathBuf>,
    /// Where the second copy of the newest good generation is kept (see [`copy`]).
    copy: Option<std::path::PathBuf>,
}

/// The snapshot store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("keep", &self.inner.keep)
            .field("public_key", &self.inner.public_key)
            .finish()
    }
}

impl Store {
    /// Open (or create) the snapshot file at `path`. redb repairs an interrupted write
    /// on open; the current generation is whatever last committed.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let open = |path: &Path| Database::builder().set_cache_size(PAGE_CACHE).create(path);
        let db = open(path)?;
        // Temporary files of a full sync that was killed: nothing uses them any more.
        sorted_load::remove_spill_leftovers(data_dir(path));
        let again = path.to_path_buf();
        let mut store = Store::reopening(db, options, Some(Box::new(move || open(&again))))?;
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.path = Some(path.to_path_buf());
        }
        Ok(store)
    }

    /// Use an already opened database (tests pass an in-memory or fault-injecting one).
    pub fn from_database(db: Database, options: StoreOptions) -> Result<Store, StoreError> {
        Store::reopening(db, options, None)
    }

    /// [`Store::from_database`] with the way to open the database again after a write
    /// failed on I/O (a full disk): redb refuses every later write of that handle, so the
    /// next write opens it afresh (redb repairs it from the last commit) and sync works
    /// again as soon as space is back, without a restart.
    pub fn reopening(
        db: Database,
        options: StoreOptions,
        reopen: Option<Reopen>,
    ) -> Result<Store, StoreError> {
        if options.keep < MIN_KEEP {
            return Err(StoreError::KeepTooSmall(options.keep));
        }
        let txn = db.begin_write()?;
        let secret = {
            let mut meta = txn.open_table(META)?;
            let schema = meta
                .get("schema")?
                .map(|v| u32::from_be_bytes(v.value().try_into().unwrap_or([0xFF; 4])));
            match schema {
                Some(s) if s > SCHEMA_VERSION => return Err(StoreError::Schema(s)),
                Some(s) if s < SCHEMA_VERSION => return Err(StoreError::OldSchema(s)),
                Some(_) => {}
                None => {
                    meta.insert("schema", SCHEMA_VERSION.to_be_bytes().as_slice())?;
                }
            }
            let existing = meta.get("node_secret")?.map(|v| v.value().to_vec());
            match existing {
                Some(s) => s
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("node secret has the wrong length".into()))?,
                None => {
                    let s: [u8; 32] = rand::random();
                    meta.insert("node_secret", s.as_slice())?;
                    s
                }
            }
        };
        let has_generations = txn.open_table(GENERATIONS)?.first()?.is_some() || {
            let meta = txn.open_table(META)?;
            let started = meta.get("last_generation")?.is_some();
            started
        };
        txn.open_table(DATA_KEYS)?;
        let public_key = {
            let mut meta = txn.open_table(META)?;
            let stored = meta.get("public_key")?.map(|v| v.value().to_vec());
            let stored = match stored {
                Some(b) => Some(SnapshotPublicKey::from_bytes(b.try_into().map_err(
                    |_| StoreError::Corrupt("recorded public key has the wrong length".into()),
                )?)),
                None => None,
            };
            match (stored, options.public_key) {
                (Some(s), Some(c)) if s != c => {
                    return Err(StoreError::KeyMismatch {
                        stored: s.fingerprint_hex(),
                        configured: c.fingerprint_hex(),
                    })
                }
                (Some(s), _) => Some(s),
                (None, Some(_)) if has_generations => return Err(StoreError::Unencrypted),
                (None, Some(c)) => {
                    meta.insert("public_key", c.as_bytes().as_slice())?;
                    Some(c)
                }
                (None, None) => None,
            }
        };
        txn.commit()?;
        Ok(Store {
            inner: Arc::new(Inner {
                db: std::sync::RwLock::new(Some(Arc::new(db))),
                reopen,
                keyer: Keyer::new(&secret),
                keep: options.keep,
                public_key,
                path: None,
                copy: None,
            }),
        })
    }

    /// The key stored content is encrypted to (`None`: a plaintext store).
    pub fn public_key(&self) -> Option<SnapshotPublicKey> {
        self.inner.public_key
    }

    pub fn is_encrypted(&self) -> bool {
        self.inner.public_key.is_some()
    }

    /// Unwrap every data key of this store with `secret` (keys already in `reuse` are not
    /// unwrapped again). Fails with [`StoreError::WrongKey`] — having decrypted nothing —
    /// if `secret` is not the store's key. A plaintext store gives an empty keyring.
    pub fn keyring(
        &self,
        secret: &SnapshotSecret,
        reuse: Option<&Keyring>,
    ) -> Result<Keyring, StoreError> {
        let Some(pk) = self.inner.public_key else {
            return Ok(Keyring::default());
        };
        crate::crypto::check_secret(&pk, secret)?;
        let txn = self.begin_read()?;
        let table = txn.open_table(DATA_KEYS)?;
        let mut wrapped = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            wrapped.push((k.value(), v.value().to_vec()));
        }
        Ok(Keyring::unwrap_all(
            secret,
            wrapped.iter().map(|(k, v)| (*k, v.as_slice())),
            reuse,
        )?)
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    pub(crate) fn keyer(&self) -> &Keyer {
        &self.inner.keyer
    }

    /// A handle for worker threads that prepare items (hashing under the node secret).
    pub fn keyer_handle(&self) -> Keyer {
        self.inner.keyer.clone()
    }

    pub fn keep(&self) -> usize {
        self.inner.keep
    }

    /// The current generation's manifest, if any generation exists.
    pub fn current(&self) -> Result<Option<Manifest>, StoreError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(cur) = meta.get("current")? else {
            return Ok(None);
        };
        let g = u64::from_be_bytes(
            cur.value()
                .try_into()
                .map_err(|_| StoreError::Corrupt("current pointer".into()))?,
        );
        let gens = txn.open_table(GENERATIONS)?;
        let m = gens.get(g)?.ok_or(StoreError::NoSuchGeneration(g))?;
        Ok(Some(decode_manifest(m.value())?))
    }

    /// Every retained generation, oldest first.
    pub fn list(&self) -> Result<Vec<GenerationInfo>, StoreError> {
        let current = self.current()?.map(|m| m.generation);
        let txn = self.begin_read()?;
        let gens = txn.open_table(GENERATIONS)?;
        let mut out = Vec::new();
        for row in gens.iter()? {
            let (_, v) = row?;
            let manifest = decode_manifest(v.value())?;
            out.push(GenerationInfo {
                current: Some(manifest.generation) == current,
                manifest,
            });
        }
        Ok(out)
    }

    pub fn manifest(&self, generation: u64) -> Result<Manifest, StoreError> {
        let txn = self.begin_read()?;
        let gens = txn.open_table(GENERATIONS)?;
        let m = gens
            .get(generation)?
            .ok_or(StoreError::NoSuchGeneration(generation))?;
        decode_manifest(m.value())
    }

    /// Pin (or unpin) a generation so retention keeps it.
    pub fn set_pinned(&self, generation: u64, pinned: bool) -> Result<Manifest, StoreError> {
        let txn = self.begin_write()?;
        let m = {
            let mut gens = txn.open_table(GENERATIONS)?;
            let mut m = decode_manifest(
                gens.get(generation)?
                    .ok_or(StoreError::NoSuchGeneration(generation))?
                    .value(),
            )?;
            m.pinned = pinned;
            gens.insert(generation, encode_manifest(&m).as_slice())?;
            m
        };
        if !pinned {
            apply_retention(&txn, self.inner.keep)?;
        }
        txn.commit()?;
        Ok(m)
    }

    /// Re-read every version visible in `generation`: each stored content must hash to its
    /// recorded hash, and counts and set hash must equal the manifest; likewise every chunk
    /// of the search-index blobs and their chain. Reads stored bytes (ciphertext when
    /// encrypted) but never needs to decode them.
    pub fn verify(&self, generation: u64) -> Result<VerifyReport, StoreError> {
        let manifest = self.manifest(generation)?;
        let mut reports = self.verify_epoch(manifest.epoch, &[&manifest])?;
        reports
            .pop()
            .ok_or(StoreError::NoSuchGeneration(generation))
    }

    /// Make a copy of `target` the new current generation (after verifying `target`).
    /// The copy is a new generation in a new epoch; `target` stays as it was.
    pub fn rollback(&self, target: u64) -> Result<Manifest, StoreError> {
        let source = self.manifest(target)?;
        if source.is_quarantined() {
            return Err(StoreError::Quarantined(target));
        }
        self.verify_ok(target)?;
        let txn = self.begin_write()?;
        let generation = next_generation(&txn)?;
        let epoch = generation;
        copy::copy_within(&txn, &source, epoch)?;
        commit_copy(
            txn,
            source,
            generation,
            GenerationKind::Rollback { from: target },
            self.inner.keep,
        )
    }

    /// [`Store::verify`], as an error unless the generation verifies.
    pub(crate) fn verify_ok(&self, generation: u64) -> Result<(), StoreError> {
        let report = self.verify(generation)?;
        if report.ok() {
            return Ok(());
        }
        Err(StoreError::VerifyFailed {
            generation,
            problem: format!(
                "{} damaged item(s), counts match: {}, hash matches: {}",
                report.corrupt_items, report.counts_match, report.set_hash_matches
            ),
        })
    }

    /// Start building the next generation: from scratch (`full`) or as the current
    /// generation plus a delta. Only one builder runs at a time (redb has one writer).
    pub fn begin(&self, full: bool, source: &str) -> Result<GenerationBuilder, StoreError> {
        let mut parent = self.current()?;
        match &parent {
            None if !full => return Err(StoreError::Empty),
            // A quarantined build followed the current generation in its epoch.
            Some(p) if !full && !self.is_epoch_tip(p)? => {
                parent = Some(self.move_to_own_epoch(p)?);
            }
            _ => {}
        }
        GenerationBuilder::new(self.clone(), parent, full, source)
    }
}

/// The directory of the snapshot file (where a full sync's temporary files go).
pub(crate) fn data_dir(snapshot: &Path) -> &Path {
    snapshot
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

pub(crate) fn decode_manifest(bytes: &[u8]) -> Result<Manifest, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt("generation manifest".into()))
}

pub(crate) fn encode_manifest(m: &Manifest) -> Vec<u8> {
    serde_json::to_vec(m).expect("manifest serialises")
}

pub(crate) fn next_generation(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let gens = txn.open_table(GENERATIONS)?;
    let last = gens.last()?.map(|(k, _)| k.value()).unwrap_or(0);
    let meta = txn.open_table(META)?;
    let floor = meta
        .get("last_generation")?
        .and_then(|v| v.value().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0);
    let next = last.max(floor) + 1;
    if next >= keys::GENERATION_LIMIT {
        return Err(StoreError::Build(format!(
            "the snapshot file has used every generation number it can hold ({}); move it \
             (and its second copy) away and run `akari sync now --full`",
            keys::GENERATION_LIMIT - 1
        )));
    }
    Ok(next)
}

/// Record the manifest (inside the caller's transaction): the generation exists, it is the
/// newest of its epoch, and its number is never used again.
pub(crate) fn record_generation(txn: &WriteTransaction, m: &Manifest) -> Result<(), StoreError> {
    txn.open_table(GENERATIONS)?
        .insert(m.generation, encode_manifest(m).as_slice())?;
    let mut tips = txn.open_table(EPOCH_TIPS)?;
    let tip = tips.get(m.epoch)?.map(|v| v.value());
    if tip.is_none_or(|t| t < m.generation) {
        tips.insert(m.epoch, m.generation)?;
    }
    drop(tips);
    raise_last_generation(txn, m.generation)
}

/// Never hand out generation numbers up to `generation` again.
pub(crate) fn raise_last_generation(
    txn: &WriteTransaction,
    generation: u64,
) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META)?;
    let last = meta
        .get("last_generation")?
        .and_then(|v| v.value().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0);
    if generation > last {
        meta.insert("last_generation", generation.to_be_bytes().as_slice())?;
    }
    Ok(())
}

/// Record the manifest and make it current (inside the caller's transaction).
pub(crate) fn switch_to(txn: &WriteTransaction, m: &Manifest) -> Result<(), StoreError> {
    record_generation(txn, m)?;
    txn.open_table(META)?
        .insert("current", m.generation.to_be_bytes().as_slice())?;
    Ok(())
}

/// Commit a copy of `source`'s data, already written as `generation` (its own epoch), as
/// the new current generation (a rollback, or a restore from the second copy).
pub(crate) fn commit_copy(
    txn: WriteTransaction,
    source: Manifest,
    generation: u64,
    kind: GenerationKind,
    keep: usize,
) -> Result<Manifest, StoreError> {
    let manifest = Manifest {
        generation,
        epoch: generation,
        parent: Some(source.generation),
        kind,
        created_at: Utc::now(),
        pinned: false,
        written: source.total_items(),
        removed: 0,
        quarantine: None,
        ..source
    };
    switch_to(&txn, &manifest)?;
    apply_retention(&txn, keep)?;
    txn.commit()?;
    Ok(manifest)
}
