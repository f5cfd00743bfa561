//! What the viewer needs from the accounts layer: logging emergency accounts in, the
//! declaration, session checks and logout. Blocking (argon2, ledger writes): the pages
//! call it from `spawn_blocking`. The accounts layer records its own audit events.

use akari_accounts::event::{Client, DeclaredPerson, Mode, Reason};
use akari_accounts::ClinicianCapability;

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
    /// The account has a security key and no assertion came with the login.
    #[error("the account's security key is required")]
    KeyRequired,
    /// Too many failures: the next attempt is refused for this long.
    #[error("too many failures; retry in {retry_after_secs} s")]
    Backoff { retry_after_secs: u64 },
    #[error("logins are not allowed in the current mode")]
    Mode,
    #[error("the session has ended")]
    Expired,
    /// The audit ledger could not record the attempt: nothing happened (fail closed).
    #[error("the audit ledger could not record the attempt: {0}")]
    Audit(String),
    #[error("the accounts service failed: {0}")]
    Internal(String),
}

/// The WebAuthn challenge for an emergency account's security key (FIDO2, user
/// verification required: the key's PIN). `options` is the JSON the browser's
/// `navigator.credentials.get` takes (binary fields base64url).
#[derive(Debug, Clone)]
pub struct KeyChallenge {
    pub ceremony_id: String,
    pub options: serde_json::Value,
}

/// The browser's answer to a [`KeyChallenge`]: its `PublicKeyCredential` as JSON.
#[derive(Debug, Clone)]
pub struct KeyAnswer {
    pub ceremony_id: String,
    pub response: serde_json::Value,
}

pub trait Gate: Send + Sync + 'static {
    /// The node's current mode.
    fn mode(&self) -> Mode;
    /// The key challenge if `account_id` has a security key enrolled, `None` otherwise
    /// (also for unknown accounts: the login then fails as usual).
    fn begin_key_login(&self, account_id: &str) -> Result<Option<KeyChallenge>, Refusal>;
    /// Account ID + credential of a sealed (or already opened) emergency account, plus
    /// the key's answer when the account has a key. Failures are audited by the gate.
    fn emergency_login(
        &self,
        account_id: &str,
        credential: &str,
        key: Option<KeyAnswer>,
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
    /// Whether the accounts session is still valid (timeouts, mode, revocation). Once the
    /// person has declared, the verified session's capability: the only thing an audited
    /// [`crate::viewer::Reader`] is made from. `None` while the session has yet to declare.
    fn check(
        &self,
        login: &ClinicianLogin,
        client: &Client,
    ) -> Result<Option<ClinicianCapability>, Refusal>;
    fn logout(&self, login: &ClinicianLogin, client: &Client);
    /// The staff notice to show on every clinician page and printout, if any.
    fn notice(&self) -> Option<String> {
        None
    }
}
