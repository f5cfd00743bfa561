//! The sources in `akari_sync::source` against the test FHIR server (and a directory):
//! REST paging, incremental and deletions; Bulk $export with Retry-After polling, _since,
//! _type, Group level and deletions; NDJSON directories; retries, budgets, dropped
//! connections, and redirects that must not carry credentials.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use akari_sync::source::{self, Change, Config, PullKind, SourceError, SourceKind};
use akari_testkit::server::{Fault, FhirServer, ServerAuth, ServerOptions};
use akari_testkit::synth::{self, DeltaConfig};
use chrono::Utc;
use common::*;

fn set<T: Ord + Clone>(v: &[T]) -> BTreeSet<T> {
    v.iter().cloned().collect()
}

#[test]
fn rest_full_pull_pages_through_every_type() {
    let h = hospital(120, 1);
    let server = FhirServer::with_resources(ServerOptions::default(), h.resources());
    let src = source::build(&http_config(SourceKind::FhirRest, &server.base_url())).unwrap();
    let (changes, summary) = collect(src.as_ref(), PullKind::Full).unwrap();
    let want: Vec<(String, String)> = h
        .resources()
        .map(|r| (r.resource_type.to_string(), r.id))
        .collect();
    let got = upsert_keys(&changes);
    assert_eq!(got.len(), want.len(), "no duplicates, nothing missing");
    assert_eq!(set(&got), set(&want));
    assert_eq!(summary.resources, want.len() as u64);
    assert!(summary.bytes > 0);
    assert!(summary.high_water.is_some());
    // Paged: Observation alone needs many pages of 50.
    let pages = server
        .requests()
        .iter()
        .filter(|r| r.path == "/fhir/Observation")
        .count();
    assert!(pages > 5, "Observation was fetched in {pages} pages");
    assert!(server
        .requests()
        .iter()
        .any(|r| r.query.contains("_count=50")));
}

#[test]
fn rest_incremental_pull_gets_exactly_the_delta_including_deletions() {
    let mut h = hospital(150, 2);
    let server = FhirServer::with_resources(ServerOptions::default(), h.resources());
    let src = source::build(&http_config(SourceKind::FhirRest, &server.base_url())).unwrap();
    let (_, first) = collect(src.as_ref(), PullKind::Full).unwrap();
    let hw = first.high_water.unwrap();

    let delta = h.apply_delta(&DeltaConfig::one_percent(9, synth::jst_now()));
    server.apply(&delta.changes);
    let (changes, summary) = collect(
        src.as_ref(),
        PullKind::Since(hw - chrono::Duration::seconds(5)),
    )
    .unwrap();
    let (want_up, want_del) = delta_keys(&delta.changes);
    assert!(!want_del.is_empty() && !want_up.is_empty());
    assert_eq!(set(&upsert_keys(&changes)), set(&want_up));
    assert_eq!(set(&delete_keys(&changes)), set(&want_del));
    assert_eq!(summary.deletions as usize, want_del.len());
    // Deletions come before upserts.
    let first_upsert = changes.iter().position(|c| matches!(c, Change::Upsert(_)));
    let last_delete = changes
        .iter()
        .rposition(|c| matches!(c, Change::Delete { .. }));
    assert!(last_delete < first_upsert);
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/_history") && r.query.contains("_since=")));
    assert!(server
        .requests()
        .iter()
        .any(|r| r.query.contains("_lastUpdated=ge")));
}

#[test]
fn bulk_export_polls_with_retry_after_and_streams_every_resource() {
    let h = hospital(100, 3);
    let server = FhirServer::with_resources(
        ServerOptions {
            bulk_polls_before_ready: 2,
            bulk_retry_after_secs: 1,
            ..ServerOptions::default()
        },
        h.resources(),
    );
    let src = source::build(&http_config(SourceKind::Bulk, &server.base_url())).unwrap();
    let started = std::time::Instant::now();
    let (changes, summary) = collect(src.as_ref(), PullKind::Full).unwrap();
    let want: Vec<(String, String)> = h
        .resources()
        .map(|r| (r.resource_type.to_string(), r.id))
        .collect();
    let got = upsert_keys(&changes);
    assert_eq!(got.len(), want.len());
    assert_eq!(set(&got), set(&want));
    assert!(
        summary.high_water.is_some(),
        "transactionTime is the high-water mark"
    );
    let reqs = server.requests();
    let kick = reqs
        .iter()
        .find(|r| r.path == "/fhir/$export")
        .expect("kick-off");
    assert_eq!(kick.prefer.as_deref(), Some("respond-async"));
    assert!(kick.query.contains("_type="));
    let polls = reqs
        .iter()
        .filter(|r| r.path.starts_with("/bulk-status/") && r.method == "GET")
        .count();
    assert_eq!(polls, 3, "two 202s then the manifest");
    // Retry-After: 1 was honoured twice.
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        reqs.iter().any(|r| r.method == "DELETE"),
        "the export is cleaned up"
    );
}

