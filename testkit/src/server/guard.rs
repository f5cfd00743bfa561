//! What every data request passes: it is recorded, its credentials are checked, and an
//! injected fault (error status, slow answer, redirect, dropped body) may replace it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;

use super::state::{outcome, Shared};
use super::{FhirServer, ServerAuth};

/// A fault to inject into upcoming requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds, if given) instead.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Send the first half of the body, then drop the connection.
    DropMidBody,
    /// Wait this long before answering.
    Slow(Duration),
    /// Redirect (307) to the same path and query on another server.
    RedirectTo(String),
}

#[derive(Debug, Clone)]
pub(super) struct FaultRule {
    /// Only requests whose path contains this (None: every data request).
    pub(super) path_contains: Option<String>,
    pub(super) fault: Fault,
    pub(super) remaining: u64,
}

/// One request as the server saw it (for assertions: which credentials arrived where).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub prefer: Option<String>,
}

impl FhirServer {
    /// Inject `fault` into the next `times` data requests whose path contains
    /// `path_contains` (None: any data request).
    pub fn inject(&self, path_contains: Option<&str>, fault: Fault, times: u64) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(FaultRule {
                path_contains: path_contains.map(|s| s.to_string()),
                fault,
                remaining: times,
            });
    }

    pub fn clear_faults(&self) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn clear_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn record(shared: &Shared, req: &Request) {
    let h = req.headers();
    let get = |n: header::HeaderName| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_string())
    };
    shared
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(RecordedRequest {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().unwrap_or("").to_string(),
            authorization: get(header::AUTHORIZATION),
            prefer: h
                .get("prefer")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.to_string()),
        });
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match &shared.opts.auth {
        ServerAuth::None => true,
        ServerAuth::Bearer(t) => auth.strip_prefix("Bearer ") == Some(t.as_str()),
        ServerAuth::Basic { username, password } => {
            let want =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            auth.strip_prefix("Basic ") == Some(want.as_str())
        }
        ServerAuth::Smart { .. } => match auth.strip_prefix("Bearer ") {
            Some(t) => shared
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(t)
                .is_some_and(|exp| *exp > Utc::now()),
            None => false,
        },
    }
}

fn take_fault(shared: &Shared, path: &str) -> Option<Fault> {
    let mut q = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
    let idx = q.iter().position(|r| {
        r.remaining > 0 && r.path_contains.as_deref().is_none_or(|p| path.contains(p))
    })?;
    let rule = &mut q[idx];
    rule.remaining -= 1;
    let f = rule.fault.clone();
    if rule.remaining == 0 {
        q.remove(idx);
    }
    Some(f)
}

pub(super) async fn guard(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    record(&shared, &req);
    if !authorized(&shared, req.headers()) {
        let mut r = outcome(StatusCode::UNAUTHORIZED, "authentication required");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    with_faults(&shared, req, next).await
}

/// The token endpoint: faults apply (path `/auth/token`), no bearer check.
pub(super) async fn token_faults(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    with_faults(&shared, req, next).await
}

async fn with_faults(shared: &Shared, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    match take_fault(shared, &path) {
        None => next.run(req).await,
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let mut r = outcome(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "injected fault",
            );
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            r
        }
        Some(Fault::Slow(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::RedirectTo(other)) => {
            let target = format!("{}{}", other.trim_end_matches('/'), path_and_query);
            let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Some(Fault::DropMidBody) => {
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            let stream = futures_util::stream::iter(vec![
                Ok::<_, std::io::Error>(half),
                Err(std::io::Error::other("injected connection drop")),
            ]);
            let mut parts = parts;
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}
