//! FHIR REST: type-level search with `_lastUpdated` and `_count` paging through
//! `Bundle.link[next]` (a cursor per search), and type-level `_history` (newest first,
//! deletions as DELETE entries).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset};

use super::state::{instant, new_id, now_jst, outcome, Shared};

/// `<prefix><instant>` in `_lastUpdated` / `_since`.
fn parse_date_param(v: &str) -> Option<(String, DateTime<FixedOffset>)> {
    let (prefix, rest) = match v.get(..2) {
        Some(p @ ("gt" | "ge" | "lt" | "le" | "eq")) => (p.to_string(), &v[2..]),
        _ => ("ge".to_string(), v),
    };
    DateTime::parse_from_rfc3339(rest).ok().map(|t| (prefix, t))
}

fn matches_date(prefix: &str, t: &DateTime<FixedOffset>, bound: &DateTime<FixedOffset>) -> bool {
    match prefix {
        "gt" => t > bound,
        "lt" => t < bound,
        "le" => t <= bound,
        "eq" => t == bound,
        _ => t >= bound,
    }
}

fn searchset(
    shared: &Shared,
    self_url: &str,
    next: Option<String>,
    total: usize,
    entries: &[Vec<u8>],
    kind: &str,
) -> Response {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 64).sum::<usize>() + 512);
    out.extend_from_slice(b"{\"resourceType\":\"Bundle\",\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"meta\":{\"lastUpdated\":\"");
    out.extend_from_slice(instant(&now_jst()).as_bytes());
    out.extend_from_slice(b"\"},\"total\":");
    out.extend_from_slice(total.to_string().as_bytes());
    out.extend_from_slice(b",\"link\":[");
    out.extend_from_slice(
        serde_json::json!({"relation": "self", "url": self_url})
            .to_string()
            .as_bytes(),
    );
    if let Some(n) = next {
        out.push(b',');
        out.extend_from_slice(
            serde_json::json!({"relation": "next", "url": n})
                .to_string()
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"],\"entry\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(b"]}");
    let _ = shared;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        out,
    )
        .into_response()
}

fn page(
    shared: &Shared,
    path: &str,
    params: &HashMap<String, String>,
    build: impl FnOnce() -> Result<Vec<Vec<u8>>, Box<Response>>,
    kind: &str,
) -> Response {
    let count: usize = params
        .get("_count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let (cursor, list) = match params.get("_cursor") {
        Some(c) => match shared
            .cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(c)
        {
            Some(l) => (c.clone(), l.clone()),
            None => return outcome(StatusCode::GONE, "paging cursor expired"),
        },
        None => {
            let list = match build() {
                Ok(l) => Arc::new(l),
                Err(r) => return *r,
            };
            let c = new_id(shared);
            shared
                .cursors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(c.clone(), list.clone());
            (c, list)
        }
    };
    let offset: usize = params
        .get("_offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let end = (offset + count).min(list.len());
    let slice = if offset < list.len() {
        &list[offset..end]
    } else {
        &[][..]
    };
    let url = |off: usize| {
        format!(
            "{}{}?_cursor={cursor}&_offset={off}&_count={count}",
            shared.base.trim_end_matches("/fhir"),
            path
        )
    };
    let next = (end < list.len()).then(|| url(end));
    searchset(shared, &url(offset), next, list.len(), slice, kind)
}

pub(super) async fn search(
    State(shared): State<Arc<Shared>>,
    Path(rtype): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if !rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        return outcome(StatusCode::NOT_FOUND, "unknown resource type");
    }
    let base = &shared.base;
    let path = format!("/fhir/{rtype}");
    page(
        &shared,
        &path,
        &params,
        || {
            let filter = match params.get("_lastUpdated") {
                Some(v) => match parse_date_param(v) {
                    Some(f) => Some(f),
                    None => {
                        return Err(Box::new(outcome(
                            StatusCode::BAD_REQUEST,
                            "bad _lastUpdated",
                        )))
                    }
                },
                None => None,
            };
            let d = shared.data.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = vec![];
            if let Some(m) = d.resources.get(&rtype) {
                for (id, s) in m {
                    if let Some((p, t)) = &filter {
                        if !matches_date(p, &s.last_updated, t) {
                            continue;
                        }
                    }
                    let mut e = Vec::with_capacity(s.json.len() + 96);
                    e.extend_from_slice(b"{\"fullUrl\":\"");
                    e.extend_from_slice(format!("{base}/{rtype}/{id}").as_bytes());
                    e.extend_from_slice(b"\",\"resource\":");
                    e.extend_from_slice(&s.json);
                    e.extend_from_slice(b",\"search\":{\"mode\":\"match\"}}");
                    out.push(e);
                }
            }
            Ok(out)
        },
        "searchset",
    )
}

pub(super) async fn history(
    State(shared): State<Arc<Shared>>,
    Path(rtype): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let path = format!("/fhir/{rtype}/_history");
    page(
        &shared,
        &path,
        &params,
        || {
            let since = match params.get("_since") {
                Some(v) => match DateTime::parse_from_rfc3339(v) {
                    Ok(t) => Some(t),
                    Err(_) => return Err(Box::new(outcome(StatusCode::BAD_REQUEST, "bad _since"))),
                },
                None => None,
            };
            let d = shared.data.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = vec![];
            // Newest first, as FHIR history is.
            for h in d.history.iter().rev() {
                if h.resource_type != rtype || since.is_some_and(|s| h.at < s) {
                    continue;
                }
                let url = format!("{}/{}", h.resource_type, h.id);
                let e = match &h.json {
                    Some(j) => {
                        let mut e = Vec::with_capacity(j.len() + 128);
                        e.extend_from_slice(b"{\"resource\":");
                        e.extend_from_slice(j);
                        let request = serde_json::json!({"method": "PUT", "url": url});
                        e.extend_from_slice(format!(",\"request\":{request}}}").as_bytes());
                        e
                    }
                    None => serde_json::to_vec(&serde_json::json!({
                        "request": {"method": "DELETE", "url": url},
                        "response": {"status": "204", "lastModified": instant(&h.at)}
                    }))
                    .unwrap_or_default(),
                };
                out.push(e);
            }
            Ok(out)
        },
        "history",
    )
}
