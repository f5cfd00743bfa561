//! Failed-login backoff, per account and client address together, per address, and per
//! account from everywhere. After a few free failures each further one doubles the wait, up
//! to a ceiling: slow for a guesser, never a permanent lockout for a clinician in an
//! emergency. An account's own backoff (all addresses together) starts only after many more
//! failures and stays short, so a guesser at one address cannot lock the account out for the
//! clinicians at others. Checked before any argon2 work, so a flood of guesses costs the node
//! almost nothing. Kept in memory: a restart forgets it, which only ever shortens a wait.
//!
//! [`FailureLog`] decides which failed logins get an audit entry of their own: a flood from
//! one address is recorded as a few entries and one summarising count per window, so it
//! costs the node a counter, not a disk.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::config::Config;

/// What a login names: an emergency account or an admin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Admin(String),
    Account(String),
}

impl Target {
    /// The longest name kept as it is in memory; longer ones (which name nothing: real IDs
    /// are short) are kept as their SHA-256, so typed garbage cannot fill memory.
    const MAX_NAME_BYTES: usize = 64;

    fn bounded(name: &str) -> String {
        if name.len() <= Self::MAX_NAME_BYTES {
            name.to_owned()
        } else {
            format!("sha256:{}", hex::encode(Sha256::digest(name.as_bytes())))
        }
    }

    pub(crate) fn admin(admin_id: &str) -> Self {
        Target::Admin(Self::bounded(admin_id))
    }

    pub(crate) fn account(account_id: &str) -> Self {
        Target::Account(Self::bounded(account_id))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LimitKey {
    /// One account (or admin) tried from one address (`None`: address unknown). Strict.
    Pair(Target, Option<IpAddr>),
    /// One address, whatever it tries. Strict.
    Address(IpAddr),
    /// One account (or admin) from every address together. Relaxed: many more free
    /// failures and a short ceiling.
    Target(Target),
}

impl LimitKey {
    /// The keys of one login attempt: the pair, the address (if known), the target.
    pub(crate) fn for_attempt(target: Target, address: Option<IpAddr>) -> Vec<LimitKey> {
        let mut keys = vec![LimitKey::Pair(target.clone(), address)];
        if let Some(addr) = address {
            keys.push(LimitKey::Address(addr));
        }
        keys.push(LimitKey::Target(target));
        keys
    }

    fn is_strict(&self) -> bool {
        !matches!(self, LimitKey::Target(_))
    }
}

/// Free failures, first delay and ceiling of one kind of key.
#[derive(Debug, Clone, Copy)]
struct Policy {
    free_attempts: u32,
    base: Duration,
    max: Duration,
}

impl Policy {
    fn delay(&self, failures: u32) -> Option<Duration> {
        if failures <= self.free_attempts {
            return None;
        }
        let doublings = (failures - self.free_attempts - 1).min(30);
        let delay = self.base * 2i32.pow(doublings);
        Some(delay.min(self.max))
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    blocked_until: Option<DateTime<Utc>>,
    last_failure: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    strict: Policy,
    relaxed: Policy,
    state: Mutex<HashMap<LimitKey, Failures>>,
    /// Strict keys with a credential check running now. One at a time per (account,
    /// address) and per address, so a burst of parallel guesses cannot all reach argon2
    /// before the first failure starts the backoff. Never per account alone: a guesser's
    /// running attempt must not turn a clinician elsewhere away.
    in_flight: Mutex<HashSet<LimitKey>>,
}

/// Holds the in-flight mark of an attempt; dropping it releases the keys.
pub(crate) struct Attempt<'a> {
    limiter: &'a Limiter,
    keys: Vec<LimitKey>,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .limiter
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for k in &self.keys {
            in_flight.remove(k);
        }
    }
}

/// Why an attempt may not proceed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    Until(DateTime<Utc>),
    Busy,
}

