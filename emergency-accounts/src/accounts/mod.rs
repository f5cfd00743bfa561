//! The accounts service: every decision about who may get in. Each decision is recorded
//! through the [`AuditSink`] inside the same redb write transaction that carries it out, and
//! before that transaction commits: if the sink fails, nothing changes and nothing is handed
//! out (fail closed).
//!
//! [`Accounts`] is one service; its methods are grouped by what they own:
//! - [`key_slots`]: the snapshot secret, wrapped once per credential, and its lock state;
//! - [`admins`]: creating hospital IT administrators and enrolling their credentials;
//! - [`admin_recovery`]: a new enrolment code, passkeys or password for an admin;
//! - [`provisioning`]: sealed emergency accounts (provision, key enrolment, re-seal, revoke);
//! - [`login`]: admin and emergency logins, backoff, and the clinician's declaration;
//! - [`sessions`]: resuming, ending and expiring sessions;
//! - [`modes`]: standby, emergency, drill and recovery, and what each transition does;
//! - [`ceremony`]: WebAuthn challenges in flight;
//! - [`failed_logins`]: failed logins counted instead of recorded one by one, and their
//!   summaries.

mod admin_recovery;
mod admins;
mod ceremony;
mod failed_logins;
mod key_slots;
mod login;
mod modes;
mod notices;
mod provisioning;
mod sessions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use redb::Database;
use serde::Serialize;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

pub use admin_recovery::{AdminRecovered, AdminSummary};
pub use admins::{AdminEnrolmentTicket, NewAdmin};
pub use ceremony::Challenge;
pub use key_slots::KeySlotSummary;
pub use login::{AdminLogin, EmergencyLogin, KeyAssertion};
pub use notices::MAX_NOTICE_CHARS;
pub use provisioning::ProvisionRequest;

use ceremony::Ceremony;
use key_slots::Notify;

use crate::clock::Clock;
use crate::config::Config;
use crate::credential::{self, Hasher};
use crate::event::{Action, Actor, AuditEvent, AuditReceipt, AuditSink, Client, Mode};
use crate::keyslot::SlotSecret;
use crate::limiter::{FailureLog, Limiter};
use crate::model::{AccountSummary, ModeState, Principal, SessionRecord};
use crate::secret::{EmergencyCredential, StoredHash};
use crate::session::AdminCapability;
use crate::store::{Store, Tx, MODE, MODE_KEY, SESSIONS};
use crate::{Error, Result};

/// What an admin sees on the status page.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Status {
    pub mode: ModeState,
    /// Since when the main system (the sync source) has been failing, as last reported.
    pub main_system_unreachable_since: Option<DateTime<Utc>>,
    /// Whole minutes since then: "main system unreachable for N min".
    pub main_system_unreachable_minutes: Option<i64>,
    pub accounts: Vec<AccountSummary>,
    pub emergency_sessions: usize,
    pub admin_sessions: usize,
    /// Whether key slots exist (`akari init` made them): the snapshot is encrypted.
    pub key_slots_initialised: bool,
    /// Whether the snapshot secret is in memory now.
    pub snapshot_unlocked: bool,
}

/// The accounts service. Share it in an `Arc`; all methods take `&self`.
pub struct Accounts {
    store: Store,
    sink: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    config: Config,
    hasher: Hasher,
    webauthn: Webauthn,
    limiter: Limiter,
    failures: FailureLog,
    /// A credential hash made with the configured cost for a random credential nobody
    /// knows: a login naming no usable account is verified against it, so it costs the
    /// same argon2 run as one naming a real account and its time tells nothing.
    dummy_hash: StoredHash,
    ceremonies: Mutex<HashMap<String, Ceremony>>,
    sync_failing_since: Mutex<Option<DateTime<Utc>>>,
    /// The snapshot secret while unlocked. Set and wiped only inside a store write
    /// transaction (which serialises them with the decisions that cause them).
    key: Mutex<Option<SlotSecret>>,
    /// Lock order: `notify` before `key`.
    notify: Mutex<Notify>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn random_string(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn secs(n: u64) -> Duration {
    Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
}

/// Account IDs as people type them: full-width or lower case, with or without the hyphen.
pub(crate) fn normalize_account_id(typed: &str) -> String {
    let plain = credential::normalize_credential(typed);
    match plain.strip_prefix("EA") {
        Some(rest) if !rest.is_empty() => format!("EA-{rest}"),
        _ => plain,
    }
}

fn require_text(field: &'static str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::Invalid {
            field,
            problem: "must not be empty".into(),
        });
    }
    if v.chars().count() > max {
        return Err(Error::Invalid {
            field,
            problem: format!("must be at most {max} characters"),
        });
    }
    Ok(v.to_owned())
}

impl Accounts {
    /// Opens the service over `accounts.redb` (or an in-memory database in tests).
    pub fn open(
        db: Database,
        config: Config,
        sink: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        Self::open_with(db, None, config, sink, clock)
    }

