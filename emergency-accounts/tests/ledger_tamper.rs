//! tampering with an export is named precisely by offline verification.

mod ledger_common;

use akari_accounts::event::AuditSink;
use akari_accounts::ledger::{
    verify, ExportFormat, ExportRange, Ledger, LedgerConfig, VerifyError,
};
use akari_accounts::Zone;
use ledger_common::*;

fn config() -> LedgerConfig {
    LedgerConfig {
        checkpoint_every_entries: 10,
        ..LedgerConfig::default()
    }
}

/// A ledger of 45 entries (checkpoints at 1 for the mode change, then every 10) exported
/// whole, as lines.
fn exported() -> (Vec<String>, ed25519_dalek::VerifyingKey) {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let ledger = open(dir.path(), &k, &config());
    for e in mixed_events(45) {
        // One at a time so checkpoints fall at deterministic sizes.
        let _ = ledger.record(e).unwrap();
    }
    let lines = export(&ledger, &ExportRange::all());
    (lines, k.verifying_key())
}

fn export(ledger: &Ledger, range: &ExportRange) -> Vec<String> {
    let mut out = Vec::new();
    ledger
        .export(range, ExportFormat::Ndjson, &Zone::default(), &mut out)
        .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn check(
    lines: &[String],
    key: &ed25519_dalek::VerifyingKey,
) -> Result<akari_accounts::ledger::VerifyReport, VerifyError> {
    let text = lines.join("\n") + "\n";
    verify(text.as_bytes(), key)
}

fn entry_line(lines: &[String], seq: u64) -> usize {
    let needle = format!("\"entry\":{{\"seq\":{seq},");
    lines
        .iter()
        .position(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no entry {seq}"))
}

fn checkpoint_line(lines: &[String], size: u64) -> usize {
    let needle = format!("{{\"type\":\"checkpoint\",\"size\":{size},");
    let alt = format!("\"size\":{size}");
    lines
        .iter()
        .position(|l| {
            l.contains("\"type\":\"checkpoint\"") && (l.starts_with(&needle) || l.contains(&alt))
        })
        .unwrap_or_else(|| panic!("no checkpoint {size}"))
}

#[test]
fn untouched_export_verifies() {
    let (lines, key) = exported();
    let report = check(&lines, &key).expect("an untouched export verifies");
    assert_eq!(report.first_seq, 1);
    assert_eq!(report.last_seq, 45);
    assert_eq!(report.entries, 45);
    assert_eq!(report.last_checkpoint.size, 45);
    assert!(
        report.checkpoints >= 5,
        "checkpoints at 1, 11, 21, 31, 41 and the cover"
    );
}

#[test]
fn one_changed_byte_is_named_as_altered() {
    let (mut lines, key) = exported();
    let i = entry_line(&lines, 17);
    // Change one byte of the patient key / details content: `pk-` → `pj-`, or the ward.
    let line = &lines[i];
    let pos = line.find("Mozilla").expect("user agent in the entry") + 1;
    let mut bytes = line.clone().into_bytes();
    bytes[pos] = b'0';
    lines[i] = String::from_utf8(bytes).unwrap();
    let err = check(&lines, &key).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Altered {
            seq: 17,
            line: i as u64 + 1
        }
    );
    assert!(err.to_string().contains("entry 17 was altered"), "{err}");
}

#[test]
fn a_changed_sequence_number_is_named_as_altered() {
    let (mut lines, key) = exported();
    let i = entry_line(&lines, 23);
    lines[i] = lines[i].replace("\"entry\":{\"seq\":23,", "\"entry\":{\"seq\":24,");
    let err = check(&lines, &key).unwrap_err();
    assert!(matches!(err, VerifyError::Altered { seq: 23, .. }), "{err}");
}

#[test]
fn a_deleted_entry_is_named() {
    let (mut lines, key) = exported();
    let i = entry_line(&lines, 23);
    lines.remove(i);
    let err = check(&lines, &key).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Deleted {
                seq: 23,
                next: 24,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("entry 23 is missing"), "{err}");
}

#[test]
fn two_swapped_entries_are_named_as_reordered() {
    let (mut lines, key) = exported();
    let a = entry_line(&lines, 27);
    let b = entry_line(&lines, 28);
    lines.swap(a, b);
    let err = check(&lines, &key).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Reordered {
                seq: 28,
                before: 27,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("entry 28 appears before entry 27"),
        "{err}"
    );
}

#[test]
fn a_tail_truncated_after_a_checkpoint_is_named() {
    let (mut lines, key) = exported();
    let i = checkpoint_line(&lines, 31);
    lines.truncate(i + 1);
    let err = check(&lines, &key).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Truncated {
                expected: 45,
                ends_at: 31,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("ends at entry 31"), "{err}");
}

#[test]
fn entries_removed_before_a_kept_final_checkpoint_are_named_as_truncated() {
    let (mut lines, key) = exported();
    // Drop entries 43..=45 but keep the last checkpoint and the end line.
    let start = entry_line(&lines, 43);
    let cp = checkpoint_line(&lines, 45);
    lines.drain(start..cp);
    let err = check(&lines, &key).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Truncated {
                expected: 45,
                ends_at: 42,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn recomputed_heads_are_caught_by_the_next_checkpoint() {
    // A forger who alters entry 15 and recomputes every following `head` field.
    let (mut lines, key) = exported();
    let i = entry_line(&lines, 15);
    lines[i] = lines[i].replace("Mozilla", "Mozillb");
    let mut head = {
        let prev = &lines[entry_line(&lines, 14)];
        let v: serde_json::Value = serde_json::from_str(prev).unwrap();
        akari_accounts::ledger::Hash::from_hex(v["head"].as_str().unwrap()).unwrap()
    };
    for seq in 15..=45 {
        let j = entry_line(&lines, seq);
        let raw_start = lines[j].find("\"entry\":").unwrap() + "\"entry\":".len();
        let raw = &lines[j][raw_start..lines[j].len() - 1];
        head = akari_accounts::ledger::entry::chain(
            &head,
            &akari_accounts::ledger::entry::leaf_hash(raw.as_bytes()),
        );
        let v: serde_json::Value = serde_json::from_str(&lines[j]).unwrap();
        let old = v["head"].as_str().unwrap().to_string();
        lines[j] = lines[j].replace(&old, &head.to_hex());
    }
    let err = check(&lines, &key).unwrap_err();
    assert!(
        matches!(err, VerifyError::CheckpointMismatch { size: 21, .. }),
        "{err}"
    );
}

#[test]
fn a_wrong_key_or_forged_checkpoint_signature_is_refused() {
    let (mut lines, key) = exported();
    let other = ledger_common::key().verifying_key();
    // The header names the node's key, so a wrong key is named as such.
    assert!(matches!(
        check(&lines, &other).unwrap_err(),
        VerifyError::NodeKeyMismatch { .. }
    ));
    let i = checkpoint_line(&lines, 21);
    let mut v: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
    v["time"] = serde_json::json!("2030-01-01T00:00:00Z");
    lines[i] = v.to_string();
    let err = check(&lines, &key).unwrap_err();
    assert!(
        matches!(err, VerifyError::BadCheckpointSignature { size: 21, .. }),
        "{err}"
    );
}

#[test]
fn a_time_range_export_verifies_on_its_own_and_tampering_is_still_named() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let ledger = open(dir.path(), &k, &config());
    for e in mixed_events(45) {
        let _ = ledger.record(e).unwrap();
    }
    // Minutes 12..=24 → entries 13..=25 (event i is at minute i-1).
    let range = ExportRange {
        from: Some(at(12)),
        to: Some(at(25)),
    };
    let mut lines = export(&ledger, &range);
    let report = check(&lines, &k.verifying_key()).expect("a range export verifies");
    assert_eq!(
        (report.first_seq, report.last_seq, report.entries),
        (13, 25, 13)
    );
    assert!(report.last_checkpoint.size >= 25);
    assert!(
        lines.iter().any(|l| l.contains("\"type\":\"link\"")),
        "links carry the chain to the covering checkpoint"
    );
    // Patient keys beyond the range do not leave the node.
    assert!(!lines.iter().any(|l| l.contains("pk-00027")));
    let i = entry_line(&lines, 20);
    lines.remove(i);
    assert!(matches!(
        check(&lines, &k.verifying_key()).unwrap_err(),
        VerifyError::Deleted { seq: 20, .. }
    ));
}

#[test]
fn an_empty_file_or_foreign_file_is_not_an_export() {
    let k = key().verifying_key();
    assert!(matches!(
        verify(&b""[..], &k),
        Err(VerifyError::NotAnExport(_))
    ));
    assert!(matches!(
        verify(&b"{\"resourceType\":\"Bundle\"}\n"[..], &k),
        Err(VerifyError::NotAnExport(_))
    ));
}

#[test]
fn an_empty_ledger_exports_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let ledger = open(dir.path(), &k, &config());
    let lines = export(&ledger, &ExportRange::all());
    let report = check(&lines, &k.verifying_key()).unwrap();
    assert_eq!((report.entries, report.last_checkpoint.size), (0, 0));
    // A range that selects nothing from a non-empty ledger verifies too.
    for e in mixed_events(5) {
        let _ = ledger.record(e).unwrap();
    }
    let lines = export(
        &ledger,
        &ExportRange {
            from: Some(at(100)),
            to: None,
        },
    );
    let report = check(&lines, &k.verifying_key()).unwrap();
    assert_eq!(report.entries, 0);
}
