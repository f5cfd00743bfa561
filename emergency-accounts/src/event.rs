//! The audit vocabulary: every decision the accounts layer makes and every read of patient
//! data becomes one [`AuditEvent`], handed to an [`AuditSink`]. The ledger implements the
//! sink; this module knows nothing of how events are stored.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The node's operating mode (architecture.md, "Modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Main system up: sync runs, clinicians cannot log in.
    Standby,
    /// Declared emergency: sealed accounts work, sync frozen.
    Emergency,
    /// A declared drill: like emergency, but every event is flagged as a drill.
    Drill,
    /// Episode over: logins refused, used accounts await re-sealing, review open.
    Recovery,
}

impl Mode {
    pub fn is_drill(self) -> bool {
        self == Mode::Drill
    }

    /// Whether sealed emergency accounts may log in.
    pub fn allows_emergency_login(self) -> bool {
        matches!(self, Mode::Emergency | Mode::Drill)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Standby => "standby",
            Mode::Emergency => "emergency",
            Mode::Drill => "drill",
            Mode::Recovery => "recovery",
        })
    }
}

/// The real person behind an emergency account, as they declared after breaking the seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredPerson {
    pub name: String,
    pub staff_number: String,
    /// Doctor, nurse, pharmacist, ...
    pub profession: String,
    pub department: String,
}

/// Why the emergency account is being used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "text")]
pub enum Reason {
    /// Purpose of use ETREAT.
    EmergencyTreatment,
    Drill,
    Other(String),
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Actor {
    /// The node itself (scheduler, checkpoints, start-up).
    System,
    /// Someone at the node's console (the root of trust), by OS user name.
    Console { os_user: String },
    /// A hospital IT administrator.
    Admin { admin_id: String },
    /// An emergency account. `declared` is `None` until the person has declared.
    Emergency {
        account_id: String,
        session_id: String,
        declared: Option<DeclaredPerson>,
    },
    /// Not yet authenticated (a failed login names the account it tried, in `details`).
    Anonymous,
}

/// The longest patient key a [`Action::PatientNotFound`] entry keeps: real keys are far
/// shorter, and whatever was typed into a URL must not fill the ledger.
pub const MAX_LOOKUP_KEY_CHARS: usize = 128;

/// What was done. Patient reads carry the opaque patient key on the event, not here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    // --- authentication ---
    LoginSucceeded,
    LoginFailed {
        reason: String,
    },
    /// First login of a sealed account: the seal is broken.
    SealBroken,
    /// The person and reason were declared for this session.
    Declared {
        reason: Reason,
    },
    Logout,
    SessionExpired,
    // --- modes ---
    ModeChanged {
        from: Mode,
        to: Mode,
        reason: String,
    },
    // --- account administration ---
    AdminCreated,
    AdminCredentialEnrolled,
    /// An admin's way in was recovered by someone else (the console or another admin):
    /// a new enrolment code, passkeys replaced, or a new password.
    AdminRecovered {
        admin_id: String,
        change: AdminRecovery,
    },
    AccountProvisioned {
        account_id: String,
    },
    KeyEnrolled {
        account_id: String,
    },
    AccountRetired {
        account_id: String,
    },
    AccountResealed {
        account_id: String,
    },
    AccountRevoked {
        account_id: String,
    },
    // --- the snapshot key ---
    /// A key slot (the snapshot key wrapped for one credential) was created, replaced or
    /// removed. `slot` names it: `recovery`, `admin:<admin ID>` or `account:<account ID>`.
    KeySlotChanged {
        slot: String,
        change: KeySlotChange,
    },
    /// The snapshot key was unwrapped into memory through `slot`.
    SnapshotUnlocked {
        slot: String,
    },
    /// The snapshot key was wiped from memory.
    SnapshotLocked,
    // --- the snapshot's generations (whoever performs them records them) ---
    /// A sync started by hand (an admin page or `akari sync now`).
    SyncRequested {
        full: bool,
    },
    /// The current snapshot generation was rolled back to an older one.
    SnapshotRolledBack {
        from: Option<u64>,
        to: u64,
    },
    /// A generation was pinned (kept by retention) or unpinned.
    SnapshotPinned {
        generation: u64,
        pinned: bool,
    },
    /// A pull would have lost more of the data than the sync guard allows: it was kept as
    /// generation `generation`, quarantined (not served); `current` stayed in service.
    /// `losses` counts by kind, e.g. `patient 1000 → 0 (−100.0 %)` (no patient data).
    /// Recorded by the node itself.
    SnapshotQuarantined {
        generation: u64,
        current: Option<u64>,
        losses: String,
    },
    /// A quarantined generation was promoted: it is served from now on.
    SnapshotPromoted {
        generation: u64,
        from: Option<u64>,
    },
    // --- patient data (written before the data is shown) ---
    /// A search; `query_kind` says which field was searched, never the query text. `keys`:
    /// the opaque keys of the patients listed in the results, whose names were shown.
    PatientSearch {
        query_kind: String,
        results: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        keys: Vec<String>,
    },
    PatientRead,
    PatientPrint,
    /// A patient key that names no patient in the snapshot (a stale bookmark, a typing
    /// error, someone probing): audited like a read, though nothing was shown. `key` is the
    /// key as asked for, cut to [`MAX_LOOKUP_KEY_CHARS`].
    PatientNotFound {
        key: String,
    },
    /// A ward's census; `keys`: the patients listed (names shown).
    WardCensus {
        ward: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        keys: Vec<String>,
    },
    /// A whole ward printed: one entry, one durable commit, listing every patient whose
    /// record was printed (`keys`; `patients` of them). Entries written before the list
    /// existed have no `keys` and are followed by one `PatientPrint` per patient.
    WardPrint {
        ward: String,
        patients: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        keys: Vec<String>,
    },
    // --- audit itself ---
    AuditExported {
        format: String,
    },
    /// A reviewer's verdict on an emergency session.
    ReviewVerdict {
        session_id: String,
        verdict: String,
        comment: String,
    },
    /// A reviewer was shown who the patients behind opaque keys are (name, kana, hospital
    /// ID, birth date): the keys of a report or review page resolved, or the patients a
    /// reviewer's patient search listed. `purpose`: why, as the reviewer gave it.
    ReviewResolved {
        keys: Vec<String>,
        purpose: String,
    },
    /// A reviewer looked up every session that saw one patient (the entry's `patient`).
    ReviewPatientLookup {
        purpose: String,
    },
    /// A reviewer's sign-off of a whole episode: the verdict on it and why.
    ReviewSignOff {
        episode: u64,
        verdict: String,
        comment: String,
    },
    // --- staff notices (messages to staff, never patient data) ---
    /// A notice for every clinician page and printout was posted (replacing the one
    /// shown, if any).
    NoticePosted {
        text: String,
    },
    /// The notice was withdrawn.
    NoticeWithdrawn,
    // --- downtime records (written before the entry is stored) ---
    /// A downtime entry was recorded for the event's patient: `record` says what
    /// (`administration`, `vitals`, `note`); `supersedes`: the entry it corrects. The
    /// details carry the patient's ward, like a read's, so the review flags an entry for a
    /// patient outside the account's wards.
    DowntimeRecorded {
        record: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supersedes: Option<u64>,
    },
    /// Downtime entries were marked reconciled: entered back into the hospital's records.
    DowntimeReconciled {
        entries: Vec<u64>,
    },
    /// Downtime records were exported for back-entry (`format`: `fhir`, `csv`, `pdf`;
    /// `episode`: the episode exported, every one when `None`).
    DowntimeExported {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        episode: Option<u64>,
        format: String,
    },
}

