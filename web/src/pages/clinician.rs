//! Clinician pages (emergency and drill modes): login with a sealed account, declaration,
//! search, ward census, patient summary and printing.
//!
//! Search is a POST: the query (a name, an ID, a birth date) then never appears in a URL,
//! so it stays out of browser history, bookmarks, proxy and access logs; the CSRF token
//! comes with it. Patient pages are GETs on opaque keys, so they can be bookmarked or
//! reloaded without revealing who the patient is.

use akari_accounts::event::{DeclaredPerson, Reason};
use akari_sync::model::PatientKey;
use akari_sync::text::parse_birth_date_query;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use serde::Deserialize;

use super::{render, render_with, with_cookie, Chrome, CsrfOnly, Ctx};
use crate::display::{EntryForm, Row, Summary};
use crate::error::{PageError, Problem};
use crate::gate::{ClinicianLogin, KeyAnswer, Refusal};
use crate::i18n::{Lang, LANG_COOKIE};
use crate::session::{self, PendingKey, Principal};

// Maximum search results shown (the query is refined rather than paged).
use crate::viewer::{QueryKind, SEARCH_ROWS as SEARCH_LIMIT};

pub(crate) async fn home(ctx: Ctx) -> Redirect {
    match ctx.principal() {
        Principal::Clinician { declared: None, .. } => Redirect::to("/declare"),
        Principal::Clinician { .. } => Redirect::to("/search"),
        _ => Redirect::to("/login"),
    }
}

#[derive(Deserialize)]
pub(crate) struct LangBack {
    #[serde(default)]
    back: String,
}

/// Sets the language cookie and returns to the page the toggle was on.
pub(crate) async fn switch_lang(Path(code): Path<String>, Query(q): Query<LangBack>) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::Ja);
    // Only paths on this node: never an open redirect.
    let back = crate::redirect::same_origin_or_home(&q.back);
    let cookie = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; Secure; SameSite=Strict; Max-Age=31536000",
        lang.code()
    ))
    .expect("static cookie");
    with_cookie(Redirect::to(back).into_response(), cookie)
}

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    error: String,
    notice: &'static str,
    allowed: bool,
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    out: Option<String>,
}

pub(crate) async fn login_form(
    mut ctx: Ctx,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    // The anonymous session exists only so the login form carries a CSRF token.
    let mut new_cookie = None;
    // Back at the start ("start again" from the key step): the waiting credential goes.
    let pending = matches!(ctx.principal(), Principal::KeyPending(_));
    if ctx.session.is_none() || pending {
        let old = ctx.session.as_ref().map(|(id, _)| id);
        let (id, s) = ctx.sessions().rotate(old, Principal::Anonymous);
        new_cookie = Some(session::set_cookie(&id));
        ctx.session = Some((id, s));
    }
    let tr = ctx.tr();
    let page = LoginPage {
        c: ctx.chrome(),
        error: String::new(),
        notice: if q.out.is_some() {
            tr.s("logged_out")
        } else {
            ""
        },
        allowed: ctx.mode.allows_emergency_login(),
    };
    let response = render(&page)?;
    Ok(match new_cookie {
        Some(c) => with_cookie(response, c),
        None => response,
    })
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account_id: String,
    #[serde(default)]
    credential: String,
}

