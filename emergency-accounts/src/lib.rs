//! akari-accounts: who may get in, when, and what they did. Sealed emergency accounts,
//! admin accounts, modes, sessions, and the audit ledger that records every decision and
//! every read of patient data. Knows nothing of HTTP, templates or the snapshot's types:
//! patients are named by opaque keys.

pub mod event;
pub mod ledger;
pub mod review;

/// Configuration owned by this crate: the `[accounts]` section of `akari.toml`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {}
