//! The staff notice with the real ledger: posted by an admin, it is on every clinician
//! page and printout (escaped) until withdrawn; both acts are ledger entries.

use akari_accounts::event::Action;
use axum::http::StatusCode;

use crate::pages::test_node::*;

/// A staff notice posted by an admin is on every clinician page and printout until it is
/// withdrawn; it is escaped, bounded, and both acts are in the ledger.
#[tokio::test]
async fn a_staff_notice_is_on_every_page_and_printout_until_withdrawn() {
    let node = node();
    let (account_id, credential) = console_account(&node);
    let mut a = admin(&node).await;
    let csrf = a.get("/admin").await.csrf();
    a.change_mode(&csrf, "drill", "夜間訓練").await;
    let before = entries_after(&node, 0).last().map_or(0, |e| e.seq);
    let text = "検査結果は内線1234へ電話で <b>至急</b>";
    let r = a
        .post(
            "/admin/notice",
            &[("csrf", &csrf), ("action", "post"), ("text", text)],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/admin"), "{}", r.body);
    let shown = "検査結果は内線1234へ電話で &#60;b&#62;至急&#60;/b&#62;";

    let mut nurse = clinician(&node, &account_id, &credential).await;
    let search = nurse.get("/search").await;
    assert!(
        search.body.contains("id=\"staff-notice\""),
        "{}",
        search.body
    );
    assert!(search.body.contains(shown), "escaped: {}", search.body);
    let (_, keys) = busiest_ward(&node);
    let patient = &format!("/patients/{}", keys[0]);
    for path in [patient.to_owned(), format!("{patient}/print")] {
        let page = nurse.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains(shown), "{path} shows the notice");
    }

    // Too long or empty: refused, nothing recorded, the notice unchanged.
    let long = "あ".repeat(akari_accounts::MAX_NOTICE_CHARS + 1);
    let r = a
        .post(
            "/admin/notice",
            &[("csrf", &csrf), ("action", "post"), ("text", &long)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(nurse.get("/search").await.body.contains(shown));

    let r = a
        .post("/admin/notice", &[("csrf", &csrf), ("action", "withdraw")])
        .await;
    assert_eq!(r.location.as_deref(), Some("/admin"), "{}", r.body);
    for path in ["/search".to_owned(), format!("{patient}/print")] {
        let page = nurse.get(&path).await;
        assert!(!page.body.contains("staff-notice"), "{path}: withdrawn");
    }

    let notices: Vec<Action> = entries_after(&node, before)
        .into_iter()
        .map(|e| e.action)
        .filter(|a| matches!(a, Action::NoticePosted { .. } | Action::NoticeWithdrawn))
        .collect();
    assert_eq!(
        notices,
        [
            Action::NoticePosted { text: text.into() },
            Action::NoticeWithdrawn
        ]
    );
}
