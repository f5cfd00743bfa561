//! How the search page reads what staff type, through the real reader: digits that are
//! both a hospital ID and a birth date, and a date written with separators.

use std::sync::Arc;

use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::source::Change;
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions};
use serde_json::json;

use super::App;

fn patient(id: &str, hospital_id: &str, kanji: &str, kana: &str, born: &str) -> Change {
    let p = json!({
        "resourceType": "Patient", "id": id,
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11311234567", "value": hospital_id}],
        "name": [
            {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE"}], "text": kanji},
            {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}], "text": kana}
        ],
        "gender": "female",
        "birthDate": born
    });
    Change::Upsert(serde_json::to_vec(&p).unwrap())
}

fn synced() -> (tempfile::TempDir, SnapshotReader) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("snapshot.redb"), StoreOptions::default()).unwrap();
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let source = MemorySource::new(vec![
        patient(
            "a",
            "0020050304",
            "番号 一子",
            "バンゴウ イチコ",
            "1961-07-08",
        ),
        patient(
            "b",
            "0000000017",
            "生年 二子",
            "セイネン フタコ",
            "2005-03-04",
        ),
        patient(
            "c",
            "0000000018",
            "生年 三子",
            "セイネン ミツコ",
            "2005-03-04",
        ),
    ]);
    Engine::new(store, Arc::new(source), config)
        .with_reader(reader.clone())
        .sync_now(true, &CancellationToken::new())
        .unwrap();
    (dir, reader)
}

/// The value of the hidden `q` field of the form with this id.
fn hidden_query(body: &str, form_id: &str) -> Option<String> {
    let form = &body[body.find(&format!("id=\"{form_id}\""))?..];
    let form = &form[..form.find("</form>")?];
    let at = form.find("name=\"q\" value=\"")? + 16;
    Some(form[at..at + form[at..].find('"')?].to_owned())
}

#[tokio::test]
async fn digits_read_as_an_id_offer_the_birth_date_and_a_written_date_finds_birth_dates() {
    let (_dir, reader) = synced();
    let mut app = App::with_snapshot(Arc::new(reader));
    let csrf = app.login_and_declare().await;

    // Typed digits that are one patient's ID (leading zeros aside) and a date: the ID's
    // holder, with a one-press search for the birth date instead.
    let r = app
        .post("/search", &[("csrf", &csrf), ("q", "20050304")])
        .await;
    assert!(r.body.contains("番号 一子"), "{}", r.body);
    assert!(!r.body.contains("生年 二子"));
    let offered = hidden_query(&r.body, "as-birth-date").expect("a birth-date search offered");
    assert_eq!(offered, "2005年3月4日");
    assert!(r.body.contains("2005-03-04</button>"));
    // That search, and the date typed with separators: the patients born that day, not
    // the ID's holder, and no offer.
    for q in [offered.as_str(), "2005-03-04"] {
        let r = app.post("/search", &[("csrf", &csrf), ("q", q)]).await;
        assert!(
            r.body.contains("生年 二子") && r.body.contains("生年 三子"),
            "{q}"
        );
        assert!(!r.body.contains("番号 一子"), "{q}");
        assert_eq!(hidden_query(&r.body, "as-birth-date"), None, "{q}");
    }
    // An ID exactly as written (a scanned label) still opens its patient.
    let r = app
        .post("/search", &[("csrf", &csrf), ("q", "0000000017")])
        .await;
    assert!(
        r.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/patients/")),
        "{:?}",
        r.location
    );
    // Each search is audited by how it was read.
    let kinds: Vec<String> = app
        .sink
        .events()
        .into_iter()
        .filter_map(|e| match e.action {
            akari_accounts::event::Action::PatientSearch { query_kind, .. } => Some(query_kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        ["hospital_id", "birth_date", "birth_date", "hospital_id"]
    );
}
