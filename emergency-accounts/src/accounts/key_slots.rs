//! Key slots: the snapshot secret wrapped once per credential (the recovery key, each
//! admin's password, each sealed account's credential), and whether it is in memory now.
//! A login unwraps its slot; the end of an episode or the last admin's logout wipes it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Accounts;
use crate::event::{Action, Actor, Client, KeySlotChange, Mode};
use crate::keyslot::{
    self, KeyObserver, KeySlotsState, RecoveryKey, SlotKdf, SlotRecord, SlotSecret, RECOVERY_SLOT,
    STATE_KEY,
};
use crate::model::{Principal, SessionRecord};
use crate::secret::{EmergencyCredential, Password};
use crate::session::{AdminCapability, Console};
use crate::store::{Tx, KEY_SLOTS, KEY_STATE, SESSIONS};
use crate::{Error, Result};

/// One key slot as the admin pages list it. No key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KeySlotSummary {
    /// `recovery`, `admin:<admin ID>` or `account:<account ID>`.
    pub slot: String,
    pub created_at: DateTime<Utc>,
}

/// The snapshot secret in memory and who to tell about it.
#[derive(Default)]
pub(super) struct Notify {
    observer: Option<Arc<dyn KeyObserver>>,
    /// What the observer was last told.
    told_unlocked: bool,
}

/// A key slot about to be written: its KEK is derived (argon2, slow) before the write
/// transaction; the wrapping itself (fast) happens inside it, once the slot ID is known.
pub(super) struct PreparedSlot {
    secret: SlotSecret,
    kek: SlotSecret,
    kdf: SlotKdf,
    salt: [u8; crate::credential::KEK_SALT_LEN],
}

impl Accounts {
    fn key_guard(&self) -> std::sync::MutexGuard<'_, Option<SlotSecret>> {
        self.key.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn key_state(&self) -> Result<Option<KeySlotsState>> {
        self.store.get(KEY_STATE, STATE_KEY)
    }

    /// Whether `akari init` created key slots (then the snapshot is encrypted and the
    /// secret is needed to provision, re-seal and create admins).
    pub fn key_slots_initialised(&self) -> Result<bool> {
        Ok(self.key_state()?.is_some())
    }

    /// Whether the snapshot secret is in memory now.
    pub fn is_unlocked(&self) -> bool {
        self.key_guard().is_some()
    }

    /// A copy of the snapshot secret while unlocked (wiped when the copy is dropped).
    pub fn unlocked_secret(&self) -> Option<SlotSecret> {
        self.key_guard().clone()
    }

    /// Sets who is told when the secret enters or leaves memory. If it is in memory
    /// already, the observer is told at once.
    pub fn set_key_observer(&self, observer: Arc<dyn KeyObserver>) {
        {
            let mut n = self.notify.lock().unwrap_or_else(|p| p.into_inner());
            n.observer = Some(observer);
            n.told_unlocked = false;
        }
        self.sync_observer();
    }

    /// Brings the observer in line with the secret's current state. Called after every
    /// commit that may have changed it; serialised, so the observer always sees the last
    /// state whatever order threads arrive in.
    pub(super) fn sync_observer(&self) {
        let mut n = self.notify.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.unlocked_secret();
        match (current, n.told_unlocked) {
            (Some(secret), false) => {
                if let Some(o) = &n.observer {
                    o.unlocked(&secret);
                }
                n.told_unlocked = true;
            }
            (None, true) => {
                if let Some(o) = &n.observer {
                    o.locked();
                }
                n.told_unlocked = false;
            }
            _ => {}
        }
    }

    /// The secret to wrap a new slot with. `None` when key slots are not initialised (the
    /// store behaves as before key slots existed); [`Error::Locked`] when they are but the secret is
    /// not in memory.
    pub(super) fn secret_for_new_slot(&self, action: &'static str) -> Result<Option<SlotSecret>> {
        if self.key_state()?.is_none() {
            return Ok(None);
        }
        self.unlocked_secret()
            .map(Some)
            .ok_or(Error::Locked { action })
    }

    pub(super) fn prepare_credential_slot(
        &self,
        secret: Option<SlotSecret>,
        credential: &EmergencyCredential,
    ) -> Result<Option<PreparedSlot>> {
        let Some(secret) = secret else {
            return Ok(None);
        };
        let salt = keyslot::new_salt();
        let params = self.hasher.kdf_params();
        let kek = self.hasher.credential_kek(credential, &salt, params)?;
        Ok(Some(PreparedSlot {
            secret,
            kek,
            kdf: SlotKdf::Argon2id(params),
            salt,
        }))
    }

