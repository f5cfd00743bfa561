//! Where resources come from: FHIR REST search, Bulk Data `$export`, or a directory of
//! NDJSON files. A source only moves bytes; mapping into the minimal record happens in
//! the sync engine, so every source shares one validation path.
//!
//! The `[sync.source]` configuration is [`Config`]; [`build`] turns it into a
//! [`Source`](crate::engine::Source) the engine can pull from.

mod auth;
mod bulk;
mod http;
mod ndjson_dir;
mod rest;
pub mod ssmix2;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::engine::{PullSummary, SinkStopped, Source, SourceError};
pub use auth::SmartAlgorithm;
pub use bulk::BulkSource;
pub use ndjson_dir::NdjsonDirSource;
pub use rest::RestSource;
pub use ssmix2::Ssmix2Source;

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
    Delete { resource_type: String, id: String },
}

/// Resource types pulled when the configuration names none.
pub const DEFAULT_TYPES: &[&str] = &[
    "Patient",
    "AllergyIntolerance",
    "Condition",
    "Observation",
    "MedicationRequest",
    "Medication",
    "MedicationAdministration",
    "Flag",
    "Location",
    "Encounter",
    "Practitioner",
    "PractitionerRole",
    "CareTeam",
    "Composition",
    "DocumentReference",
    "DiagnosticReport",
    "ServiceRequest",
    "Immunization",
];

/// Where a Bulk source's incremental pulls learn deletions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BulkDeletions {
    /// The export manifest's `deleted` files.
    #[default]
    Manifest,
    /// `<Type>/_history?_since=` (FHIR REST history), as the REST source does.
    History,
}

/// Which kind of source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// FHIR R4 REST search per resource type, paged, incremental by `_lastUpdated`.
    #[default]
    FhirRest,
    /// FHIR Bulk Data `$export` (system level, or Group level with `group_id`).
    Bulk,
    /// A directory of NDJSON files (removable media).
    NdjsonDir,
    /// SS-MIX2 standardized storage (HL7 v2.5 files in the standard folder tree).
    #[serde(rename = "ss-mix2")]
    SsMix2,
}

/// How the HTTP sources authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    #[default]
    None,
    /// `Authorization: Bearer <token>`, the token read from `token_file`.
    Bearer,
    /// HTTP basic with `username` and the password read from `password_file`.
    Basic,
    /// Mutual TLS: `tls.client_cert_file` and `tls.client_key_file` are presented.
    Mtls,
    /// SMART Backend Services: client-credentials grant with a signed JWT assertion.
    Smart,
}

/// `[sync.source.auth]`. Secrets are never written here, only paths to files holding them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub kind: AuthKind,
    /// Bearer: file holding the token (surrounding whitespace is ignored).
    pub token_file: Option<PathBuf>,
    /// Basic: user name.
    pub username: Option<String>,
    /// Basic: file holding the password.
    pub password_file: Option<PathBuf>,
    /// SMART: the client id registered with the EHR.
    pub client_id: Option<String>,
    /// SMART: PEM private key (PKCS#8, RSA or P-384) the assertion is signed with.
    pub private_key_file: Option<PathBuf>,
    /// SMART: RS384 (default) or ES384.
    pub algorithm: Option<SmartAlgorithm>,
    /// SMART: `kid` header of the assertion (the key's id in the registered JWKS).
    pub key_id: Option<String>,
    /// SMART: token endpoint; discovered from `.well-known/smart-configuration` if absent.
    pub token_url: Option<String>,
    /// SMART: requested scope (default `system/*.read`).
    pub scope: Option<String>,
}

/// `[sync.source.tls]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Extra trusted CA certificates (PEM), e.g. the hospital's internal CA.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS.
    pub client_cert_file: Option<PathBuf>,
    /// Its private key (PEM, PKCS#8 / RSA / SEC1).
    pub client_key_file: Option<PathBuf>,
}

