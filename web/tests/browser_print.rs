//! A night nurse's printouts, in Debian's headless Chromium over CDP: the doses due next
//! on the patient page, the print and PDF buttons on patient and ward pages, and paper
//! that says who the patient is on every page — the browser's own print (Chromium's
//! printToPDF of the print page) and the node's PDFs (a patient print and the ward MAR
//! packet), each page's text read back with `pdftotext` (poppler-utils).
//!
//! Needs `chromium`, `pdftotext` and a Japanese font (fonts-noto-cjk).

mod common;

use akari_sync::model::PatientRecord;
use chromiumoxide::cdp::browser_protocol::page::PrintToPdfParams;
use common::page::{click_to, shot, text, wait_for, wait_until};
use common::pdf::{eval, fetch, pages_of};

/// "X / Y" (or "X/Y", as pdftotext may close up the margin box's spaces) on the page.
fn page_number(flat: &str, number: usize, total: usize) -> bool {
    flat.replace(" / ", "/")
        .contains(&format!("{number}/{total}"))
}

/// Every page carries the patient's identity, the mode, the data time, "X / Y", the
/// account and the declared person.
fn assert_identity_on_every_page(pages: &[String], r: &PatientRecord, account: &str, what: &str) {
    let p = &r.patient;
    let total = pages.len();
    for (i, page) in pages.iter().enumerate() {
        let flat: String = page.split_whitespace().collect::<Vec<_>>().join(" ");
        for needle in [
            p.name_kanji.as_deref().unwrap(),
            p.name_kana.as_deref().unwrap(),
            p.hospital_id.as_deref().unwrap(),
            &p.birth_date.unwrap().to_string(),
            "訓練",
            "データ時刻",
            account,
            "灯 花子",
        ] {
            assert!(
                flat.contains(needle),
                "{what}: page {} of {total} lacks {needle:?}:\n{page}",
                i + 1
            );
        }
        assert!(
            page_number(&flat, i + 1, total),
            "{what}: page {} lacks its number:\n{page}",
            i + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_next_print_buttons_and_identity_on_every_printed_page() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, _hospital) = common::snapshot(dir.path(), 150);
    let common::Site {
        node,
        base,
        browser: _browser,
        page,
    } = common::clinician_site(&reader, dir.path()).await;
    // The print button opens the browser's dialog; headless, count the calls instead.
    page.evaluate_on_new_document(
        "window.print = function () { window.__printed = (window.__printed || 0) + 1; };",
    )
    .await
    .unwrap();

    // The ward whose patient has the longest record (the most prescriptions and
    // documents: a print that runs over several pages), with a clean name.
    let census = reader.census().unwrap();
    let (ward, patient) = census
        .iter()
        .flat_map(|w| {
            w.beds.iter().filter_map(|b| {
                let r = reader.patient(&b.patient.key).unwrap()?;
                let clean = !r.patient.name_kanji.as_deref()?.contains('<')
                    && !r.patient.name_kana.as_deref()?.contains('<');
                let size = r.prescriptions.len() * 4
                    + r.documents
                        .iter()
                        .map(|d| d.text.len() / 200)
                        .sum::<usize>()
                    + r.labs.len();
                clean.then(|| (size, w.ward.clone(), r))
            })
        })
        .max_by_key(|(size, _, _)| *size)
        .map(|(_, w, r)| (w, r))
        .expect("the synthetic hospital has inpatients");
    assert!(
        patient
            .prescriptions
            .iter()
            .any(|p| p.status == "active" && !p.as_needed),
        "the chosen patient takes regular medication"
    );

    common::log_in_and_declare(&page, &base, &node, &ward).await;

    // 1. The patient page: the doses due next near the top, each with a time or a
    //    reason, and the last dose given beside it.
    page.goto(format!("{base}/patients/{}", patient.key.0))
        .await
        .unwrap();
    wait_for(&page, "#due-next").await;
    shot(&page, "print-01-due-next").await;
    let order: Vec<String> = eval(
        &page,
        "[...document.querySelectorAll('.patient-sheet > section')].map(s => s.className.split(' ')[0])",
    )
    .await;
    let due_at = order.iter().position(|c| c == "due-next").unwrap();
    let rx_at = order.iter().position(|c| c == "prescriptions").unwrap();
    assert!(
        due_at < rx_at,
        "due next comes before the prescriptions: {order:?}"
    );
    let rows: Vec<[String; 3]> = eval(
        &page,
        "[...document.querySelectorAll('#due-next tr.due-row')].map(r => [r.cells[2].textContent, r.cells[3].textContent, r.cells[4].textContent])",
    )
    .await;
    assert!(!rows.is_empty(), "{}", text(&page, "#due-next").await);
    for [timing, due, _] in &rows {
        assert!(
            !due.trim().is_empty(),
            "every row has times or says why: {timing}"
        );
    }
    // Meal timings land on the default meal times; an 8-hourly one counts from the
    // last recorded dose; nothing is placed on the clock without a basis.
    for [timing, due, last] in &rows {
        let times: Vec<&str> = due
            .split_whitespace()
            .filter(|t| t.len() == 5 && t.as_bytes()[2] == b':')
            .collect();
        if timing.contains("毎食後") {
            assert!(
                times
                    .iter()
                    .all(|t| ["08:00", "12:00", "18:00"].contains(t)),
                "{timing}: {due}"
            );
            assert_eq!(times.len(), 3, "three meals in 24 h: {due}");
        }
        if timing.contains("就寝前") {
            assert_eq!(times, ["21:00"], "{timing}: {due}");
        }
        if timing.contains("時間毎") && last.trim().is_empty() {
            assert!(
                times.is_empty(),
                "no interval without a dose to count from: {due}"
            );
        }
    }
    assert!(
        rows.iter().any(|[_, _, last]| last.contains("実施")),
        "the last dose given is beside its drug: {rows:?}"
    );

    // 2. The print button and the PDF button, on the patient page and its print page.
    assert!(
        eval::<bool>(&page, "!!document.querySelector('#pdf-patient') && document.querySelector('#pdf-patient').offsetParent !== null").await
    );
    click_to(&page, "#print-patient", "#print-button").await;
    let visible: bool = eval(
        &page,
        "(() => { const b = document.querySelector('#print-button'); const r = b.getBoundingClientRect(); return r.width > 40 && r.height > 20 && r.top < innerHeight; })()",
    )
    .await;
    assert!(visible, "the print button is visible without scrolling");
    // (The print page has loaded, so its script has wired the button: `click_to`.)
    wait_for(&page, "#print-button")
        .await
        .click()
        .await
        .unwrap();
    wait_until(&page, "(window.__printed || 0) > 0").await;
    let printed: u32 = eval(&page, "window.__printed || 0").await;
    assert_eq!(printed, 1, "the button opens the print dialog");
    shot(&page, "print-02-patient-print").await;
    let pdf_href: String = eval(
        &page,
        "document.querySelector('#pdf-button').getAttribute('href')",
    )
    .await;
    assert_eq!(pdf_href, format!("/patients/{}/print.pdf", patient.key.0));

    // 3. The browser's own print of one patient: every page says who, the mode, the
    //    data time, the page number, who printed.
    let printed_pages = browser_print(&page, dir.path(), "patient-print-chromium").await;
    assert!(
        printed_pages.len() >= 3,
        "a print of several pages: {} page(s)",
        printed_pages.len()
    );
    assert_identity_on_every_page(&printed_pages, &patient, &node.account_id, "browser print");

    // 4. The node's PDF of the same print: the same on every page. Its pages are denser
    //    than the browser's, so the longest of the ward's records that runs to three
    //    pages or more is the one checked.
    let (node_pdf, ty) = fetch(&page, &pdf_href).await;
    assert_eq!(ty, "application/pdf");
    let node_pages = pages_of(&node_pdf, dir.path(), "patient-print-node");
    assert_identity_on_every_page(&node_pages, &patient, &node.account_id, "node PDF");
    let mut longest = census
        .iter()
        .flat_map(|w| w.beds.iter())
        .filter_map(|b| reader.patient(&b.patient.key).unwrap())
        .filter(|r| {
            [&r.patient.name_kanji, &r.patient.name_kana]
                .iter()
                .all(|n| n.as_deref().is_some_and(|n| !n.contains('<')))
        })
        .map(|r| {
            (
                r.documents.iter().map(|d| d.text.len()).sum::<usize>() + r.labs.len() * 60,
                r,
            )
        })
        .collect::<Vec<_>>();
    longest.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
    let mut checked = false;
    for (_, r) in longest.iter().take(10) {
        let (pdf, _) = fetch(&page, &format!("/patients/{}/print.pdf", r.key.0)).await;
        let pages = pages_of(&pdf, dir.path(), "patient-print-node-long");
        if pages.len() >= 3 {
            assert_identity_on_every_page(&pages, r, &node.account_id, "node PDF, 3+ pages");
            checked = true;
            break;
        }
    }
    assert!(
        checked,
        "a patient print of three pages or more as the node's PDF"
    );

    // 5. The ward page: print, MAR packet and PDF buttons; the packet is one job with
    //    the census first, a sheet per patient, the blank forms last.
    page.goto(format!("{base}/wards/{}", url_segment(&ward)))
        .await
        .unwrap();
    for id in ["#print-ward", "#print-mar-packet", "#pdf-ward"] {
        wait_for(&page, id).await;
    }
    shot(&page, "print-03-ward-buttons").await;
    click_to(&page, "#print-mar-packet", "#print-button").await;
    shot(&page, "print-04-mar-packet").await;
    let beds = census.iter().find(|w| w.ward == ward).unwrap().beds.len();
    let sheets: Vec<String> = eval(
        &page,
        "[...document.querySelectorAll('main > .sheet')].map(s => s.className)",
    )
    .await;
    assert_eq!(sheets.len(), 1 + beds + 2, "{sheets:?}");
    assert!(sheets[0].contains("census-sheet"));
    assert!(sheets[1..=beds].iter().all(|s| s.contains("mar-sheet")));
    assert!(sheets[beds + 1..].iter().all(|s| s.contains("blank-mar")));
    let packet_pdf_href: String = eval(
        &page,
        "document.querySelector('#pdf-button').getAttribute('href')",
    )
    .await;
    let packet_pages = browser_print(&page, dir.path(), "mar-packet-chromium").await;
    assert!(packet_pages.len() >= 1 + beds + 2);
    for (i, p) in packet_pages.iter().enumerate() {
        let flat: String = p.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("訓練"), "packet page {}: {p}", i + 1);
        assert!(
            page_number(&flat, i + 1, packet_pages.len()),
            "packet page {}: {p}",
            i + 1
        );
    }

    // 6. The node's MAR packet PDF: census, then every patient's sheet with that
    //    patient's name on each of its pages, then the 3- and 7-day blank forms.
    let (packet, ty) = fetch(&page, &packet_pdf_href).await;
    assert_eq!(ty, "application/pdf");
    let packet_pages = pages_of(&packet, dir.path(), "mar-packet-node");
    let total = packet_pages.len();
    let flat = |p: &String| p.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat(&packet_pages[0]).contains("病棟患者一覧"),
        "census first"
    );
    let records: Vec<PatientRecord> = census
        .iter()
        .find(|w| w.ward == ward)
        .unwrap()
        .beds
        .iter()
        .map(|b| reader.patient(&b.patient.key).unwrap().unwrap())
        .collect();
    for r in &records {
        let id = r.patient.hospital_id.as_deref().unwrap();
        let own: Vec<&String> = packet_pages
            .iter()
            .filter(|p| flat(p).contains("24時間与薬表") || flat(p).contains(id))
            .filter(|p| flat(p).contains(id))
            .collect();
        assert!(!own.is_empty(), "a sheet for {id}");
        for p in own {
            let f = flat(p);
            for needle in [
                r.patient.name_kanji.as_deref().unwrap(),
                &r.patient.birth_date.unwrap().to_string(),
                "訓練",
                "データ時刻",
            ] {
                if !f.contains("病棟患者一覧") {
                    assert!(f.contains(needle), "{id}'s page lacks {needle}: {p}");
                }
            }
        }
    }
    assert!(flat(&packet_pages[total - 2]).contains("3日用"));
    assert!(flat(&packet_pages[total - 1]).contains("7日用"));
    for (i, p) in packet_pages.iter().enumerate() {
        assert!(
            flat(p).contains(&format!("{} / {total} ページ", i + 1)),
            "{p}"
        );
        assert!(flat(p).contains(&node.account_id), "{p}");
    }
}

fn url_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The page as the browser prints it (backgrounds, the page's own `@page` size), as the
/// text of each printed page.
async fn browser_print(
    page: &chromiumoxide::Page,
    dir: &std::path::Path,
    name: &str,
) -> Vec<String> {
    let pdf = page
        .pdf(PrintToPdfParams {
            print_background: Some(true),
            prefer_css_page_size: Some(true),
            ..PrintToPdfParams::default()
        })
        .await
        .unwrap();
    pages_of(&pdf, dir, name)
}
