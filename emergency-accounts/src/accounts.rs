//! The accounts service: every decision about who may get in. Each decision is recorded
//! through the [`AuditSink`] inside the same redb write transaction that carries it out, and
//! before that transaction commits: if the sink fails, nothing changes and nothing is handed
//! out (fail closed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use redb::Database;
use serde::Serialize;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CreationChallengeResponse, CredentialID, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::clock::Clock;
use crate::config::Config;
use crate::credential::{self, Hasher, CREDENTIAL_ALPHABET};
use crate::event::{
    Action, Actor, AuditEvent, AuditReceipt, AuditSink, Client, DeclaredPerson, KeySlotChange,
    Mode, Reason,
};
use crate::keyslot::{
    self, account_slot, admin_slot, KeyObserver, KeySlotsState, RecoveryKey, SlotKdf, SlotRecord,
    SlotSecret, RECOVERY_SLOT, STATE_KEY,
};
use crate::limiter::{Blocked, LimitKey, Limiter};
use crate::model::{
    AccountRecord, AccountSummary, AdminRecord, Declaration, Episode, ModeState, OpenedBy, Opening,
    PendingEnrolment, Principal, SealState, SealStatus, SessionRecord, WardScope,
};
use crate::secret::{EmergencyCredential, EnrolmentCode, Password, SessionToken};
use crate::session::{
    AdminCapability, AdminSession, Console, EmergencySession, NewSession, PendingSession, Session,
};
use crate::sheet::SealSheet;
use crate::store::{
    Store, Tx, ACCOUNTS, ADMINS, KEY_SLOTS, KEY_STATE, MODE, MODE_KEY, NEXT_EPISODE_KEY,
    NEXT_SEAL_KEY, SESSIONS,
};
use crate::{Error, LoginRefused, Result, SessionEnd};

/// How long a WebAuthn challenge stays answerable.
const CEREMONY_TTL_SECS: i64 = 300;
/// How long a new admin's enrolment code is valid.
const ENROLMENT_TTL_HOURS: i64 = 24;
/// How far the clock may step back (NTP slew, a small correction) before sessions end.
const CLOCK_BACK_TOLERANCE_SECS: i64 = 60;
/// `last_seen` is rewritten at most this often, so reading a page is not a disk write.
const TOUCH_INTERVAL_SECS: i64 = 30;

/// A WebAuthn challenge to pass to the browser, and the ID to answer it with.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Challenge<T> {
    pub ceremony_id: String,
    pub options: T,
}

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

/// An admin's login: password and the answer to [`Accounts::begin_admin_login`]'s challenge.
#[derive(Debug)]
pub struct AdminLogin {
    pub admin_id: String,
    pub password: Password,
    pub ceremony_id: String,
    pub response: PublicKeyCredential,
}

/// The answer to an emergency account's key challenge.
#[derive(Debug)]
pub struct KeyAssertion {
    pub ceremony_id: String,
    pub response: PublicKeyCredential,
}

/// An emergency login: account ID and credential from the seal sheet, plus the key's
/// assertion if the account has a key.
#[derive(Debug)]
pub struct EmergencyLogin {
    pub account_id: String,
    pub credential: EmergencyCredential,
    pub key: Option<KeyAssertion>,
}

/// What to provision.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    /// A name staff recognise: "ER-1", "5F-West-2".
    pub label: String,
    pub ward_scope: WardScope,
    pub expires_at: Option<DateTime<Utc>>,
}

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
struct Notify {
    observer: Option<Arc<dyn KeyObserver>>,
    /// What the observer was last told.
    told_unlocked: bool,
}

/// A key slot about to be written: its KEK is derived (argon2, slow) before the write
/// transaction; the wrapping itself (fast) happens inside it, once the slot ID is known.
struct PreparedSlot {
    secret: SlotSecret,
    kek: SlotSecret,
    kdf: SlotKdf,
    salt: [u8; crate::credential::KEK_SALT_LEN],
}

