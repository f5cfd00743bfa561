//! [`Gate`] for the accounts service ([`akari_accounts::Accounts`]): what the root passes
//! to [`crate::pages::Pages::new`]. The accounts layer records its own audit events
//! (logins, failures, seal broken, declaration, logout, expiry).

use akari_accounts::event::{Client, DeclaredPerson, Mode, Reason};
use akari_accounts::{
    Accounts, ClinicianCapability, EmergencyCredential, EmergencyLogin, Error, KeyAssertion,
    LoginRefused, PublicKeyCredential, Session, SessionToken,
};

use crate::gate::{ClinicianLogin, Gate, KeyAnswer, KeyChallenge, Refusal};

fn refusal(e: Error) -> Refusal {
    match e {
        Error::Login(LoginRefused::TooManyAttempts { retry_after_secs }) => {
            Refusal::Backoff { retry_after_secs }
        }
        Error::Login(LoginRefused::NotInEmergencyMode { .. }) => Refusal::Mode,
        Error::Login(LoginRefused::KeyRequired) => Refusal::KeyRequired,
        Error::Login(_) => Refusal::BadCredentials,
        Error::SessionEnded(_) | Error::NoSession | Error::NotDeclared | Error::AlreadyDeclared => {
            Refusal::Expired
        }
        Error::Audit(e) => Refusal::Audit(e.to_string()),
        other => Refusal::Internal(other.to_string()),
    }
}

// The method signatures repeat the trait's in gate.rs, as any implementation does.
impl Gate for Accounts {
    fn mode(&self) -> Mode {
        match Accounts::mode(self) {
            Ok(state) => state.mode,
            Err(e) => {
                // Fail closed: with the mode unknown, nobody logs in as a clinician.
                tracing::error!(error = %e, "mode could not be read; treating as standby");
                Mode::Standby
            }
        }
    }

    fn begin_key_login(&self, account_id: &str) -> Result<Option<KeyChallenge>, Refusal> {
        let Some(challenge) = self.begin_emergency_login(account_id).map_err(refusal)? else {
            return Ok(None);
        };
        let options = serde_json::to_value(&challenge.options)
            .map_err(|e| Refusal::Internal(format!("key challenge: {e}")))?;
        Ok(Some(KeyChallenge {
            ceremony_id: challenge.ceremony_id,
            options,
        }))
    }

    fn emergency_login(
        &self,
        account_id: &str,
        credential: &str,
        key: Option<KeyAnswer>,
        client: &Client,
    ) -> Result<ClinicianLogin, Refusal> {
        // A malformed assertion is still an attempt: it reaches the accounts layer as a
        // login without a key, which refuses it and records the failure.
        let key =
            key.and_then(
                |k| match serde_json::from_value::<PublicKeyCredential>(k.response) {
                    Ok(response) => Some(KeyAssertion {
                        ceremony_id: k.ceremony_id,
                        response,
                    }),
                    Err(e) => {
                        tracing::info!(error = %e, "malformed security key assertion");
                        None
                    }
                },
            );
        let login = EmergencyLogin {
            account_id: account_id.to_owned(),
            credential: EmergencyCredential::new(credential),
            key,
        };
        let new = self.login_emergency(login, client).map_err(refusal)?;
        Ok(ClinicianLogin {
            account_id: new.session.account_id.clone(),
            session_id: new.session.session_id.clone(),
            token: new.token.expose().to_owned(),
        })
    }

    fn declare(
        &self,
        login: &ClinicianLogin,
        person: DeclaredPerson,
        reason: Reason,
        client: &Client,
    ) -> Result<ClinicianLogin, Refusal> {
        let token = SessionToken::new(login.token.clone());
        let new = Accounts::declare(self, &token, person, reason, client).map_err(refusal)?;
        Ok(ClinicianLogin {
            account_id: new.session.account_id.clone(),
            session_id: new.session.session_id.clone(),
            token: new.token.expose().to_owned(),
        })
    }

    fn check(
        &self,
        login: &ClinicianLogin,
        client: &Client,
    ) -> Result<Option<ClinicianCapability>, Refusal> {
        let token = SessionToken::new(login.token.clone());
        match self.resume(&token, client).map_err(refusal)? {
            Session::Pending(_) => Ok(None),
            Session::Emergency(session) => Ok(Some(session.clinician())),
            Session::Admin(_) => Err(Refusal::Expired),
        }
    }

    fn logout(&self, login: &ClinicianLogin, client: &Client) {
        let token = SessionToken::new(login.token.clone());
        if let Err(e) = Accounts::logout(self, &token, client) {
            tracing::info!(error = %e, "logout of an already ended session");
        }
    }

    fn notice(&self) -> Option<String> {
        match Accounts::notice(self) {
            Ok(n) => n.map(|n| n.text),
            Err(e) => {
                tracing::error!(error = %e, "the staff notice could not be read");
                None
            }
        }
    }
}
