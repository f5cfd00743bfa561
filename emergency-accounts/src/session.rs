//! Sessions and the capabilities they yield. An [`AdminSession`] (or the [`Console`]) yields
//! an [`AdminCapability`], which every administrative operation demands. An
//! [`EmergencySession`] yields only a [`ClinicianCapability`]. A [`PendingSession`] — logged
//! in, not yet declared — yields nothing at all. No conversion exists between them.

use chrono::{DateTime, Utc};

use crate::event::{Actor, DeclaredPerson, Mode, Reason};
use crate::model::{Declaration, WardScope};
use crate::secret::SessionToken;

/// A session just created: the token goes to the browser (in a `Secure; HttpOnly` cookie)
/// and is never shown again; the store keeps only its hash.
#[derive(Debug)]
#[non_exhaustive]
pub struct NewSession<S> {
    pub token: SessionToken,
    pub session: S,
}

/// A logged-in hospital IT administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminSession {
    pub session_id: String,
    pub admin_id: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    /// When the session ends at the latest (absolute timeout).
    pub expires_at: DateTime<Utc>,
}

impl AdminSession {
    pub fn capability(&self) -> AdminCapability {
        AdminCapability {
            actor: Actor::Admin {
                admin_id: self.admin_id.clone(),
            },
        }
    }

    /// The review right of this administrator (hospital IT reviews emergency access
    /// after recovery): see [`ReviewCapability`].
    pub fn reviewer(&self) -> ReviewCapability {
        ReviewCapability {
            actor: Actor::Admin {
                admin_id: self.admin_id.clone(),
            },
        }
    }
}

/// An emergency login that has not yet declared the person and reason. It can do nothing
/// but declare (see `Accounts::declare`) or log out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingSession {
    pub session_id: String,
    pub account_id: String,
    pub label: String,
    pub mode: Mode,
    pub expires_at: DateTime<Utc>,
}

/// An emergency account in use by a declared person.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmergencySession {
    pub session_id: String,
    pub account_id: String,
    pub label: String,
    pub ward_scope: WardScope,
    pub declaration: Declaration,
    pub episode: u64,
    pub mode: Mode,
    pub expires_at: DateTime<Utc>,
}

impl EmergencySession {
    /// The only capability a clinician session has: to read patient data through the
    /// audited viewer.
    pub fn clinician(&self) -> ClinicianCapability {
        ClinicianCapability {
            session: self.clone(),
        }
    }
}

/// Any live session, as found from its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    Admin(AdminSession),
    Pending(PendingSession),
    Emergency(EmergencySession),
}

/// Hospital IT's powers: declare and end emergencies and drills, provision, seal, re-seal
/// and revoke emergency accounts, see status, open the review. Obtained only from an
/// [`AdminSession`] or the [`Console`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCapability {
    actor: Actor,
}

impl AdminCapability {
    /// Who holds it, for audit events.
    pub fn actor(&self) -> Actor {
        self.actor.clone()
    }
}

/// The node's console: whoever runs the `akari` command on the node itself. Console access
/// is the root of trust (it can create admins and declare modes). Only the CLI constructs
/// this; the web layer must never.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Console {
    os_user: String,
}

impl Console {
    pub fn new(os_user: impl Into<String>) -> Self {
        Self {
            os_user: os_user.into(),
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::Console {
            os_user: self.os_user.clone(),
        }
    }

    pub fn capability(&self) -> AdminCapability {
        AdminCapability {
            actor: self.actor(),
        }
    }

    /// The console's review right (`akari audit report --resolve`, `--patient`).
    pub fn reviewer(&self) -> ReviewCapability {
        ReviewCapability {
            actor: self.actor(),
        }
    }
}

/// The review right: to resolve the ledger's opaque patient keys to names, to look up
/// every session that saw a patient, and to sign off an episode, each of them audited
/// (see [`crate::review::resolve`]). Obtained only from an [`AdminSession`] or the
/// [`Console`], never from an [`AdminCapability`] or a [`ClinicianCapability`], and not
/// made by hand:
///
/// ```compile_fail,E0451
/// # use akari_accounts::event::Actor;
/// let cap = akari_accounts::ReviewCapability { actor: Actor::System };
/// ```
///
/// Admin code that only holds an [`AdminCapability`] has no path to patient names:
///
/// ```compile_fail,E0599
/// # fn admin_code(cap: akari_accounts::AdminCapability) {
/// let reviewer = cap.reviewer();
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewCapability {
    actor: Actor,
}

impl ReviewCapability {
    /// Who holds it, for the audit entries of resolutions, lookups and sign-offs.
    pub fn actor(&self) -> Actor {
        self.actor.clone()
    }
}

/// What a declared clinician may do: read patient data, every read audited. Carries the
/// account and the declared person so each audit event names both. Only a declared
/// [`EmergencySession`], which only the accounts layer makes, yields one:
///
/// ```compile_fail,E0451
/// # fn forge(session: akari_accounts::EmergencySession) {
/// let cap = akari_accounts::ClinicianCapability { session };
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicianCapability {
    session: EmergencySession,
}

impl ClinicianCapability {
    /// The actor for this clinician's audit events.
    pub fn actor(&self) -> Actor {
        Actor::Emergency {
            account_id: self.session.account_id.clone(),
            session_id: self.session.session_id.clone(),
            declared: Some(self.session.declaration.person.clone()),
        }
    }

    pub fn session_id(&self) -> &str {
        &self.session.session_id
    }

    pub fn account_id(&self) -> &str {
        &self.session.account_id
    }

    pub fn declared_person(&self) -> &DeclaredPerson {
        &self.session.declaration.person
    }

    pub fn reason(&self) -> &Reason {
        &self.session.declaration.reason
    }

    pub fn ward_scope(&self) -> &WardScope {
        &self.session.ward_scope
    }

    /// Emergency or drill: the mode when the session was last checked.
    pub fn mode(&self) -> Mode {
        self.session.mode
    }

    pub fn episode(&self) -> u64 {
        self.session.episode
    }
}
