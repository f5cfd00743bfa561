//! What the viewer needs from the accounts layer: logging emergency accounts in, the
//! declaration, session checks and logout. Blocking (argon2, ledger writes): the pages
//! call it from `spawn_blocking`. The accounts layer records its own audit events.

use akari_accounts::event::{Client, DeclaredPerson, Mode, Reason};

/// A logged-in emergency account (before or after the declaration).
#[derive(Clone)]
pub struct ClinicianLogin {
    pub account_id: String,
    /// The accounts layer's public session identifier, named in audit events.
    pub session_id: String,
    /// The accounts layer's session token (a secret: never logged, never audited).
    pub token: String,
}

impl std::fmt::Debug for ClinicianLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClinicianLogin(..)")
    }
}

/// Why a login or a session was refused, in terms the page can explain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("wrong account or credential")]
    BadCredentials,
    #[error("too many failures; retry later")]
    Backoff,
    #[error("logins are not allowed in the current mode")]
    Mode,
    #[error("the session has ended")]
    Expired,
    #[error("the accounts service failed: {0}")]
    Internal(String),
}

pub trait Gate: Send + Sync + 'static {
    /// The node's current mode.
    fn mode(&self) -> Mode;
    /// Account ID + credential of a sealed (or already opened) emergency account.
    fn emergency_login(
        &self,
        account_id: &str,
        credential: &str,
        client: &Client,
    ) -> Result<ClinicianLogin, Refusal>;
    /// The real person and reason behind the session. Returns the session to use from
    /// now on (the accounts layer may rotate its identifier at the declaration).
    fn declare(
        &self,
        login: &ClinicianLogin,
        person: DeclaredPerson,
        reason: Reason,
        client: &Client,
    ) -> Result<ClinicianLogin, Refusal>;
    /// Whether the accounts session is still valid (timeouts, mode, revocation).
    fn check(&self, login: &ClinicianLogin, client: &Client) -> Result<(), Refusal>;
    fn logout(&self, login: &ClinicianLogin, client: &Client);
}
