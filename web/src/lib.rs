//! akari-web: the HTTP face of the node. Thin handlers: extract, call the domain, render.

pub mod accounts_gate;
pub mod display;
pub mod error;
pub mod gate;
pub mod i18n;
pub mod pages;
pub mod session;
pub mod snapshot;
pub mod viewer;

/// Configuration owned by this crate: the `[web]` section of `akari.toml`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {}
