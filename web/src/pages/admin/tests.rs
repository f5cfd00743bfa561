//! Admin and review pages through the router (no socket), with the real accounts service,
//! audit ledger, sync engine and snapshot, and software WebAuthn tokens: enrolment and
//! login (session rotation), CSRF refusals, the seal sheet shown once, clinician and admin
//! kept apart, mode changes, review verdicts and exports, snapshot generations.

use akari_accounts::event::{Action, Mode};
use akari_accounts::ledger::details;
use akari_accounts::{Console, CreationChallengeResponse, RequestChallengeResponse};
use akari_sync::engine::CancellationToken;
use axum::http::StatusCode;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_rs::prelude::Url;

use crate::pages::test_node::*;

#[tokio::test]
async fn login_needs_password_and_key_and_rotates_the_session() {
    let node = node();
    let code = create_admin(&node, "alice");
    let mut key = token();
    let mut b = Browser::new(&node);
    // Not logged in: admin pages send to the admin login.
    assert_eq!(
        b.get("/admin").await.location.as_deref(),
        Some("/admin/login")
    );
    enrol(&mut b, "alice", &code, &mut key).await;
    // The code works once.
    let csrf = b.get("/admin/enrol").await.csrf();
    let again = b
        .post_json(
            "/admin/enrol/begin",
            Some(&csrf),
            serde_json::json!({ "admin_id": "alice", "code": code }),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.json()["error"]
        .as_str()
        .unwrap()
        .contains("登録コード"));

    // Right key, wrong password: refused, still anonymous.
    let wrong = login(&mut b, "alice", "Wrong-Horse-42!!", &mut key).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        b.get("/admin").await.location.as_deref(),
        Some("/admin/login")
    );

    let before = b.cookie.clone().expect("the login form starts a session");
    let done = login(&mut b, "alice", PASSWORD, &mut key).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.json()["redirect"], "/admin");
    let set = done.set_cookie.unwrap();
    assert!(set.contains("Secure") && set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let after = b.cookie.clone().unwrap();
    assert_ne!(before, after, "the session identifier changes at login");

    let status = b.get("/admin").await;
    assert_eq!(status.status, StatusCode::OK);
    assert!(status
        .body
        .contains("id=\"current-mode\" data-mode=\"standby\""));
    assert!(status.body.contains("alice"));

    // The pre-login identifier is worth nothing now.
    let mut old = Browser::new(&node);
    old.cookie = Some(before);
    assert_eq!(
        old.get("/admin").await.location.as_deref(),
        Some("/admin/login")
    );

    // Logout ends the accounts session too.
    let csrf = status.csrf();
    let out = b.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/admin/login?out=1"));
    let mut replay = Browser::new(&node);
    replay.cookie = Some(after);
    assert_eq!(
        replay.get("/admin").await.location.as_deref(),
        Some("/admin/login")
    );
    let events = node.ledger.last_seq().unwrap();
    assert!(
        events >= 4,
        "admin created, enrolled, failed login, login, logout"
    );
}

