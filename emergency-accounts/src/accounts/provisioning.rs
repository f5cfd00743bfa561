//! Sealed emergency accounts, administered in standby or recovery: provisioning (the seal
//! sheet is the only place the credential ever appears), FIDO2 key enrolment, re-sealing,
//! revocation, and the account list.

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::Rng;
use webauthn_rs::prelude::{CreationChallengeResponse, RegisterPublicKeyCredential, Uuid};

use super::ceremony::{webauthn_err, CeremonyState, Challenge};
use super::key_slots::PreparedSlot;
use super::{normalize_account_id, require_text, Accounts};
use crate::credential::{self, CREDENTIAL_ALPHABET};
use crate::event::{Action, Client};
use crate::keyslot::{account_slot, SlotSecret};
use crate::model::{AccountRecord, AccountSummary, Principal, SealState, SealStatus, WardScope};
use crate::secret::StoredHash;
use crate::session::{AdminCapability, Console};
use crate::sheet::SealSheet;
use crate::store::{Tx, ACCOUNTS, NEXT_SEAL_KEY};
use crate::{Error, Result, SessionEnd};

/// What to provision.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    /// A name staff recognise: "ER-1", "5F-West-2".
    pub label: String,
    pub ward_scope: WardScope,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A checked provisioning request, with the new credential's hash.
struct AccountDraft {
    label: String,
    ward_scope: WardScope,
    expires_at: Option<DateTime<Utc>>,
    credential_hash: StoredHash,
    now: DateTime<Utc>,
}

/// The ward scope with blank names dropped; a scope of wards must name at least one.
fn checked_ward_scope(scope: WardScope) -> Result<WardScope> {
    match scope {
        WardScope::All => Ok(WardScope::All),
        WardScope::Wards(w) => {
            let wards: Vec<String> = w
                .iter()
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect();
            if wards.is_empty() {
                return Err(Error::Invalid {
                    field: "ward scope",
                    problem: "name at least one ward, or choose all wards".into(),
                });
            }
            Ok(WardScope::Wards(wards))
        }
    }
}

/// A random account ID (`EA-` and six characters of the credential alphabet) not yet taken.
fn new_account_id(tx: &Tx<'_>) -> Result<String> {
    loop {
        let mut rng = OsRng;
        let id: String = (0..6)
            .map(|_| char::from(CREDENTIAL_ALPHABET[rng.gen_range(0..CREDENTIAL_ALPHABET.len())]))
            .collect();
        let id = format!("EA-{id}");
        if tx.get::<AccountRecord>(ACCOUNTS, &id)?.is_none() {
            return Ok(id);
        }
    }
}

impl Accounts {
    /// `akari` admin page or CLI: creates a sealed emergency account and returns its seal
    /// sheet, the only time the credential is ever shown. Standby or recovery only.
    ///
    /// With key slots the account's slot is made from the secret in memory
    /// ([`Error::Locked`] when it is not); at the console see
    /// [`Self::provision_with_recovery`].
    pub fn provision(
        &self,
        cap: &AdminCapability,
        req: ProvisionRequest,
        client: &Client,
    ) -> Result<SealSheet> {
        let secret = self.secret_for_new_slot("provisioning an account")?;
        self.provision_inner(cap, req, secret, client)
    }

    /// `akari account provision` at the console on a node with key slots: the recovery key
    /// opens the secret just long enough to make the account's slot; nothing is left in
    /// memory (and a node that was unlocked stays unlocked). Without slots: [`Self::provision`].
    pub fn provision_with_recovery(
        &self,
        console: &Console,
        req: ProvisionRequest,
        recovery_key: &str,
        client: &Client,
    ) -> Result<SealSheet> {
        let secret = self.secret_from_recovery(console, recovery_key)?;
        self.provision_inner(&console.capability(), req, secret, client)
    }

    /// `akari account reseal` at the console: like [`Self::provision_with_recovery`].
    pub fn reseal_with_recovery(
        &self,
        console: &Console,
        account_id: &str,
        recovery_key: &str,
        client: &Client,
    ) -> Result<SealSheet> {
        let secret = self.secret_from_recovery(console, recovery_key)?;
        self.reseal_inner(&console.capability(), account_id, secret, client)
    }

