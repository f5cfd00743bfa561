//! Recording downtime entries through the pages, with the real ledger and accounts: the
//! audit entry comes first, then the stored entry, then the acknowledgement; a ledger that
//! cannot write refuses the entry and nothing is stored; only a declared clinician in an
//! emergency or drill may record; a patient outside the account's wards is flagged.

use akari_accounts::event::{Action, Client};
use akari_accounts::ledger::details;
use akari_accounts::{Console, WardScope};
use axum::http::StatusCode;

use crate::pages::test_node::*;

/// The value of the first `name="field" value="…"` after `from` in `body`.
fn field(body: &str, from: usize, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    let at = body[from..]
        .find(&pat)
        .unwrap_or_else(|| panic!("no {name}"))
        + from
        + pat.len();
    body[at..at + body[at..].find('"').unwrap()].to_owned()
}

/// A patient of the busiest ward with a dose due (a recording form for it), and the
/// prescription of that form.
async fn patient_with_due_dose(node: &Node, b: &mut Browser) -> (String, String) {
    let (_, keys) = busiest_ward(node);
    for key in keys {
        let page = b.get(&format!("/patients/{key}")).await;
        assert_eq!(page.status, StatusCode::OK);
        if let Some(at) = page.body.find("dt-dose-form") {
            return (key, field(&page.body, at, "prescription_id"));
        }
    }
    panic!("no patient of the busiest ward has a dose due");
}

fn downtime_actions(node: &Node) -> Vec<(Action, Option<String>, u64)> {
    entries_after(node, 0)
        .into_iter()
        .filter(|e| matches!(e.action, Action::DowntimeRecorded { .. }))
        .map(|e| (e.action, e.patient, e.seq))
        .collect()
}

