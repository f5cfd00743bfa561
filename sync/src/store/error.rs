//! Why a store operation failed: each error says what was wrong and what to do, never
//! patient data.

use super::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The device under the snapshot file failed (I/O error, disk full, an earlier failed
    /// write). The message repeats the source's text: status and pages show only this one.
    #[error("the snapshot storage failed to write or read (disk full or failing?): {}", storage_detail(.0))]
    Storage(#[source] redb::Error),
    /// redb refused an operation (a damaged page, a missing table, a value too large).
    #[error("snapshot database error: {}", database_detail(.0))]
    Database(#[source] redb::Error),
    /// A generation build could not go on: a limit of the snapshot format was exceeded, or
    /// an earlier step of the build failed. No storage error lies behind it.
    #[error("snapshot database error: {0}")]
    Build(String),
    #[error("generation {0} does not exist (it may have been removed by retention); see `akari snapshot list`")]
    NoSuchGeneration(u64),
    #[error("generation {0} is quarantined: it is served only once an administrator promotes it (`akari snapshot promote {0}` or the admin sync page)")]
    Quarantined(u64),
    #[error("generation {0} is not quarantined; to serve an older generation again, roll back to it (`akari snapshot rollback {0}`)")]
    NotQuarantined(u64),
    #[error("the snapshot holds no generation yet: run `akari sync now --full`")]
    Empty,
    #[error("generation {generation} failed verification: {problem}")]
    VerifyFailed { generation: u64, problem: String },
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("retention must keep at least {MIN_KEEP} generations (configured: {0})")]
    KeepTooSmall(usize),
    #[error("the snapshot file was written by a newer Akari (schema {0}); upgrade this node")]
    Schema(u32),
    #[error("the snapshot file was written by an older Akari (schema {0}) whose records this version does not read; move the file (and its second copy) away and run `akari sync now --full`")]
    OldSchema(u32),
    #[error("the snapshot is locked (encrypted at rest): log in with a sealed emergency account or as an admin to unlock it")]
    Locked,
    #[error("the key given does not unlock this snapshot (it is encrypted to key {expected}, the key given is {given}); nothing was decrypted")]
    WrongKey { expected: String, given: String },
    #[error("the snapshot file is encrypted to key {stored}, but this node's public key is {configured}; if the node was re-initialised, move the old snapshot file and its second copy away and run `akari sync now --full`")]
    KeyMismatch { stored: String, configured: String },
    #[error("the snapshot file holds unencrypted generations but encryption is configured; move the file and its second copy away (they hold readable patient data: destroy them securely) and run `akari sync now --full`")]
    Unencrypted,
    #[error("an item prepared without this build's snapshot key was given to an encrypted store (use GenerationBuilder::preparer)")]
    Unsealed,
    #[error("encrypted snapshot data: {0}")]
    Crypto(#[source] CryptoError),
}

impl From<CryptoError> for StoreError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::WrongKey { expected, given } => StoreError::WrongKey { expected, given },
            CryptoError::Open => StoreError::Corrupt(
                "a stored item failed authentication (damaged or tampered)".into(),
            ),
            other => StoreError::Crypto(other),
        }
    }
}

impl StoreError {
    /// True if the error came from the storage device (disk full, I/O error).
    pub fn is_storage(&self) -> bool {
        matches!(self, StoreError::Storage(_))
    }

    /// True if opening failed because the file's bytes are not a readable snapshot file
    /// (zeroed, truncated, overwritten, damaged metadata) — as opposed to a file that is
    /// fine but not for this node (key, schema), locked by another process, or
    /// unreadable for lack of permission.
    pub fn is_damaged_file(&self) -> bool {
        use std::io::ErrorKind;
        let damaged_io = |e: &std::io::Error| {
            matches!(e.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof)
        };
        match self {
            StoreError::Corrupt(_) => true,
            StoreError::Storage(e) | StoreError::Database(e) => match e {
                redb::Error::Corrupted(_) => true,
                redb::Error::Io(io) => damaged_io(io),
                _ => false,
            },
            _ => false,
        }
    }
}

/// The text of a storage failure, as the message shows it.
fn storage_detail(e: &redb::Error) -> String {
    match e {
        redb::Error::Io(io) => io.to_string(),
        redb::Error::PreviousIo => "an earlier write failed; the database must be reopened".into(),
        other => other.to_string(),
    }
}

/// The text of a database error, as the message shows it.
fn database_detail(e: &redb::Error) -> String {
    match e {
        redb::Error::ValueTooLarge(n) => format!("value too large ({n} bytes)"),
        other => other.to_string(),
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                let e: redb::Error = e.into();
                match e {
                    redb::Error::Io(_) | redb::Error::PreviousIo => StoreError::Storage(e),
                    other => StoreError::Database(other),
                }
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);
