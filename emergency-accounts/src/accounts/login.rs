//! Logins: an admin's (password and WebAuthn assertion) and an emergency account's
//! (account ID and credential from the seal sheet, plus the key's assertion if it has one),
//! the backoff that slows guessing, and the clinician's declaration of who they are and why.
//! Every refusal is recorded before it is returned (beyond a few per client address and
//! window, as a count that one summarising entry records: see [`super::failed_logins`]).

use webauthn_rs::prelude::{AuthenticationResult, PublicKeyCredential, RequestChallengeResponse};

use super::ceremony::{webauthn_err, CeremonyState, Challenge};
use super::key_slots::PreparedSlot;
use super::{normalize_account_id, random_string, require_text, sha256_hex, Accounts};
use crate::event::{Action, Actor, Client, DeclaredPerson, Mode, Reason};
use crate::keyslot::{account_slot, admin_slot, SlotSecret};
use crate::limiter::{Attempt, Blocked, LimitKey, Target};
use crate::model::{
    AccountRecord, AdminRecord, Declaration, OpenedBy, Opening, Principal, SealState, SessionRecord,
};
use crate::secret::{EmergencyCredential, Password, SessionToken, StoredHash};
use crate::session::{AdminSession, EmergencySession, NewSession, PendingSession, Session};
use crate::store::{Tx, ACCOUNTS, ADMINS, SESSIONS};
use crate::{Error, LoginRefused, Result};

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