#[test]
fn bulk_incremental_uses_since_and_delivers_deletions() {
    let mut h = hospital(120, 4);
    let server = FhirServer::with_resources(
        ServerOptions {
            bulk_polls_before_ready: 0,
            ..ServerOptions::default()
        },
        h.resources(),
    );
    let src = source::build(&http_config(SourceKind::Bulk, &server.base_url())).unwrap();
    let (_, first) = collect(src.as_ref(), PullKind::Full).unwrap();
    let delta = h.apply_delta(&DeltaConfig::one_percent(4, synth::jst_now()));
    server.apply(&delta.changes);
    let (changes, _) = collect(
        src.as_ref(),
        PullKind::Since(first.high_water.unwrap() - chrono::Duration::seconds(5)),
    )
    .unwrap();
    let (want_up, want_del) = delta_keys(&delta.changes);
    assert_eq!(set(&upsert_keys(&changes)), set(&want_up));
    assert_eq!(set(&delete_keys(&changes)), set(&want_del));
    assert!(server
        .requests()
        .iter()
        .any(|r| r.query.contains("_since=")));
}

/// A server whose incremental export manifests list no deleted files (as at least one
/// real server does): in the default mode the pull says deletions were not reported (the
/// engine then says they wait for the next full pull); with `bulk_deletions = "history"`
/// they come from `_history`.
#[test]
fn bulk_deletions_the_manifest_does_not_list_come_from_history_or_are_reported_missing() {
    let mut h = hospital(120, 4);
    let server = FhirServer::with_resources(
        ServerOptions {
            bulk_polls_before_ready: 0,
            bulk_omit_deleted: true,
            ..ServerOptions::default()
        },
        h.resources(),
    );
    let manifest_only = source::build(&http_config(SourceKind::Bulk, &server.base_url())).unwrap();
    let mut cfg = http_config(SourceKind::Bulk, &server.base_url());
    cfg.bulk_deletions = source::BulkDeletions::History;
    let with_history = source::build(&cfg).unwrap();
    let (_, first) = collect(manifest_only.as_ref(), PullKind::Full).unwrap();
    assert!(
        !first.deletions_unreported,
        "a full pull needs no deletions"
    );
    let delta = h.apply_delta(&DeltaConfig::one_percent(4, synth::jst_now()));
    server.apply(&delta.changes);
    let (want_up, want_del) = delta_keys(&delta.changes);
    assert!(!want_del.is_empty(), "the delta deletes something");
    let since = PullKind::Since(first.high_water.unwrap() - chrono::Duration::seconds(5));

    let (changes, summary) = collect(manifest_only.as_ref(), since).unwrap();
    assert!(delete_keys(&changes).is_empty());
    assert!(summary.deletions_unreported);
    assert_eq!(set(&upsert_keys(&changes)), set(&want_up));

    let (changes, summary) = collect(with_history.as_ref(), since).unwrap();
    assert_eq!(set(&delete_keys(&changes)), set(&want_del));
    assert_eq!(set(&upsert_keys(&changes)), set(&want_up));
    assert!(!summary.deletions_unreported);
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/_history") && r.query.contains("_since=")));
}

