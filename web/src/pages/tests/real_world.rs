//! The clinician's pages rendered from a snapshot the real engine synced from the
//! real-world conformance set (`sync/tests/fixtures/real-world/`) and the real reader
//! serves: what a clinician sees of what real systems send. The set's data time is
//! 2026-11-01 09:00 JST and it is served days later, as a node frozen on one generation
//! through an outage is.

use std::path::PathBuf;
use std::sync::Arc;

use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions};
use chrono::{TimeZone, Utc};

use super::App;

fn synced() -> (tempfile::TempDir, SnapshotReader) {
    let fixtures =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sync/tests/fixtures/real-world");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("snapshot.redb"), StoreOptions::default()).unwrap();
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let mut source = MemorySource::from_json_files(&fixtures).unwrap();
    let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    source.high_water = Some(
        jst.with_ymd_and_hms(2026, 11, 1, 9, 0, 0)
            .unwrap()
            .with_timezone(&Utc),
    );
    Engine::new(store, Arc::new(source), config)
        .with_reader(reader.clone())
        .sync_now(true, &CancellationToken::new())
        .unwrap();
    (dir, reader)
}

fn key_of(reader: &SnapshotReader, hospital_id: &str) -> String {
    reader.search(hospital_id).unwrap().1[0].key.0.clone()
}

/// The table row (`<tr>…</tr>`) of `body` that contains `needle`.
fn row_with<'a>(body: &'a str, needle: &str) -> &'a str {
    let at = body
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not on the page"));
    let start = body[..at].rfind("<tr").unwrap();
    let end = at + body[at..].find("</tr>").unwrap();
    &body[start..end]
}

#[tokio::test]
async fn the_patient_page_shows_what_real_systems_send() {
    let (_dir, reader) = synced();
    let septic = key_of(&reader, "POP-000712");
    let mut app = App::with_snapshot(Arc::new(reader));
    app.login_and_declare().await;
    let page = app.get(&format!("/patients/{septic}")).await;
    assert_eq!(page.status, axum::http::StatusCode::OK);
    let body = &page.body;
    let shows = |what: &str| {
        assert!(
            body.contains(what),
            "{what} missing from the page: {}",
            &body[body.find("patient-head").unwrap_or(0)..][..1500]
        )
    };
    // Who, where, blood type, who to call.
    shows("灯野 太郎");
    shows("POP-000712");
    shows("4W病棟 4W-06号室 2");
    shows("血液型 <b>A型 Rh(+)");
    shows("主治医 <b>主治 一郎（PHS 7012）");
    // Allergies with every criticality and the reaction's severity.
    shows("低リスク");
    shows("リスク評価不能");
    shows("重症度: 中等度");
    // Labs: eCS claim without local code, upper-case category, no category; ranges as
    // numbers with their text as a note.
    let cre = row_with(body, "クレアチニン");
    assert!(
        cre.contains("5.04") && cre.contains("0.65–1.07 mg/dL"),
        "{cre}"
    );
    assert!(cre.contains("JCCLS共用基準範囲2022"), "{cre}");
    assert!(row_with(body, ">AST<").contains("424"));
    // Vital signs of the same minute share a row, in the units people write; the O2 flow
    // has a labelled column of its own.
    let vitals = row_with(body, "38.9 ℃");
    assert!(
        vitals.contains("86/48 mmHg") && vitals.contains("4 L/min"),
        "{vitals}"
    );
    // Septic shock reads as such: the systolic 86 critically low, the fever high.
    assert!(
        vitals.contains("86/48 mmHg <span class=\"flag\">▼▼ LL</span>")
            && vitals.contains("38.9 ℃ <span class=\"flag\">▲ H</span>"),
        "{vitals}"
    );
    shows("<th>酸素流量</th>");
    assert!(!body.contains("その他</th>"), "no unlabelled column");
    shows("意識レベル（JCS）");
    // The MAR of the data time's last 72 h; the dose with an impossible time is nowhere.
    assert!(row_with(body, "メロペネム点滴静注用0.5g</th>").contains("01:00 ✓ 1g"));
    assert!(
        !body.contains("ヘパリン"),
        "a dose with an impossible time is not shown"
    );
    // Prescriptions in effect at the data time: a completed course still running, with
    // its days, start and prescriber; the active one sent twice is one row with a count;
    // one that ended 5 days before is greyed with its status; a month-old one is gone.
    let prescriptions = &body[body.find("class=\"prescriptions\"").unwrap()..];
    let prescriptions = &prescriptions[..prescriptions.find("</section>").unwrap()];
    let vcm = row_with(prescriptions, "バンコマイシン塩酸塩点滴静注用0.5g");
    assert!(
        !vcm.contains("class=\"ended\"")
            && vcm.contains("14日分")
            && vcm.contains("2026-10-29")
            && vcm.contains("主治 一郎"),
        "{vcm}"
    );
    let mepm = row_with(prescriptions, "メロペネム点滴静注用0.5g");
    assert!(mepm.contains("同一処方×2"), "{mepm}");
    assert_eq!(prescriptions.matches("メロペネム点滴静注用0.5g").count(), 1);
    let lvfx = row_with(prescriptions, "レボフロキサシン錠500mg");
    assert!(
        lvfx.contains("class=\"ended\"") && lvfx.contains("終了") && lvfx.contains("7日分"),
        "{lvfx}"
    );
    assert!(
        !body.contains("ファモチジン"),
        "a month-old prescription is not shown"
    );
    // Pending orders, reports, immunisations.
    assert!(row_with(body, "血液培養 2セット").contains("至急"));
    shows("胸部CT");
    shows("右下葉肺炎の疑い。");
    shows("右下葉に浸潤影あり");
    assert!(row_with(body, "新型コロナワクチン").contains("2025-10-15"));
    assert!(row_with(body, "新型コロナワクチン").contains("7回目"));
    // Problem onsets as people read them, never a raw ISO string.
    assert!(row_with(body, "敗血症").contains("2026-10-28 14:44"));
    assert!(row_with(body, "2型糖尿病").contains("2015年4月〜"));
    assert!(row_with(body, "高血圧症").contains("55歳時"));
    assert!(row_with(body, "高尿酸血症").contains("40代から"));
    assert!(
        !body.contains("2026-10-28T14:44"),
        "raw ISO time on the page"
    );
}

