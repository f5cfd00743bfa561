//! Ledger benchmark: durable appends per second with 1, 8 and 64 concurrent writers (each
//! `record` returns only after its group commit is fsynced), and the time to verify an
//! export of 1M entries offline.
//!
//! `cargo bench -p akari-accounts --bench ledger`
//! Environment: `AKARI_BENCH_VERIFY_N` (default 1000000) entries for the verify part,
//! `AKARI_BENCH_DIR` a directory on the disk to measure (default: the system temp dir).

use std::sync::Arc;
use std::time::Instant;

use akari_accounts::event::{Action, Actor, AuditEvent, AuditSink, Client, DeclaredPerson, Mode};
use akari_accounts::ledger::{verify, ExportFormat, ExportRange, Ledger, LedgerConfig};
use akari_accounts::Zone;
use chrono::Utc;
use ed25519_dalek::SigningKey;

fn event(writer: usize, i: usize) -> AuditEvent {
    AuditEvent {
        time: Utc::now(),
        actor: Actor::Emergency {
            account_id: format!("EMERG-{writer:02}"),
            session_id: format!("sess-{writer:02}"),
            declared: Some(DeclaredPerson {
                name: format!("Bench Clinician {writer}"),
                staff_number: format!("S{writer:04}"),
                profession: "nurse".into(),
                department: "ER".into(),
            }),
        },
        action: Action::PatientRead,
        patient: Some(format!("pk-{writer:02}-{i:08}")),
        details: Some("ward=4-East".into()),
        client: Client {
            address: Some("192.0.2.10".parse().unwrap()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) bench".into()),
        },
        mode: Mode::Emergency,
    }
}

fn append(ledger: &Arc<Ledger>, writers: usize, per_writer: usize) -> f64 {
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                for i in 0..per_writer {
                    let _ = ledger.record(event(w, i)).expect("durable append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    (writers * per_writer) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let base = std::env::var_os("AKARI_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let config = LedgerConfig::default();

    println!("durable appends (each acknowledged after its group commit's fsync)");
    for (writers, per_writer) in [(1usize, 2_000usize), (8, 1_500), (64, 500)] {
        let dir = tempfile::tempdir_in(&base).unwrap();
        let ledger =
            Arc::new(Ledger::open(&dir.path().join("ledger.redb"), key.clone(), &config).unwrap());
        // Warm-up.
        append(&ledger, writers, 10);
        let rate = append(&ledger, writers, per_writer);
        println!(
            "  {writers:>2} writers: {rate:>8.0} events/s ({} events)",
            writers * per_writer
        );
    }

    let n: usize = std::env::var("AKARI_BENCH_VERIFY_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(&base).unwrap();
    let ledger =
        Arc::new(Ledger::open(&dir.path().join("ledger.redb"), key.clone(), &config).unwrap());
    let writers = 64;
    let start = Instant::now();
    let rate = append(&ledger, writers, n / writers);
    let n = (n / writers) * writers;
    println!(
        "built a {n}-entry ledger in {:.1} s ({rate:.0} events/s, 64 writers)",
        start.elapsed().as_secs_f64()
    );

    let export_path = dir.path().join("export.ndjson");
    let start = Instant::now();
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&export_path).unwrap());
        ledger
            .export(
                &ExportRange::all(),
                ExportFormat::Ndjson,
                &Zone::default(),
                &mut out,
            )
            .unwrap();
    }
    let size = std::fs::metadata(&export_path).unwrap().len();
    println!(
        "export of {n} entries: {:.2} s ({:.0} MB)",
        start.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    let start = Instant::now();
    let file =
        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&export_path).unwrap());
    let report = verify(file, &ledger.public_key()).expect("the export verifies");
    assert_eq!(report.entries as usize, n);
    println!(
        "offline verify of {n} entries ({} checkpoints): {:.2} s",
        report.checkpoints,
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let checked = ledger.verify_stored().unwrap();
    println!(
        "verify_stored of {checked} entries in the redb file: {:.2} s",
        start.elapsed().as_secs_f64()
    );
}
