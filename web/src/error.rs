//! Errors as users see them: a status code and a helpful page in their language. The
//! real cause goes to tracing (without patient data); the page says what to do.
//!
//! A handler returns a [`PageError`] with `?`; the language is the request's, applied once
//! by the [`render_error_pages`] layer, never carried inside each error.

use askama::Template;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::i18n::{Lang, Tr};
use crate::viewer::{SnapshotError, ViewError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    NotFound,
    /// The audit ledger refused: fail closed.
    Audit,
    /// Not logged in, wrong role, or a clinician page outside emergency/drill.
    Forbidden,
    Csrf,
    Mode,
    Expired,
    BadRequest,
    /// The request's body is over [`crate::router::MAX_FORM_BODY_BYTES`].
    TooLarge,
    /// The encrypted snapshot is locked (no sealed-account or admin login has unlocked it).
    Locked,
    /// A PDF was asked for but the node has no print font (HTML printing still works).
    PrintFont,
    /// A downtime entry was refused because its audit entry could not be written: nothing
    /// was stored.
    RecordAudit,
    /// The downtime store could not store the entry (its audit entry was written).
    RecordStore,
    Internal,
}

impl Problem {
    fn status(self) -> StatusCode {
        match self {
            Problem::NotFound => StatusCode::NOT_FOUND,
            Problem::Audit
            | Problem::Locked
            | Problem::PrintFont
            | Problem::RecordAudit
            | Problem::RecordStore => StatusCode::SERVICE_UNAVAILABLE,
            Problem::Forbidden | Problem::Csrf | Problem::Mode | Problem::Expired => {
                StatusCode::FORBIDDEN
            }
            Problem::BadRequest => StatusCode::BAD_REQUEST,
            Problem::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Problem::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message_key(self) -> &'static str {
        match self {
            Problem::NotFound => "error_not_found",
            Problem::Audit => "error_audit",
            Problem::Forbidden => "error_forbidden",
            Problem::Csrf => "error_csrf",
            Problem::Mode => "error_mode",
            Problem::Expired => "error_expired",
            Problem::BadRequest => "error_bad_request",
            Problem::TooLarge => "error_too_large",
            Problem::Locked => "error_locked",
            Problem::PrintFont => "error_print_font",
            Problem::RecordAudit => "error_record_audit",
            Problem::RecordStore => "error_record_store",
            Problem::Internal => "error_internal",
        }
    }
}

/// A failed page. Handlers return it with `?` (from a [`Problem`] or a [`ViewError`]); it
/// carries no language: [`render_error_pages`] renders it in the request's language, on its
/// own (no banner data is trusted at this point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageError {
    pub problem: Problem,
}

impl From<Problem> for PageError {
    fn from(problem: Problem) -> Self {
        PageError { problem }
    }
}

/// A viewer failure, with its cause logged (the cause carries no patient data).
impl From<ViewError> for PageError {
    fn from(e: ViewError) -> Self {
        let problem = match &e {
            ViewError::NotFound => Problem::NotFound,
            ViewError::Audit(_) => {
                tracing::error!(error = %e, "audit sink refused; patient data withheld");
                Problem::Audit
            }
            ViewError::Snapshot(SnapshotError::Locked) => {
                tracing::warn!("patient data requested while the snapshot is locked");
                Problem::Locked
            }
            ViewError::Snapshot(_) | ViewError::Join(_) => {
                tracing::error!(error = %e, "patient data could not be read");
                Problem::Internal
            }
        };
        PageError { problem }
    }
}

/// A blocking task (argon2, redb, the ledger) panicked or was cancelled.
impl From<tokio::task::JoinError> for PageError {
    fn from(e: tokio::task::JoinError) -> Self {
        tracing::error!(error = %e, "a blocking task of the request failed");
        PageError {
            problem: Problem::Internal,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    tr: Tr,
    lang: &'static str,
    message: &'static str,
}

/// The status and the problem, for [`render_error_pages`] to put into words.
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.problem.status().into_response();
        response.extensions_mut().insert(self.problem);
        response
    }
}

/// Middleware: puts the request's language ([`Lang::from_headers`]) into its extensions for
/// the handlers, and renders every [`PageError`] as the error page in that language,
/// keeping the status and headers the handler set. A body refused as too large (413, from
/// the body limit) gets the page that says so.
pub async fn render_error_pages(mut request: Request, next: Next) -> Response {
    let lang = Lang::from_headers(request.headers());
    request.extensions_mut().insert(lang);
    let response = next.run(request).await;
    let problem = match response.extensions().get::<Problem>().copied() {
        Some(problem) => problem,
        None if response.status() == StatusCode::PAYLOAD_TOO_LARGE => Problem::TooLarge,
        None => return response,
    };
    // Error pages show no times, so the default clock is never read here.
    let tr = Tr {
        lang,
        zone: akari_accounts::Zone::default(),
    };
    let page = ErrorPage {
        tr,
        lang: lang.code(),
        message: tr.s(problem.message_key()),
    };
    let body = page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "error page failed to render");
        "Error".to_owned()
    });
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
