//! Admin and review pages (any mode, hospital IT only): login with password + WebAuthn,
//! enrolment with the console's one-time code, status and mode changes, emergency
//! accounts (provision → seal sheet, key enrolment, re-seal, revoke), the recovery of
//! another admin (new enrolment code, passkeys, password), snapshot
//! generations, the signed checkpoint, and the review of episodes with verdicts and
//! exports.
//!
//! Admins and clinicians are separate principals. Every admin handler takes an
//! [`AdminCtx`], whose only constructor resumes the browser session's accounts token as
//! an `akari_accounts::Session::Admin` and keeps that session's [`AdminCapability`]; the
//! accounts layer never yields one for an emergency session, and the clinician pages
//! accept only [`Principal::Clinician`]. There is no conversion between the two.

pub(crate) mod accounts;
pub(crate) mod admins;
pub(crate) mod auth;
pub(crate) mod checkpoint;
pub(crate) mod review;
pub(crate) mod review_names;
#[cfg(test)]
mod review_names_tests;
pub mod review_pdf;
pub(crate) mod snapshots;
pub(crate) mod status;
#[cfg(test)]
mod tests;
mod text;

use std::sync::Arc;

use akari_accounts::ledger::Ledger;
use akari_accounts::review::ReviewConfig;
use akari_accounts::{Accounts, AdminCapability, AdminSession, Error, Session, SessionToken};
use akari_sync::engine::CancellationToken;
use akari_sync::SnapshotControl;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{render_with, Chrome, Ctx, Pages};
use crate::error::{PageError, Problem};
use crate::session::{AdminLogin, Principal};

/// What the admin pages need from the node: the accounts service (admins, modes, emergency
/// accounts), the snapshot's administrators' handle (status and lock state, generations,
/// "sync now"), and the audit ledger (checkpoints, review, exports). Cheap to clone.
///
/// Nothing here reads a patient: the snapshot comes only as a [`SnapshotControl`], never a
/// reader or store, so no admin handler can show patient data (which would go unaudited):
///
/// ```compile_fail,E0599
/// # fn handler(snapshots: akari_sync::SnapshotControl, key: akari_sync::model::PatientKey) {
/// let record = snapshots.patient(&key);
/// # }
/// ```
///
/// ```compile_fail,E0599
/// # fn handler(snapshots: akari_sync::SnapshotControl) {
/// let store = snapshots.store();
/// # }
/// ```
#[derive(Clone)]
pub struct AdminServices {
    accounts: Arc<Accounts>,
    snapshots: SnapshotControl,
    ledger: Arc<Ledger>,
    cancel: CancellationToken,
    review: ReviewConfig,
}

impl AdminServices {
    pub fn new(accounts: Arc<Accounts>, snapshots: SnapshotControl, ledger: Arc<Ledger>) -> Self {
        AdminServices {
            accounts,
            snapshots,
            ledger,
            cancel: CancellationToken::new(),
            review: ReviewConfig::default(),
        }
    }

    /// Cancels a "sync now" started from the web (pass the node's shutdown token).
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Thresholds of the review's anomaly flags.
    pub fn with_review_config(mut self, review: ReviewConfig) -> Self {
        self.review = review;
        self
    }
}

/// A request from a logged-in administrator. Only [`FromRequestParts`] makes one, and only
/// when the accounts layer resumes the session as an admin session.
pub struct AdminCtx {
    pub ctx: Ctx,
    pub cap: AdminCapability,
    pub session: AdminSession,
    pub svc: AdminServices,
}

/// Why an admin page was not shown.
pub enum AdminRejection {
    /// Not logged in at all: to the admin login.
    Login,
    Page(PageError),
}

impl IntoResponse for AdminRejection {
    fn into_response(self) -> Response {
        match self {
            AdminRejection::Login => Redirect::to("/admin/login").into_response(),
            AdminRejection::Page(e) => e.into_response(),
        }
    }
}

impl<E: Into<PageError>> From<E> for AdminRejection {
    fn from(e: E) -> Self {
        AdminRejection::Page(e.into())
    }
}

impl FromRequestParts<Pages> for AdminCtx {
    type Rejection = AdminRejection;

    async fn from_request_parts(parts: &mut Parts, pages: &Pages) -> Result<Self, AdminRejection> {
        let ctx = Ctx::from_request_parts(parts, pages).await?;
        let Some(svc) = pages.admin().cloned() else {
            return Err(PageError::from(Problem::NotFound).into());
        };
        let login = match ctx.principal() {
            Principal::Admin(login) => login.clone(),
            Principal::Anonymous | Principal::KeyPending(_) => return Err(AdminRejection::Login),
            Principal::Clinician { .. } => {
                tracing::warn!("a clinician session asked for an admin page; refused");
                return Err(PageError::from(Problem::Forbidden).into());
            }
        };
        let accounts = svc.accounts.clone();
        let client = ctx.client.clone();
        let token = SessionToken::new(login.token.clone());
        let resumed = tokio::task::spawn_blocking(move || accounts.resume(&token, &client)).await?;
        match resumed {
            Ok(Session::Admin(session)) => Ok(AdminCtx {
                cap: session.capability(),
                session,
                svc,
                ctx,
            }),
            Ok(_) => {
                // Cannot happen through these pages; refuse rather than guess.
                tracing::warn!("an admin browser session resumed as a non-admin session");
                forget(&ctx);
                Err(PageError::from(Problem::Forbidden).into())
            }
            Err(e) => {
                tracing::info!(error = %e, "admin session no longer valid");
                forget(&ctx);
                Err(PageError::from(Problem::Expired).into())
            }
        }
    }
}

