//! akari-web: the HTTP face of the node. Thin handlers: extract, call the domain, render.
//!
//! [`router`] holds every route of the node in one table and wraps them in the layers every
//! response needs (security headers, request tracing by route template, request metrics).

pub mod accounts_gate;
mod assets;
pub mod display;
pub mod downtime_export;
pub mod error;
mod escape;
pub mod gate;
pub mod headers;
pub mod health;
pub mod i18n;
pub mod metrics;
pub mod pages;
pub mod redirect;
pub mod router;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod trace;
pub mod viewer;

pub use health::{NodeAlert, NodeStatus, SnapshotStatus, SyncHealth};
pub use metrics::HttpMetrics;
pub use router::router;
pub use state::AppState;
#[cfg(feature = "test-hooks")]
pub use state::TestHooks;

/// Configuration owned by this crate: the `[web]` section of `akari.toml`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data older than this many minutes turns the data-age banner red on every page
    /// (1–10080). Set it a little above the sync interval: a red banner then means that
    /// syncs stopped before the outage.
    pub stale_after_minutes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stale_after_minutes: 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn unknown_paths_get_404_with_security_headers() {
        let (state, _tx) = AppState::for_tests();
        let response = router(state)
            .oneshot(Request::get("/no/such/page").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        headers::assert_security_headers(response.headers());
    }

    #[tokio::test]
    async fn slow_test_route_is_absent_unless_enabled() {
        let (state, _tx) = AppState::for_tests();
        let response = router(state)
            .oneshot(
                Request::get("/_test/slow?ms=1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
