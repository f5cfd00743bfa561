//! Group commit, fail-closed errors, clock handling, checkpoints and their publication.

mod ledger_common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use akari_accounts::event::{Action, AuditError, AuditSink, Mode};
use akari_accounts::ledger::{
    verify, Checkpoint, ExportFormat, ExportRange, LedgerConfig, REMOVABLE_FILE_NAME,
};
use akari_accounts::Zone;
use akari_testkit::poll::poll_until;
use ledger_common::*;

/// How long the background writer gets to publish a checkpoint or a status.
const WAIT: Duration = Duration::from_secs(20);

#[test]
fn concurrent_writers_get_distinct_gapless_receipts_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let ledger = Arc::new(open(dir.path(), &k, &LedgerConfig::default()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|i| {
                        let c = clinician(&format!("EMERG-{t}"), &format!("s-{t}"), t);
                        ledger
                            .record(read(
                                at(i),
                                c,
                                &format!("pk-{t}-{i}"),
                                "4-East",
                                Mode::Emergency,
                            ))
                            .unwrap()
                            .sequence()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for t in threads {
        for s in t.join().unwrap() {
            assert!(seqs.insert(s), "sequence {s} given twice");
        }
    }
    assert_eq!(
        seqs.iter().copied().collect::<Vec<_>>(),
        (1..=800).collect::<Vec<_>>()
    );
    assert_eq!(ledger.last_seq().unwrap(), 800);
    assert_eq!(ledger.verify_stored().unwrap(), 800);
    // Every entry carries what was given.
    let mut count = 0;
    ledger
        .scan(
            1..=800,
            |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
                assert_eq!(e.action, Action::PatientRead);
                assert!(e.patient.as_deref().unwrap().starts_with("pk-"));
                assert_eq!(e.client, client());
                assert!(!e.drill);
                count += 1;
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(count, 800);
}

#[test]
fn injected_commit_failure_reaches_every_caller_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let ledger = open(dir.path(), &k, &LedgerConfig::default());
    let _ = ledger.record(mixed_events(1).remove(0)).unwrap();
    let fault = ledger.fault_injector();
    fault.fail_commits(true);
    let err = ledger
        .record(read(
            at(1),
            clinician("EMERG-01", "s", 1),
            "pk-1",
            "4-East",
            Mode::Emergency,
        ))
        .unwrap_err();
    let AuditError::Unavailable(msg) = &err;
    assert!(!msg.contains("pk-1"), "no patient key in the error: {msg}");
    assert!(err.to_string().contains("nothing will be shown"), "{err}");
    assert_eq!(
        ledger.last_seq().unwrap(),
        1,
        "the refused event was not stored"
    );
    fault.fail_commits(false);
    let r = ledger
        .record(read(
            at(2),
            clinician("EMERG-01", "s", 1),
            "pk-2",
            "4-East",
            Mode::Emergency,
        ))
        .unwrap();
    assert_eq!(
        r.sequence(),
        2,
        "no sequence number was used up by the failure"
    );
    assert_eq!(ledger.verify_stored().unwrap(), 2);
    // The stand-alone failing sink fails too.
    assert!(akari_accounts::testing::FailingSink
        .record(mixed_events(1).remove(0))
        .is_err());
}

#[test]
fn a_clock_that_goes_back_keeps_sequence_order_and_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let ledger = open(dir.path(), &k, &LedgerConfig::default());
    let c = clinician("EMERG-01", "s", 1);
    let a = ledger
        .record(read(at(10), c.clone(), "pk-a", "W", Mode::Emergency))
        .unwrap();
    let b = ledger
        .record(read(at(5), c.clone(), "pk-b", "W", Mode::Emergency))
        .unwrap();
    let d = ledger
        .record(read(at(7), c.clone(), "pk-c", "W", Mode::Emergency))
        .unwrap();
    let e = ledger
        .record(read(at(11), c, "pk-d", "W", Mode::Emergency))
        .unwrap();
    assert_eq!(
        (a.sequence(), b.sequence(), d.sequence(), e.sequence()),
        (1, 2, 3, 4)
    );
    let mut seen = Vec::new();
    ledger
        .scan(
            1..=4,
            |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
                seen.push((e.seq, e.time, e.clock_back));
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        seen,
        vec![
            (1, at(10), false),
            (2, at(5), true),
            (3, at(7), true),
            (4, at(11), false)
        ],
        "times recorded as given, in sequence order, back-steps flagged"
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
    let report = verify(&out[..], &k.verifying_key()).unwrap();
    assert_eq!(report.clock_back_entries, 2);
}

#[test]
fn mode_changes_and_entry_counts_produce_signed_checkpoints_that_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let config = LedgerConfig {
        checkpoint_every_entries: 5,
        checkpoint_every_secs: 3600,
        ..LedgerConfig::default()
    };
    {
        let ledger = open(dir.path(), &k, &config);
        assert!(ledger.latest_checkpoint().is_none());
        let _ = ledger
            .record(read(at(0), admin(), "pk", "W", Mode::Standby))
            .unwrap();
        assert!(ledger.latest_checkpoint().is_none());
        let r = ledger
            .record(mode_change(at(1), Mode::Standby, Mode::Drill, "drill"))
            .unwrap();
        let cp = ledger
            .latest_checkpoint()
            .expect("a mode change is checkpointed");
        assert_eq!(cp.size, r.sequence());
        assert!(cp.verify(&k.verifying_key()));
        assert_eq!(cp.head, ledger.head_at(r.sequence()).unwrap());
        for i in 0..5 {
            let _ = ledger
                .record(read(at(2 + i), admin(), "pk", "W", Mode::Drill))
                .unwrap();
        }
        assert_eq!(ledger.latest_checkpoint().unwrap().size, 7);
        // Drill events are flagged.
        ledger
            .scan(
                3..=3,
                |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
                    assert!(e.drill);
                    Ok(())
                },
            )
            .unwrap();
        let _ = ledger
            .record(read(at(9), admin(), "pk", "W", Mode::Drill))
            .unwrap();
        // Dropping the ledger leaves a final checkpoint over everything.
    }
    let ledger = open(dir.path(), &k, &config);
    let cp = ledger.latest_checkpoint().unwrap();
    assert_eq!(cp.size, 8);
    let sizes: Vec<u64> = ledger
        .checkpoints(0..=100)
        .unwrap()
        .iter()
        .map(|c| c.size)
        .collect();
    assert_eq!(sizes, vec![2, 7, 8]);
    let r = ledger
        .record(read(at(10), admin(), "pk", "W", Mode::Drill))
        .unwrap();
    assert_eq!(r.sequence(), 9, "sequence continues after reopening");
    assert_eq!(ledger.verify_stored().unwrap(), 9);
    let text = cp.to_text(&k.verifying_key());
    assert!(text.contains("size 8\n") && text.contains("signature "));
    assert_eq!(Checkpoint::from_text(&text).unwrap(), cp);
}

