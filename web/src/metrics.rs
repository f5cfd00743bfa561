//! Request and sync metrics in Prometheus text format, served on the separate metrics
//! listener.
//!
//! Counters are labelled by method, route template and status; never by raw path, so the
//! label set stays small and carries no identifiers. Sync figures (the last sync's
//! warnings by reason and resource type, rejects by reason, whether it was refused) come
//! from the engine's status, labelled by stable reason names and FHIR type names only.
//! Kept in [`HttpMetrics`] (not a process-wide recorder) so that several nodes can run in
//! one test process.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;
use crate::trace::route_of;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Default, Clone, Copy)]
struct RequestStats {
    count: u64,
    seconds_sum: f64,
}

/// Where the sync figures come from: the node's sync engine status.
pub type SyncFigures = Arc<dyn Fn() -> akari_sync::SyncStatus + Send + Sync>;

/// Request counters and durations of the HTTPS listener, the sync figures and the node's
/// alerts.
#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<RequestKey, RequestStats>>,
    in_flight: AtomicI64,
    sync: Option<SyncFigures>,
    /// The node's status (alerts, snapshot generation), when given.
    node: Mutex<Option<tokio::sync::watch::Receiver<crate::NodeStatus>>>,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("in_flight", &self.in_flight)
            .field("sync", &self.sync.is_some())
            .finish()
    }
}

/// Counts a request as in flight until dropped (also when the request is cancelled).
struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HttpMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Also render the sync figures `sync` gives.
    pub fn with_sync(mut self, sync: SyncFigures) -> Self {
        self.sync = Some(sync);
        self
    }

    /// Counts one finished request.
    pub fn record(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let key = RequestKey {
            method: method_label(method),
            route: route.to_owned(),
            status,
        };
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let stats = requests.entry(key).or_default();
        stats.count += 1;
        stats.seconds_sum += seconds;
    }

    /// Also report the node's alerts and snapshot generation from `status`.
    pub fn watch_node(&self, status: tokio::sync::watch::Receiver<crate::NodeStatus>) {
        *self.node.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
    }

    /// Requests being answered right now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// The Prometheus text exposition (format 0.0.4) of everything recorded so far.
    pub fn render(&self) -> String {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut out = String::new();
        out.push_str("# HELP akari_build_info Version of the running node.\n");
        out.push_str("# TYPE akari_build_info gauge\n");
        let _ = writeln!(
            out,
            "akari_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out.push_str("# HELP akari_http_requests_in_flight HTTPS requests being answered now.\n");
        out.push_str("# TYPE akari_http_requests_in_flight gauge\n");
        let _ = writeln!(out, "akari_http_requests_in_flight {}", self.in_flight());
        out.push_str(
            "# HELP akari_http_requests_total HTTPS requests answered, by route template.\n",
        );
        out.push_str("# TYPE akari_http_requests_total counter\n");
        for (key, stats) in &requests {
            let _ = writeln!(
                out,
                "akari_http_requests_total{} {}",
                labels(key),
                stats.count
            );
        }
        out.push_str("# HELP akari_http_request_duration_seconds Time to produce responses.\n");
        out.push_str("# TYPE akari_http_request_duration_seconds summary\n");
        for (key, stats) in &requests {
            let labels = labels(key);
            let _ = writeln!(
                out,
                "akari_http_request_duration_seconds_sum{labels} {}",
                stats.seconds_sum
            );
            let _ = writeln!(
                out,
                "akari_http_request_duration_seconds_count{labels} {}",
                stats.count
            );
        }
        self.render_node(&mut out);
        if let Some(sync) = &self.sync {
            render_sync(&mut out, &sync());
        }
        out
    }

    /// `akari_alert{kind}` (0 or 1 for every kind, so rules can match on the value) and
    /// `akari_snapshot_generation`.
    fn render_node(&self, out: &mut String) {
        let node = self.node.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(status) = node.as_ref().map(|rx| rx.borrow().clone()) else {
            return;
        };
        out.push_str("# HELP akari_alert Alerts for administrators by kind (1: standing).\n");
        out.push_str("# TYPE akari_alert gauge\n");
        for kind in crate::NodeAlert::KINDS {
            let on = status.alerts.iter().any(|a| a.kind == kind);
            let _ = writeln!(out, "akari_alert{{kind=\"{kind}\"}} {}", u8::from(on));
        }
        out.push_str(
            "# HELP akari_snapshot_generation The snapshot generation served (0: none).\n",
        );
        out.push_str("# TYPE akari_snapshot_generation gauge\n");
        let generation = match status.snapshot {
            crate::SnapshotStatus::Current { generation, .. } => generation,
            crate::SnapshotStatus::None => 0,
        };
        let _ = writeln!(out, "akari_snapshot_generation {generation}");
    }
}

