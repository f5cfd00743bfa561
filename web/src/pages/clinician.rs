//! Clinician pages (emergency and drill modes): login with a sealed account, declaration,
//! search, ward census, patient summary and printing.
//!
//! Search is a POST: the query (a name, an ID, a birth date) then never appears in a URL,
//! so it stays out of browser history, bookmarks, proxy and access logs; the CSRF token
//! comes with it. Patient pages are GETs on opaque keys, so they can be bookmarked or
//! reloaded without revealing who the patient is.

use akari_accounts::event::{Actor, DeclaredPerson, Reason};
use akari_sync::model::PatientKey;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::{render, render_with, with_cookie, Chrome, Ctx, Pages};
use crate::display::{jst, Row, Summary};
use crate::error::{PageError, Problem};
use crate::gate::Refusal;
use crate::i18n::{Lang, LANG_COOKIE};
use crate::session::{self, Principal};
use crate::viewer::Reader;

pub(super) fn routes() -> Router<Pages> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/declare", get(declare_form).post(declare))
        .route("/logout", axum::routing::post(logout))
        .route("/search", get(search_form).post(search))
        .route("/wards/{ward}", get(ward))
        .route("/wards/{ward}/print", get(ward_print))
        .route("/patients/{key}", get(patient))
        .route("/patients/{key}/print", get(patient_print))
}

/// Maximum search results shown (the query is refined rather than paged).
const SEARCH_LIMIT: usize = 50;

async fn home(ctx: Ctx) -> Redirect {
    match ctx.principal() {
        Principal::Clinician { declared: None, .. } => Redirect::to("/declare"),
        Principal::Clinician { .. } => Redirect::to("/search"),
        _ => Redirect::to("/login"),
    }
}

#[derive(Deserialize)]
pub(super) struct LangBack {
    #[serde(default)]
    back: String,
}

/// Sets the language cookie and returns to the page the toggle was on.
pub(super) async fn switch_lang(Path(code): Path<String>, Query(q): Query<LangBack>) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::Ja);
    // Only local paths: never an open redirect.
    let back = if q.back.starts_with('/') && !q.back.starts_with("//") && !q.back.contains('\\') {
        q.back
    } else {
        "/".to_owned()
    };
    let cookie = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; Secure; SameSite=Strict; Max-Age=31536000",
        lang.code()
    ))
    .expect("static cookie");
    with_cookie(Redirect::to(&back).into_response(), cookie)
}

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    error: &'static str,
    notice: &'static str,
    allowed: bool,
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    out: Option<String>,
}