    /// Provisioning, in order: the request is checked; the credential is generated and
    /// hashed and its key slot prepared (argon2, slow) before the write transaction; inside
    /// it the mode is checked and the provisioning recorded before anything is written.
    fn provision_inner(
        &self,
        cap: &AdminCapability,
        req: ProvisionRequest,
        secret: Option<SlotSecret>,
        client: &Client,
    ) -> Result<SealSheet> {
        let label = require_text("label", &req.label, 64)?;
        let ward_scope = checked_ward_scope(req.ward_scope)?;
        let now = self.clock.now();
        if req.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::Invalid {
                field: "expiry",
                problem: "must be in the future".into(),
            });
        }
        let credential = credential::generate_credential();
        let draft = AccountDraft {
            credential_hash: self.hasher.hash_credential(&credential)?,
            label,
            ward_scope,
            expires_at: req.expires_at,
            now,
        };
        let slot = self.prepare_credential_slot(secret, &credential)?;
        let (account_id, seal_number) = self
            .store
            .write(|tx| self.tx_provision(tx, cap, &draft, slot.as_ref(), client))?;
        let sheet = SealSheet {
            account_id,
            label: draft.label,
            seal_number,
            ward_scope: draft.ward_scope,
            expires_at: draft.expires_at,
            key_enrolled: false,
            issued_at: now,
            credential,
        };
        tracing::info!(account_id = %sheet.account_id, "emergency account provisioned");
        Ok(sheet)
    }

    /// Provisioning, inside the write transaction: refused during an episode; a fresh
    /// account ID and the next seal number; the provisioning recorded (fail closed: an
    /// audit failure aborts the transaction) before the key slot and the sealed account
    /// are written. Returns the account ID and seal number.
    fn tx_provision(
        &self,
        tx: &Tx<'_>,
        cap: &AdminCapability,
        draft: &AccountDraft,
        slot: Option<&PreparedSlot>,
        client: &Client,
    ) -> Result<(String, String)> {
        let mode = self.tx_mode(tx)?.mode;
        if mode.allows_emergency_login() {
            return Err(Error::WrongMode {
                action: "provisioning an account",
                mode,
                hint: "provision in standby or recovery; during an episode use the sealed accounts already issued",
            });
        }
        let account_id = new_account_id(tx)?;
        let seal_number = format!("{:06}", tx.next_counter(NEXT_SEAL_KEY)?);
        let record = AccountRecord {
            account_id: account_id.clone(),
            label: draft.label.clone(),
            ward_scope: draft.ward_scope.clone(),
            expires_at: draft.expires_at,
            user_uuid: Uuid::new_v4(),
            key: None,
            state: SealState::Sealed {
                sealed_at: draft.now,
                seal_number: seal_number.clone(),
                credential_hash: draft.credential_hash.clone(),
            },
            provisioned_at: draft.now,
            provisioned_by: cap.actor(),
        };
        let _receipt = self.audit(
            mode,
            cap.actor(),
            Action::AccountProvisioned {
                account_id: account_id.clone(),
            },
            Some(format!("label={} seal={seal_number}", draft.label)),
            client,
        )?;
        if let Some(slot) = slot {
            self.tx_put_slot(
                tx,
                mode,
                cap.actor(),
                &account_slot(&account_id),
                slot,
                client,
            )?;
        }
        tx.put(ACCOUNTS, &account_id, &record)?;
        Ok((account_id, seal_number))
    }

    /// Starts enrolling a FIDO2 key to a sealed account (user verification required: the
    /// key's PIN is the second factor). Afterwards login needs credential and key.
    pub fn begin_key_enrolment(
        &self,
        _cap: &AdminCapability,
        account_id: &str,
    ) -> Result<Challenge<CreationChallengeResponse>> {
        let account_id = normalize_account_id(account_id);
        let account: AccountRecord = self
            .store
            .get(ACCOUNTS, &account_id)?
            .ok_or_else(|| Error::UnknownAccount(account_id.clone()))?;
        if account.state.status() != SealStatus::Sealed {
            return Err(Error::AccountState {
                account_id,
                status: account.state.status(),
                hint: "a key can be enrolled only to a sealed account; re-seal it first",
            });
        }
        let (options, reg) = self
            .webauthn
            .start_passkey_registration(account.user_uuid, &account_id, &account.label, None)
            .map_err(webauthn_err)?;
        let ceremony_id = self.put_ceremony(CeremonyState::KeyEnrolment { account_id, reg });
        Ok(Challenge {
            ceremony_id,
            options,
        })
    }

    /// Completes a key enrolment. A key enrolled before replaces the old one.
    pub fn finish_key_enrolment(
        &self,
        cap: &AdminCapability,
        ceremony_id: &str,
        response: &RegisterPublicKeyCredential,
        client: &Client,
    ) -> Result<()> {
        let Some(CeremonyState::KeyEnrolment { account_id, reg }) = self.take_ceremony(ceremony_id)
        else {
            return Err(Error::UnknownCeremony);
        };
        let passkey = self
            .webauthn
            .finish_passkey_registration(response, &reg)
            .map_err(webauthn_err)?;
        self.store.write(|tx| {
            let mut account: AccountRecord = tx
                .get(ACCOUNTS, &account_id)?
                .ok_or_else(|| Error::UnknownAccount(account_id.clone()))?;
            if account.state.status() != SealStatus::Sealed {
                return Err(Error::AccountState {
                    account_id: account_id.clone(),
                    status: account.state.status(),
                    hint: "a key can be enrolled only to a sealed account",
                });
            }
            if self.is_credential_id_taken(tx, passkey.cred_id())? {
                return Err(Error::WebAuthn(
                    "this key is already registered to another account".into(),
                ));
            }
            account.key = Some(passkey.clone());
            let mode = self.tx_mode(tx)?.mode;
            let _receipt = self.audit(
                mode,
                cap.actor(),
                Action::KeyEnrolled {
                    account_id: account_id.clone(),
                },
                None,
                client,
            )?;
            tx.put(ACCOUNTS, &account_id, &account)
        })
    }

    /// Issues a new credential and seal number for a sealed, retired or revoked account; the
    /// old hash is destroyed. Not while the account is opened or during an episode.
    pub fn reseal(
        &self,
        cap: &AdminCapability,
        account_id: &str,
        client: &Client,
    ) -> Result<SealSheet> {
        let secret = self.secret_for_new_slot("re-sealing an account")?;
        self.reseal_inner(cap, account_id, secret, client)
    }

    fn reseal_inner(
        &self,
        cap: &AdminCapability,
        account_id: &str,
        secret: Option<SlotSecret>,
        client: &Client,
    ) -> Result<SealSheet> {
        let account_id = normalize_account_id(account_id);
        let credential = credential::generate_credential();
        let credential_hash = self.hasher.hash_credential(&credential)?;
        let slot = self.prepare_credential_slot(secret, &credential)?;
        let now = self.clock.now();
        self.store.write(|tx| {
            let mode = self.tx_mode(tx)?.mode;
            if mode.allows_emergency_login() {
                return Err(Error::WrongMode {
                    action: "re-sealing",
                    mode,
                    hint: "end the episode first (akari mode end); re-seal during recovery or standby",
                });
            }
            let mut account: AccountRecord = tx
                .get(ACCOUNTS, &account_id)?
                .ok_or_else(|| Error::UnknownAccount(account_id.clone()))?;
            if account.state.status() == SealStatus::Opened {
                return Err(Error::AccountState {
                    account_id: account_id.clone(),
                    status: SealStatus::Opened,
                    hint: "it is in use; revoke it first if it must stop now",
                });
            }
            let seal_number = format!("{:06}", tx.next_counter(NEXT_SEAL_KEY)?);
            account.state = SealState::Sealed {
                sealed_at: now,
                seal_number: seal_number.clone(),
                credential_hash: credential_hash.clone(),
            };
            let _receipt = self.audit(
                mode,
                cap.actor(),
                Action::AccountResealed {
                    account_id: account_id.clone(),
                },
                Some(format!("seal={seal_number}")),
                client,
            )?;
            // The old slot goes whatever happens: the old credential must unlock nothing.
            match &slot {
                Some(slot) => {
                    self.tx_put_slot(tx, mode, cap.actor(), &account_slot(&account_id), slot, client)?
                }
                None => {
                    self.tx_remove_slot(tx, mode, cap.actor(), &account_slot(&account_id), client)?
                }
            }
            tx.put(ACCOUNTS, &account_id, &account)?;
            Ok(SealSheet {
                account_id: account_id.clone(),
                label: account.label.clone(),
                seal_number,
                ward_scope: account.ward_scope.clone(),
                expires_at: account.expires_at,
                key_enrolled: account.key.is_some(),
                issued_at: now,
                credential,
            })
        })
    }

    /// Revokes an account at any time: its hash is destroyed and its sessions end at once.
    pub fn revoke(
        &self,
        cap: &AdminCapability,
        account_id: &str,
        reason: &str,
        client: &Client,
    ) -> Result<()> {
        let account_id = normalize_account_id(account_id);
        let reason = require_text("reason", reason, 500)?;
        self.store.write(|tx| {
            let mode = self.tx_mode(tx)?.mode;
            let mut account: AccountRecord = tx
                .get(ACCOUNTS, &account_id)?
                .ok_or_else(|| Error::UnknownAccount(account_id.clone()))?;
            if account.state.status() == SealStatus::Revoked {
                return Err(Error::AccountState {
                    account_id: account_id.clone(),
                    status: SealStatus::Revoked,
                    hint: "it is already revoked",
                });
            }
            let _receipt = self.audit(
                mode,
                cap.actor(),
                Action::AccountRevoked {
                    account_id: account_id.clone(),
                },
                Some(reason.clone()),
                client,
            )?;
            account.state = SealState::Revoked {
                revoked_at: self.clock.now(),
                reason: reason.clone(),
            };
            tx.put(ACCOUNTS, &account_id, &account)?;
            self.tx_remove_slot(tx, mode, cap.actor(), &account_slot(&account_id), client)?;
            self.end_sessions_where(
                tx,
                mode,
                SessionEnd::AccountRevoked,
                client,
                |p| matches!(p, Principal::Emergency { account_id: a, .. } if *a == account_id),
            )
        })
    }

    /// All emergency accounts, for the admin page. No secrets.
    pub fn list_accounts(&self, _cap: &AdminCapability) -> Result<Vec<AccountSummary>> {
        let accounts: Vec<(String, AccountRecord)> = self.store.list(ACCOUNTS)?;
        Ok(accounts
            .iter()
            .map(|(_, a)| AccountSummary::from(a))
            .collect())
    }

    /// One account's public state.
    pub fn account(&self, _cap: &AdminCapability, account_id: &str) -> Result<AccountSummary> {
        let account_id = normalize_account_id(account_id);
        let account: AccountRecord = self
            .store
            .get(ACCOUNTS, &account_id)?
            .ok_or(Error::UnknownAccount(account_id))?;
        Ok(AccountSummary::from(&account))
    }
}