#[test]
fn bulk_group_export_and_type_filter() {
    let h = hospital(60, 5);
    let server = FhirServer::with_resources(
        ServerOptions {
            bulk_polls_before_ready: 0,
            ..ServerOptions::default()
        },
        h.resources(),
    );
    let members: Vec<String> = h.patients.iter().take(10).map(|p| p.id.clone()).collect();
    server.set_group("ward-3e", members.clone());
    let mut cfg = http_config(SourceKind::Bulk, &server.base_url());
    cfg.group_id = Some("ward-3e".into());
    cfg.types = vec!["Patient".into(), "AllergyIntolerance".into()];
    let src = source::build(&cfg).unwrap();
    let (changes, _) = collect(src.as_ref(), PullKind::Full).unwrap();
    let got = upsert_keys(&changes);
    let want: BTreeSet<(String, String)> = h
        .patients
        .iter()
        .take(10)
        .flat_map(|p| synth::resources_of(p, &h.cfg))
        .filter(|r| r.resource_type == "Patient" || r.resource_type == "AllergyIntolerance")
        .map(|r| (r.resource_type.to_string(), r.id))
        .collect();
    assert_eq!(set(&got), want);
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path == "/fhir/Group/ward-3e/$export"
            && r.query.contains("_type=Patient%2CAllergyIntolerance")));
}

#[test]
fn bulk_malformed_lines_are_delivered_for_the_engine_to_reject() {
    let h = hospital(20, 6);
    let server = FhirServer::with_resources(
        ServerOptions {
            bulk_polls_before_ready: 0,
            ..ServerOptions::default()
        },
        h.resources(),
    );
    server.set_malformed_ndjson_lines(2);
    let src = source::build(&http_config(SourceKind::Bulk, &server.base_url())).unwrap();
    let (changes, _) = collect(src.as_ref(), PullKind::Full).unwrap();
    let bad = changes
        .iter()
        .filter(|c| matches!(c, Change::Upsert(b) if serde_json::from_slice::<serde_json::Value>(b).is_err()))
        .count();
    assert!(bad >= 2, "{bad}");
    assert_eq!(upsert_keys(&changes).len(), h.resources().count());
}

#[test]
fn ndjson_directory_full_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = synth::SynthConfig {
        patients: 80,
        ..synth::SynthConfig::default()
    };
    let stats = synth::write_ndjson_dir(&cfg, dir.path()).unwrap();
    let src = source::build(&Config {
        kind: SourceKind::NdjsonDir,
        dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    })
    .unwrap();
    let (changes, summary) = collect(src.as_ref(), PullKind::Full).unwrap();
    assert_eq!(upsert_keys(&changes).len() as u64, stats.resources);
    assert_eq!(summary.bytes, stats.bytes);

    // A delta directory: upserts per type plus deleted.ndjson.
    let ddir = tempfile::tempdir().unwrap();
    let rep = synth::write_delta_ndjson_dir(
        &cfg,
        &DeltaConfig::one_percent(2, synth::jst_now()),
        ddir.path(),
    )
    .unwrap();
    // A mixed-type file and a blank line are fine too.
    std::fs::write(
        ddir.path().join("mixed.ndjson"),
        "\n{\"resourceType\":\"Flag\",\"id\":\"f1\"}\r\n{\"resourceType\":\"Patient\",\"id\":\"p1\"}",
    )
    .unwrap();
    let src = source::build(&Config {
        kind: SourceKind::NdjsonDir,
        dir: Some(ddir.path().to_path_buf()),
        ..Config::default()
    })
    .unwrap();
    let (changes, summary) = collect(src.as_ref(), PullKind::Since(Utc::now())).unwrap();
    assert_eq!(summary.deletions, rep.deleted);
    let dels = delete_keys(&changes);
    assert_eq!(dels.len() as u64, rep.deleted);
    assert!(
        matches!(changes[0], Change::Delete { .. }),
        "deletions first"
    );
    let ups = upsert_keys(&changes);
    assert!(ups.contains(&("Flag".into(), "f1".into())));
    assert!(ups.contains(&("Patient".into(), "p1".into())));
}

