//! Where resources come from: FHIR REST search, Bulk Data `$export`, or a directory of
//! NDJSON files. A source only moves bytes; mapping into the minimal record happens in
//! the sync engine, so every source shares one validation path.

use chrono::{DateTime, Utc};

/// What the engine asks a source for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullKind {
    /// Everything in scope; the new generation is built from scratch.
    Full,
    /// Changes since this high-water mark (the source subtracts its own overlap).
    Since(DateTime<Utc>),
}

/// One change as delivered by a source.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A resource as JSON bytes (one NDJSON line or one Bundle entry's `resource`).
    Upsert(Vec<u8>),
    /// The source says this resource no longer exists (history DELETE, Bulk `deleted`).
    Delete {
        resource_type: String,
        id: String,
    },
}