impl Accounts {
    /// Records a refused login (and counts it towards backoff when `limit` is given) and
    /// returns the error to hand back. Beyond the client address's allowance of entries per
    /// window the refusal is counted instead, for one summarising entry; a summary due now
    /// is recorded first. If a refusal or summary cannot be recorded, that is the error:
    /// nothing happens unaudited.
    fn refuse_login(
        &self,
        mode: Mode,
        who: String,
        refusal: LoginRefused,
        internal_reason: &str,
        limit: Option<&[LimitKey]>,
        client: &Client,
    ) -> Error {
        let now = self.clock.now();
        if let Some(keys) = limit {
            self.limiter.record_failure(keys, now);
        }
        tracing::info!(reason = internal_reason, "login refused");
        // A flood from one address is counted rather than recorded entry by entry.
        let admission = self.failures.admit(client.address, now);
        if let Some(counted) = admission.summary {
            if let Err(e) = self.record_counted_failures(mode, counted) {
                return e;
            }
        }
        if !admission.record {
            return Error::Login(refusal);
        }
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
    ///
    /// The steps run in this order and each refusal is recorded before it is returned:
    /// backoff (before anything costly), the WebAuthn assertion, the password (argon2), the
    /// key slot's unwrap (argon2, outside the write lock), then the session in one write
    /// transaction whose login event must be recorded or nothing commits.
    pub fn login_admin(
        &self,
        login: AdminLogin,
        client: &Client,
    ) -> Result<NewSession<AdminSession>> {
        let admin_id = login.admin_id.trim().to_owned();
        let cx = LoginContext {
            who: format!("admin={admin_id}"),
            keys: LimitKey::for_attempt(Target::admin(&admin_id), client.address),
            mode: self.mode()?.mode,
            client,
        };
        let _attempt = self.begin_attempt(&cx)?;
        let result = self.check_admin_assertion(&cx, &admin_id, &login)?;
        self.check_admin_password(&cx, &admin_id, &login.password, &result)?;
        let slot_id = admin_slot(&admin_id);
        let unwrapped = self.unwrap_for_login(&slot_id, |record, salt| {
            self.hasher
                .password_kek(&login.password, salt, Self::argon2_kdf(record)?)
        });
        let heal = self.missing_admin_slot(&slot_id, &login.password, unwrapped.as_ref());
        let slot = LoginSlot {
            slot_id,
            unwrapped,
            heal,
        };
        let session = self
            .store
            .write(|tx| self.open_admin_session(tx, &admin_id, &result, slot, client))?;
        self.login_succeeded(&cx.keys);
        tracing::info!(admin_id = %admin_id, session_id = %session.session.session_id, "admin logged in");
        Ok(session)
    }

    /// Admin login, second check: the WebAuthn challenge must be this admin's, unused and
    /// unexpired, and the assertion must verify. A refusal counts towards backoff.
    fn check_admin_assertion(
        &self,
        cx: &LoginContext<'_>,
        admin_id: &str,
        login: &AdminLogin,
    ) -> Result<AuthenticationResult> {
        let auth = match self.take_ceremony(&login.ceremony_id) {
            Some(CeremonyState::AdminLogin { admin_id: a, auth }) if a == admin_id => auth,
            _ => {
                return Err(self.refuse_counted(
                    cx,
                    LoginRefused::InvalidCredentials,
                    "unknown, expired or reused WebAuthn challenge",
                ))
            }
        };
        self.webauthn
            .finish_passkey_authentication(&login.response, &auth)
            .map_err(|e| {
                self.refuse_counted(
                    cx,
                    LoginRefused::InvalidCredentials,
                    &format!("WebAuthn assertion refused: {e}"),
                )
            })
    }

    /// Admin login, third check: the admin exists, the passkey that answered is still
    /// theirs (not replaced while the challenge was open) and the password is right
    /// (argon2). A refusal counts towards backoff.
    fn check_admin_password(
        &self,
        cx: &LoginContext<'_>,
        admin_id: &str,
        password: &Password,
        assertion: &AuthenticationResult,
    ) -> Result<()> {
        let Some(admin) = self.store.get::<AdminRecord>(ADMINS, admin_id)? else {
            return Err(self.refuse_counted(cx, LoginRefused::InvalidCredentials, "unknown admin"));
        };
        if !admin
            .passkeys
            .iter()
            .any(|p| p.cred_id() == assertion.cred_id())
        {
            return Err(self.refuse_counted(
                cx,
                LoginRefused::InvalidCredentials,
                "passkey no longer registered (replaced)",
            ));
        }
        if !self.hasher.verify_password(password, &admin.password_hash) {
            return Err(self.refuse_counted(
                cx,
                LoginRefused::InvalidCredentials,
                "wrong password",
            ));
        }
        Ok(())
    }

    /// Admin login, last step, inside the write transaction: the passkey's counter is
    /// updated, the session created, the login recorded (fail closed: an audit failure
    /// aborts the transaction), then the admin's missing key slot healed and the snapshot
    /// key unlocked.
    fn open_admin_session(
        &self,
        tx: &Tx<'_>,
        admin_id: &str,
        result: &AuthenticationResult,
        slot: LoginSlot,
        client: &Client,
    ) -> Result<NewSession<AdminSession>> {
        let mut admin: AdminRecord = tx
            .get(ADMINS, admin_id)?
            .ok_or_else(|| Error::UnknownAdmin(admin_id.to_owned()))?;
        for pk in admin.passkeys.iter_mut() {
            pk.update_credential(result);
        }
        tx.put(ADMINS, admin_id, &admin)?;
        let mode = self.tx_mode(tx)?.mode;
        let session_id = random_string(16);
        let (token, record) = self.new_session(
            tx,
            session_id.clone(),
            Principal::Admin {
                admin_id: admin_id.to_owned(),
            },
        )?;
        let actor = Actor::Admin {
            admin_id: admin_id.to_owned(),
        };
        let _receipt = self.audit(
            mode,
            actor.clone(),
            Action::LoginSucceeded,
            Some(format!("session={session_id}")),
            client,
        )?;
        if let Some(heal) = &slot.heal {
            self.tx_put_slot(tx, mode, actor.clone(), &slot.slot_id, heal, client)?;
        }
        self.tx_unlock(mode, actor, &slot.slot_id, slot.unwrapped, client)?;
        Ok(NewSession {
            token,
            session: AdminSession {
                session_id,
                admin_id: admin_id.to_owned(),
                display_name: admin.display_name.clone(),
                created_at: record.created_at,
                expires_at: self.absolute_end(&record),
            },
        })
    }

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
    /// never reach argon2. Then the mode and the account, the security key, the credential
    /// (argon2) and the key slot's unwrap (argon2, outside the write lock); then, in one
    /// write transaction, everything is checked again and recorded before it takes effect.
    /// Every refusal is recorded before it is returned.
    pub fn login_emergency(
        &self,
        login: EmergencyLogin,
        client: &Client,
    ) -> Result<NewSession<PendingSession>> {
        let account_id = normalize_account_id(&login.account_id);
        let cx = LoginContext {
            who: format!("account={account_id}"),
            keys: LimitKey::for_attempt(Target::account(&account_id), client.address),
            mode: self.mode()?.mode,
            client,
        };
        let _attempt = self.begin_attempt(&cx)?;
        let (account, stored_hash) =
            self.check_account_usable(&cx, &account_id, &login.credential)?;
        let key_result = self.check_account_key(&cx, &account_id, &account, login.key)?;
        if !self
            .hasher
            .verify_credential(&login.credential, &stored_hash)
        {
            return Err(self.refuse_counted(
                &cx,
                LoginRefused::InvalidCredentials,
                "wrong credential",
            ));
        }
        let slot_id = account_slot(&account_id);
        let unwrapped = self.unwrap_for_login(&slot_id, |record, salt| {
            self.hasher
                .credential_kek(&login.credential, salt, Self::argon2_kdf(record)?)
        });
        let slot = LoginSlot {
            slot_id,
            unwrapped,
            heal: None,
        };
        let session = self.store.write(|tx| {
            self.open_emergency_session(
                tx,
                &account_id,
                &stored_hash,
                key_result.as_ref(),
                slot,
                client,
            )
        });
        let session = match session {
            Ok(s) => s,
            // The mode ended or the account was retired while argon2 ran: still a refusal,
            // still an event.
            Err(Error::Login(refusal)) => {
                return Err(self.refuse(&cx, refusal, "mode or account changed during login"))
            }
            Err(e) => return Err(e),
        };
        self.login_succeeded(&cx.keys);
        tracing::info!(account_id = %account_id, session_id = %session.session.session_id, "emergency login; awaiting declaration");
        Ok(session)
    }

    /// Emergency login, first checks: the node is in emergency or drill mode, the account
    /// exists (only this refusal counts towards backoff), is usable (has a credential) and
    /// has not expired. Returns the account and its credential hash. A refusal for the
    /// account runs one argon2 verification against a dummy hash first, so that it takes as
    /// long as checking a real account's credential: the time tells nothing about which
    /// account IDs exist.
    fn check_account_usable(
        &self,
        cx: &LoginContext<'_>,
        account_id: &str,
        credential: &EmergencyCredential,
    ) -> Result<(AccountRecord, StoredHash)> {
        let mode = cx.mode;
        if !mode.allows_emergency_login() {
            return Err(self.refuse(
                cx,
                LoginRefused::NotInEmergencyMode { mode },
                "not in emergency or drill mode",
            ));
        }
        let account = self.store.get::<AccountRecord>(ACCOUNTS, account_id)?;
        let usable = account.as_ref().is_some_and(|a| {
            a.state.credential_hash().is_some() && a.expires_at.is_none_or(|t| t > self.clock.now())
        });
        if !usable {
            // The result is meaningless; the time it takes is the point.
            let _ = self.hasher.verify_credential(credential, &self.dummy_hash);
        }
        let Some(account) = account else {
            return Err(self.refuse_counted(
                cx,
                LoginRefused::InvalidCredentials,
                "unknown account",
            ));
        };
        let Some(stored_hash) = account.state.credential_hash().cloned() else {
            let status = account.state.status();
            return Err(self.refuse(
                cx,
                LoginRefused::AccountNotUsable { status },
                &format!("account is {status}"),
            ));
        };
        if account.expires_at.is_some_and(|t| t <= self.clock.now()) {
            return Err(self.refuse(cx, LoginRefused::Expired, "account expired"));
        }
        Ok((account, stored_hash))
    }

    /// Emergency login, the security key: an account with a key needs the answer to its
    /// challenge (this account's, unused and unexpired) and the assertion must verify; an
    /// account without one needs nothing. A refusal counts towards backoff.
    fn check_account_key(
        &self,
        cx: &LoginContext<'_>,
        account_id: &str,
        account: &AccountRecord,
        assertion: Option<KeyAssertion>,
    ) -> Result<Option<AuthenticationResult>> {
        let assertion = match (&account.key, assertion) {
            (None, _) => return Ok(None),
            (Some(_), None) => {
                return Err(self.refuse_counted(
                    cx,
                    LoginRefused::KeyRequired,
                    "security key assertion missing",
                ))
            }
            (Some(_), Some(assertion)) => assertion,
        };
        let auth = match self.take_ceremony(&assertion.ceremony_id) {
            Some(CeremonyState::EmergencyLogin {
                account_id: a,
                auth,
            }) if a == account_id => auth,
            _ => {
                return Err(self.refuse_counted(
                    cx,
                    LoginRefused::InvalidCredentials,
                    "unknown, expired or reused WebAuthn challenge",
                ))
            }
        };
        match self
            .webauthn
            .finish_passkey_authentication(&assertion.response, &auth)
        {
            Ok(r) => Ok(Some(r)),
            Err(e) => Err(self.refuse_counted(
                cx,
                LoginRefused::InvalidCredentials,
                &format!("security key assertion refused: {e}"),
            )),
        }
    }

    /// Emergency login, last step, inside the write transaction. The mode and the account
    /// are read again under the write lock (they may have changed while argon2 ran; a
    /// change is an [`Error::Login`] for the caller to record). Then the login is recorded,
    /// and the seal's breaking on a sealed account's first use, before the account, the
    /// session and the unlock are written: if an audit write fails nothing commits.
    fn open_emergency_session(
        &self,
        tx: &Tx<'_>,
        account_id: &str,
        stored_hash: &StoredHash,
        key_result: Option<&AuthenticationResult>,
        slot: LoginSlot,
        client: &Client,
    ) -> Result<NewSession<PendingSession>> {
        let mode_state = self.tx_mode(tx)?;
        let mode = mode_state.mode;
        let episode = match (&mode_state.episode, mode.allows_emergency_login()) {
            (Some(e), true) => e.id,
            _ => return Err(Error::Login(LoginRefused::NotInEmergencyMode { mode })),
        };
        let mut account: AccountRecord = tx
            .get(ACCOUNTS, account_id)?
            .ok_or_else(|| Error::UnknownAccount(account_id.to_owned()))?;
        if account.state.credential_hash() != Some(stored_hash) {
            return Err(Error::Login(LoginRefused::AccountNotUsable {
                status: account.state.status(),
            }));
        }
        if let (Some(key), Some(result)) = (account.key.as_mut(), key_result) {
            key.update_credential(result);
        }
        let session_id = random_string(16);
        let actor = Actor::Emergency {
            account_id: account_id.to_owned(),
            session_id: session_id.clone(),
            declared: None,
        };
        let _receipt = self.audit(mode, actor.clone(), Action::LoginSucceeded, None, client)?;
        self.break_seal_if_sealed(
            &mut account,
            mode,
            episode,
            actor.clone(),
            &session_id,
            client,
        )?;
        tx.put(ACCOUNTS, account_id, &account)?;
        let (token, record) = self.new_session(
            tx,
            session_id.clone(),
            Principal::Emergency {
                account_id: account_id.to_owned(),
                episode,
                declaration: None,
            },
        )?;
        self.tx_unlock(mode, actor, &slot.slot_id, slot.unwrapped, client)?;
        Ok(NewSession {
            token,
            session: PendingSession {
                session_id,
                account_id: account_id.to_owned(),
                label: account.label.clone(),
                mode,
                expires_at: self.absolute_end(&record),
            },
        })
    }

    /// On a sealed account's first login: records the seal's breaking (before the account
    /// changes; fail closed) and marks the account opened in this episode, awaiting the
    /// session's declaration. An account already opened is left as it is.
    fn break_seal_if_sealed(
        &self,
        account: &mut AccountRecord,
        mode: Mode,
        episode: u64,
        actor: Actor,
        session_id: &str,
        client: &Client,
    ) -> Result<()> {
        let SealState::Sealed {
            seal_number,
            credential_hash,
            ..
        } = &account.state
        else {
            return Ok(());
        };
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
                    session_id: session_id.to_owned(),
                },
            },
        };
        Ok(())
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
        let (person, reason) = checked_declaration(person, reason)?;
        // Expiry and episode checks (and their events) happen here first.
        let Session::Pending(pending) = self.resume(pending_token, client)? else {
            return Err(Error::AlreadyDeclared);
        };
        let old_key = sha256_hex(pending_token.expose());
        let session = self
            .store
            .write(|tx| self.record_declaration(tx, &old_key, &person, &reason, client))?;
        tracing::info!(session_id = %pending.session_id, "emergency session declared");
        Ok(session)
    }

    /// The declaration, inside one write transaction: a drill reason only in a drill, the
    /// session still pending; the declaration is recorded (fail closed: an audit failure
    /// aborts the transaction) before the account's opening is marked declared and the
    /// pending session is replaced by the declared one under a new token.
    fn record_declaration(
        &self,
        tx: &Tx<'_>,
        old_key: &str,
        person: &DeclaredPerson,
        reason: &Reason,
        client: &Client,
    ) -> Result<NewSession<EmergencySession>> {
        let mode = self.tx_mode(tx)?.mode;
        if *reason == Reason::Drill && mode != Mode::Drill {
            return Err(Error::Invalid {
                field: "reason",
                problem: format!("the node is in {mode} mode, not a drill"),
            });
        }
        let record: SessionRecord = tx.get(SESSIONS, old_key)?.ok_or(Error::NoSession)?;
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
        mark_opening_declared(&mut account, &record.session_id, person, reason);
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
        tx.remove(SESSIONS, old_key)?;
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
                session_id: record.session_id,
                account_id,
                label: account.label,
                ward_scope: account.ward_scope,
                declaration,
                episode,
                mode,
                expires_at: self.absolute_end(&new_record),
            },
        })
    }

    /// Refuses one login attempt (recorded first) without counting it towards backoff.
    fn refuse(&self, cx: &LoginContext<'_>, refusal: LoginRefused, reason: &str) -> Error {
        self.refuse_login(cx.mode, cx.who.clone(), refusal, reason, None, cx.client)
    }

    /// Refuses one login attempt (recorded first) and counts the failure towards backoff
    /// for its keys.
    fn refuse_counted(&self, cx: &LoginContext<'_>, refusal: LoginRefused, reason: &str) -> Error {
        self.refuse_login(
            cx.mode,
            cx.who.clone(),
            refusal,
            reason,
            Some(&cx.keys),
            cx.client,
        )
    }

    /// The first step of every login, before anything costly: refused (and recorded) while
    /// the account, admin or address is in backoff or already has an attempt running.
    /// The returned guard holds the attempt's in-flight mark until it drops.
    fn begin_attempt(&self, cx: &LoginContext<'_>) -> Result<Attempt<'_>> {
        self.limiter
            .begin(&cx.keys, self.clock.now())
            .map_err(|blocked| {
                let refusal = self.backoff_refusal(blocked);
                let why = match blocked {
                    Blocked::Until(_) => "in backoff",
                    Blocked::Busy => "another attempt is running",
                };
                self.refuse(cx, refusal, why)
            })
    }

    /// The tail of every successful login, once its transaction has committed: the key
    /// observer learns of an unlock, and the attempt's backoff is cleared.
    fn login_succeeded(&self, keys: &[LimitKey]) {
        self.sync_observer();
        self.limiter.record_success(keys);
    }
}