async fn login_form(mut ctx: Ctx, Query(q): Query<LoginQuery>) -> Result<Response, PageError> {
    // The anonymous session exists only so the login form carries a CSRF token.
    let mut new_cookie = None;
    if ctx.session.is_none() {
        let (id, s) = ctx.sessions().create(Principal::Anonymous);
        new_cookie = Some(session::set_cookie(&id));
        ctx.session = Some((id, s));
    }
    let tr = ctx.tr();
    let page = LoginPage {
        c: ctx.chrome(),
        error: "",
        notice: if q.out.is_some() {
            tr.s("logged_out")
        } else {
            ""
        },
        allowed: ctx.mode.allows_emergency_login(),
    };
    let response = render(ctx.lang, &page)?;
    Ok(match new_cookie {
        Some(c) => with_cookie(response, c),
        None => response,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account_id: String,
    #[serde(default)]
    credential: String,
}

async fn login(ctx: Ctx, Form(form): Form<LoginForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    let gate = ctx.gate();
    let client = ctx.client.clone();
    let account_id = form.account_id.trim().to_owned();
    let credential = form.credential.trim().to_owned();
    let result = tokio::task::spawn_blocking(move || {
        gate.emergency_login(&account_id, &credential, &client)
    })
    .await
    .map_err(|_| ctx.fail(Problem::Internal))?;
    match result {
        Ok(login) => {
            let old = ctx.session.as_ref().map(|(id, _)| id);
            let (id, _) = ctx.sessions().rotate(
                old,
                Principal::Clinician {
                    login,
                    declared: None,
                },
            );
            Ok(with_cookie(
                Redirect::to("/declare").into_response(),
                session::set_cookie(&id),
            ))
        }
        Err(refusal) => {
            let tr = ctx.tr();
            let (status, key) = match refusal {
                Refusal::Backoff => (StatusCode::TOO_MANY_REQUESTS, "login_backoff"),
                Refusal::Mode => (StatusCode::FORBIDDEN, "login_not_allowed"),
                Refusal::BadCredentials | Refusal::Expired => {
                    (StatusCode::UNAUTHORIZED, "login_refused")
                }
                Refusal::Internal(e) => {
                    tracing::error!(error = %e, "accounts service failed during login");
                    return Err(ctx.fail(Problem::Internal));
                }
            };
            let page = LoginPage {
                c: ctx.chrome(),
                error: tr.s(key),
                notice: "",
                allowed: ctx.mode.allows_emergency_login(),
            };
            render_with(ctx.lang, status, &page)
        }
    }
}

async fn logout(ctx: Ctx, Form(form): Form<CsrfOnly>) -> Result<Response, PageError> {
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

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
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
struct DeclareForm {
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

async fn declare_form(ctx: Ctx) -> Result<Response, PageError> {
    let (_, declared) = ctx.clinician().await?;
    if declared.is_some() {
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
    render(ctx.lang, &page)
}

async fn declare(ctx: Ctx, Form(form): Form<DeclareForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    let (login, declared) = ctx.clinician().await?;
    if declared.is_some() {
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
        return render_with(ctx.lang, StatusCode::BAD_REQUEST, &page);
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
    .await
    .map_err(|_| ctx.fail(Problem::Internal))?;
    let login = match result {
        Ok(login) => login,
        Err(refusal) => {
            tracing::warn!(%refusal, "declaration refused");
            return Err(ctx.fail(Problem::Expired));
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

/// A declared clinician in emergency or drill mode, as the audit ledger names them.
async fn reader(ctx: &Ctx) -> Result<Reader, PageError> {
    let (login, declared) = ctx.clinician().await?;
    let Some(declared) = declared else {
        return Err(ctx.fail(Problem::Forbidden));
    };
    Ok(Reader {
        actor: Actor::Emergency {
            account_id: login.account_id,
            session_id: login.session_id,
            declared: Some(declared),
        },
        client: ctx.client.clone(),
        mode: ctx.mode,
    })
}

// ---------------------------------------------------------------- search

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    c: Chrome,
    query: String,
    searched: bool,
    rows: Vec<Row>,
    wards: Vec<String>,
}

async fn search_form(ctx: Ctx) -> Result<Response, PageError> {
    let _ = reader(&ctx).await?;
    let wards = ctx
        .viewer()
        .wards()
        .await
        .map_err(|e| PageError::from_view(ctx.lang, e))?;
    let page = SearchPage {
        c: ctx.chrome(),
        query: String::new(),
        searched: false,
        rows: Vec::new(),
        wards,
    };
    render(ctx.lang, &page)
}

#[derive(Deserialize)]
struct SearchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    q: String,
}

async fn search(ctx: Ctx, Form(form): Form<SearchForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    let reader = reader(&ctx).await?;
    let query = form.q.trim().to_owned();
    let wards = ctx
        .viewer()
        .wards()
        .await
        .map_err(|e| PageError::from_view(ctx.lang, e))?;
    if query.is_empty() {
        let page = SearchPage {
            c: ctx.chrome(),
            query,
            searched: false,
            rows: Vec::new(),
            wards,
        };
        return render(ctx.lang, &page);
    }
    let found = ctx
        .viewer()
        .search(&reader, query.clone(), SEARCH_LIMIT)
        .await
        .map_err(|e| PageError::from_view(ctx.lang, e))?;
    let today = today();
    let rows = found
        .get()
        .iter()
        .map(|s| Row::new(ctx.tr(), s, today))
        .collect();
    let page = SearchPage {
        c: ctx.chrome(),
        query,
        searched: true,
        rows,
        wards,
    };
    render(ctx.lang, &page)
}

fn today() -> chrono::NaiveDate {
    Utc::now().with_timezone(&jst()).date_naive()
}

// ---------------------------------------------------------------- ward

#[derive(Template)]
#[template(path = "ward.html")]
struct WardPage {
    c: Chrome,
    ward: String,
    rows: Vec<Row>,
}

async fn ward(ctx: Ctx, Path(ward): Path<String>) -> Result<Response, PageError> {
    let reader = reader(&ctx).await?;
    let census = ctx
        .viewer()
        .census(&reader, ward.clone())
        .await
        .map_err(|e| PageError::from_view(ctx.lang, e))?;
    let today = today();
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
    render(ctx.lang, &page)
}

#[derive(Template)]
#[template(path = "ward_print.html")]
struct WardPrintPage {
    c: Chrome,
    ward: String,
    rows: Vec<Row>,
    patients: Vec<Summary>,
    full: bool,
}

async fn ward_print(ctx: Ctx, Path(ward): Path<String>) -> Result<Response, PageError> {
    let reader = reader(&ctx).await?;
    let printed = ctx
        .viewer()
        .ward_print(&reader, ward.clone())
        .await
        .map_err(|e| PageError::from_view(ctx.lang, e))?;
    let (census, records) = printed.get();
    let today = today();
    let as_of = as_of(&ctx);
    let page = WardPrintPage {
        c: ctx.chrome(),
        ward,
        rows: census
            .iter()
            .map(|s| Row::new(ctx.tr(), s, today))
            .collect(),
        patients: records
            .iter()
            .map(|r| Summary::new(ctx.tr(), r, as_of))
            .collect(),
        full: false,
    };
    render(ctx.lang, &page)
}

// ---------------------------------------------------------------- patient

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    c: Chrome,
    patients: Vec<Summary>,
    full: bool,
    print: bool,
}

fn as_of(ctx: &Ctx) -> chrono::DateTime<Utc> {
    ctx.viewer().as_of().unwrap_or_else(Utc::now)
}

async fn patient_page(ctx: Ctx, key: String, print: bool) -> Result<Response, PageError> {
    let reader = reader(&ctx).await?;
    let view = ctx
        .viewer()
        .patient(&reader, PatientKey(key), print)
        .await
        .map_err(|e| PageError::from_view(ctx.lang, e))?;
    let page = PatientPage {
        c: ctx.chrome(),
        patients: vec![Summary::new(ctx.tr(), view.get(), as_of(&ctx))],
        full: true,
        print,
    };
    render(ctx.lang, &page)
}

async fn patient(ctx: Ctx, Path(key): Path<String>) -> Result<Response, PageError> {
    patient_page(ctx, key, false).await
}

async fn patient_print(ctx: Ctx, Path(key): Path<String>) -> Result<Response, PageError> {
    patient_page(ctx, key, true).await
}