#[test]
fn ndjson_directory_errors_are_clear() {
    let src = source::build(&Config {
        kind: SourceKind::NdjsonDir,
        dir: Some("/nonexistent/akari-media".into()),
        ..Config::default()
    })
    .unwrap();
    let e = collect(src.as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Io { .. }), "{e}");
    assert!(e.to_string().contains("mounted"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let src = source::build(&Config {
        kind: SourceKind::NdjsonDir,
        dir: Some(empty.path().to_path_buf()),
        ..Config::default()
    })
    .unwrap();
    let e = collect(src.as_ref(), PullKind::Full).unwrap_err();
    assert!(e.to_string().contains("no .ndjson files"), "{e}");
    // A corrupt deletion record stops the pull rather than silently keeping data.
    write(empty.path(), "deleted.ndjson", "{not json\n");
    let e = collect(src.as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Protocol(_)), "{e}");
}

#[test]
fn retries_429_with_retry_after_and_500s_then_succeeds() {
    let h = hospital(30, 7);
    let server = FhirServer::with_resources(ServerOptions::default(), h.resources());
    server.inject(
        Some("/fhir/Observation"),
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        1,
    );
    server.inject(
        Some("/fhir/Condition"),
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        2,
    );
    let src = source::build(&http_config(SourceKind::FhirRest, &server.base_url())).unwrap();
    let started = std::time::Instant::now();
    let (changes, _) = collect(src.as_ref(), PullKind::Full).unwrap();
    assert_eq!(upsert_keys(&changes).len(), h.resources().count());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
    let cond = server
        .requests()
        .iter()
        .filter(|r| r.path == "/fhir/Condition")
        .count();
    assert!(cond >= 3, "two 503s then success: {cond}");
}

#[test]
fn dropped_connection_mid_page_is_retried_without_duplicates() {
    let h = hospital(40, 8);
    let server = FhirServer::with_resources(ServerOptions::default(), h.resources());
    server.inject(Some("/fhir/Observation"), Fault::DropMidBody, 1);
    let src = source::build(&http_config(SourceKind::FhirRest, &server.base_url())).unwrap();
    let (changes, _) = collect(src.as_ref(), PullKind::Full).unwrap();
    let got = upsert_keys(&changes);
    assert_eq!(got.len(), h.resources().count());
    assert_eq!(set(&got).len(), got.len());

    // Bulk: a file download that breaks off resumes after the lines already delivered.
    let server = FhirServer::with_resources(
        ServerOptions {
            bulk_polls_before_ready: 0,
            ..ServerOptions::default()
        },
        h.resources(),
    );
    server.inject(Some("/bulk-files/"), Fault::DropMidBody, 1);
    let src = source::build(&http_config(SourceKind::Bulk, &server.base_url())).unwrap();
    let (changes, _) = collect(src.as_ref(), PullKind::Full).unwrap();
    let got = upsert_keys(&changes);
    assert_eq!(
        got.len(),
        h.resources().count(),
        "no duplicates after the resume"
    );
    assert_eq!(set(&got).len(), got.len());
}

#[test]
fn persistent_failures_exhaust_the_budget_with_a_clear_error() {
    let h = hospital(10, 9);
    let server = FhirServer::with_resources(ServerOptions::default(), h.resources());
    server.inject(
        None,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        u64::MAX,
    );
    let src = source::build(&http_config(SourceKind::FhirRest, &server.base_url())).unwrap();
    let e = collect(src.as_ref(), PullKind::Full).unwrap_err();
    match &e {
        SourceError::Http { status, detail } => {
            assert_eq!(*status, 500);
            assert!(detail.contains("gave up after 4 attempts"), "{detail}");
        }
        other => panic!("unexpected {other}"),
    }
    // Many failing requests in one pull hit the per-pull budget.
    server.clear_faults();
    server.inject(
        None,
        Fault::Status {
            status: 502,
            retry_after: None,
        },
        u64::MAX,
    );
    let mut cfg = http_config(SourceKind::FhirRest, &server.base_url());
    cfg.max_attempts = 100;
    cfg.retry_budget = 3;
    let e = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(e.to_string().contains("retry budget of 3"), "{e}");

    // Dropped connections on every try: a Connection error.
    server.clear_faults();
    server.inject(None, Fault::DropMidBody, u64::MAX);
    let e = collect(src.as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Connection(_)), "{e}");
    assert!(e.to_string().contains("gave up"), "{e}");
}

