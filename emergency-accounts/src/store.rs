//! The accounts store: one redb file (`accounts.redb`), separate from the snapshot and the
//! ledger. All table definitions live here; records are JSON values under string keys so a
//! field can be added without a migration. A schema-version table guards the format.

use redb::{
    Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Error;

/// Bumped when the meaning of stored records changes incompatibly.
pub const SCHEMA_VERSION: u64 = 1;

/// Counters and the schema version.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The node's mode and current episode, under the key [`MODE_KEY`].
pub(crate) const MODE: TableDefinition<&str, &str> = TableDefinition::new("mode");
/// Admin accounts by admin ID.
pub(crate) const ADMINS: TableDefinition<&str, &str> = TableDefinition::new("admins");
/// Emergency accounts by account ID.
pub(crate) const ACCOUNTS: TableDefinition<&str, &str> = TableDefinition::new("accounts");
/// Live sessions by the hex SHA-256 of their token (the token itself is never stored).
pub(crate) const SESSIONS: TableDefinition<&str, &str> = TableDefinition::new("sessions");
/// Key slots (the snapshot secret, wrapped) by slot ID: `recovery`, `admin:<id>`,
/// `account:<id>`. Added with key slots; a store without it simply has no slots.
pub(crate) const KEY_SLOTS: TableDefinition<&str, &str> = TableDefinition::new("key_slots");
/// Whether key slots are initialised, under [`crate::keyslot::STATE_KEY`].
pub(crate) const KEY_STATE: TableDefinition<&str, &str> = TableDefinition::new("key_state");

pub(crate) const MODE_KEY: &str = "current";
/// The staff notice, in the [`MODE`] table (node-wide state, like the mode).
pub(crate) const NOTICE_KEY: &str = "notice";
const SCHEMA_KEY: &str = "schema_version";
pub(crate) const NEXT_SEAL_KEY: &str = "next_seal_number";
pub(crate) const NEXT_EPISODE_KEY: &str = "next_episode";

/// A redb failure, its source kept (a full disk, an I/O error, a damaged file).
pub(crate) fn store_err(e: impl Into<redb::Error>) -> Error {
    Error::Store(e.into())
}

fn decode<T: DeserializeOwned>(table: &str, key: &str, json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|source| Error::StoreRecord {
        table: table.to_owned(),
        key: key.to_owned(),
        source,
    })
}

fn encode<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding a record: {e}")))
}

/// The record under `key` in `table` (named `name`), read or write transaction alike.
fn read_record<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static str>,
    name: &str,
    key: &str,
) -> Result<Option<T>, Error> {
    match table.get(key).map_err(store_err)? {
        Some(v) => Ok(Some(decode(name, key, v.value())?)),
        None => Ok(None),
    }
}

/// Every record in `table` (named `name`) with its key, in key order.
fn read_all<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static str>,
    name: &str,
) -> Result<Vec<(String, T)>, Error> {
    let mut out = Vec::new();
    for row in table.iter().map_err(store_err)? {
        let (k, v) = row.map_err(store_err)?;
        out.push((k.value().to_owned(), decode(name, k.value(), v.value())?));
    }
    Ok(out)
}

/// Opens the accounts database again (the file at its path): the ledger's type.
pub(crate) use crate::ledger::Reopen;

