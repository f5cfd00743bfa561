//! Admin login (admin ID + password + WebAuthn assertion with user verification) and
//! enrolment (the console's one-time code + a new WebAuthn credential).
//!
//! The forms are HTML; the ceremony needs `navigator.credentials`, so `/static/admin.js`
//! posts JSON to the `begin`/`finish` endpoints with the session's CSRF token in the
//! `X-CSRF-Token` header. The browser session is rotated at login.

use akari_accounts::{
    AdminLogin as AccountsLogin, EnrolmentCode, Error, LoginRefused, Password, PublicKeyCredential,
    RegisterPublicKeyCredential,
};
use askama::Template;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::{admin_login, AdminCtx};
use crate::error::{PageError, Problem};
use crate::i18n::Tr;
use crate::pages::{render, with_cookie, Chrome, CsrfOnly, Ctx};
use crate::session::{self, AdminLogin, Principal};

pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON failure the script shows to the person: `{"error": "..."}`.
fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A refused JSON request: answered as `{"error": message}`.
pub(super) struct JsonRefusal {
    status: StatusCode,
    message: &'static str,
}

impl IntoResponse for JsonRefusal {
    fn into_response(self) -> Response {
        json_error(self.status, self.message)
    }
}

/// Checks the CSRF header and parses the body. Errors are JSON, in the person's language.
fn json_request<T: DeserializeOwned>(
    ctx: &Ctx,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, JsonRefusal> {
    let tr = ctx.tr();
    let submitted = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let valid = matches!(&ctx.session, Some((_, s)) if s.csrf_matches(submitted));
    if !valid {
        tracing::warn!("JSON request refused: missing or wrong CSRF token");
        return Err(JsonRefusal {
            status: StatusCode::FORBIDDEN,
            message: tr.s("error_csrf"),
        });
    }
    serde_json::from_slice(body).map_err(|e| {
        tracing::info!(error = %e, "malformed JSON from the admin script");
        JsonRefusal {
            status: StatusCode::BAD_REQUEST,
            message: tr.s("error_bad_request"),
        }
    })
}

/// Ensures the browser has a session (anonymous) so the form carries a CSRF token.
fn ensure_session(ctx: &mut Ctx) -> Option<axum::http::HeaderValue> {
    if ctx.session.is_some() {
        return None;
    }
    let (id, s) = ctx.sessions().create(Principal::Anonymous);
    let cookie = session::set_cookie(&id);
    ctx.session = Some((id, s));
    Some(cookie)
}

/// A refused admin login as the script shows it; backoff says how long to wait, also in
/// `Retry-After`.
fn login_refused(tr: Tr, e: &Error) -> Response {
    let (status, message) = match e {
        Error::Login(LoginRefused::TooManyAttempts { retry_after_secs }) => {
            let secs = (*retry_after_secs).max(1);
            let message = tr.s("login_backoff").replace("{secs}", &secs.to_string());
            let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, &message);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
            return response;
        }
        Error::Login(_) | Error::UnknownCeremony | Error::UnknownAdmin(_) => {
            (StatusCode::UNAUTHORIZED, tr.s("admin_login_refused"))
        }
        Error::Audit(_) => (StatusCode::SERVICE_UNAVAILABLE, tr.s("error_audit")),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, tr.s("error_internal")),
    };
    json_error(status, message)
}

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage {
    c: Chrome,
    notice: &'static str,
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    out: Option<String>,
    #[serde(default)]
    enrolled: Option<String>,
}

pub(crate) async fn login_form(
    mut ctx: Ctx,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    if ctx.pages.admin().is_none() {
        return Err(PageError::from(Problem::NotFound));
    }
    let cookie = ensure_session(&mut ctx);
    let tr = ctx.tr();
    let notice = if q.out.is_some() {
        tr.s("logged_out")
    } else if q.enrolled.is_some() {
        tr.s("admin_enrolled")
    } else {
        ""
    };
    let page = LoginPage {
        c: ctx.chrome(),
        notice,
    };
    let response = render(&page)?;
    Ok(match cookie {
        Some(c) => with_cookie(response, c),
        None => response,
    })
}

#[derive(Deserialize)]
struct LoginBegin {
    admin_id: String,
}

pub(crate) async fn login_begin(ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let req: LoginBegin = match json_request(&ctx, &headers, &body) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(svc) = ctx.pages.admin().cloned() else {
        return json_error(StatusCode::NOT_FOUND, ctx.tr().s("error_not_found"));
    };
    let client = ctx.client.clone();
    let result =
        tokio::task::spawn_blocking(move || svc.accounts.begin_admin_login(&req.admin_id, &client))
            .await;
    match result {
        Ok(Ok(challenge)) => Json(json!({
            "ceremony_id": challenge.ceremony_id,
            "options": challenge.options,
        }))
        .into_response(),
        Ok(Err(e)) => {
            tracing::info!(error = %e, "admin login could not begin");
            login_refused(ctx.tr(), &e)
        }
        Err(_) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ctx.tr().s("error_internal"),
        ),
    }
}

#[derive(Deserialize)]
struct LoginFinish {
    admin_id: String,
    password: String,
    ceremony_id: String,
    response: PublicKeyCredential,
}

