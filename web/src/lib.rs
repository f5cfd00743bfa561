//! akari-web: the HTTP face of the node. Thin handlers: extract, call the domain, render.

/// Configuration owned by this crate: the `[web]` section of `akari.toml`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {}