    pub(super) fn prepare_password_slot(
        &self,
        secret: Option<SlotSecret>,
        password: &Password,
    ) -> Result<Option<PreparedSlot>> {
        let Some(secret) = secret else {
            return Ok(None);
        };
        let salt = keyslot::new_salt();
        let params = self.hasher.kdf_params();
        let kek = self.hasher.password_kek(password, &salt, params)?;
        Ok(Some(PreparedSlot {
            secret,
            kek,
            kdf: SlotKdf::Argon2id(params),
            salt,
        }))
    }

    /// Writes (or replaces) a slot, with its event.
    pub(super) fn tx_put_slot(
        &self,
        tx: &Tx<'_>,
        mode: Mode,
        actor: Actor,
        slot_id: &str,
        prepared: &PreparedSlot,
        client: &Client,
    ) -> Result<()> {
        let existed = tx.get::<SlotRecord>(KEY_SLOTS, slot_id)?.is_some();
        let record = keyslot::wrap(
            &prepared.kek,
            slot_id,
            &prepared.secret,
            prepared.kdf,
            &prepared.salt,
            self.clock.now(),
        )?;
        let _receipt = self.audit(
            mode,
            actor,
            Action::KeySlotChanged {
                slot: slot_id.to_owned(),
                change: if existed {
                    KeySlotChange::Replaced
                } else {
                    KeySlotChange::Created
                },
            },
            None,
            client,
        )?;
        tx.put(KEY_SLOTS, slot_id, &record)
    }

    /// Removes a slot if there is one, with its event.
    pub(super) fn tx_remove_slot(
        &self,
        tx: &Tx<'_>,
        mode: Mode,
        actor: Actor,
        slot_id: &str,
        client: &Client,
    ) -> Result<()> {
        if tx.remove(KEY_SLOTS, slot_id)? {
            let _receipt = self.audit(
                mode,
                actor,
                Action::KeySlotChanged {
                    slot: slot_id.to_owned(),
                    change: KeySlotChange::Removed,
                },
                None,
                client,
            )?;
        }
        Ok(())
    }

