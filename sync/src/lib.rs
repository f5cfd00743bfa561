//! akari-sync: pulls a minimal, read-only FHIR R4 snapshot from the main EHR into
//! immutable, verified generations, and reads the current generation back for the web
//! layer. Knows nothing of HTTP serving, accounts or the audit ledger.

pub mod engine;
pub mod fhir;
pub mod mapping;
pub mod model;
pub mod source;
pub mod text;

/// Configuration owned by this crate: the `[sync]` section of `akari.toml`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {}
