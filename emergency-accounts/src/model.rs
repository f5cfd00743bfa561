//! Stored records and the domain types built from them: emergency accounts and their seal
//! states, admin accounts, the mode with its episode, and sessions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{Passkey, Uuid};

use crate::event::{Actor, DeclaredPerson, Mode, Reason};
use crate::secret::StoredHash;

/// The staff notice shown at the top of every clinician page and printout until withdrawn
/// ("検査結果は内線1234へ電話で"). Not patient data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub text: String,
    pub posted_at: DateTime<Utc>,
    pub posted_by: Actor,
}

/// Which wards an emergency account is meant for. The ledger's review flags reads outside
/// it; it does not hide patients (in an emergency, people help on other wards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "wards")]
pub enum WardScope {
    All,
    Wards(Vec<String>),
}

impl WardScope {
    pub fn includes(&self, ward: &str) -> bool {
        match self {
            WardScope::All => true,
            WardScope::Wards(w) => w.iter().any(|x| x == ward),
        }
    }
}

/// How an account came to be opened: first by a successful login, then by the declaration
/// of the person behind it. Recorded at the first login so that an account whose envelope
/// was opened is retired at the end of the episode even if nobody ever declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OpenedBy {
    /// The credential was used; the person has not declared yet.
    AwaitingDeclaration { session_id: String },
    /// The first person who declared on this account.
    Declared {
        session_id: String,
        person: DeclaredPerson,
        reason: Reason,
    },
}

/// When and by whom a seal was broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    pub at: DateTime<Utc>,
    pub episode: u64,
    pub by: OpenedBy,
}

/// The seal's life: `Sealed → Opened → Retired → (re-seal) → Sealed`, `Revoked` from any.
/// The credential hash exists only in the states that can log in: retiring or revoking
/// destroys it, so neither can ever accept a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SealState {
    Sealed {
        sealed_at: DateTime<Utc>,
        seal_number: String,
        credential_hash: StoredHash,
    },
    Opened {
        seal_number: String,
        credential_hash: StoredHash,
        opening: Opening,
    },
    Retired {
        seal_number: String,
        opening: Opening,
        retired_at: DateTime<Utc>,
    },
    Revoked {
        revoked_at: DateTime<Utc>,
        reason: String,
    },
}

/// The public name of a seal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealStatus {
    Sealed,
    Opened,
    Retired,
    Revoked,
}

impl SealState {
    pub fn status(&self) -> SealStatus {
        match self {
            SealState::Sealed { .. } => SealStatus::Sealed,
            SealState::Opened { .. } => SealStatus::Opened,
            SealState::Retired { .. } => SealStatus::Retired,
            SealState::Revoked { .. } => SealStatus::Revoked,
        }
    }

    pub(crate) fn credential_hash(&self) -> Option<&StoredHash> {
        match self {
            SealState::Sealed {
                credential_hash, ..
            }
            | SealState::Opened {
                credential_hash, ..
            } => Some(credential_hash),
            SealState::Retired { .. } | SealState::Revoked { .. } => None,
        }
    }
}

impl std::fmt::Display for SealStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SealStatus::Sealed => "sealed",
            SealStatus::Opened => "opened",
            SealStatus::Retired => "retired",
            SealStatus::Revoked => "revoked",
        })
    }
}

/// An emergency account as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccountRecord {
    pub account_id: String,
    pub label: String,
    pub ward_scope: WardScope,
    pub expires_at: Option<DateTime<Utc>>,
    /// WebAuthn user handle for the account's key.
    pub user_uuid: Uuid,
    /// An enrolled FIDO2 key: when present, login needs it as well as the credential.
    pub key: Option<Passkey>,
    pub state: SealState,
    pub provisioned_at: DateTime<Utc>,
    pub provisioned_by: Actor,
}

/// What an admin sees of an emergency account. No secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountSummary {
    pub account_id: String,
    pub label: String,
    pub ward_scope: WardScope,
    pub expires_at: Option<DateTime<Utc>>,
    pub key_enrolled: bool,
    pub status: SealStatus,
    pub seal_number: Option<String>,
    pub opening: Option<Opening>,
}

impl From<&AccountRecord> for AccountSummary {
    fn from(r: &AccountRecord) -> Self {
        let (seal_number, opening) = match &r.state {
            SealState::Sealed { seal_number, .. } => (Some(seal_number.clone()), None),
            SealState::Opened {
                seal_number,
                opening,
                ..
            }
            | SealState::Retired {
                seal_number,
                opening,
                ..
            } => (Some(seal_number.clone()), Some(opening.clone())),
            SealState::Revoked { .. } => (None, None),
        };
        Self {
            account_id: r.account_id.clone(),
            label: r.label.clone(),
            ward_scope: r.ward_scope.clone(),
            expires_at: r.expires_at,
            key_enrolled: r.key.is_some(),
            status: r.state.status(),
            seal_number,
            opening,
        }
    }
}

/// A one-time enrolment waiting for a new admin's WebAuthn credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingEnrolment {
    /// Hex SHA-256 of the enrolment code (the code has 160 random bits, so no slow hash).
    pub code_sha256: String,
    pub expires_at: DateTime<Utc>,
}

/// An admin account as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AdminRecord {
    pub admin_id: String,
    pub display_name: String,
    pub password_hash: StoredHash,
    pub user_uuid: Uuid,
    pub passkeys: Vec<Passkey>,
    pub enrolment: Option<PendingEnrolment>,
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
}

/// An emergency or drill episode: from its declaration to the return to standby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    pub id: u64,
    pub drill: bool,
    pub started_at: DateTime<Utc>,
    pub declared_by: Actor,
    pub reason: String,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<Actor>,
}

/// The node's mode as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeState {
    pub mode: Mode,
    pub since: DateTime<Utc>,
    /// Who made the last transition (the system, at first start).
    pub decided_by: Actor,
    pub reason: String,
    /// The current episode (emergency, drill, or the recovery after one).
    pub episode: Option<Episode>,
}

impl ModeState {
    pub(crate) fn initial(now: DateTime<Utc>) -> Self {
        Self {
            mode: Mode::Standby,
            since: now,
            decided_by: Actor::System,
            reason: "first start".into(),
            episode: None,
        }
    }
}

/// The declaration made in an emergency session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    pub person: DeclaredPerson,
    pub reason: Reason,
    pub at: DateTime<Utc>,
}

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum Principal {
    Admin {
        admin_id: String,
    },
    Emergency {
        account_id: String,
        episode: u64,
        declaration: Option<Declaration>,
    },
}

/// A session as stored, under the SHA-256 of its token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    /// A random public ID for audit records; not the token.
    pub session_id: String,
    pub principal: Principal,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}
