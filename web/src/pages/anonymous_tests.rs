//! An anonymous flood: visitors without a cookie (or with a made-up one) fetching the
//! login pages, static assets and `/healthz` must not grow the node's session table, and
//! the login form they get still works.

use axum::http::StatusCode;

use super::test_node::{self, Browser};

const VISITS: usize = 300;

#[tokio::test]
async fn cookie_less_requests_do_not_grow_the_session_table() {
    let node = test_node::node();
    let before = node.pages.browser_sessions();
    for i in 0..VISITS {
        // A fresh browser each time: no cookie, as a flood sends.
        let mut b = Browser::new(&node);
        let path = match i % 5 {
            0 => "/login",
            1 => "/admin/login",
            2 => "/static/akari.css",
            3 => "/healthz",
            _ => "/admin/enrol",
        };
        let page = b.get(path).await;
        assert!(
            page.status == StatusCode::OK || page.status == StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            page.status
        );
    }
    // Made-up cookies of either shape are no session and are not stored either.
    for cookie in [
        "__Host-akari=anon.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "__Host-akari=not-a-session",
    ] {
        let mut b = Browser::new(&node);
        b.cookie = Some(cookie.to_owned());
        b.get("/login").await;
    }
    assert_eq!(
        node.pages.browser_sessions(),
        before,
        "{VISITS} cookie-less visits stored no session"
    );
}

#[tokio::test]
async fn the_login_form_of_an_unstored_session_still_logs_in_and_only_then_stores_one() {
    let node = test_node::node();
    let (account_id, credential) = test_node::drill_account(&node);
    let mut b = Browser::new(&node);
    let form = b.get("/login").await;
    assert!(
        form.set_cookie.is_some(),
        "the form sets its anonymous cookie"
    );
    assert_eq!(node.pages.browser_sessions(), 0);
    // A wrong CSRF token is still refused without a stored session behind the cookie.
    let refused = b
        .post(
            "/login",
            &[
                ("csrf", "forged"),
                ("account_id", &account_id),
                ("credential", &credential),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let csrf = form.csrf();
    let r = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("account_id", &account_id),
                ("credential", &credential),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/declare"), "{}", r.body);
    assert_eq!(node.pages.browser_sessions(), 1, "the login stored one");
}
