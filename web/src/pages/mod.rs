//! The viewer's HTML pages. [`Pages`] holds what they need (the audited viewer, the
//! accounts gate, the browser sessions); [`crate::router`] mounts them. Handlers are thin:
//! [`Ctx`] extracts language, session and client; the viewer reads with audit; a
//! template renders.

pub mod admin;
#[cfg(test)]
mod anonymous_tests;
#[cfg(test)]
mod attack_tests;
#[cfg(test)]
mod audit_tests;
pub(crate) mod clinician;
pub(crate) mod downtime;
#[cfg(test)]
mod downtime_tests;
pub(crate) mod labels;
#[cfg(test)]
mod notice_tests;
pub mod print;
#[cfg(test)]
mod print_tests;
#[cfg(test)]
mod test_node;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use akari_accounts::event::{Client, DeclaredPerson, Mode};
use akari_accounts::ClinicianCapability;
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{CACHE_CONTROL, SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;

use crate::display::fmt_age;
use crate::error::{PageError, Problem};
use crate::gate::{ClinicianLogin, Gate, Refusal};
use crate::i18n::{Lang, Tr};
use crate::session::{Principal, Session, SessionId, SessionStore};
use crate::viewer::{AuditedViewer, Reader, Snapshot};

/// Settings of the pages (part of the `[web]` configuration).
#[derive(Debug, Clone)]
pub struct PagesConfig {
    /// Data older than this turns the data-age banner red.
    pub stale_after: Duration,
    /// Browser session idle timeout.
    pub idle_timeout: Duration,
    /// Browser session absolute timeout.
    pub absolute_timeout: Duration,
    /// The hospital's clock (`[display] time_zone`).
    pub zone: akari_accounts::Zone,
    /// When a vital sign is highlighted (`[display.vital_limits]`).
    pub vital_limits: crate::display::VitalLimits,
    /// Meal and bed times the doses due next are read against (`[display.dose_times]`).
    pub dose_times: crate::display::DoseTimes,
    /// The font PDF printouts are set in, loaded once at start-up; its error (which says
    /// what to install or set) when there is none: HTML printing still works.
    pub print_font: Result<akari_print::PdfFont, String>,
}

/// The font found by Debian discovery, read once per process (tests and benchmarks build
/// many page sets).
pub fn discovered_print_font() -> Result<akari_print::PdfFont, String> {
    static FONT: std::sync::OnceLock<Result<akari_print::PdfFont, String>> =
        std::sync::OnceLock::new();
    FONT.get_or_init(|| akari_print::PdfFont::load(None).map_err(|e| e.to_string()))
        .clone()
}

impl Default for PagesConfig {
    fn default() -> Self {
        PagesConfig {
            stale_after: Duration::from_secs(60 * 60),
            idle_timeout: Duration::from_secs(15 * 60),
            absolute_timeout: Duration::from_secs(12 * 60 * 60),
            zone: akari_accounts::Zone::default(),
            vital_limits: crate::display::VitalLimits::default(),
            dose_times: crate::display::DoseTimes::default(),
            print_font: discovered_print_font(),
        }
    }
}

/// Everything the pages need. Cheap to clone.
#[derive(Clone)]
pub struct Pages(Arc<Inner>);

struct Inner {
    viewer: AuditedViewer,
    gate: Arc<dyn Gate>,
    sessions: SessionStore,
    config: PagesConfig,
    /// The admin and review pages' services; unset on a clinician-only node.
    admin: std::sync::OnceLock<admin::AdminServices>,
    /// The downtime records; unset on a node that keeps none (recording is then off).
    downtime: std::sync::OnceLock<akari_downtime::DowntimeStore>,
}

impl Pages {
    /// `snapshot`: the current generation's reader; `sink`: the audit ledger; `gate`:
    /// the accounts layer.
    pub fn new(
        snapshot: Arc<dyn Snapshot>,
        sink: Arc<dyn akari_accounts::event::AuditSink>,
        gate: Arc<dyn Gate>,
        config: PagesConfig,
    ) -> Self {
        Pages(Arc::new(Inner {
            viewer: AuditedViewer::new(snapshot, sink),
            gate,
            sessions: SessionStore::new(config.idle_timeout, config.absolute_timeout),
            config,
            admin: std::sync::OnceLock::new(),
            downtime: std::sync::OnceLock::new(),
        }))
    }

    /// Adds the downtime records: recording on the patient page, and the entries shown
    /// on every patient page and printout. Call once, before [`router`].
    pub fn with_downtime(self, store: akari_downtime::DowntimeStore) -> Self {
        if self.0.downtime.set(store).is_err() {
            tracing::warn!("the downtime store was already set; ignoring the second set");
        }
        self
    }

    pub(crate) fn downtime(&self) -> Option<&akari_downtime::DowntimeStore> {
        self.0.downtime.get()
    }

    /// Adds the admin and review pages (`/admin/...`). Call once, before [`router`];
    /// a second call is ignored (with a warning).
    pub fn with_admin(self, services: admin::AdminServices) -> Self {
        if self.0.admin.set(services).is_err() {
            tracing::warn!("admin services were already set; ignoring the second set");
        }
        self
    }

    pub(crate) fn admin(&self) -> Option<&admin::AdminServices> {
        self.0.admin.get()
    }

    /// How many browser sessions the node holds in memory (logged-in and pending ones;
    /// visitors who are not logged in hold only a cookie).
    pub fn browser_sessions(&self) -> usize {
        self.0.sessions.stored()
    }
}

/// The frame of every page: mode, data age, who is logged in, language, CSRF token.
pub struct Chrome {
    pub tr: Tr,
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub mode_class: &'static str,
    pub mode_label: &'static str,
    pub as_of: String,
    pub data_age: String,
    pub stale: bool,
    pub account: String,
    pub person: String,
    pub logged_in: bool,
    /// An administrator is logged in: admin navigation, admin logout.
    pub admin: bool,
    pub logout_action: &'static str,
    pub csrf: String,
    /// Path of this page, for the language toggle to come back to.
    pub path: String,
    pub now: String,
    /// The staff notice (shown to logged-in staff, on screen and on paper), or empty.
    pub notice: String,
}

/// Per-request context extracted before every page handler.
pub struct Ctx {
    pub pages: Pages,
    pub lang: Lang,
    pub session: Option<(SessionId, Session)>,
    pub client: Client,
    pub path: String,
    pub mode: Mode,
}

impl FromRequestParts<Pages> for Ctx {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, pages: &Pages) -> Result<Self, PageError> {
        let lang = Lang::of(parts);
        let session = pages.0.sessions.get(&parts.headers);
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Ok(Ctx {
            mode: pages.0.gate.mode(),
            pages: pages.clone(),
            lang,
            session,
            client: Client {
                address,
                user_agent,
            },
            path: parts.uri.path().to_owned(),
        })
    }
}

