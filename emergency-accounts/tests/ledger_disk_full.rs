//! Fault suite: the disk fills up while the ledger is appending.
//!
//! Simulated with a redb storage backend over the real ledger file whose writes and file
//! growth fail with `StorageFull` ("No space left on device") while a switch is on — the
//! same error the kernel returns, at the same place (redb's writes), without needing a
//! small filesystem or root in CI. Proves: every caller gets an error (fail closed: no
//! receipt, so no data may be shown), nothing acknowledged is lost, and once space is back
//! the same running ledger works again (its writer reopens the file, which redb requires
//! after a failed write) with the chain and every checkpoint verifying, also after a
//! restart.

mod ledger_common;

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{Error, ErrorKind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use akari_accounts::event::{AuditError, AuditSink, Mode};
use akari_accounts::ledger::{
    verify, ExportFormat, ExportRange, Ledger, LedgerConfig, LedgerError,
};
use akari_accounts::SystemClock;
use akari_accounts::Zone;
use ed25519_dalek::SigningKey;
use ledger_common::*;
use redb::backends::FileBackend;

#[derive(Debug)]
struct FillableDisk {
    inner: FileBackend,
    full: Arc<AtomicBool>,
}

fn no_space() -> Error {
    Error::new(ErrorKind::StorageFull, "No space left on device")
}

impl redb::StorageBackend for FillableDisk {
    fn len(&self) -> Result<u64, Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), Error> {
        if self.full.load(Ordering::SeqCst) && len > self.inner.len()? {
            return Err(no_space());
        }
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), Error> {
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), Error> {
        if self.full.load(Ordering::SeqCst) {
            return Err(no_space());
        }
        self.inner.write(offset, data)
    }
}

fn open_on(path: &Path, k: &SigningKey, full: Arc<AtomicBool>) -> Ledger {
    let path = path.to_path_buf();
    let open = move || -> Result<redb::Database, redb::DatabaseError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let backend = FillableDisk {
            inner: FileBackend::new(file)?,
            full: full.clone(),
        };
        redb::Database::builder().create_with_backend(backend)
    };
    let config = LedgerConfig {
        checkpoint_every_entries: 10,
        ..LedgerConfig::default()
    };
    Ledger::with_reopen(Box::new(open), k.clone(), &config, Arc::new(SystemClock)).unwrap()
}

fn patients(ledger: &Ledger) -> Vec<String> {
    let mut out = Vec::new();
    ledger
        .scan(1..=u64::MAX, |e, _| -> Result<(), LedgerError> {
            out.extend(e.patient);
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn disk_full_fails_closed_loses_nothing_acknowledged_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let k = key();
    let full = Arc::new(AtomicBool::new(false));
    let c = clinician("EMERG-01", "sess-1", 1);
    let mut acked = Vec::new();
    {
        let ledger = Arc::new(open_on(&path, &k, full.clone()));
        for i in 0..25 {
            let p = format!("pk-before-{i:02}");
            let _receipt = ledger
                .record(read(at(i), c.clone(), &p, "W", Mode::Emergency))
                .expect("space left: acknowledged");
            acked.push(p);
        }

        // The disk fills up: concurrent viewers all get an error, none a receipt.
        full.store(true, Ordering::SeqCst);
        let refused: Vec<_> = (0..4)
            .map(|t| {
                let (ledger, c) = (ledger.clone(), c.clone());
                std::thread::spawn(move || {
                    (0..5)
                        .map(|i| {
                            let p = format!("pk-full-{t}-{i}");
                            ledger.record(read(at(100), c.clone(), &p, "W", Mode::Emergency))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(refused.len(), 20);
        for r in &refused {
            let err = r.as_ref().expect_err("no receipt while the disk is full");
            let AuditError::Unavailable(message) = err;
            assert!(!message.contains("pk-"), "no entry content in: {message}");
        }
        // Still full: the writer's attempts to reopen the file fail too; still refused.
        assert!(ledger
            .record(read(
                at(101),
                c.clone(),
                "pk-still-full",
                "W",
                Mode::Emergency
            ))
            .is_err());

        // Space comes back: the same running ledger reopens its file and works again.
        full.store(false, Ordering::SeqCst);
        for i in 0..15 {
            let p = format!("pk-back-{i:02}");
            let _receipt = ledger
                .record(read(at(150 + i), c.clone(), &p, "W", Mode::Emergency))
                .expect("space is back: acknowledged without a restart");
            acked.push(p);
        }
        assert_eq!(ledger.verify_stored().unwrap(), acked.len() as u64);
        assert_eq!(patients(&ledger), acked);
    }

    // After a restart: every acknowledged entry is there, nothing refused is, the chain
    // and checkpoints verify, and appends work.
    let ledger = open_on(&path, &k, full.clone());
    assert_eq!(ledger.verify_stored().unwrap(), acked.len() as u64);
    assert_eq!(patients(&ledger), acked);
    for i in 0..15 {
        let p = format!("pk-after-{i:02}");
        let _receipt = ledger
            .record(read(at(200 + i), c.clone(), &p, "W", Mode::Emergency))
            .expect("space is back: acknowledged");
        acked.push(p);
    }
    assert_eq!(patients(&ledger), acked);
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
    assert_eq!(report.entries, acked.len() as u64);
    let unique: BTreeSet<_> = acked.iter().collect();
    assert_eq!(unique.len(), acked.len());
}
