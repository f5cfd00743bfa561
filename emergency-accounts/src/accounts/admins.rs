//! Hospital IT administrators: created at the console with a password and a one-time
//! enrolment code, then enrolled with their own WebAuthn credential from the admin pages.

use chrono::{DateTime, Duration, Utc};
use webauthn_rs::prelude::{
    CreationChallengeResponse, CredentialID, RegisterPublicKeyCredential, Uuid,
};

use super::ceremony::{webauthn_err, CeremonyState, Challenge};
use super::{require_text, sha256_hex, Accounts};
use crate::credential;
use crate::event::{Action, Actor, Client};
use crate::keyslot::{admin_slot, SlotSecret};
use crate::model::{AdminRecord, PendingEnrolment};
use crate::secret::{EnrolmentCode, Password};
use crate::session::Console;
use crate::store::ADMINS;
use crate::{Error, Result};

/// How long a new admin's enrolment code is valid.
pub(super) const ENROLMENT_TTL_HOURS: i64 = 24;

/// A new admin, as typed at the console.
#[derive(Debug)]
pub struct NewAdmin {
    pub admin_id: String,
    pub display_name: String,
    pub password: Password,
}

/// Returned by [`Accounts::create_admin`]: the admin exists but cannot log in until they
/// enrol a WebAuthn credential with this one-time code (shown once at the console).
#[derive(Debug)]
#[non_exhaustive]
pub struct AdminEnrolmentTicket {
    pub admin_id: String,
    pub code: EnrolmentCode,
    pub expires_at: DateTime<Utc>,
}

impl Accounts {
    /// `akari admin create`: creates an admin with a password (checked against the policy)
    /// and returns a one-time code with which they enrol their WebAuthn credential. Until
    /// then the admin cannot log in.
    ///
    /// Once key slots are initialised, this also creates the admin's key slot from the
    /// password, which needs the snapshot secret in memory ([`Error::Locked`] otherwise);
    /// at the console use [`Self::create_admin_with_recovery`] instead.
    pub fn create_admin(
        &self,
        console: &Console,
        new: NewAdmin,
        client: &Client,
    ) -> Result<AdminEnrolmentTicket> {
        let secret = self.secret_for_new_slot("creating an admin")?;
        self.create_admin_inner(console, new, secret, client)
    }

    // The same two entry points as `provision` / `provision_with_recovery`: each pair is
    // two lines over its own `_inner`, so a shared helper would only hide which secret is used.
    /// `akari admin create` on a node with key slots: the recovery key (typed at the
    /// console) opens the secret just long enough to make the new admin's slot; nothing is
    /// left in memory. Without key slots it behaves as [`Self::create_admin`].
    pub fn create_admin_with_recovery(
        &self,
        console: &Console,
        new: NewAdmin,
        recovery_key: &str,
        client: &Client,
    ) -> Result<AdminEnrolmentTicket> {
        let secret = self.secret_from_recovery(console, recovery_key)?;
        self.create_admin_inner(console, new, secret, client)
    }

