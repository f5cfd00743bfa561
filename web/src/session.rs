//! Browser sessions of the viewer: the `__Host-akari` cookie, what it stands for, and the
//! CSRF synchronizer token tied to it.
//!
//! The cookie value is 256 random bits; the store keeps them in memory only (the node is a
//! single process and sessions must not survive a restart anyway: a restart during an
//! emergency means logging in again, which is audited). A new identifier is issued at every
//! login (fixation defence) and the old one forgotten.
//!
//! A browser that is not logged in holds an *anonymous* cookie (`anon.` and 256 random
//! bits) that the store does not keep: its CSRF token is a MAC of the cookie under a key
//! made at start, so showing login forms to any number of cookie-less visitors costs no
//! memory. Expired sessions are swept at most once a minute, never on every new session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use akari_accounts::event::DeclaredPerson;

use crate::gate::ClinicianLogin;
use axum::http::{header, HeaderMap, HeaderValue};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;

/// `__Host-` binds the cookie to this origin, path `/`, secure only.
pub const SESSION_COOKIE: &str = "__Host-akari";
/// Prefix of anonymous cookie values (random tokens are base64url and never contain `.`).
const ANONYMOUS_PREFIX: &str = "anon.";
/// Expired sessions are swept from the table at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Who a browser session belongs to.
#[derive(Clone)]
pub enum Principal {
    /// Not logged in; the session exists only to carry the login form's CSRF token.
    Anonymous,
    /// An emergency account, before and after its user declared who they are.
    Clinician {
        login: ClinicianLogin,
        declared: Option<DeclaredPerson>,
    },
    /// A hospital IT administrator after both factors (password and WebAuthn). Admin
    /// pages run only after the accounts layer resumes `token` as an admin session, which
    /// is the only source of an `AdminCapability`; a clinician's token never resumes as one.
    Admin(AdminLogin),
    /// An emergency account with a security key, between the credential step and the
    /// key's assertion. Held only in this in-memory session, wiped on drop.
    KeyPending(PendingKey),
}

/// The first login step of an account with a security key: what the assertion completes.
#[derive(Clone)]
pub struct PendingKey {
    pub account_id: String,
    /// The credential typed from the seal sheet (a secret: never logged).
    pub credential: zeroize::Zeroizing<String>,
    pub ceremony_id: String,
    /// `navigator.credentials.get` options (JSON), put on the key page.
    pub options: String,
}

/// A logged-in administrator's accounts session.
#[derive(Clone)]
pub struct AdminLogin {
    pub admin_id: String,
    /// The accounts layer's public session identifier (audited).
    pub session_id: String,
    /// The accounts layer's session token (a secret: never logged, never audited).
    pub token: String,
}

impl std::fmt::Debug for AdminLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminLogin(..)")
    }
}

impl std::fmt::Debug for Principal {
    // Identifiers of sessions are secrets; names of declared people are not for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Anonymous => f.write_str("Anonymous"),
            Principal::Clinician { declared, .. } => {
                write!(f, "Clinician {{ declared: {} }}", declared.is_some())
            }
            Principal::Admin(_) => f.write_str("Admin"),
            Principal::KeyPending(_) => f.write_str("KeyPending"),
        }
    }
}

#[derive(Clone)]
pub struct Session {
    pub principal: Principal,
    csrf: String,
    last_seen: Instant,
    created: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Constant-time comparison of the submitted token with the session's.
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        let a = self.csrf.as_bytes();
        let b = submitted.as_bytes();
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Secret session identifier. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(..)")
    }
}

