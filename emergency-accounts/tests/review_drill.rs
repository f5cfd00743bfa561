//! A clean drill reviews without a single flag, and the ledger flags no `clock_back` when
//! the clock is steady, however many callers record at once. The accounts service writes
//! into the real ledger here, as it does in the node.

mod common;
mod ledger_common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use akari_accounts::event::{Action, AuditEvent, AuditSink, Client, Reason};
use akari_accounts::ledger::{details, Ledger, LedgerConfig};
use akari_accounts::review::{episodes, review_episode, ReviewConfig};
use akari_accounts::{Accounts, Clock, EmergencyLogin, ManualClock, ProvisionRequest, WardScope};
use chrono::{DateTime, Duration, Utc};
use common::{cheap_config, client, nurse, root, t0};
use ledger_common::entries;

/// The accounts service over a ledger file, both reading `clock`.
fn accounts_over_ledger(
    dir: &std::path::Path,
    clock: Arc<dyn Clock>,
) -> (Arc<Accounts>, Arc<Ledger>) {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let db = redb::Database::create(dir.join("ledger.redb")).unwrap();
    let ledger = Arc::new(
        Ledger::with_database_and_clock(db, key, &LedgerConfig::default(), clock.clone()).unwrap(),
    );
    let store = redb::Database::create(dir.join("accounts.redb")).unwrap();
    let accounts = Arc::new(Accounts::open(store, cheap_config(), ledger.clone(), clock).unwrap());
    (accounts, ledger)
}

#[test]
fn a_clean_drill_whose_sessions_expire_at_its_end_reviews_with_no_flag() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let (accounts, ledger) = accounts_over_ledger(dir.path(), clock.clone());
    let wards = ["4-East", "5-West"];
    let mut scopes = HashMap::new();
    let mut sheets = Vec::new();
    for (i, ward) in wards.iter().cycle().take(4).enumerate() {
        let sheet = accounts
            .provision(
                &root(),
                ProvisionRequest {
                    label: format!("{ward}-{i}"),
                    ward_scope: WardScope::Wards(vec![ward.to_string()]),
                    expires_at: None,
                },
                &client(),
            )
            .unwrap();
        scopes.insert(sheet.account_id.clone(), vec![ward.to_string()]);
        sheets.push((sheet, *ward));
    }
    accounts
        .start_drill(&root(), "quarterly drill", &client())
        .unwrap();

    // Each account: a login, a declaration, views of its own ward's patients (as the viewer
    // records them, with the patient's ward), and most sessions still open at the end.
    let mut sessions = BTreeSet::new();
    for (n, (sheet, ward)) in sheets.iter().enumerate() {
        clock.advance(Duration::minutes(3));
        let pending = accounts
            .login_emergency(
                EmergencyLogin {
                    account_id: sheet.account_id.clone(),
                    credential: sheet.credential().expose().to_string().into(),
                    key: None,
                },
                &client(),
            )
            .unwrap();
        let session = accounts
            .declare(&pending.token, nurse(), Reason::Drill, &client())
            .unwrap();
        let capability = session.session.clinician();
        sessions.insert(session.session.session_id.clone());
        for p in 0..3 {
            clock.advance(Duration::seconds(40));
            let read = AuditEvent {
                time: clock.now(),
                actor: capability.actor(),
                action: Action::PatientRead,
                patient: Some(format!("pk-{n}-{p}")),
                details: Some(details::format([(details::WARD, *ward)])),
                client: client(),
                mode: capability.mode(),
            };
            let _receipt = ledger.record_now(&*clock, read).unwrap();
        }
        if n == 0 {
            accounts.logout(&session.token, &client()).unwrap();
        }
    }
    clock.advance(Duration::minutes(10));
    accounts
        .end_episode(&root(), "drill over", &client())
        .unwrap();
    // The sweep after the end finds nothing left to end.
    clock.advance(Duration::hours(2));
    accounts.expire_sessions().unwrap();

    let all = entries(&ledger);
    let expired = all
        .iter()
        .filter(|e| e.action == Action::SessionExpired)
        .count();
    assert_eq!(expired, 3, "the open sessions expired when the drill ended");
    assert!(all.iter().all(|e| !e.clock_back));

    let eps = episodes(&ledger).unwrap();
    assert_eq!(eps.len(), 1);
    let review = review_episode(&ledger, eps[0].id, &scopes, &ReviewConfig::default()).unwrap();
    let reviewed: BTreeSet<String> = review
        .sessions
        .iter()
        .map(|s| s.session_id.clone())
        .collect();
    assert_eq!(reviewed, sessions);
    for s in &review.sessions {
        assert_eq!(s.patients.len(), 3);
        assert!(
            s.flags.is_empty(),
            "session {}: {:?}",
            s.session_id,
            s.flags
        );
    }
    let report = akari_accounts::review::report(&review, &akari_accounts::Zone::default());
    assert!(report.contains("Sessions flagged: 0"), "{report}");
}

/// A clock that never stands still and never goes back: each reading is a microsecond
/// after the one before, as a steady wall clock read by busy threads.
struct Ticking(AtomicI64);

impl Clock for Ticking {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.fetch_add(1, Ordering::SeqCst)).unwrap()
    }
}

#[test]
fn concurrent_callers_on_a_steady_clock_raise_no_clock_back() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(Ticking(AtomicI64::new(t0().timestamp_micros())));
    let (accounts, ledger) = accounts_over_ledger(dir.path(), clock.clone());
    accounts.start_drill(&root(), "drill", &client()).unwrap();
    let before = entries(&ledger).len();

    // Failed logins from four threads at once, each attempt from an address of its own
    // (so none is counted into a flood summary): each refusal is audited by the accounts
    // service at its clock's time.
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let accounts = accounts.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let from = Client {
                        address: Some(format!("2001:db8::{t}:{i}").parse().unwrap()),
                        user_agent: None,
                    };
                    let refused = accounts.login_emergency(
                        EmergencyLogin {
                            account_id: format!("NOBODY-{t}-{i}"),
                            credential: "wrong".into(),
                            key: None,
                        },
                        &from,
                    );
                    assert!(refused.is_err());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }

    let all = entries(&ledger);
    assert!(
        all.len() >= before + THREADS * PER_THREAD,
        "{} entries",
        all.len()
    );
    let back: Vec<u64> = all.iter().filter(|e| e.clock_back).map(|e| e.seq).collect();
    assert!(
        back.is_empty(),
        "clock_back raised on a steady clock at {back:?}"
    );
    assert!(all.windows(2).all(|w| w[0].time < w[1].time));
}
