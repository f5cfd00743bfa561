//! Errors as users see them: a status code and a helpful page in their language. The
//! real cause goes to tracing (without patient data); the page says what to do.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

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
    /// The encrypted snapshot is locked (no sealed-account or admin login has unlocked it).
    Locked,
    Internal,
}

impl Problem {
    fn status(self) -> StatusCode {
        match self {
            Problem::NotFound => StatusCode::NOT_FOUND,
            Problem::Audit | Problem::Locked => StatusCode::SERVICE_UNAVAILABLE,
            Problem::Forbidden | Problem::Csrf | Problem::Mode | Problem::Expired => {
                StatusCode::FORBIDDEN
            }
            Problem::BadRequest => StatusCode::BAD_REQUEST,
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
            Problem::Locked => "error_locked",
            Problem::Internal => "error_internal",
        }
    }
}

/// A failed page: rendered on its own (no banner data is trusted at this point).
#[derive(Debug)]
pub struct PageError {
    pub problem: Problem,
    pub lang: Lang,
}

impl PageError {
    pub fn new(lang: Lang, problem: Problem) -> Self {
        PageError { problem, lang }
    }

    /// Maps a viewer failure, logging the cause (which carries no patient data).
    pub fn from_view(lang: Lang, e: ViewError) -> Self {
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
        PageError { problem, lang }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    tr: Tr,
    lang: &'static str,
    message: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let tr = Tr { lang: self.lang };
        let page = ErrorPage {
            tr,
            lang: self.lang.code(),
            message: tr.s(self.problem.message_key()),
        };
        let body = page.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, "error page failed to render");
            "Error".to_owned()
        });
        (self.problem.status(), Html(body)).into_response()
    }
}
