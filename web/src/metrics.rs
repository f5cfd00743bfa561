//! Request metrics in Prometheus text format, served on the separate metrics listener.
//!
//! Counters are labelled by method, route template and status; never by raw path, so the
//! label set stays small and carries no identifiers. Kept in [`HttpMetrics`] (not a
//! process-wide recorder) so that several nodes can run in one test process.

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

/// Request counters and durations of the HTTPS listener, and the node's alerts.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<RequestKey, RequestStats>>,
    in_flight: AtomicI64,
    /// The node's status (alerts, snapshot generation), when given.
    node: Mutex<Option<tokio::sync::watch::Receiver<crate::NodeStatus>>>,
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
}
