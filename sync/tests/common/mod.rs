//! A small deterministic hospital for the sync crate's own tests and benchmark: JSON
//! resources (as a source would deliver them) for N patients.
#![allow(dead_code, clippy::manual_is_multiple_of)]

use std::path::Path;

use akari_sync::source::Change;
use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

pub const HOSPITAL_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.11318814790";

const FAMILY: &[(&str, &str)] = &[
    ("髙橋", "タカハシ"),
    ("山﨑", "ヤマザキ"),
    ("渡邊", "ワタナベ"),
    ("齋藤", "サイトウ"),
    ("澤田", "サワダ"),
    ("濱口", "ハマグチ"),
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
];
const GIVEN: &[(&str, &str)] = &[
    ("太郎", "タロウ"),
    ("花子", "ハナコ"),
    ("一郎", "イチロウ"),
    ("美咲", "ミサキ"),
    ("健太", "ケンタ"),
    ("陽菜", "ヒナ"),
    ("大輔", "ダイスケ"),
    ("さくら", "サクラ"),
    ("翔", "ショウ"),
    ("学", "マナブ"),
    ("愛", "アイ"),
];

pub fn ts(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap())
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

pub fn hospital_id(i: usize) -> String {
    format!("{:09}", 100_000 + i)
}

pub fn names(i: usize) -> (String, String) {
    let (fk, fr) = FAMILY[i % FAMILY.len()];
    let (gk, gr) = GIVEN[(i / FAMILY.len()) % GIVEN.len()];
    (format!("{fk} {gk}"), format!("{fr} {gr}"))
}

pub fn birth_date(i: usize) -> String {
    let y = 1930 + (i * 7) % 80;
    let m = 1 + (i * 5) % 12;
    let d = 1 + (i * 3) % 28;
    format!("{y:04}-{m:02}-{d:02}")
}

/// Is patient `i` an inpatient (ward/room/bed)?
pub fn is_inpatient(i: usize) -> bool {
    i % 3 == 0
}

pub fn ward_of(i: usize) -> (String, String, String) {
    let ward = format!("{}病棟", ["東3", "西5", "南10"][(i / 3) % 3]);
    let room = format!("{}号室", 300 + (i / 9) % 20);
    let bed = format!("{}", 1 + (i / 180) % 4);
    (ward, room, bed)
}

fn sub(i: usize) -> Value {
    json!({"reference": format!("Patient/p{i}")})
}

pub fn patient(i: usize) -> Value {
    let (kanji, kana) = names(i);
    // Some kana names arrive in half-width katakana.
    let kana = if i % 5 == 0 { half_width(&kana) } else { kana };
    json!({
        "resourceType": "Patient", "id": format!("p{i}"),
        "identifier": [{"system": HOSPITAL_SYSTEM, "value": hospital_id(i)}],
        "name": [
            {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE"}], "text": kanji},
            {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}], "text": kana}
        ],
        "gender": if i % 2 == 0 { "male" } else { "female" },
        "birthDate": birth_date(i)
    })
}

fn half_width(s: &str) -> String {
    const FULL: &str = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポャュョッー ";
    const HALF: &[&str] = &[
        "ｱ", "ｲ", "ｳ", "ｴ", "ｵ", "ｶ", "ｷ", "ｸ", "ｹ", "ｺ", "ｻ", "ｼ", "ｽ", "ｾ", "ｿ", "ﾀ", "ﾁ", "ﾂ",
        "ﾃ", "ﾄ", "ﾅ", "ﾆ", "ﾇ", "ﾈ", "ﾉ", "ﾊ", "ﾋ", "ﾌ", "ﾍ", "ﾎ", "ﾏ", "ﾐ", "ﾑ", "ﾒ", "ﾓ", "ﾔ",
        "ﾕ", "ﾖ", "ﾗ", "ﾘ", "ﾙ", "ﾚ", "ﾛ", "ﾜ", "ｦ", "ﾝ", "ｶﾞ", "ｷﾞ", "ｸﾞ", "ｹﾞ", "ｺﾞ", "ｻﾞ", "ｼﾞ", "ｽﾞ",
        "ｾﾞ", "ｿﾞ", "ﾀﾞ", "ﾁﾞ", "ﾂﾞ", "ﾃﾞ", "ﾄﾞ", "ﾊﾞ", "ﾋﾞ", "ﾌﾞ", "ﾍﾞ", "ﾎﾞ", "ﾊﾟ", "ﾋﾟ", "ﾌﾟ", "ﾍﾟ", "ﾎﾟ", "ｬ",
        "ｭ", "ｮ", "ｯ", "ｰ", " ",
    ];
    s.chars()
        .map(|c| match FULL.chars().position(|f| f == c) {
            Some(p) => HALF[p].to_string(),
            None => c.to_string(),
        })
        .collect()
}

