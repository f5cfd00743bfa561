//! Fault suite: the wall clock jumps backwards (an NTP step, a wrong manual setting, a VM
//! restored from a snapshot) while clinicians are working.
//!
//! Decision (see `ledger/mod.rs`, "Time"): the sequence number is the order and nothing is
//! ever reordered by time; an entry keeps the time its caller gave and is flagged
//! `clock_back` when that time is earlier than the latest time recorded before it (also
//! across restarts); checkpoints carry the writer clock's time as given and still verify,
//! because they bind size and chain head, not time.

mod ledger_common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use akari_accounts::event::{AuditSink, Mode};
use akari_accounts::ledger::{
    verify, ExportFormat, ExportRange, Ledger, LedgerConfig, LedgerError,
};
use akari_accounts::Zone;
use akari_accounts::{Clock, ManualClock};
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use ledger_common::*;

const THREADS: u64 = 8;
const PER_THREAD: u64 = 60;

fn open_with(path: &std::path::Path, k: &SigningKey, clock: Arc<ManualClock>) -> Ledger {
    let config = LedgerConfig {
        checkpoint_every_entries: 20,
        ..LedgerConfig::default()
    };
    let db = redb::Database::create(path).unwrap();
    Ledger::with_database_and_clock(db, k.clone(), &config, clock).unwrap()
}

/// (seq, time, clock_back, patient key) of every stored entry, in stored order.
fn stored(ledger: &Ledger) -> Vec<(u64, DateTime<Utc>, bool, String)> {
    let mut out = Vec::new();
    ledger
        .scan(1..=u64::MAX, |e, _| -> Result<(), LedgerError> {
            out.push((e.seq, e.time, e.clock_back, e.patient.unwrap_or_default()));
            Ok(())
        })
        .unwrap();
    out
}

/// What the flags must be: an entry is flagged iff its time is earlier than the latest
/// time before it in sequence order.
fn expected_flags(entries: &[(u64, DateTime<Utc>, bool, String)]) -> Vec<bool> {
    let mut latest: Option<DateTime<Utc>> = None;
    entries
        .iter()
        .map(|(_, t, _, _)| {
            let back = latest.is_some_and(|l| *t < l);
            latest = Some(latest.map_or(*t, |l| l.max(*t)));
            back
        })
        .collect()
}