pub(crate) async fn login(ctx: Ctx, Form(form): Form<LoginForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    let gate = ctx.gate();
    let client = ctx.client.clone();
    let account_id = form.account_id.trim().to_owned();
    let credential = zeroize::Zeroizing::new(form.credential.trim().to_owned());
    let key_step = ctx.mode.allows_emergency_login() && !account_id.is_empty();
    let result = tokio::task::spawn_blocking(move || {
        // An account with a security key answers its challenge first (the login page's
        // script); the credential waits in the server-side session until then.
        if key_step {
            if let Some(challenge) = gate.begin_key_login(&account_id)? {
                return Ok(Step::Key(PendingKey {
                    account_id,
                    credential,
                    ceremony_id: challenge.ceremony_id,
                    options: challenge.options.to_string(),
                }));
            }
        }
        gate.emergency_login(&account_id, &credential, None, &client)
            .map(Step::LoggedIn)
    })
    .await?;
    match result {
        Ok(Step::LoggedIn(login)) => Ok(logged_in(&ctx, login)),
        Ok(Step::Key(pending)) => {
            let old = ctx.session.as_ref().map(|(id, _)| id);
            let (id, _) = ctx.sessions().rotate(old, Principal::KeyPending(pending));
            Ok(with_cookie(
                Redirect::to("/login/key").into_response(),
                session::set_cookie(&id),
            ))
        }
        Err(refusal) => login_refused(ctx, refusal, None),
    }
}

/// Where the credential step leads.
enum Step {
    LoggedIn(ClinicianLogin),
    /// The account has a security key: its assertion comes next.
    Key(PendingKey),
}

/// Rotates the browser session to the new clinician and sends them to the declaration.
fn logged_in(ctx: &Ctx, login: ClinicianLogin) -> Response {
    let old = ctx.session.as_ref().map(|(id, _)| id);
    let (id, _) = ctx.sessions().rotate(
        old,
        Principal::Clinician {
            login,
            declared: None,
        },
    );
    with_cookie(
        Redirect::to("/declare").into_response(),
        session::set_cookie(&id),
    )
}

/// The login page again with what went wrong. `key_failure`: what the key step reported
/// (the browser's error class), for a message that says what to do.
fn login_refused(
    ctx: Ctx,
    refusal: Refusal,
    key_failure: Option<&str>,
) -> Result<Response, PageError> {
    let mut retry_after = None;
    let (status, key) = match refusal {
        Refusal::Backoff { retry_after_secs } => {
            retry_after = Some(retry_after_secs.max(1));
            (StatusCode::TOO_MANY_REQUESTS, "login_backoff")
        }
        Refusal::Mode => (StatusCode::FORBIDDEN, "login_not_allowed"),
        Refusal::KeyRequired => (
            StatusCode::UNAUTHORIZED,
            match key_failure {
                Some("unsupported") => "key_unsupported",
                Some("cancelled") => "key_cancelled",
                _ => "key_missing",
            },
        ),
        Refusal::BadCredentials | Refusal::Expired if key_failure.is_some() => {
            (StatusCode::UNAUTHORIZED, "key_refused")
        }
        Refusal::BadCredentials | Refusal::Expired => (StatusCode::UNAUTHORIZED, "login_refused"),
        Refusal::Audit(e) => {
            tracing::error!(error = %e, "audit sink refused; login not carried out");
            return Err(PageError::from(Problem::Audit));
        }
        Refusal::Internal(e) => {
            tracing::error!(error = %e, "accounts service failed during login");
            return Err(PageError::from(Problem::Internal));
        }
    };
    // A refused key step starts again from the credential: the pending state goes.
    let mut cookie = None;
    let mut ctx = ctx;
    if matches!(ctx.principal(), Principal::KeyPending(_)) {
        let old = ctx.session.as_ref().map(|(id, _)| id);
        let (id, s) = ctx.sessions().rotate(old, Principal::Anonymous);
        cookie = Some(session::set_cookie(&id));
        ctx.session = Some((id, s));
    }
    let error = match retry_after {
        Some(secs) => ctx.tr().s(key).replace("{secs}", &secs.to_string()),
        None => ctx.tr().s(key).to_owned(),
    };
    let page = LoginPage {
        c: ctx.chrome(),
        error,
        notice: "",
        allowed: ctx.mode.allows_emergency_login(),
    };
    let mut response = render_with(status, &page)?;
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(match cookie {
        Some(c) => with_cookie(response, c),
        None => response,
    })
}

// ---------------------------------------------------------------- security key step

#[derive(Template)]
#[template(path = "login_key.html")]
struct KeyPage {
    c: Chrome,
    account_id: String,
    options: String,
}