impl Ctx {
    pub fn vital_limits(&self) -> &crate::display::VitalLimits {
        &self.pages.0.config.vital_limits
    }

    pub fn tr(&self) -> Tr {
        Tr {
            lang: self.lang,
            zone: self.pages.0.config.zone,
        }
    }

    /// The node's clock now and the meal and bed times, for the doses due next.
    pub fn due_clock(&self) -> crate::display::DueClock {
        crate::display::DueClock {
            now: Utc::now(),
            times: self.pages.0.config.dose_times,
        }
    }

    pub fn print_font(&self) -> &Result<akari_print::PdfFont, String> {
        &self.pages.0.config.print_font
    }

    pub fn viewer(&self) -> &AuditedViewer {
        &self.pages.0.viewer
    }

    pub fn downtime(&self) -> Option<&akari_downtime::DowntimeStore> {
        self.pages.downtime()
    }

    pub fn gate(&self) -> Arc<dyn Gate> {
        self.pages.0.gate.clone()
    }

    pub fn sessions(&self) -> &SessionStore {
        &self.pages.0.sessions
    }

    pub fn principal(&self) -> &Principal {
        match &self.session {
            Some((_, s)) => &s.principal,
            None => &Principal::Anonymous,
        }
    }

    /// Refuses unless `submitted` is this session's CSRF token.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), PageError> {
        match &self.session {
            Some((_, s)) if s.csrf_matches(submitted) => Ok(()),
            _ => {
                tracing::warn!("form refused: missing or wrong CSRF token");
                Err(PageError::from(Problem::Csrf))
            }
        }
    }

    /// The clinician behind this session, checked with the accounts layer (timeouts,
    /// revocation, mode): the login, and the verified capability once declared.
    pub async fn clinician(
        &self,
    ) -> Result<(ClinicianLogin, Option<ClinicianCapability>), PageError> {
        let (login, _) = self.clinician_claim()?;
        let gate = self.gate();
        let checked = login.clone();
        let client = self.client.clone();
        let result = tokio::task::spawn_blocking(move || gate.check(&checked, &client)).await?;
        match result {
            Ok(capability) => Ok((login, capability)),
            Err(refusal) => Err(self.session_refused(refusal)),
        }
    }

    /// The audited reader: a declared clinician, verified with the accounts layer now.
    pub async fn reader(&self) -> Result<Reader, PageError> {
        match self.clinician().await? {
            (_, Some(capability)) => Ok(Reader::verified(capability, self.client.clone())),
            (_, None) => Err(PageError::from(Problem::Forbidden)),
        }
    }

    /// [`Self::reader`] as a blocking step, for a page that runs it on the thread that reads
    /// the data (see [`AuditedViewer::patient`]). Refused at once unless the browser session
    /// claims a declared clinician in a mode that allows clinicians.
    pub fn reader_check(
        &self,
    ) -> Result<impl FnOnce() -> Result<Reader, Refusal> + Send + 'static, PageError> {
        let (login, declared) = self.clinician_claim()?;
        if declared.is_none() {
            return Err(PageError::from(Problem::Forbidden));
        }
        let gate = self.gate();
        let client = self.client.clone();
        Ok(move || match gate.check(&login, &client)? {
            Some(capability) => Ok(Reader::verified(capability, client)),
            // The browser session says declared, the accounts layer does not: fail closed.
            None => Err(Refusal::Expired),
        })
    }

    /// What the browser session claims (a clinician, in a mode that allows clinicians),
    /// not yet checked with the accounts layer.
    fn clinician_claim(&self) -> Result<(ClinicianLogin, Option<DeclaredPerson>), PageError> {
        let Principal::Clinician { login, declared } = self.principal() else {
            return Err(PageError::from(Problem::Forbidden));
        };
        if !self.mode.allows_emergency_login() {
            return Err(PageError::from(Problem::Mode));
        }
        Ok((login.clone(), declared.clone()))
    }

    /// The accounts layer ended the session: the browser session goes too.
    pub fn session_refused(&self, refusal: Refusal) -> PageError {
        tracing::info!(%refusal, "clinician session no longer valid");
        if let Some((id, _)) = &self.session {
            self.sessions().remove(id);
        }
        PageError::from(Problem::Expired)
    }

    pub fn chrome(&self) -> Chrome {
        let tr = self.tr();
        let (mode_class, mode_key) = match self.mode {
            Mode::Emergency => ("emergency", "mode_emergency"),
            Mode::Drill => ("drill", "mode_drill"),
            Mode::Standby => ("standby", "mode_standby"),
            Mode::Recovery => ("recovery", "mode_recovery"),
        };
        let now = Utc::now();
        let (as_of, data_age, stale) = match self.viewer().as_of() {
            Some(t) => {
                let age = now - t;
                let stale = age
                    > chrono::Duration::from_std(self.pages.0.config.stale_after)
                        .unwrap_or(chrono::Duration::MAX);
                (tr.zone.minute(&t), fmt_age(self.lang, age), stale)
            }
            None => (tr.s("no_data").to_owned(), String::new(), true),
        };
        let (account, person, logged_in) = match self.principal() {
            Principal::Clinician { login, declared } => (
                login.account_id.clone(),
                declared
                    .as_ref()
                    .map(|d| format!("{}（{}・{}）", d.name, d.profession, d.department))
                    .unwrap_or_default(),
                true,
            ),
            Principal::Admin(login) => (login.admin_id.clone(), String::new(), true),
            Principal::Anonymous | Principal::KeyPending(_) => {
                (String::new(), String::new(), false)
            }
        };
        let admin = matches!(self.principal(), Principal::Admin(_));
        let notice = if logged_in {
            self.pages.0.gate.notice().unwrap_or_default()
        } else {
            String::new()
        };
        Chrome {
            tr,
            lang: self.lang.code(),
            other_lang: self.lang.other().code(),
            mode_class,
            mode_label: tr.s(mode_key),
            as_of,
            data_age,
            stale,
            account,
            person,
            logged_in,
            admin,
            logout_action: if admin { "/admin/logout" } else { "/logout" },
            csrf: self
                .session
                .as_ref()
                .map(|(_, s)| s.csrf().to_owned())
                .unwrap_or_default(),
            path: self.path.clone(),
            now: tr.zone.minute(&now),
            notice,
        }
    }
}

/// Renders a template as an HTML page that no cache may keep.
pub fn render(page: &impl Template) -> Result<Response, PageError> {
    render_with(StatusCode::OK, page)
}

pub fn render_with(status: StatusCode, page: &impl Template) -> Result<Response, PageError> {
    let body = page.render().map_err(|e| {
        tracing::error!(error = %e, "template failed to render");
        PageError::from(Problem::Internal)
    })?;
    Ok((
        status,
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(body),
    )
        .into_response())
}

/// A form that carries nothing but its CSRF token (logout, confirmations).
#[derive(serde::Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

/// A form for an action that cannot be undone (ending an episode, revoking an account,
/// rolling back a snapshot): its page asks for a ticked "I understand" checkbox, which the
/// browser requires without JavaScript and the handler checks again.
#[derive(serde::Deserialize)]
pub(crate) struct Confirmed {
    #[serde(default)]
    pub csrf: String,
    /// `yes` when the checkbox was ticked.
    #[serde(default)]
    pub confirm: String,
}

impl Confirmed {
    pub(crate) fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

/// Adds a `Set-Cookie` header to a response.
pub fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}
