//! How the admin and review pages put times, actors, modes and ward scopes into words.

use akari_accounts::event::{Actor, Mode};
use akari_accounts::WardScope;
use chrono::{DateTime, Utc};

use crate::i18n::Tr;

pub(super) fn time(tr: Tr, t: &DateTime<Utc>) -> String {
    tr.zone.minute(t)
}

pub(super) fn opt_time(tr: Tr, t: Option<&DateTime<Utc>>) -> String {
    t.map(|t| time(tr, t)).unwrap_or_default()
}

pub(super) fn actor_text(a: &Actor) -> String {
    match a {
        Actor::System => "system".into(),
        Actor::Console { os_user } => format!("console ({os_user})"),
        Actor::Admin { admin_id } => format!("admin {admin_id}"),
        Actor::Emergency { account_id, .. } => account_id.clone(),
        Actor::Anonymous => "-".into(),
    }
}

pub(super) fn mode_label(tr: Tr, mode: Mode) -> &'static str {
    tr.s(match mode {
        Mode::Emergency => "mode_emergency",
        Mode::Drill => "mode_drill",
        Mode::Standby => "mode_standby",
        Mode::Recovery => "mode_recovery",
    })
}

pub(super) fn wards_text(tr: Tr, scope: &WardScope) -> String {
    match scope {
        WardScope::All => tr.s("all_wards").to_owned(),
        WardScope::Wards(w) => w.join(", "),
    }
}
