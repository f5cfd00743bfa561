//! The snapshot database handle: one per store, shared by every clone, opened again when a
//! write finds it refusing work after an I/O failure. redb refuses every later write of a
//! handle once a write failed on I/O (a full disk); the next write opens the file afresh
//! (redb repairs it from the last commit), so syncs resume as soon as space is back,
//! without a restart. A real file is reopened only once a probe write next to it shows
//! room, so a node whose disk is still full keeps its handle and keeps serving reads.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase};

use super::{Store, StoreError};

/// Opens the snapshot database again (its file, or a test's backend).
pub type Reopen = Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send + Sync>;

impl Store {
    /// The open database (held only for one operation: a reopen waits for it).
    fn handle(&self) -> Result<Arc<Database>, StoreError> {
        let open = self
            .inner
            .db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match open {
            Some(db) => Ok(db),
            None => {
                self.reopen()?;
                self.handle()
            }
        }
    }

    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.handle()?.begin_read()?)
    }

    /// Begin a write transaction. When the database refuses it because an earlier write
    /// failed on I/O (a full disk), open the database again and try once more.
    pub(crate) fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        match self.handle()?.begin_write() {
            Err(redb::TransactionError::Storage(redb::StorageError::PreviousIo)) => {
                self.reopen()?;
                Ok(self.handle()?.begin_write()?)
            }
            other => Ok(other?),
        }
    }

    /// Replace the failed database handle with a fresh one. Only once space is back (a
    /// probe write next to the file succeeds), so a node whose disk is still full keeps
    /// serving reads from the handle it has.
    fn reopen(&self) -> Result<(), StoreError> {
        let Some(reopen) = &self.inner.reopen else {
            return Err(StoreError::Storage(redb::Error::PreviousIo));
        };
        if let Some(path) = self.path() {
            probe_space(path).map_err(|e| StoreError::Storage(redb::Error::Io(e)))?;
        }
        let mut slot = self.inner.db.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.take() {
            // Readers hold the handle for one call only; wait for them to finish.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while Arc::strong_count(&old) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            // redb allows one handle per file: the failed one closes first.
            drop(old);
        }
        let db = reopen()?;
        *slot = Some(Arc::new(db));
        tracing::warn!("snapshot store reopened after a storage failure");
        Ok(())
    }
}

/// Write (and remove) 8 MiB next to the snapshot file: is there room to reopen and
/// repair it?
fn probe_space(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let probe = path.with_extension("space-probe");
    let result = (|| {
        let mut f = std::fs::File::create(&probe)?;
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..8 {
            f.write_all(&chunk)?;
        }
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&probe);
    result
}