/// `[sync.source]`: where the node pulls from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kind: SourceKind,
    /// FHIR base URL (REST and Bulk), e.g. `https://ehr.example/fhir`.
    pub base_url: Option<String>,
    /// Directory of `*.ndjson` files (NDJSON source).
    pub dir: Option<PathBuf>,
    /// SS-MIX2: root of the standard storage (mounted read-only).
    pub root: Option<PathBuf>,
    /// SS-MIX2: root of the extended storage (vital signs), if any.
    pub extended_root: Option<PathBuf>,
    /// SS-MIX2: the standard storage's transaction storage, for incremental pulls that
    /// read only what was journaled since the last one.
    pub transaction_dir: Option<PathBuf>,
    /// SS-MIX2: the extended storage's transaction storage.
    pub extended_transaction_dir: Option<PathBuf>,
    /// SS-MIX2: the 10-digit institution code (医療機関コード) for the JP Core hospital
    /// patient ID system.
    pub institution: Option<String>,
    /// SS-MIX2: threads reading and converting files (default: one per core, at least 8
    /// and at most 16).
    pub read_threads: usize,
    /// Resource types to pull (default [`DEFAULT_TYPES`]).
    pub types: Vec<String>,
    /// Bulk: export only this Group's patients (`Group/<id>/$export`); else system level.
    pub group_id: Option<String>,
    /// REST: `_count` per page (default 500).
    pub page_size: u32,
    /// REST: also read `<Type>/_history?_since=` in incremental pulls to learn deletions
    /// (default true; turn off for servers without history — deletions then arrive only
    /// with the next full sync, and the sync report and admin pages say so).
    pub history_deletions: bool,
    /// Bulk: where incremental pulls learn deletions: the export manifest's `deleted`
    /// files (`"manifest"`, the default: when an incremental export lists none, the node
    /// cannot tell "none" from "not reported", and says that deletions wait for the next
    /// full pull), or `<Type>/_history?_since=` as the REST source reads it
    /// (`"history"`, for servers whose manifest does not report deletions).
    pub bulk_deletions: BulkDeletions,
    /// Seconds to wait for a connection (default 10).
    pub connect_timeout_secs: u64,
    /// Seconds without progress on one request before it is abandoned (default 60).
    pub timeout_secs: u64,
    /// Attempts per request, including the first (default 5).
    pub max_attempts: u32,
    /// Retries allowed in one pull over all requests (default 30); past it the pull fails.
    pub retry_budget: u32,
    /// First backoff in milliseconds; doubles per attempt (default 500).
    pub backoff_initial_ms: u64,
    /// Longest single wait, also caps `Retry-After` (default 60 s).
    pub backoff_max_secs: u64,
    /// Bulk: give up on an export that is not ready after this many seconds (default 3600).
    pub export_timeout_secs: u64,
    /// Allow plain `http://` to a host that is not this machine (default false). Plain HTTP
    /// carries patient data and credentials unencrypted: set it only for a source reached
    /// over a network you trust end to end (a dedicated cable, an IPsec tunnel). `https://`
    /// and `http://` to a loopback address or `localhost` need no setting.
    pub allow_plain_http: bool,
    pub auth: AuthConfig,
    pub tls: TlsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kind: SourceKind::FhirRest,
            base_url: None,
            dir: None,
            root: None,
            extended_root: None,
            transaction_dir: None,
            extended_transaction_dir: None,
            institution: None,
            read_threads: ssmix2::default_threads(),
            types: Vec::new(),
            group_id: None,
            page_size: 500,
            history_deletions: true,
            bulk_deletions: BulkDeletions::Manifest,
            connect_timeout_secs: 10,
            timeout_secs: 60,
            max_attempts: 5,
            retry_budget: 30,
            backoff_initial_ms: 500,
            backoff_max_secs: 60,
            export_timeout_secs: 3600,
            allow_plain_http: false,
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

impl Config {
    /// Rules `config check` applies to `[sync.source]`: `Err((key within [sync], what is
    /// wrong and what to do))`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !matches!(self.kind, SourceKind::FhirRest | SourceKind::Bulk) {
            return Ok(());
        }
        let urls = [
            ("source.base_url", self.base_url.as_deref()),
            ("source.auth.token_url", self.auth.token_url.as_deref()),
        ];
        for (key, url) in urls {
            let Some(url) = url else { continue };
            // A URL that does not parse is reported when the source is built.
            if let Ok(url) = reqwest::Url::parse(url) {
                http::refuse_plain_http(&url, self.allow_plain_http).map_err(|m| (key, m))?;
            }
        }
        Ok(())
    }

    /// The resource types to pull.
    pub fn types(&self) -> Vec<String> {
        if self.types.is_empty() {
            DEFAULT_TYPES.iter().map(|s| s.to_string()).collect()
        } else {
            self.types.clone()
        }
    }
}

