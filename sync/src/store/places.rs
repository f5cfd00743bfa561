//! Small, data-free state kept beside the generations in plaintext: the node's place
//! book and the last sync reports.
//!
//! The place book: the Locations (wards, rooms, beds) the source sent, by
//! Location id, in the file-wide table `akari_places`. The sync engine resolves in-house
//! encounters into ward, room and bed with it before they enter the census (also in an
//! incremental pull that brings an admission but none of the Locations it names), and the
//! reader resolves the patient page's encounters with it.
//!
//! Place names are reference data, not patient data, and the book is kept in plaintext
//! even in an encrypted store: the engine must read it to build a generation while the
//! snapshot is locked (it never holds the secret). It holds no patient, encounter or
//! identifier of anyone. It is written in the generation's own transaction (see
//! [`super::GenerationBuilder::record_places`]): a full pull that sent Locations
//! replaces the book, an incremental one adds to it; a pull without Locations leaves it
//! as it was.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{Store, StoreError};
use crate::mapping::PlaceBook;
use crate::model::Place;

const PLACES: TableDefinition<&str, &[u8]> = TableDefinition::new("akari_places");

impl Store {
    /// The place book (empty before any pull sent Locations).
    pub fn places(&self) -> Result<PlaceBook, StoreError> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(PLACES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(PlaceBook::new()),
            Err(e) => return Err(e.into()),
        };
        let mut book = PlaceBook::new();
        for row in table.iter()? {
            let (_, v) = row?;
            let place: Place = postcard::from_bytes(v.value())
                .map_err(|_| StoreError::Corrupt("a stored place does not decode".into()))?;
            book.insert(place);
        }
        Ok(book)
    }
}

/// Write `book` into the place table: replacing what is there, or adding to it.
pub(super) fn write_places(
    txn: &WriteTransaction,
    book: &PlaceBook,
    replace: bool,
) -> Result<(), StoreError> {
    if replace {
        txn.delete_table(PLACES)?;
    }
    let mut table = txn.open_table(PLACES)?;
    for p in book.places() {
        let value = postcard::to_allocvec(p).expect("places serialise");
        table.insert(p.id.as_str(), value.as_slice())?;
    }
    Ok(())
}

/// Key of the last committed sync's report in `akari_meta`.
const LAST_REPORT: &str = "last_sync_report";
/// Key of the last refused pull's report in `akari_meta` (removed when a sync commits).
const LAST_REFUSED: &str = "last_refused_sync_report";

/// The saved reports as JSON: the last committed sync's, the last refused pull's.
pub type SavedReports = (Option<Vec<u8>>, Option<Vec<u8>>);

impl Store {
    /// Keep the report of a sync (counts and reason names only: no patient data) so that
    /// `akari sync report` and the admin pages show it after a restart: a committed sync
    /// replaces the last report and clears the refused one; a refused pull is kept beside
    /// the last committed report.
    pub fn save_sync_report(&self, json: &[u8], refused: bool) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut meta = txn.open_table(super::tables::META)?;
            if refused {
                meta.insert(LAST_REFUSED, json)?;
            } else {
                meta.insert(LAST_REPORT, json)?;
                meta.remove(LAST_REFUSED)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The saved reports: the last committed sync's and the last refused pull's (each as
    /// the JSON given to [`Store::save_sync_report`]).
    pub fn saved_sync_reports(&self) -> Result<SavedReports, StoreError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(super::tables::META)?;
        let get = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
            Ok(meta.get(k)?.map(|v| v.value().to_vec()))
        };
        Ok((get(LAST_REPORT)?, get(LAST_REFUSED)?))
    }
}