impl Limiter {
    pub(crate) fn new(config: &Config) -> Self {
        let base =
            Duration::milliseconds(i64::try_from(config.backoff_base_ms).unwrap_or(i64::MAX));
        let secs = |n: u64| Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000));
        Self {
            strict: Policy {
                free_attempts: config.backoff_free_attempts,
                base,
                max: secs(config.backoff_max_secs),
            },
            relaxed: Policy {
                free_attempts: config.backoff_account_free_attempts,
                base,
                max: secs(config.backoff_account_max_secs),
            },
            state: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// Starts an attempt: refused if any key is in backoff or a strict key already has an
    /// attempt running; otherwise the strict keys are marked in flight until the returned
    /// guard drops.
    pub(crate) fn begin(
        &self,
        keys: &[LimitKey],
        now: DateTime<Utc>,
    ) -> Result<Attempt<'_>, Blocked> {
        if let Some(until) = self.blocked_until(keys, now) {
            return Err(Blocked::Until(until));
        }
        let strict: Vec<LimitKey> = keys.iter().filter(|k| k.is_strict()).cloned().collect();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if strict.iter().any(|k| in_flight.contains(k)) {
            return Err(Blocked::Busy);
        }
        for k in &strict {
            in_flight.insert(k.clone());
        }
        Ok(Attempt {
            limiter: self,
            keys: strict,
        })
    }

    /// The time until which any of `keys` is in backoff, if one is.
    pub(crate) fn blocked_until(
        &self,
        keys: &[LimitKey],
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| state.get(k).and_then(|f| f.blocked_until))
            .filter(|until| *until > now)
            .max()
    }

    /// Counts a failure against every key and starts or lengthens their backoff.
    pub(crate) fn record_failure(&self, keys: &[LimitKey], now: DateTime<Utc>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            let policy = self.policy(key);
            let f = state.entry(key.clone()).or_insert(Failures {
                count: 0,
                blocked_until: None,
                last_failure: now,
            });
            // A long quiet spell (twice the ceiling) forgives old failures.
            if now - f.last_failure > policy.max * 2 {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last_failure = now;
            f.blocked_until = policy.delay(f.count).map(|d| now + d);
        }
        // Keep the map from growing without bound under a spray of addresses.
        if state.len() > 100_000 {
            let horizon = self.strict.max.max(self.relaxed.max) * 2;
            state.retain(|_, f| now - f.last_failure <= horizon);
        }
    }

    /// A success clears the attempt's failures: the pair's, the address's (the person there
    /// knew the credential) and the account's.
    pub(crate) fn record_success(&self, keys: &[LimitKey]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            state.remove(key);
        }
    }

    fn policy(&self, key: &LimitKey) -> Policy {
        if key.is_strict() {
            self.strict
        } else {
            self.relaxed
        }
    }
}

/// Which failed logins get an audit entry of their own. Per client address (`None`, an
/// unknown address, is one address): the first `per_window` failures of each window are
/// recorded one by one; further ones are only counted, and the count is recorded as one
/// summarising entry when the window has ended (by the next failure from that address, or
/// by [`FailureLog::take_ended`], which the node calls periodically). Nothing goes
/// unrecorded; a flood grows the ledger by a bounded amount per address and window.
#[derive(Debug)]
pub(crate) struct FailureLog {
    per_window: u32,
    window: Duration,
    state: Mutex<HashMap<Option<IpAddr>, FailureWindow>>,
}

#[derive(Debug, Clone, Copy)]
struct FailureWindow {
    start: DateTime<Utc>,
    recorded: u32,
    counted: Option<Counted>,
}

/// Failed logins from one address that were counted instead of recorded one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted {
    pub(crate) address: Option<IpAddr>,
    pub(crate) failures: u64,
    pub(crate) first: DateTime<Utc>,
    pub(crate) last: DateTime<Utc>,
}

/// What to do with one failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    /// The address's previous window ended with failures counted: record their summary.
    pub(crate) summary: Option<Counted>,
    /// Record this failure as an entry of its own (else it was counted).
    pub(crate) record: bool,
}

