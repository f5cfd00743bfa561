//! The real-world conformance set (`tests/fixtures/real-world/`, written from the JP Core /
//! JP-CLINS profiles and from what real systems send) synced through the engine into a
//! store and read back as a clinician's page is assembled: what is kept, what is warned,
//! what is rejected and why, and what the record says. The set's data time is
//! 2026-11-01 09:00 JST; it is read long after (as a node frozen on one generation is).

use std::path::PathBuf;
use std::sync::Arc;

use akari_sync::engine::{CancellationToken, MemorySource};
use akari_sync::model::{
    BloodGroup, Criticality, Deceased, Moment, Onset, PatientRecord, ReportKind, Severity,
    VitalKind,
};
use akari_sync::reader::SearchKind;
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions, SyncReport};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-world")
}

/// The data time of the set.
fn data_time() -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(9 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 1, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

struct Synced {
    _dir: tempfile::TempDir,
    reader: SnapshotReader,
    report: SyncReport,
}

fn sync_fixtures() -> Synced {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("snapshot.redb"), StoreOptions::default()).unwrap();
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    let mut source = MemorySource::from_json_files(&fixtures()).unwrap();
    source.high_water = Some(data_time());
    let report = Engine::new(store, Arc::new(source), config)
        .with_reader(reader.clone())
        .sync_now(true, &CancellationToken::new())
        .expect("the set syncs");
    Synced {
        _dir: dir,
        reader,
        report,
    }
}

fn patient(s: &Synced, hospital_id: &str) -> PatientRecord {
    s.reader
        .patient_by_hospital_id(hospital_id)
        .unwrap()
        .unwrap_or_else(|| panic!("patient {hospital_id}"))
}

fn warned(r: &SyncReport, reason: &str, rtype: &str) -> u64 {
    r.warnings
        .get(reason)
        .and_then(|t| t.get(rtype))
        .copied()
        .unwrap_or(0)
}

#[test]
fn the_set_is_served_long_after_its_data_time() {
    assert!(Utc::now() - data_time() >= chrono::Duration::hours(100));
}

#[test]
fn only_what_cannot_be_shown_is_rejected_and_every_warning_is_counted() {
    let s = sync_fixtures();
    let r = &s.report;
    // The one rejection: a MAR dose whose time does not parse, named by its field.
    assert_eq!(r.rejects.get("invalid_value"), Some(&1), "{:?}", r.rejects);
    assert_eq!(r.rejects.values().sum::<u64>(), 1, "{:?}", r.rejects);
    assert_eq!(
        r.reject_types["invalid_value"].get("MedicationAdministration"),
        Some(&1)
    );
    // Warned, kept: the eCS profile claims, the unparseable lab time, the uncategorised lab.
    assert_eq!(warned(r, "profile_violation", "Observation"), 1);
    assert_eq!(warned(r, "profile_violation", "MedicationRequest"), 1);
    assert_eq!(warned(r, "invalid_time", "Observation"), 1);
    assert_eq!(
        warned(r, "unrecognised_category", "Observation"),
        2,
        "{:?}",
        r.warnings
    );
    assert_eq!(r.ignored.get("Organization"), Some(&1));
    assert_eq!(r.places, 3);
    assert_eq!(
        r.dropped.get("out_of_window"),
        Some(&1),
        "the 4-day-old temperature"
    );
}

#[test]
fn the_clinician_sees_labs_blood_type_and_ranges_as_numbers() {
    let s = sync_fixtures();
    let r = patient(&s, "POP-000712");
    let cre = r.labs.iter().find(|l| l.test == "クレアチニン").unwrap();
    assert_eq!(
        (cre.value.as_str(), cre.unit.as_deref()),
        ("5.04", Some("mg/dL"))
    );
    let range = cre.reference_range.as_ref().unwrap();
    assert_eq!(range.numbers().as_deref(), Some("0.65–1.07 mg/dL"));
    assert_eq!(range.text.as_deref(), Some("JCCLS共用基準範囲2022"));
    let ast = r.labs.iter().find(|l| l.test == "AST").unwrap();
    assert_eq!(ast.value, "424");
    let k = r.labs.iter().find(|l| l.test == "カリウム").unwrap();
    assert_eq!(
        k.time, None,
        "an unparseable time is unknown, never midnight"
    );
    // Blood type, three years old, kept beyond the labs window.
    let (abo, rh) = r.blood_type();
    assert_eq!(abo.map(|b| b.value.as_str()), Some("A型"));
    assert_eq!(rh.map(|b| b.value.as_str()), Some("Rh(+)"));
    assert_eq!(abo.unwrap().group, BloodGroup::Abo);
}

