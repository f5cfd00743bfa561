//! How the admin and review pages put times, actors, modes and ward scopes into words.

use akari_accounts::event::{Actor, Mode};
use akari_accounts::WardScope;
use chrono::{DateTime, Utc};

use crate::i18n::{Lang, Tr};

pub(super) fn time(tr: Tr, t: &DateTime<Utc>) -> String {
    tr.zone.minute(t)
}

pub(super) fn opt_time(tr: Tr, t: Option<&DateTime<Utc>>) -> String {
    t.map(|t| time(tr, t)).unwrap_or_default()
}

/// `ja` or `en`, as the reader reads.
pub(super) fn say(tr: Tr, ja: &str, en: &str) -> String {
    match tr.lang {
        Lang::Ja => ja.to_owned(),
        Lang::En => en.to_owned(),
    }
}

pub(super) fn actor_text(tr: Tr, a: &Actor) -> String {
    match a {
        Actor::System => say(tr, "システム", "system"),
        Actor::Console { os_user } => format!("{} ({os_user})", say(tr, "コンソール", "console")),
        Actor::Admin { admin_id } => format!("{} {admin_id}", say(tr, "管理者", "admin")),
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
