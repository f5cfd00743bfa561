//! The review that names patients, through the router with the real ledger and snapshot:
//! names shown only after the resolution is recorded (with who, which keys and why), a
//! patient looked up from a search to every session that saw them (a search-result
//! appearance included), the episode's CSV and its sign-off.

use akari_accounts::event::{Action, Actor};
use akari_accounts::ledger::LedgerEntry;
use axum::http::StatusCode;

use super::tests::end_episode;
use crate::pages::test_node::*;
use crate::viewer::{PatientSummary, Snapshot};

fn last_of(node: &Node, after: u64, pred: impl Fn(&Action) -> bool) -> Option<LedgerEntry> {
    entries_after(node, after)
        .into_iter()
        .filter(|e| pred(&e.action))
        .last()
}

/// The text of a PDF, as `pdftotext -layout` reads it back.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("review.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The episode's report in `format`, with names: the resolution, then the export, are
/// recorded before it is returned.
async fn named_report(a: &mut Browser, node: &Node, csrf: &str, format: &str) -> Page {
    let before = head(node);
    let r = a
        .post(
            "/admin/review/1/report",
            &[
                ("csrf", csrf),
                ("format", format),
                ("purpose", "委員会報告"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after: Vec<Action> = entries_after(node, before)
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        matches!(after[0], Action::ReviewResolved { .. }),
        "{after:?}"
    );
    let recorded = format!("review-{format}");
    assert!(
        matches!(&after[1], Action::AuditExported { format } if *format == recorded),
        "{after:?}"
    );
    r
}

fn head(node: &Node) -> u64 {
    entries_after(node, 0).last().map_or(0, |e| e.seq)
}

#[tokio::test]
async fn a_reviewer_resolves_names_looks_up_a_patient_exports_and_signs_off_all_audited() {
    let node = node_of(30);
    let listed: Vec<PatientSummary> = Snapshot::wards(&node.reader)
        .unwrap()
        .iter()
        .flat_map(|w| Snapshot::census(&node.reader, w).unwrap())
        .collect();
    let named: Vec<&PatientSummary> = listed
        .iter()
        .filter(|p| p.patient.hospital_id.is_some() && p.patient.name_kanji.is_some())
        .collect();
    let (opened, only_listed) = (named[0], named[1]);
    let name = |p: &PatientSummary| p.patient.name_kanji.clone().unwrap();

    let (account_id, credential) = console_account(&node);
    let mut a = admin(&node).await;
    let csrf = a.get("/admin").await.csrf();
    a.change_mode(&csrf, "drill", "個人情報レビュー訓練").await;
    let mut nurse = clinician(&node, &account_id, &credential).await;
    // A clinician has no way into the review's names.
    let r = nurse.get("/admin/review/patient").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let c = nurse.get("/search").await.csrf();
    // The ID with a hyphen in it (the search ignores hyphens): listed, not opened, as the
    // exact ID would be (scan-to-open).
    let id = only_listed.patient.hospital_id.clone().unwrap();
    let id = format!("{}-{}", &id[..4], &id[4..]);
    let r = nurse.post("/search", &[("csrf", &c), ("q", &id)]).await;
    assert!(r.body.contains(&name(only_listed)), "{}", r.body);
    let r = nurse.get(&format!("/patients/{}", opened.key.0)).await;
    assert_eq!(r.status, StatusCode::OK);
    end_episode(&mut a, &csrf).await;

    let episode = "1";
    let page = a.get(&format!("/admin/review/{episode}")).await;
    assert!(!page.body.contains(&name(opened)), "no names until asked");

    // Names: a purpose is required, and the resolution is recorded before they are shown.
    let before = head(&node);
    let r = a
        .post(
            &format!("/admin/review/{episode}/names"),
            &[("csrf", &csrf), ("purpose", " ")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.body.contains(&name(opened)));
    assert_eq!(head(&node), before, "nothing shown, nothing recorded");
    let r = a
        .post(
            &format!("/admin/review/{episode}/names"),
            &[("csrf", &csrf), ("purpose", "苦情対応 2026-12")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains(&name(opened)), "{}", r.body);
    assert!(
        r.body.contains(&name(only_listed)),
        "listed patients named too"
    );
    let resolved = last_of(&node, before, |a| {
        matches!(a, Action::ReviewResolved { .. })
    })
    .expect("the resolution is in the ledger");
    assert_eq!(
        resolved.actor,
        Actor::Admin {
            admin_id: "alice".into()
        }
    );
    let Action::ReviewResolved { keys, purpose } = &resolved.action else {
        unreachable!()
    };
    assert_eq!(purpose, "苦情対応 2026-12");
    assert!(keys.contains(&opened.key.0) && keys.contains(&only_listed.key.0));
    let text = serde_json::to_string(&resolved).unwrap();
    assert!(
        !text.contains(&name(opened)),
        "the ledger holds keys, not names"
    );

    // From a patient: the search lists them (recorded), the choice lists the sessions that
    // saw them, a search-result appearance included (recorded with the patient's key).
    let before = head(&node);
    let r = a
        .post(
            "/admin/review/patient",
            &[
                ("csrf", &csrf),
                ("query", &id),
                ("purpose", "本人からの開示請求"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains(&name(only_listed)), "{}", r.body);
    let found = last_of(&node, before, |a| {
        matches!(a, Action::ReviewResolved { .. })
    })
    .unwrap();
    assert!(
        matches!(&found.action, Action::ReviewResolved { keys, .. } if keys == std::slice::from_ref(&only_listed.key.0))
    );
    let r = a
        .post(
            "/admin/review/patient",
            &[
                ("csrf", &csrf),
                ("key", &only_listed.key.0),
                ("purpose", "本人からの開示請求"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("検索結果に表示"), "{}", r.body);
    assert!(r.body.contains(&account_id) && r.body.contains("灯 花子"));
    let lookup = last_of(&node, before, |a| {
        matches!(a, Action::ReviewPatientLookup { .. })
    })
    .expect("the lookup is in the ledger");
    assert_eq!(lookup.patient.as_deref(), Some(only_listed.key.0.as_str()));

    // Sign-off: "needs checking" needs a comment; recorded as a ledger entry.
    let r = a
        .post(
            &format!("/admin/review/{episode}/sign-off"),
            &[("csrf", &csrf), ("verdict", "needs_check"), ("comment", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = a
        .post(
            &format!("/admin/review/{episode}/sign-off"),
            &[
                ("csrf", &csrf),
                ("verdict", "needs_check"),
                ("comment", "=HYPERLINK(\"http://example.invalid\")"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/admin/review/1"), "{}", r.body);
    let signed = last_of(&node, 0, |a| matches!(a, Action::ReviewSignOff { .. })).unwrap();
    assert!(matches!(
        &signed.action,
        Action::ReviewSignOff { episode: 1, verdict, .. } if verdict == "needs_check"
    ));
    let page = a.get("/admin/review/1").await;
    assert!(page.body.contains("要確認"), "{}", page.body);

    // The CSV: named (resolution recorded) and the export recorded, formulas neutralised.
    let r = named_report(&mut a, &node, &csrf, "csv").await;
    assert!(r.content_type.starts_with("text/csv"));
    assert!(r.disposition.unwrap().contains("akari-review-episode1-"));
    assert!(r.body.contains(&name(opened)), "{}", r.body);
    assert!(r.body.contains("needs checking"));
    assert!(r.body.contains("'=HYPERLINK"), "{}", r.body);
    // Without a purpose: keys only, no resolution.
    let before = head(&node);
    let r = a
        .post(
            "/admin/review/1/report",
            &[("csrf", &csrf), ("format", "csv")],
        )
        .await;
    assert!(r.body.contains(&opened.key.0) && !r.body.contains(&name(opened)));
    assert!(last_of(&node, before, |a| matches!(
        a,
        Action::ReviewResolved { .. }
    ))
    .is_none());

    // The printable PDF of the same report, through the node's PDF crate; recorded first.
    let r = named_report(&mut a, &node, &csrf, "pdf").await;
    assert_eq!(r.content_type, "application/pdf");
    assert!(r.disposition.unwrap().ends_with(".pdf\""));
    assert!(r.bytes.starts_with(b"%PDF-"));
    let text = pdf_text(&r.bytes);
    assert!(text.contains(&name(opened)), "{text}");
    assert!(
        text.contains("要確認") && text.contains("1 / 1 ページ"),
        "{text}"
    );
}
