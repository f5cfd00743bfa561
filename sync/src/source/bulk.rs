//! FHIR Bulk Data `$export` source: kick-off with `Prefer: respond-async` (system level,
//! or Group level with `group_id`), poll the status URL honouring `Retry-After`, then
//! stream each NDJSON output line by line into the engine (never the whole file in
//! memory). `_since` for incremental pulls, `_type` to limit types; the manifest's
//! `deleted` files become [`Change::Delete`]s and its `transactionTime` the high-water mark.
//! Some servers list no deleted files in incremental exports although resources were
//! deleted: with `bulk_deletions = "history"` incremental pulls read deletions from
//! `<Type>/_history?_since=` instead (as the REST source does); otherwise an incremental
//! export listing no deleted files is reported as "deletions wait for the next full pull".

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::CONTENT_LOCATION;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::http::{join, path_of, same_origin, HttpSettings, Req, Session};
use super::ndjson_dir::{deletions_in, MAX_LINE_BYTES};
use super::rest::{fhir_instant, RestSource};
use super::{
    BulkDeletions, Change, Config, PullKind, PullSummary, SinkStopped, Source, SourceError,
};
use crate::engine::CancellationToken;

#[derive(Debug)]
pub struct BulkSource {
    http: HttpSettings,
    types: Vec<String>,
    group_id: Option<String>,
    export_timeout: Duration,
    /// Reads deletions from history when the manifest cannot be trusted for them.
    history: Option<RestSource>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "transactionTime")]
    transaction_time: String,
    #[serde(rename = "requiresAccessToken", default)]
    requires_access_token: bool,
    #[serde(default)]
    output: Vec<OutputFile>,
    #[serde(default)]
    deleted: Vec<OutputFile>,
    #[serde(default)]
    error: Vec<OutputFile>,
}

#[derive(Deserialize)]
struct OutputFile {
    #[serde(rename = "type", default)]
    resource_type: String,
    url: String,
}

/// What to do with each complete line of a downloaded file.
enum LineUse {
    Resources,
    Deletions,
}

impl BulkSource {
    pub fn new(config: &Config) -> Result<BulkSource, SourceError> {
        Ok(BulkSource {
            http: HttpSettings::from_config(config)?,
            types: config.types(),
            group_id: config.group_id.clone(),
            export_timeout: Duration::from_secs(config.export_timeout_secs.max(1)),
            history: match config.bulk_deletions {
                BulkDeletions::History => Some(RestSource::new(config)?),
                BulkDeletions::Manifest => None,
            },
        })
    }