/// The accounts database. After a write fails for lack of space (or another I/O error)
/// redb refuses every later operation until the file is opened again; the store does that
/// by itself on the next call, so logins work again as soon as space is back, without a
/// restart. The failed transaction was never committed: nothing acknowledged is lost.
pub struct Store {
    db: std::sync::RwLock<std::sync::Arc<Database>>,
    reopen: Option<Reopen>,
    /// An I/O failure was seen: open the file again before the next operation.
    failed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store, creating its tables on first use and refusing a database written by
    /// a newer, incompatible version.
    /// `reopen` opens the file again after an I/O failure (`None`: an in-memory database).
    pub(crate) fn open(db: Database, reopen: Option<Reopen>) -> Result<Self, Error> {
        Self::prepare(&db)?;
        Ok(Self {
            db: std::sync::RwLock::new(std::sync::Arc::new(db)),
            reopen,
            failed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Create the tables on first use; refuse another schema version.
    fn prepare(db: &Database) -> Result<(), Error> {
        let txn = db.begin_write().map_err(store_err)?;
        {
            let mut meta = txn.open_table(META).map_err(store_err)?;
            let found = meta.get(SCHEMA_KEY).map_err(store_err)?.map(|v| v.value());
            match found {
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION).map_err(store_err)?;
                }
                Some(v) if v == SCHEMA_VERSION => {}
                Some(found) => return Err(Error::StoreSchema { found }),
            }
            txn.open_table(MODE).map_err(store_err)?;
            txn.open_table(ADMINS).map_err(store_err)?;
            txn.open_table(ACCOUNTS).map_err(store_err)?;
            txn.open_table(SESSIONS).map_err(store_err)?;
            txn.open_table(KEY_SLOTS).map_err(store_err)?;
            txn.open_table(KEY_STATE).map_err(store_err)?;
        }
        txn.commit().map_err(store_err)?;
        Ok(())
    }

    /// The open database, opened again first when an earlier operation failed on I/O.
    fn db(&self) -> Result<std::sync::Arc<Database>, Error> {
        use std::sync::atomic::Ordering;
        if self.failed.load(Ordering::Acquire) {
            if let Some(reopen) = &self.reopen {
                let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
                // Another caller may have reopened it while this one waited.
                if self.failed.load(Ordering::Acquire) && std::sync::Arc::strong_count(&slot) == 1 {
                    // redb allows one open handle per file: close the failed one first.
                    let placeholder = redb::Builder::new()
                        .create_with_backend(redb::backends::InMemoryBackend::new())
                        .map_err(store_err)?;
                    drop(std::mem::replace(
                        &mut *slot,
                        std::sync::Arc::new(placeholder),
                    ));
                    let db = reopen().map_err(store_err)?;
                    *slot = std::sync::Arc::new(db);
                    self.failed.store(false, Ordering::Release);
                    tracing::warn!("accounts store reopened after a storage failure");
                }
            }
        }
        Ok(self.db.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Note an I/O failure (a full disk) so the next operation opens the file again.
    fn watch<R>(&self, result: Result<R, Error>) -> Result<R, Error> {
        if let Err(Error::Store(redb::Error::Io(_) | redb::Error::PreviousIo)) = &result {
            self.failed
                .store(true, std::sync::atomic::Ordering::Release);
        }
        result
    }

    /// Runs `f` in one write transaction, committed (durably) only if `f` succeeds.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&Tx<'_>) -> Result<R, Error>) -> Result<R, Error> {
        let db = self.db()?;
        self.watch((|| {
            let txn = db.begin_write().map_err(store_err)?;
            let result = f(&Tx { txn: &txn })?;
            txn.commit().map_err(store_err)?;
            Ok(result)
        })())
    }

    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &str>,
        key: &str,
    ) -> Result<Option<T>, Error> {
        let db = self.db()?;
        self.watch((|| {
            let txn = db.begin_read().map_err(store_err)?;
            let t = txn.open_table(table).map_err(store_err)?;
            read_record(&t, table.name(), key)
        })())
    }

    pub(crate) fn list<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &str>,
    ) -> Result<Vec<(String, T)>, Error> {
        let db = self.db()?;
        self.watch((|| {
            let txn = db.begin_read().map_err(store_err)?;
            let t = txn.open_table(table).map_err(store_err)?;
            read_all(&t, table.name())
        })())
    }

    #[cfg(test)]
    pub(crate) fn schema_version(&self) -> Result<u64, Error> {
        let txn = self.db()?.begin_read().map_err(store_err)?;
        let t = txn.open_table(META).map_err(store_err)?;
        let v = t.get(SCHEMA_KEY).map_err(store_err)?.map(|v| v.value());
        v.ok_or(Error::StoreSchema { found: 0 })
    }
}

/// A write transaction with typed helpers.
pub(crate) struct Tx<'a> {
    txn: &'a WriteTransaction,
}

impl Tx<'_> {
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &str>,
        key: &str,
    ) -> Result<Option<T>, Error> {
        let t = self.txn.open_table(table).map_err(store_err)?;
        read_record(&t, table.name(), key)
    }

    pub(crate) fn put<T: Serialize>(
        &self,
        table: TableDefinition<&str, &str>,
        key: &str,
        value: &T,
    ) -> Result<(), Error> {
        let json = encode(value)?;
        let mut t = self.txn.open_table(table).map_err(store_err)?;
        t.insert(key, json.as_str()).map_err(store_err)?;
        Ok(())
    }

    pub(crate) fn remove(
        &self,
        table: TableDefinition<&str, &str>,
        key: &str,
    ) -> Result<bool, Error> {
        let mut t = self.txn.open_table(table).map_err(store_err)?;
        let existed = t.remove(key).map_err(store_err)?.is_some();
        Ok(existed)
    }

    pub(crate) fn list<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &str>,
    ) -> Result<Vec<(String, T)>, Error> {
        let t = self.txn.open_table(table).map_err(store_err)?;
        read_all(&t, table.name())
    }

    /// Returns the counter's current value (starting at 1) and stores the next one.
    pub(crate) fn next_counter(&self, key: &str) -> Result<u64, Error> {
        let mut t = self.txn.open_table(META).map_err(store_err)?;
        let current = t
            .get(key)
            .map_err(store_err)?
            .map(|v| v.value())
            .unwrap_or(1);
        t.insert(key, current + 1).map_err(store_err)?;
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::backends::InMemoryBackend;

    #[test]
    fn newer_schema_is_refused_with_a_clear_error() {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .unwrap();
        let store = Store::open(db, None).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let db = store.db().unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_KEY, SCHEMA_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
        drop(store);
        let db = std::sync::Arc::try_unwrap(db).ok().unwrap();
        let err = Store::open(db, None).unwrap_err();
        assert!(err.to_string().contains("schema version 2"), "{err}");
    }

    #[test]
    fn an_unreadable_record_keeps_its_parse_error_as_the_source() {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .unwrap();
        let store = Store::open(db, None).unwrap();
        let txn = store.db().unwrap().begin_write().unwrap();
        txn.open_table(ADMINS)
            .unwrap()
            .insert("it-sato", "{not json")
            .unwrap();
        txn.commit().unwrap();
        let err = store
            .get::<crate::model::AdminRecord>(ADMINS, "it-sato")
            .unwrap_err();
        assert!(matches!(err, Error::StoreRecord { .. }), "{err}");
        let source = std::error::Error::source(&err).expect("the parse error is kept");
        assert!(source.is::<serde_json::Error>(), "{source}");
    }
}
