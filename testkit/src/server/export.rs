//! Bulk Data `$export` (system and Group level): async kick-off, status polling with
//! `Retry-After`, NDJSON outputs streamed in chunks, deletions since `_since`, and
//! optionally malformed lines for the engine to reject.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset};

use super::state::{instant, new_id, now_jst, outcome, Data, Shared};
use super::{FhirServer, ServerAuth};
use crate::synth;

#[derive(Debug)]
pub(super) struct BulkJob {
    pub(super) transaction_time: String,
    pub(super) request: String,
    pub(super) polls_left: u32,
    /// (type, NDJSON bytes)
    pub(super) files: Vec<(String, Arc<Vec<u8>>)>,
    pub(super) deleted: Arc<Vec<u8>>,
}

/// The patient a resource belongs to (for Group exports).
fn patient_of(resource_type: &str, id: &str, json: &[u8]) -> Option<String> {
    if resource_type == "Patient" {
        return Some(id.to_string());
    }
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let r = v
        .get("subject")
        .or_else(|| v.get("patient"))?
        .get("reference")?
        .as_str()?;
    r.strip_prefix("Patient/").map(|s| s.to_string())
}

impl FhirServer {
    /// Define a Group for Group-level export.
    pub fn set_group(&self, id: &str, patient_ids: impl IntoIterator<Item = String>) {
        self.shared
            .data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .groups
            .insert(id.to_string(), patient_ids.into_iter().collect());
    }
    /// Bulk outputs get this many malformed lines each (from the next export on).
    pub fn set_malformed_ndjson_lines(&self, n: u32) {
        self.shared.malformed_lines.store(n, Ordering::SeqCst);
    }
}

fn kickoff(
    shared: &Shared,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    group: Option<&str>,
    request: String,
) -> Response {
    let filter = match ExportFilter::parse(headers, params) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let transaction_time = now_jst();
    let d = shared.data.lock().unwrap_or_else(|e| e.into_inner());
    let members = match group {
        Some(g) => match d.groups.get(g) {
            Some(m) => Some(m.clone()),
            None => return outcome(StatusCode::NOT_FOUND, "unknown Group"),
        },
        None => None,
    };
    let bad = shared.malformed_lines.load(Ordering::SeqCst);
    let files = filter.files(&d, members.as_ref(), bad);
    let deleted = filter.deletions(&d);
    drop(d);
    let job = new_id(shared);
    shared
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            job.clone(),
            BulkJob {
                transaction_time: instant(&transaction_time),
                request,
                polls_left: shared.opts.bulk_polls_before_ready,
                files,
                deleted: Arc::new(deleted),
            },
        );
    let loc = format!(
        "{}/bulk-status/{job}",
        shared.base.trim_end_matches("/fhir")
    );
    let mut r = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    r
}

/// What a kick-off asks for: resources changed since `_since`, of the `_type`s.
struct ExportFilter {
    since: Option<DateTime<FixedOffset>>,
    types: Option<HashSet<String>>,
}

impl ExportFilter {
    /// The kick-off's parameters; an invalid request gets its OperationOutcome.
    fn parse(
        headers: &HeaderMap,
        params: &HashMap<String, String>,
    ) -> Result<ExportFilter, Box<Response>> {
        let prefer = headers
            .get("prefer")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !prefer.contains("respond-async") {
            return Err(Box::new(outcome(
                StatusCode::BAD_REQUEST,
                "Prefer: respond-async is required",
            )));
        }
        if let Some(f) = params.get("_outputFormat") {
            if !matches!(
                f.as_str(),
                "application/fhir+ndjson" | "application/ndjson" | "ndjson"
            ) {
                return Err(Box::new(outcome(
                    StatusCode::BAD_REQUEST,
                    "unsupported _outputFormat",
                )));
            }
        }
        let since = match params.get("_since") {
            Some(v) => match DateTime::parse_from_rfc3339(v) {
                Ok(t) => Some(t),
                Err(_) => return Err(Box::new(outcome(StatusCode::BAD_REQUEST, "bad _since"))),
            },
            None => None,
        };
        let types = params
            .get("_type")
            .map(|t| t.split(',').map(|s| s.trim().to_string()).collect());
        Ok(ExportFilter { since, types })
    }