#[test]
fn a_timed_checkpoint_is_written_to_the_removable_path() {
    let dir = tempfile::tempdir().unwrap();
    let usb = tempfile::tempdir().unwrap();
    let k = key();
    let config = LedgerConfig {
        checkpoint_every_entries: 1_000_000,
        checkpoint_every_secs: 1,
        removable_path: Some(usb.path().to_path_buf()),
        ..LedgerConfig::default()
    };
    let ledger = open(dir.path(), &k, &config);
    let _ = ledger
        .record(read(at(0), admin(), "pk", "W", Mode::Standby))
        .unwrap();
    let cp = poll_until("a timed checkpoint", WAIT, || ledger.latest_checkpoint());
    assert_eq!(cp.size, 1);
    let file = usb.path().join(REMOVABLE_FILE_NAME);
    let text = poll_until("the removable copy", WAIT, || {
        std::fs::read_to_string(&file).ok()
    });
    let copy = Checkpoint::from_text(&text).unwrap();
    assert_eq!(copy, cp);
    assert!(copy.verify(&k.verifying_key()));
    assert_eq!(
        poll_until("status", WAIT, || ledger.publish_status().removable_size),
        1
    );
}

/// Reads one HTTP/1.1 request from `stream`, answers 503 or 200, returns the body.
fn serve_one<S: Read + Write>(mut stream: S, ok: bool) -> Option<Vec<u8>> {
    let mut length = 0usize;
    let body = {
        let mut reader = BufReader::new(&mut stream);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    let status = if ok {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    stream.flush().ok()?;
    Some(body)
}

/// An HTTP server on 127.0.0.1:0 that refuses the first `fail_first` requests (503) and
/// hands the JSON body of each accepted one to a channel. With `tls`, it speaks HTTPS
/// with a fresh self-signed certificate, whose PEM is returned.
fn http_sink(
    fail_first: usize,
    tls: bool,
) -> (
    String,
    Option<String>,
    std::sync::mpsc::Receiver<serde_json::Value>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (scheme, pem, config) = if tls {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
        ("https", Some(ck.cert.pem()), Some(Arc::new(config)))
    } else {
        ("http", None, None)
    };
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            let ok = n >= fail_first;
            let body = match &config {
                Some(config) => {
                    let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    let body = serve_one(&mut tls, ok);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                    body
                }
                None => serve_one(stream, ok),
            };
            if let (true, Some(body)) = (ok, body) {
                if let Ok(v) = serde_json::from_slice(&body) {
                    let _ = tx.send(v);
                }
            }
        }
    });
    (format!("{scheme}://{addr}/checkpoints"), pem, rx)
}