pub(crate) async fn key_form(ctx: Ctx) -> Result<Response, PageError> {
    let Principal::KeyPending(pending) = ctx.principal() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let page = KeyPage {
        c: ctx.chrome(),
        account_id: pending.account_id.clone(),
        options: pending.options.clone(),
    };
    render(&page)
}

#[derive(Deserialize)]
pub(crate) struct KeyForm {
    #[serde(default)]
    csrf: String,
    /// The `PublicKeyCredential` as JSON (binary fields base64url), from the script.
    #[serde(default)]
    assertion: String,
    /// Why the browser produced no assertion: `cancelled` (refused, timed out or no
    /// matching key), `unsupported` (no WebAuthn), `error`; empty with no script.
    #[serde(default)]
    failure: String,
}

/// The key's assertion (or the browser's failure) completes the login. Every outcome
/// reaches the accounts layer, so a cancelled or missing key is a recorded failed login.
pub(crate) async fn key_login(ctx: Ctx, Form(form): Form<KeyForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    let Principal::KeyPending(pending) = ctx.principal().clone() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let answer = match serde_json::from_str::<serde_json::Value>(&form.assertion) {
        Ok(response) if form.failure.is_empty() && response.is_object() => Some(KeyAnswer {
            ceremony_id: pending.ceremony_id.clone(),
            response,
        }),
        _ => None,
    };
    let failure = match form.failure.as_str() {
        "cancelled" => "cancelled",
        "unsupported" => "unsupported",
        _ => "error",
    };
    let gate = ctx.gate();
    let client = ctx.client.clone();
    let result = tokio::task::spawn_blocking(move || {
        gate.emergency_login(&pending.account_id, &pending.credential, answer, &client)
    })
    .await?;
    match result {
        Ok(login) => Ok(logged_in(&ctx, login)),
        Err(refusal) => login_refused(ctx, refusal, Some(failure)),
    }
}

pub(crate) async fn logout(ctx: Ctx, Form(form): Form<CsrfOnly>) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    if let Some((id, s)) = &ctx.session {
        if let Principal::Clinician { login, .. } = &s.principal {
            let login = login.clone();
            let gate = ctx.gate();
            let client = ctx.client.clone();
            let _ = tokio::task::spawn_blocking(move || gate.logout(&login, &client)).await;
        }
        ctx.sessions().remove(id);
    }
    let mut response = Redirect::to("/login?out=1").into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, session::clear_cookie());
    Ok(response)
}

// ---------------------------------------------------------------- declaration

#[derive(Template)]
#[template(path = "declare.html")]
struct DeclarePage {
    c: Chrome,
    error: &'static str,
    form: DeclareForm,
}

#[derive(Deserialize, Default)]
pub(crate) struct DeclareForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    staff_number: String,
    #[serde(default)]
    profession: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    reason_text: String,
}

pub(crate) async fn declare_form(ctx: Ctx) -> Result<Response, PageError> {
    let (_, capability) = ctx.clinician().await?;
    if capability.is_some() {
        return Ok(Redirect::to("/search").into_response());
    }
    let page = DeclarePage {
        c: ctx.chrome(),
        error: "",
        form: DeclareForm {
            reason: "treatment".into(),
            ..DeclareForm::default()
        },
    };
    render(&page)
}

