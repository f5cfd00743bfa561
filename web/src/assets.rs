//! The static assets, compiled into the binary (one self-contained executable is the
//! deployable unit) and served at `/static/{file}`. Pages load every script and style from
//! here: the CSP allows no inline ones.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// An embedded file under `static/`, by its name and content type.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("../static/", $name)),
        }
    };
}

const SCRIPT: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("akari.css", "text/css; charset=utf-8"),
    asset!("labels.css", "text/css; charset=utf-8"),
    asset!("webauthn.js", SCRIPT),
    asset!("login.js", SCRIPT),
    asset!("admin.js", SCRIPT),
    asset!("print.js", SCRIPT),
];

/// `GET /static/{file}`. Assets carry no patient data, so they may be cached (an hour: a
/// new release is picked up the same morning).
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(asset) => (
            [
                (CONTENT_TYPE, asset.content_type),
                (CACHE_CONTROL, "public, max-age=3600"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "Not found\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::state::AppState;

    #[tokio::test]
    async fn every_asset_is_served_with_its_type_and_unknown_ones_are_not() {
        let (state, _tx) = AppState::for_tests();
        let app = crate::router(state);
        for (path, kind) in [
            ("/static/akari.css", "text/css"),
            ("/static/webauthn.js", "text/javascript"),
            ("/static/login.js", "text/javascript"),
            ("/static/admin.js", "text/javascript"),
            ("/static/print.js", "text/javascript"),
        ] {
            let response = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let content_type = response.headers()["content-type"].to_str().unwrap();
            assert!(content_type.starts_with(kind), "{path}: {content_type}");
        }
        let response = app
            .oneshot(
                Request::get("/static/..%2Fsecret")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