enum CeremonyState {
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

struct Ceremony {
    state: CeremonyState,
    created: DateTime<Utc>,
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

fn webauthn_err(e: impl std::fmt::Display) -> Error {
    Error::WebAuthn(e.to_string())
}

/// A mode-change reason: the text given, or `default` when nothing was typed (ending a
/// drill needs no essay), validated like any other reason.
fn reason_or_default(reason: &str, default: &str) -> Result<String> {
    if reason.trim().is_empty() {
        Ok(default.to_owned())
    } else {
        require_text("reason", reason, 500)
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

fn check_transition(from: Mode, to: Mode) -> Result<()> {
    use Mode::*;
    let hint = match (from, to) {
        (Standby, Emergency)
        | (Standby, Drill)
        | (Emergency, Recovery)
        | (Drill, Recovery)
        | (Recovery, Standby) => return Ok(()),
        (a, b) if a == b => format!("the node is already in {a} mode"),
        (Emergency | Drill, Emergency | Drill) => {
            "an episode is already running; end it first (akari mode end)".into()
        }
        (Emergency | Drill, Standby) => "end the episode first (akari mode end): it passes \
             through recovery so used accounts are retired and reviewed"
            .into(),
        (Standby, Recovery) => "there is no emergency or drill to end".into(),
        (Recovery, Emergency | Drill) => "finish recovery first: return to standby \
             (akari mode standby), then declare"
            .into(),
        _ => "not a permitted transition".into(),
    };
    Err(Error::IllegalTransition { from, to, hint })
}

impl Accounts {
    /// Opens the service over `accounts.redb` (or an in-memory database in tests).
    pub fn open(
        db: Database,
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
        Ok(Self {
            store: Store::open(db)?,
            sink,
            clock,
            limiter: Limiter::new(&config),
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
        let db = Database::create(path)
            .map_err(|e| Error::Store(format!("cannot open {}: {e}", path.display())))?;
        Self::open(db, config, sink, clock)
    }

    // ----------------------------------------------------------------- shared helpers

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
        Ok(self.sink.record(event)?)
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

    fn put_ceremony(&self, state: CeremonyState) -> String {
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
    fn take_ceremony(&self, id: &str) -> Option<CeremonyState> {
        let now = self.clock.now();
        let mut map = self.ceremonies.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.remove(id)?;
        (now - c.created < Duration::seconds(CEREMONY_TTL_SECS)).then_some(c.state)
    }

    fn new_session(
        &self,
        tx: &Tx<'_>,
        session_id: String,
        principal: Principal,
    ) -> Result<(SessionToken, SessionRecord)> {
        let token = SessionToken::new(random_string(32));
        let now = self.clock.now();
        let record = SessionRecord {
            session_id,
            principal,
            created_at: now,
            last_seen: now,
        };
        tx.put(SESSIONS, &sha256_hex(token.expose()), &record)?;
        Ok((token, record))
    }

    fn absolute_end(&self, rec: &SessionRecord) -> DateTime<Utc> {
        rec.created_at + secs(self.config.absolute_timeout_secs)
    }

    fn is_credential_id_taken(&self, tx: &Tx<'_>, id: &CredentialID) -> Result<bool> {
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

    /// Records a refused login (and counts it towards backoff when `limit` is given) and
    /// returns the error to hand back. If even the refusal cannot be recorded, that is the
    /// error: nothing happens unaudited.
    fn refuse_login(
        &self,
        mode: Mode,
        who: String,
        refusal: LoginRefused,
        internal_reason: &str,
        limit: Option<&[LimitKey]>,
        client: &Client,
    ) -> Error {
        if let Some(keys) = limit {
            self.limiter.record_failure(keys, self.clock.now());
        }
        tracing::info!(reason = internal_reason, "login refused");
        match self.audit(
            mode,
            Actor::Anonymous,
            Action::LoginFailed {
                reason: internal_reason.to_owned(),
            },
            Some(who),
            client,
        ) {
            Ok(_receipt) => Error::Login(refusal),
            Err(e) => e,
        }
    }

    fn backoff_refusal(&self, blocked: Blocked) -> LoginRefused {
        let now = self.clock.now();
        let retry_after_secs = match blocked {
            Blocked::Until(until) => {
                let ms = (until - now).num_milliseconds().max(0);
                u64::try_from((ms + 999) / 1000).unwrap_or(u64::MAX)
            }
            Blocked::Busy => 1,
        };
        LoginRefused::TooManyAttempts { retry_after_secs }
    }

    fn limit_keys(first: LimitKey, client: &Client) -> Vec<LimitKey> {
        let mut keys = vec![first];
        if let Some(addr) = client.address {
            keys.push(LimitKey::Address(addr));
        }
        keys
    }

    // ----------------------------------------------------------------- key slots

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
    fn sync_observer(&self) {
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
    fn secret_for_new_slot(&self, action: &'static str) -> Result<Option<SlotSecret>> {
        if self.key_state()?.is_none() {
            return Ok(None);
        }
        self.unlocked_secret()
            .map(Some)
            .ok_or(Error::Locked { action })
    }

    fn prepare_credential_slot(
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

    fn prepare_password_slot(
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
    fn tx_put_slot(
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
    fn tx_remove_slot(
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
    fn unwrap_for_login(
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
    fn missing_admin_slot(
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

    fn argon2_kdf(record: &SlotRecord) -> Result<crate::credential::KdfParams> {
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
    fn tx_unlock(
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
    fn tx_lock(&self, mode: Mode, actor: Actor, why: &str, client: &Client) -> Result<()> {
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
    fn lock_if_no_admin(&self, client: &Client) -> Result<()> {
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

    // ----------------------------------------------------------------- admins

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

    /// Starts an admin login: the WebAuthn challenge for the admin's credentials.
    pub fn begin_admin_login(
        &self,
        admin_id: &str,
        client: &Client,
    ) -> Result<Challenge<RequestChallengeResponse>> {
        let admin: Option<AdminRecord> = self.store.get(ADMINS, admin_id.trim())?;
        let Some(admin) = admin.filter(|a| !a.passkeys.is_empty()) else {
            let mode = self.mode()?.mode;
            return Err(self.refuse_login(
                mode,
                format!("admin={}", admin_id.trim()),
                LoginRefused::InvalidCredentials,
                "unknown admin or no enrolled credential",
                None,
                client,
            ));
        };
        let (options, auth) = self
            .webauthn
            .start_passkey_authentication(&admin.passkeys)
            .map_err(webauthn_err)?;
        let ceremony_id = self.put_ceremony(CeremonyState::AdminLogin {
            admin_id: admin.admin_id,
            auth,
        });
        Ok(Challenge {
            ceremony_id,
            options,
        })
    }

    /// Completes an admin login: both the password and the WebAuthn assertion must be right.
    pub fn login_admin(
        &self,
        login: AdminLogin,
        client: &Client,
    ) -> Result<NewSession<AdminSession>> {
        let admin_id = login.admin_id.trim().to_owned();
        let who = format!("admin={admin_id}");
        let keys = Self::limit_keys(LimitKey::Admin(admin_id.clone()), client);
        let mode = self.mode()?.mode;
        let _attempt = match self.limiter.begin(&keys, self.clock.now()) {
            Ok(attempt) => attempt,
            Err(blocked) => {
                let refusal = self.backoff_refusal(blocked);
                let why = match blocked {
                    Blocked::Until(_) => "in backoff",
                    Blocked::Busy => "another attempt is running",
                };
                return Err(self.refuse_login(mode, who, refusal, why, None, client));
            }
        };
        let auth = match self.take_ceremony(&login.ceremony_id) {
            Some(CeremonyState::AdminLogin { admin_id: a, auth }) if a == admin_id => auth,
            _ => {
                return Err(self.refuse_login(
                    mode,
                    who,
                    LoginRefused::InvalidCredentials,
                    "unknown, expired or reused WebAuthn challenge",
                    Some(&keys),
                    client,
                ))
            }
        };
        let result = match self
            .webauthn
            .finish_passkey_authentication(&login.response, &auth)
        {
            Ok(r) => r,
            Err(e) => {
                return Err(self.refuse_login(
                    mode,
                    who,
                    LoginRefused::InvalidCredentials,
                    &format!("WebAuthn assertion refused: {e}"),
                    Some(&keys),
                    client,
                ))
            }
        };
        let Some(admin) = self.store.get::<AdminRecord>(ADMINS, &admin_id)? else {
            return Err(self.refuse_login(
                mode,
                who,
                LoginRefused::InvalidCredentials,
                "unknown admin",
                Some(&keys),
                client,
            ));
        };
        if !self
            .hasher
            .verify_password(&login.password, &admin.password_hash)
        {
            return Err(self.refuse_login(
                mode,
                who,
                LoginRefused::InvalidCredentials,
                "wrong password",
                Some(&keys),
                client,
            ));
        }
        let slot_id = admin_slot(&admin_id);
        let unwrapped = self.unwrap_for_login(&slot_id, |record, salt| {
            self.hasher
                .password_kek(&login.password, salt, Self::argon2_kdf(record)?)
        });
        let heal = self.missing_admin_slot(&slot_id, &login.password, unwrapped.as_ref());
        let session = self.store.write(|tx| {
            let mut admin: AdminRecord = tx
                .get(ADMINS, &admin_id)?
                .ok_or_else(|| Error::UnknownAdmin(admin_id.clone()))?;
            for pk in admin.passkeys.iter_mut() {
                pk.update_credential(&result);
            }
            tx.put(ADMINS, &admin_id, &admin)?;
            let mode = self.tx_mode(tx)?.mode;
            let session_id = random_string(16);
            let (token, record) = self.new_session(
                tx,
                session_id.clone(),
                Principal::Admin {
                    admin_id: admin_id.clone(),
                },
            )?;
            let _receipt = self.audit(
                mode,
                Actor::Admin {
                    admin_id: admin_id.clone(),
                },
                Action::LoginSucceeded,
                Some(format!("session={session_id}")),
                client,
            )?;
            if let Some(slot) = &heal {
                let actor = Actor::Admin {
                    admin_id: admin_id.clone(),
                };
                self.tx_put_slot(tx, mode, actor, &slot_id, slot, client)?;
            }
            self.tx_unlock(
                mode,
                Actor::Admin {
                    admin_id: admin_id.clone(),
                },
                &slot_id,
                unwrapped,
                client,
            )?;
            Ok(NewSession {
                token,
                session: AdminSession {
                    session_id,
                    admin_id: admin_id.clone(),
                    display_name: admin.display_name.clone(),
                    created_at: record.created_at,
                    expires_at: self.absolute_end(&record),
                },
            })
        })?;
        self.sync_observer();
        self.limiter.record_success(&keys);
        tracing::info!(admin_id = %admin_id, session_id = %session.session.session_id, "admin logged in");
        Ok(session)
    }

    // ----------------------------------------------------------------- emergency accounts

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

    /// The secret from the recovery key when key slots exist, `None` when they do not.
    fn secret_from_recovery(
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

    fn provision_inner(
        &self,
        cap: &AdminCapability,
        req: ProvisionRequest,
        secret: Option<SlotSecret>,
        client: &Client,
    ) -> Result<SealSheet> {
        let label = require_text("label", &req.label, 64)?;
        let ward_scope = match req.ward_scope {
            WardScope::All => WardScope::All,
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
                WardScope::Wards(wards)
            }
        };
        let now = self.clock.now();
        if req.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::Invalid {
                field: "expiry",
                problem: "must be in the future".into(),
            });
        }
        let credential = credential::generate_credential();
        let credential_hash = self.hasher.hash_credential(&credential)?;
        let slot = self.prepare_credential_slot(secret, &credential)?;
        let sheet = self.store.write(|tx| {
            let mode = self.tx_mode(tx)?.mode;
            if mode.allows_emergency_login() {
                return Err(Error::WrongMode {
                    action: "provisioning an account",
                    mode,
                    hint: "provision in standby or recovery; during an episode use the sealed accounts already issued",
                });
            }
            let account_id = loop {
                let mut rng = OsRng;
                let id: String = (0..6)
                    .map(|_| char::from(CREDENTIAL_ALPHABET[rng.gen_range(0..CREDENTIAL_ALPHABET.len())]))
                    .collect();
                let id = format!("EA-{id}");
                if tx.get::<AccountRecord>(ACCOUNTS, &id)?.is_none() {
                    break id;
                }
            };
            let seal_number = format!("{:06}", tx.next_counter(NEXT_SEAL_KEY)?);
            let record = AccountRecord {
                account_id: account_id.clone(),
                label: label.clone(),
                ward_scope: ward_scope.clone(),
                expires_at: req.expires_at,
                user_uuid: Uuid::new_v4(),
                key: None,
                state: SealState::Sealed {
                    sealed_at: now,
                    seal_number: seal_number.clone(),
                    credential_hash: credential_hash.clone(),
                },
                provisioned_at: now,
                provisioned_by: cap.actor(),
            };
            let _receipt = self.audit(
                mode,
                cap.actor(),
                Action::AccountProvisioned {
                    account_id: account_id.clone(),
                },
                Some(format!("label={label} seal={seal_number}")),
                client,
            )?;
            if let Some(slot) = &slot {
                self.tx_put_slot(tx, mode, cap.actor(), &account_slot(&account_id), slot, client)?;
            }
            tx.put(ACCOUNTS, &account_id, &record)?;
            Ok(SealSheet {
                account_id,
                label: label.clone(),
                seal_number,
                ward_scope: ward_scope.clone(),
                expires_at: req.expires_at,
                key_enrolled: false,
                issued_at: now,
                credential,
            })
        })?;
        tracing::info!(account_id = %sheet.account_id, "emergency account provisioned");
        Ok(sheet)
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

    // ----------------------------------------------------------------- emergency login

    /// Starts an emergency login. Returns the key challenge if the account has a key
    /// enrolled (then [`EmergencyLogin::key`] must answer it), `None` otherwise.
    pub fn begin_emergency_login(
        &self,
        account_id: &str,
    ) -> Result<Option<Challenge<RequestChallengeResponse>>> {
        let account_id = normalize_account_id(account_id);
        let account: Option<AccountRecord> = self.store.get(ACCOUNTS, &account_id)?;
        let Some(key) = account.and_then(|a| a.key) else {
            return Ok(None);
        };
        let (options, auth) = self
            .webauthn
            .start_passkey_authentication(std::slice::from_ref(&key))
            .map_err(webauthn_err)?;
        let ceremony_id = self.put_ceremony(CeremonyState::EmergencyLogin { account_id, auth });
        Ok(Some(Challenge {
            ceremony_id,
            options,
        }))
    }

    /// Logs in with a sealed account. Works only in emergency or drill mode. Returns a
    /// pending session that must [`declare`](Self::declare) before it can do anything. The
    /// first login of a sealed account breaks the seal.
    ///
    /// Order matters: backoff is checked before anything costly, so guesses during backoff
    /// never reach argon2.
    pub fn login_emergency(
        &self,
        login: EmergencyLogin,
        client: &Client,
    ) -> Result<NewSession<PendingSession>> {
        let account_id = normalize_account_id(&login.account_id);
        let who = format!("account={account_id}");
        let keys = Self::limit_keys(LimitKey::Account(account_id.clone()), client);
        let mode_state = self.mode()?;
        let mode = mode_state.mode;
        let _attempt = match self.limiter.begin(&keys, self.clock.now()) {
            Ok(attempt) => attempt,
            Err(blocked) => {
                let refusal = self.backoff_refusal(blocked);
                let why = match blocked {
                    Blocked::Until(_) => "in backoff",
                    Blocked::Busy => "another attempt is running",
                };
                return Err(self.refuse_login(mode, who, refusal, why, None, client));
            }
        };
        if !mode.allows_emergency_login() {
            return Err(self.refuse_login(
                mode,
                who,
                LoginRefused::NotInEmergencyMode { mode },
                "not in emergency or drill mode",
                None,
                client,
            ));
        }
        let Some(account) = self.store.get::<AccountRecord>(ACCOUNTS, &account_id)? else {
            return Err(self.refuse_login(
                mode,
                who,
                LoginRefused::InvalidCredentials,
                "unknown account",
                Some(&keys),
                client,
            ));
        };
        let Some(stored_hash) = account.state.credential_hash().cloned() else {
            let status = account.state.status();
            return Err(self.refuse_login(
                mode,
                who,
                LoginRefused::AccountNotUsable { status },
                &format!("account is {status}"),
                None,
                client,
            ));
        };
        if account.expires_at.is_some_and(|t| t <= self.clock.now()) {
            return Err(self.refuse_login(
                mode,
                who,
                LoginRefused::Expired,
                "account expired",
                None,
                client,
            ));
        }
        let key_result = match (&account.key, login.key) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(self.refuse_login(
                    mode,
                    who,
                    LoginRefused::KeyRequired,
                    "security key assertion missing",
                    Some(&keys),
                    client,
                ))
            }
            (Some(_), Some(assertion)) => {
                let auth = match self.take_ceremony(&assertion.ceremony_id) {
                    Some(CeremonyState::EmergencyLogin {
                        account_id: a,
                        auth,
                    }) if a == account_id => auth,
                    _ => {
                        return Err(self.refuse_login(
                            mode,
                            who,
                            LoginRefused::InvalidCredentials,
                            "unknown, expired or reused WebAuthn challenge",
                            Some(&keys),
                            client,
                        ))
                    }
                };
                match self
                    .webauthn
                    .finish_passkey_authentication(&assertion.response, &auth)
                {
                    Ok(r) => Some(r),
                    Err(e) => {
                        return Err(self.refuse_login(
                            mode,
                            who,
                            LoginRefused::InvalidCredentials,
                            &format!("security key assertion refused: {e}"),
                            Some(&keys),
                            client,
                        ))
                    }
                }
            }
        };
        if !self
            .hasher
            .verify_credential(&login.credential, &stored_hash)
        {
            return Err(self.refuse_login(
                mode,
                who,
                LoginRefused::InvalidCredentials,
                "wrong credential",
                Some(&keys),
                client,
            ));
        }
        let slot_id = account_slot(&account_id);
        let unwrapped = self.unwrap_for_login(&slot_id, |record, salt| {
            self.hasher
                .credential_kek(&login.credential, salt, Self::argon2_kdf(record)?)
        });
        let session = self.store.write(|tx| {
            // Re-read under the write lock: the mode or the account may have changed while
            // argon2 ran.
            let mode_state = self.tx_mode(tx)?;
            let mode = mode_state.mode;
            let episode = match (&mode_state.episode, mode.allows_emergency_login()) {
                (Some(e), true) => e.id,
                _ => return Err(Error::Login(LoginRefused::NotInEmergencyMode { mode })),
            };
            let mut account: AccountRecord = tx
                .get(ACCOUNTS, &account_id)?
                .ok_or_else(|| Error::UnknownAccount(account_id.clone()))?;
            if account.state.credential_hash() != Some(&stored_hash) {
                return Err(Error::Login(LoginRefused::AccountNotUsable {
                    status: account.state.status(),
                }));
            }
            if let (Some(key), Some(result)) = (account.key.as_mut(), key_result.as_ref()) {
                key.update_credential(result);
            }
            let session_id = random_string(16);
            let actor = Actor::Emergency {
                account_id: account_id.clone(),
                session_id: session_id.clone(),
                declared: None,
            };
            let _receipt = self.audit(mode, actor.clone(), Action::LoginSucceeded, None, client)?;
            let unlock_actor = actor.clone();
            if let SealState::Sealed {
                seal_number,
                credential_hash,
                ..
            } = &account.state
            {
                let _receipt = self.audit(
                    mode,
                    actor,
                    Action::SealBroken,
                    Some(format!("seal={seal_number} episode={episode}")),
                    client,
                )?;
                account.state = SealState::Opened {
                    seal_number: seal_number.clone(),
                    credential_hash: credential_hash.clone(),
                    opening: Opening {
                        at: self.clock.now(),
                        episode,
                        by: OpenedBy::AwaitingDeclaration {
                            session_id: session_id.clone(),
                        },
                    },
                };
            }
            tx.put(ACCOUNTS, &account_id, &account)?;
            let (token, record) = self.new_session(
                tx,
                session_id.clone(),
                Principal::Emergency {
                    account_id: account_id.clone(),
                    episode,
                    declaration: None,
                },
            )?;
            self.tx_unlock(mode, unlock_actor, &slot_id, unwrapped, client)?;
            Ok(NewSession {
                token,
                session: PendingSession {
                    session_id,
                    account_id: account_id.clone(),
                    label: account.label.clone(),
                    mode,
                    expires_at: self.absolute_end(&record),
                },
            })
        });
        let session = match session {
            Ok(s) => s,
            // The mode ended or the account was retired while argon2 ran: still a refusal,
            // still an event.
            Err(Error::Login(refusal)) => {
                return Err(self.refuse_login(
                    mode,
                    who,
                    refusal,
                    "mode or account changed during login",
                    None,
                    client,
                ))
            }
            Err(e) => return Err(e),
        };
        self.sync_observer();
        self.limiter.record_success(&keys);
        tracing::info!(account_id = %account_id, session_id = %session.session.session_id, "emergency login; awaiting declaration");
        Ok(session)
    }

    /// Declares the real person and the reason for a pending session. The declaration is
    /// recorded before the session can do anything; the token is rotated (the pending one
    /// stops working) and the declared session returned.
    pub fn declare(
        &self,
        pending_token: &SessionToken,
        person: DeclaredPerson,
        reason: Reason,
        client: &Client,
    ) -> Result<NewSession<EmergencySession>> {
        let person = DeclaredPerson {
            name: require_text("name", &person.name, 100)?,
            staff_number: require_text("staff number", &person.staff_number, 50)?,
            profession: require_text("profession", &person.profession, 100)?,
            department: require_text("department", &person.department, 100)?,
        };
        let reason = match reason {
            Reason::Other(text) => Reason::Other(require_text("reason", &text, 500)?),
            r => r,
        };
        // Expiry and episode checks (and their events) happen here first.
        let Session::Pending(pending) = self.resume(pending_token, client)? else {
            return Err(Error::AlreadyDeclared);
        };
        let old_key = sha256_hex(pending_token.expose());
        let session = self.store.write(|tx| {
            let mode = self.tx_mode(tx)?.mode;
            if reason == Reason::Drill && mode != Mode::Drill {
                return Err(Error::Invalid {
                    field: "reason",
                    problem: format!("the node is in {mode} mode, not a drill"),
                });
            }
            let record: SessionRecord = tx.get(SESSIONS, &old_key)?.ok_or(Error::NoSession)?;
            let Principal::Emergency {
                account_id,
                episode,
                declaration: None,
            } = record.principal
            else {
                return Err(Error::AlreadyDeclared);
            };
            let now = self.clock.now();
            let declaration = Declaration {
                person: person.clone(),
                reason: reason.clone(),
                at: now,
            };
            let mut account: AccountRecord = tx
                .get(ACCOUNTS, &account_id)?
                .ok_or_else(|| Error::UnknownAccount(account_id.clone()))?;
            if let SealState::Opened { opening, .. } = &mut account.state {
                if matches!(&opening.by, OpenedBy::AwaitingDeclaration { session_id } if *session_id == record.session_id)
                {
                    opening.by = OpenedBy::Declared {
                        session_id: record.session_id.clone(),
                        person: person.clone(),
                        reason: reason.clone(),
                    };
                }
            }
            let _receipt = self.audit(
                mode,
                Actor::Emergency {
                    account_id: account_id.clone(),
                    session_id: record.session_id.clone(),
                    declared: Some(person.clone()),
                },
                Action::Declared {
                    reason: reason.clone(),
                },
                None,
                client,
            )?;
            tx.put(ACCOUNTS, &account_id, &account)?;
            tx.remove(SESSIONS, &old_key)?;
            // Rotation: a new token for the declared session; created_at stays, so the
            // absolute timeout still counts from login.
            let token = SessionToken::new(random_string(32));
            let new_record = SessionRecord {
                session_id: record.session_id.clone(),
                principal: Principal::Emergency {
                    account_id: account_id.clone(),
                    episode,
                    declaration: Some(declaration.clone()),
                },
                created_at: record.created_at,
                last_seen: now,
            };
            tx.put(SESSIONS, &sha256_hex(token.expose()), &new_record)?;
            Ok(NewSession {
                token,
                session: EmergencySession {
                    session_id: record.session_id.clone(),
                    account_id: account_id.clone(),
                    label: account.label.clone(),
                    ward_scope: account.ward_scope.clone(),
                    declaration,
                    episode,
                    mode,
                    expires_at: self.absolute_end(&new_record),
                },
            })
        })?;
        tracing::info!(session_id = %pending.session_id, "emergency session declared");
        Ok(session)
    }

    // ----------------------------------------------------------------- sessions

    /// Finds the live session for a token, ending it (with an event) if it has timed out or
    /// its episode is over.
    pub fn resume(&self, token: &SessionToken, client: &Client) -> Result<Session> {
        let key = sha256_hex(token.expose());
        let record: SessionRecord = self.store.get(SESSIONS, &key)?.ok_or(Error::NoSession)?;
        let now = self.clock.now();
        let mode_state = self.mode()?;
        if let Some(end) = self.session_end(&record, &mode_state, now)? {
            self.store.write(|tx| {
                if tx.remove(SESSIONS, &key)? {
                    self.audit_session_end(mode_state.mode, &record, end, client)?;
                }
                Ok(())
            })?;
            self.lock_if_no_admin(client)?;
            return Err(Error::SessionEnded(end));
        }
        if now - record.last_seen >= Duration::seconds(TOUCH_INTERVAL_SECS) {
            self.store.write(|tx| {
                if let Some(mut r) = tx.get::<SessionRecord>(SESSIONS, &key)? {
                    r.last_seen = now;
                    tx.put(SESSIONS, &key, &r)?;
                }
                Ok(())
            })?;
        }
        let expires_at = self.absolute_end(&record);
        Ok(match record.principal {
            Principal::Admin { admin_id } => {
                let admin: AdminRecord = self
                    .store
                    .get(ADMINS, &admin_id)?
                    .ok_or_else(|| Error::UnknownAdmin(admin_id.clone()))?;
                Session::Admin(AdminSession {
                    session_id: record.session_id,
                    admin_id,
                    display_name: admin.display_name,
                    created_at: record.created_at,
                    expires_at,
                })
            }
            Principal::Emergency {
                account_id,
                episode,
                declaration,
            } => {
                let account: AccountRecord = self
                    .store
                    .get(ACCOUNTS, &account_id)?
                    .ok_or_else(|| Error::UnknownAccount(account_id.clone()))?;
                match declaration {
                    None => Session::Pending(PendingSession {
                        session_id: record.session_id,
                        account_id,
                        label: account.label,
                        mode: mode_state.mode,
                        expires_at,
                    }),
                    Some(declaration) => Session::Emergency(EmergencySession {
                        session_id: record.session_id,
                        account_id,
                        label: account.label,
                        ward_scope: account.ward_scope,
                        declaration,
                        episode,
                        mode: mode_state.mode,
                        expires_at,
                    }),
                }
            }
        })
    }

    /// Whether (and why) a session must end now.
    fn session_end(
        &self,
        record: &SessionRecord,
        mode: &ModeState,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionEnd>> {
        // A clock set back would stretch both timeouts by the jump (faults' review): beyond a
        // small tolerance for clock slew, end the session instead.
        let tolerance = Duration::seconds(CLOCK_BACK_TOLERANCE_SECS);
        if now + tolerance < record.last_seen || now + tolerance < record.created_at {
            return Ok(Some(SessionEnd::ClockChanged));
        }
        if now >= self.absolute_end(record) {
            return Ok(Some(SessionEnd::Absolute));
        }
        if now >= record.last_seen + secs(self.config.idle_timeout_secs) {
            return Ok(Some(SessionEnd::Idle));
        }
        if let Principal::Emergency {
            account_id,
            episode,
            ..
        } = &record.principal
        {
            let current = mode
                .episode
                .as_ref()
                .filter(|_| mode.mode.allows_emergency_login())
                .map(|e| e.id);
            if current != Some(*episode) {
                return Ok(Some(SessionEnd::EpisodeEnded));
            }
            let account: Option<AccountRecord> = self.store.get(ACCOUNTS, account_id)?;
            if account.is_none_or(|a| a.state.status() != SealStatus::Opened) {
                return Ok(Some(SessionEnd::AccountRevoked));
            }
        }
        Ok(None)
    }

    fn session_actor(record: &SessionRecord) -> Actor {
        match &record.principal {
            Principal::Admin { admin_id } => Actor::Admin {
                admin_id: admin_id.clone(),
            },
            Principal::Emergency {
                account_id,
                declaration,
                ..
            } => Actor::Emergency {
                account_id: account_id.clone(),
                session_id: record.session_id.clone(),
                declared: declaration.as_ref().map(|d| d.person.clone()),
            },
        }
    }

    fn audit_session_end(
        &self,
        mode: Mode,
        record: &SessionRecord,
        end: SessionEnd,
        client: &Client,
    ) -> Result<()> {
        let _receipt = self.audit(
            mode,
            Self::session_actor(record),
            Action::SessionExpired,
            Some(format!("session={} ({end})", record.session_id)),
            client,
        )?;
        Ok(())
    }

    fn end_sessions_where(
        &self,
        tx: &Tx<'_>,
        mode: Mode,
        end: SessionEnd,
        client: &Client,
        pred: impl Fn(&Principal) -> bool,
    ) -> Result<()> {
        let sessions: Vec<(String, SessionRecord)> = tx.list(SESSIONS)?;
        for (key, record) in sessions.iter().filter(|(_, r)| pred(&r.principal)) {
            self.audit_session_end(mode, record, end, client)?;
            tx.remove(SESSIONS, key)?;
        }
        Ok(())
    }

    /// Ends a session at the person's request.
    pub fn logout(&self, token: &SessionToken, client: &Client) -> Result<()> {
        let key = sha256_hex(token.expose());
        self.store.write(|tx| {
            let record: SessionRecord = tx.get(SESSIONS, &key)?.ok_or(Error::NoSession)?;
            let mode = self.tx_mode(tx)?.mode;
            let _receipt = self.audit(
                mode,
                Self::session_actor(&record),
                Action::Logout,
                Some(format!("session={}", record.session_id)),
                client,
            )?;
            tx.remove(SESSIONS, &key)?;
            Ok(())
        })?;
        self.lock_if_no_admin(client)
    }

    /// Ends every session that has timed out (call periodically); returns how many.
    pub fn expire_sessions(&self) -> Result<usize> {
        let now = self.clock.now();
        let mode_state = self.mode()?;
        let sessions: Vec<(String, SessionRecord)> = self.store.list(SESSIONS)?;
        let mut ended = 0;
        for (key, record) in sessions {
            if let Some(end) = self.session_end(&record, &mode_state, now)? {
                self.store.write(|tx| {
                    if tx.remove(SESSIONS, &key)? {
                        self.audit_session_end(mode_state.mode, &record, end, &Client::default())?;
                    }
                    Ok(())
                })?;
                ended += 1;
            }
        }
        self.lock_if_no_admin(&Client::default())?;
        Ok(ended)
    }

    // ----------------------------------------------------------------- modes

    /// `akari mode declare-emergency --reason …`: standby → emergency.
    pub fn declare_emergency(
        &self,
        cap: &AdminCapability,
        reason: &str,
        client: &Client,
    ) -> Result<ModeState> {
        self.transition(
            cap,
            Mode::Emergency,
            require_text("reason", reason, 500)?,
            client,
        )
    }

    /// `akari mode start-drill`: standby → drill.
    pub fn start_drill(
        &self,
        cap: &AdminCapability,
        reason: &str,
        client: &Client,
    ) -> Result<ModeState> {
        let reason = reason_or_default(reason, "drill")?;
        self.transition(cap, Mode::Drill, reason, client)
    }

    /// `akari mode end`: emergency or drill → recovery. Every opened account is retired
    /// (its credential hash destroyed) and every emergency session ends.
    pub fn end_episode(
        &self,
        cap: &AdminCapability,
        reason: &str,
        client: &Client,
    ) -> Result<ModeState> {
        let reason = reason_or_default(reason, "episode over")?;
        self.transition(cap, Mode::Recovery, reason, client)
    }

    /// `akari mode standby`: recovery → standby, once used accounts are re-sealed and the
    /// review is done.
    pub fn resume_standby(
        &self,
        cap: &AdminCapability,
        reason: &str,
        client: &Client,
    ) -> Result<ModeState> {
        let reason = reason_or_default(reason, "recovery complete")?;
        self.transition(cap, Mode::Standby, reason, client)
    }

    fn transition(
        &self,
        cap: &AdminCapability,
        to: Mode,
        reason: String,
        client: &Client,
    ) -> Result<ModeState> {
        let next = self.store.write(|tx| {
            let current = self.tx_mode(tx)?;
            let from = current.mode;
            check_transition(from, to)?;
            let now = self.clock.now();
            let actor = cap.actor();
            let mut episode = current.episode.clone();
            match to {
                Mode::Emergency | Mode::Drill => {
                    episode = Some(Episode {
                        id: tx.next_counter(NEXT_EPISODE_KEY)?,
                        drill: to == Mode::Drill,
                        started_at: now,
                        declared_by: actor.clone(),
                        reason: reason.clone(),
                        ended_at: None,
                        ended_by: None,
                    });
                }
                Mode::Recovery => {
                    if let Some(e) = episode.as_mut() {
                        e.ended_at = Some(now);
                        e.ended_by = Some(actor.clone());
                    }
                }
                Mode::Standby => episode = None,
            }
            // Events of an episode carry its mode, so a drill's start and end are flagged.
            let event_mode = if to.allows_emergency_login() {
                to
            } else {
                from
            };
            let _receipt = self.audit(
                event_mode,
                actor.clone(),
                Action::ModeChanged {
                    from,
                    to,
                    reason: reason.clone(),
                },
                episode.as_ref().map(|e| format!("episode={}", e.id)),
                client,
            )?;
            if to == Mode::Recovery {
                self.retire_opened_accounts(tx, event_mode, &actor, now, client)?;
                self.end_sessions_where(tx, event_mode, SessionEnd::EpisodeEnded, client, |p| {
                    matches!(p, Principal::Emergency { .. })
                })?;
            }
            let next = ModeState {
                mode: to,
                since: now,
                decided_by: actor.clone(),
                reason: reason.clone(),
                episode,
            };
            tx.put(MODE, MODE_KEY, &next)?;
            if matches!(to, Mode::Recovery | Mode::Standby) {
                self.tx_lock(event_mode, actor, &format!("mode changed to {to}"), client)?;
            }
            Ok(next)
        })?;
        self.sync_observer();
        tracing::info!(mode = %next.mode, "mode changed");
        Ok(next)
    }

    fn retire_opened_accounts(
        &self,
        tx: &Tx<'_>,
        mode: Mode,
        actor: &Actor,
        now: DateTime<Utc>,
        client: &Client,
    ) -> Result<()> {
        let accounts: Vec<(String, AccountRecord)> = tx.list(ACCOUNTS)?;
        for (id, mut account) in accounts {
            let SealState::Opened {
                seal_number,
                opening,
                ..
            } = account.state
            else {
                continue;
            };
            let _receipt = self.audit(
                mode,
                actor.clone(),
                Action::AccountRetired {
                    account_id: id.clone(),
                },
                Some(format!("seal={seal_number}")),
                client,
            )?;
            account.state = SealState::Retired {
                seal_number,
                opening,
                retired_at: now,
            };
            tx.put(ACCOUNTS, &id, &account)?;
            // The credential was used: it must not open the snapshot again.
            self.tx_remove_slot(tx, mode, actor.clone(), &account_slot(&id), client)?;
        }
        Ok(())
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

    #[test]
    fn only_the_documented_transitions_are_legal() {
        use Mode::*;
        let all = [Standby, Emergency, Drill, Recovery];
        let legal = [
            (Standby, Emergency),
            (Standby, Drill),
            (Emergency, Recovery),
            (Drill, Recovery),
            (Recovery, Standby),
        ];
        for from in all {
            for to in all {
                let r = check_transition(from, to);
                assert_eq!(r.is_ok(), legal.contains(&(from, to)), "{from} -> {to}");
                if let Err(e) = r {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("from {from} to {to}")), "{msg}");
                }
            }
        }
    }
}