impl FailureLog {
    pub(crate) fn new(config: &Config) -> Self {
        FailureLog {
            per_window: config.failed_login_entries_per_address,
            window: Duration::seconds(
                i64::try_from(config.failed_login_window_secs.max(1)).unwrap_or(i64::MAX / 1000),
            ),
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one failed login from `address` at `now`.
    pub(crate) fn admit(&self, address: Option<IpAddr>, now: DateTime<Utc>) -> Admission {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let w = state.entry(address).or_insert(FailureWindow {
            start: now,
            recorded: 0,
            counted: None,
        });
        let mut summary = None;
        if now - w.start >= self.window || now < w.start {
            summary = w.counted.take();
            *w = FailureWindow {
                start: now,
                recorded: 0,
                counted: None,
            };
        }
        let record = w.recorded < self.per_window;
        if record {
            w.recorded += 1;
        } else {
            let c = w.counted.get_or_insert(Counted {
                address,
                failures: 0,
                first: now,
                last: now,
            });
            c.failures += 1;
            c.last = now;
        }
        // Keep the map from growing without bound under a spray of addresses: windows that
        // ended with nothing counted carry no information.
        if state.len() > 100_000 {
            let window = self.window;
            state.retain(|_, w| w.counted.is_some() || now - w.start < window);
        }
        Admission { summary, record }
    }

    /// Takes the counts of every window that has ended (for their summarising entries).
    pub(crate) fn take_ended(&self, now: DateTime<Utc>) -> Vec<Counted> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let window = self.window;
        let ended: Vec<Counted> = state
            .values_mut()
            .filter(|w| now - w.start >= window)
            .filter_map(|w| w.counted.take())
            .collect();
        state.retain(|_, w| w.counted.is_some() || now - w.start < window);
        ended
    }

    /// Puts back a count whose summary could not be recorded, to be tried again.
    pub(crate) fn restore(&self, counted: Counted) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let w = state.entry(counted.address).or_insert(FailureWindow {
            start: counted.first,
            recorded: self.per_window,
            counted: None,
        });
        match &mut w.counted {
            Some(c) => {
                c.failures += counted.failures;
                c.first = c.first.min(counted.first);
                c.last = c.last.max(counted.last);
            }
            None => w.counted = Some(counted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn backoff_doubles_to_a_ceiling_and_expires() {
        let config = Config {
            backoff_free_attempts: 2,
            backoff_base_ms: 1000,
            backoff_max_secs: 8,
            ..Config::default()
        };
        let l = Limiter::new(&config);
        let t0 = t0();
        let keys = [LimitKey::Pair(Target::account("EA-1"), None)];
        l.record_failure(&keys, t0);
        l.record_failure(&keys, t0);
        assert_eq!(l.blocked_until(&keys, t0), None, "two free attempts");
        let mut waits = Vec::new();
        for _ in 0..6 {
            l.record_failure(&keys, t0);
            waits.push((l.blocked_until(&keys, t0).unwrap() - t0).num_seconds());
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 8, 8]);
        assert_eq!(l.blocked_until(&keys, t0 + Duration::seconds(8)), None);
        let other = [LimitKey::Pair(Target::account("EA-2"), None)];
        assert_eq!(l.blocked_until(&other, t0), None);
        l.record_success(&keys);
        assert_eq!(l.blocked_until(&keys, t0), None);
    }

    #[test]
    fn an_accounts_own_backoff_starts_much_later_and_stays_short() {
        let config = Config {
            backoff_free_attempts: 2,
            backoff_account_free_attempts: 20,
            backoff_account_max_secs: 4,
            ..Config::default()
        };
        let l = Limiter::new(&config);
        let t0 = t0();
        let guesser = LimitKey::for_attempt(Target::account("EA-1"), Some([10, 0, 0, 1].into()));
        let nurse = LimitKey::for_attempt(Target::account("EA-1"), Some([10, 0, 0, 2].into()));
        for _ in 0..3 {
            l.record_failure(&guesser, t0);
        }
        assert!(l.blocked_until(&guesser, t0).is_some());
        assert_eq!(
            l.blocked_until(&nurse, t0),
            None,
            "another address is not held up"
        );
        for _ in 0..30 {
            l.record_failure(&guesser, t0);
        }
        let wait = l
            .blocked_until(&nurse, t0)
            .expect("the account's own backoff");
        assert!(wait - t0 <= Duration::seconds(4), "short: {wait}");
    }

    #[test]
    fn only_one_attempt_per_address_and_pair_runs_at_a_time() {
        let l = Limiter::new(&Config::default());
        let t0 = t0();
        let a = LimitKey::for_attempt(Target::account("EA-1"), Some([10, 0, 0, 1].into()));
        let b = LimitKey::for_attempt(Target::account("EA-2"), Some([10, 0, 0, 1].into()));
        let c = LimitKey::for_attempt(Target::account("EA-2"), Some([10, 0, 0, 2].into()));
        let d = LimitKey::for_attempt(Target::account("EA-1"), Some([10, 0, 0, 3].into()));
        let guard = l.begin(&a, t0).unwrap();
        assert_eq!(l.begin(&b, t0).err(), Some(Blocked::Busy), "same address");
        let other = l.begin(&c, t0).unwrap();
        let same_account_elsewhere = l.begin(&d, t0).unwrap();
        drop(guard);
        drop(other);
        drop(same_account_elsewhere);
        l.begin(&b, t0).unwrap();
    }

    #[test]
    fn overlong_names_are_kept_as_their_hash() {
        let long = "X".repeat(1_500_000);
        let Target::Account(kept) = Target::account(&long) else {
            unreachable!()
        };
        assert!(kept.starts_with("sha256:") && kept.len() == 71, "{kept}");
        assert_eq!(Target::account(&long), Target::account(&long));
    }

    #[test]
    fn a_flood_from_one_address_is_recorded_as_a_few_entries_and_one_count() {
        let config = Config {
            failed_login_entries_per_address: 3,
            failed_login_window_secs: 60,
            ..Config::default()
        };
        let log = FailureLog::new(&config);
        let t0 = t0();
        let addr = Some([10, 0, 0, 1].into());
        let recorded = (0..100)
            .filter(|i| log.admit(addr, t0 + Duration::milliseconds(*i)).record)
            .count();
        assert_eq!(recorded, 3);
        assert!(
            log.admit(Some([10, 0, 0, 2].into()), t0).record,
            "per address"
        );
        assert_eq!(log.take_ended(t0 + Duration::seconds(30)), vec![]);
        // The next window: its first failure brings the previous window's count.
        let next = log.admit(addr, t0 + Duration::seconds(61));
        assert!(next.record);
        let counted = next.summary.expect("a summary");
        assert_eq!(counted.failures, 97);
        assert_eq!(counted.address, addr);
        // Or the periodic flush does, once the window has ended.
        for i in 0..10 {
            log.admit(addr, t0 + Duration::seconds(62 + i));
        }
        let ended = log.take_ended(t0 + Duration::seconds(200));
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].failures, 8);
        log.restore(ended[0]);
        assert_eq!(log.take_ended(t0 + Duration::seconds(400))[0].failures, 8);
    }
}