    fn open_with(
        db: Database,
        reopen: Option<crate::store::Reopen>,
        config: Config,
        sink: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let hasher = Hasher::new(&config.argon2)?;
        let origin = Url::parse(&config.webauthn.rp_origin).map_err(|e| {
            Error::Config(format!(
                "webauthn.rp_origin {:?} is not a URL ({e}); use e.g. https://akari.example:8443",
                config.webauthn.rp_origin
            ))
        })?;
        let webauthn = WebauthnBuilder::new(&config.webauthn.rp_id, &origin)
            .and_then(|b| {
                b.rp_name(&config.webauthn.rp_name)
                    .allow_any_port(config.webauthn.allow_any_port)
                    .build()
            })
            .map_err(|e| {
                Error::Config(format!(
                    "webauthn.rp_id {:?} does not fit rp_origin {:?} ({e}); the ID must be \
                     the origin's host or a parent domain of it",
                    config.webauthn.rp_id, config.webauthn.rp_origin
                ))
            })?;
        if config.idle_timeout_secs == 0 || config.absolute_timeout_secs == 0 {
            return Err(Error::Config(
                "session timeouts must be greater than zero".into(),
            ));
        }
        let dummy_hash = hasher.hash_credential(&EmergencyCredential::new(random_string(18)))?;
        Ok(Self {
            store: Store::open(db, reopen)?,
            sink,
            clock,
            limiter: Limiter::new(&config),
            failures: FailureLog::new(&config),
            dummy_hash,
            hasher,
            webauthn,
            config,
            ceremonies: Mutex::new(HashMap::new()),
            sync_failing_since: Mutex::new(None),
            key: Mutex::new(None),
            notify: Mutex::new(Notify::default()),
        })
    }

    /// Opens (creating if needed) the store file, normally `<data dir>/accounts.redb`.
    pub fn open_file(
        path: &std::path::Path,
        config: Config,
        sink: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let db = Database::create(path).map_err(|source| Error::StoreOpen {
            path: path.to_owned(),
            source,
        })?;
        let again = path.to_owned();
        let reopen: crate::store::Reopen = Box::new(move || Database::create(&again));
        Self::open_with(db, Some(reopen), config, sink, clock)
    }

    fn audit(
        &self,
        mode: Mode,
        actor: Actor,
        action: Action,
        details: Option<String>,
        client: &Client,
    ) -> Result<AuditReceipt> {
        let event = AuditEvent {
            time: self.clock.now(),
            actor,
            action,
            patient: None,
            details,
            client: client.clone(),
            mode,
        };
        Ok(self.sink.record_now(&*self.clock, event)?)
    }

    fn tx_mode(&self, tx: &Tx<'_>) -> Result<ModeState> {
        Ok(tx
            .get(MODE, MODE_KEY)?
            .unwrap_or_else(|| ModeState::initial(self.clock.now())))
    }

    /// The node's mode and episode. Not secret: the login page needs it.
    pub fn mode(&self) -> Result<ModeState> {
        Ok(self
            .store
            .get(MODE, MODE_KEY)?
            .unwrap_or_else(|| ModeState::initial(self.clock.now())))
    }

    /// Reports since when the main system's sync source has been failing (`None`: it
    /// works). Shown to admins as "main system unreachable for N min"; never changes the
    /// mode by itself.
    pub fn report_sync_failing_since(&self, since: Option<DateTime<Utc>>) {
        *self
            .sync_failing_since
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = since;
    }

    /// The admin status page: mode, episode, the unreachable indicator, accounts, sessions.
    pub fn status(&self, cap: &AdminCapability) -> Result<Status> {
        let now = self.clock.now();
        let since = *self
            .sync_failing_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let sessions: Vec<(String, SessionRecord)> = self.store.list(SESSIONS)?;
        let emergency_sessions = sessions
            .iter()
            .filter(|(_, s)| matches!(s.principal, Principal::Emergency { .. }))
            .count();
        Ok(Status {
            mode: self.mode()?,
            main_system_unreachable_since: since,
            main_system_unreachable_minutes: since.map(|s| (now - s).num_minutes().max(0)),
            accounts: self.list_accounts(cap)?,
            emergency_sessions,
            admin_sessions: sessions.len() - emergency_sessions,
            key_slots_initialised: self.key_slots_initialised()?,
            snapshot_unlocked: self.is_unlocked(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_normalize_as_typed() {
        assert_eq!(normalize_account_id("ea-k7qh3x"), "EA-K7QH3X");
        assert_eq!(normalize_account_id("EAK7QH3X"), "EA-K7QH3X");
        assert_eq!(normalize_account_id("ＥＡ－Ｋ７ＱＨ３Ｘ "), "EA-K7QH3X");
    }
}