#[test]
fn checkpoints_are_pushed_to_the_remote_and_retried_until_it_accepts() {
    let (url, _, received) = http_sink(1, false);
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let config = LedgerConfig {
        checkpoint_every_entries: 1_000_000,
        remote_url: Some(url),
        ..LedgerConfig::default()
    };
    let ledger = open(dir.path(), &k, &config);
    declare_emergency(&ledger);
    let cp = ledger.latest_checkpoint().unwrap();
    // The first attempt is refused (503); the retry delivers it.
    let body = received
        .recv_timeout(Duration::from_secs(20))
        .expect("pushed after a retry");
    assert_eq!(body["size"], 1);
    let pushed: Checkpoint = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(pushed, cp);
    assert!(pushed.verify(&k.verifying_key()));
    assert_eq!(body["key"], hex::encode(k.verifying_key().as_bytes()));
    assert_eq!(
        poll_until("status", WAIT, || ledger.publish_status().remote_size),
        1
    );
}

#[test]
fn appends_do_not_wait_for_an_unreachable_remote() {
    // A port that was just free: connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let config = LedgerConfig {
        checkpoint_every_entries: 1,
        remote_url: Some(format!("https://127.0.0.1:{port}/cp")),
        ..LedgerConfig::default()
    };
    let ledger = open(dir.path(), &k, &config);
    for i in 0..50 {
        let _ = ledger
            .record(read(at(i), admin(), "pk", "W", Mode::Standby))
            .unwrap();
    }
    assert_eq!(ledger.latest_checkpoint().unwrap().size, 50);
    let status = poll_until("an error report", WAIT, || {
        let s = ledger.publish_status();
        s.last_error.is_some().then_some(s)
    });
    assert!(status.remote_size.is_none());
    assert!(status.remote_pending >= 1);
}

#[test]
fn checkpoints_are_pushed_over_https_to_a_remote_trusted_through_remote_ca_file() {
    let (url, pem, received) = http_sink(0, true);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("remote-ca.pem");
    std::fs::write(&ca, pem.unwrap()).unwrap();
    let k = key();
    let config = LedgerConfig {
        checkpoint_every_entries: 1_000_000,
        remote_url: Some(url),
        remote_ca_file: Some(ca),
        ..LedgerConfig::default()
    };
    let ledger = open(dir.path(), &k, &config);
    let _ = ledger
        .record(mode_change(at(0), Mode::Standby, Mode::Drill, "drill"))
        .unwrap();
    let body = received
        .recv_timeout(Duration::from_secs(20))
        .expect("pushed over TLS");
    let pushed: Checkpoint = serde_json::from_value(body).unwrap();
    assert_eq!(Some(pushed), ledger.latest_checkpoint());
}