    fn kickoff_url(&self, kind: PullKind) -> Result<Url, SourceError> {
        let path = match &self.group_id {
            Some(g) => format!("Group/{g}/$export"),
            None => "$export".to_string(),
        };
        let mut url = join(&self.http.base, &path)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("_outputFormat", "application/fhir+ndjson");
            q.append_pair("_type", &self.types.join(","));
            if let PullKind::Since(t) = kind {
                q.append_pair("_since", &fhir_instant(t));
            }
        }
        Ok(url)
    }

    async fn wait_for_manifest(
        &self,
        s: &mut Session<'_>,
        status_url: Url,
    ) -> Result<(Manifest, u64), SourceError> {
        let started = Instant::now();
        let mut polls = 0u32;
        loop {
            let (status, headers, body) = s
                .get_bytes(
                    status_url.clone(),
                    Req {
                        accept: "application/json",
                        prefer_async: false,
                    },
                )
                .await?;
            if status == StatusCode::OK {
                let m: Manifest = serde_json::from_slice(&body).map_err(|e| {
                    SourceError::Protocol(format!(
                        "the export manifest is not valid (JSON error at line {} column {})",
                        e.line(),
                        e.column()
                    ))
                })?;
                return Ok((m, body.len() as u64));
            }
            if status != StatusCode::ACCEPTED {
                return Err(SourceError::Protocol(format!(
                    "the export status answered HTTP {} (expected 202 or 200)",
                    status.as_u16()
                )));
            }
            if started.elapsed() > self.export_timeout {
                return Err(SourceError::Protocol(format!(
                    "the export was not ready after {} s (export_timeout_secs)",
                    self.export_timeout.as_secs()
                )));
            }
            polls += 1;
            let wait = super::http::parse_retry_after(&headers)
                // No Retry-After: back off gently, 1 s doubling up to the cap.
                .unwrap_or_else(|| Duration::from_secs(1u64 << polls.min(6)))
                .min(self.http.backoff_max);
            s.sleep(wait).await?;
        }
    }

    /// Stream one NDJSON file into the sink. A connection that breaks mid-file is retried
    /// (within the budget) and the lines already delivered are skipped.
    async fn download(
        &self,
        s: &mut Session<'_>,
        url: Url,
        use_: LineUse,
        summary: &mut PullSummary,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<(), SourceError> {
        let mut delivered_lines = 0u64;
        let mut attempt = 0u32;
        'attempts: loop {
            let mut resp = s
                .get_counting(
                    url.clone(),
                    Req {
                        accept: "application/fhir+ndjson",
                        prefer_async: false,
                    },
                    &mut attempt,
                )
                .await?;
            let mut line_no = 0u64;
            let mut pending: Vec<u8> = Vec::with_capacity(64 * 1024);
            let mut overlong = false;
            loop {
                let chunk = tokio::select! {
                    _ = s.cancel.cancelled() => return Err(SourceError::Cancelled),
                    c = resp.chunk() => c,
                };
                let chunk = match chunk {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => {
                        let err = SourceError::Connection(format!(
                            "download of {} broke off: {}",
                            path_of(&url),
                            super::http::describe(&e)
                        ));
                        s.backoff(&mut attempt, None, err).await?;
                        continue 'attempts;
                    }
                };
                summary.bytes += chunk.len() as u64;
                let mut rest: &[u8] = &chunk;
                while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
                    if !overlong {
                        pending.extend_from_slice(&rest[..pos]);
                    }
                    overlong = false;
                    line_no += 1;
                    if line_no > delivered_lines {
                        self.deliver(&pending, &use_, summary, sink)?;
                        delivered_lines = line_no;
                    }
                    pending.clear();
                    rest = &rest[pos + 1..];
                }
                if !overlong {
                    pending.extend_from_slice(rest);
                    if pending.len() > MAX_LINE_BYTES {
                        // Keep only a prefix; the engine rejects and counts it.
                        pending.truncate(1024);
                        overlong = true;
                    }
                }
            }
            if !pending.is_empty() {
                line_no += 1;
                if line_no > delivered_lines {
                    self.deliver(&pending, &use_, summary, sink)?;
                }
            }
            return Ok(());
        }
    }

    fn deliver(
        &self,
        line: &[u8],
        use_: &LineUse,
        summary: &mut PullSummary,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<(), SourceError> {
        let mut line = line;
        while let Some((&last, rest)) = line.split_last() {
            if last == b'\r' || last.is_ascii_whitespace() {
                line = rest;
            } else {
                break;
            }
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        match use_ {
            LineUse::Resources => {
                summary.resources += 1;
                sink(Change::Upsert(line.to_vec())).map_err(|_| SourceError::Stopped)
            }
            LineUse::Deletions => {
                let changes = deletions_in(line).map_err(|m| {
                    SourceError::Protocol(format!(
                        "{m}; without it deleted resources would stay visible, so the pull stops"
                    ))
                })?;
                for c in changes {
                    summary.deletions += 1;
                    sink(c).map_err(|_| SourceError::Stopped)?;
                }
                Ok(())
            }
        }
    }

    fn file_url(&self, manifest_requires_token: bool, url: &str) -> Result<Url, SourceError> {
        let u = Url::parse(url)
            .or_else(|_| self.http.base.join(url))
            .map_err(|_| {
                SourceError::Protocol("an output file URL in the manifest is not a URL".into())
            })?;
        if manifest_requires_token && !same_origin(&u, &self.http.base) {
            return Err(SourceError::Protocol(
                "an export file on another host requires the access token; refusing to send credentials there"
                    .into(),
            ));
        }
        Ok(u)
    }

    /// Start the export; the status URL to poll.
    async fn kick_off(&self, s: &mut Session<'_>, kind: PullKind) -> Result<Url, SourceError> {
        let kick = self.kickoff_url(kind)?;
        let resp = s
            .get(
                kick.clone(),
                Req {
                    accept: "application/fhir+json",
                    prefer_async: true,
                },
            )
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(SourceError::Protocol(format!(
                "the export kick-off answered HTTP {} instead of 202 Accepted; does the server support Bulk Data $export?",
                resp.status().as_u16()
            )));
        }
        let status_url = resp
            .headers()
            .get(CONTENT_LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| kick.join(l).ok())
            .ok_or_else(|| {
                SourceError::Protocol("the export kick-off gave no Content-Location".into())
            })?;
        drop(resp);
        if !same_origin(&status_url, &self.http.base) {
            return Err(SourceError::Protocol(
                "the export status URL is on another host; refusing to send credentials there"
                    .into(),
            ));
        }
        Ok(status_url)
    }

    async fn run(
        &self,
        kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        let mut s = Session::new(&self.http, cancel)?;
        let mut summary = PullSummary::default();
        let status_url = self.kick_off(&mut s, kind).await?;
        let (manifest, manifest_bytes) = self.wait_for_manifest(&mut s, status_url.clone()).await?;
        summary.bytes += manifest_bytes;
        let tt = DateTime::parse_from_rfc3339(&manifest.transaction_time).map_err(|_| {
            SourceError::Protocol("the manifest's transactionTime is not a FHIR instant".into())
        })?;
        if !manifest.error.is_empty() {
            tracing::warn!(
                files = manifest.error.len(),
                "the export reported errors (OperationOutcome files)"
            );
        }
        match (kind, &self.history) {
            (PullKind::Since(t), Some(rest)) => {
                // Deletions first, so a resource deleted and re-created ends up present.
                let mut hs = Session::new(rest.http(), cancel)?;
                let mut ignored_time = None;
                rest.deletions_since(&mut hs, t, &mut summary, &mut ignored_time, sink)
                    .await?;
            }
            _ => {
                if matches!(kind, PullKind::Since(_)) && manifest.deleted.is_empty() {
                    summary.deletions_unreported = true;
                }
                for f in &manifest.deleted {
                    let u = self.file_url(manifest.requires_access_token, &f.url)?;
                    self.download(&mut s, u, LineUse::Deletions, &mut summary, sink)
                        .await?;
                }
            }
        }
        for f in &manifest.output {
            if !f.resource_type.is_empty() && !self.types.iter().any(|t| t == &f.resource_type) {
                tracing::debug!("skipping an export file of a type not asked for");
                continue;
            }
            let u = self.file_url(manifest.requires_access_token, &f.url)?;
            self.download(&mut s, u, LineUse::Resources, &mut summary, sink)
                .await?;
        }
        // Tell the server it may delete the files (best effort).
        s.delete_best_effort(status_url).await;
        summary.high_water = Some(tt.with_timezone(&Utc));
        Ok(summary)
    }
}

impl Source for BulkSource {
    fn describe(&self) -> String {
        match &self.group_id {
            Some(_) => format!("fhir-bulk group {}", self.http.base),
            None => format!("fhir-bulk {}", self.http.base),
        }
    }

    fn pull(
        &self,
        kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        super::http::block_on(self.run(kind, cancel, sink))
    }
}