#[test]
fn clock_jumping_back_under_concurrent_load_reorders_nothing_and_everything_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let clock = Arc::new(ManualClock::new(t0()));
    let ledger = Arc::new(open_with(
        &dir.path().join("ledger.redb"),
        &k,
        clock.clone(),
    ));
    let c = clinician("EMERG-01", "sess-1", 1);
    let _receipt = ledger
        .record(mode_change(
            clock.now(),
            Mode::Standby,
            Mode::Emergency,
            "EHR down",
        ))
        .unwrap();

    // Writers record what the (shared) clock says; halfway through, the clock is set back
    // two hours, and later back again by ten minutes.
    let done = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS as usize + 1));
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (ledger, clock, done, start, c) = (
                ledger.clone(),
                clock.clone(),
                done.clone(),
                start.clone(),
                c.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                (0..PER_THREAD)
                    .map(|i| {
                        clock.advance(Duration::seconds(1));
                        let patient = format!("pk-{t}-{i:03}");
                        let event =
                            read(clock.now(), c.clone(), &patient, "4-East", Mode::Emergency);
                        let seq = ledger
                            .record(event)
                            .expect("append acknowledged")
                            .sequence();
                        done.fetch_add(1, Ordering::SeqCst);
                        (patient, seq)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let total = THREADS * PER_THREAD;
    let jumper = {
        let (clock, done) = (clock.clone(), done.clone());
        std::thread::spawn(move || {
            start.wait();
            for (at_count, back) in [
                (total / 2, Duration::hours(2)),
                (total * 3 / 4, Duration::minutes(10)),
            ] {
                while done.load(Ordering::SeqCst) < at_count {
                    std::thread::yield_now();
                }
                let now = clock.now();
                clock.set(now - back);
            }
        })
    };
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    for w in writers {
        let mine = w.join().unwrap();
        // Each writer's own appends keep their program order in the ledger.
        assert!(
            mine.windows(2).all(|p| p[0].1 < p[1].1),
            "per-writer order kept"
        );
        acked.extend(mine);
    }
    jumper.join().unwrap();
    let _receipt = ledger
        .record(mode_change(
            clock.now(),
            Mode::Emergency,
            Mode::Standby,
            "EHR back",
        ))
        .unwrap();

    // Stored in sequence order, gapless, each acknowledged append exactly where its
    // receipt says, times as given (not sorted), flags exactly where the clock went back.
    let entries = stored(&ledger);
    assert_eq!(entries.len() as u64, total + 2);
    assert!(entries.iter().enumerate().all(|(i, e)| e.0 == i as u64 + 1));
    for (patient, seq) in &acked {
        assert_eq!(&entries[*seq as usize - 1].3, patient, "seq {seq}");
    }
    let times: Vec<_> = entries.iter().map(|e| e.1).collect();
    assert!(
        times.windows(2).any(|w| w[1] < w[0]),
        "the clock did go back"
    );
    let flags: Vec<bool> = entries.iter().map(|e| e.2).collect();
    assert_eq!(flags, expected_flags(&entries));
    let flagged = flags.iter().filter(|f| **f).count() as u64;
    assert!(flagged > 0);

    // Checkpoints: signed with the clock's time as given (it went back too), every one
    // verifies and matches the chain.
    assert_eq!(ledger.verify_stored().unwrap(), total + 2);
    let cps = ledger.checkpoints(0..=u64::MAX).unwrap();
    assert!(cps.len() >= 3, "{} checkpoints", cps.len());
    assert!(cps.iter().all(|cp| cp.verify(&k.verifying_key())));
    assert!(cps.windows(2).all(|w| w[0].size < w[1].size));
    assert!(
        cps.windows(2).any(|w| w[1].time < w[0].time),
        "a checkpoint after the jump carries the earlier clock time"
    );

    // The export verifies offline and counts the flagged entries; so does an export of a
    // time window that straddles the jump (a contiguous range by sequence).
    let mut out = Vec::new();
    ledger
        .export(
            &ExportRange::all(),
            ExportFormat::Ndjson,
            &Zone::default(),
            &mut out,
        )
        .unwrap();
    let report = verify(&out[..], &k.verifying_key()).unwrap();
    assert_eq!(report.entries, total + 2);
    assert_eq!(report.clock_back_entries, flagged);
    let window = ExportRange {
        from: Some(t0() + Duration::seconds(100)),
        to: Some(t0() + Duration::seconds(200)),
    };
    let mut out = Vec::new();
    let summary = ledger
        .export(&window, ExportFormat::Ndjson, &Zone::default(), &mut out)
        .unwrap();
    assert!(summary.entries > 0);
    let report = verify(&out[..], &k.verifying_key()).unwrap();
    assert_eq!(report.entries, summary.entries);
}

#[test]
fn a_clock_that_went_back_is_still_flagged_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let k = key();
    let clock = Arc::new(ManualClock::new(t0()));
    let c = clinician("EMERG-01", "sess-1", 1);
    {
        let ledger = open_with(&path, &k, clock.clone());
        for minute in [10, 5] {
            let _receipt = ledger
                .record(read(at(minute), c.clone(), "pk-a", "W", Mode::Emergency))
                .unwrap();
        }
    }
    // Restarted while the clock is still behind the latest recorded time (10): an entry at
    // 7 is later than the last entry (5) but still earlier than 10, so it is flagged.
    let ledger = open_with(&path, &k, clock);
    for minute in [7, 11, 9] {
        let _receipt = ledger
            .record(read(at(minute), c.clone(), "pk-b", "W", Mode::Emergency))
            .unwrap();
    }
    let flags: Vec<(u64, bool)> = stored(&ledger).iter().map(|e| (e.0, e.2)).collect();
    assert_eq!(
        flags,
        vec![(1, false), (2, true), (3, true), (4, false), (5, true)]
    );
    let mut out = Vec::new();
    ledger
        .export(
            &ExportRange::all(),
            ExportFormat::Ndjson,
            &Zone::default(),
            &mut out,
        )
        .unwrap();
    assert_eq!(
        verify(&out[..], &k.verifying_key())
            .unwrap()
            .clock_back_entries,
        3
    );
}
