//! Emergency accounts on the admin pages: the list, provisioning (answered with the seal
//! sheet, the only page that ever shows a credential), FIDO2 key enrolment, re-seal and
//! revoke.

use akari_accounts::event::Mode;
use akari_accounts::{
    AccountSummary, Error, OpenedBy, ProvisionRequest, RegisterPublicKeyCredential, SealSheet,
    SealStatus, WardScope,
};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use super::auth::{json_admin_request, json_failure};
use super::text::{opt_time, time, wards_text};
use super::{AdminCtx, PageQuery, Paging};
use crate::error::PageError;
use crate::i18n::Tr;
use crate::pages::CsrfOnly;
use crate::pages::{render, Chrome};

pub(super) struct AccountRow {
    id: String,
    label: String,
    wards: String,
    expires: String,
    key: bool,
    status: &'static str,
    status_code: String,
    seal_number: String,
    opened: String,
    can_reseal: bool,
    can_key: bool,
    can_revoke: bool,
}

fn status_label(tr: Tr, s: SealStatus) -> &'static str {
    tr.s(match s {
        SealStatus::Sealed => "seal_sealed",
        SealStatus::Opened => "seal_opened",
        SealStatus::Retired => "seal_retired",
        SealStatus::Revoked => "seal_revoked",
    })
}

fn account_row(tr: Tr, a: &AccountSummary, mode: Mode) -> AccountRow {
    let in_episode = mode.allows_emergency_login();
    AccountRow {
        id: a.account_id.clone(),
        label: a.label.clone(),
        wards: wards_text(tr, &a.ward_scope),
        expires: opt_time(tr, a.expires_at.as_ref()),
        key: a.key_enrolled,
        status: status_label(tr, a.status),
        status_code: a.status.to_string(),
        seal_number: a.seal_number.clone().unwrap_or_default(),
        opened: a
            .opening
            .as_ref()
            .map(|o| {
                let by = match &o.by {
                    OpenedBy::AwaitingDeclaration { .. } => String::new(),
                    OpenedBy::Declared { person, .. } => {
                        format!(" {} ({})", person.name, person.staff_number)
                    }
                };
                format!("{}{by}", time(tr, &o.at))
            })
            .unwrap_or_default(),
        can_reseal: !in_episode && a.status != SealStatus::Opened,
        can_key: a.status == SealStatus::Sealed,
        can_revoke: a.status != SealStatus::Revoked,
    }
}

#[derive(Template)]
#[template(path = "admin_accounts.html")]
struct AccountsPage {
    c: Chrome,
    rows: Vec<AccountRow>,
    can_provision: bool,
    paging: Paging,
    base: &'static str,
}

/// Accounts per page of the list (each row carries its re-seal and revoke forms): a
/// hospital may keep a few hundred sealed envelopes.
const ACCOUNTS_PER_PAGE: usize = 50;

pub(crate) async fn accounts(
    admin: AdminCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let result = admin
        .blocking(|svc, cap| {
            Ok::<_, Error>((svc.accounts.list_accounts(cap)?, svc.accounts.mode()?))
        })
        .await?;
    let (list, mode) = match result {
        Ok(x) => x,
        Err(e) => return admin.refused(e),
    };
    let tr = admin.ctx.tr();
    let paging = Paging::new(list.len(), ACCOUNTS_PER_PAGE, q.page);
    let page = AccountsPage {
        c: admin.chrome(),
        rows: list[paging.range()]
            .iter()
            .map(|a| account_row(tr, a, mode.mode))
            .collect(),
        can_provision: !mode.mode.allows_emergency_login(),
        paging,
        base: "/admin/accounts",
    };
    render(&page)
}

#[derive(Deserialize)]
pub(crate) struct ProvisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    /// Ward names separated by commas or new lines; empty means every ward.
    #[serde(default)]
    wards: String,
    /// `YYYY-MM-DD` (the account works until the end of that day on the hospital's clock); empty: none.
    #[serde(default)]
    expires: String,
}

pub(crate) async fn provision(
    admin: AdminCtx,
    Form(form): Form<ProvisionForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let wards: Vec<String> = form
        .wards
        .split([',', '、', '\n'])
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    let ward_scope = if wards.is_empty() {
        WardScope::All
    } else {
        WardScope::Wards(wards)
    };
    let expires_at = match form.expires.trim() {
        "" => None,
        text => match NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| admin.ctx.tr().zone.end_of_day(d))
        {
            Some(t) => Some(t),
            None => {
                return admin.message(
                    StatusCode::BAD_REQUEST,
                    "admin_refused",
                    admin.ctx.tr().s("admin_bad_expiry").to_owned(),
                )
            }
        },
    };
    let request = ProvisionRequest {
        label: form.label.clone(),
        ward_scope,
        expires_at,
    };
    let client = admin.ctx.client.clone();
    let result = admin
        .blocking(move |svc, cap| svc.accounts.provision(cap, request, &client))
        .await?;
    match result {
        Ok(sheet) => seal_sheet(&admin, sheet),
        Err(e) => admin.refused(e),
    }
}

