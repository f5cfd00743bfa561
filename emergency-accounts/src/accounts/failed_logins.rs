//! Failed logins as the ledger records them: one entry each for the first few from a client
//! address in each window, then a count, recorded as one summarising entry when the window
//! ends (see [`crate::limiter::FailureLog`]). A flood of wrong guesses from one address
//! costs the node a counter, not a disk, and stays visible to the review.

use super::Accounts;
use crate::event::{Action, Actor, Client, Mode};
use crate::ledger::details;
use crate::limiter::Counted;
use crate::Result;

/// The `reason` of a summarising entry.
pub const COUNTED_FAILURES_REASON: &str = "further failed logins from this address, counted";

impl Accounts {
    /// Records one summarising entry for failed logins that were counted instead of
    /// recorded: anonymous, from the address, with the count and the first and last time in
    /// its details ([`details::COUNTED_FAILURES`], [`details::FIRST`], [`details::LAST`]).
    /// If it cannot be recorded the count is kept for the next try.
    pub(super) fn record_counted_failures(&self, mode: Mode, counted: Counted) -> Result<()> {
        let failures = counted.failures.to_string();
        let first = counted.first.to_rfc3339();
        let last = counted.last.to_rfc3339();
        let details = details::format([
            (details::COUNTED_FAILURES, failures.as_str()),
            (details::FIRST, first.as_str()),
            (details::LAST, last.as_str()),
        ]);
        let client = Client {
            address: counted.address,
            user_agent: None,
        };
        let recorded = self.audit(
            mode,
            Actor::Anonymous,
            Action::LoginFailed {
                reason: COUNTED_FAILURES_REASON.to_owned(),
            },
            Some(details),
            &client,
        );
        match recorded {
            Ok(_receipt) => Ok(()),
            Err(e) => {
                self.failures.restore(counted);
                Err(e)
            }
        }
    }

    /// Records the summaries of every address whose window of counted failed logins has
    /// ended. The node calls this periodically (with session expiry), so a flood's count
    /// reaches the ledger even if the address falls silent. Returns how many summaries were
    /// recorded.
    pub fn record_counted_login_failures(&self) -> Result<usize> {
        let ended = self.failures.take_ended(self.clock.now());
        if ended.is_empty() {
            return Ok(0);
        }
        let mode = self.mode()?.mode;
        let mut recorded = 0;
        let mut ended = ended.into_iter();
        while let Some(counted) = ended.next() {
            if let Err(e) = self.record_counted_failures(mode, counted) {
                // Keep the rest for the next try as well.
                for rest in ended {
                    self.failures.restore(rest);
                }
                return Err(e);
            }
            recorded += 1;
        }
        Ok(recorded)
    }

    /// How many argon2id verifications (credentials and passwords) logins have run since
    /// the service opened; a login naming an unknown account runs one as well.
    pub fn credential_verifications(&self) -> u64 {
        self.hasher.verifications()
    }
}