pub fn allergy(i: usize, k: usize) -> Value {
    json!({
        "resourceType": "AllergyIntolerance", "id": format!("a{i}-{k}"),
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "category": ["medication"], "criticality": "high",
        "code": {"text": (["ペニシリン", "セフェム系", "ヨード造影剤"][k % 3])},
        "patient": sub(i), "recordedDate": "2020-04-10",
        "reaction": [{"manifestation": [{"text": "蕁麻疹"}]}]
    })
}

pub fn condition(i: usize, k: usize) -> Value {
    json!({
        "resourceType": "Condition", "id": format!("c{i}-{k}"),
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full", "code": (["I10", "E119", "K250"][k % 3])}], "text": (["高血圧症", "2型糖尿病", "胃潰瘍"][k % 3])},
        "subject": sub(i), "onsetDateTime": "2019-05-01", "recordedDate": "2019-05-02"
    })
}

pub fn infection(i: usize, now: DateTime<Utc>) -> Value {
    json!({
        "resourceType": "Observation", "id": format!("inf{i}"), "status": "final",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {"coding": [{"code": "5F016141002327101"}], "text": "HBs抗原"},
        "subject": sub(i), "effectiveDateTime": ts(now - Duration::days(10)),
        "valueCodeableConcept": {"text": if i % 4 == 0 { "陽性 (+)" } else { "陰性 (-)" }},
        "interpretation": [{"coding": [{"code": if i % 4 == 0 { "POS" } else { "N" }}]}]
    })
}

pub fn prescription(i: usize, k: usize, now: DateTime<Utc>) -> Value {
    json!({
        "resourceType": "MedicationRequest", "id": format!("rx{i}-{k}"), "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": (["アムロジピン錠5mg", "メトホルミン錠250mg"][k % 2])},
        "subject": sub(i), "authoredOn": ts(now - Duration::days(3)),
        "dosageInstruction": [{
            "timing": {"code": {"text": "1日2回 朝夕食後"}},
            "route": {"text": "経口"},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "錠"}}]
        }]
    })
}

pub fn administration(i: usize, k: usize, now: DateTime<Utc>) -> Value {
    json!({
        "resourceType": "MedicationAdministration", "id": format!("ma{i}-{k}"), "status": "completed",
        "medicationCodeableConcept": {"text": "アムロジピン錠5mg"},
        "subject": sub(i), "effectiveDateTime": ts(now - Duration::hours(6 + 12 * k as i64)),
        "request": {"reference": format!("MedicationRequest/rx{i}-0")},
        "dosage": {"route": {"text": "経口"}, "dose": {"value": 1, "unit": "錠"}}
    })
}

pub fn lab(i: usize, k: usize, now: DateTime<Utc>) -> Value {
    let (name, code, unit, low, high) = [
        ("カリウム", "3H015000002326101", "mEq/L", "3.5", "5.0"),
        ("ナトリウム", "3H010000002326101", "mEq/L", "135", "145"),
        ("クレアチニン", "3C015000002327101", "mg/dL", "0.6", "1.1"),
        ("ヘモグロビン", "2A030000001930101", "g/dL", "12.0", "16.0"),
    ][k % 4];
    json!({
        "resourceType": "Observation", "id": format!("lab{i}-{k}"), "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"code": code}], "text": name},
        "subject": sub(i), "effectiveDateTime": ts(now - Duration::days(1 + k as i64)),
        "valueQuantity": {"value": 4.25, "unit": unit},
        "referenceRange": [{"low": {"value": low.parse::<f64>().unwrap()}, "high": {"value": high.parse::<f64>().unwrap()}, "text": format!("{low}-{high}")}],
        "interpretation": [{"coding": [{"code": "N"}]}]
    })
}

