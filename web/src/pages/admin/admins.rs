//! The admins on the admin pages: who they are, and their recovery by another admin (a
//! new enrolment code, every passkey replaced, or a new password). The result page is the
//! only response that carries the new code or password; no GET shows it again.

use akari_accounts::event::AdminRecovery;
use akari_accounts::{AdminRecovered, Error};
use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::text::time;
use super::AdminCtx;
use crate::error::PageError;
use crate::pages::{render, Chrome};

struct AdminRow {
    id: String,
    name: String,
    passkeys: usize,
    pending_code: bool,
    own: bool,
}

#[derive(Template)]
#[template(path = "admin_admins.html")]
struct AdminsPage {
    c: Chrome,
    rows: Vec<AdminRow>,
}

pub(crate) async fn admins(admin: AdminCtx) -> Result<Response, PageError> {
    let result = admin
        .blocking(|svc, cap| svc.accounts.list_admins(cap))
        .await?;
    let list = match result {
        Ok(list) => list,
        Err(e) => return admin.refused(e),
    };
    let own = admin.session.admin_id.clone();
    let page = AdminsPage {
        c: admin.chrome(),
        rows: list
            .into_iter()
            .map(|a| AdminRow {
                own: a.admin_id == own,
                id: a.admin_id,
                name: a.display_name,
                passkeys: a.passkeys,
                pending_code: a.enrolment_pending,
            })
            .collect(),
    };
    render(&page)
}

#[derive(Deserialize)]
pub(crate) struct RecoverForm {
    #[serde(default)]
    csrf: String,
    /// `code`, `passkeys` or `password`.
    #[serde(default)]
    change: String,
    /// `yes` when "I understand" was ticked: the old secret stops working at once.
    #[serde(default)]
    confirm: String,
}

#[derive(Template)]
#[template(path = "admin_recovered.html")]
struct RecoveredPage {
    c: Chrome,
    admin_id: String,
    change: String,
    code: Option<String>,
    expires: String,
    password: Option<String>,
}

pub(crate) async fn recover(
    admin: AdminCtx,
    Path(id): Path<String>,
    Form(form): Form<RecoverForm>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let change = match form.change.as_str() {
        "code" => AdminRecovery::EnrolmentCodeReissued,
        "passkeys" => AdminRecovery::PasskeysReplaced,
        "password" => AdminRecovery::PasswordReset,
        _ => {
            return admin.refused(Error::Invalid {
                field: "recovery",
                problem: "choose a new code, replaced passkeys or a new password".into(),
            })
        }
    };
    if form.confirm != "yes" {
        return admin.unconfirmed();
    }
    let client = admin.ctx.client.clone();
    let result = admin
        .blocking(move |svc, cap| svc.accounts.recover_admin(cap, &id, change, &client))
        .await?;
    match result {
        Ok(recovered) => recovered_page(&admin, recovered),
        Err(e) => admin.refused(e),
    }
}

fn recovered_page(admin: &AdminCtx, recovered: AdminRecovered) -> Result<Response, PageError> {
    let tr = admin.ctx.tr();
    let page = RecoveredPage {
        c: admin.chrome(),
        admin_id: recovered.admin_id.clone(),
        change: recovered.change.to_string(),
        code: recovered
            .enrolment
            .as_ref()
            .map(|t| t.code.expose().to_owned()),
        expires: recovered
            .enrolment
            .as_ref()
            .map(|t| time(tr, &t.expires_at))
            .unwrap_or_default(),
        password: recovered.password.as_ref().map(|p| p.expose().to_owned()),
    };
    drop(recovered);
    render(&page)
}