pub(crate) async fn login_finish(ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let req: LoginFinish = match json_request(&ctx, &headers, &body) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(svc) = ctx.pages.admin().cloned() else {
        return json_error(StatusCode::NOT_FOUND, ctx.tr().s("error_not_found"));
    };
    let client = ctx.client.clone();
    let login = AccountsLogin {
        admin_id: req.admin_id,
        password: Password::new(req.password),
        ceremony_id: req.ceremony_id,
        response: req.response,
    };
    let result =
        tokio::task::spawn_blocking(move || svc.accounts.login_admin(login, &client)).await;
    match result {
        Ok(Ok(new)) => {
            // Fixation defence: a new browser session identifier for the admin.
            let old = ctx.session.as_ref().map(|(id, _)| id);
            let (id, _) = ctx.sessions().rotate(
                old,
                Principal::Admin(AdminLogin {
                    admin_id: new.session.admin_id.clone(),
                    session_id: new.session.session_id.clone(),
                    token: new.token.expose().to_owned(),
                }),
            );
            with_cookie(
                Json(json!({ "redirect": "/admin" })).into_response(),
                session::set_cookie(&id),
            )
        }
        Ok(Err(e)) => {
            tracing::info!(error = %e, "admin login refused");
            login_refused(ctx.tr(), &e)
        }
        Err(_) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ctx.tr().s("error_internal"),
        ),
    }
}

// ---------------------------------------------------------------- enrolment

#[derive(Template)]
#[template(path = "admin_enrol.html")]
struct EnrolPage {
    c: Chrome,
}

pub(crate) async fn enrol_form(mut ctx: Ctx) -> Result<Response, PageError> {
    if ctx.pages.admin().is_none() {
        return Err(PageError::from(Problem::NotFound));
    }
    let cookie = ensure_session(&mut ctx);
    let page = EnrolPage { c: ctx.chrome() };
    let response = render(&page)?;
    Ok(match cookie {
        Some(c) => with_cookie(response, c),
        None => response,
    })
}

#[derive(Deserialize)]
struct EnrolBegin {
    admin_id: String,
    code: String,
}

pub(crate) async fn enrol_begin(ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let req: EnrolBegin = match json_request(&ctx, &headers, &body) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(svc) = ctx.pages.admin().cloned() else {
        return json_error(StatusCode::NOT_FOUND, ctx.tr().s("error_not_found"));
    };
    let code = EnrolmentCode::new(req.code.trim());
    let result = tokio::task::spawn_blocking(move || {
        svc.accounts.begin_admin_enrolment(&req.admin_id, &code)
    })
    .await;
    let tr = ctx.tr();
    match result {
        Ok(Ok(challenge)) => Json(json!({
            "ceremony_id": challenge.ceremony_id,
            "options": challenge.options,
        }))
        .into_response(),
        Ok(Err(Error::BadEnrolmentCode)) => {
            json_error(StatusCode::UNAUTHORIZED, tr.s("admin_enrol_bad_code"))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "admin enrolment could not begin");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, tr.s("error_internal"))
        }
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, tr.s("error_internal")),
    }
}

#[derive(Deserialize)]
struct EnrolFinish {
    ceremony_id: String,
    response: RegisterPublicKeyCredential,
}

pub(crate) async fn enrol_finish(ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let req: EnrolFinish = match json_request(&ctx, &headers, &body) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(svc) = ctx.pages.admin().cloned() else {
        return json_error(StatusCode::NOT_FOUND, ctx.tr().s("error_not_found"));
    };
    let client = ctx.client.clone();
    let result = tokio::task::spawn_blocking(move || {
        svc.accounts
            .finish_admin_enrolment(&req.ceremony_id, &req.response, &client)
    })
    .await;
    let tr = ctx.tr();
    match result {
        Ok(Ok(())) => Json(json!({ "redirect": "/admin/login?enrolled=1" })).into_response(),
        Ok(Err(Error::BadEnrolmentCode | Error::UnknownCeremony)) => {
            json_error(StatusCode::UNAUTHORIZED, tr.s("admin_enrol_bad_code"))
        }
        Ok(Err(Error::WebAuthn(e))) => {
            tracing::info!(error = %e, "admin enrolment: WebAuthn refused");
            json_error(StatusCode::BAD_REQUEST, tr.s("admin_webauthn_failed"))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "admin enrolment failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, tr.s("error_internal"))
        }
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, tr.s("error_internal")),
    }
}

// ---------------------------------------------------------------- logout

pub(crate) async fn logout(ctx: Ctx, Form(form): Form<CsrfOnly>) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    if let (Some(login), Some(svc)) = (admin_login(&ctx), ctx.pages.admin().cloned()) {
        let client = ctx.client.clone();
        let token = akari_accounts::SessionToken::new(login.token);
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = svc.accounts.logout(&token, &client) {
                tracing::info!(error = %e, "logout of an already ended admin session");
            }
        })
        .await;
    }
    if let Some((id, _)) = &ctx.session {
        ctx.sessions().remove(id);
    }
    let mut response = Redirect::to("/admin/login?out=1").into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, session::clear_cookie());
    Ok(response)
}

/// Used by the key-enrolment endpoints (admins only) in `accounts`.
pub(super) fn json_admin_request<T: DeserializeOwned>(
    admin: &AdminCtx,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, JsonRefusal> {
    json_request(&admin.ctx, headers, body)
}

pub(super) fn json_failure(status: StatusCode, message: &str) -> Response {
    json_error(status, message)
}
