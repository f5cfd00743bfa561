//! Getting an admin back in without a second admin account: a new enrolment code, all
//! passkeys replaced, or a new password, done for a named admin by the console or by
//! another admin. Each is recorded in the ledger inside the write transaction that carries
//! it out (fail closed), the old secret stops working in that same transaction, and the
//! admin's open sessions end with it. Backoff and rate limits are not touched: a recovery
//! does not clear an attacker's failed attempts.
//!
//! Only admin accounts are recovered here. Sealed emergency accounts (retired ones too)
//! are re-sealed instead, which prints a new seal sheet; there is no way to put a retired
//! emergency account back into use through an admin recovery.

use chrono::Duration;

use super::admins::{AdminEnrolmentTicket, ENROLMENT_TTL_HOURS};
use super::{sha256_hex, Accounts};
use crate::credential;
use crate::event::{Action, Actor, AdminRecovery, Client};
use crate::keyslot::{admin_slot, SlotSecret};
use crate::model::{AdminRecord, PendingEnrolment, Principal};
use crate::secret::{EnrolmentCode, Password};
use crate::session::{AdminCapability, Console};
use crate::store::ADMINS;
use crate::{Error, Result, SessionEnd};

/// What an admin recovery hands out, once: the new enrolment code or the new password.
#[derive(Debug)]
#[non_exhaustive]
pub struct AdminRecovered {
    pub admin_id: String,
    pub change: AdminRecovery,
    /// For a new code and for replaced passkeys: the code to register a passkey with.
    pub enrolment: Option<AdminEnrolmentTicket>,
    /// For a password reset: the new password (shown once; only its hash is kept).
    pub password: Option<Password>,
}

/// A password the policy accepts, from the seal sheets' alphabet (letters, digits and
/// hyphens: easy to read out and type, no look-alike characters).
fn generate_password() -> Password {
    loop {
        let password = Password::new(credential::generate_credential().expose());
        if credential::check_password_policy(&password).is_ok() {
            return password;
        }
    }
}

impl Accounts {
    /// An admin recovers another admin on the admin pages. Refused for the admin's own
    /// account: that would let a stolen session lock its owner out without proving
    /// anything more. A password reset needs the snapshot key in memory when key slots exist.
    pub fn recover_admin(
        &self,
        cap: &AdminCapability,
        admin_id: &str,
        change: AdminRecovery,
        client: &Client,
    ) -> Result<AdminRecovered> {
        if let Actor::Admin { admin_id: own } = cap.actor() {
            if own == admin_id.trim() {
                return Err(Error::Invalid {
                    field: "admin",
                    problem: "an admin cannot recover their own account here; another admin \
                              or the console (`akari admin`) does it"
                        .into(),
                });
            }
        }
        let secret = match change {
            AdminRecovery::PasswordReset => self.secret_for_new_slot("resetting a password")?,
            _ => None,
        };
        self.recover_admin_inner(cap.actor(), admin_id, change, secret, client)
    }

    /// `akari admin` at the console. With key slots, a password reset needs the recovery
    /// key (typed at the console) to make the admin's new slot; nothing stays in memory.
    pub fn recover_admin_at_console(
        &self,
        console: &Console,
        admin_id: &str,
        change: AdminRecovery,
        recovery_key: Option<&str>,
        client: &Client,
    ) -> Result<AdminRecovered> {
        let secret = match (change, recovery_key) {
            (AdminRecovery::PasswordReset, Some(key)) => self.secret_from_recovery(console, key)?,
            (AdminRecovery::PasswordReset, None) => {
                self.secret_for_new_slot("resetting a password")?
            }
            _ => None,
        };
        self.recover_admin_inner(console.actor(), admin_id, change, secret, client)
    }