    /// One NDJSON output per type (of the Group's patients, if given); with `bad`, each
    /// output gets that many malformed lines after its second resource.
    fn files(
        &self,
        d: &Data,
        members: Option<&HashSet<String>>,
        bad: u32,
    ) -> Vec<(String, Arc<Vec<u8>>)> {
        let mut files = vec![];
        for (rtype, m) in &d.resources {
            if self.types.as_ref().is_some_and(|t| !t.contains(rtype)) {
                continue;
            }
            let mut buf = Vec::new();
            let mut n = 0u64;
            for (id, s) in m {
                if self.since.is_some_and(|t| s.last_updated < t) {
                    continue;
                }
                if let Some(members) = members {
                    match patient_of(rtype, id, &s.json) {
                        Some(p) if members.contains(&p) => {}
                        _ => continue,
                    }
                }
                buf.extend_from_slice(&s.json);
                buf.push(b'\n');
                n += 1;
                if bad > 0 && n == 2 {
                    for _ in 0..bad {
                        buf.extend_from_slice(
                            b"{\"resourceType\":\"Observation\",\"id\":\"broken\n",
                        );
                    }
                }
            }
            if !buf.is_empty() {
                files.push((rtype.clone(), Arc::new(buf)));
            }
        }
        files
    }

    /// The deletions since `_since` (none without it), as Bulk-style deletion Bundles.
    fn deletions(&self, d: &Data) -> Vec<u8> {
        let mut deleted = Vec::new();
        if let Some(t) = self.since {
            for h in &d.history {
                if h.json.is_none()
                    && h.at >= t
                    && self
                        .types
                        .as_ref()
                        .is_none_or(|ty| ty.contains(&h.resource_type))
                {
                    deleted.extend_from_slice(&synth::deletion_bundle(
                        &h.resource_type,
                        &h.id,
                        h.at,
                    ));
                    deleted.push(b'\n');
                }
            }
        }
        deleted
    }
}

pub(super) async fn export_system(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let req = format!("{}/$export", shared.base);
    kickoff(&shared, &headers, &params, None, req)
}

pub(super) async fn export_group(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let req = format!("{}/Group/{id}/$export", shared.base);
    kickoff(&shared, &headers, &params, Some(&id), req)
}

pub(super) async fn bulk_status(
    State(shared): State<Arc<Shared>>,
    Path(job): Path<String>,
) -> Response {
    let mut jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
    let Some(j) = jobs.get_mut(&job) else {
        return outcome(StatusCode::NOT_FOUND, "unknown export job");
    };
    if j.polls_left > 0 {
        j.polls_left -= 1;
        let mut r = StatusCode::ACCEPTED.into_response();
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(shared.opts.bulk_retry_after_secs),
        );
        r.headers_mut()
            .insert("x-progress", HeaderValue::from_static("in progress"));
        return r;
    }
    let origin = shared.base.trim_end_matches("/fhir").to_string();
    let output: Vec<_> = j
        .files
        .iter()
        .map(|(t, _)| serde_json::json!({"type": t, "url": format!("{origin}/bulk-files/{job}/{t}.ndjson")}))
        .collect();
    let deleted: Vec<_> = if j.deleted.is_empty() || shared.opts.bulk_omit_deleted {
        vec![]
    } else {
        vec![
            serde_json::json!({"type": "Bundle", "url": format!("{origin}/bulk-files/{job}/deleted.ndjson")}),
        ]
    };
    let manifest = serde_json::json!({
        "transactionTime": j.transaction_time,
        "request": j.request,
        "requiresAccessToken": !matches!(shared.opts.auth, ServerAuth::None),
        "output": output,
        "deleted": deleted,
        "error": []
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        manifest.to_string(),
    )
        .into_response()
}

pub(super) async fn bulk_delete(
    State(shared): State<Arc<Shared>>,
    Path(job): Path<String>,
) -> Response {
    shared
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&job);
    StatusCode::ACCEPTED.into_response()
}

pub(super) async fn bulk_file(
    State(shared): State<Arc<Shared>>,
    Path((job, file)): Path<(String, String)>,
) -> Response {
    let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
    let Some(j) = jobs.get(&job) else {
        return outcome(StatusCode::NOT_FOUND, "unknown export job");
    };
    let name = file.trim_end_matches(".ndjson");
    let bytes = if name == "deleted" {
        Some(j.deleted.clone())
    } else {
        j.files
            .iter()
            .find(|(t, _)| t == name)
            .map(|(_, b)| b.clone())
    };
    drop(jobs);
    match bytes {
        None => outcome(StatusCode::NOT_FOUND, "no such file"),
        Some(b) => {
            // Stream in 64 KiB chunks, as a real server would.
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = b
                .chunks(64 * 1024)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/fhir+ndjson")],
                Body::from_stream(futures_util::stream::iter(chunks)),
            )
                .into_response()
        }
    }
}
