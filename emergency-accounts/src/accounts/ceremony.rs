//! WebAuthn ceremonies in flight: each challenge handed to a browser waits here, keyed by
//! a random ID, until it is answered once or expires.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use webauthn_rs::prelude::{CredentialID, PasskeyAuthentication, PasskeyRegistration};

use super::{random_string, Accounts};
use crate::model::{AccountRecord, AdminRecord};
use crate::store::{Tx, ACCOUNTS, ADMINS};
use crate::{Error, Result};

/// How long a WebAuthn challenge stays answerable.
const CEREMONY_TTL_SECS: i64 = 300;

/// A WebAuthn challenge to pass to the browser, and the ID to answer it with.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Challenge<T> {
    pub ceremony_id: String,
    pub options: T,
}

pub(super) enum CeremonyState {
    AdminEnrolment {
        admin_id: String,
        code_sha256: String,
        reg: PasskeyRegistration,
    },
    KeyEnrolment {
        account_id: String,
        reg: PasskeyRegistration,
    },
    AdminLogin {
        admin_id: String,
        auth: PasskeyAuthentication,
    },
    EmergencyLogin {
        account_id: String,
        auth: PasskeyAuthentication,
    },
}

pub(super) struct Ceremony {
    state: CeremonyState,
    created: DateTime<Utc>,
}

pub(super) fn webauthn_err(e: impl std::fmt::Display) -> Error {
    Error::WebAuthn(e.to_string())
}

impl Accounts {
    pub(super) fn put_ceremony(&self, state: CeremonyState) -> String {
        let id = random_string(16);
        let now = self.clock.now();
        let mut map = self.ceremonies.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, c| now - c.created < Duration::seconds(CEREMONY_TTL_SECS));
        map.insert(
            id.clone(),
            Ceremony {
                state,
                created: now,
            },
        );
        id
    }

    /// Removes and returns a ceremony: each challenge can be answered once, which is what
    /// makes a replayed response fail.
    pub(super) fn take_ceremony(&self, id: &str) -> Option<CeremonyState> {
        let now = self.clock.now();
        let mut map = self.ceremonies.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.remove(id)?;
        (now - c.created < Duration::seconds(CEREMONY_TTL_SECS)).then_some(c.state)
    }

    pub(super) fn is_credential_id_taken(&self, tx: &Tx<'_>, id: &CredentialID) -> Result<bool> {
        let admins: Vec<(String, AdminRecord)> = tx.list(ADMINS)?;
        if admins
            .iter()
            .any(|(_, a)| a.passkeys.iter().any(|p| p.cred_id() == id))
        {
            return Ok(true);
        }
        let accounts: Vec<(String, AccountRecord)> = tx.list(ACCOUNTS)?;
        Ok(accounts
            .iter()
            .any(|(_, a)| a.key.as_ref().is_some_and(|k| k.cred_id() == id)))
    }
}
