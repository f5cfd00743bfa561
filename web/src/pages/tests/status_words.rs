//! Japanese pages speak Japanese: a synthetic patient carrying every status code of the
//! record's vocabularies (and one code outside each) is rendered on every clinician page
//! (summary, print, search, ward, ward print), and no page shows any of the codes as a
//! word. The codes come from the model's vocabularies, so a status added there is checked
//! here without touching this test. A code outside a vocabulary is still shown, marked
//! unknown.

use std::collections::BTreeSet;
use std::sync::Arc;

use akari_sync::model::status::{self, Vocabulary};
use akari_sync::model::{
    Administration, Allergy, Condition, Immunization, Instant, Moment, Order, PatientRecord,
    Prescription, Report, ReportKind,
};
use axum::http::StatusCode;
use chrono::{Duration, Utc};

use super::{record, App, FakeSnapshot};

/// A status no vocabulary holds: shown as given, marked unknown.
const FOREIGN: &str = "zz-local-status";

fn codes(v: &Vocabulary) -> impl Iterator<Item = &'static str> {
    v.codes.iter().map(|c| c.code).chain([FOREIGN])
}

fn at(hours_ago: i64) -> Instant {
    (Utc::now() - Duration::hours(5 + hours_ago)).fixed_offset()
}

/// The patient who has everything.
fn every_status() -> PatientRecord {
    let mut r = record("k-all", "状態 全部", "ジョウタイ ゼンブ", None);
    for (i, v) in codes(&status::ALLERGY_VERIFICATION).enumerate() {
        for c in codes(&status::ALLERGY_CLINICAL) {
            r.allergies.push(Allergy {
                id: format!("a-{i}-{c}"),
                substance: format!("薬剤{i}"),
                categories: vec!["medication".into()],
                clinical_status: Some(c.into()),
                verification_status: Some(v.into()),
                ..Allergy::default()
            });
        }
    }
    for (i, c) in codes(&status::CONDITION_CLINICAL).enumerate() {
        r.conditions.push(Condition {
            id: format!("c-{i}"),
            text: format!("傷病{i}"),
            clinical_status: Some(c.into()),
            ..Condition::default()
        });
    }
    for (i, c) in codes(&status::PRESCRIPTION).enumerate() {
        r.prescriptions.push(Prescription {
            id: format!("rx-{i}"),
            medication: format!("処方薬{i}"),
            dose: None,
            route: None,
            timing: None,
            status: c.into(),
            as_needed: false,
            authored_on: Some(at(24 * 5)),
            period_start: Some(at(24 * 5)),
            period_end: Some(at(24)),
            days: Some(4),
            span_days: None,
            prescriber: None,
        });
    }
    for (i, c) in codes(&status::ADMINISTRATION).enumerate() {
        r.administrations.push(Administration {
            id: format!("ma-{i}"),
            medication: format!("与薬{i}"),
            dose: None,
            route: None,
            status: c.into(),
            time: at(2),
            prescription_id: None,
        });
    }
    for (i, c) in codes(&status::REPORT).enumerate() {
        r.reports.push(Report {
            id: format!("rp-{i}"),
            kind: ReportKind::Imaging,
            title: format!("胸部CT{i}"),
            status: c.into(),
            time: Some(at(3)),
            issued: None,
            conclusion: None,
            text: String::new(),
            performer: None,
        });
    }
    for (i, c) in codes(&status::ORDER).enumerate() {
        r.orders.push(Order {
            id: format!("o-{i}"),
            text: format!("検査オーダー{i}"),
            category: None,
            status: c.into(),
            intent: None,
            priority: None,
            authored_on: Some(at(1)),
            occurrence: None,
            requester: None,
            note: None,
        });
    }
    for (i, c) in codes(&status::IMMUNIZATION).enumerate() {
        r.immunizations.push(Immunization {
            id: format!("im-{i}"),
            vaccine: format!("ワクチン{i}"),
            status: c.into(),
            occurred: Some(Moment::Year(2020)),
            dose: None,
            lot: None,
            note: None,
        });
    }
    r
}

/// The text a reader sees: tags, scripts and styles removed.
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let tag = &rest[open..];
        let skip_to = ["<script", "<style"]
            .iter()
            .find(|t| tag.starts_with(**t))
            .map(|t| format!("</{}>", &t[1..]));
        rest = match skip_to {
            Some(end) => tag.find(&end).map_or("", |e| &tag[e + end.len()..]),
            None => tag.find('>').map_or("", |e| &tag[e + 1..]),
        };
    }
    out.push_str(rest);
    out
}

/// The record's status codes a page shows as words.
fn codes_shown(html: &str) -> BTreeSet<String> {
    let all: BTreeSet<&str> = status::ALL
        .iter()
        .flat_map(|v| v.codes.iter().map(|c| c.code))
        .collect();
    visible_text(html)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| all.contains(w.to_ascii_lowercase().as_str()))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn japanese_pages_show_no_status_code_of_the_record() {
    let mut snapshot = FakeSnapshot::new();
    snapshot.records.push(every_status());
    let mut app = App::with_snapshot(Arc::new(snapshot));
    let csrf = app.login_and_declare().await;
    let ward = format!("/wards/{}", super::urlencode("5階西"));

    let mut pages = Vec::new();
    for path in [
        "/patients/k-all".to_owned(),
        "/patients/k-all/print".to_owned(),
        ward.clone(),
        format!("{ward}/print"),
    ] {
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        pages.push((path, page.body));
    }
    let search = app
        .post("/search", &[("csrf", &csrf), ("q", "ジョウタイ")])
        .await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(
        search.body.contains("状態 全部"),
        "the search finds the patient"
    );
    pages.push(("/search".to_owned(), search.body));

    for (path, body) in &pages {
        assert!(body.contains("lang=\"ja\""), "{path} is the Japanese page");
        let shown = codes_shown(body);
        assert!(shown.is_empty(), "{path} shows status codes {shown:?}");
    }
    // Every status the summary shows is in Japanese; one from outside the value sets is
    // still there, marked unknown.
    let summary = &pages[0].1;
    for (v, expect) in [
        (status::ALLERGY_VERIFICATION, "未確定"),
        (status::CONDITION_CLINICAL, "寛解"),
        (status::PRESCRIPTION, "中止"),
        (status::ADMINISTRATION, "未実施"),
        (status::REPORT, "速報"),
        (status::ORDER, "保留"),
        (status::IMMUNIZATION, "未実施"),
    ] {
        assert!(summary.contains(expect), "{}: {expect} missing", v.field);
    }
    let unknown = format!("未知の状態: {FOREIGN}");
    assert!(
        summary.matches(&unknown).count() >= 6,
        "every vocabulary's foreign code is shown, marked unknown"
    );
}

#[test]
fn the_checker_sees_a_code_in_text_but_not_in_markup() {
    assert_eq!(
        codes_shown("<p class=\"active\">活動性 <b>resolved</b></p><script>final</script>"),
        BTreeSet::from(["resolved".to_owned()])
    );
    assert!(codes_shown("<td>not-done-yet</td><td>inactive</td>").contains("inactive"));
}