/// What an admin recovery did to the admin's way in. Each makes the old secret useless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRecovery {
    /// A new one-time enrolment code (the old one stops working); with it the admin adds a
    /// passkey, keeping those they have.
    EnrolmentCodeReissued,
    /// Every passkey removed; a new enrolment code to register a new one.
    PasskeysReplaced,
    /// A new password, generated and shown once (the old one stops working).
    PasswordReset,
}

impl std::fmt::Display for AdminRecovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdminRecovery::EnrolmentCodeReissued => "new enrolment code",
            AdminRecovery::PasskeysReplaced => "passkeys replaced",
            AdminRecovery::PasswordReset => "password reset",
        })
    }
}

/// What happened to a key slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySlotChange {
    Created,
    /// A new slot took the place of the old one (re-seal, new recovery key): the old
    /// credential unlocks nothing any more.
    Replaced,
    Removed,
}

impl std::fmt::Display for KeySlotChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeySlotChange::Created => "created",
            KeySlotChange::Replaced => "replaced",
            KeySlotChange::Removed => "removed",
        })
    }
}

/// Where the request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// One auditable occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub time: DateTime<Utc>,
    pub actor: Actor,
    pub action: Action,
    /// Opaque patient key, for patient reads and prints.
    pub patient: Option<String>,
    /// Minimal extra details; never credentials, never patient names or IDs.
    pub details: Option<String>,
    pub client: Client,
    pub mode: Mode,
}

/// Proof that an event is durably committed: its place in the ledger.
///
/// Only the ledger makes one (its constructor is private to this crate), after the commit
/// that holds the event; code elsewhere can hold a receipt, never forge one:
///
/// ```compile_fail,E0451
/// let forged = akari_accounts::event::AuditReceipt { sequence: 1 };
/// ```
///
/// ```compile_fail,E0624
/// let forged = akari_accounts::event::AuditReceipt::new(1);
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a receipt proves the audit record is durable; check it before showing data"]
pub struct AuditReceipt {
    sequence: u64,
}

impl AuditReceipt {
    pub(crate) fn new(sequence: u64) -> Self {
        AuditReceipt { sequence }
    }

    /// The event's sequence number in the ledger.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "the audit ledger could not record the event ({0}); nothing will be shown until it can"
    )]
    Unavailable(String),
}

/// Somewhere durable to put events. `record` returns only after the event is committed
/// (fsynced); callers must not act on the event's subject before it returns `Ok`.
/// Blocking: async callers use `spawn_blocking`.
///
/// The [`crate::ledger::Ledger`] is the sink. Since only it makes [`AuditReceipt`]s, any
/// other implementation can only forward to it (to time or copy events, say); the sinks
/// that keep events in memory or always fail exist for tests only, in
/// [`crate::testing`] behind the `test-hooks` feature.
pub trait AuditSink: Send + Sync {
    fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError>;

    /// Records `event` at `clock`'s current time (replacing its `time`), read in the same
    /// order as the event takes its place in the sink: of two concurrent callers, the one
    /// recorded later never gets the earlier time, so an entry is flagged `clock_back` only
    /// when the clock itself went back. Callers recording "now" use this; a sink that
    /// forwards to another forwards this too.
    fn record_now(
        &self,
        clock: &dyn crate::clock::Clock,
        event: AuditEvent,
    ) -> Result<AuditReceipt, AuditError> {
        self.record(AuditEvent {
            time: clock.now(),
            ..event
        })
    }

    /// The pseudonym of `text` that the review can compare (see [`crate::pseudonym`]);
    /// `None` from a sink that cannot make one (the entry then simply carries none). A
    /// sink that forwards to another forwards this too.
    fn pseudonym(&self, _kind: crate::pseudonym::PseudonymKind, _text: &str) -> Option<String> {
        None
    }
}