fn forget(ctx: &Ctx) {
    if let Some((id, _)) = &ctx.session {
        ctx.sessions().remove(id);
    }
}

impl AdminCtx {
    pub fn chrome(&self) -> Chrome {
        self.ctx.chrome()
    }

    pub fn check_csrf(&self, submitted: &str) -> Result<(), PageError> {
        self.ctx.check_csrf(submitted)
    }

    /// Runs a blocking call of the services (argon2, redb, ledger fsync) off the runtime.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&AdminServices, &AdminCapability) -> T + Send + 'static,
    ) -> Result<T, PageError> {
        let svc = self.svc.clone();
        let cap = self.cap.clone();
        tokio::task::spawn_blocking(move || f(&svc, &cap))
            .await
            .map_err(PageError::from)
    }

    /// An operation refused by the accounts layer: a page saying why (its messages are
    /// written for the person and carry no secrets), or the generic failure page for
    /// internal errors.
    pub fn refused(&self, e: Error) -> Result<Response, PageError> {
        match e {
            Error::Audit(_) => {
                tracing::error!(error = %e, "audit sink refused; admin action not carried out");
                Err(PageError::from(Problem::Audit))
            }
            e if e.is_internal() => {
                tracing::error!(error = %e, "accounts service failed");
                Err(PageError::from(Problem::Internal))
            }
            Error::SessionEnded(_) | Error::NoSession => Err(PageError::from(Problem::Expired)),
            other => self.message(StatusCode::CONFLICT, "admin_refused", other.to_string()),
        }
    }

    /// A result page: a heading key, a detail line and a link back.
    /// The answer to an action that cannot be undone, sent without its confirmation
    /// ticked: nothing was done, and the page says to tick the box.
    pub fn unconfirmed(&self) -> Result<Response, PageError> {
        self.message(
            StatusCode::BAD_REQUEST,
            "admin_refused",
            self.ctx.tr().s("confirm_missing").to_owned(),
        )
    }

    pub fn message(
        &self,
        status: StatusCode,
        title_key: &'static str,
        detail: String,
    ) -> Result<Response, PageError> {
        let tr = self.ctx.tr();
        let page = MessagePage {
            c: self.chrome(),
            title: tr.s(title_key),
            detail,
            ok: status.is_success(),
            back: back_link(&self.ctx.path),
        };
        render_with(status, &page)
    }
}

/// The admin page an action's result links back to.
fn back_link(path: &str) -> String {
    for prefix in [
        "/admin/accounts",
        "/admin/admins",
        "/admin/sync",
        "/admin/review",
        "/admin/checkpoint",
    ] {
        if path.starts_with(prefix) {
            return prefix.to_owned();
        }
    }
    "/admin".to_owned()
}

#[derive(Template)]
#[template(path = "admin_message.html")]
struct MessagePage {
    c: Chrome,
    title: &'static str,
    detail: String,
    ok: bool,
    back: String,
}

/// The browser session's accounts login, for logout.
pub(super) fn admin_login(ctx: &Ctx) -> Option<AdminLogin> {
    match ctx.principal() {
        Principal::Admin(l) => Some(l.clone()),
        _ => None,
    }
}

// ---------------------------------------------------------------- long lists

/// `?page=N` (1-based) of a long list.
#[derive(Deserialize)]
pub(crate) struct PageQuery {
    #[serde(default)]
    pub page: Option<usize>,
}

/// One page of a list: which items, and the navigation under it.
pub(super) struct Paging {
    /// 1-based.
    pub page: usize,
    pub pages: usize,
    /// 1-based positions of the first and last item shown; total items.
    pub first: usize,
    pub last: usize,
    pub total: usize,
}

impl Paging {
    /// Clamps `requested` into range (an out-of-range page shows the last one).
    pub fn new(total: usize, per_page: usize, requested: Option<usize>) -> Self {
        let pages = total.div_ceil(per_page).max(1);
        let page = requested.unwrap_or(1).clamp(1, pages);
        let start = (page - 1) * per_page;
        Paging {
            page,
            pages,
            first: if total == 0 { 0 } else { start + 1 },
            last: (start + per_page).min(total),
            total,
        }
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.first.saturating_sub(1)..self.last
    }

    pub fn prev(&self) -> Option<usize> {
        (self.page > 1).then(|| self.page - 1)
    }

    pub fn next(&self) -> Option<usize> {
        (self.page < self.pages).then(|| self.page + 1)
    }
}