pub fn vital(i: usize, k: usize, now: DateTime<Utc>) -> Value {
    let t = ts(now - Duration::hours(2 + 8 * k as i64));
    if k % 2 == 0 {
        json!({
            "resourceType": "Observation", "id": format!("v{i}-{k}"), "status": "final",
            "category": [{"coding": [{"code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}], "text": "血圧"},
            "subject": sub(i), "effectiveDateTime": t,
            "component": [
                {"code": {"coding": [{"code": "8480-6"}]}, "valueQuantity": {"value": 120 + k, "unit": "mmHg"}},
                {"code": {"coding": [{"code": "8462-4"}]}, "valueQuantity": {"value": 80, "unit": "mmHg"}}
            ]
        })
    } else {
        json!({
            "resourceType": "Observation", "id": format!("v{i}-{k}"), "status": "final",
            "category": [{"coding": [{"code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}], "text": "体温"},
            "subject": sub(i), "effectiveDateTime": t,
            "valueQuantity": {"value": 36.8, "unit": "℃"}
        })
    }
}

pub fn flag(i: usize) -> Value {
    json!({
        "resourceType": "Flag", "id": format!("f{i}"), "status": "active",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "129839007"}], "text": "転倒転落リスク高"},
        "subject": sub(i), "period": {"start": "2024-01-01"}
    })
}

pub fn encounter(i: usize, now: DateTime<Utc>) -> Value {
    if is_inpatient(i) {
        let (ward, room, bed) = ward_of(i);
        let pt = |c: &str| json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": c}]});
        json!({
            "resourceType": "Encounter", "id": format!("e{i}"), "status": "in-progress",
            "class": {"code": "IMP"}, "subject": sub(i),
            "period": {"start": ts(now - Duration::days(4))},
            "location": [
                {"location": {"display": ward}, "physicalType": pt("wa")},
                {"location": {"display": room}, "physicalType": pt("ro")},
                {"location": {"display": bed}, "physicalType": pt("bd")}
            ]
        })
    } else {
        json!({
            "resourceType": "Encounter", "id": format!("e{i}"), "status": "finished",
            "class": {"code": "AMB"}, "subject": sub(i),
            "period": {"start": ts(now - Duration::days(20)), "end": ts(now - Duration::days(20))}
        })
    }
}

pub fn document(i: usize, now: DateTime<Utc>) -> Value {
    let text = format!(
        "退院時サマリー\n入院経過: 患者{i}は安定。\n<script>alert(1)</script> はテキストのまま。"
    );
    json!({
        "resourceType": "DocumentReference", "id": format!("d{i}"), "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "18842-5"}]},
        "subject": sub(i), "date": ts(now - Duration::days(2)), "description": "退院時サマリー",
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
            "data": base64::engine::general_purpose::STANDARD.encode(text.as_bytes())}}]
    })
}

/// Resources of patient `i` (the Patient first).
pub fn patient_resources(i: usize, now: DateTime<Utc>) -> Vec<Value> {
    let mut v = vec![patient(i)];
    v.extend((0..2).map(|k| allergy(i, k)));
    v.extend((0..3).map(|k| condition(i, k)));
    v.push(infection(i, now));
    v.extend((0..2).map(|k| prescription(i, k, now)));
    v.extend((0..4).map(|k| administration(i, k, now)));
    v.extend((0..8).map(|k| lab(i, k, now)));
    v.extend((0..6).map(|k| vital(i, k, now)));
    v.push(flag(i));
    v.push(encounter(i, now));
    v.push(document(i, now));
    v
}

pub const RESOURCES_PER_PATIENT: usize = 30;

pub fn upsert(v: &Value) -> Change {
    Change::Upsert(serde_json::to_vec(v).unwrap())
}

/// What a pull may send after patients 0..12 (each at least once): a duplicate of
/// allergy a1-0 (the last wins: 二度目), condition c2-1 retracted, lab6-0 moved to patient
/// 7, patient 5 deleted after its items and one more item of it afterwards, and an orphan
/// lab (two `unknown_patient` rejects).
pub fn awkward_tail(now: DateTime<Utc>) -> Vec<Change> {
    let mut out = Vec::new();
    let mut again = allergy(1, 0);
    again["code"]["text"] = json!("二度目");
    out.push(upsert(&again));
    let mut retract = condition(2, 1);
    retract["verificationStatus"] = json!({"coding": [{"code": "entered-in-error"}]});
    out.push(upsert(&retract));
    let mut moved = lab(6, 0, now);
    moved["subject"] = json!({"reference": "Patient/p7"});
    out.push(upsert(&moved));
    out.push(Change::Delete {
        resource_type: "Patient".into(),
        id: "p5".into(),
    });
    let mut late = vital(5, 1, now);
    late["id"] = json!("late-vital");
    out.push(upsert(&late));
    let mut orphan = lab(1, 0, now);
    orphan["id"] = json!("orphan");
    orphan["subject"] = json!({"reference": "Patient/nobody"});
    out.push(upsert(&orphan));
    out
}

/// A whole hospital of `n` patients as the changes a full pull delivers.
pub fn hospital(n: usize, now: DateTime<Utc>) -> Vec<Change> {
    (0..n)
        .flat_map(|i| patient_resources(i, now))
        .map(|v| upsert(&v))
        .collect()
}

/// With the node stopped, flip one byte of the content of the first stored version in
/// `space` of `epoch` born in generation `born`, through redb itself (the file stays a
/// valid database: only the checksummed content changed). Returns the damaged key.
pub fn flip_stored_value(path: &Path, epoch: u64, space: u8, born: u64) -> Vec<u8> {
    let db = redb::Database::create(path).expect("open the file directly");
    let txn = db.begin_write().unwrap();
    let name = format!("e{epoch}.items");
    let key = {
        use redb::ReadableTable;
        let mut table = txn
            .open_table(redb::TableDefinition::<&[u8], &[u8]>::new(&name))
            .unwrap();
        let (key, mut value) = table
            .iter()
            .unwrap()
            .map(|r| r.unwrap())
            .map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
            .find(|(k, _)| {
                k[0] == space && u64::from_be_bytes(k[k.len() - 8..].try_into().unwrap()) == born
            })
            .expect("a version to damage");
        *value.last_mut().unwrap() ^= 0x20;
        table.insert(key.as_slice(), value.as_slice()).unwrap();
        key
    };
    txn.commit().unwrap();
    key
}