#[tokio::test]
async fn entries_are_audited_stored_then_shown_marked_and_corrections_supersede() {
    let node = node_of(20);
    let mut nurse = drill_clinician(&node).await;
    let (key, prescription) = patient_with_due_dose(&node, &mut nurse).await;
    let path = format!("/patients/{key}");
    let csrf = nurse.get(&path).await.csrf();
    let post = format!("{path}/downtime");

    let r = nurse
        .post(
            &post,
            &[
                ("csrf", &csrf),
                ("kind", "administration"),
                ("prescription_id", &prescription),
                ("scheduled", ""),
                ("outcome", "given"),
                ("dose", "1錠"),
                ("route", "経口"),
                ("note", "<script>x</script>"),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{path}?recorded=1#dt-1").as_str()),
        "{}",
        r.body
    );
    let r = nurse
        .post(
            &post,
            &[
                ("csrf", &csrf),
                ("kind", "vitals"),
                ("temperature", "38.4"),
                ("pulse", "96"),
                ("systolic", "132"),
                ("diastolic", "78"),
                ("spo2", "95"),
                ("consciousness", "JCS 0"),
            ],
        )
        .await;
    assert!(r.location.unwrap().contains("recorded=2"));
    let r = nurse
        .post(
            &post,
            &[
                ("csrf", &csrf),
                ("kind", "note"),
                ("author", "nursing"),
                ("text", "夕食全量摂取"),
            ],
        )
        .await;
    assert!(r.location.unwrap().contains("recorded=3"));
    // The note corrected: a new entry supersedes it with a reason.
    let r = nurse
        .post(
            &post,
            &[
                ("csrf", &csrf),
                ("kind", "note"),
                ("author", "nursing"),
                ("text", "夕食半量摂取"),
                ("supersedes", "3"),
                ("reason", "記載誤り"),
            ],
        )
        .await;
    assert!(r.location.unwrap().contains("recorded=4"));
    // A second correction of the same entry is refused: correct the correction.
    let r = nurse
        .post(
            &post,
            &[
                ("csrf", &csrf),
                ("kind", "note"),
                ("author", "nursing"),
                ("text", "x"),
                ("supersedes", "3"),
                ("reason", "y"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("already corrected by entry 4"),
        "{}",
        r.body
    );

    // Each was audited before it was stored: the stored entry names its ledger entry.
    let audited = downtime_actions(&node);
    assert_eq!(audited.len(), 4);
    let stored = node.downtime.patient(&key).unwrap();
    assert_eq!(stored.len(), 4, "nothing is deleted");
    for (l, (action, patient, seq)) in stored.iter().zip(&audited) {
        assert_eq!(l.entry.audit_seq, *seq);
        assert_eq!(patient.as_deref(), Some(key.as_str()));
        let Action::DowntimeRecorded { record, .. } = action else {
            unreachable!()
        };
        assert_eq!(record, l.entry.record.kind());
        assert_eq!(l.entry.recorder.person.name, "灯 花子");
        assert!(l.entry.recorder.drill);
    }
    assert_eq!(
        audited[3].0,
        Action::DowntimeRecorded {
            record: "note".into(),
            supersedes: Some(3)
        }
    );
    assert_eq!(stored[2].superseded_by, Some(4));

    let page = nurse.get(&format!("{path}?recorded=4")).await;
    let body = &page.body;
    assert!(body.contains("id=\"downtime-ack\""), "acknowledged");
    for id in 1..=4 {
        assert!(
            body.contains(&format!("id=\"dt-{id}\"")),
            "entry {id} listed"
        );
    }
    assert!(body.contains("停電中記録"));
    assert!(body.contains("灯 花子（看護師・5階西）"), "who recorded it");
    assert!(
        body.contains("<s>夕食全量摂取</s>"),
        "superseded, struck through"
    );
    assert!(body.contains("訂正済み → #4"));
    assert!(body.contains("記載誤り"));
    assert!(body.contains("&#60;script&#62;"), "escaped");
    assert!(!body.contains("<script>x"));
    // Merged into the MAR and the vital-signs chart, marked.
    assert!(body.contains("downtime-dose"), "MAR cell marked");
    assert!(body.contains("class=\"downtime-row\""), "vitals row marked");
    assert!(body.contains("38.4"));
    // The printout shows them too, without forms.
    let print = nurse.get(&format!("{path}/print")).await;
    assert!(print.body.contains("id=\"dt-4\""));
    assert!(print.body.contains("<s>夕食全量摂取</s>"));
    assert!(!print.body.contains("dt-form"));
}

#[tokio::test]
async fn with_the_ledger_unwritable_an_entry_is_refused_and_nothing_is_stored() {
    let node = node();
    let mut nurse = drill_clinician(&node).await;
    let (_, keys) = busiest_ward(&node);
    let path = format!("/patients/{}", keys[0]);
    let csrf = nurse.get(&path).await.csrf();
    node.ledger.fault_injector().fail_commits(true);
    let r = nurse
        .post(
            &format!("{path}/downtime"),
            &[
                ("csrf", &csrf),
                ("kind", "note"),
                ("author", "nursing"),
                ("text", "転倒なし"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body.contains("何も保存されていません"), "{}", r.body);
    assert!(!r.body.contains("転倒なし"));
    node.ledger.fault_injector().fail_commits(false);
    assert!(node.downtime.entries(None).unwrap().is_empty());
    assert!(downtime_actions(&node).is_empty());
}

/// Posts a note for `keys[0]` with `csrf`; the response.
async fn note(b: &mut Browser, key: &str, csrf: &str) -> Page {
    b.post(
        &format!("/patients/{key}/downtime"),
        &[
            ("csrf", csrf),
            ("kind", "note"),
            ("author", "nursing"),
            ("text", "観察"),
        ],
    )
    .await
}

#[tokio::test]
async fn only_a_declared_clinician_in_an_episode_records_and_other_wards_are_flagged() {
    let node = node();
    let (ward, keys) = busiest_ward(&node);
    let console = Console::new("it").capability();
    // An account for another ward: allowed, flagged in the entry and the ledger.
    let (account_id, credential) = scoped_account(&node, WardScope::Wards(vec!["ICU-X".into()]));
    let (other_id, other_credential) = console_account(&node);
    node.accounts
        .start_drill(&console, "drill", &Client::default())
        .unwrap();
    // Logged in but not declared: refused.
    let mut undeclared = Browser::new(&node);
    let csrf = undeclared.get("/login").await.csrf();
    undeclared
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("account_id", &other_id),
                ("credential", &other_credential),
            ],
        )
        .await;
    let csrf = undeclared.get("/declare").await.csrf();
    let r = note(&mut undeclared, &keys[0], &csrf).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let mut nurse = clinician(&node, &account_id, &credential).await;
    let csrf = nurse.get(&format!("/patients/{}", keys[0])).await.csrf();
    let r = note(&mut nurse, &keys[0], &csrf).await;
    assert!(r.location.is_some(), "{}", r.body);
    let stored = node.downtime.patient(&keys[0]).unwrap();
    assert!(stored[0].entry.outside_ward);
    assert_eq!(stored[0].entry.ward, ward);
    let e = entries_after(&node, 0)
        .into_iter()
        .find(|e| matches!(e.action, Action::DowntimeRecorded { .. }))
        .unwrap();
    assert_eq!(
        details::get(e.details.as_deref().unwrap(), details::WARD).as_deref(),
        Some(ward.as_str()),
        "the review compares the ward with the account's scope"
    );
    let page = nurse.get(&format!("/patients/{}", keys[0])).await;
    assert!(page.body.contains("dt-outside"), "flagged on the page");

    // Revoked: refused, nothing stored.
    node.accounts
        .revoke(&console, &account_id, "lost sheet", &Client::default())
        .unwrap();
    let r = note(&mut nurse, &keys[1], &csrf).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Recovery, then standby: refused.
    let mut second = clinician(&node, &other_id, &other_credential).await;
    let csrf = second.get(&format!("/patients/{}", keys[0])).await.csrf();
    node.accounts
        .end_episode(&console, "over", &Client::default())
        .unwrap();
    assert_eq!(
        note(&mut second, &keys[1], &csrf).await.status,
        StatusCode::FORBIDDEN
    );
    node.accounts
        .resume_standby(&console, "back", &Client::default())
        .unwrap();
    assert_eq!(
        note(&mut second, &keys[1], &csrf).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(node.downtime.entries(None).unwrap().len(), 1);
    assert!(node.downtime.patient(&keys[1]).unwrap().is_empty());
}

#[tokio::test]
async fn after_recovery_the_admin_page_counts_lists_and_reconciles_recorded_first() {
    let node = node();
    let mut nurse = drill_clinician(&node).await;
    let (_, keys) = busiest_ward(&node);
    let csrf = nurse.get(&format!("/patients/{}", keys[0])).await.csrf();
    assert!(note(&mut nurse, &keys[0], &csrf).await.location.is_some());
    assert!(note(&mut nurse, &keys[1], &csrf).await.location.is_some());
    let episode = node.downtime.entries(None).unwrap()[0]
        .entry
        .recorder
        .episode;
    node.accounts
        .end_episode(
            &Console::new("it").capability(),
            "drill over",
            &Client::default(),
        )
        .unwrap();

    let mut it = admin(&node).await;
    let page = it.get("/admin").await;
    assert!(page.body.contains("id=\"downtime-panel\""), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<tr data-episode=\"{episode}\"><td>#{episode}</td><td class=\"num downtime-open abnormal\">2</td>")),
        "{}",
        page.body
    );
    let csrf = page.csrf();

    // The reconciliation list, recorded as an export first; cells safe for spreadsheets.
    let csv = it
        .get(&format!("/admin/downtime/{episode}/reconciliation.csv"))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.body.lines().count(), 3, "{}", csv.body);
    assert!(csv.body.contains("観察") && csv.body.contains("灯 花子"));

    // Not confirmed: nothing marked. A ledger that cannot write: nothing marked.
    let path = "/admin/downtime/reconcile";
    let episode_text = episode.to_string();
    let form = [("csrf", csrf.as_str()), ("episode", episode_text.as_str())];
    assert_eq!(it.post(path, &form).await.status, StatusCode::BAD_REQUEST);
    let confirmed = [
        ("csrf", csrf.as_str()),
        ("episode", episode_text.as_str()),
        ("confirm", "1"),
    ];
    node.ledger.fault_injector().fail_commits(true);
    assert_eq!(
        it.post(path, &confirmed).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    node.ledger.fault_injector().fail_commits(false);
    assert_eq!(node.downtime.unreconciled_total().unwrap(), 2);
    let r = it.post(path, &confirmed).await;
    assert!(r.location.is_some(), "{}", r.body);
    assert_eq!(node.downtime.unreconciled_total().unwrap(), 0);
    let marks: Vec<Action> = entries_after(&node, 0)
        .into_iter()
        .map(|e| e.action)
        .filter(|a| {
            matches!(
                a,
                Action::DowntimeReconciled { .. } | Action::DowntimeExported { .. }
            )
        })
        .collect();
    assert_eq!(marks.len(), 2, "{marks:?}");
    let page = it.get("/admin").await;
    assert!(page.body.contains("<td class=\"num downtime-open\">0</td>"));
}

/// A ward printout lists each patient's downtime entries, and its element ids stay unique
/// (the list is repeated per patient).
#[tokio::test]
async fn a_ward_printout_repeats_the_downtime_list_with_unique_ids() {
    let node = node();
    let mut nurse = drill_clinician(&node).await;
    let (ward, keys) = busiest_ward(&node);
    let csrf = nurse.get(&format!("/patients/{}", keys[0])).await.csrf();
    assert!(note(&mut nurse, &keys[0], &csrf).await.location.is_some());
    assert!(note(&mut nurse, &keys[1], &csrf).await.location.is_some());

    let page = nurse
        .get(&format!("/wards/{}/print", urlencode(&ward)))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.body.matches("<section class=\"downtime\"").count(),
        2,
        "{}",
        page.body
    );
    let mut seen = std::collections::BTreeSet::new();
    for part in page.body.split(" id=\"").skip(1) {
        let id = &part[..part.find('"').unwrap()];
        assert!(seen.insert(id.to_owned()), "id {id:?} repeated");
    }
    // The patient page keeps its anchor for the forms' way back.
    let patient = nurse.get(&format!("/patients/{}", keys[0])).await;
    assert!(patient
        .body
        .contains("<section class=\"downtime\" id=\"downtime\">"));
}

/// The admin page hands over an episode's signed export as one zip archive and the
/// reconciliation PDF, each recorded first; the archive verifies offline as it is, and a
/// changed archive does not.
#[tokio::test]
async fn the_admin_page_downloads_the_signed_export_as_one_archive() {
    let node = node();
    let mut nurse = drill_clinician(&node).await;
    let (_, keys) = busiest_ward(&node);
    let csrf = nurse.get(&format!("/patients/{}", keys[0])).await.csrf();
    assert!(note(&mut nurse, &keys[0], &csrf).await.location.is_some());
    assert!(note(&mut nurse, &keys[1], &csrf).await.location.is_some());
    let episode = node.downtime.entries(None).unwrap()[0]
        .entry
        .recorder
        .episode;
    node.accounts
        .end_episode(
            &Console::new("it").capability(),
            "drill over",
            &Client::default(),
        )
        .unwrap();
    let mut it = admin(&node).await;
    let page = it.get("/admin").await;
    let zip_path = format!("/admin/downtime/{episode}/export.zip");
    assert!(page.body.contains(&zip_path), "{}", page.body);

    // A ledger that cannot write: nothing leaves the node.
    let seq = node.ledger.last_seq().unwrap();
    node.ledger.fault_injector().fail_commits(true);
    assert_eq!(
        it.get(&zip_path).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    node.ledger.fault_injector().fail_commits(false);

    let archive = it.get(&zip_path).await;
    assert_eq!(archive.status, StatusCode::OK);
    let key = node.ledger.public_key();
    let manifest = akari_downtime::sign::verify_zip(&archive.bytes, &key).unwrap();
    let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fhir-001.json",
            "fhir-002.json",
            "reconciliation.csv",
            "reconciliation.pdf"
        ]
    );
    assert_eq!(manifest.episode, Some(episode));
    // Any changed byte fails the check.
    for at in [archive.bytes.len() / 3, archive.bytes.len() / 2] {
        let mut tampered = archive.bytes.clone();
        tampered[at] ^= 0x20;
        assert!(akari_downtime::sign::verify_zip(&tampered, &key).is_err());
    }
    // The command verifies the file as it is.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.zip");
    std::fs::write(&file, &archive.bytes).unwrap();
    assert!(akari_downtime::sign::verify_path(&file, &key).is_ok());

    let pdf = it
        .get(&format!("/admin/downtime/{episode}/reconciliation.pdf"))
        .await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert!(pdf.bytes.starts_with(b"%PDF"));

    let exports: Vec<_> = entries_after(&node, seq)
        .into_iter()
        .filter_map(|e| match e.action {
            Action::DowntimeExported { episode, format } => Some((episode, format)),
            _ => None,
        })
        .collect();
    assert_eq!(
        exports,
        [
            (Some(episode), "fhir+csv+pdf (zip)".to_owned()),
            (Some(episode), "pdf".to_owned())
        ]
    );
}