    fn create_admin_inner(
        &self,
        console: &Console,
        new: NewAdmin,
        secret: Option<SlotSecret>,
        client: &Client,
    ) -> Result<AdminEnrolmentTicket> {
        let admin_id = new.admin_id.trim().to_owned();
        if admin_id.is_empty()
            || admin_id.len() > 64
            || !admin_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(Error::Invalid {
                field: "admin ID",
                problem: "use 1–64 letters, digits, '-', '_' or '.'".into(),
            });
        }
        let display_name = require_text("display name", &new.display_name, 100)?;
        credential::check_password_policy(&new.password)?;
        let password_hash = self.hasher.hash_password(&new.password)?;
        let slot = self.prepare_password_slot(secret, &new.password)?;
        let code = EnrolmentCode::new(credential::generate_credential().expose());
        let now = self.clock.now();
        let expires_at = now + Duration::hours(ENROLMENT_TTL_HOURS);
        self.store.write(|tx| {
            if tx.get::<AdminRecord>(ADMINS, &admin_id)?.is_some() {
                return Err(Error::AdminExists(admin_id.clone()));
            }
            let mode = self.tx_mode(tx)?.mode;
            let record = AdminRecord {
                admin_id: admin_id.clone(),
                display_name,
                password_hash,
                user_uuid: Uuid::new_v4(),
                passkeys: Vec::new(),
                enrolment: Some(PendingEnrolment {
                    code_sha256: sha256_hex(&credential::normalize_credential(code.expose())),
                    expires_at,
                }),
                created_at: now,
                created_by: console.actor(),
            };
            let _receipt = self.audit(
                mode,
                console.actor(),
                Action::AdminCreated,
                Some(format!("admin={admin_id}")),
                client,
            )?;
            if let Some(slot) = &slot {
                self.tx_put_slot(
                    tx,
                    mode,
                    console.actor(),
                    &admin_slot(&admin_id),
                    slot,
                    client,
                )?;
            }
            tx.put(ADMINS, &admin_id, &record)
        })?;
        tracing::info!(admin_id = %admin_id, "admin created; awaiting WebAuthn enrolment");
        Ok(AdminEnrolmentTicket {
            admin_id,
            code,
            expires_at,
        })
    }

    /// Starts a new admin's WebAuthn enrolment (passkey or security key with PIN: user
    /// verification required).
    pub fn begin_admin_enrolment(
        &self,
        admin_id: &str,
        code: &EnrolmentCode,
    ) -> Result<Challenge<CreationChallengeResponse>> {
        let admin: AdminRecord = self
            .store
            .get(ADMINS, admin_id.trim())?
            .ok_or(Error::BadEnrolmentCode)?;
        let code_sha256 = sha256_hex(&credential::normalize_credential(code.expose()));
        match &admin.enrolment {
            Some(e) if e.code_sha256 == code_sha256 && e.expires_at > self.clock.now() => {}
            _ => return Err(Error::BadEnrolmentCode),
        }
        let exclude: Vec<CredentialID> =
            admin.passkeys.iter().map(|p| p.cred_id().clone()).collect();
        let (options, reg) = self
            .webauthn
            .start_passkey_registration(
                admin.user_uuid,
                &admin.admin_id,
                &admin.display_name,
                Some(exclude),
            )
            .map_err(webauthn_err)?;
        let ceremony_id = self.put_ceremony(CeremonyState::AdminEnrolment {
            admin_id: admin.admin_id,
            code_sha256,
            reg,
        });
        Ok(Challenge {
            ceremony_id,
            options,
        })
    }

    /// Completes the enrolment: the admin can now log in with password and credential.
    pub fn finish_admin_enrolment(
        &self,
        ceremony_id: &str,
        response: &RegisterPublicKeyCredential,
        client: &Client,
    ) -> Result<()> {
        let Some(CeremonyState::AdminEnrolment {
            admin_id,
            code_sha256,
            reg,
        }) = self.take_ceremony(ceremony_id)
        else {
            return Err(Error::UnknownCeremony);
        };
        let passkey = self
            .webauthn
            .finish_passkey_registration(response, &reg)
            .map_err(webauthn_err)?;
        self.store.write(|tx| {
            let mut admin: AdminRecord = tx
                .get(ADMINS, &admin_id)?
                .ok_or_else(|| Error::UnknownAdmin(admin_id.clone()))?;
            match &admin.enrolment {
                Some(e) if e.code_sha256 == code_sha256 && e.expires_at > self.clock.now() => {}
                _ => return Err(Error::BadEnrolmentCode),
            }
            if self.is_credential_id_taken(tx, passkey.cred_id())? {
                return Err(Error::WebAuthn(
                    "this credential is already registered to another account".into(),
                ));
            }
            admin.passkeys.push(passkey.clone());
            admin.enrolment = None;
            let mode = self.tx_mode(tx)?.mode;
            let _receipt = self.audit(
                mode,
                Actor::Admin {
                    admin_id: admin_id.clone(),
                },
                Action::AdminCredentialEnrolled,
                None,
                client,
            )?;
            tx.put(ADMINS, &admin_id, &admin)
        })
    }
}
