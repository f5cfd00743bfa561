//! Logins: an admin's (password and WebAuthn assertion) and an emergency account's
//! (account ID and credential from the seal sheet, plus the key's assertion if it has one),
//! the backoff that slows guessing, and the clinician's declaration of who they are and why.
//! Every refusal is recorded before it is returned.

use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

use super::ceremony::{webauthn_err, CeremonyState, Challenge};
use super::{normalize_account_id, random_string, require_text, sha256_hex, Accounts};
use crate::event::{Action, Actor, Client, DeclaredPerson, Mode, Reason};
use crate::keyslot::{account_slot, admin_slot};
use crate::limiter::{Blocked, LimitKey};
use crate::model::{
    AccountRecord, AdminRecord, Declaration, OpenedBy, Opening, Principal, SealState, SessionRecord,
};
use crate::secret::{EmergencyCredential, Password, SessionToken};
use crate::session::{AdminSession, EmergencySession, NewSession, PendingSession, Session};
use crate::store::{ACCOUNTS, ADMINS, SESSIONS};
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
}