    /// For a login that has just proved its credential: unwraps its slot if key slots are
    /// initialised and the secret is not yet in memory. `kek` derives the slot's KEK from
    /// its stored salt and parameters. Never fails the login: a missing or unopenable slot
    /// leaves the snapshot locked (logged, without any secret).
    pub(super) fn unwrap_for_login(
        &self,
        slot_id: &str,
        kek: impl FnOnce(&SlotRecord, &[u8]) -> Result<SlotSecret>,
    ) -> Option<SlotSecret> {
        if self.is_unlocked() {
            return None;
        }
        let result = (|| -> Result<Option<SlotSecret>> {
            let Some(state) = self.key_state()? else {
                return Ok(None);
            };
            let Some(record) = self.store.get::<SlotRecord>(KEY_SLOTS, slot_id)? else {
                tracing::warn!(
                    slot = slot_id,
                    "no key slot for this login; the snapshot stays locked"
                );
                return Ok(None);
            };
            let salt = keyslot::decode_salt(&record)?;
            let kek = kek(&record, &salt)?;
            match keyslot::unwrap(&kek, slot_id, &record) {
                Some(secret) if keyslot::fingerprint(&secret) == state.fingerprint => {
                    Ok(Some(secret))
                }
                Some(_) => Err(Error::KeySlots(format!(
                    "slot {slot_id} holds a key other than this node's; re-seal the account or \
                     recreate the admin"
                ))),
                None => Err(Error::KeySlots(format!(
                    "slot {slot_id} did not open with a verified credential (damaged?)"
                ))),
            }
        })();
        match result {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "the snapshot stays locked");
                None
            }
        }
    }

    /// An admin created before `init_key_slots` has no slot. When they log in while the
    /// secret is at hand, their slot is made from the password just verified, so from then
    /// on their own login unlocks. `None` when there is nothing to do (or it failed: logged).
    pub(super) fn missing_admin_slot(
        &self,
        slot_id: &str,
        password: &Password,
        unwrapped: Option<&SlotSecret>,
    ) -> Option<PreparedSlot> {
        let result = (|| -> Result<Option<PreparedSlot>> {
            if self.key_state()?.is_none()
                || self.store.get::<SlotRecord>(KEY_SLOTS, slot_id)?.is_some()
            {
                return Ok(None);
            }
            let secret = unwrapped.cloned().or_else(|| self.unlocked_secret());
            self.prepare_password_slot(secret, password)
        })();
        result.unwrap_or_else(|e| {
            tracing::error!(error = %e, slot = slot_id, "could not create the admin's key slot");
            None
        })
    }

    pub(super) fn argon2_kdf(record: &SlotRecord) -> Result<crate::credential::KdfParams> {
        match record.kdf {
            SlotKdf::Argon2id(p) => Ok(p),
            SlotKdf::RecoveryKeySha256 => Err(Error::KeySlots(
                "a credential's slot is marked as a recovery slot (damaged?)".into(),
            )),
        }
    }

    /// Inside a write transaction: puts `secret` in memory (with its event) unless it is
    /// there already. Call as the last step before the transaction commits, then
    /// [`Self::sync_observer`] after it.
    pub(super) fn tx_unlock(
        &self,
        mode: Mode,
        actor: Actor,
        slot_id: &str,
        secret: Option<SlotSecret>,
        client: &Client,
    ) -> Result<()> {
        let Some(secret) = secret else {
            return Ok(());
        };
        if self.is_unlocked() {
            return Ok(());
        }
        let _receipt = self.audit(
            mode,
            actor,
            Action::SnapshotUnlocked {
                slot: slot_id.to_owned(),
            },
            None,
            client,
        )?;
        *self.key_guard() = Some(secret);
        tracing::info!(slot = slot_id, "snapshot key unlocked");
        Ok(())
    }

    /// Inside a write transaction: wipes the secret (with its event) if it is in memory.
    /// Call as the last step before the commit, then [`Self::sync_observer`] after it.
    pub(super) fn tx_lock(
        &self,
        mode: Mode,
        actor: Actor,
        why: &str,
        client: &Client,
    ) -> Result<()> {
        if !self.is_unlocked() {
            return Ok(());
        }
        let _receipt = self.audit(
            mode,
            actor,
            Action::SnapshotLocked,
            Some(why.to_owned()),
            client,
        )?;
        *self.key_guard() = None;
        tracing::info!(why, "snapshot key wiped from memory");
        Ok(())
    }

    /// Outside an episode the secret stays in memory only while an admin is logged in:
    /// called when sessions end, it wipes the secret once the last admin session is gone.
    pub(super) fn lock_if_no_admin(&self, client: &Client) -> Result<()> {
        if !self.is_unlocked() {
            return Ok(());
        }
        self.store.write(|tx| {
            let mode = self.tx_mode(tx)?.mode;
            if mode.allows_emergency_login() {
                return Ok(());
            }
            let sessions: Vec<(String, SessionRecord)> = tx.list(SESSIONS)?;
            if sessions
                .iter()
                .any(|(_, s)| matches!(s.principal, Principal::Admin { .. }))
            {
                return Ok(());
            }
            self.tx_lock(
                mode,
                Actor::System,
                "no admin logged in outside an episode",
                client,
            )
        })?;
        self.sync_observer();
        Ok(())
    }

    /// Wipes the snapshot secret from memory now (`akari lock`, or an admin's "lock" button).
    pub fn lock_snapshot(&self, cap: &AdminCapability, client: &Client) -> Result<()> {
        let result = self.store.write(|tx| {
            let mode = self.tx_mode(tx)?.mode;
            self.tx_lock(mode, cap.actor(), "locked on request", client)
        });
        if result.is_err() {
            // Even if the event could not be recorded, locking is always safe: wipe anyway.
            *self.key_guard() = None;
        }
        self.sync_observer();
        result
    }

    /// `akari init`: creates the key slots for `secret` (the snapshot secret key's 32
    /// bytes): for now only the recovery slot, whose key is returned to be printed once.
    /// Admin slots are made by [`Self::create_admin`], account slots by provisioning and
    /// re-sealing. Does not unlock. Refused if slots exist already.
    pub fn init_key_slots(&self, console: &Console, secret: &[u8; 32]) -> Result<RecoveryKey> {
        let recovery = RecoveryKey::generate();
        let salt = keyslot::new_salt();
        let kek = recovery.kek(&salt);
        let secret = zeroize::Zeroizing::new(*secret);
        let client = Client::default();
        self.store.write(|tx| {
            if let Some(state) = tx.get::<KeySlotsState>(KEY_STATE, STATE_KEY)? {
                return Err(Error::KeySlots(format!(
                    "already initialised (at {}); to print a new recovery key use \
                     `replace_recovery_key`",
                    state.initialised_at
                )));
            }
            let mode = self.tx_mode(tx)?.mode;
            let prepared = PreparedSlot {
                secret: secret.clone(),
                kek: kek.clone(),
                kdf: SlotKdf::RecoveryKeySha256,
                salt,
            };
            self.tx_put_slot(tx, mode, console.actor(), RECOVERY_SLOT, &prepared, &client)?;
            tx.put(
                KEY_STATE,
                STATE_KEY,
                &KeySlotsState {
                    fingerprint: keyslot::fingerprint(&secret),
                    initialised_at: self.clock.now(),
                    initialised_by: console.actor(),
                },
            )
        })?;
        tracing::info!("key slots initialised");
        Ok(recovery)
    }

    /// Opens the recovery slot with a typed recovery key. A typo is reported as such
    /// ([`Error::RecoveryKey`]) and is not an event; a well-formed but wrong key is a
    /// failed unlock (event) and [`Error::WrongRecoveryKey`].
    fn open_recovery_slot(&self, console: &Console, typed: &str) -> Result<SlotSecret> {
        let key = RecoveryKey::parse(typed)?;
        let state = self.key_state()?.ok_or_else(|| {
            Error::KeySlots("not initialised on this node; run `akari init` first".into())
        })?;
        let record: SlotRecord = self.store.get(KEY_SLOTS, RECOVERY_SLOT)?.ok_or_else(|| {
            Error::KeySlots("the recovery slot is missing from accounts.redb".into())
        })?;
        let salt = keyslot::decode_salt(&record)?;
        match keyslot::unwrap(&key.kek(&salt), RECOVERY_SLOT, &record) {
            Some(secret) if keyslot::fingerprint(&secret) == state.fingerprint => Ok(secret),
            Some(_) => Err(Error::KeySlots(
                "the recovery slot holds a key other than this node's".into(),
            )),
            None => {
                let mode = self.mode()?.mode;
                let _receipt = self.audit(
                    mode,
                    console.actor(),
                    Action::LoginFailed {
                        reason: "wrong recovery key".into(),
                    },
                    Some(format!("slot={RECOVERY_SLOT}")),
                    &Client::default(),
                )?;
                Err(Error::WrongRecoveryKey)
            }
        }
    }

    /// Unlocks the snapshot with the recovery key, at the console: the same effect as a
    /// login (the secret in memory, the observer told).
    pub fn unlock_with_recovery(&self, console: &Console, recovery_key: &str) -> Result<()> {
        let secret = self.open_recovery_slot(console, recovery_key)?;
        let client = Client::default();
        self.store.write(|tx| {
            let mode = self.tx_mode(tx)?.mode;
            self.tx_unlock(mode, console.actor(), RECOVERY_SLOT, Some(secret), &client)
        })?;
        self.sync_observer();
        Ok(())
    }

    /// Replaces the recovery slot with one for a new recovery key (returned, to be printed
    /// once); the old key unlocks nothing afterwards. `current`: the current recovery key,
    /// or `None` to use the secret in memory (an admin is logged in), for when the old
    /// sheet is lost or exposed.
    pub fn replace_recovery_key(
        &self,
        console: &Console,
        current: Option<&str>,
    ) -> Result<RecoveryKey> {
        let secret = match current {
            Some(typed) => self.open_recovery_slot(console, typed)?,
            None => self
                .secret_for_new_slot("replacing the recovery key")?
                .ok_or_else(|| {
                    Error::KeySlots("not initialised on this node; run `akari init` first".into())
                })?,
        };
        let recovery = RecoveryKey::generate();
        let salt = keyslot::new_salt();
        let prepared = PreparedSlot {
            secret,
            kek: recovery.kek(&salt),
            kdf: SlotKdf::RecoveryKeySha256,
            salt,
        };
        self.store.write(|tx| {
            let mode = self.tx_mode(tx)?.mode;
            self.tx_put_slot(
                tx,
                mode,
                console.actor(),
                RECOVERY_SLOT,
                &prepared,
                &Client::default(),
            )
        })?;
        Ok(recovery)
    }

    /// The secret from the recovery key when key slots exist, `None` when they do not.
    pub(super) fn secret_from_recovery(
        &self,
        console: &Console,
        recovery_key: &str,
    ) -> Result<Option<SlotSecret>> {
        if self.key_slots_initialised()? {
            Ok(Some(self.open_recovery_slot(console, recovery_key)?))
        } else {
            Ok(None)
        }
    }

    /// The key slots that exist, for the admin pages.
    pub fn list_key_slots(&self, _cap: &AdminCapability) -> Result<Vec<KeySlotSummary>> {
        let slots: Vec<(String, SlotRecord)> = self.store.list(KEY_SLOTS)?;
        Ok(slots
            .into_iter()
            .map(|(slot, r)| KeySlotSummary {
                slot,
                created_at: r.created_at,
            })
            .collect())
    }
}
