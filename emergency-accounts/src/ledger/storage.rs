//! The ledger's redb file: its tables and schema version, reopening it after a storage
//! failure, and reading entries and checkpoints back (scans, chain heads, re-verification).

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::entry::{self, Hash, LedgerEntry};
use super::{Checkpoint, Ledger, LedgerError};

/// Entries: sequence → chain head (32 bytes) ‖ canonical entry bytes.
pub(super) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("ledger_entries");
/// Checkpoints: size → checkpoint as JSON.
pub(super) const CHECKPOINTS: TableDefinition<u64, &[u8]> =
    TableDefinition::new("ledger_checkpoints");
/// Metadata: "schema_version" → 1; [`LATEST_TIME`] → the latest entry time recorded.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("ledger_meta");
/// Microseconds since the epoch of the latest entry time ever recorded (not the last
/// entry's, which may be earlier after the clock went back).
pub(super) const LATEST_TIME: &str = "latest_time_micros";
pub(super) const SCHEMA_VERSION: u64 = 1;

/// A redb failure, its source kept (callers tell a full disk from a damaged file by it).
pub(super) fn storage(e: impl Into<redb::Error>) -> LedgerError {
    LedgerError::Storage(e.into())
}

/// Opens the ledger's database again (the file at its path, or a test backend).
pub type Reopen = Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// The open database, shared by the writer and readers, which the writer replaces after a
/// storage failure.
pub(super) struct DbSlot {
    pub(super) db: std::sync::RwLock<Option<Arc<Database>>>,
    pub(super) reopen: Option<Reopen>,
}

impl DbSlot {
    pub(super) fn get(&self) -> Result<Arc<Database>, LedgerError> {
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                LedgerError::Unavailable(
                    "the ledger file is being reopened after a storage failure (disk full?)",
                )
            })
    }

    /// Drop the failed database (once no reader uses it) and open the file again.
    pub(super) fn reopen(&self) -> Result<Arc<Database>, LedgerError> {
        let Some(reopen) = &self.reopen else {
            return Err(LedgerError::Unavailable(
                "an earlier write to the ledger failed; restart the node",
            ));
        };
        let old = self.db.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(old) = old {
            // Readers hold their handle only for one call; wait for them to finish.
            let deadline = Instant::now() + Duration::from_secs(30);
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if Arc::strong_count(&old) > 1 {
                *self.db.write().unwrap_or_else(|p| p.into_inner()) = Some(old);
                return Err(LedgerError::Unavailable(
                    "the ledger file could not be reopened: still in use by a reader",
                ));
            }
        }
        let db = Arc::new(reopen().map_err(storage)?);
        *self.db.write().unwrap_or_else(|p| p.into_inner()) = Some(db.clone());
        Ok(db)
    }
}

/// The chain's tip as the writer knows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tip {
    pub(super) seq: u64,
    pub(super) head: Hash,
    pub(super) time: Option<DateTime<Utc>>,
    /// Size of the last checkpoint.
    pub(super) checkpointed: u64,
}

impl Ledger {
    /// The sequence number of the newest committed entry (0 when empty).
    pub fn last_seq(&self) -> Result<u64, LedgerError> {
        // Hold the handle for the whole read, so a reopen waits for it.
        let db = self.db.get()?;
        let txn = db.begin_read().map_err(storage)?;
        let table = match txn.open_table(ENTRIES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(storage(e)),
        };
        let last = table.last().map_err(storage)?.map(|(k, _)| k.value());
        Ok(last.unwrap_or(0))
    }

    /// Calls `f` with every committed entry in `seqs`, in sequence order, with its chain
    /// head. Stops at the first error `f` returns.
    pub fn scan<E: From<LedgerError>>(
        &self,
        seqs: RangeInclusive<u64>,
        mut f: impl FnMut(LedgerEntry, Hash) -> Result<(), E>,
    ) -> Result<(), E> {
        self.scan_raw(seqs, |seq, head, bytes| {
            let entry: LedgerEntry =
                serde_json::from_slice(bytes).map_err(|e| LedgerError::Corrupt {
                    seq,
                    what: format!("entry does not parse: {e}"),
                })?;
            f(entry, head)
        })
    }