#[tokio::test]
async fn posts_without_a_valid_csrf_token_are_refused() {
    let node = node();
    let mut b = admin(&node).await;
    let csrf = b.get("/admin").await.csrf();

    for token in ["", "forged"] {
        let r = b
            .post(
                "/admin/mode",
                &[("csrf", token), ("action", "drill"), ("reason", "x")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(mode(&node), Mode::Standby, "nothing changed");
        let r = b
            .post("/admin/accounts", &[("csrf", token), ("label", "ER-9")])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(!r.body.contains("seal-credential"));
        let r = b
            .post("/admin/export", &[("csrf", token), ("format", "csv")])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    assert!(node
        .accounts
        .list_accounts(&Console::new("t").capability())
        .unwrap()
        .is_empty());

    // JSON endpoints want the header.
    let mut anon = Browser::new(&node);
    anon.get("/admin/login").await;
    let r = anon
        .post_json(
            "/admin/login/begin",
            None,
            serde_json::json!({ "admin_id": "alice" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.content_type.starts_with("application/json"));

    // With the token, the same form works.
    let r = b
        .post(
            "/admin/mode",
            &[("csrf", &csrf), ("action", "drill"), ("reason", "訓練")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/admin"), "{}", r.body);
    assert_eq!(mode(&node), Mode::Drill);
}

#[tokio::test]
async fn the_seal_sheet_shows_the_credential_once_and_never_again() {
    let node = node();
    let mut b = admin(&node).await;
    let csrf = b.get("/admin/accounts").await.csrf();
    let sheet = b
        .post(
            "/admin/accounts",
            &[
                ("csrf", &csrf),
                ("label", "5F-West-2"),
                ("wards", "5階西, 6階東"),
                ("expires", "2099-12-31"),
            ],
        )
        .await;
    assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.body);
    let credential = seal_credential(&sheet.body);
    assert!(credential.len() >= 20, "{credential}");
    // Both languages on the sheet, whatever the page language.
    assert!(sheet.body.contains("開封時の手順") && sheet.body.contains("When opening"));
    assert!(sheet.body.contains("5階西, 6階東"));
    assert!(sheet.body.contains("2099-12-31"));
    let list = node
        .accounts
        .list_accounts(&Console::new("t").capability())
        .unwrap();
    assert_eq!(list.len(), 1);
    let account_id = list[0].account_id.clone();
    assert!(sheet.body.contains(&account_id));

    // No page shows it again, and the ledger export does not contain it.
    for path in [
        "/admin",
        "/admin/accounts",
        "/admin/review",
        "/admin/checkpoint",
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains(&credential),
            "{path} shows the credential"
        );
    }
    let export = b
        .post("/admin/export", &[("csrf", &csrf), ("format", "ndjson")])
        .await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.body.contains(&account_id));
    assert!(!export.body.contains(&credential));

    // A re-seal issues a new credential; the old one stops working.
    let resealed = b
        .post(
            &format!("/admin/accounts/{account_id}/reseal"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(resealed.status, StatusCode::OK, "{}", resealed.body);
    let fresh = seal_credential(&resealed.body);
    assert_ne!(fresh, credential);
    let r = b
        .post(
            "/admin/mode",
            &[("csrf", &csrf), ("action", "drill"), ("reason", "訓練")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/admin"));
    let mut nurse = Browser::new(&node);
    let c = nurse.get("/login").await.csrf();
    let refused = nurse
        .post(
            "/login",
            &[
                ("csrf", &c),
                ("account_id", &account_id),
                ("credential", &credential),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    clinician(&node, &account_id, &fresh).await;

    // Provisioning during the drill is refused with the reason.
    let during = b
        .post("/admin/accounts", &[("csrf", &csrf), ("label", "ER-2")])
        .await;
    assert_eq!(during.status, StatusCode::CONFLICT);
    assert!(!during.body.contains("seal-credential"));
    assert!(
        during.body.contains("standby or recovery"),
        "{}",
        during.body
    );
}

#[tokio::test]
async fn clinician_and_admin_sessions_cannot_cross() {
    let node = node();
    let (account_id, credential) = console_account(&node);
    let mut a = admin(&node).await;
    let csrf = a.get("/admin").await.csrf();
    a.post(
        "/admin/mode",
        &[("csrf", &csrf), ("action", "drill"), ("reason", "訓練")],
    )
    .await;
    assert_eq!(mode(&node), Mode::Drill);

    let mut nurse = clinician(&node, &account_id, &credential).await;
    let nurse_csrf = nurse.get("/search").await.csrf();
    for path in [
        "/admin",
        "/admin/accounts",
        "/admin/sync",
        "/admin/checkpoint",
        "/admin/review",
    ] {
        let r = nurse.get(path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(!r.body.contains("current-mode"));
    }
    let r = nurse
        .post(
            "/admin/mode",
            &[("csrf", &nurse_csrf), ("action", "end"), ("reason", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(mode(&node), Mode::Drill, "a clinician cannot end the drill");
    let r = nurse
        .post(
            "/admin/export",
            &[("csrf", &nurse_csrf), ("format", "ndjson")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The clinician session still works for its own pages.
    assert_eq!(nurse.get("/search").await.status, StatusCode::OK);

    // And the admin cannot read patients.
    for path in ["/search", "/declare"] {
        let r = a.get(path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let r = a.post("/search", &[("csrf", &csrf), ("q", "ア")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// Ends the running episode from the status page, its confirmation ticked.
pub(super) async fn end_episode(a: &mut Browser, csrf: &str) -> Page {
    a.post(
        "/admin/mode",
        &[
            ("csrf", csrf),
            ("action", "end"),
            ("reason", "訓練終了"),
            ("confirm", "yes"),
        ],
    )
    .await
}

#[tokio::test]
async fn drill_review_verdict_and_exports() {
    let node = node();
    let (account_id, credential) = console_account(&node);
    let mut a = admin(&node).await;
    let csrf = a.get("/admin").await.csrf();
    a.change_mode(&csrf, "drill", "夜間訓練").await;
    let mut nurse = clinician(&node, &account_id, &credential).await;
    let c = nurse.get("/search").await.csrf();
    assert_eq!(
        nurse
            .post("/search", &[("csrf", &c), ("q", "ア")])
            .await
            .status,
        StatusCode::OK
    );
    // Declaring an emergency during a drill is not a legal transition: said plainly.
    let r = a
        .post(
            "/admin/mode",
            &[("csrf", &csrf), ("action", "declare"), ("reason", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("drill"), "{}", r.body);
    let r = end_episode(&mut a, &csrf).await;
    assert_eq!(r.location.as_deref(), Some("/admin"));
    assert_eq!(mode(&node), Mode::Recovery);
    // Ending retired the opened account: the nurse is out.
    assert_eq!(nurse.get("/search").await.status, StatusCode::FORBIDDEN);

    let review = a.get("/admin/review").await;
    let at = review.body.find("class=\"episode-link\">").unwrap() + 21;
    let episode: u64 = review.body[at..at + review.body[at..].find('<').unwrap()]
        .parse()
        .unwrap();
    let page = a.get(&format!("/admin/review/{episode}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&account_id));
    assert!(page.body.contains("灯 花子"));
    let at = page.body.find("data-session=\"").unwrap() + 14;
    let session = page.body[at..at + page.body[at..].find('"').unwrap()].to_owned();
    let events = a
        .get(&format!("/admin/review/{episode}/sessions/{session}"))
        .await;
    assert!(events.body.contains("患者検索 (氏名)"), "{}", events.body);
    // The Japanese review speaks Japanese: every entry shown is named in Japanese, never
    // with the English name of its action.
    let (ja, en) = (
        crate::i18n::Tr {
            lang: crate::i18n::Lang::Ja,
            zone: akari_accounts::Zone::default(),
        },
        crate::i18n::Tr {
            lang: crate::i18n::Lang::En,
            zone: akari_accounts::Zone::default(),
        },
    );
    let mut shown = 0;
    for e in entries_after(&node, 0) {
        let (ja_text, en_text) = (
            super::review::action_text(ja, &e.action),
            super::review::action_text(en, &e.action),
        );
        assert_ne!(ja_text, en_text, "{:?} has no Japanese name", e.action);
        if events.body.contains(&ja_text) {
            shown += 1;
            assert!(
                !events.body.contains(&en_text),
                "{en_text} on the Japanese page"
            );
        }
    }
    assert!(shown >= 3, "login, declaration and search are listed");

    // Misuse needs a comment; drill does not.
    let r = a
        .post(
            &format!("/admin/review/{episode}/sessions/{session}/verdict"),
            &[("csrf", &csrf), ("verdict", "misuse"), ("comment", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = a
        .post(
            &format!("/admin/review/{episode}/sessions/{session}/verdict"),
            &[
                ("csrf", &csrf),
                ("verdict", "drill"),
                ("comment", "手順どおり"),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/admin/review/{episode}").as_str())
    );
    let page = a.get(&format!("/admin/review/{episode}")).await;
    assert!(page.body.contains("手順どおり"));

    for (format, ctype, marker) in [
        ("ndjson", "application/x-ndjson", "\"type\""),
        ("fhir", "application/fhir+json", "AuditEvent"),
        ("csv", "text/csv", "seq"),
    ] {
        let r = a
            .post(
                "/admin/export",
                &[
                    ("csrf", &csrf),
                    ("format", format),
                    ("episode", &episode.to_string()),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{format}: {}", r.body);
        assert!(r.content_type.starts_with(ctype), "{format}");
        assert!(r.disposition.as_deref().unwrap().starts_with("attachment;"));
        assert!(r.body.contains(marker), "{format}");
        assert!(
            r.body.contains(&session),
            "{format}: the episode's session is in it"
        );
    }
    // Each export was audited before it left.
    let mut exported = 0;
    node.ledger
        .scan(
            1..=u64::MAX,
            |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
                if matches!(e.action, Action::AuditExported { .. }) {
                    exported += 1;
                }
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(exported, 3);

    let r = a
        .post(
            "/admin/mode",
            &[("csrf", &csrf), ("action", "standby"), ("reason", "")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/admin"));
    assert_eq!(mode(&node), Mode::Standby);
}

/// The admin status page, the review pages and the audit report (what `akari audit report
/// N` prints) give an episode one number: the accounts store's, counted from 1 — not the
/// position of its first entry in the ledger.
#[tokio::test]
async fn the_status_page_the_review_and_the_report_give_one_episode_number() {
    use akari_accounts::review::{self, ReviewConfig, Unscoped};
    let node = node();
    let mut a = admin(&node).await;
    let csrf = a.get("/admin").await.csrf();
    for (action, reason) in [
        ("drill", "最初の訓練"),
        ("end", "訓練終了"),
        ("standby", ""),
        ("drill", "二回目の訓練"),
    ] {
        let r = a
            .post(
                "/admin/mode",
                &[
                    ("csrf", &csrf),
                    ("action", action),
                    ("reason", reason),
                    ("confirm", "yes"),
                ],
            )
            .await;
        assert_eq!(
            r.location.as_deref(),
            Some("/admin"),
            "{action}: {}",
            r.body
        );
    }
    let number = node.accounts.mode().unwrap().episode.unwrap().id;
    assert_eq!(number, 2, "the second episode");
    assert!(
        node.ledger.last_seq().unwrap() > 2 * number,
        "the episodes' entries are not at the start of the ledger"
    );
    let status = a.get("/admin").await;
    let at = status.body.find("id=\"current-episode\">").unwrap() + 21;
    assert!(
        status.body[at..].starts_with(&format!("#{number} ")),
        "{}",
        &status.body[at..at + 40]
    );

    let list = a.get("/admin/review").await;
    for n in [1, number] {
        assert!(
            list.body.contains(&format!(
                "<a href=\"/admin/review/{n}\" class=\"episode-link\">{n}</a>"
            )),
            "{}",
            list.body
        );
    }
    let page = a.get(&format!("/admin/review/{number}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("二回目の訓練"), "{}", page.body);

    let reviewed =
        review::review_episode(&node.ledger, number, &Unscoped, &ReviewConfig::default()).unwrap();
    let report = review::report(&reviewed, &akari_accounts::Zone::default());
    assert!(
        report.starts_with(&format!("Akari audit report: DRILL episode {number}\n")),
        "{report}"
    );
    assert!(report.contains("二回目の訓練"), "{report}");
}

/// Ending an episode and revoking an account cannot be undone: their forms require a
/// ticked "I understand" checkbox (no JavaScript needed), the handlers refuse without it
/// and nothing is done or recorded, and each reason field is labelled for what it is.
#[tokio::test]
async fn ending_an_episode_and_revoking_ask_for_confirmation_and_name_their_reasons() {
    let node = node();
    let (account_id, _credential) = console_account(&node);
    let mut a = admin(&node).await;
    let standby = a.get("/admin").await;
    assert!(standby.body.contains("開始理由"), "{}", standby.body);
    let csrf = standby.csrf();
    let r = a
        .post(
            "/admin/mode",
            &[("csrf", &csrf), ("action", "drill"), ("reason", "夜間訓練")],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/admin"),
        "no confirmation to start"
    );

    let status = a.get("/admin").await;
    let form = &status.body[status.body.find("id=\"form-end\"").unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(form.contains("終了理由"), "{form}");
    assert!(
        form.contains("type=\"checkbox\" name=\"confirm\" value=\"yes\" required"),
        "{form}"
    );
    assert!(!status.body.contains("利用理由"), "{}", status.body);

    let entries = node.ledger.last_seq().unwrap();
    for confirm in ["", "no"] {
        let r = a
            .post(
                "/admin/mode",
                &[
                    ("csrf", &csrf),
                    ("action", "end"),
                    ("reason", "訓練終了"),
                    ("confirm", confirm),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("確認欄にチェック"), "{}", r.body);
    }
    assert_eq!(mode(&node), Mode::Drill, "the drill goes on");
    assert_eq!(node.ledger.last_seq().unwrap(), entries, "nothing recorded");
    let r = end_episode(&mut a, &csrf).await;
    assert_eq!(r.location.as_deref(), Some("/admin"), "{}", r.body);
    assert_eq!(mode(&node), Mode::Recovery);

    let accounts = a.get("/admin/accounts").await;
    let revoke = format!("/admin/accounts/{account_id}/revoke");
    let form = &accounts.body[accounts.body.find(&revoke).unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(form.contains("失効理由"), "{form}");
    assert!(
        form.contains("type=\"checkbox\" name=\"confirm\" value=\"yes\" required"),
        "{form}"
    );
    assert!(!accounts.body.contains("利用理由"), "{}", accounts.body);
    let status_of = |node: &Node| {
        node.accounts
            .list_accounts(&Console::new("t").capability())
            .unwrap()
            .into_iter()
            .find(|s| s.account_id == account_id)
            .unwrap()
            .status
    };
    let before = status_of(&node);
    let r = a
        .post(&revoke, &[("csrf", &csrf), ("reason", "封筒紛失")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(status_of(&node), before, "not revoked");
    let r = a
        .post(
            &revoke,
            &[("csrf", &csrf), ("reason", "封筒紛失"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/admin/accounts"), "{}", r.body);
    assert_eq!(status_of(&node), akari_accounts::SealStatus::Revoked);
}

#[tokio::test]
async fn a_patient_read_outside_the_accounts_wards_is_flagged_on_the_review_page() {
    use crate::viewer::Snapshot;
    use akari_accounts::pseudonym::PseudonymKind;
    use akari_sync::model::PatientKey;
    let node = node_of(400);
    let wards = Snapshot::wards(&node.reader).unwrap();
    assert!(wards.len() >= 2, "wards: {wards:?}");
    let (own, other) = (&wards[0], &wards[1]);
    let patient_in = |ward: &str| {
        Snapshot::census(&node.reader, ward).unwrap()[0]
            .key
            .0
            .clone()
    };
    let (inside, outside) = (patient_in(own), patient_in(other));
    let listed = Snapshot::search(&node.reader, "ア", 500).unwrap().patients;
    let outpatient = listed
        .iter()
        .find(|p| p.ward.is_none())
        .expect("an outpatient")
        .key
        .0
        .clone();
    let (account_id, credential) =
        scoped_account(&node, akari_accounts::WardScope::Wards(vec![own.clone()]));
    let mut a = admin(&node).await;
    let csrf = a.get("/admin").await.csrf();
    a.change_mode(&csrf, "drill", "病棟訓練").await;
    let mut nurse = clinician(&node, &account_id, &credential).await;
    for key in [&inside, &outside, &outpatient] {
        let r = nurse.get(&format!("/patients/{key}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    end_episode(&mut a, &csrf).await;
    assert_eq!(mode(&node), Mode::Recovery);

    // Each read's entry names the patient's ward (empty for the outpatient) and carries
    // the pseudonyms of the patient's family names and hospital ID, never the clear text;
    // the own ward's read is not flagged.
    let mut reads = Vec::new();
    node.ledger
        .scan(
            1..=u64::MAX,
            |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
                if e.action == Action::PatientRead {
                    let d = e.details.clone().unwrap_or_default();
                    let key = e.patient.clone().unwrap();
                    let record = Snapshot::patient(&node.reader, &PatientKey(key.clone()))
                        .unwrap()
                        .unwrap();
                    let id = record.patient.hospital_id.clone().unwrap();
                    let family = akari_accounts::pseudonym::family_name(
                        record.patient.name_kanji.as_deref().unwrap(),
                    )
                    .unwrap()
                    .to_owned();
                    assert!(!d.contains(&id) && !d.contains(&family), "{d}");
                    assert_eq!(
                        details::get(&d, details::HOSPITAL_ID),
                        node.ledger.pseudonym(PseudonymKind::HospitalId, &id)
                    );
                    let families = details::get(&d, details::FAMILY_NAME).unwrap();
                    let own = node.ledger.pseudonym(PseudonymKind::FamilyName, &family);
                    assert!(families.split(',').any(|f| Some(f) == own.as_deref()));
                    reads.push((e.seq, key, details::get(&d, details::WARD)));
                }
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        reads
            .iter()
            .map(|r| (&r.1, r.2.as_ref()))
            .collect::<Vec<_>>(),
        vec![
            (&inside, Some(own)),
            (&outside, Some(other)),
            (&outpatient, Some(&String::new()))
        ]
    );
    let review = a.get("/admin/review").await;
    let at = review.body.find("class=\"episode-link\">").unwrap() + 21;
    let episode = &review.body[at..at + review.body[at..].find('<').unwrap()];
    let page = a.get(&format!("/admin/review/{episode}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let flag = format!("担当病棟外の患者 {other} (#{})", reads[1].0);
    assert!(page.body.contains(&flag), "{flag} not in {}", page.body);
    let flag = format!("担当病棟外の患者 病棟なし（外来・退院） (#{})", reads[2].0);
    assert!(page.body.contains(&flag), "{flag} not in {}", page.body);
    assert_eq!(page.body.matches("担当病棟外の患者").count(), 2);
    // The drill's end expired the session: no access outside the episode, and the
    // session is closed.
    assert!(!page.body.contains("エピソード外のアクセス"));
    assert!(!page.body.contains("ログアウト・失効の記録がないセッション"));
    // The drill ended right after the reads: the three are records opened at its end.
    assert!(
        page.body.contains("エピソード終了直前のアクセス 3 (5 分;"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn generations_verify_pin_roll_back_and_sync_now() {
    let node = node();
    // A full sync writes a generation even when the data is the same (an incremental one
    // that changes nothing does not).
    node.engine
        .sync_now(true, &CancellationToken::new())
        .unwrap();
    let mut a = admin(&node).await;
    let page = a.get("/admin/sync").await;
    assert_eq!(page.status, StatusCode::OK);
    // The admin page (and only it) names the source the records come from.
    assert!(
        page.body.contains("id=\"sync-source\">memory<"),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-generation=\"1\""));
    assert!(page
        .body
        .contains("data-generation=\"2\" class=\"current\""));
    let csrf = page.csrf();

    let r = a.post("/admin/sync/1/verify", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("検証成功"), "{}", r.body);
    let r = a.post("/admin/sync/99/verify", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("generation 99 does not exist"));

    let r = a
        .post("/admin/sync/1/pin", &[("csrf", &csrf), ("pinned", "true")])
        .await;
    assert_eq!(r.location.as_deref(), Some("/admin/sync"));
    assert!(node.engine.store().manifest(1).unwrap().pinned);

    // Rolling back asks for a ticked confirmation: the form requires it, the handler
    // refuses without it and nothing changes.
    let sync = a.get("/admin/sync").await;
    let form = &sync.body[sync.body.find("/admin/sync/1/rollback").unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(
        form.contains("type=\"checkbox\" name=\"confirm\" value=\"yes\" required"),
        "{form}"
    );
    let entries = node.ledger.last_seq().unwrap();
    let serving = || node.engine.store().current().unwrap().unwrap().generation;
    let served = serving();
    let r = a.post("/admin/sync/1/rollback", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("確認欄にチェック"), "{}", r.body);
    assert_eq!(serving(), served, "not rolled back");
    assert_eq!(node.ledger.last_seq().unwrap(), entries, "nothing recorded");
    let r = a
        .post(
            "/admin/sync/1/rollback",
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/admin/sync"), "{}", r.body);
    let current = node.engine.store().current().unwrap().unwrap();
    assert_eq!(current.generation, 3);
    assert!(matches!(
        current.kind,
        akari_sync::store::GenerationKind::Rollback { from: 1 }
    ));

    let before = node.engine.status().last_success;
    let r = a.post("/admin/sync/now", &[("csrf", &csrf)]).await;
    assert_eq!(r.location.as_deref(), Some("/admin/sync"));
    // The sync runs on its own; poll (bounded) until it reports.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while node.engine.status().last_success == before {
        assert!(
            std::time::Instant::now() < deadline,
            "sync now never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The source still holds generation 1's data: nothing new is written.
    assert_eq!(
        node.engine.store().current().unwrap().unwrap().generation,
        3
    );
    // Each snapshot decision is in the ledger, naming the admin.
    let mut seen = Vec::new();
    node.ledger
        .scan(1..=u64::MAX, |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
            let admin = matches!(&e.actor, akari_accounts::event::Actor::Admin { admin_id } if admin_id == "alice");
            match e.action {
                Action::SnapshotPinned { generation: 1, pinned: true } if admin => seen.push("pin"),
                Action::SnapshotRolledBack { from: Some(2), to: 1 } if admin => seen.push("rollback"),
                Action::SyncRequested { full: false } if admin => seen.push("sync"),
                _ => {}
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, ["pin", "rollback", "sync"]);

    // The checkpoint page shows a signed checkpoint that verifies with the node key.
    let r = a.post("/admin/checkpoint", &[("csrf", &csrf)]).await;
    assert_eq!(r.location.as_deref(), Some("/admin/checkpoint"));
    let page = a.get("/admin/checkpoint").await;
    assert!(page.body.contains("akari-ledger-checkpoint v1"));
    let key: String = node
        .ledger
        .public_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(page.body.contains(&key));
    assert!(page.body.contains("署名は有効です"));
}

#[tokio::test]
async fn an_emptied_source_is_quarantined_shown_to_admins_and_promoted_only_by_one() {
    let node = node();
    let served = node.reader.patient_count();
    assert!(served > 0);
    // The source is emptied: the pull is kept quarantined, generation 1 stays served.
    node.source.replace(Vec::new());
    let e = node
        .engine
        .sync_now(true, &CancellationToken::new())
        .unwrap_err();
    assert!(
        matches!(e, akari_sync::SyncError::Quarantined { generation: 2, .. }),
        "{e}"
    );
    assert_eq!(node.reader.patient_count(), served);
    let mut a = admin(&node).await;
    let status = a.get("/admin").await;
    assert!(
        status.body.contains("data-alert=\"snapshot\""),
        "{}",
        status.body
    );
    assert!(status.body.contains("同期の隔離"), "{}", status.body);
    let page = a.get("/admin/sync").await;
    assert!(
        page.body.contains("id=\"quarantine-alert\""),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("data-generation=\"2\" class=\"quarantined\""));
    assert!(page.body.contains("/admin/sync/2/promote"));
    assert!(!page.body.contains("/admin/sync/1/promote"));
    let csrf = page.csrf();

    // Only a quarantined generation can be promoted; nothing is recorded for a refusal.
    let r = a.post("/admin/sync/1/promote", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("not quarantined"), "{}", r.body);
    let r = a.post("/admin/sync/2/promote", &[("csrf", &csrf)]).await;
    assert_eq!(r.location.as_deref(), Some("/admin/sync"), "{}", r.body);
    assert_eq!(
        node.engine.store().current().unwrap().unwrap().generation,
        2
    );
    assert_eq!(node.reader.patient_count(), 0);
    let page = a.get("/admin/sync").await;
    assert!(!page.body.contains("id=\"quarantine-alert\""));

    let mut promoted = Vec::new();
    node.ledger
        .scan(1..=u64::MAX, |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
            let admin = matches!(&e.actor, akari_accounts::event::Actor::Admin { admin_id } if admin_id == "alice");
            if let Action::SnapshotPromoted { generation, from } = e.action {
                assert!(admin);
                promoted.push((generation, from));
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(promoted, [(2, Some(1))]);
}

#[tokio::test]
async fn a_fido2_key_is_enrolled_to_a_sealed_account() {
    let node = node();
    let (account_id, _) = console_account(&node);
    let mut a = admin(&node).await;
    let page = a.get(&format!("/admin/accounts/{account_id}/key")).await;
    assert_eq!(page.status, StatusCode::OK);
    let begin_path = format!("/admin/accounts/{account_id}/key/begin");
    // The JSON endpoints want the CSRF header here too.
    let refused = a.post_json(&begin_path, None, serde_json::json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    enrol_account_key(&mut a, &account_id).await;
    let summary = node
        .accounts
        .account(&Console::new("t").capability(), &account_id)
        .unwrap();
    assert!(summary.key_enrolled);
    let list = a.get("/admin/accounts").await;
    assert!(list.body.contains("✔"), "the list shows the key");
    // Without an admin session nobody can start a key enrolment.
    let mut other = Browser::new(&node);
    let c = other.get("/admin/login").await.csrf();
    let r = other
        .post_json(&begin_path, Some(&c), serde_json::json!({}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "anonymous: to the admin login"
    );
}

/// Enrols a new software key to the sealed `account_id` through the admin pages.
/// Returns the key and its credential ID.
async fn enrol_account_key(
    a: &mut Browser,
    account_id: &str,
) -> (SoftToken, webauthn_rs::prelude::Base64UrlSafeData) {
    let csrf = a
        .get(&format!("/admin/accounts/{account_id}/key"))
        .await
        .csrf();
    let begin = a
        .post_json(
            &format!("/admin/accounts/{account_id}/key/begin"),
            Some(&csrf),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(begin.status, StatusCode::OK, "{}", begin.body);
    let j = begin.json();
    let options: CreationChallengeResponse = serde_json::from_value(j["options"].clone()).unwrap();
    let mut key = token();
    let response = key
        .perform_register(Url::parse(ORIGIN).unwrap(), options.public_key, 60_000)
        .unwrap();
    let finish = a
        .post_json(
            &format!("/admin/accounts/{account_id}/key/finish"),
            Some(&csrf),
            serde_json::json!({ "ceremony_id": j["ceremony_id"], "response": response }),
        )
        .await;
    assert_eq!(finish.status, StatusCode::OK, "{}", finish.body);
    (key, response.raw_id)
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The credential step of an account with a key: the browser lands on the key page.
/// Returns the page's CSRF token and its WebAuthn request options.
async fn credential_step(
    b: &mut Browser,
    account_id: &str,
    credential: &str,
) -> (String, RequestChallengeResponse) {
    let csrf = b.get("/login").await.csrf();
    let r = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("account_id", account_id),
                ("credential", credential),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/login/key"));
    let page = b.get("/login/key").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .contains("<script src=\"/static/login.js\"></script>"));
    assert!(
        !page.body.contains(credential),
        "the credential is not sent back"
    );
    let at = page.body.find("data-options=\"").expect("key options") + 14;
    let raw = &page.body[at..at + page.body[at..].find('"').unwrap()];
    let options: RequestChallengeResponse = serde_json::from_str(&html_unescape(raw)).unwrap();
    (page.csrf(), options)
}

fn failed_logins(node: &Node) -> Vec<String> {
    let mut reasons = Vec::new();
    node.ledger
        .scan(
            1..=u64::MAX,
            |e, _| -> Result<(), akari_accounts::ledger::LedgerError> {
                if let Action::LoginFailed { reason } = &e.action {
                    reasons.push(reason.clone());
                }
                Ok(())
            },
        )
        .unwrap();
    reasons
}

#[tokio::test]
async fn a_clinician_logs_in_with_credential_and_fido2_key_and_failures_are_audited() {
    let node = node();
    let (account_id, credential) = console_account(&node);
    let (other_account, _) = console_account(&node);
    let mut a = admin(&node).await;
    let (mut key, _) = enrol_account_key(&mut a, &account_id).await;
    let (mut wrong, wrong_id) = enrol_account_key(&mut a, &other_account).await;
    let csrf = a.get("/admin").await.csrf();
    a.post(
        "/admin/mode",
        &[("csrf", &csrf), ("action", "drill"), ("reason", "訓練")],
    )
    .await;
    assert_eq!(mode(&node), Mode::Drill);

    // 1. No script (or no key answered): the form posts without an assertion. Refused,
    //    recorded, explained; the pending state is gone (the key page sends back).
    let mut b = Browser::new(&node);
    let (csrf, _) = credential_step(&mut b, &account_id, &credential).await;
    let r = b.post("/login/key", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.body.contains("キーの応答がありませんでした"),
        "{}",
        r.body
    );
    assert_eq!(
        b.get("/login/key").await.location.as_deref(),
        Some("/login")
    );
    assert_eq!(b.get("/search").await.status, StatusCode::FORBIDDEN);

    // "Start again" from the key page: the waiting credential is dropped.
    credential_step(&mut b, &account_id, &credential).await;
    assert_eq!(b.get("/login").await.status, StatusCode::OK);
    assert_eq!(
        b.get("/login/key").await.location.as_deref(),
        Some("/login")
    );

    // 2. Cancelled in the browser (NotAllowedError): its own message, recorded.
    let (csrf, _) = credential_step(&mut b, &account_id, &credential).await;
    let r = b
        .post("/login/key", &[("csrf", &csrf), ("failure", "cancelled")])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("取り消された"), "{}", r.body);

    // 3. Another account's key answers: refused by the accounts layer, recorded.
    let (csrf, mut options) = credential_step(&mut b, &account_id, &credential).await;
    // The wrong key answers with its own credential (the only one it holds).
    for c in options.public_key.allow_credentials.iter_mut() {
        c.id = wrong_id.clone();
    }
    let assertion = wrong
        .perform_auth(Url::parse(ORIGIN).unwrap(), options.public_key, 60_000)
        .unwrap();
    // A POST without the CSRF token is refused before anything else.
    let r = b
        .post(
            "/login/key",
            &[("assertion", &serde_json::to_string(&assertion).unwrap())],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            "/login/key",
            &[
                ("csrf", &csrf),
                ("assertion", &serde_json::to_string(&assertion).unwrap()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert!(
        r.body.contains("登録されたキーではありません"),
        "{}",
        r.body
    );

    let reasons = failed_logins(&node);
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("assertion missing"), "{reasons:?}");
    assert!(reasons[1].contains("assertion missing"), "{reasons:?}");
    assert!(reasons[2].contains("assertion refused"), "{reasons:?}");

    // 4. Credential + the enrolled key (user verification): logged in, session rotated,
    //    then the declaration and a patient page as usual.
    let (csrf, options) = credential_step(&mut b, &account_id, &credential).await;
    let before = b.cookie.clone();
    let assertion = key
        .perform_auth(Url::parse(ORIGIN).unwrap(), options.public_key, 60_000)
        .unwrap();
    let r = b
        .post(
            "/login/key",
            &[
                ("csrf", &csrf),
                ("assertion", &serde_json::to_string(&assertion).unwrap()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/declare"));
    assert_ne!(b.cookie, before, "the session identifier rotates at login");
    declare(&mut b).await;
    assert_eq!(b.get("/search").await.status, StatusCode::OK);
    assert_eq!(failed_logins(&node).len(), 3, "no new failure");
}

#[tokio::test]
async fn a_long_session_is_reviewed_page_by_page_and_each_page_stays_small() {
    let node = node();
    let (account_id, credential) = console_account(&node);
    let mut a = admin(&node).await;
    let csrf = a.get("/admin").await.csrf();
    a.post(
        "/admin/mode",
        &[
            ("csrf", &csrf),
            ("action", "drill"),
            ("reason", "長時間訓練"),
        ],
    )
    .await;
    let mut nurse = clinician(&node, &account_id, &credential).await;
    // 300 patient reads: more than one page of events. A patient from a ward's census.
    let search = nurse.get("/search").await;
    let at = search.body.find("href=\"/wards/").expect("a ward") + 6;
    let ward = search.body[at..at + search.body[at..].find('"').unwrap()].to_owned();
    let census = nurse.get(&ward).await;
    let at = census.body.find("href=\"/patients/").expect("a patient") + 16;
    let key = census.body[at..at + census.body[at..].find('"').unwrap()].to_owned();
    for _ in 0..300 {
        assert_eq!(
            nurse.get(&format!("/patients/{key}")).await.status,
            StatusCode::OK
        );
    }
    let review = a.get("/admin/review").await;
    let at = review.body.find("class=\"episode-link\">").unwrap() + 21;
    let episode: u64 = review.body[at..at + review.body[at..].find('<').unwrap()]
        .parse()
        .unwrap();
    let page = a.get(&format!("/admin/review/{episode}")).await;
    let at = page.body.find("data-session=\"").unwrap() + 14;
    let session = page.body[at..at + page.body[at..].find('"').unwrap()].to_owned();
    let base = format!("/admin/review/{episode}/sessions/{session}");
    let first = a.get(&base).await;
    assert_eq!(first.status, StatusCode::OK);
    let rows = |body: &str| body.matches("<td class=\"mono\">").count() / 2;
    assert_eq!(rows(&first.body), 250, "one page of events");
    assert!(first.body.contains(&format!("href=\"{base}?page=2\"")));
    assert!(!first.body.contains("id=\"page-prev\""));
    let second = a.get(&format!("{base}?page=2")).await;
    assert_eq!(second.status, StatusCode::OK);
    let total = 250 + rows(&second.body);
    assert!(total > 300, "every event is on one of the pages: {total}");
    assert!(second.body.contains(&format!("href=\"{base}?page=1\"")));
    assert!(!second.body.contains("id=\"page-next\""));
    // A page past the end shows the last one rather than nothing.
    let past = a.get(&format!("{base}?page=99")).await;
    assert_eq!(rows(&past.body), rows(&second.body));
    eprintln!(
        "review session page of 250 events: {} bytes",
        first.body.len()
    );
    assert!(first.body.len() < 100_000, "{}", first.body.len());
}

#[tokio::test]
async fn many_accounts_are_listed_page_by_page() {
    let node = node();
    for _ in 0..55 {
        console_account(&node);
    }
    let mut a = admin(&node).await;
    let rows = |body: &str| body.matches("<tr data-account=").count();
    let first = a.get("/admin/accounts").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(rows(&first.body), 50);
    assert!(first.body.contains("href=\"/admin/accounts?page=2\""));
    let second = a.get("/admin/accounts?page=2").await;
    assert_eq!(rows(&second.body), 5);
    assert!(second.body.contains("51–55 / 55"), "{}", second.body);
    eprintln!("accounts page of 50: {} bytes", first.body.len());
    assert!(first.body.len() < 100_000, "{}", first.body.len());
}

/// The "value" of the first element with `id` (the recovered code or password).
fn text_of(body: &str, id: &str) -> String {
    let at = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let rest = &body[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest.find("</").unwrap();
    html_unescape(rest[start..end].trim())
}

/// An admin recovers another admin on the admin pages: only with the box ticked, each act
/// recorded first with who did it, the new code or password shown once, the old one
/// refused; their own account is not offered and refused if asked for.
#[tokio::test]
async fn an_admin_recovers_another_admin_but_not_themselves() {
    let node = node();
    let mut a = admin(&node).await;
    let bob_code = create_admin(&node, "bob");
    let mut bob_key = token();
    let mut bob = Browser::new(&node);
    enrol(&mut bob, "bob", &bob_code, &mut bob_key).await;

    let page = a.get("/admin/admins").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.csrf();
    let row = |who: &str| {
        let at = page.body.find(&format!("data-admin=\"{who}\"")).unwrap();
        let row = &page.body[at..];
        row[..row.find("</tr>").unwrap()].to_owned()
    };
    let bob_row = row("bob");
    assert!(bob_row.contains("/admin/admins/bob/recover"), "{bob_row}");
    assert!(
        bob_row.contains("type=\"checkbox\" name=\"confirm\" value=\"yes\" required"),
        "{bob_row}"
    );
    assert!(
        !row("alice").contains("<form"),
        "no recovery of oneself offered"
    );

    // Not ticked: nothing done, nothing recorded.
    let entries = node.ledger.last_seq().unwrap();
    let r = a
        .post(
            "/admin/admins/bob/recover",
            &[("csrf", &csrf), ("change", "password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(node.ledger.last_seq().unwrap(), entries, "nothing recorded");
    // Oneself: refused, nothing recorded.
    let r = a
        .post(
            "/admin/admins/alice/recover",
            &[("csrf", &csrf), ("change", "passkeys"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(node.ledger.last_seq().unwrap(), entries, "nothing recorded");

    // A new password for bob: shown once, recorded as alice's act, the old one refused.
    let r = a
        .post(
            "/admin/admins/bob/recover",
            &[("csrf", &csrf), ("change", "password"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let password = text_of(&r.body, "recovered-password");
    assert_ne!(password, PASSWORD);
    let recorded: Vec<_> = entries_after(&node, entries)
        .into_iter()
        .filter(|e| matches!(e.action, Action::AdminRecovered { .. }))
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].actor,
        akari_accounts::event::Actor::Admin {
            admin_id: "alice".into()
        }
    );
    assert_eq!(
        recorded[0].action,
        Action::AdminRecovered {
            admin_id: "bob".into(),
            change: akari_accounts::event::AdminRecovery::PasswordReset
        }
    );
    let listed = a.get("/admin/admins").await;
    assert!(!listed.body.contains(&password), "shown only once");
    let old = login(&mut bob, "bob", PASSWORD, &mut bob_key).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "{}", old.body);
    let new = login(&mut bob, "bob", &password, &mut bob_key).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);

    // All of bob's passkeys replaced: a new code to enrol with, the old key refused.
    let r = a
        .post(
            "/admin/admins/bob/recover",
            &[("csrf", &csrf), ("change", "passkeys"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let code = text_of(&r.body, "recovered-code");
    let gone = bob.get("/admin").await;
    assert!(
        !gone.body.contains("id=\"current-mode\""),
        "bob's session ended: {}",
        gone.body
    );
    let csrf_b = bob.get("/admin/login").await.csrf();
    let begin = bob
        .post_json(
            "/admin/login/begin",
            Some(&csrf_b),
            serde_json::json!({ "admin_id": "bob" }),
        )
        .await;
    assert_ne!(begin.status, StatusCode::OK, "no key of bob's works");
    let mut new_key = token();
    enrol(&mut bob, "bob", &code, &mut new_key).await;
    let done = login(&mut bob, "bob", &password, &mut new_key).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}
