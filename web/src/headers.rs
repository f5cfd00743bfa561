//! Security headers on every response of the HTTPS listener.
//!
//! The CSP allows only same-origin resources and no inline script or style, so pages must
//! load their scripts and styles from `/static/...`. `Cache-Control: no-store` is set on
//! every response unless a handler sets its own (only static assets should): any page may
//! carry patient data and must not be kept in a shared workstation's browser cache.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

/// `default-src 'self'` without `'unsafe-inline'`: no inline script or style can run.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'; object-src 'none'";
/// Two years, as recommended for HSTS; the node is only ever reached over HTTPS.
pub const HSTS_VALUE: &str = "max-age=63072000; includeSubDomains";

/// The headers every response carries, whatever the handler set.
pub fn enforced() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS_VALUE),
        ),
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ]
}

/// Wraps `router` so that every response, including fallbacks and errors from inner
/// layers, carries the security headers.
pub fn apply<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut router = router.layer(SetResponseHeaderLayer::if_not_present(
        CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ));
    for (name, value) in enforced() {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    router
}

/// Test helper: panics unless `headers` carry every security header with its value.
#[cfg(test)]
pub fn assert_security_headers(headers: &axum::http::HeaderMap) {
    for (name, value) in enforced() {
        assert_eq!(headers.get(&name), Some(&value), "header {name}");
    }
    assert_eq!(
        headers.get(CACHE_CONTROL).map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "header cache-control"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn handler_cannot_weaken_enforced_headers() {
        let router: Router = apply(Router::new().route(
            "/",
            get(|| async { ([(CONTENT_SECURITY_POLICY, "default-src *")], "hi") }),
        ));
        let response = router
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_security_headers(response.headers());
    }

    #[test]
    fn csp_allows_no_inline_script() {
        assert!(!CONTENT_SECURITY_POLICY_VALUE.contains("unsafe-inline"));
        assert!(CONTENT_SECURITY_POLICY_VALUE.contains("default-src 'self'"));
        assert!(CONTENT_SECURITY_POLICY_VALUE.contains("frame-ancestors 'none'"));
    }
}