    /// Like [`Ledger::scan`] with the canonical bytes instead of the parsed entry.
    pub(crate) fn scan_raw<E: From<LedgerError>>(
        &self,
        seqs: RangeInclusive<u64>,
        mut f: impl FnMut(u64, Hash, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        // Hold the handle for the whole read, so a reopen waits for it.
        let db = self.db.get()?;
        let txn = db.begin_read().map_err(storage)?;
        let table = match txn.open_table(ENTRIES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(storage(e).into()),
        };
        for item in table.range(seqs).map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            let seq = k.value();
            let (head, bytes) = split_value(seq, v.value())?;
            f(seq, head, bytes)?;
        }
        Ok(())
    }

    /// The chain head after entry `seq` (`Hash::GENESIS` for 0).
    pub fn head_at(&self, seq: u64) -> Result<Hash, LedgerError> {
        if seq == 0 {
            return Ok(Hash::GENESIS);
        }
        // Hold the handle for the whole read, so a reopen waits for it.
        let db = self.db.get()?;
        let txn = db.begin_read().map_err(storage)?;
        let table = txn.open_table(ENTRIES).map_err(storage)?;
        let value = table
            .get(seq)
            .map_err(storage)?
            .ok_or_else(|| LedgerError::Corrupt {
                seq,
                what: "entry is missing".into(),
            })?;
        Ok(split_value(seq, value.value())?.0)
    }

    /// All stored checkpoints with sizes in `sizes`, in order.
    pub fn checkpoints(&self, sizes: RangeInclusive<u64>) -> Result<Vec<Checkpoint>, LedgerError> {
        let db = self.db.get()?;
        read_checkpoints(&db, sizes)
    }

    /// Re-checks the whole stored chain and every stored checkpoint's signature and head.
    /// Returns the number of entries checked.
    pub fn verify_stored(&self) -> Result<u64, LedgerError> {
        let checkpoints = self.checkpoints(0..=u64::MAX)?;
        let mut cps = checkpoints.iter().peekable();
        let mut head = Hash::GENESIS;
        let mut expected = 1u64;
        let check_cp = |cp: &Checkpoint, seq: u64, head: &Hash| -> Result<(), LedgerError> {
            if !cp.verify(&self.public_key) {
                return Err(LedgerError::Corrupt {
                    seq,
                    what: format!("checkpoint {} has a bad signature", cp.size),
                });
            }
            if cp.head != *head {
                return Err(LedgerError::Corrupt {
                    seq,
                    what: format!("checkpoint {} does not match the chain", cp.size),
                });
            }
            Ok(())
        };
        while let Some(cp) = cps.next_if(|cp| cp.size == 0) {
            check_cp(cp, 0, &head)?;
        }
        self.scan_raw(1..=u64::MAX, |seq, stored, bytes| {
            if seq != expected {
                return Err(LedgerError::Corrupt {
                    seq: expected,
                    what: "entry is missing".into(),
                });
            }
            head = entry::chain(&head, &entry::leaf_hash(bytes));
            if head != stored {
                return Err(LedgerError::Corrupt {
                    seq,
                    what: "hash chain mismatch".into(),
                });
            }
            while let Some(cp) = cps.next_if(|cp| cp.size == seq) {
                check_cp(cp, seq, &head)?;
            }
            expected += 1;
            Ok(())
        })?;
        if let Some(cp) = cps.next() {
            return Err(LedgerError::Corrupt {
                seq: expected,
                what: format!("checkpoint {} is beyond the last entry", cp.size),
            });
        }
        Ok(expected - 1)
    }
}

