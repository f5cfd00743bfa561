//! Every route of the node, in one table: the HTTPS listener's (health, static assets, the
//! clinician pages, the admin and review pages) and the metrics listener's. A newcomer
//! looking for the handler of a URL starts here.
//!
//! The layers every HTTPS response needs (security headers, request tracing by route
//! template, request metrics, error pages in the request's language) are applied here,
//! once; handler modules never apply layers.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

use crate::pages::admin::{
    accounts, admins, auth, checkpoint, review, review_names, snapshots, status,
};
use crate::pages::{clinician, downtime, labels, print, Pages};
use crate::state::AppState;
use crate::{assets, error, headers, health, metrics, trace};

/// The whole application served on the HTTPS listener.
pub fn router(state: AppState) -> Router {
    let mut routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/static/{file}", get(assets::serve));
    if let Some(pages) = state.pages.clone() {
        routes = routes.merge(pages_routes(pages));
    }
    #[cfg(feature = "test-hooks")]
    if state.test_hooks.slow_route {
        routes = routes.route("/_test/slow", get(health::slow_route::slow));
    }
    with_common_layers(routes.fallback(not_found), state)
}

/// The node's router for `pages` alone (a fixed status, its own metrics), with every layer
/// the node applies: for tests and benchmarks that serve the pages without a whole node.
pub fn for_pages(pages: Pages) -> Router {
    let (_, status) = tokio::sync::watch::channel(crate::NodeStatus::starting());
    router(AppState::new(status, Arc::new(metrics::HttpMetrics::new())).with_pages(pages))
}

/// The metrics listener: `GET /metrics` (request counters, no patient data).
pub fn metrics_router(metrics: Arc<metrics::HttpMetrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render))
        .with_state(metrics)
}

/// The largest request body a page accepts (forms, the admin script's JSON): 64 KiB, far
/// more than any real form or WebAuthn answer. A larger one is refused with 413 before it
/// is read, so it can neither fill memory nor reach the audit ledger.
pub const MAX_FORM_BODY_BYTES: usize = 64 * 1024;

/// The clinician pages and, when the node has them, the admin and review pages. Their
/// bodies are capped at [`MAX_FORM_BODY_BYTES`].
pub(crate) fn pages_routes<S: Clone + Send + Sync + 'static>(pages: Pages) -> Router<S> {
    let mut routes = Router::new()
        .route("/", get(clinician::home))
        .route("/lang/{code}", get(clinician::switch_lang))
        .route("/login", get(clinician::login_form).post(clinician::login))
        .route(
            "/login/key",
            get(clinician::key_form).post(clinician::key_login),
        )
        .route(
            "/declare",
            get(clinician::declare_form).post(clinician::declare),
        )
        .route("/logout", post(clinician::logout))
        .route(
            "/search",
            get(clinician::search_form).post(clinician::search),
        )
        .route("/wards/{ward}", get(clinician::ward))
        .route("/wards/{ward}/print", get(clinician::ward_print))
        .route("/wards/{ward}/print.pdf", get(print::ward_pdf))
        .route("/wards/{ward}/mar", get(print::ward_mar))
        .route("/wards/{ward}/mar.pdf", get(print::ward_mar_pdf))
        .route("/patients/{key}", get(clinician::patient))
        .route("/patients/{key}/print", get(clinician::patient_print))
        .route("/patients/{key}/downtime", post(downtime::record))
        .route("/patients/{key}/print.pdf", get(print::patient_pdf))
        // labels and wristbands (print jobs, audited as prints)
        .route("/patients/{key}/labels", get(labels::patient_labels))
        .route("/patients/{key}/wristband", get(labels::patient_wristband))
        .route("/wards/{ward}/labels", get(labels::ward_labels))
        .route("/wards/{ward}/wristbands", get(labels::ward_wristbands));
    if pages.admin().is_some() {
        routes = routes.merge(admin_routes());
    }
    routes
        .layer(DefaultBodyLimit::max(MAX_FORM_BODY_BYTES))
        .with_state(pages)
}

fn admin_routes() -> Router<Pages> {
    Router::new()
        // login and enrolment
        .route("/admin/login", get(auth::login_form))
        .route("/admin/login/begin", post(auth::login_begin))
        .route("/admin/login/finish", post(auth::login_finish))
        .route("/admin/enrol", get(auth::enrol_form))
        .route("/admin/enrol/begin", post(auth::enrol_begin))
        .route("/admin/enrol/finish", post(auth::enrol_finish))
        .route("/admin/logout", post(auth::logout))
        // status and mode
        .route("/admin", get(status::status))
        .route("/admin/mode", post(status::change_mode))
        .route("/admin/notice", post(status::notice))
        // downtime records after recovery
        .route(
            "/admin/downtime/reconcile",
            post(status::downtime_reconcile),
        )
        .route(
            "/admin/downtime/{episode}/reconciliation.csv",
            get(status::downtime_csv),
        )
        .route(
            "/admin/downtime/{episode}/reconciliation.pdf",
            get(status::downtime_pdf),
        )
        .route(
            "/admin/downtime/{episode}/export.zip",
            get(status::downtime_archive),
        )
        // emergency accounts and their keys
        .route(
            "/admin/accounts",
            get(accounts::accounts).post(accounts::provision),
        )
        .route("/admin/accounts/{id}/reseal", post(accounts::reseal))
        .route("/admin/accounts/{id}/revoke", post(accounts::revoke))
        .route("/admin/accounts/{id}/key", get(accounts::key_form))
        .route("/admin/accounts/{id}/key/begin", post(accounts::key_begin))
        .route(
            "/admin/accounts/{id}/key/finish",
            post(accounts::key_finish),
        )
        // sync and snapshot generations
        .route("/admin/admins", get(admins::admins))
        .route("/admin/admins/{id}/recover", post(admins::recover))
        .route("/admin/sync", get(snapshots::sync_page))
        .route("/admin/sync/now", post(snapshots::sync_now))
        .route("/admin/sync/alert/clear", post(snapshots::clear_alert))
        .route("/admin/sync/{generation}/verify", post(snapshots::verify))
        .route(
            "/admin/sync/{generation}/rollback",
            post(snapshots::rollback),
        )
        .route("/admin/sync/{generation}/pin", post(snapshots::pin))
        .route("/admin/sync/{generation}/promote", post(snapshots::promote))
        // the ledger's signed checkpoint
        .route(
            "/admin/checkpoint",
            get(checkpoint::checkpoint).post(checkpoint::checkpoint_now),
        )
        // review after recovery
        .route("/admin/review", get(review::episodes))
        .route("/admin/review/{episode}", get(review::episode))
        .route(
            "/admin/review/{episode}/sessions/{session}",
            get(review::session),
        )
        .route(
            "/admin/review/{episode}/sessions/{session}/verdict",
            post(review::verdict),
        )
        .route(
            "/admin/review/patient",
            get(review_names::patient_form).post(review_names::patient),
        )
        .route("/admin/review/{episode}/names", post(review_names::resolve))
        .route("/admin/review/{episode}/report", post(review_names::report))
        .route(
            "/admin/review/{episode}/sign-off",
            post(review_names::sign_off),
        )
        .route("/admin/export", post(review::export))
}

/// Layers that wrap every route, including the fallback. Order matters: the security
/// headers are outermost so that even responses produced by inner layers carry them.
fn with_common_layers(routes: Router<AppState>, state: AppState) -> Router {
    let routes = routes
        .layer(axum::middleware::from_fn(error::render_error_pages))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record_request,
        ))
        .layer(trace::layer());
    headers::apply(routes).with_state(state)
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "Not found\n")
}