#[test]
fn slow_responses_time_out() {
    let h = hospital(5, 10);
    let server = FhirServer::with_resources(ServerOptions::default(), h.resources());
    server.inject(None, Fault::Slow(Duration::from_secs(3)), u64::MAX);
    let mut cfg = http_config(SourceKind::FhirRest, &server.base_url());
    cfg.timeout_secs = 1;
    cfg.max_attempts = 2;
    let e = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Connection(_)), "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
}

#[test]
fn redirect_to_another_host_does_not_carry_credentials() {
    let h = hospital(10, 11);
    // The other host serves the same data without auth and records what it receives.
    let other = FhirServer::with_resources(ServerOptions::default(), h.resources());
    let server = FhirServer::with_resources(
        ServerOptions {
            auth: ServerAuth::Bearer("s3cret-token".into()),
            ..ServerOptions::default()
        },
        h.resources(),
    );
    let origin = other.base_url().trim_end_matches("/fhir").to_string();
    server.inject(Some("/fhir/Patient"), Fault::RedirectTo(origin), 1);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = http_config(SourceKind::FhirRest, &server.base_url());
    cfg.auth.kind = source::AuthKind::Bearer;
    cfg.auth.token_file = Some(write(dir.path(), "token", "s3cret-token\n"));
    let (changes, _) = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap();
    assert_eq!(upsert_keys(&changes).len(), h.resources().count());
    let at_other = other.requests();
    assert!(!at_other.is_empty(), "the redirect was followed");
    assert!(
        at_other.iter().all(|r| r.authorization.is_none()),
        "credentials leaked to another host"
    );
    // The real server got the token on every request.
    assert!(server
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer s3cret-token")));
}

#[test]
fn plain_http_is_refused_except_to_this_machine_or_when_allowed() {
    // A remote plain-http base URL is refused when the source is built, naming the setting.
    let mut cfg = http_config(SourceKind::FhirRest, "http://ehr.hospital.example/fhir");
    let e = source::build(&cfg).err().expect("refused");
    assert!(matches!(e, SourceError::Config(_)), "{e}");
    assert!(
        e.to_string().contains("allow_plain_http")
            && e.to_string().contains("ehr.hospital.example"),
        "{e}"
    );
    for kind in [SourceKind::FhirRest, SourceKind::Bulk] {
        cfg.kind = kind;
        assert!(source::build(&cfg).is_err(), "{kind:?}");
    }
    // The explicit opt-in, and https, are accepted.
    cfg.allow_plain_http = true;
    source::build(&cfg).expect("allowed");
    source::build(&http_config(
        SourceKind::FhirRest,
        "https://ehr.hospital.example/fhir",
    ))
    .expect("https");

    // Loopback is this machine: the test server is reached over plain http. A redirect
    // from it to plain http elsewhere is refused before any connection is made.
    let h = hospital(10, 13);
    let server = FhirServer::with_resources(ServerOptions::default(), h.resources());
    let src = source::build(&http_config(SourceKind::FhirRest, &server.base_url())).unwrap();
    collect(src.as_ref(), PullKind::Full).expect("loopback over plain http");
    server.inject(
        Some("/fhir/Patient"),
        Fault::RedirectTo("http://ehr.hospital.example".into()),
        1,
    );
    let e = collect(src.as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Protocol(_)), "{e}");
    assert!(
        e.to_string().contains("plain http://") && e.to_string().contains("allow_plain_http"),
        "{e}"
    );
}

#[test]
fn cancel_stops_a_pull() {
    let h = hospital(20, 12);
    let server = FhirServer::with_resources(ServerOptions::default(), h.resources());
    let src = source::build(&http_config(SourceKind::FhirRest, &server.base_url())).unwrap();
    let cancel = akari_sync::engine::CancellationToken::new();
    let mut n = 0;
    let e = src
        .pull(PullKind::Full, &cancel, &mut |_| {
            n += 1;
            if n == 10 {
                cancel.cancel();
            }
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(e, SourceError::Cancelled), "{e}");
    // And a sink that stops makes the pull return Stopped.
    let e = src
        .pull(
            PullKind::Full,
            &akari_sync::engine::CancellationToken::new(),
            &mut |_| Err(akari_sync::engine::SinkStopped),
        )
        .unwrap_err();
    assert!(matches!(e, SourceError::Stopped), "{e}");
}
