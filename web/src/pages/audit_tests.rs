//! What the ledger holds after clinician pages, with the real ledger: a ward print is one
//! entry and one durable commit listing every patient; a search or ward census lists the
//! patients whose names it showed; a key that names no patient is audited.

use akari_accounts::event::Action;
use axum::http::StatusCode;

use crate::pages::test_node::*;

#[tokio::test]
async fn a_ward_print_is_one_durable_commit_listing_every_patient() {
    let node = node();
    let mut b = drill_clinician(&node).await;
    let (ward, keys) = busiest_ward(&node);
    assert!(keys.len() > 1, "a ward of several patients: {keys:?}");
    let seq = node.ledger.last_seq().unwrap();
    let commits = node.ledger.durable_commits();

    let page = b.get(&format!("/wards/{}/print", urlencode(&ward))).await;
    assert_eq!(page.status, StatusCode::OK);

    assert_eq!(
        node.ledger.durable_commits() - commits,
        1,
        "one durable commit (one fsync) for the whole print job"
    );
    let entries = entries_after(&node, seq);
    assert_eq!(
        entries.len(),
        1,
        "one entry for the whole ward: {entries:?}"
    );
    let Action::WardPrint {
        ward: printed_ward,
        patients,
        keys: printed,
    } = &entries[0].action
    else {
        panic!("not a ward print: {:?}", entries[0]);
    };
    assert_eq!(printed_ward, &ward);
    assert_eq!(*patients as usize, keys.len());
    let (mut printed, mut expected) = (printed.clone(), keys.clone());
    printed.sort();
    expected.sort();
    assert_eq!(printed, expected, "every patient printed is listed");
}

#[tokio::test]
async fn lists_record_whose_names_they_showed_and_unknown_keys_are_audited() {
    let node = node();
    let mut b = drill_clinician(&node).await;
    let (ward, keys) = busiest_ward(&node);

    let seq = node.ledger.last_seq().unwrap();
    assert_eq!(
        b.get(&format!("/wards/{}", urlencode(&ward))).await.status,
        StatusCode::OK
    );
    let census = entries_after(&node, seq);
    assert!(
        matches!(&census[..], [e] if e.action == Action::WardCensus { ward: ward.clone(), keys: keys.clone() }),
        "{census:?}"
    );

    let patient = node
        .reader
        .patient(&akari_sync::model::PatientKey(keys[0].clone()))
        .unwrap()
        .unwrap();
    let kana = patient.patient.name_kana.clone().unwrap();
    let csrf = b.get("/search").await.csrf();
    let seq = node.ledger.last_seq().unwrap();
    let page = b.post("/search", &[("csrf", &csrf), ("q", &kana)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let search = entries_after(&node, seq);
    let [entry] = &search[..] else {
        panic!("one search entry: {search:?}")
    };
    let Action::PatientSearch {
        results,
        keys: listed,
        ..
    } = &entry.action
    else {
        panic!("{entry:?}")
    };
    assert_eq!(*results as usize, listed.len());
    assert!(listed.contains(&keys[0]), "{listed:?}");
    for key in listed {
        assert!(
            page.body.contains(&format!("/patients/{key}")),
            "{key} was shown"
        );
    }
    assert!(
        !format!("{search:?}").contains(&kana),
        "never the query text"
    );

    let seq = node.ledger.last_seq().unwrap();
    let page = b.get("/patients/pk-does-not-exist").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let lookup = entries_after(&node, seq);
    assert!(
        matches!(&lookup[..], [e] if e.action == Action::PatientNotFound { key: "pk-does-not-exist".into() } && e.patient.is_none()),
        "{lookup:?}"
    );
}
