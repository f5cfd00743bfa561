//! Every table of the snapshot file, in one list: the file-wide tables, and the tables
//! each epoch has (`e<epoch>.<name>`, byte keys to byte values; see the layout in
//! [`super`]).

use redb::TableDefinition;

/// The schema version, the recorded public key and the integrity alert.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("akari_meta");
/// Manifests by generation.
pub(crate) const GENERATIONS: TableDefinition<u64, &[u8]> =
    TableDefinition::new("akari_generations");
/// Wrapped data keys of an encrypted store, by key id (the generation whose build made it).
pub(crate) const DATA_KEYS: TableDefinition<u64, &[u8]> = TableDefinition::new("akari_data_keys");
/// The newest generation built in each epoch (epoch → generation), quarantined or not: an
/// incremental build may extend its parent's epoch only when the parent is that newest one
/// (the epoch's owner and identifier tables describe its newest generation). An epoch
/// missing here was written before quarantine existed, when the current generation was
/// always its epoch's newest.
pub(crate) const EPOCH_TIPS: TableDefinition<u64, u64> = TableDefinition::new("akari_epoch_tips");

/// The tables of one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpochTable {
    /// Versions of each resource's contribution (keys: see [`super::keys`]).
    Items,
    /// Versions that died, keyed by the generation they died in (for retention).
    Graves,
    /// `(type, id hash)` → where the newest version lives.
    Owner,
    /// Keyed hashes of patient identifiers → patient keys.
    Idents,
    /// Chunks of the search-index blobs (see [`super::index_blob`]).
    Index,
}

impl EpochTable {
    pub(crate) const ALL: [EpochTable; 5] = [
        EpochTable::Items,
        EpochTable::Graves,
        EpochTable::Owner,
        EpochTable::Idents,
        EpochTable::Index,
    ];

    /// This table of `epoch`.
    pub(crate) fn of(self, epoch: u64) -> TableName {
        let what = match self {
            EpochTable::Items => "items",
            EpochTable::Graves => "graves",
            EpochTable::Owner => "owner",
            EpochTable::Idents => "idents",
            EpochTable::Index => "index",
        };
        TableName(format!("e{epoch}.{what}"))
    }
}

/// The name of one epoch's table; a redb definition borrows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName(String);

impl TableName {
    pub(crate) fn def(&self) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
        TableDefinition::new(&self.0)
    }
}
