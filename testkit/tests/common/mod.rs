//! Helpers shared by the source and end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;

use akari_sync::engine::CancellationToken;
use akari_sync::source::{Change, Config, PullKind, PullSummary, Source, SourceError, SourceKind};
use akari_testkit::synth::{DeltaChange, Hospital, SynthConfig};

pub fn hospital(n: u64, seed: u64) -> Hospital {
    Hospital::generate(SynthConfig {
        patients: n,
        seed,
        ..SynthConfig::default()
    })
}

/// Run one pull and keep everything it delivered.
pub fn collect(
    src: &dyn Source,
    kind: PullKind,
) -> Result<(Vec<Change>, PullSummary), SourceError> {
    let mut out = Vec::new();
    let summary = src.pull(kind, &CancellationToken::new(), &mut |c| {
        out.push(c);
        Ok(())
    })?;
    Ok((out, summary))
}

/// (type, id) of each upsert, by parsing the delivered JSON.
pub fn upsert_keys(changes: &[Change]) -> Vec<(String, String)> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(b) => {
                let v: serde_json::Value = serde_json::from_slice(b).ok()?;
                Some((
                    v["resourceType"].as_str()?.to_string(),
                    v["id"].as_str()?.to_string(),
                ))
            }
            _ => None,
        })
        .collect()
}

pub fn delete_keys(changes: &[Change]) -> Vec<(String, String)> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Delete { resource_type, id } => Some((resource_type.clone(), id.clone())),
            _ => None,
        })
        .collect()
}

/// (type, id) of a resource.
pub type Key = (String, String);

pub fn delta_keys(changes: &[DeltaChange]) -> (Vec<Key>, Vec<Key>) {
    let mut up = vec![];
    let mut del = vec![];
    for c in changes {
        match c {
            DeltaChange::Upsert(r) => up.push((r.resource_type.to_string(), r.id.clone())),
            DeltaChange::Delete { resource_type, id } => {
                del.push((resource_type.to_string(), id.clone()))
            }
        }
    }
    up.sort();
    del.sort();
    (up, del)
}

/// A source config for `base_url` with fast retries (tests must not wait long).
pub fn http_config(kind: SourceKind, base_url: &str) -> Config {
    Config {
        kind,
        base_url: Some(base_url.to_string()),
        page_size: 50,
        backoff_initial_ms: 20,
        backoff_max_secs: 2,
        max_attempts: 4,
        retry_budget: 8,
        timeout_secs: 10,
        ..Config::default()
    }
}

/// Write `content` to a file in `dir`, returning its path.
pub fn write(dir: &std::path::Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write test file");
    p
}