impl SessionId {
    pub fn cookie_value(&self) -> &str {
        &self.0
    }
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// In-memory session table with idle and absolute timeouts.
pub struct SessionStore {
    inner: Mutex<Table>,
    idle: Duration,
    absolute: Duration,
    /// Keys the CSRF tokens of anonymous sessions; made at start, never stored.
    anonymous_key: zeroize::Zeroizing<[u8; 32]>,
}

struct Table {
    sessions: HashMap<SessionId, Session>,
    next_sweep: Instant,
}

impl SessionStore {
    pub fn new(idle: Duration, absolute: Duration) -> Self {
        let mut anonymous_key = zeroize::Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(anonymous_key.as_mut());
        SessionStore {
            inner: Mutex::new(Table {
                sessions: HashMap::new(),
                next_sweep: Instant::now() + SWEEP_INTERVAL,
            }),
            idle,
            absolute,
            anonymous_key,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock leaves a consistent map (single inserts/removes).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many sessions the table holds (anonymous ones are never held).
    pub fn stored(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Looks up the session named by the request's cookie, refreshing its idle timer.
    /// Expired sessions are removed and reported as absent.
    pub fn get(&self, headers: &HeaderMap) -> Option<(SessionId, Session)> {
        let value = cookie(headers, SESSION_COOKIE)?;
        if let Some(nonce) = value.strip_prefix(ANONYMOUS_PREFIX) {
            let well_formed = nonce.len() == 43
                && nonce
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            return well_formed.then(|| self.anonymous(value.to_owned()));
        }
        let id = SessionId(value.to_owned());
        let mut table = self.lock();
        let map = &mut table.sessions;
        let now = Instant::now();
        let session = map.get_mut(&id)?;
        if now.duration_since(session.last_seen) > self.idle
            || now.duration_since(session.created) > self.absolute
        {
            map.remove(&id);
            return None;
        }
        session.last_seen = now;
        Some((id, session.clone()))
    }

    /// Starts a fresh session (new identifier, new CSRF token). An anonymous one is not
    /// stored: its cookie alone carries it.
    pub fn create(&self, principal: Principal) -> (SessionId, Session) {
        if matches!(principal, Principal::Anonymous) {
            return self.anonymous(format!("{ANONYMOUS_PREFIX}{}", random_token()));
        }
        let id = SessionId(random_token());
        let now = Instant::now();
        let session = Session {
            principal,
            csrf: random_token(),
            last_seen: now,
            created: now,
        };
        let mut table = self.lock();
        // Abandoned sessions must not accumulate, but a new session must not cost a scan
        // of the whole table either: sweep at most once per interval.
        if now >= table.next_sweep {
            table.sessions.retain(|_, s| {
                now.duration_since(s.last_seen) <= self.idle
                    && now.duration_since(s.created) <= self.absolute
            });
            table.next_sweep = now + SWEEP_INTERVAL;
        }
        table.sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The anonymous session of cookie value `value`: its CSRF token is derived, not kept.
    fn anonymous(&self, value: String) -> (SessionId, Session) {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.anonymous_key.as_ref())
            .expect("HMAC takes a key of any length");
        mac.update(value.as_bytes());
        let csrf =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let now = Instant::now();
        let session = Session {
            principal: Principal::Anonymous,
            csrf,
            last_seen: now,
            created: now,
        };
        (SessionId(value), session)
    }

    /// Replaces `old` (if any) by a new session for `principal`: the login rotation.
    pub fn rotate(&self, old: Option<&SessionId>, principal: Principal) -> (SessionId, Session) {
        if let Some(old) = old {
            self.remove(old);
        }
        self.create(principal)
    }

    pub fn remove(&self, id: &SessionId) {
        self.lock().sessions.remove(id);
    }
}

/// The value of cookie `name` in the request, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for a session: Secure, HttpOnly, SameSite=Strict, host-only, path `/`.
pub fn set_cookie(id: &SessionId) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict",
        id.0
    ))
    .expect("base64url is a valid header value")
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-akari=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Principal {
        Principal::Admin(AdminLogin {
            admin_id: "a".into(),
            session_id: "s".into(),
            token: "t".into(),
        })
    }

    #[test]
    fn rotation_issues_a_new_identifier_and_forgets_the_old() {
        let store = SessionStore::new(Duration::from_secs(60), Duration::from_secs(600));
        let (old, s1) = store.create(admin());
        let (new, s2) = store.rotate(Some(&old), admin());
        assert_ne!(old, new);
        assert_ne!(s1.csrf(), s2.csrf());
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, set_cookie_pair(&old));
        assert!(store.get(&h).is_none());
        h.insert(header::COOKIE, set_cookie_pair(&new));
        assert!(store.get(&h).is_some());
    }

    #[test]
    fn idle_sessions_expire() {
        let store = SessionStore::new(Duration::ZERO, Duration::from_secs(600));
        let (id, _) = store.create(admin());
        std::thread::sleep(Duration::from_millis(5));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, set_cookie_pair(&id));
        assert!(store.get(&h).is_none());
    }

    #[test]
    fn debug_output_hides_identifiers() {
        let store = SessionStore::new(Duration::from_secs(60), Duration::from_secs(600));
        let (id, s) = store.create(Principal::Clinician {
            login: ClinicianLogin {
                account_id: "ER-1".into(),
                session_id: "s-1".into(),
                token: "secret-session".into(),
            },
            declared: None,
        });
        let text = format!("{id:?} {s:?}");
        assert!(!text.contains(id.cookie_value()));
        assert!(!text.contains("secret-session"));
        assert!(!text.contains(s.csrf()));
    }

    #[test]
    fn anonymous_sessions_are_not_stored_and_keep_their_csrf_token() {
        let store = SessionStore::new(Duration::from_secs(60), Duration::from_secs(600));
        let (id, s) = store.create(Principal::Anonymous);
        assert_eq!(store.stored(), 0);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, set_cookie_pair(&id));
        let (again, resumed) = store.get(&h).expect("the cookie carries the session");
        assert_eq!(again, id);
        assert!(resumed.csrf_matches(s.csrf()));
        assert!(matches!(resumed.principal, Principal::Anonymous));
        // Another store (a restarted node) does not accept the token.
        let other = SessionStore::new(Duration::from_secs(60), Duration::from_secs(600));
        assert!(!other.get(&h).unwrap().1.csrf_matches(s.csrf()));
        // A made-up anonymous value of the wrong shape is no session.
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-akari=anon.short"),
        );
        assert!(store.get(&h).is_none());
        assert_eq!(store.stored(), 0);
    }

    fn set_cookie_pair(id: &SessionId) -> HeaderValue {
        HeaderValue::from_str(&format!("other=1; {SESSION_COOKIE}={}", id.0)).unwrap()
    }
}
