//! akari-accounts: who may get in, when, and what they did. Sealed emergency accounts,
//! admin accounts, modes, sessions, and the audit ledger that records every decision and
//! every read of patient data. Knows nothing of HTTP, templates or the snapshot's types:
//! patients are named by opaque keys.
//!
//! The entry point is [`Accounts`]: open it over a `redb::Database` (`accounts.redb`) with an
//! [`event::AuditSink`] and a [`Clock`]. Every method is blocking (argon2, redb, the sink);
//! async callers use `spawn_blocking`.

mod accounts;
pub mod clock;
pub mod config;
pub mod credential;
pub mod event;
pub mod keyslot;
pub mod ledger;
mod limiter;
pub mod model;
pub mod pseudonym;
pub mod review;
pub mod secret;
pub mod session;
pub mod sheet;
mod store;
#[cfg(feature = "test-hooks")]
pub mod testing;
pub mod zone;

pub use accounts::{
    Accounts, AdminEnrolmentTicket, AdminLogin, AdminRecovered, AdminSummary, Challenge,
    EmergencyLogin, KeyAssertion, KeySlotSummary, NewAdmin, ProvisionRequest, Status,
    MAX_NOTICE_CHARS,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Argon2Config, Config, WebauthnConfig};
pub use credential::{check_password_policy, CharClass, PasswordPolicyError};
pub use keyslot::{KeyObserver, RecoveryKey, RecoveryKeyError, SlotSecret};
pub use model::{
    AccountSummary, Declaration, Episode, ModeState, Notice, OpenedBy, Opening, SealStatus,
    WardScope,
};
pub use secret::{EmergencyCredential, EnrolmentCode, Password, SessionToken};
pub use session::{
    AdminCapability, AdminSession, ClinicianCapability, Console, EmergencySession, NewSession,
    PendingSession, ReviewCapability, Session,
};
pub use sheet::SealSheet;
pub use store::SCHEMA_VERSION;
/// The WebAuthn messages the web layer passes between browser and [`Accounts`].
pub use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};
pub use zone::{UnknownZone, Zone};

use event::{AuditError, Mode};

/// Why a login was refused. The messages are safe to show to the person logging in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    #[error(
        "emergency accounts work only during a declared emergency or drill; the node is in \
         {mode} mode. Ask hospital IT to declare the emergency"
    )]
    NotInEmergencyMode { mode: Mode },
    #[error("the account ID, credential, password or security key was not accepted; check them and try again")]
    InvalidCredentials,
    #[error("too many failed attempts; wait {retry_after_secs} s and try again")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("this account is {status} and cannot log in; use another sealed account or call hospital IT")]
    AccountNotUsable { status: SealStatus },
    #[error("this account expired; use another sealed account or call hospital IT")]
    Expired,
    #[error("this account needs its security key as well as the credential; touch the key and enter its PIN")]
    KeyRequired,
}

/// Why a session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Idle,
    Absolute,
    EpisodeEnded,
    AccountRevoked,
    /// The node's clock went back past the session's start or last use: its timeouts can no
    /// longer be trusted, so it ends (fail closed) and the person logs in again.
    ClockChanged,
    /// The admin's password or passkeys were replaced (recovered by someone else).
    CredentialsReset,
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SessionEnd::Idle => "unused for too long",
            SessionEnd::Absolute => "its maximum length was reached",
            SessionEnd::EpisodeEnded => "the emergency or drill has ended",
            SessionEnd::AccountRevoked => "the account was revoked",
            SessionEnd::ClockChanged => "the node's clock was set back",
            SessionEnd::CredentialsReset => "the admin's password or passkeys were replaced",
        })
    }
}

/// This crate's errors. None of them carries a credential, hash or token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("accounts configuration: {0}")]
    Config(String),
    /// redb failed: I/O, a full disk, a damaged file. The source is redb's own error.
    #[error("the accounts store failed: {0}")]
    Store(#[source] redb::Error),
    #[error("the accounts store cannot be opened at {path}: {source}")]
    StoreOpen {
        path: std::path::PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("record {key:?} in table {table} of the accounts store is unreadable: {source}")]
    StoreRecord {
        table: String,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "accounts.redb has schema version {found}, this build understands {SCHEMA_VERSION}; \
         use a matching akari version or restore a backup"
    )]
    StoreSchema { found: u64 },
    #[error("internal error in the accounts layer: {0}")]
    Internal(String),
    /// Fail closed: the decision was not recorded, so it was not carried out.
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Login(#[from] LoginRefused),
    #[error("the session has ended ({0}); log in again")]
    SessionEnded(SessionEnd),
    #[error("no such session; log in again")]
    NoSession,
    #[error("this session must first declare who is using it and why")]
    NotDeclared,
    #[error("this session has already declared")]
    AlreadyDeclared,
    #[error("cannot change mode from {from} to {to}: {hint}")]
    IllegalTransition { from: Mode, to: Mode, hint: String },
    #[error("{action} is not possible in {mode} mode: {hint}")]
    WrongMode {
        action: &'static str,
        mode: Mode,
        hint: &'static str,
    },
    #[error(transparent)]
    PasswordPolicy(#[from] PasswordPolicyError),
    #[error("there is no emergency account {0:?}")]
    UnknownAccount(String),
    #[error("there is no admin {0:?}")]
    UnknownAdmin(String),
    #[error("an admin {0:?} already exists; choose another ID")]
    AdminExists(String),
    #[error("account {account_id} is {status}: {hint}")]
    AccountState {
        account_id: String,
        status: SealStatus,
        hint: &'static str,
    },
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("the WebAuthn ceremony failed: {0}")]
    WebAuthn(String),
    #[error("no such WebAuthn ceremony (it expired or was already used); start again")]
    UnknownCeremony,
    #[error("the enrolment code is wrong, was replaced or has expired; get a new one at the console (`akari admin new-code`) or from another admin")]
    BadEnrolmentCode,
    /// Key slots are initialised but the snapshot secret is not in memory.
    #[error(
        "{action} needs the snapshot key, which is locked (it is wiped when an episode ends \
         and when the last admin logs out): log in as an admin (again, if you already are) or \
         give the recovery key at the console, then try again"
    )]
    Locked { action: &'static str },
    #[error(transparent)]
    RecoveryKey(#[from] RecoveryKeyError),
    #[error(
        "this recovery key is not the one of this node (it was read correctly: its check \
         characters match); find the recovery sheet printed for this node at `akari init`"
    )]
    WrongRecoveryKey,
    #[error("key slots: {0}")]
    KeySlots(String),
}

impl Error {
    /// Whether this is the node's own failure (store, configuration, a bug) rather than a
    /// refusal meant for the person: pages show a generic message for these and log them.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Store(_)
                | Error::StoreOpen { .. }
                | Error::StoreRecord { .. }
                | Error::StoreSchema { .. }
                | Error::Internal(_)
                | Error::Config(_)
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
