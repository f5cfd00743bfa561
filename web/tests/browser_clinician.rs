//! The clinician's night, in Debian's headless Chromium driven over CDP: log in with a
//! sealed account and declare, search with half-width kana, open the summary and see the
//! allergy, print a ward (print media), log out; and XSS payloads from the source render
//! inert. The viewer's pages are served over TLS on
//! 127.0.0.1:0 from a real snapshot of a synthetic hospital. Screenshots of each step go
//! to `target/screenshots/`.
//!
//! Needs `chromium` (Debian package) at /usr/bin/chromium or `AKARI_CHROMIUM`.

mod common;

use std::sync::Arc;

use akari_accounts::event::{Action, Actor};
use akari_testkit::synth::names::to_halfwidth_katakana;
use akari_web::pages::{Pages, PagesConfig};
use chromiumoxide::cdp::browser_protocol::page::SetBypassCspParams;
use chromiumoxide::page::MediaTypeParams;
use chromiumoxide::Page;
use common::page::{click_to, fill, japanese_page, shot, text, wait_for};

async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js).await.unwrap().into_value().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clinician_logs_in_searches_reads_prints_and_logs_out() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, hospital) = common::snapshot(dir.path(), 150);
    let node = common::node("https://localhost", None);
    let pages = Pages::new(
        Arc::new(reader.clone()),
        node.ledger.clone(),
        node.accounts.clone(),
        PagesConfig::default(),
    );
    let (addr, spki) = common::serve(pages).await;
    let base = format!("https://localhost:{}", addr.port());
    let browser = common::launch_chromium(&spki, &dir.path().join("profile")).await;
    // A Japanese hospital PC: the browser asks for Japanese.
    let page = japanese_page(&browser).await;
    // Any payload that ever ran would record itself here. CSP is bypassed so that only
    // the escaping stands between the payload and execution.
    page.execute(SetBypassCspParams::new(true)).await.unwrap();
    page.evaluate_on_new_document(
        "window.alert = function () { window.__xss = (window.__xss || 0) + 1; };",
    )
    .await
    .unwrap();

    // A ward with a patient who has an active allergy and a harmless name.
    let census = reader.census().unwrap();
    let (ward, patient) = census
        .iter()
        .filter(|w| w.beds.len() >= 2)
        .find_map(|w| {
            w.beds.iter().find_map(|b| {
                let r = reader.patient(&b.patient.key).unwrap()?;
                let clean = !r.patient.name_kanji.as_deref()?.contains('<');
                let allergy = r.allergies.iter().any(|a| {
                    a.clinical_status.as_deref() == Some("active") && !a.substance.contains('<')
                });
                (clean && allergy).then(|| (w.ward.clone(), r))
            })
        })
        .expect("the synthetic hospital has inpatients with allergies");

    // 1. Log in with the sealed account.
    page.goto(format!("{base}/login")).await.unwrap();
    wait_for(&page, "#account_id").await;
    shot(&page, "01-login").await;
    let banner = text(&page, "#mode-banner").await;
    assert!(banner.contains("訓練"), "{banner}");
    let age = text(&page, "#data-age").await;
    assert!(age.contains("データ時点"), "{age}");
    fill(&page, "#account_id", &node.account_id).await;
    fill(&page, "#credential", &node.credential).await;
    click_to(&page, "#login-submit", "#decl-name").await;

    // 2. Declare the real person.
    fill(&page, "#decl-name", "灯 花子").await;
    fill(&page, "#decl-staff", "N-20931").await;
    fill(&page, "#decl-profession", "看護師").await;
    fill(&page, "#decl-department", &ward).await;
    shot(&page, "02-declare").await;
    click_to(&page, "#declare-submit", "#q").await;
    assert!(text(&page, "#who").await.contains("灯 花子"));
    assert!(node.ledger.seen.lock().unwrap().iter().any(|e| matches!(
        &e.actor,
        Actor::Emergency { declared: Some(p), .. } if p.staff_number == "N-20931"
    )));

    // 3. Search with half-width kana.
    let kana = to_halfwidth_katakana(patient.patient.name_kana.as_deref().unwrap());
    fill(&page, "#q", &kana).await;
    let link = format!("a[href=\"/patients/{}\"]", patient.key.0);
    click_to(&page, "#search-submit", &link).await;
    shot(&page, "03-search-halfwidth-kana").await;
    let url = page.url().await.unwrap().unwrap();
    assert!(
        url.ends_with("/search"),
        "the query is not in the URL: {url}"
    );

    // 4. The summary shows the allergy first.
    click_to(&page, &link, "#allergies").await;
    let allergies = text(&page, "#allergies").await;
    let substance = &patient
        .allergies
        .iter()
        .find(|a| a.clinical_status.as_deref() == Some("active"))
        .unwrap()
        .substance;
    assert!(allergies.contains(substance.as_str()), "{allergies}");
    let first_section: String =
        eval(&page, "document.querySelector('.patient-sheet section').id").await;
    assert_eq!(first_section, "allergies", "allergies come first");
    shot(&page, "04-patient-summary").await;

    // 5. The ward list, then the whole ward printed in one job.
    page.goto(format!("{base}/search")).await.unwrap();
    wait_for(&page, ".wards a").await;
    let clicked: bool = eval(
        &page,
        &format!(
            "(() => {{ const a = [...document.querySelectorAll('.wards a')].find(a => a.textContent === {}); if (a) a.click(); return !!a; }})()",
            serde_json::to_string(&ward).unwrap()
        ),
    )
    .await;
    assert!(clicked, "the search page lists the ward");
    wait_for(&page, "#print-ward").await;
    shot(&page, "05-ward").await;
    click_to(&page, "#print-ward", ".census-sheet").await;
    page.emulate_media_type(MediaTypeParams::Print)
        .await
        .unwrap();
    let beds = census.iter().find(|w| w.ward == ward).unwrap().beds.len();
    let sheets: usize = eval(&page, "document.querySelectorAll('.patient-sheet').length").await;
    assert_eq!(
        sheets, beds,
        "every patient of the ward is in the print job"
    );
    let hidden: String = eval(
        &page,
        "getComputedStyle(document.querySelector('.bar form')).display",
    )
    .await;
    assert_eq!(hidden, "none", "no buttons on paper");
    let breaks: String = eval(
        &page,
        "getComputedStyle(document.querySelectorAll('.sheet')[1]).breakBefore",
    )
    .await;
    assert_eq!(breaks, "page", "each patient starts a new page");
    assert!(
        text(&page, "#mode-banner").await.contains("訓練"),
        "paper says DRILL"
    );
    shot(&page, "06-ward-print-media").await;
    page.emulate_media_type(MediaTypeParams::Screen)
        .await
        .unwrap();
    {
        let events = node.ledger.seen.lock().unwrap();
        assert!(events.iter().any(|e| matches!(
            &e.action,
            Action::WardPrint { ward: w, patients, keys }
                if *w == ward && *patients as usize == beds && keys.len() == beds
        )));
        assert!(events.iter().any(
            |e| e.action == Action::PatientRead && e.patient.as_deref() == Some(&patient.key.0)
        ));
    }

    // 6. XSS payloads in names, allergies and documents stay text.
    let xss = hospital
        .truth()
        .into_values()
        .find(|r| {
            r.patient
                .name_kanji
                .as_deref()
                .unwrap_or("")
                .contains("onerror=")
        })
        .expect("the generator plants payloads");
    let xss_key = reader
        .patient_by_hospital_id(xss.patient.hospital_id.as_deref().unwrap())
        .unwrap()
        .unwrap()
        .key;
    page.goto(format!("{base}/patients/{}", xss_key.0))
        .await
        .unwrap();
    let name = text(&page, ".patient-name").await;
    assert!(
        name.contains("<img src=x onerror=alert(1)>"),
        "shown as text: {name}"
    );
    let images: usize = eval(&page, "document.querySelectorAll('main img').length").await;
    assert_eq!(images, 0, "no element was created from the payload");
    let ran: bool = eval(&page, "window.__xss !== undefined").await;
    assert!(!ran, "a payload ran");
    shot(&page, "07-xss-inert").await;

    // 7. Log out: back at the login page, and the session is gone.
    click_to(&page, "#logout", "#account_id").await;
    shot(&page, "08-logged-out").await;
    page.goto(format!("{base}/search")).await.unwrap();
    let error = text(&page, "#error-message").await;
    assert!(error.contains("ログイン"), "{error}");
    let ran: bool = eval(&page, "window.__xss !== undefined").await;
    assert!(!ran);
    drop(browser);
}