#[test]
fn vital_signs_of_the_last_72_hours_of_the_data_time_in_readable_units() {
    let s = sync_fixtures();
    let r = patient(&s, "POP-000712");
    let temp = r
        .vitals
        .iter()
        .find(|v| v.kind == VitalKind::BodyTemperature)
        .unwrap();
    assert_eq!(
        (temp.value.as_str(), temp.unit.as_deref()),
        ("38.9", Some("℃"))
    );
    let bp = r
        .vitals
        .iter()
        .find(|v| v.kind == VitalKind::BloodPressure)
        .unwrap();
    assert_eq!(
        (bp.value.as_str(), bp.unit.as_deref()),
        ("86/48", Some("mmHg"))
    );
    let o2 = r
        .vitals
        .iter()
        .find(|v| v.kind == VitalKind::Other)
        .unwrap();
    assert_eq!(o2.name.as_deref(), Some("酸素流量"));
    assert_eq!(
        r.vitals.len(),
        3,
        "the reading older than 72 h is not shown"
    );
    let jcs = r
        .findings
        .iter()
        .find(|f| f.name == "意識レベル（JCS）")
        .unwrap();
    assert_eq!(jcs.value, "I-3");
    // The MAR of the data time's last 72 h, though the wall clock is days later; the dose
    // with an impossible time is not there at all.
    assert_eq!(r.administrations.len(), 1);
    assert_eq!(r.administrations[0].id, "rw-mar-1");
}

#[test]
fn prescriptions_kept_whatever_their_status_and_profile() {
    let s = sync_fixtures();
    let r = patient(&s, "POP-000712");
    let vcm = r
        .prescriptions
        .iter()
        .find(|p| p.id == "rw-rx-vcm")
        .unwrap();
    assert_eq!(vcm.status, "completed");
    assert_eq!(vcm.medication, "バンコマイシン塩酸塩点滴静注用0.5g");
    assert!(r.prescriptions.iter().any(|p| p.id == "rw-rx-mepm"));
}

#[test]
fn prescriptions_in_effect_at_the_data_time_and_recently_ended_ones_are_shown() {
    let s = sync_fixtures();
    let r = patient(&s, "POP-000712");
    let at = data_time().fixed_offset();
    let rx = |id: &str| r.prescriptions.iter().find(|p| p.id == id);
    // Completed (dispensed) 3 days before the data time for 14 days: in effect, its
    // prescriber named from the Practitioner it refers to.
    let vcm = rx("rw-rx-vcm").expect("vancomycin");
    assert!(
        vcm.in_effect_at(at),
        "a completed course still running is in effect"
    );
    assert_eq!(vcm.days, Some(14));
    assert_eq!(
        vcm.prescriber.as_ref().and_then(|p| p.name.as_deref()),
        Some("主治 一郎")
    );
    // Ended 5 days before the data time: shown, not in effect.
    let lvfx = rx("rw-rx-lvfx").expect("recently ended levofloxacin is shown");
    assert!(!lvfx.in_effect_at(at));
    assert_eq!(lvfx.days, Some(7));
    assert_eq!(
        lvfx.prescriber.as_ref().and_then(|p| p.name.as_deref()),
        Some("医学 一郎")
    );
    // Ended a month before: not on the page, though the store keeps it.
    assert!(rx("rw-rx-old").is_none(), "{:?}", r.prescriptions);
    // The active one and its copy both reach the page (the page merges them).
    assert!(rx("rw-rx-mepm").is_some() && rx("rw-rx-mepm-copy").is_some());
}

#[test]
fn allergies_keep_criticality_severity_and_a_confirmed_none() {
    let s = sync_fixtures();
    let r = patient(&s, "POP-000712");
    let pc = r.allergies.iter().find(|a| a.id == "rw-alg-pc").unwrap();
    assert_eq!(pc.criticality, Some(Criticality::Low));
    assert_eq!(pc.severity, Some(Severity::Moderate));
    let iodine = r
        .allergies
        .iter()
        .find(|a| a.id == "rw-alg-iodine")
        .unwrap();
    assert_eq!(iodine.criticality, Some(Criticality::UnableToAssess));
    let c = patient(&s, "C-0009");
    assert_eq!(c.allergies.len(), 1);
    assert!(c.allergies[0].none_known);
    assert_eq!(
        c.allergies[0].verification_status.as_deref(),
        Some("confirmed")
    );
    // In a result list or census, "no known allergy" puts no allergy marker on the row;
    // a real allergy does.
    let row = |r: &PatientRecord| s.reader.row_facts(&r.key).unwrap().expect("listed");
    assert!(!row(&c).allergy);
    assert_eq!(row(&c).patient, c.patient);
    assert!(row(&r).allergy);
}