pub(crate) async fn declare(
    ctx: Ctx,
    Form(form): Form<DeclareForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    let (login, capability) = ctx.clinician().await?;
    if capability.is_some() {
        return Ok(Redirect::to("/search").into_response());
    }
    let reason = match form.reason.as_str() {
        "treatment" => Some(Reason::EmergencyTreatment),
        "drill" => Some(Reason::Drill),
        "other" if !form.reason_text.trim().is_empty() => {
            Some(Reason::Other(form.reason_text.trim().to_owned()))
        }
        _ => None,
    };
    let fields = [
        &form.name,
        &form.staff_number,
        &form.profession,
        &form.department,
    ];
    let (Some(reason), true) = (reason, fields.iter().all(|f| !f.trim().is_empty())) else {
        let tr = ctx.tr();
        let page = DeclarePage {
            c: ctx.chrome(),
            error: tr.s("declare_missing"),
            form,
        };
        return render_with(StatusCode::BAD_REQUEST, &page);
    };
    let person = DeclaredPerson {
        name: form.name.trim().to_owned(),
        staff_number: form.staff_number.trim().to_owned(),
        profession: form.profession.trim().to_owned(),
        department: form.department.trim().to_owned(),
    };
    let gate = ctx.gate();
    let client = ctx.client.clone();
    let (declared_login, declared_person) = (login.clone(), person.clone());
    let result = tokio::task::spawn_blocking(move || {
        gate.declare(&declared_login, declared_person, reason, &client)
    })
    .await?;
    let login = match result {
        Ok(login) => login,
        Err(refusal) => {
            tracing::warn!(%refusal, "declaration refused");
            return Err(PageError::from(Problem::Expired));
        }
    };
    // The browser session also gets a new identifier once the person has declared.
    let old = ctx.session.as_ref().map(|(id, _)| id);
    let (id, _) = ctx.sessions().rotate(
        old,
        Principal::Clinician {
            login,
            declared: Some(person),
        },
    );
    Ok(with_cookie(
        Redirect::to("/search").into_response(),
        session::set_cookie(&id),
    ))
}

// ---------------------------------------------------------------- search

/// A birth date to search for instead: as shown, and as the search is sent (with the
/// date's kanji, which no hospital ID has, so it always reads as a birth date).
struct BirthDateOffer {
    shown: String,
    query: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    c: Chrome,
    query: String,
    searched: bool,
    rows: Vec<Row>,
    /// More patients matched than are listed: the page asks to narrow the search.
    more: bool,
    /// A query read as a hospital ID that also reads as a birth date: that date, for a
    /// one-press birth-date search.
    as_birth_date: Option<BirthDateOffer>,
    wards: Vec<String>,
}

pub(crate) async fn search_form(ctx: Ctx) -> Result<Response, PageError> {
    let _ = ctx.reader().await?;
    let wards = ctx.viewer().wards().await?;
    let page = SearchPage {
        c: ctx.chrome(),
        query: String::new(),
        searched: false,
        rows: Vec::new(),
        more: false,
        as_birth_date: None,
        wards,
    };
    render(&page)
}

#[derive(Deserialize)]
pub(crate) struct SearchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    q: String,
}

pub(crate) async fn search(ctx: Ctx, Form(form): Form<SearchForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    let reader = ctx.reader().await?;
    let query = form.q.trim().to_owned();
    let wards = ctx.viewer().wards().await?;
    if query.is_empty() {
        let page = SearchPage {
            c: ctx.chrome(),
            query,
            searched: false,
            rows: Vec::new(),
            more: false,
            as_birth_date: None,
            wards,
        };
        return render(&page);
    }
    let found = ctx
        .viewer()
        .search(&reader, query.clone(), SEARCH_LIMIT)
        .await?;
    // Scan-to-open: a scanner types a label's hospital ID and Enter.
    if let Some(page) = super::labels::scanned(&query, &found.get().patients) {
        return Ok(Redirect::to(&page).into_response());
    }
    let today = today(&ctx);
    let more = found.get().more;
    let as_birth_date = (found.get().kind == QueryKind::HospitalId)
        .then(|| parse_birth_date_query(&query))
        .flatten()
        .map(|d| BirthDateOffer {
            shown: d.format("%Y-%m-%d").to_string(),
            query: d.format("%Y年%-m月%-d日").to_string(),
        });
    let rows = found
        .get()
        .patients
        .iter()
        .map(|s| Row::new(ctx.tr(), s, today))
        .collect();
    let page = SearchPage {
        c: ctx.chrome(),
        query,
        searched: true,
        rows,
        more,
        as_birth_date,
        wards,
    };
    render(&page)
}

fn today(ctx: &Ctx) -> chrono::NaiveDate {
    ctx.tr().zone.date(&Utc::now())
}