pub(super) fn split_value(seq: u64, value: &[u8]) -> Result<(Hash, &[u8]), LedgerError> {
    if value.len() < 32 {
        return Err(LedgerError::Corrupt {
            seq,
            what: "stored value is too short".into(),
        });
    }
    let mut head = [0u8; 32];
    head.copy_from_slice(&value[..32]);
    Ok((Hash(head), &value[32..]))
}

pub(super) fn init_and_load_tip(db: &Database) -> Result<Tip, LedgerError> {
    let txn = db.begin_write().map_err(storage)?;
    let tip = {
        let mut meta = txn.open_table(META).map_err(storage)?;
        let version = meta
            .get("schema_version")
            .map_err(storage)?
            .map(|v| v.value());
        match version {
            None => {
                meta.insert("schema_version", SCHEMA_VERSION)
                    .map_err(storage)?;
            }
            Some(v) if v > SCHEMA_VERSION => return Err(LedgerError::Schema { found: v }),
            Some(_) => {}
        }
        let entries = txn.open_table(ENTRIES).map_err(storage)?;
        let checkpoints = txn.open_table(CHECKPOINTS).map_err(storage)?;
        let checkpointed = checkpoints
            .last()
            .map_err(storage)?
            .map(|(k, _)| k.value())
            .unwrap_or(0);
        let last = entries.last().map_err(storage)?;
        let latest = meta
            .get(LATEST_TIME)
            .map_err(storage)?
            .and_then(|v| i64::try_from(v.value()).ok())
            .and_then(DateTime::from_timestamp_micros);
        let tip = match last {
            None => Tip {
                seq: 0,
                head: Hash::GENESIS,
                time: None,
                checkpointed,
            },
            Some((k, v)) => {
                let seq = k.value();
                let (head, bytes) = split_value(seq, v.value())?;
                let entry: LedgerEntry =
                    serde_json::from_slice(bytes).map_err(|e| LedgerError::Corrupt {
                        seq,
                        what: format!("entry does not parse: {e}"),
                    })?;
                Tip {
                    seq,
                    head,
                    // The latest time ever recorded, so an entry after a restart is still
                    // flagged if the clock is behind it (older files: the last entry's).
                    time: Some(latest.map_or(entry.time, |t| t.max(entry.time))),
                    checkpointed,
                }
            }
        };
        tip
    };
    txn.commit().map_err(storage)?;
    Ok(tip)
}

pub(super) fn read_checkpoints(
    db: &Database,
    sizes: RangeInclusive<u64>,
) -> Result<Vec<Checkpoint>, LedgerError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = match txn.open_table(CHECKPOINTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(storage(e)),
    };
    let mut out = Vec::new();
    for item in table.range(sizes).map_err(storage)? {
        let (k, v) = item.map_err(storage)?;
        let cp: Checkpoint =
            serde_json::from_slice(v.value()).map_err(|e| LedgerError::Corrupt {
                seq: k.value(),
                what: format!("checkpoint does not parse: {e}"),
            })?;
        out.push(cp);
    }
    Ok(out)
}

pub(super) fn load_latest_checkpoint(db: &Database) -> Result<Option<Checkpoint>, LedgerError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = match txn.open_table(CHECKPOINTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(storage(e)),
    };
    let last = table.last().map_err(storage)?;
    match last {
        None => Ok(None),
        Some((k, v)) => {
            serde_json::from_slice(v.value())
                .map(Some)
                .map_err(|e| LedgerError::Corrupt {
                    seq: k.value(),
                    what: format!("checkpoint does not parse: {e}"),
                })
        }
    }
}
pub(super) fn store_checkpoint(
    txn: &redb::WriteTransaction,
    cp: &Checkpoint,
) -> Result<(), LedgerError> {
    let mut table = txn.open_table(CHECKPOINTS).map_err(storage)?;
    let json = serde_json::to_vec(cp).map_err(LedgerError::Encode)?;
    table.insert(cp.size, json.as_slice()).map_err(storage)?;
    Ok(())
}
