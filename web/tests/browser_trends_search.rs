//! The ward's questions at night, in Debian's headless Chromium over CDP, against a real
//! snapshot synced from FHIR resources: three patients named 山田 正雄 are told apart in
//! the search results without opening any (birth date, age and sex, hospital ID, ward
//! and bed or 外来, the deceased mark), and the patient page shows the trends — lab
//! results per test side by side with ▼ L / ▲ H flags, and the last 72 hours of vital
//! signs with abnormal values highlighted and low ones marked ▼ L. Digits typed that are
//! both a hospital ID and a date list the ID's holder and offer the birth-date search,
//! which one press runs.
//!
//! Needs `chromium` (Debian package) at /usr/bin/chromium or `AKARI_CHROMIUM`.

mod common;

use std::sync::Arc;

use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::source::Change;
use akari_sync::SnapshotReader;
use akari_testkit::synth::SynthConfig;
use chromiumoxide::Page;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use common::page::{click_to, fill, shot, text, wait_for, wait_loaded};
use serde_json::{json, Value};

const EN_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js).await.unwrap().into_value().unwrap()
}

fn jst(t: DateTime<Utc>) -> String {
    t.with_timezone(&FixedOffset::east_opt(9 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M:%S+09:00")
        .to_string()
}

fn patient(id: &str, hospital_id: &str, birth: &str, deceased: Option<&str>) -> Value {
    let mut p = json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [{"system": SynthConfig::default().hospital_id_system(), "value": hospital_id}],
        "name": [
            {"extension": [{"url": EN_REPRESENTATION, "valueCode": "IDE"}], "use": "official",
             "text": "山田 正雄", "family": "山田", "given": ["正雄"]},
            {"extension": [{"url": EN_REPRESENTATION, "valueCode": "SYL"}], "use": "official",
             "text": "ヤマダ マサオ", "family": "ヤマダ", "given": ["マサオ"]}
        ],
        "gender": "male",
        "birthDate": birth,
    });
    if let Some(d) = deceased {
        p["deceasedDateTime"] = json!(d);
    }
    p
}

fn subject(id: &str) -> Value {
    json!({"reference": format!("Patient/{id}")})
}

fn vital(
    id: &str,
    who: &str,
    code: &str,
    name: &str,
    value: u32,
    unit: &str,
    at: DateTime<Utc>,
) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": name}], "text": name},
        "subject": subject(who),
        "effectiveDateTime": jst(at),
        // Whole numbers as the bedside monitor sends them ("93", not "93.0").
        "valueQuantity": {"value": value as i64, "unit": unit},
    })
}

fn lab(id: &str, who: &str, value: f64, flag: &str, at: DateTime<Utc>) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
        "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": "3H015000002327101", "display": "カリウム"}], "text": "カリウム"},
        "subject": subject(who),
        "effectiveDateTime": jst(at),
        "valueQuantity": {"value": value, "unit": "mmol/L"},
        "referenceRange": [{"low": {"value": 3.6, "unit": "mmol/L"}, "high": {"value": 4.8, "unit": "mmol/L"}}],
        "interpretation": [{"coding": [{"system": INTERPRETATION, "code": flag}]}],
    })
}