    fn recover_admin_inner(
        &self,
        actor: Actor,
        admin_id: &str,
        change: AdminRecovery,
        secret: Option<SlotSecret>,
        client: &Client,
    ) -> Result<AdminRecovered> {
        let admin_id = admin_id.trim().to_owned();
        let now = self.clock.now();
        // Everything costly (argon2) happens before the write lock.
        let password = (change == AdminRecovery::PasswordReset).then(generate_password);
        let password_hash = password
            .as_ref()
            .map(|p| self.hasher.hash_password(p))
            .transpose()?;
        let slot = match &password {
            Some(p) => self.prepare_password_slot(secret, p)?,
            None => None,
        };
        let code = (change != AdminRecovery::PasswordReset)
            .then(|| EnrolmentCode::new(credential::generate_credential().expose()));
        let expires_at = now + Duration::hours(ENROLMENT_TTL_HOURS);
        self.store.write(|tx| {
            let mut admin: AdminRecord =
                tx.get(ADMINS, &admin_id)?.ok_or_else(|| Error::Invalid {
                    field: "admin ID",
                    problem: format!(
                        "there is no admin {admin_id:?} (emergency accounts are re-sealed \
                         with `akari account reseal`, not recovered)"
                    ),
                })?;
            let mode = self.tx_mode(tx)?.mode;
            // Recorded first: if the ledger cannot take it, nothing below commits.
            let _receipt = self.audit(
                mode,
                actor.clone(),
                Action::AdminRecovered {
                    admin_id: admin_id.clone(),
                    change,
                },
                None,
                client,
            )?;
            if change == AdminRecovery::PasskeysReplaced {
                admin.passkeys.clear();
            }
            if let Some(code) = &code {
                admin.enrolment = Some(PendingEnrolment {
                    code_sha256: sha256_hex(&credential::normalize_credential(code.expose())),
                    expires_at,
                });
            }
            if let Some(hash) = &password_hash {
                admin.password_hash = hash.clone();
                // The old password must unlock nothing: its slot goes whatever happens.
                let slot_id = admin_slot(&admin_id);
                match &slot {
                    Some(slot) => {
                        self.tx_put_slot(tx, mode, actor.clone(), &slot_id, slot, client)?
                    }
                    None => self.tx_remove_slot(tx, mode, actor.clone(), &slot_id, client)?,
                }
            }
            // A new code alone leaves the admin's sessions alone; a replaced secret ends
            // every session opened with the old one.
            if change != AdminRecovery::EnrolmentCodeReissued {
                self.end_sessions_where(
                    tx,
                    mode,
                    SessionEnd::CredentialsReset,
                    client,
                    |p| matches!(p, Principal::Admin { admin_id: a } if *a == admin_id),
                )?;
            }
            tx.put(ADMINS, &admin_id, &admin)
        })?;
        tracing::info!(admin_id = %admin_id, change = %change, "admin recovered");
        Ok(AdminRecovered {
            enrolment: code.map(|code| AdminEnrolmentTicket {
                admin_id: admin_id.clone(),
                code,
                expires_at,
            }),
            admin_id,
            change,
            password,
        })
    }

    /// The admins, for the admin pages' recovery list: ID, name, passkeys, pending code.
    pub fn list_admins(&self, _cap: &AdminCapability) -> Result<Vec<AdminSummary>> {
        let now = self.clock.now();
        let admins: Vec<(String, AdminRecord)> = self.store.list(ADMINS)?;
        Ok(admins
            .into_iter()
            .map(|(_, a)| AdminSummary {
                enrolment_pending: a.enrolment.as_ref().is_some_and(|e| e.expires_at > now),
                admin_id: a.admin_id,
                display_name: a.display_name,
                passkeys: a.passkeys.len(),
            })
            .collect())
    }
}

/// One admin as the admin pages list them (no secrets, no hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminSummary {
    pub admin_id: String,
    pub display_name: String,
    pub passkeys: usize,
    /// An enrolment code was issued and has not expired or been used.
    pub enrolment_pending: bool,
}