// ---------------------------------------------------------------- ward

#[derive(Template)]
#[template(path = "ward.html")]
struct WardPage {
    c: Chrome,
    ward: String,
    rows: Vec<Row>,
}

pub(crate) async fn ward(ctx: Ctx, Path(ward): Path<String>) -> Result<Response, PageError> {
    let reader = ctx.reader().await?;
    let census = ctx.viewer().census(&reader, ward.clone()).await?;
    let today = today(&ctx);
    let rows = census
        .get()
        .iter()
        .map(|s| Row::new(ctx.tr(), s, today))
        .collect();
    let page = WardPage {
        c: ctx.chrome(),
        ward,
        rows,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "ward_print.html")]
struct WardPrintPage {
    c: Chrome,
    ward: String,
    rows: Vec<Row>,
    patients: Vec<Summary>,
    /// Always false: a printout has no forms.
    recording: bool,
}

pub(crate) async fn ward_print(ctx: Ctx, Path(ward): Path<String>) -> Result<Response, PageError> {
    let reader = ctx.reader().await?;
    let printed = ctx.viewer().ward_print(&reader, ward.clone()).await?;
    let (census, records) = printed.into_inner();
    let today = today(&ctx);
    let as_of = as_of(&ctx);
    let clock = ctx.due_clock();
    let patients =
        super::downtime::summaries(&ctx, records, as_of, &clock, ctx.vital_limits()).await?;
    let page = WardPrintPage {
        c: ctx.chrome(),
        ward,
        rows: census
            .iter()
            .map(|s| Row::new(ctx.tr(), s, today))
            .collect(),
        patients,
        recording: false,
    };
    render(&page)
}

// ---------------------------------------------------------------- patient

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    c: Chrome,
    patients: Vec<Summary>,
    full: bool,
    print: bool,
    /// The recording forms are shown (a node with downtime records, not a printout).
    recording: bool,
    /// The entry just recorded (the acknowledgement), or 0.
    recorded: u64,
    new_vitals: EntryForm,
    new_note: EntryForm,
    new_unlisted: EntryForm,
}

fn as_of(ctx: &Ctx) -> chrono::DateTime<Utc> {
    ctx.viewer().as_of().unwrap_or_else(Utc::now)
}

async fn patient_page(
    ctx: Ctx,
    key: String,
    print: bool,
    recorded: Option<u64>,
) -> Result<Response, PageError> {
    // The session check runs on the blocking thread that reads and audits the record
    // (one hop instead of two on the busiest page); nothing is read if it refuses.
    let check = ctx.reader_check()?;
    let view = ctx
        .viewer()
        .patient(PatientKey(key), print, check)
        .await?
        .map_err(|refusal| ctx.session_refused(refusal))?;
    let patients = super::downtime::summaries(
        &ctx,
        vec![view.into_inner()],
        as_of(&ctx),
        &ctx.due_clock(),
        ctx.vital_limits(),
    )
    .await?;
    let page = PatientPage {
        c: ctx.chrome(),
        patients,
        full: true,
        print,
        recording: !print && ctx.downtime().is_some(),
        recorded: recorded.unwrap_or_default(),
        new_vitals: EntryForm::new("vitals"),
        new_note: EntryForm::new("note"),
        new_unlisted: EntryForm::new("administration"),
    };
    render(&page)
}

#[derive(Deserialize)]
pub(crate) struct PatientQuery {
    /// The downtime entry just recorded: the page acknowledges it.
    #[serde(default)]
    recorded: Option<u64>,
}

pub(crate) async fn patient(
    ctx: Ctx,
    Path(key): Path<String>,
    Query(q): Query<PatientQuery>,
) -> Result<Response, PageError> {
    patient_page(ctx, key, false, q.recorded).await
}

pub(crate) async fn patient_print(
    ctx: Ctx,
    Path(key): Path<String>,
) -> Result<Response, PageError> {
    patient_page(ctx, key, true, None).await
}
