//! What a console command sends and gets back: one [`Request`], one [`Response`]. The
//! same types are used in-process and, as one JSON line each, on the control socket.

use std::path::PathBuf;

use akari_accounts::event::AdminRecovery;
use akari_accounts::Zone;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// A time typed on the command line (`--from`, `--to`, `--expires`). A date or a time
/// without an offset is on the hospital's clock (`[display] time_zone`), which only the
/// node knows: it is sent as typed and resolved where the command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypedTime {
    /// `2027-03-31T09:00:00+09:00`: an instant.
    Instant(DateTime<Utc>),
    /// `2027-03-31T09:00:00`: wall-clock time on the hospital's clock.
    Local(NaiveDateTime),
    /// `2027-03-31`: a day on the hospital's clock.
    Date(NaiveDate),
}

impl TypedTime {
    /// Reads `2027-03-31`, `2027-03-31T09:00[:00]` or an RFC 3339 time.
    pub fn parse(text: &str) -> Result<TypedTime, String> {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(TypedTime::Instant(t.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                return Ok(TypedTime::Local(t));
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(TypedTime::Date(d));
        }
        Err(format!(
            "`{text}` is not a time: use 2027-03-31 (a day on the hospital's clock), \
             2027-03-31T09:00 (on the hospital's clock) or 2027-03-31T09:00:00+09:00"
        ))
    }

    /// The instant it names on `zone`'s clock; a date is the start of that day (for
    /// `--from` and `--to`, whose end is not included).
    pub fn start(self, zone: &Zone) -> Result<DateTime<Utc>, String> {
        match self {
            TypedTime::Date(d) => zone.start_of_day(d).ok_or_else(|| self.missing(zone)),
            _ => self.instant(zone),
        }
    }

    /// The instant it names on `zone`'s clock; a date is the last second of that day (an
    /// account that expires "2027-03-31" works through that day, as on the admin page).
    pub fn end(self, zone: &Zone) -> Result<DateTime<Utc>, String> {
        match self {
            TypedTime::Date(d) => zone.end_of_day(d).ok_or_else(|| self.missing(zone)),
            _ => self.instant(zone),
        }
    }

    fn instant(self, zone: &Zone) -> Result<DateTime<Utc>, String> {
        match self {
            TypedTime::Instant(t) => Ok(t),
            TypedTime::Local(t) => zone.at_local(t).ok_or_else(|| self.missing(zone)),
            TypedTime::Date(d) => zone.start_of_day(d).ok_or_else(|| self.missing(zone)),
        }
    }

    fn missing(self, zone: &Zone) -> String {
        let typed = match self {
            TypedTime::Instant(t) => t.to_rfc3339(),
            TypedTime::Local(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            TypedTime::Date(d) => d.to_string(),
        };
        format!(
            "{typed} does not exist on the hospital's clock ({}): the clock skips it; \
             give a time with an offset",
            zone.name()
        )
    }
}

/// The mode changes a console command can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeChange {
    DeclareEmergency,
    StartDrill,
    End,
    Standby,
}

/// One console command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    /// Node status: mode, snapshot, sync.
    Status,
    /// Post the staff notice shown on every clinician page and printout.
    NoticePost {
        text: String,
    },
    /// Withdraw the staff notice.
    NoticeWithdraw,
    SyncNow {
        full: bool,
    },
    /// The last sync's report and the last refused pull's.
    SyncReport,
    SnapshotList,
    /// Verify one generation (the current one when `None`).
    SnapshotVerify {
        generation: Option<u64>,
    },
    SnapshotRollback {
        generation: u64,
    },
    /// Serve a quarantined generation after all (an admin found its loss real).
    SnapshotPromote {
        generation: u64,
    },
    SnapshotPin {
        generation: u64,
        pinned: bool,
    },
    AdminCreate {
        admin_id: String,
        display_name: String,
        #[serde(with = "crate::secret::wire")]
        password: Secret,
        /// The recovery key printed by `akari init` (key slots), when required.
        #[serde(default, with = "crate::secret::wire::option")]
        recovery_key: Option<Secret>,
    },
    /// A new enrolment code, passkeys replaced or a new password for a named admin.
    AdminRecover {
        admin_id: String,
        change: AdminRecovery,
        /// Needed for a password reset when key slots exist and the snapshot key is not
        /// in memory (the admin's new key slot is made from the new password).
        #[serde(default, with = "crate::secret::wire::option")]
        recovery_key: Option<Secret>,
    },
    Mode {
        change: ModeChange,
        reason: String,
    },
    AccountProvision {
        label: String,
        /// Empty: all wards.
        wards: Vec<String>,
        expires_at: Option<TypedTime>,
        /// Needed when key slots exist and the snapshot key is not in memory.
        #[serde(default, with = "crate::secret::wire::option")]
        recovery_key: Option<Secret>,
    },
    AccountList,
    AccountReseal {
        account_id: String,
        #[serde(default, with = "crate::secret::wire::option")]
        recovery_key: Option<Secret>,
    },
    /// Unlock the snapshot with the recovery key (until an episode ends or `lock`).
    Unlock {
        #[serde(with = "crate::secret::wire")]
        recovery_key: Secret,
    },
    /// Wipe the snapshot key from memory now.
    Lock,
    AccountRevoke {
        account_id: String,
        reason: String,
    },
    /// Export to `out` (an absolute path the node writes), or into the response.
    AuditExport {
        from: Option<TypedTime>,
        to: Option<TypedTime>,
        format: String,
        out: Option<PathBuf>,
    },
    /// The review summary of an episode; without one, the list of episodes.
    AuditReport {
        episode: Option<u64>,
        #[serde(default)]
        review: ReviewOptions,
    },
    /// A reviewer's sign-off of an episode.
    AuditSignOff {
        episode: u64,
        verdict: String,
        comment: String,
    },
    /// Sign a checkpoint now; optionally write it to a directory (removable media).
    AuditCheckpoint {
        write_to: Option<PathBuf>,
    },
    /// Entries and un-reconciled entries of each episode's downtime records.
    DowntimeStatus,
    /// Export downtime records (one episode, or all) into the new directory `out`.
    DowntimeExport {
        episode: Option<u64>,
        out: PathBuf,
        #[serde(default, with = "crate::secret::wire::option")]
        recovery_key: Option<Secret>,
    },
    /// Mark downtime entries reconciled: these, or every entry of `episode`.
    DowntimeReconcile {
        entries: Vec<u64>,
        episode: Option<u64>,
    },
}