#[tokio::test]
async fn control_characters_and_bidi_overrides_never_reach_the_page_and_odd_ages_are_flagged() {
    let (_dir, reader) = synced();
    let odd = key_of(&reader, "D-0004");
    let mut app = App::with_snapshot(Arc::new(reader));
    let csrf = app.login_and_declare().await;
    let page = app.get(&format!("/patients/{odd}")).await;
    let body = &page.body;
    for hidden in ['\u{202e}', '\u{202c}', '\u{1b}'] {
        assert!(!body.contains(hidden), "{hidden:?} reached the page");
    }
    let head = &body[body.find("patient-name").unwrap()..][..300];
    assert!(
        head.contains("東雲郎三[2J"),
        "the name, without its overrides: {head}"
    );
    assert!(body.contains("⚠年齢要確認"), "not an age of 2025 years");
    assert!(body.contains("0001-01-01（生年月日要確認）"));
    assert!(!body.contains("2025歳"));
    // The search results identify the patient the same way (the ID in lower case: the
    // exact ID would open the patient directly).
    let results = app
        .post("/search", &[("csrf", &csrf), ("q", "d-0004")])
        .await;
    assert!(results.body.contains("⚠年齢要確認"), "{}", results.body);
    assert!(!results.body.contains('\u{202e}'));
}

#[tokio::test]
async fn deceased_no_known_allergy_and_the_ward_census() {
    let (_dir, reader) = synced();
    let deceased = key_of(&reader, "0000458");
    let nka = key_of(&reader, "C-0009");
    let mut app = App::with_snapshot(Arc::new(reader));
    let csrf = app.login_and_declare().await;

    let page = app.get(&format!("/patients/{deceased}")).await;
    assert!(
        page.body
            .contains(r#"id="deceased">死亡 2026-10-30 04:12 JST</span>"#),
        "{}",
        page.body
    );
    // Search results mark the deceased patient too (found by the hospital ID's digits).
    let results = app.post("/search", &[("csrf", &csrf), ("q", "458")]).await;
    assert!(results.body.contains("夜明 花子"), "{}", results.body);
    assert!(results.body.contains("死亡 2026-10-30 04:12"));

    let page = app.get(&format!("/patients/{nka}")).await;
    assert!(
        page.body.contains("アレルギーなし（確認済み）"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("登録されたアレルギー・禁忌はありません"));

    // Both inpatients are in their ward's census: one placed through Location resources,
    // one through its display text.
    let census = app.get("/wards/4W%E7%97%85%E6%A3%9F").await;
    assert!(census.body.contains("灯野 太郎"), "{}", census.body);
    assert!(census.body.contains("朝日 次郎"));
    assert!(census.body.contains("4W-06号室 2"));
    assert!(census.body.contains("4W-07号室"));
}

/// A result list's markers come from the listed patient's own allergy and infection
/// items: a real allergy puts the marker on the row, a confirmed "no known allergy" does
/// not.
#[tokio::test]
async fn result_rows_mark_allergies_but_not_a_no_known_allergy_statement() {
    let (_dir, reader) = synced();
    let mut app = App::with_snapshot(Arc::new(reader));
    let csrf = app.login_and_declare().await;
    let marker = "<span class=\"marker allergy\">";
    for (hospital_id, marked) in [("POP-000712", true), ("C-0009", false)] {
        // In lower case: a list, not scan-to-open's jump to the one patient's page.
        let q = hospital_id.to_lowercase();
        let r = app.post("/search", &[("csrf", &csrf), ("q", &q)]).await;
        let row = row_with(&r.body, hospital_id);
        assert_eq!(row.contains(marker), marked, "{hospital_id}: {row}");
    }
}
