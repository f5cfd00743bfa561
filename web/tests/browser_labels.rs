//! Labels and scan-to-open in Debian's headless Chromium: a patient's label sheet and
//! wristband are rendered, photographed at print resolution, and their Code 128 and QR
//! symbols decoded by a real decoder (`zbarimg`, Debian package zbar-tools) back to the
//! patient's hospital ID; then that value typed into the search box with Enter, as a
//! USB barcode scanner types it, opens the patient's page, and the ledger holds the
//! lookup by ID before the read. Screenshots go to `target/screenshots/`.
//!
//! Needs `chromium` and `zbarimg` (`scripts/test` installs both).

mod common;

use akari_accounts::event::{Action, Actor};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::page::Viewport;
use chromiumoxide::page::{MediaTypeParams, ScreenshotParams};
use chromiumoxide::Page;
use common::page::{click_to, shot, text, wait_for};

async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js).await.unwrap().into_value().unwrap()
}

/// Device pixels per CSS pixel for the photographs of the symbols: 4 × 96 dpi, about
/// the 384 dpi a label printer has.
const SCALE: f64 = 4.0;

/// A photograph of the first element matching `selector` at [`SCALE`], as PNG, saved as
/// `target/screenshots/<name>.png`.
async fn photograph(page: &Page, selector: &str, name: &str) -> std::path::PathBuf {
    wait_for(page, selector).await;
    let [x, y, width, height]: [f64; 4] = eval(
        page,
        &format!(
            "(() => {{ const e = document.querySelector({}); e.scrollIntoView(); const r = e.getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.width, r.height]; }})()",
            serde_json::to_string(selector).unwrap()
        ),
    )
    .await;
    assert!(
        width > 10.0 && height > 10.0,
        "{selector}: {width}×{height}"
    );
    let png = page
        .screenshot(
            ScreenshotParams::builder()
                .clip(Viewport {
                    x,
                    y,
                    width,
                    height,
                    scale: SCALE,
                })
                .build(),
        )
        .await
        .unwrap();
    let path = common::screenshots_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

/// Decodes `image`, which must hold exactly one Code 128 and one QR symbol, both of `id`;
/// returns what was read.
fn both_symbols(image: &std::path::Path, id: &str) -> Vec<(String, String)> {
    let mut read = decode(image);
    read.sort();
    let want = [("CODE-128", id), ("QR-Code", id)].map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(read, want, "{}", image.display());
    read
}

/// Types `value` and Enter into the field `selector`, as a USB barcode scanner does, and
/// returns the URL of the patient page that opens.
async fn scan(page: &Page, selector: &str, value: &str) -> String {
    wait_for(page, selector)
        .await
        .click()
        .await
        .unwrap()
        .type_str(value)
        .await
        .unwrap()
        .press_key("Enter")
        .await
        .unwrap();
    wait_for(page, ".patient-head").await;
    page.url().await.unwrap().unwrap()
}

/// What `zbarimg` reads in an image: `(symbology, data)` pairs, e.g. `("CODE-128", "…")`.
fn decode(image: &std::path::Path) -> Vec<(String, String)> {
    let out = std::process::Command::new("zbarimg")
        .args([
            "--quiet",
            "-Sdisable",
            "-Scode128.enable",
            "-Sqrcode.enable",
        ])
        .arg(image)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "zbarimg cannot run ({e}): run `scripts/test` (it installs what the tests \
                 need) or `apt-get install zbar-tools`"
            )
        });
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(kind, data)| (kind.to_owned(), data.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_symbols_decode_to_the_hospital_id_and_a_scan_opens_the_patient() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, _hospital) = common::snapshot(dir.path(), 60);
    let common::Site {
        node,
        base,
        browser,
        page,
    } = common::clinician_site(&reader, dir.path()).await;

    // An inpatient with an active allergy, whose name is plain text. (The synthetic
    // hospital records no blood types: the unit tests show the blood type on a label.)
    let census = reader.census().unwrap();
    let patient = census
        .iter()
        .flat_map(|w| &w.beds)
        .find_map(|b| {
            let r = reader.patient(&b.patient.key).unwrap()?;
            let clean = !r.patient.name_kanji.as_deref()?.contains('<');
            let allergy = r
                .allergies
                .iter()
                .any(|a| a.clinical_status.as_deref() == Some("active") && !a.none_known);
            (clean && allergy && r.patient.hospital_id.is_some()).then_some(r)
        })
        .expect("the synthetic hospital has inpatients with allergies");
    let id = patient.patient.hospital_id.clone().unwrap();
    let key = patient.key.0.clone();

    // Log in with the sealed account and declare.
    common::log_in_and_declare(&page, &base, &node, "5階西").await;

    // 1. From the patient page to the label sheet.
    page.goto(format!("{base}/patients/{key}")).await.unwrap();
    click_to(&page, "#print-labels", ".label-sheet .label").await;
    let first = text(&page, ".label").await;
    assert!(
        first.contains(patient.patient.name_kana.as_deref().unwrap()),
        "kana: {first}"
    );
    assert!(first.contains(&id), "{first}");
    assert!(first.contains("⚠アレルギー"), "the allergy mark: {first}");
    assert!(first.contains("訓練"), "a drill label says so: {first}");
    let labels: usize = eval(
        &page,
        "document.querySelectorAll('.label-sheet .label').length",
    )
    .await;
    assert_eq!(labels, 24, "one A4 24-up sheet");
    let size: [f64; 2] = eval(
        &page,
        "(() => { const r = document.querySelector('.label').getBoundingClientRect(); return [r.width, r.height]; })()",
    )
    .await;
    // 70 × 33.9 mm at 96 px per inch.
    let mm = 96.0 / 25.4;
    assert!(
        (size[0] - 70.0 * mm).abs() < 1.0 && (size[1] - 33.9 * mm).abs() < 1.0,
        "{size:?}"
    );
    shot(&page, "labels-01-sheet").await;
    // On paper: the labels alone, from the sheet's top edge.
    page.emulate_media_type(MediaTypeParams::Print)
        .await
        .unwrap();
    let chrome: String = eval(
        &page,
        "getComputedStyle(document.querySelector('header.chrome')).display",
    )
    .await;
    assert_eq!(chrome, "none", "no page header on a label sheet");
    let help: String = eval(
        &page,
        "getComputedStyle(document.querySelector('.label-help')).display",
    )
    .await;
    assert_eq!(help, "none");
    page.emulate_media_type(MediaTypeParams::Screen)
        .await
        .unwrap();

    // 2. The symbols, photographed at print resolution, decode to the hospital ID.
    page.execute(SetDeviceMetricsOverrideParams::new(1280, 900, SCALE, false))
        .await
        .unwrap();
    let bars = photograph(&page, ".label .label-code128 svg", "labels-02-code128").await;
    assert_eq!(decode(&bars), vec![("CODE-128".to_owned(), id.clone())]);
    let qr = photograph(&page, ".label .label-qr svg", "labels-03-qr").await;
    assert_eq!(decode(&qr), vec![("QR-Code".to_owned(), id.clone())]);
    // The whole label: both symbols, nothing else.
    let whole = photograph(&page, ".label", "labels-04-label").await;
    both_symbols(&whole, &id);
    {
        let events = node.ledger.seen.lock().unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.action == Action::PatientPrint && e.patient.as_deref() == Some(&key)),
            "the label sheet is audited as a print"
        );
    }

    // 3. The wristband strip: 250 × 25 mm, the same symbols.
    page.goto(format!("{base}/patients/{key}/wristband"))
        .await
        .unwrap();
    let band = photograph(&page, ".band", "labels-05-wristband").await;
    let read = both_symbols(&band, &id);
    let size: [f64; 2] = eval(
        &page,
        "(() => { const r = document.querySelector('.band').getBoundingClientRect(); return [r.width, r.height]; })()",
    )
    .await;
    assert!(
        (size[0] - 250.0 * mm).abs() < 1.0 && (size[1] - 25.0 * mm).abs() < 1.0,
        "{size:?}"
    );
    page.execute(SetDeviceMetricsOverrideParams::new(1280, 900, 1.0, false))
        .await
        .unwrap();

    // 4. Scan-to-open: the scanner types the decoded value and Enter into the search box.
    page.goto(format!("{base}/search")).await.unwrap();
    let before = node.ledger.seen.lock().unwrap().len();
    let scanned = read[0].1.clone();
    let url = scan(&page, "#q", &scanned).await;
    assert!(url.ends_with(&format!("/patients/{key}")), "{url}");
    assert!(!url.contains(&id), "the ID is not in the URL: {url}");
    let name = text(&page, ".patient-name").await;
    assert!(
        name.contains(patient.patient.name_kanji.as_deref().unwrap()),
        "{name}"
    );
    shot(&page, "labels-06-scanned-patient").await;
    {
        let events = node.ledger.seen.lock().unwrap();
        let after = &events[before..];
        let lookup = after
            .iter()
            .position(|e| {
                e.action
                    == Action::PatientSearch {
                        query_kind: "hospital_id".into(),
                        results: 1,
                        keys: vec![key.clone()],
                    }
            })
            .unwrap_or_else(|| panic!("a lookup by ID: {after:?}"));
        let read = after
            .iter()
            .position(|e| e.action == Action::PatientRead && e.patient.as_deref() == Some(&key))
            .expect("the patient read");
        assert!(lookup < read, "the lookup is recorded before the page");
        assert!(matches!(
            &after[lookup].actor,
            Actor::Emergency { declared: Some(p), .. } if p.staff_number == "N-20931"
        ));
    }

    // 5. The ward page has its own scan field: the same value opens the same patient.
    let ward = census
        .iter()
        .find(|w| w.beds.iter().any(|b| b.patient.key == patient.key))
        .unwrap()
        .ward
        .clone();
    let mut ward_url = reqwest::Url::parse(&base).unwrap();
    ward_url
        .path_segments_mut()
        .unwrap()
        .extend(["wards", &ward]);
    page.goto(ward_url.as_str()).await.unwrap();
    let url = scan(&page, "#scan", &scanned).await;
    assert!(url.ends_with(&format!("/patients/{key}")), "{url}");
    drop(browser);
}
