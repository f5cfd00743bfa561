//! Print downloads with the real ledger: a PDF is audited exactly as its print, before
//! anything is read; with the ledger refusing, no PDF; without a font, a page that says
//! what to install and no patient data. The due-next list and the print buttons are on
//! the pages.

use akari_accounts::event::Action;
use axum::http::StatusCode;

use crate::pages::test_node::*;

fn is_pdf(page: &Page) -> bool {
    page.content_type == "application/pdf" && page.bytes.starts_with(b"%PDF-")
}

#[tokio::test]
async fn every_pdf_is_one_print_entry_like_its_print() {
    let node = node();
    let mut b = drill_clinician(&node).await;
    let (ward, keys) = busiest_ward(&node);
    let ward_path = urlencode(&ward);

    let seq = node.ledger.last_seq().unwrap();
    let pdf = b.get(&format!("/patients/{}/print.pdf", keys[0])).await;
    assert_eq!(pdf.status, StatusCode::OK, "{}", pdf.body);
    assert!(is_pdf(&pdf), "{}", pdf.content_type);
    assert!(pdf
        .disposition
        .as_deref()
        .is_some_and(|d| d.starts_with("attachment") && !d.contains(&keys[0])));
    let entries = entries_after(&node, seq);
    assert!(
        matches!(&entries[..], [e] if e.action == Action::PatientPrint && e.patient.as_deref() == Some(keys[0].as_str())),
        "{entries:?}"
    );

    for path in [
        format!("/wards/{ward_path}/print.pdf"),
        format!("/wards/{ward_path}/mar.pdf"),
        format!("/wards/{ward_path}/mar"),
    ] {
        let seq = node.ledger.last_seq().unwrap();
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let entries = entries_after(&node, seq);
        let [entry] = &entries[..] else {
            panic!("{path}: one entry: {entries:?}")
        };
        let Action::WardPrint {
            patients,
            keys: printed,
            ..
        } = &entry.action
        else {
            panic!("{path}: not a ward print: {entry:?}")
        };
        assert_eq!(*patients as usize, keys.len(), "{path}");
        assert_eq!(printed.len(), keys.len(), "{path}");
        if path.ends_with(".pdf") {
            assert!(is_pdf(&page), "{path}");
        }
    }
}

#[tokio::test]
async fn with_the_ledger_refusing_no_pdf_is_made() {
    let node = node();
    let mut b = drill_clinician(&node).await;
    let (ward, keys) = busiest_ward(&node);
    let name = node
        .reader
        .patient(&akari_sync::model::PatientKey(keys[0].clone()))
        .unwrap()
        .unwrap()
        .patient
        .name_kanji
        .unwrap();
    let seq = node.ledger.last_seq().unwrap();
    node.ledger.fault_injector().fail_commits(true);
    for path in [
        format!("/patients/{}/print.pdf", keys[0]),
        format!("/wards/{}/print.pdf", urlencode(&ward)),
        format!("/wards/{}/mar.pdf", urlencode(&ward)),
        format!("/wards/{}/mar", urlencode(&ward)),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(!page.bytes.starts_with(b"%PDF"), "{path}");
        assert!(!page.body.contains(&name), "{path}: no patient data");
        assert!(page.body.contains("監査記録"), "{path}: says why");
    }
    node.ledger.fault_injector().fail_commits(false);
    assert!(entries_after(&node, seq).is_empty());
}

#[tokio::test]
async fn without_a_font_the_pdf_button_says_what_to_install_and_reads_nothing() {
    let node = node_with_config(super::PagesConfig {
        print_font: Err("no Japanese font for printing was found".into()),
        ..super::PagesConfig::default()
    });
    let mut b = drill_clinician(&node).await;
    let (ward, keys) = busiest_ward(&node);
    let seq = node.ledger.last_seq().unwrap();
    for path in [
        format!("/patients/{}/print.pdf", keys[0]),
        format!("/wards/{}/mar.pdf", urlencode(&ward)),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(page.body.contains("fonts-noto-cjk"), "{}", page.body);
        assert!(page.body.contains("[print] font"), "{}", page.body);
        assert!(!page.body.contains(&keys[0]), "{path}");
    }
    assert!(
        entries_after(&node, seq).is_empty(),
        "nothing read, nothing recorded"
    );
    // The HTML print still works.
    let page = b.get(&format!("/patients/{}/print", keys[0])).await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test]
async fn pages_carry_the_due_next_list_and_print_buttons() {
    let node = node();
    let mut b = drill_clinician(&node).await;
    let (ward, keys) = busiest_ward(&node);
    let page = b.get(&format!("/patients/{}", keys[0])).await;
    assert!(page.body.contains(r#"id="due-next""#), "{}", page.body);
    assert!(page.body.contains(r#"id="pdf-patient""#));
    let print = b.get(&format!("/patients/{}/print", keys[0])).await;
    for id in ["print-button", "pdf-button"] {
        assert!(print.body.contains(&format!(r#"id="{id}""#)), "{id}");
    }
    assert!(print.body.contains(r#"class="run-head""#));
    let ward_page = b.get(&format!("/wards/{}", urlencode(&ward))).await;
    for id in ["print-ward", "print-mar-packet", "pdf-ward"] {
        assert!(ward_page.body.contains(&format!(r#"id="{id}""#)), "{id}");
    }
    let packet = b.get(&format!("/wards/{}/mar", urlencode(&ward))).await;
    assert_eq!(
        packet.body.matches(r#"class="sheet mar-sheet""#).count(),
        keys.len()
    );
    assert_eq!(packet.body.matches(r#"class="sheet blank-mar""#).count(), 2);
}
