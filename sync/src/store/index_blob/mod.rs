//! The search index at rest: one blob per generation build, not one row per entry.
//!
//! Unlocking must turn the stored index into a searchable one in well under 2 s at 1M
//! patients. Reading, opening and decoding 1.3 M individually sealed rows and
//! then normalising every name costs ~6 µs per entry; so the builder, which sees the
//! plaintext entries while it maps them anyway, computes everything the in-memory index
//! needs and stores it in a form that loads with a decrypt and no per-entry work:
//!
//! * A **full sync** (a new epoch) writes the epoch's *base blob*: every Patient entry
//!   sorted by patient key (fixed-width records), every Location entry sorted by patient,
//!   the winning location of each patient, the normalised name keys (full and given name,
//!   kanji and kana: [`crate::text::name_keys`]), the normalised hospital IDs and the birth
//!   dates as sorted arrays, and one string arena. The reader keeps the decrypted bytes as
//!   they are and searches them in place (binary search on the sorted arrays).
//! * An **incremental sync** writes a small *delta blob* for its generation (nothing if no
//!   entry changed): the entries it wrote and the inherited entries it ended, by resource
//!   (type, id hash) and patient key. The builder knows both without reading stored
//!   content: upserts are what it writes, and a version's header says whether the
//!   resource has an index entry ([`super::keys::KIND_INDEXED`]), so ending the version
//!   ends the entry. The index of generation `G` is the base of its epoch plus the
//!   epoch's deltas up to `G`; a reader that holds generation `G` applies only the deltas
//!   after it (cost ∝ delta).
//!
//! # Storage
//!
//! Table `e<epoch>.index`, key `generation(8, BE) ‖ chunk(4, BE)`, value
//! `SHA-256 of the stored content(32) ‖ kind(1: base 1, delta 2) ‖ last chunk(1) ‖
//! content`. A blob is cut in chunks of [`CHUNK`] bytes of plaintext; in an encrypted
//! store each chunk is sealed like a record value ([`crate::crypto::Sealer`], the build's
//! data key) with `space = 3`, `rtype = kind` and the chunk index, last-chunk flag and
//! generation in the place, so a chunk cannot be reordered, moved to another blob or
//! truncated away unnoticed (as in age's STREAM). Chunks are opened on two threads.
//!
//! Each manifest carries `index_chain`: a SHA-256 chain over the row headers of every
//! blob its index is made of (over ciphertext hashes: no secret needed). Verify checks
//! each chunk's hash and the chain; the reader checks the chain before it trusts what it
//! loads, so a damaged, missing or extra blob is found like a damaged record. A rollback
//! copies the rows byte for byte (no decryption) into the new epoch. Retention drops the
//! table with its epoch; inside a live epoch every delta is still needed.
//!
//! # Modules
//!
//! [`accumulate`] collects a build's index changes; [`format`] lays out (and searches in
//! place) the base and delta blobs; [`chunks`] stores a blob as chunk rows (sealed in an
//! encrypted store), chains them, loads and verifies them.

mod accumulate;
mod chunks;
mod format;
#[cfg(test)]
mod tests;

pub use accumulate::Entry;
pub(crate) use accumulate::{zeroize_entry, Accumulator, BaseEntry};
pub(crate) use chunks::check_written;
#[cfg(feature = "test-hooks")]
pub use chunks::corrupt_blob_for_test;
pub use chunks::{IndexBlobs, CHUNK};
pub(crate) use format::{start_key, Base, Delta};
