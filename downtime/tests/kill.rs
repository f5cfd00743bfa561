//! An acknowledged downtime entry survives the process being killed (SIGKILL) at any
//! moment after the acknowledgement: a child process appends entries to a store file and
//! prints each acknowledgement; the test kills it mid-stream and reopens the file.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use akari_downtime::{DowntimeStore, Draft, Note, NoteKind, Person, Plain, Record, Recorder};

const CHILD_ENV: &str = "AKARI_DOWNTIME_KILL_CHILD";

fn draft(n: u64) -> Draft {
    Draft {
        patient: format!("p{}", n % 7),
        subject: akari_downtime::Subject::default(),
        recorder: Recorder {
            account_id: "ER-1".into(),
            session_id: "s1".into(),
            person: Person {
                name: "灯 花子".into(),
                staff_number: "N-1".into(),
                profession: "看護師".into(),
                department: "4東".into(),
            },
            episode: 1,
            drill: false,
        },
        refers_to: chrono::Utc::now(),
        ward: "4東".into(),
        outside_ward: false,
        audit_seq: n,
        supersedes: None,
        record: Record::Note(Note {
            author: NoteKind::Nursing,
            text: format!("観察記録 {n}"),
        }),
    }
}

/// In the child: append entries until killed, acknowledging each on stdout after its
/// commit returned.
fn child(path: &str) {
    let store = DowntimeStore::open(std::path::Path::new(path), Arc::new(Plain)).unwrap();
    for n in 1.. {
        let entry = store.append(draft(n)).unwrap();
        println!("ack {} {}", entry.id, entry.audit_seq);
    }
}

#[test]
fn kill_9_after_acknowledgement_loses_nothing() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("downtime.redb");
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_9_after_acknowledgement_loses_nothing",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(proc.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ack ") {
            let mut parts = rest.split(' ').map(|s| s.parse::<u64>().unwrap());
            acked.push((parts.next().unwrap(), parts.next().unwrap()));
            if acked.len() == 40 {
                // SIGKILL, while the child is in the middle of further appends.
                proc.kill().unwrap();
                break;
            }
        }
    }
    proc.wait().unwrap();
    assert_eq!(acked.len(), 40, "the child acknowledged entries");
    let store = DowntimeStore::open(&path, Arc::new(Plain)).unwrap();
    let stored = store.entries(Some(1)).unwrap();
    for (id, seq) in &acked {
        let e = stored
            .iter()
            .find(|l| l.entry.id == *id)
            .unwrap_or_else(|| panic!("acknowledged entry {id} lost"));
        assert_eq!(e.entry.audit_seq, *seq);
        assert_eq!(
            e.entry.record,
            Record::Note(Note {
                author: NoteKind::Nursing,
                text: format!("観察記録 {seq}")
            })
        );
    }
    // Entries stored after the last acknowledgement read back whole, or not at all.
    assert!(stored.len() >= acked.len());
    assert_eq!(store.unreconciled_total().unwrap(), stored.len() as u64);
}