#[test]
fn problem_onsets_as_the_source_gave_them() {
    let s = sync_fixtures();
    let r = patient(&s, "POP-000712");
    let onset = |id: &str| {
        r.conditions
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.onset.clone())
            .unwrap()
    };
    match onset("rw-cnd-sepsis") {
        Onset::At(Moment::Time(t)) => {
            assert_eq!(t.to_rfc3339(), "2026-10-28T14:44:29.346452+09:00")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        onset("rw-cnd-dm"),
        Onset::Period {
            start: Some(Moment::Month(2015, 4)),
            end: None
        }
    );
    assert_eq!(onset("rw-cnd-htn"), Onset::Age("55歳".into()));
    assert_eq!(onset("rw-cnd-ua"), Onset::Text("40代から".into()));
}

#[test]
fn reports_orders_immunisations_and_who_to_call() {
    let s = sync_fixtures();
    let r = patient(&s, "POP-000712");
    let ct = &r.reports[0];
    assert_eq!(
        (ct.kind, ct.title.as_str()),
        (ReportKind::Imaging, "胸部CT")
    );
    assert_eq!(ct.conclusion.as_deref(), Some("右下葉肺炎の疑い。"));
    assert!(ct.text.contains("右下葉に浸潤影あり"), "{}", ct.text);
    let order = &r.orders[0];
    assert_eq!(order.text, "血液培養 2セット");
    assert_eq!(order.priority.as_deref(), Some("stat"));
    let requester = order.requester.as_ref().unwrap();
    assert_eq!(
        requester.name.as_deref(),
        Some("主治 一郎"),
        "named from the Practitioner"
    );
    let imm = &r.immunizations[0];
    assert_eq!(
        imm.occurred,
        Some(Moment::Day(NaiveDate::from_ymd_opt(2025, 10, 15).unwrap()))
    );
    assert_eq!(imm.dose.as_deref(), Some("7"));
    let enc = &r.encounters[0];
    let attending = enc.participants.iter().find(|p| p.is_attending()).unwrap();
    assert_eq!(attending.name.as_deref(), Some("主治 一郎"));
    assert_eq!(attending.contact.as_deref(), Some("PHS 7012"));
}

#[test]
fn inpatients_are_in_their_ward_census_through_locations_or_display_text() {
    let s = sync_fixtures();
    let r = patient(&s, "POP-000712");
    let e = &r.encounters[0];
    assert_eq!(
        (e.ward.as_deref(), e.room.as_deref(), e.bed.as_deref()),
        (Some("4W病棟"), Some("4W-06号室"), Some("2"))
    );
    let ward = s
        .reader
        .ward("4W病棟")
        .unwrap()
        .expect("the ward has a census");
    let beds: Vec<(Option<&str>, Option<&str>, Option<&str>)> = ward
        .beds
        .iter()
        .map(|b| {
            (
                b.room.as_deref(),
                b.bed.as_deref(),
                b.patient.hospital_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        beds,
        vec![
            (Some("4W-06号室"), Some("2"), Some("POP-000712")),
            (Some("4W-07号室"), None, Some("C-0009")),
        ]
    );
}

#[test]
fn hospital_ids_are_found_ignoring_case_hyphens_and_leading_zeros() {
    let s = sync_fixtures();
    for q in ["POP-000712", "pop712", "ＰＯＰ－０００７１２", "pop-712"] {
        let (kind, hits) = s.reader.search(q).unwrap();
        assert_eq!(kind, SearchKind::HospitalId, "{q}");
        assert_eq!(hits.len(), 1, "{q}");
        assert_eq!(hits[0].hospital_id.as_deref(), Some("POP-000712"));
    }
    let (_, hits) = s.reader.search("458").unwrap();
    assert_eq!(hits[0].hospital_id.as_deref(), Some("0000458"));
    let (_, hits) = s.reader.search("c-9").unwrap();
    assert_eq!(hits[0].hospital_id.as_deref(), Some("C-0009"));
}

#[test]
fn a_deceased_patient_is_marked() {
    let s = sync_fixtures();
    let b = patient(&s, "0000458");
    match b.patient.deceased {
        Some(Deceased::At(Moment::Time(t))) => {
            assert_eq!(t.to_rfc3339(), "2026-10-30T04:12:00+09:00")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(patient(&s, "POP-000712").patient.deceased, None);
}