/// One login attempt, as its refusals record it: the mode it was made in, whom it named,
/// its backoff keys and the client.
struct LoginContext<'c> {
    mode: Mode,
    who: String,
    keys: Vec<LimitKey>,
    client: &'c Client,
}

/// The key slot a login unlocks: its ID, the snapshot secret unwrapped with the login's
/// KEK (argon2, derived before the write transaction), and for an admin whose slot is
/// missing, the slot to write.
struct LoginSlot {
    slot_id: String,
    unwrapped: Option<SlotSecret>,
    heal: Option<PreparedSlot>,
}

/// The declaration's fields trimmed and bounded; an empty or overlong one is refused with
/// its name.
fn checked_declaration(person: DeclaredPerson, reason: Reason) -> Result<(DeclaredPerson, Reason)> {
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
    Ok((person, reason))
}

/// Marks the account's opening as declared, if it is still awaiting this session's
/// declaration.
fn mark_opening_declared(
    account: &mut AccountRecord,
    session_id: &str,
    person: &DeclaredPerson,
    reason: &Reason,
) {
    if let SealState::Opened { opening, .. } = &mut account.state {
        if matches!(&opening.by, OpenedBy::AwaitingDeclaration { session_id: s } if s == session_id)
        {
            opening.by = OpenedBy::Declared {
                session_id: session_id.to_owned(),
                person: person.clone(),
                reason: reason.clone(),
            };
        }
    }
}