/// Three namesakes: an inpatient of 5階西 501-2 with recent vitals and potassium results,
/// an outpatient, and one who died; synced by the real engine into a real snapshot.
fn snapshot(dir: &std::path::Path) -> SnapshotReader {
    let now = Utc::now();
    let h = |hours: i64| now - Duration::hours(hours);
    let resources = vec![
        patient("yamada-in", "10000001", "1950-04-01", None),
        patient("yamada-out", "10000002", "1962-11-23", None),
        patient("yamada-died", "10000003", "1938-07-07", Some("2026-10-30")),
        // A hospital ID whose digits, leading zeros aside, are 山田's birth date.
        json!({
            "resourceType": "Patient", "id": "sato",
            "identifier": [{"system": SynthConfig::default().hospital_id_system(), "value": "0019500401"}],
            "name": [
                {"extension": [{"url": EN_REPRESENTATION, "valueCode": "IDE"}], "text": "佐藤 花子"},
                {"extension": [{"url": EN_REPRESENTATION, "valueCode": "SYL"}], "text": "サトウ ハナコ"}
            ],
            "gender": "female",
            "birthDate": "1971-02-03",
        }),
        json!({
            "resourceType": "Encounter", "id": "enc-yamada-in", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP", "display": "入院"},
            "subject": subject("yamada-in"),
            "period": {"start": jst(h(24 * 5))},
            "location": [
                {"location": {"display": "5階西"}, "status": "active", "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "wa"}]}},
                {"location": {"display": "501"}, "status": "active", "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "ro"}]}},
                {"location": {"display": "2"}, "status": "active", "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "bd"}]}}
            ],
        }),
        // SpO2 low now, critically low at night, normal yesterday; one reading of four
        // days ago is outside the 72-hour table.
        vital("spo2-1", "yamada-in", "2708-6", "SpO2", 93, "%", h(1)),
        vital("spo2-2", "yamada-in", "2708-6", "SpO2", 88, "%", h(6)),
        vital("spo2-3", "yamada-in", "2708-6", "SpO2", 98, "%", h(30)),
        vital("spo2-old", "yamada-in", "2708-6", "SpO2", 77, "%", h(96)),
        vital(
            "pulse-1",
            "yamada-in",
            "8867-4",
            "心拍数",
            118,
            "/min",
            h(1),
        ),
        // Potassium falling: normal, low, then critically low.
        lab("k-1", "yamada-in", 4.1, "N", h(48)),
        lab("k-2", "yamada-in", 3.3, "L", h(20)),
        lab("k-3", "yamada-in", 2.4, "LL", h(2)),
    ];
    let store = akari_sync::Store::open(&dir.join("snapshot.redb"), Default::default()).unwrap();
    let config = akari_sync::Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let source = MemorySource::new(
        resources
            .iter()
            .map(|r| Change::Upsert(serde_json::to_vec(r).unwrap()))
            .collect(),
    );
    akari_sync::Engine::new(store, Arc::new(source), config)
        .with_reader(reader.clone())
        .sync_now(true, &CancellationToken::new())
        .unwrap();
    reader
}

/// The hospital IDs of the listed rows, in order.
async fn listed_ids(page: &Page) -> Vec<String> {
    eval(
        page,
        "[...document.querySelectorAll('table.rows tbody tr .hospital-id')].map(c => c.textContent.trim())",
    )
    .await
}

/// The text of each cell of the result row whose hospital ID is `id`.
async fn row_of(page: &Page, id: &str) -> Vec<String> {
    eval(
        page,
        &format!(
            "[...document.querySelectorAll('table.rows tbody tr')].filter(r => r.querySelector('.hospital-id').textContent.trim() === {id:?}).map(r => [...r.cells].map(c => c.innerText.trim()))[0] || []"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namesakes_are_told_apart_and_the_trends_flag_low_values() {
    let dir = tempfile::tempdir().unwrap();
    let reader = snapshot(dir.path());
    let common::Site {
        node,
        base,
        browser,
        page,
    } = common::clinician_site(&reader, dir.path()).await;

    common::log_in_and_declare(&page, &base, &node, "5階西").await;

    // 1. Three 山田 正雄: each row says who it is.
    fill(&page, "#q", "ヤマダ マサオ").await;
    click_to(&page, "#search-submit", "table.rows").await;
    shot(&page, "trends-01-namesakes").await;
    let heads: Vec<String> = eval(
        &page,
        "[...document.querySelectorAll('table.rows thead th')].map(h => h.innerText.trim())",
    )
    .await;
    assert_eq!(
        heads,
        [
            "氏名",
            "生年月日",
            "年齢・性別",
            "患者ID",
            "病棟・病室・ベッド",
            "注意"
        ]
    );
    let rows: usize = eval(
        &page,
        "document.querySelectorAll('table.rows tbody tr').length",
    )
    .await;
    assert_eq!(rows, 3, "all three namesakes are listed");

    let inpatient = row_of(&page, "10000001").await;
    assert!(inpatient[0].contains("山田 正雄") && inpatient[0].contains("ヤマダ マサオ"));
    assert_eq!(inpatient[1], "1950-04-01");
    assert!(inpatient[2].ends_with("歳 男"), "{inpatient:?}");
    assert_eq!(inpatient[4], "5階西 501 2");
    assert!(!inpatient[0].contains("死亡"));

    let outpatient = row_of(&page, "10000002").await;
    assert_eq!(outpatient[1], "1962-11-23");
    assert_eq!(
        outpatient[4], "外来",
        "a patient on no ward is an outpatient"
    );

    let died = row_of(&page, "10000003").await;
    assert_eq!(died[1], "1938-07-07");
    assert!(died[0].contains("死亡 2026-10-30"), "{died:?}");
    assert_eq!(
        died[2], "88歳 男",
        "a deceased patient's age is the age at death"
    );
    let greyed: bool = eval(
        &page,
        "[...document.querySelectorAll('table.rows tbody tr')].some(r => r.classList.contains('deceased') && r.innerText.includes('10000003'))",
    )
    .await;
    assert!(greyed, "the deceased patient's row is marked");

    // Digits that are a patient's ID (leading zeros aside) and also a date: that patient,
    // with a one-press search for the birth date instead, which finds 山田.
    let _: bool = eval(&page, "(document.querySelector('#q').value = '') === ''").await;
    fill(&page, "#q", "19500401").await;
    click_to(&page, "#search-submit", "#as-birth-date").await;
    shot(&page, "trends-01b-id-or-birth-date").await;
    assert_eq!(listed_ids(&page).await, ["0019500401"]);
    wait_for(&page, "#as-birth-date button")
        .await
        .click()
        .await
        .unwrap();
    common::page::wait_until(
        &page,
        "document.querySelector('#q').value === '1950年4月1日'",
    )
    .await;
    wait_loaded(&page).await;
    assert_eq!(listed_ids(&page).await, ["10000001"]);
    let offered: bool = eval(&page, "document.querySelector('#as-birth-date') !== null").await;
    assert!(!offered, "a birth-date search offers nothing more");

    // 2. The inpatient's trends.
    let href: String = eval(
        &page,
        "[...document.querySelectorAll('table.rows tbody tr')].find(r => r.innerText.includes('10000001')).querySelector('a').getAttribute('href')",
    )
    .await;
    page.goto(format!("{base}{href}")).await.unwrap();
    wait_for(&page, "#labs").await;

    // Potassium: one row, newest first, side by side, each with its flag.
    let potassium: Vec<Vec<String>> = eval(
        &page,
        "[...document.querySelectorAll('#labs tr.lab-trend')].filter(r => r.querySelector('th').innerText.includes('カリウム')).map(r => [...r.querySelectorAll('td.lab-value')].map(c => c.innerText.replace(/\\s+/g, ' ').trim()))",
    )
    .await;
    assert_eq!(potassium.len(), 1, "one row per test: {potassium:?}");
    let potassium = &potassium[0];
    assert_eq!(potassium.len(), 3, "{potassium:?}");
    assert!(
        potassium[0].starts_with("2.4 mmol/L ▼▼ LL"),
        "{potassium:?}"
    );
    assert!(potassium[1].starts_with("3.3 mmol/L ▼ L"), "{potassium:?}");
    assert!(potassium[2].starts_with("4.1 mmol/L") && !potassium[2].contains('▼'));
    assert!(
        !text(&page, "#labs").await.contains('▲'),
        "no low value is marked ▲"
    );

    // Vital signs of the last 72 h; the low SpO2 highlighted and marked ▼ L, the
    // critical one distinguishable, the fast pulse ▲ H.
    let vitals: Vec<(String, String, String)> = eval(
        &page,
        "[...document.querySelectorAll('#vitals td.vital')].filter(c => c.innerText.trim()).map(c => [c.innerText.replace(/\\s+/g, ' ').trim(), c.className, getComputedStyle(c).backgroundColor])",
    )
    .await;
    let cell = |value: &str| {
        vitals
            .iter()
            .find(|(t, _, _)| t.starts_with(value))
            .unwrap_or_else(|| panic!("{value} not in {vitals:?}"))
            .clone()
    };
    let (t, class, low_bg) = cell("93 %");
    assert_eq!(t, "93 % ▼ L");
    assert!(
        class.contains("abnormal") && class.contains("low"),
        "{class}"
    );
    let (t, class, critical_bg) = cell("88 %");
    assert_eq!(t, "88 % ▼▼ LL");
    assert!(class.contains("critical"), "{class}");
    let (t, class, normal_bg) = cell("98 %");
    assert_eq!(t, "98 %");
    assert!(!class.contains("abnormal"));
    assert_ne!(low_bg, normal_bg, "a low value is highlighted");
    assert_ne!(
        critical_bg, low_bg,
        "a critical value looks different from a low one"
    );
    assert_eq!(cell("118 /min").0, "118 /min ▲ H");
    assert!(
        !vitals.iter().any(|(t, _, _)| t.starts_with("77 %")),
        "a reading older than 72 h is not in the table: {vitals:?}"
    );
    shot(&page, "trends-02-patient").await;
    drop(browser);
}