/// Build the configured source. Reads secrets and key files now, so a bad path or key is
/// reported at start-up rather than at the first sync.
pub fn build(config: &Config) -> Result<Arc<dyn Source>, SourceError> {
    Ok(match config.kind {
        SourceKind::NdjsonDir => {
            let dir = config.dir.clone().ok_or_else(|| {
                SourceError::Config(
                    "kind = \"ndjson-dir\" needs `dir`, the directory holding the .ndjson files"
                        .into(),
                )
            })?;
            Arc::new(NdjsonDirSource::new(dir))
        }
        SourceKind::SsMix2 => {
            let root = config.root.clone().ok_or_else(|| {
                SourceError::Config(
                    "kind = \"ss-mix2\" needs `root`, the SS-MIX2 standard storage folder".into(),
                )
            })?;
            if let Some(code) = &config.institution {
                if code.len() != 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SourceError::Config(
                        "`institution` must be the 10-digit institution code (医療機関コード)"
                            .into(),
                    ));
                }
            }
            Arc::new(Ssmix2Source::new(ssmix2::Settings {
                root,
                extended_root: config.extended_root.clone(),
                transaction_dir: config.transaction_dir.clone(),
                extended_transaction_dir: config.extended_transaction_dir.clone(),
                institution: config.institution.clone().unwrap_or_default(),
                threads: config.read_threads.clamp(1, 16),
            }))
        }
        SourceKind::FhirRest => Arc::new(RestSource::new(config)?),
        SourceKind::Bulk => Arc::new(BulkSource::new(config)?),
    })
}

/// The path of a resource reference such as `Patient/123` or
/// `https://x/fhir/Patient/123/_history/2` → (`Patient`, `123`).
pub(crate) fn split_reference(url: &str) -> Option<(String, String)> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    // Look for "<Type>/<id>" where Type starts with an uppercase letter, preferring the
    // pair before a `_history` segment.
    let hist = segs.iter().position(|s| *s == "_history");
    let end = hist.unwrap_or(segs.len());
    if end < 2 {
        return None;
    }
    let (t, id) = (segs[end - 2], segs[end - 1]);
    if t.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && !id.is_empty() {
        Some((t.to_string(), id.to_string()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_type_and_id() {
        assert_eq!(
            split_reference("Patient/123"),
            Some(("Patient".into(), "123".into()))
        );
        assert_eq!(
            split_reference("https://ehr/fhir/Observation/a-1/_history/3"),
            Some(("Observation".into(), "a-1".into()))
        );
        assert_eq!(split_reference("nonsense"), None);
    }

    #[test]
    fn config_rejects_unknown_keys_and_has_defaults() {
        let c: Config =
            serde_json::from_str(r#"{"kind":"bulk","base_url":"https://x/fhir"}"#).expect("valid");
        assert_eq!(c.kind, SourceKind::Bulk);
        assert_eq!(c.page_size, 500);
        assert_eq!(c.types().len(), DEFAULT_TYPES.len());
        let e = serde_json::from_str::<Config>(r#"{"kind":"bulk","password":"x"}"#)
            .expect_err("unknown key");
        assert!(e.to_string().contains("password"), "{e}");
        let e = serde_json::from_str::<Config>(r#"{"auth":{"kind":"smart","secret":"x"}}"#)
            .expect_err("unknown key");
        assert!(e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn build_reports_missing_settings_clearly() {
        let e = build(&Config {
            kind: SourceKind::NdjsonDir,
            ..Config::default()
        })
        .err()
        .expect("needs dir");
        assert!(e.to_string().contains("dir"), "{e}");
        let e = build(&Config::default()).err().expect("needs base_url");
        assert!(e.to_string().contains("base_url"), "{e}");
    }
}
