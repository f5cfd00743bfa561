//! A night nurse keeps the record going during a drill, in Debian's headless Chromium:
//! she records the administration of a dose due next, vital signs and a note from the
//! patient page; each shows marked "停電中記録" with who recorded it on the patient page,
//! in the MAR and the vital-signs chart, on the HTML printout and in the node's PDF; she
//! corrects the note, and the first version stays, struck through, beside its correction.
//!
//! Needs `chromium`, `pdftotext` and a Japanese font (fonts-noto-cjk).

mod common;

use akari_accounts::event::Action;
use common::page::{click_to, fill, shot, wait_for};
use common::pdf::{eval, fetch, pages_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_drill_entries_are_recorded_marked_printed_and_corrected() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, _hospital) = common::snapshot(dir.path(), 40);
    let site = common::clinician_site(&reader, dir.path()).await;
    let (page, base, node) = (&site.page, &site.base, &site.node);
    common::log_in_and_declare(page, base, node, "5階西").await;

    // An inpatient with a dose due next (a recording form in the due-next list).
    let census = reader.census().unwrap();
    let mut found = None;
    'wards: for w in &census {
        for b in &w.beds {
            let key = b.patient.key.0.clone();
            page.goto(format!("{base}/patients/{key}")).await.unwrap();
            wait_for(page, "#due-next").await;
            if eval::<bool>(page, "document.querySelector('.dt-dose-form') !== null").await {
                found = Some(key);
                break 'wards;
            }
        }
    }
    let key = found.expect("an inpatient with a dose due next");
    let path = format!("/patients/{key}");

    // The administration of the first due dose.
    click_to(
        page,
        "details.dt-dose summary",
        ".dt-dose-form input[name=dose]",
    )
    .await;
    let medication: String = eval(
        page,
        "document.querySelector('.dt-dose-form .dt-medication').textContent",
    )
    .await;
    fill(page, ".dt-dose-form input[name=site]", "右上腕").await;
    click_to(page, ".dt-dose-form button[type=submit]", "#downtime-ack").await;
    assert!(page.url().await.unwrap().unwrap().contains("recorded=1"));

    // Vital signs and a note.
    click_to(
        page,
        "#downtime-forms details:nth-of-type(1) summary",
        "#dt-vitals-form input[name=temperature]",
    )
    .await;
    fill(page, "#dt-vitals-form input[name=temperature]", "38.6").await;
    fill(page, "#dt-vitals-form input[name=pulse]", "104").await;
    fill(page, "#dt-vitals-form input[name=systolic]", "98").await;
    fill(page, "#dt-vitals-form input[name=diastolic]", "60").await;
    fill(page, "#dt-vitals-form input[name=spo2]", "93").await;
    click_to(page, "#dt-vitals-form button[type=submit]", "#dt-2").await;
    click_to(
        page,
        "#downtime-forms details:nth-of-type(2) summary",
        "#dt-note-form textarea",
    )
    .await;
    fill(
        page,
        "#dt-note-form textarea[name=text]",
        "悪寒あり。主治医に電話報告",
    )
    .await;
    click_to(page, "#dt-note-form button[type=submit]", "#dt-3").await;
    shot(page, "downtime-recorded").await;

    // Marked on the patient page: the list, the MAR and the vital-signs chart.
    let listed: Vec<String> = eval(
        page,
        "[...document.querySelectorAll('tr.downtime-entry')].map(r => r.innerText)",
    )
    .await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    for row in &listed {
        assert!(row.contains("停電中記録"), "{row}");
        assert!(row.contains("灯 花子（看護師・5階西）"), "{row}");
    }
    assert!(listed
        .iter()
        .any(|r| r.contains(&medication) && r.contains("右上腕")));
    let mar: String = eval(
        page,
        "[...document.querySelectorAll('.mar-grid .downtime-dose')].map(e => e.innerText).join('|')",
    )
    .await;
    assert!(
        mar.contains("停電中記録") && mar.contains("灯 花子"),
        "MAR: {mar}"
    );
    let vitals: String = eval(
        page,
        "[...document.querySelectorAll('.vitals-grid tr.downtime-row')].map(e => e.innerText).join('|')",
    )
    .await;
    assert!(
        vitals.contains("38.6") && vitals.contains("98/60"),
        "vitals: {vitals}"
    );
    assert!(vitals.contains("停電中記録"), "vitals: {vitals}");
    // A recorded dose is the last dose in the due-next list.
    let last: String = eval(
        page,
        "[...document.querySelectorAll('.due-row')].map(r => r.innerText).join('|')",
    )
    .await;
    assert!(last.contains("実施"), "due next: {last}");

    // The note corrected: a new entry supersedes it; the first stays, struck through.
    click_to(
        page,
        "#dt-3 + tr details.dt-correct summary",
        "form[data-corrects='3'] textarea",
    )
    .await;
    let cleared: bool = eval(
        page,
        "(() => { const t = document.querySelector(\"form[data-corrects='3'] textarea\"); t.value = ''; return true; })()",
    )
    .await;
    assert!(cleared);
    fill(
        page,
        "form[data-corrects='3'] textarea",
        "悪寒なし。主治医に電話報告",
    )
    .await;
    fill(
        page,
        "form[data-corrects='3'] input[name=reason]",
        "別患者の記載と取り違え",
    )
    .await;
    click_to(page, "form[data-corrects='3'] button[type=submit]", "#dt-4").await;
    let struck: String = eval(page, "document.querySelector('#dt-3 s').textContent").await;
    assert_eq!(struck, "悪寒あり。主治医に電話報告");
    let superseded: String = eval(page, "document.querySelector('#dt-3').innerText").await;
    assert!(superseded.contains("訂正済み → #4"), "{superseded}");
    let correction: String = eval(page, "document.querySelector('#dt-4').innerText").await;
    assert!(
        correction.contains("別患者の記載と取り違え"),
        "{correction}"
    );
    shot(page, "downtime-corrected").await;

    // The HTML printout: every entry, marked, the superseded one struck, no forms.
    page.goto(format!("{base}{path}/print")).await.unwrap();
    wait_for(page, "#dt-4").await;
    let printed: Vec<String> = eval(
        page,
        "[...document.querySelectorAll('tr.downtime-entry')].map(r => r.innerText)",
    )
    .await;
    assert_eq!(printed.len(), 4);
    assert!(eval::<bool>(page, "document.querySelector('#dt-3 s') !== null").await);
    assert!(eval::<bool>(page, "document.querySelector('.dt-form') === null").await);

    // The node's PDF of the patient: the entries, marked, with who recorded them.
    let (pdf, ty) = fetch(page, &format!("{path}/print.pdf")).await;
    assert_eq!(ty, "application/pdf");
    let text = pages_of(&pdf, dir.path(), "downtime-patient").join("\n");
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in ["停電中記録", "灯 花子", "38.6", "訂正済み", "右上腕"] {
        assert!(flat.contains(needle), "the PDF lacks {needle:?}:\n{text}");
    }

    // Four entries, each audited before it was stored; nothing edited or deleted.
    let stored = node.downtime.patient(&key).unwrap();
    assert_eq!(stored.len(), 4);
    let note = stored.iter().find(|l| l.entry.id == 3).unwrap();
    assert_eq!(note.superseded_by, Some(4));
    let seen = node.ledger.seen.lock().unwrap();
    let audited: Vec<_> = seen
        .iter()
        .filter(|e| matches!(e.action, Action::DowntimeRecorded { .. }))
        .collect();
    assert_eq!(audited.len(), 4);
    assert!(audited
        .iter()
        .all(|e| e.patient.as_deref() == Some(key.as_str())));
}
