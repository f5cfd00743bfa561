//! Failed-login backoff, per account and per client address. After a few free failures each
//! further one doubles the wait, up to a ceiling: slow for a guesser, never a permanent
//! lockout for a clinician in an emergency. Checked before any argon2 work, so a flood of
//! guesses costs the node almost nothing. Kept in memory: a restart forgets it, which only
//! ever shortens a wait.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LimitKey {
    Admin(String),
    Account(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    blocked_until: Option<DateTime<Utc>>,
    last_failure: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    free_attempts: u32,
    base: Duration,
    max: Duration,
    state: Mutex<HashMap<LimitKey, Failures>>,
    /// Keys with a credential check running now. One at a time per account and per address,
    /// so a burst of parallel guesses cannot all reach argon2 before the first failure
    /// starts the backoff.
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
        Self {
            free_attempts: config.backoff_free_attempts,
            base: Duration::milliseconds(i64::try_from(config.backoff_base_ms).unwrap_or(i64::MAX)),
            max: Duration::seconds(i64::try_from(config.backoff_max_secs).unwrap_or(i64::MAX)),
            state: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// Starts an attempt: refused if any key is in backoff or already has an attempt
    /// running; otherwise the keys are marked in flight until the returned guard drops.
    pub(crate) fn begin(
        &self,
        keys: &[LimitKey],
        now: DateTime<Utc>,
    ) -> Result<Attempt<'_>, Blocked> {
        if let Some(until) = self.blocked_until(keys, now) {
            return Err(Blocked::Until(until));
        }
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if keys.iter().any(|k| in_flight.contains(k)) {
            return Err(Blocked::Busy);
        }
        for k in keys {
            in_flight.insert(k.clone());
        }
        Ok(Attempt {
            limiter: self,
            keys: keys.to_vec(),
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
            let f = state.entry(key.clone()).or_insert(Failures {
                count: 0,
                blocked_until: None,
                last_failure: now,
            });
            // A long quiet spell (twice the ceiling) forgives old failures.
            if now - f.last_failure > self.max * 2 {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last_failure = now;
            f.blocked_until = self.delay(f.count).map(|d| now + d);
        }
        // Keep the map from growing without bound under a spray of addresses.
        if state.len() > 100_000 {
            let horizon = self.max * 2;
            state.retain(|_, f| now - f.last_failure <= horizon);
        }
    }

    /// A success clears the account's failures (and the address's: the person there knew
    /// the credential).
    pub(crate) fn record_success(&self, keys: &[LimitKey]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            state.remove(key);
        }
    }

    fn delay(&self, failures: u32) -> Option<Duration> {
        if failures <= self.free_attempts {
            return None;
        }
        let doublings = (failures - self.free_attempts - 1).min(30);
        let delay = self.base * 2i32.pow(doublings.min(30));
        Some(delay.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling_and_expires() {
        let config = Config {
            backoff_free_attempts: 2,
            backoff_base_ms: 1000,
            backoff_max_secs: 8,
            ..Config::default()
        };
        let l = Limiter::new(&config);
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let keys = [LimitKey::Account("EA-1".into())];
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
        let other = [LimitKey::Account("EA-2".into())];
        assert_eq!(l.blocked_until(&other, t0), None);
        l.record_success(&keys);
        assert_eq!(l.blocked_until(&keys, t0), None);
    }

    #[test]
    fn only_one_attempt_per_key_runs_at_a_time() {
        let l = Limiter::new(&Config::default());
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let a = [
            LimitKey::Account("EA-1".into()),
            LimitKey::Address([10, 0, 0, 1].into()),
        ];
        let b = [
            LimitKey::Account("EA-2".into()),
            LimitKey::Address([10, 0, 0, 1].into()),
        ];
        let c = [
            LimitKey::Account("EA-2".into()),
            LimitKey::Address([10, 0, 0, 2].into()),
        ];
        let guard = l.begin(&a, t0).unwrap();
        assert_eq!(l.begin(&b, t0).err(), Some(Blocked::Busy), "same address");
        let other = l.begin(&c, t0).unwrap();
        drop(guard);
        drop(other);
        l.begin(&b, t0).unwrap();
    }
}