/// A reconciliation larger than one ledger entry may list is written as several entries,
/// each within the bound, in one durable commit, before anything is marked; the review and
/// the FHIR form of the ledger still read them.
#[tokio::test]
async fn a_large_reconciliation_is_several_bounded_entries_in_one_commit() {
    use akari_accounts::ledger::bounds::MAX_RECONCILED_ENTRIES;
    let node = node();
    let mut nurse = drill_clinician(&node).await;
    let (_, keys) = busiest_ward(&node);
    let csrf = nurse.get(&format!("/patients/{}", keys[0])).await.csrf();
    assert!(note(&mut nurse, &keys[0], &csrf).await.location.is_some());
    let first = node.downtime.entries(None).unwrap()[0].entry.clone();
    let total = 2 * MAX_RECONCILED_ENTRIES + 3;
    for _ in 1..total {
        node.downtime
            .append(akari_downtime::Draft {
                patient: first.patient.clone(),
                subject: first.subject.clone(),
                recorder: first.recorder.clone(),
                refers_to: first.refers_to,
                ward: first.ward.clone(),
                outside_ward: first.outside_ward,
                audit_seq: first.audit_seq,
                supersedes: None,
                record: first.record.clone(),
            })
            .unwrap();
    }
    let episode = first.recorder.episode;
    node.accounts
        .end_episode(
            &Console::new("it").capability(),
            "drill over",
            &Client::default(),
        )
        .unwrap();

    let mut it = admin(&node).await;
    let csrf = it.get("/admin").await.csrf();
    let episode_text = episode.to_string();
    let confirmed = [
        ("csrf", csrf.as_str()),
        ("episode", episode_text.as_str()),
        ("confirm", "1"),
    ];
    // A ledger that cannot write: no entry, nothing marked.
    let seq = node.ledger.last_seq().unwrap();
    node.ledger.fault_injector().fail_commits(true);
    assert_eq!(
        it.post("/admin/downtime/reconcile", &confirmed)
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    node.ledger.fault_injector().fail_commits(false);
    assert_eq!(node.ledger.last_seq().unwrap(), seq);
    assert_eq!(node.downtime.unreconciled_total().unwrap(), total as u64);

    let commits = node.ledger.durable_commits();
    let r = it.post("/admin/downtime/reconcile", &confirmed).await;
    assert!(r.location.is_some(), "{}", r.body);
    assert_eq!(
        node.ledger.durable_commits() - commits,
        1,
        "every reconciliation entry in one durable commit"
    );
    assert_eq!(node.downtime.unreconciled_total().unwrap(), 0);
    let written: Vec<_> = entries_after(&node, seq)
        .into_iter()
        .filter(|e| matches!(e.action, Action::DowntimeReconciled { .. }))
        .collect();
    assert_eq!(written.len(), total.div_ceil(MAX_RECONCILED_ENTRIES));
    let mut listed = Vec::new();
    for e in &written {
        let Action::DowntimeReconciled { entries } = &e.action else {
            unreachable!()
        };
        assert!(entries.len() <= MAX_RECONCILED_ENTRIES, "{}", entries.len());
        listed.extend_from_slice(entries);
        // Each entry's FHIR AuditEvent says how many it lists.
        let fhir = akari_accounts::ledger::fhir::audit_event(e, &Default::default());
        assert!(
            fhir.to_string()
                .contains(&format!("{} downtime entries", entries.len())),
            "{fhir}"
        );
    }
    let mut expected = node.downtime.entry_ids(Some(episode)).unwrap();
    expected.sort();
    listed.sort();
    assert_eq!(listed, expected, "every entry listed exactly once");
    // Every entry is marked with the ledger entry that lists it.
    for l in node.downtime.entries(Some(episode)).unwrap() {
        let mark = l.reconciled.expect("marked");
        let by = written.iter().find(|e| e.seq == mark.audit_seq).unwrap();
        let Action::DowntimeReconciled { entries } = &by.action else {
            unreachable!()
        };
        assert!(entries.contains(&l.entry.id));
    }
    // The review still reads the ledger.
    let review = it.get("/admin/review").await;
    assert_eq!(review.status, StatusCode::OK);
    assert!(!akari_accounts::review::episodes(&node.ledger)
        .unwrap()
        .is_empty());
}

/// The export directory: a FHIR Bundle per patient, the reconciliation list as CSV and as
/// a PDF by ward and patient (corrected entries marked not to be entered, a box to tick),
/// and a signed manifest that verifies with the node's public key.
#[tokio::test]
async fn the_export_holds_bundles_and_the_reconciliation_list_signed() {
    let node = node();
    let mut nurse = drill_clinician(&node).await;
    let (_, keys) = busiest_ward(&node);
    let csrf = nurse.get(&format!("/patients/{}", keys[0])).await.csrf();
    assert!(note(&mut nurse, &keys[0], &csrf).await.location.is_some());
    assert!(note(&mut nurse, &keys[1], &csrf).await.location.is_some());
    let r = nurse
        .post(
            &format!("/patients/{}/downtime", keys[0]),
            &[
                ("csrf", csrf.as_str()),
                ("kind", "note"),
                ("author", "nursing"),
                ("text", "=HYPERLINK(\"x\")"),
                ("supersedes", "1"),
                ("reason", "記載誤り"),
            ],
        )
        .await;
    assert!(r.location.is_some(), "{}", r.body);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let font = crate::pages::discovered_print_font();
    let options = crate::downtime_export::ExportOptions {
        episode: None,
        node: "node-1".into(),
        zone: akari_accounts::Zone::default(),
        lang: crate::i18n::Lang::Ja,
        font: &font,
        signer: &key,
        by: "console:it".into(),
    };
    let report = crate::downtime_export::export(&node.downtime, &options, &out).unwrap();
    assert_eq!((report.patients, report.entries), (2, 3));
    assert!(report.pdf_skipped.is_none(), "{:?}", report.pdf_skipped);
    let manifest = akari_downtime::sign::verify_dir(&out, &key.verifying_key()).unwrap();
    let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fhir-001.json",
            "fhir-002.json",
            "reconciliation.csv",
            "reconciliation.pdf"
        ]
    );
    // A second export into the same directory is refused: nothing is overwritten.
    assert!(crate::downtime_export::export(&node.downtime, &options, &out).is_err());

    let csv = std::fs::read_to_string(out.join("reconciliation.csv")).unwrap();
    assert!(csv.contains("'=HYPERLINK"), "formula neutralised: {csv}");
    assert!(csv.contains("入力しない"), "{csv}");
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(out.join("reconciliation.pdf"))
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed: scripts/test installs it");
    let text = String::from_utf8_lossy(&text.stdout);
    // ("入力しない" may wrap inside its cell.)
    for needle in ["照合リスト", "灯 花子", "訂正済み", "入力しな", "確認"] {
        assert!(text.contains(needle), "the PDF lacks {needle:?}:\n{text}");
    }
}
