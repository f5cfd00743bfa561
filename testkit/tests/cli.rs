//! The `akari-synth` command: writes the hospital and a delta, and explains bad input.

use std::process::Command;

#[test]
fn akari_synth_writes_ndjson_and_a_delta() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hospital");
    let delta = dir.path().join("delta");
    let st = Command::new(env!("CARGO_BIN_EXE_akari-synth"))
        .args([
            "--patients",
            "40",
            "--seed",
            "5",
            "--now",
            "2026-11-21T09:00:00+09:00",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--delta-out")
        .arg(&delta)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let patients = std::fs::read_to_string(out.join("Patient.ndjson")).unwrap();
    assert_eq!(patients.lines().count(), 40);
    assert!(delta.join("deleted.ndjson").exists());
    // Same seed, same bytes.
    let again = dir.path().join("again");
    let st = Command::new(env!("CARGO_BIN_EXE_akari-synth"))
        .args([
            "--patients",
            "40",
            "--seed",
            "5",
            "--now",
            "2026-11-21T09:00:00+09:00",
        ])
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert!(st.status.success());
    assert_eq!(
        std::fs::read(out.join("Observation.ndjson")).unwrap(),
        std::fs::read(again.join("Observation.ndjson")).unwrap()
    );
}

#[test]
fn akari_synth_explains_a_bad_time() {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_akari-synth"))
        .args(["--now", "yesterday"])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(err.contains("RFC 3339"), "{err}");
}
