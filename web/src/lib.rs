//! akari-web: the HTTP face of the node. Thin handlers: extract, call the domain, render.
//!
//! [`router`] composes every route of the HTTPS listener and wraps them in the layers every
//! response needs (security headers, request tracing by route template, request metrics).
//! Page modules add their routes in [`router`]; they never apply layers themselves.

pub mod accounts_gate;
pub mod display;
pub mod error;
pub mod gate;
pub mod headers;
pub mod health;
pub mod i18n;
pub mod metrics;
pub mod pages;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod trace;
pub mod viewer;

use axum::Router;

pub use health::{NodeStatus, SnapshotStatus};
pub use metrics::HttpMetrics;
pub use state::{AppState, TestHooks};

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

/// The whole application served on the HTTPS listener.
pub fn router(state: AppState) -> Router {
    let mut routes = Router::new().merge(health::routes());
    if let Some(pages) = state.pages.clone() {
        routes = routes.merge(pages::router(pages));
    }
    if state.test_hooks.slow_route {
        routes = routes.merge(health::slow_test_routes());
    }
    let routes = routes.fallback(not_found);
    with_common_layers(routes, state)
}

/// Layers that wrap every route, including the fallback. Order matters: the security
/// headers are outermost so that even responses produced by inner layers carry them.
fn with_common_layers(routes: Router<AppState>, state: AppState) -> Router {
    let routes = routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record_request,
        ))
        .layer(trace::layer());
    headers::apply(routes).with_state(state)
}

async fn not_found() -> (axum::http::StatusCode, &'static str) {
    (axum::http::StatusCode::NOT_FOUND, "Not found\n")
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
