//! The latest signed checkpoint of the audit ledger (to copy off the machine by hand), where
//! checkpoints were published, and signing one now.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::text::time;
use super::AdminCtx;
use crate::error::PageError;
use crate::pages::CsrfOnly;
use crate::pages::{render, render_with, Chrome};

#[derive(Template)]
#[template(path = "admin_checkpoint.html")]
struct CheckpointPage {
    c: Chrome,
    text: String,
    size: String,
    signed_at: String,
    valid: bool,
    public_key: String,
    removable: String,
    remote: String,
    pending: usize,
    publish_error: String,
}

pub(crate) async fn checkpoint(admin: AdminCtx) -> Result<Response, PageError> {
    let ledger = &admin.svc.ledger;
    let key = ledger.public_key();
    let latest = ledger.latest_checkpoint();
    let publish = ledger.publish_status();
    let tr = admin.ctx.tr();
    let page = CheckpointPage {
        c: admin.chrome(),
        text: latest.as_ref().map(|c| c.to_text(&key)).unwrap_or_default(),
        size: latest
            .as_ref()
            .map(|c| c.size.to_string())
            .unwrap_or_default(),
        signed_at: latest
            .as_ref()
            .map(|c| time(tr, &c.time))
            .unwrap_or_default(),
        valid: latest.as_ref().is_some_and(|c| c.verify(&key)),
        public_key: key.as_bytes().iter().map(|b| format!("{b:02x}")).collect(),
        removable: publish
            .removable_size
            .map(|s| s.to_string())
            .unwrap_or_default(),
        remote: publish
            .remote_size
            .map(|s| s.to_string())
            .unwrap_or_default(),
        pending: publish.remote_pending,
        publish_error: publish.last_error.unwrap_or_default(),
    };
    render(&page)
}

pub(crate) async fn checkpoint_now(
    admin: AdminCtx,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    admin.check_csrf(&form.csrf)?;
    let result = admin.blocking(|svc, _| svc.ledger.checkpoint_now()).await?;
    match result {
        Ok(_) => Ok(Redirect::to("/admin/checkpoint").into_response()),
        Err(e) => {
            tracing::error!(error = %e, "signing a checkpoint failed");
            render_with(
                StatusCode::SERVICE_UNAVAILABLE,
                &super::MessagePage {
                    c: admin.chrome(),
                    title: admin.ctx.tr().s("admin_refused"),
                    detail: admin.ctx.tr().s("error_audit").to_owned(),
                    ok: false,
                    back: "/admin/checkpoint".into(),
                },
            )
        }
    }
}
