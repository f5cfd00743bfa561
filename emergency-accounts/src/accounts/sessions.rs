//! Sessions after login: a token's session is resumed on every request and ended (with an
//! event) when it times out, its episode ends, its account is revoked or the clock was set
//! back; logout and the periodic expiry end them too.

use chrono::{DateTime, Duration, Utc};

use super::{random_string, secs, sha256_hex, Accounts};
use crate::event::{Action, Actor, Client, Mode};
use crate::model::{AccountRecord, AdminRecord, ModeState, Principal, SealStatus, SessionRecord};
use crate::secret::SessionToken;
use crate::session::{AdminSession, EmergencySession, PendingSession, Session};
use crate::store::{Tx, ACCOUNTS, ADMINS, SESSIONS};
use crate::{Error, Result, SessionEnd};

/// How far the clock may step back (NTP slew, a small correction) before sessions end.
const CLOCK_BACK_TOLERANCE_SECS: i64 = 60;
/// `last_seen` is rewritten at most this often, so reading a page is not a disk write.
const TOUCH_INTERVAL_SECS: i64 = 30;

impl Accounts {
    pub(super) fn new_session(
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

    pub(super) fn absolute_end(&self, rec: &SessionRecord) -> DateTime<Utc> {
        rec.created_at + secs(self.config.absolute_timeout_secs)
    }

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
                    // Built like the declared session in login.rs, from its own sources; a
                    // constructor with these seven values would read worse than the fields.
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

    pub(super) fn end_sessions_where(
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
}