#[derive(Template)]
#[template(path = "admin_seal.html")]
struct SealPage {
    c: Chrome,
    account_id: String,
    label: String,
    seal_number: String,
    credential: String,
    wards_ja: String,
    wards_en: String,
    expires: String,
    key_enrolled: bool,
    issued: String,
    instructions_ja: &'static [&'static str],
    instructions_en: &'static [&'static str],
}

/// The seal sheet: the only response that ever carries the credential. It is the answer
/// to the POST that issued it, never stored, and no GET can show it again.
fn seal_sheet(admin: &AdminCtx, sheet: SealSheet) -> Result<Response, PageError> {
    let tr = admin.ctx.tr();
    let ja = Tr {
        lang: crate::i18n::Lang::Ja,
        ..tr
    };
    let en = Tr {
        lang: crate::i18n::Lang::En,
        ..tr
    };
    let page = SealPage {
        c: admin.chrome(),
        account_id: sheet.account_id.clone(),
        label: sheet.label.clone(),
        seal_number: sheet.seal_number.clone(),
        credential: sheet.credential().expose().to_owned(),
        wards_ja: wards_text(ja, &sheet.ward_scope),
        wards_en: wards_text(en, &sheet.ward_scope),
        expires: sheet
            .expires_at
            .as_ref()
            .map(|t| time(tr, t))
            .unwrap_or_else(|| "なし / none".to_owned()),
        key_enrolled: sheet.key_enrolled,
        issued: time(tr, &sheet.issued_at),
        instructions_ja: sheet.instructions_ja(),
        instructions_en: sheet.instructions_en(),
    };
    drop(sheet);
    render(&page)
}

pub(crate) async fn reseal(
    admin: AdminCtx,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let client = admin.ctx.client.clone();
    let result = admin
        .blocking(move |svc, cap| svc.accounts.reseal(cap, &id, &client))
        .await?;
    match result {
        Ok(sheet) => seal_sheet(&admin, sheet),
        Err(e) => admin.refused(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// `yes` when "I understand" was ticked: a revoked account cannot be opened again.
    #[serde(default)]
    confirm: String,
}

pub(crate) async fn revoke(
    admin: AdminCtx,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    if form.confirm != "yes" {
        return admin.unconfirmed();
    }
    let client = admin.ctx.client.clone();
    let result = admin
        .blocking(move |svc, cap| svc.accounts.revoke(cap, &id, &form.reason, &client))
        .await?;
    match result {
        Ok(()) => Ok(Redirect::to("/admin/accounts").into_response()),
        Err(e) => admin.refused(e),
    }
}

#[derive(Template)]
#[template(path = "admin_key.html")]
struct KeyPage {
    c: Chrome,
    account: AccountRow,
}

pub(crate) async fn key_form(
    admin: AdminCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let result = admin
        .blocking(move |svc, cap| {
            Ok::<_, Error>((svc.accounts.account(cap, &id)?, svc.accounts.mode()?))
        })
        .await?;
    let (account, mode) = match result {
        Ok(x) => x,
        Err(e) => return admin.refused(e),
    };
    let page = KeyPage {
        c: admin.chrome(),
        account: account_row(admin.ctx.tr(), &account, mode.mode),
    };
    render(&page)
}

pub(crate) async fn key_begin(
    admin: AdminCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = json_admin_request::<serde_json::Value>(&admin, &headers, &body) {
        return refusal.into_response();
    }
    let tr = admin.ctx.tr();
    match admin
        .blocking(move |svc, cap| svc.accounts.begin_key_enrolment(cap, &id))
        .await
    {
        Ok(Ok(challenge)) => Json(json!({
            "ceremony_id": challenge.ceremony_id,
            "options": challenge.options,
        }))
        .into_response(),
        Ok(Err(e)) => json_failure(StatusCode::CONFLICT, &refusal_text(tr, &e)),
        Err(_) => json_failure(StatusCode::INTERNAL_SERVER_ERROR, tr.s("error_internal")),
    }
}

#[derive(Deserialize)]
struct KeyFinish {
    ceremony_id: String,
    response: RegisterPublicKeyCredential,
}

pub(crate) async fn key_finish(
    admin: AdminCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: KeyFinish = match json_admin_request(&admin, &headers, &body) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    let tr = admin.ctx.tr();
    let client = admin.ctx.client.clone();
    match admin
        .blocking(move |svc, cap| {
            svc.accounts
                .finish_key_enrolment(cap, &req.ceremony_id, &req.response, &client)
        })
        .await
    {
        Ok(Ok(())) => Json(json!({ "redirect": "/admin/accounts" })).into_response(),
        Ok(Err(e)) => {
            tracing::info!(account_id = %id, error = %e, "key enrolment refused");
            json_failure(StatusCode::CONFLICT, &refusal_text(tr, &e))
        }
        Err(_) => json_failure(StatusCode::INTERNAL_SERVER_ERROR, tr.s("error_internal")),
    }
}

/// What an admin may read of a refusal: the accounts layer's own words for refusals,
/// nothing internal.
fn refusal_text(tr: Tr, e: &Error) -> String {
    match e {
        Error::Audit(_) => tr.s("error_audit").to_owned(),
        e if e.is_internal() => {
            tracing::error!(error = %e, "accounts service failed");
            tr.s("error_internal").to_owned()
        }
        other => other.to_string(),
    }
}
