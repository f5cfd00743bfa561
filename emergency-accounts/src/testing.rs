//! Test machinery, compiled only with the `test-hooks` feature (off in the hospital build):
//! sinks that keep events in memory or always fail, and the switch that makes the ledger's
//! commits fail. Tests enable the feature through their dev-dependency on this crate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};

use crate::event::Reason;
use crate::event::{Action, AuditError, AuditEvent, AuditReceipt, AuditSink, DeclaredPerson, Mode};
use crate::model::{Declaration, WardScope};
use crate::session::{ClinicianCapability, EmergencySession};

/// Makes the ledger's commits fail on demand, so callers can prove they fail closed.
/// While set, every batch is aborted before commit and its callers get [`AuditError`].
#[derive(Debug, Clone, Default)]
pub struct FaultInjector(Arc<AtomicBool>);

impl FaultInjector {
    pub fn fail_commits(&self, fail: bool) {
        self.0.store(fail, Ordering::SeqCst);
    }

    pub(crate) fn failing(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// An [`AuditSink`] that never records anything: every call fails. For fail-closed tests
/// of callers that don't need a real ledger.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailingSink;

impl AuditSink for FailingSink {
    fn record(&self, _event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        Err(AuditError::Unavailable(
            "audit storage failure injected for testing".into(),
        ))
    }
}

/// Keeps every event in memory, numbered like the ledger would; can be told to fail, like a
/// ledger whose disk is gone.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
    fail: AtomicBool,
}

impl MemorySink {
    /// Every event recorded so far, in order.
    pub fn events(&self) -> Vec<AuditEvent> {
        lock(&self.events).clone()
    }

    /// How many recorded events have an action matching `pred`.
    pub fn count(&self, pred: impl Fn(&Action) -> bool) -> usize {
        lock(&self.events)
            .iter()
            .filter(|e| pred(&e.action))
            .count()
    }

    /// While `true`, every record fails and nothing is kept.
    pub fn fail_records(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }
}

impl AuditSink for MemorySink {
    fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(AuditError::Unavailable("injected failure".into()));
        }
        let mut events = lock(&self.events);
        events.push(event);
        Ok(AuditReceipt::new(events.len() as u64))
    }

    /// Like the ledger: the time is read in the order events are kept.
    fn record_now(
        &self,
        clock: &dyn crate::clock::Clock,
        event: AuditEvent,
    ) -> Result<AuditReceipt, AuditError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(AuditError::Unavailable("injected failure".into()));
        }
        let mut events = lock(&self.events);
        events.push(AuditEvent {
            time: clock.now(),
            ..event
        });
        Ok(AuditReceipt::new(events.len() as u64))
    }
}

/// A declared clinician's capability that no login made, for page tests that stand in for
/// the accounts layer: `person` declared `reason` in `mode`, account `account_id`, all wards.
pub fn clinician(
    account_id: &str,
    session_id: &str,
    person: DeclaredPerson,
    reason: Reason,
    mode: Mode,
) -> ClinicianCapability {
    let now = Utc::now();
    EmergencySession {
        session_id: session_id.to_owned(),
        account_id: account_id.to_owned(),
        label: account_id.to_owned(),
        ward_scope: WardScope::All,
        declaration: Declaration {
            person,
            reason,
            at: now,
        },
        episode: 1,
        mode,
        expires_at: now + Duration::hours(12),
    }
    .clinician()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