impl Request {
    /// A short, data-free name of the command, for logs and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::NoticePost { .. } => "notice post",
            Request::NoticeWithdraw => "notice withdraw",
            Request::SyncNow { .. } => "sync now",
            Request::SyncReport => "sync report",
            Request::SnapshotList => "snapshot list",
            Request::SnapshotVerify { .. } => "snapshot verify",
            Request::SnapshotRollback { .. } => "snapshot rollback",
            Request::SnapshotPromote { .. } => "snapshot promote",
            Request::SnapshotPin { .. } => "snapshot pin",
            Request::AdminCreate { .. } => "admin create",
            Request::AdminRecover { change, .. } => match change {
                AdminRecovery::EnrolmentCodeReissued => "admin new-code",
                AdminRecovery::PasskeysReplaced => "admin replace-passkeys",
                AdminRecovery::PasswordReset => "admin reset-password",
            },
            Request::Mode { .. } => "mode",
            Request::AccountProvision { .. } => "account provision",
            Request::AccountList => "account list",
            Request::Unlock { .. } => "unlock",
            Request::Lock => "lock",
            Request::AccountReseal { .. } => "account reseal",
            Request::AccountRevoke { .. } => "account revoke",
            Request::AuditExport { .. } => "audit export",
            Request::AuditReport { .. } => "audit report",
            Request::AuditSignOff { .. } => "audit sign-off",
            Request::AuditCheckpoint { .. } => "audit checkpoint",
            Request::DowntimeStatus => "downtime status",
            Request::DowntimeExport { .. } => "downtime export",
            Request::DowntimeReconcile { .. } => "downtime reconcile",
        }
    }

    /// The same request carrying the recovery key, for the commands that accept one
    /// (`None`: this command has no use for it).
    pub fn with_recovery_key(self, key: Secret) -> Option<Request> {
        match self {
            Request::AdminCreate {
                admin_id,
                display_name,
                password,
                ..
            } => Some(Request::AdminCreate {
                admin_id,
                display_name,
                password,
                recovery_key: Some(key),
            }),
            Request::AccountProvision {
                label,
                wards,
                expires_at,
                ..
            } => Some(Request::AccountProvision {
                label,
                wards,
                expires_at,
                recovery_key: Some(key),
            }),
            Request::AdminRecover {
                admin_id, change, ..
            } => Some(Request::AdminRecover {
                admin_id,
                change,
                recovery_key: Some(key),
            }),
            Request::AccountReseal { account_id, .. } => Some(Request::AccountReseal {
                account_id,
                recovery_key: Some(key),
            }),
            Request::DowntimeExport { episode, out, .. } => Some(Request::DowntimeExport {
                episode,
                out,
                recovery_key: Some(key),
            }),
            Request::AuditReport { episode, review } => Some(Request::AuditReport {
                episode,
                review: ReviewOptions {
                    recovery_key: Some(key),
                    ..review
                },
            }),
            _ => None,
        }
    }
}