/// The sync figures: the last sync's warnings and rejects, the totals since start, and
/// whether the last pull was refused.
fn render_sync(out: &mut String, s: &akari_sync::SyncStatus) {
    let mut metric = |name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    metric(
        "akari_sync_last_success_timestamp_seconds",
        "gauge",
        "When the last sync committed a generation (Unix time).",
    );
    metric(
        "akari_sync_refused",
        "gauge",
        "1 when the last sync was refused for too many rejects (the current generation stays).",
    );
    metric(
        "akari_sync_warnings",
        "gauge",
        "Data-quality warnings on resources kept by the last sync, by reason and FHIR type.",
    );
    metric(
        "akari_sync_rejects",
        "gauge",
        "Resources rejected by the last sync (committed or refused), by reason.",
    );
    metric(
        "akari_sync_warnings_total",
        "counter",
        "Data-quality warnings on kept resources since the node started, by reason.",
    );
    metric(
        "akari_sync_rejects_total",
        "counter",
        "Resources rejected by committed syncs since the node started, by reason.",
    );
    let mut lines = String::new();
    if let Some(t) = s.last_success {
        let _ = writeln!(
            lines,
            "akari_sync_last_success_timestamp_seconds {}",
            t.timestamp()
        );
    }
    let _ = writeln!(
        lines,
        "akari_sync_refused {}",
        u8::from(s.last_refused.is_some())
    );
    let last = s.last_refused.as_ref().or(s.last_report.as_ref());
    if let Some(r) = last {
        for (reason, by_type) in &r.warnings {
            for (rtype, n) in by_type {
                let _ = writeln!(
                    lines,
                    "akari_sync_warnings{{reason=\"{}\",resource_type=\"{}\"}} {n}",
                    escape_label(reason),
                    escape_label(rtype)
                );
            }
        }
        by_reason(&mut lines, "akari_sync_rejects", &r.rejects);
    }
    by_reason(&mut lines, "akari_sync_warnings_total", &s.warnings_total);
    by_reason(&mut lines, "akari_sync_rejects_total", &s.rejects_total);
    out.push_str(&lines);
}

/// One sample of `name` per reason.
fn by_reason(out: &mut String, name: &str, counts: &BTreeMap<String, u64>) {
    for (reason, n) in counts {
        let _ = writeln!(out, "{name}{{reason=\"{}\"}} {n}", escape_label(reason));
    }
}

fn labels(key: &RequestKey) -> String {
    format!(
        "{{method=\"{}\",route=\"{}\",status=\"{}\"}}",
        key.method,
        escape_label(&key.route),
        key.status
    )
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Only standard methods become labels; anything else is `other`, so a client cannot
/// grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware counting every request of the HTTPS router.
pub async fn record_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = route_of(&request).to_owned();
    let started = Instant::now();
    let in_flight = state.metrics.start_request();
    let response = next.run(request).await;
    drop(in_flight);
    state.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics` on the metrics listener.
pub(crate) async fn render(State(metrics): State<Arc<HttpMetrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn requests_are_counted_by_route_template_not_raw_path() {
        let (state, _tx) = AppState::for_tests();
        let metrics = state.metrics.clone();
        let app = crate::router(state);
        for path in ["/healthz", "/healthz", "/patients/12345?q=secret"] {
            let response = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let _ = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        }
        let response = crate::router::metrics_router(metrics)
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let text = String::from_utf8(
            to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(
            text.contains(
                "akari_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "akari_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("akari_http_requests_in_flight 0\n"), "{text}");
        assert!(!text.contains("12345"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn sync_warnings_are_rendered_by_reason_and_resource_type() {
        let mut status = akari_sync::SyncStatus::default();
        let mut report = akari_sync::SyncReport {
            generation: 3,
            full: true,
            unchanged: false,
            started_at: chrono::Utc::now(),
            duration_ms: 1,
            bytes: 0,
            resources: 10,
            deletions: 0,
            upserts: 10,
            removals: 0,
            rejects: BTreeMap::from([("missing_code".to_string(), 1)]),
            reject_types: BTreeMap::new(),
            warnings: BTreeMap::new(),
            warned_resources: 2,
            ignored: BTreeMap::new(),
            dropped: BTreeMap::new(),
            out_of_scope_patients: 0,
            spilled_runs: 0,
            spilled_bytes: 0,
            skipped: 0,
            source_problems: Vec::new(),
            places: 0,
            deletions_pending_full: false,
        };
        report.warnings.insert(
            "profile_violation".into(),
            BTreeMap::from([("Observation".to_string(), 2)]),
        );
        status.last_report = Some(report);
        status.warnings_total.insert("profile_violation".into(), 2);
        let metrics = HttpMetrics::new().with_sync(Arc::new(move || status.clone()));
        let text = metrics.render();
        assert!(
            text.contains(
                "akari_sync_warnings{reason=\"profile_violation\",resource_type=\"Observation\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("akari_sync_rejects{reason=\"missing_code\"} 1"));
        assert!(text.contains("akari_sync_warnings_total{reason=\"profile_violation\"} 2"));
        assert!(text.contains("akari_sync_refused 0"));
    }
}
