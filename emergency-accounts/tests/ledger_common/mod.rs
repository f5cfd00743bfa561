//! Shared helpers for the ledger and review tests: synthetic events only.
#![allow(dead_code)]

use akari_accounts::event::{Action, Actor, AuditEvent, Client, DeclaredPerson, Mode, Reason};
use akari_accounts::ledger::{Ledger, LedgerConfig, LedgerEntry, LedgerError};
use chrono::{DateTime, Duration, TimeZone, Utc};
use ed25519_dalek::SigningKey;

pub fn key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

pub fn open(dir: &std::path::Path, key: &SigningKey, config: &LedgerConfig) -> Ledger {
    Ledger::open(&dir.join("ledger.redb"), key.clone(), config).expect("open ledger")
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

pub fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

pub fn person(n: u32) -> DeclaredPerson {
    DeclaredPerson {
        name: format!("Test Clinician {n}"),
        staff_number: format!("S{n:04}"),
        profession: "nurse".into(),
        department: "ER".into(),
    }
}

pub fn clinician(account: &str, session: &str, n: u32) -> Actor {
    Actor::Emergency {
        account_id: account.into(),
        session_id: session.into(),
        declared: Some(person(n)),
    }
}

pub fn admin() -> Actor {
    Actor::Admin {
        admin_id: "it-admin".into(),
    }
}

pub fn client() -> Client {
    Client {
        address: Some("192.0.2.10".parse().unwrap()),
        user_agent: Some("Mozilla/5.0 (test)".into()),
    }
}

pub fn ev(time: DateTime<Utc>, actor: Actor, action: Action, mode: Mode) -> AuditEvent {
    AuditEvent {
        time,
        actor,
        action,
        patient: None,
        details: None,
        client: client(),
        mode,
    }
}

pub fn read(
    time: DateTime<Utc>,
    actor: Actor,
    patient: &str,
    ward: &str,
    mode: Mode,
) -> AuditEvent {
    AuditEvent {
        patient: Some(patient.into()),
        details: Some(akari_accounts::ledger::details::format([("ward", ward)])),
        ..ev(time, actor, Action::PatientRead, mode)
    }
}

pub fn mode_change(time: DateTime<Utc>, from: Mode, to: Mode, reason: &str) -> AuditEvent {
    ev(
        time,
        admin(),
        Action::ModeChanged {
            from,
            to,
            reason: reason.into(),
        },
        to,
    )
}

/// Every entry of the ledger, in order.
pub fn entries(ledger: &Ledger) -> Vec<LedgerEntry> {
    let mut out = Vec::new();
    ledger
        .scan(1..=u64::MAX, |e, _| -> Result<(), LedgerError> {
            out.push(e);
            Ok(())
        })
        .unwrap();
    out
}

/// Records the declaration of an emergency (standby → emergency) at `at(0)`.
pub fn declare_emergency(ledger: &Ledger) {
    use akari_accounts::event::AuditSink;
    let _receipt = ledger
        .record(mode_change(
            at(0),
            Mode::Standby,
            Mode::Emergency,
            "EHR down",
        ))
        .expect("the declaration is recorded");
}

/// A varied, realistic stream of `n` events: an emergency is declared, a clinician logs
/// in, declares, searches, reads, prints, logs out.
pub fn mixed_events(n: usize) -> Vec<AuditEvent> {
    let mut out = vec![mode_change(
        at(0),
        Mode::Standby,
        Mode::Emergency,
        "EHR down",
    )];
    let c = clinician("EMERG-01", "sess-1", 1);
    let mut i = 1;
    while out.len() < n {
        let t = at(i as i64);
        let e = match i % 6 {
            1 => ev(t, c.clone(), Action::LoginSucceeded, Mode::Emergency),
            2 => ev(
                t,
                c.clone(),
                Action::Declared {
                    reason: Reason::EmergencyTreatment,
                },
                Mode::Emergency,
            ),
            3 => ev(
                t,
                c.clone(),
                Action::PatientSearch {
                    query_kind: "name_kana".into(),
                    results: 3,
                    keys: (0..3).map(|k| format!("pk-{:05}", i + k)).collect(),
                },
                Mode::Emergency,
            ),
            4 => read(
                t,
                c.clone(),
                &format!("pk-{i:05}"),
                "4-East",
                Mode::Emergency,
            ),
            5 => AuditEvent {
                patient: Some(format!("pk-{i:05}")),
                ..ev(t, c.clone(), Action::PatientPrint, Mode::Emergency)
            },
            _ => ev(t, c.clone(), Action::Logout, Mode::Emergency),
        };
        out.push(e);
        i += 1;
    }
    out
}