/// What `akari audit report` is asked beyond the episode's summary: names, a patient, a
/// CSV copy. Names are resolved only with a purpose, which is recorded with them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReviewOptions {
    /// Name the patients behind the keys (`--resolve`).
    #[serde(default)]
    pub resolve: bool,
    /// Every session that saw this patient (`--patient`: hospital ID, name, kana or key).
    #[serde(default)]
    pub patient: Option<String>,
    /// Why the names are needed (`--purpose`), recorded with the resolution.
    #[serde(default)]
    pub purpose: Option<String>,
    /// Also write the episode's review as CSV to this absolute path (`--csv`).
    #[serde(default)]
    pub csv: Option<PathBuf>,
    /// Also write the episode's review as a printable PDF to this absolute path (`--pdf`).
    #[serde(default)]
    pub pdf: Option<PathBuf>,
    /// To unlock the snapshot for this command only, when nothing else has.
    #[serde(default, with = "crate::secret::wire::option")]
    pub recovery_key: Option<Secret>,
}

/// What the console user typed, as sent over the socket.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub request: Request,
}

/// The answer to a [`Request`]: text for the person at the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// False: the command failed; `error` says why and what to do.
    pub ok: bool,
    /// What to print on standard output.
    pub output: String,
    pub error: Option<String>,
    /// The command needs the recovery key (key slots are initialised and the snapshot key
    /// is not in memory): the CLI asks for it and sends the command again with it.
    #[serde(default)]
    pub needs_recovery_key: bool,
}

impl Response {
    pub(crate) fn ok(output: impl Into<String>) -> Self {
        Response {
            ok: true,
            output: output.into(),
            error: None,
            needs_recovery_key: false,
        }
    }

    pub(crate) fn fail(error: impl std::fmt::Display) -> Self {
        Response {
            ok: false,
            output: String::new(),
            error: Some(error.to_string()),
            needs_recovery_key: false,
        }
    }

    pub(crate) fn locked(error: impl std::fmt::Display) -> Self {
        Response {
            needs_recovery_key: true,
            ..Response::fail(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_requests_are_not_debug_printed_but_cross_the_socket() {
        let request = Request::AdminCreate {
            admin_id: "it-1".into(),
            display_name: "IT".into(),
            password: Secret::new("Correct-horse-9-battery"),
            recovery_key: Some(Secret::new("RECOVERY-KEY-1234")),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("Correct-horse"), "{debug}");
        assert!(!debug.contains("RECOVERY-KEY"), "{debug}");
        let json = serde_json::to_string(&Envelope { request }).unwrap();
        let back: Envelope = serde_json::from_str(&json).unwrap();
        match back.request {
            Request::AdminCreate {
                password,
                recovery_key,
                ..
            } => {
                assert_eq!(password.expose(), "Correct-horse-9-battery");
                assert_eq!(recovery_key.unwrap().expose(), "RECOVERY-KEY-1234");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_commands_that_use_the_recovery_key_take_it() {
        let key = Secret::new("KEY");
        let reseal = Request::AccountReseal {
            account_id: "EA-1".into(),
            recovery_key: None,
        };
        match reseal.with_recovery_key(key.clone()) {
            Some(Request::AccountReseal {
                recovery_key: Some(k),
                ..
            }) => assert_eq!(k.expose(), "KEY"),
            other => panic!("{other:?}"),
        }
        assert!(Request::Status.with_recovery_key(key.clone()).is_none());
        let reset = Request::AdminRecover {
            admin_id: "it-1".into(),
            change: AdminRecovery::PasswordReset,
            recovery_key: None,
        };
        assert_eq!(reset.name(), "admin reset-password");
        let json = serde_json::to_string(&Envelope {
            request: reset.with_recovery_key(key).unwrap(),
        })
        .unwrap();
        match serde_json::from_str::<Envelope>(&json).unwrap().request {
            Request::AdminRecover {
                admin_id,
                change: AdminRecovery::PasswordReset,
                recovery_key: Some(k),
            } => assert_eq!((admin_id.as_str(), k.expose()), ("it-1", "KEY")),
            other => panic!("{other:?}"),
        }
    }
}
