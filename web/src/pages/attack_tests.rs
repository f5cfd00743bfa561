//! Attacks on the login, run through the router against the real accounts service and
//! audit ledger: oversized forms and account IDs, a flood of failed logins from one
//! address, a guesser trying to lock a clinician out, an audit ledger that cannot write,
//! and a ledger disk running out of space.

use std::net::SocketAddr;
use std::sync::Arc;

use akari_accounts::event::Client;
use akari_accounts::ledger::DiskSpace;
use akari_accounts::{EmergencyLogin, Error, LoginRefused};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};

use crate::i18n::{Lang, Tr};
use crate::pages::test_node::*;

/// A node in a drill with one sealed account: (node, account ID, credential).
fn drill_node() -> (Node, String, String) {
    let node = node();
    let (account_id, credential) = drill_account(&node);
    (node, account_id, credential)
}

fn from(last: u8) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, last], 40_000))
}

/// A login form posted from `peer`, as the node's listener would see it.
async fn post_login(
    b: &mut Browser,
    peer: SocketAddr,
    csrf: &str,
    account_id: &str,
    credential: &str,
) -> Page {
    let body = format!(
        "csrf={}&account_id={}&credential={}",
        urlencode(csrf),
        urlencode(account_id),
        urlencode(credential)
    );
    b.send(
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .extension(ConnectInfo(peer)),
        Body::from(body),
    )
    .await
}

/// A browser at the login form: (browser, CSRF token).
async fn at_login(node: &Node) -> (Browser, String) {
    let mut b = Browser::new(node);
    let csrf = b.get("/login").await.csrf();
    (b, csrf)
}

fn ja(key: &str) -> &'static str {
    Tr {
        lang: Lang::Ja,
        zone: akari_accounts::Zone::default(),
    }
    .s(key)
}

#[tokio::test]
async fn an_oversized_form_is_refused_with_413_and_nothing_is_recorded() {
    let (node, _, _) = drill_node();
    let (mut b, csrf) = at_login(&node).await;
    let seq = node.ledger.last_seq().unwrap();
    let huge = "A".repeat(1_500_000);
    let page = post_login(&mut b, from(1), &csrf, &huge, "WRONG").await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.body.contains(ja("error_too_large")), "{}", page.body);
    assert!(page.content_type.starts_with("text/html"));
    assert_eq!(node.ledger.last_seq().unwrap(), seq, "nothing recorded");
}

#[tokio::test]
async fn an_overlong_account_id_is_recorded_as_a_small_entry() {
    let (node, _, _) = drill_node();
    let (mut b, csrf) = at_login(&node).await;

    // Just under the body limit, through the login form.
    let seq = node.ledger.last_seq().unwrap();
    let long = "EA-".to_owned() + &"Z".repeat(60_000);
    let page = post_login(&mut b, from(1), &csrf, &long, "WRONG").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    let entries = entries_after(&node, seq);
    let [entry] = &entries[..] else {
        panic!("one entry: {entries:?}")
    };
    let size = entry.canonical_bytes().len();
    assert!(size < 2048, "{size} bytes");
    let details = entry.details.as_deref().unwrap();
    assert!(details.starts_with("account=EA-ZZZ"), "{details}");
    assert!(details.contains("…[60011 bytes, sha256 "), "{details}");

    // And the 1.5 MB account ID at the accounts service itself, which the form limit
    // would have stopped first.
    let seq = node.ledger.last_seq().unwrap();
    let huge = "EA-".to_owned() + &"Z".repeat(1_500_000);
    let err = node
        .accounts
        .login_emergency(
            EmergencyLogin {
                account_id: huge,
                credential: "WRONG".into(),
                key: None,
            },
            &Client {
                address: Some(from(2).ip()),
                user_agent: Some("U".repeat(1_000_000)),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Login(LoginRefused::InvalidCredentials)),
        "{err}"
    );
    let entries = entries_after(&node, seq);
    let [entry] = &entries[..] else {
        panic!("one entry: {entries:?}")
    };
    let size = entry.canonical_bytes().len();
    assert!(size < 2048, "{size} bytes");
    let ua = entry.client.user_agent.as_deref().unwrap();
    assert!(ua.contains("…[1000000 bytes, sha256 "), "{ua}");
}

#[tokio::test]
async fn a_thousand_failed_logins_from_one_address_grow_the_ledger_by_a_bounded_amount() {
    let (node, account_id, _) = drill_node();
    let (mut b, csrf) = at_login(&node).await;
    let seq = node.ledger.last_seq().unwrap();
    let mut refused = 0;
    for i in 0..1000 {
        let page = post_login(&mut b, from(1), &csrf, &account_id, &format!("WRONG-{i}")).await;
        assert!(
            matches!(
                page.status,
                StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
            ),
            "{}",
            page.status
        );
        refused += 1;
    }
    assert_eq!(refused, 1000);
    let entries = entries_after(&node, seq);
    let per_address = akari_accounts::Config::default().failed_login_entries_per_address;
    assert!(
        entries.len() <= per_address as usize,
        "{} entries for 1000 failures",
        entries.len()
    );
    let bytes: usize = entries.iter().map(|e| e.canonical_bytes().len()).sum();
    assert!(bytes < 20 * 1024, "{bytes} bytes for 1000 failures");
    // Another address is recorded as usual.
    let page = post_login(&mut b, from(2), &csrf, &account_id, "WRONG").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let last = entries_after(&node, seq).pop().unwrap();
    assert_eq!(last.client.address, Some(from(2).ip()));
}

#[tokio::test]
async fn a_guesser_does_not_lock_out_a_clinician_elsewhere_and_is_told_when_to_retry() {
    let (node, account_id, credential) = drill_node();
    let (mut guesser, csrf) = at_login(&node).await;
    let mut last = None;
    for i in 0..10 {
        last = Some(
            post_login(
                &mut guesser,
                from(1),
                &csrf,
                &account_id,
                &format!("WRONG-{i}"),
            )
            .await,
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{}", last.body);
    let retry_after: u64 = last
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let wait = ja("login_backoff").replace("{secs}", &retry_after.to_string());
    assert!(
        last.body.contains(&wait),
        "the wait in words: {}",
        last.body
    );

    // The clinician at another address logs in at once with the right credential.
    let (mut nurse, csrf) = at_login(&node).await;
    let page = post_login(&mut nurse, from(2), &csrf, &account_id, &credential).await;
    assert_eq!(page.location.as_deref(), Some("/declare"), "{}", page.body);
}

#[tokio::test]
async fn a_login_the_audit_cannot_record_shows_the_audit_message() {
    let (node, account_id, credential) = drill_node();
    let (mut b, csrf) = at_login(&node).await;
    let fault = node.ledger.fault_injector();
    fault.fail_commits(true);
    for cred in ["WRONG", credential.as_str()] {
        let page = post_login(&mut b, from(1), &csrf, &account_id, cred).await;
        assert_eq!(
            page.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            page.body
        );
        assert!(page.body.contains(ja("error_audit")), "{}", page.body);
    }
    fault.fail_commits(false);
    let page = post_login(&mut b, from(1), &csrf, &account_id, &credential).await;
    assert_eq!(page.location.as_deref(), Some("/declare"), "{}", page.body);
}

#[tokio::test]
async fn the_ledger_disk_below_its_reserve_is_shown_to_admins() {
    let node = node();
    let mut b = admin(&node).await;
    let page = b.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("id=\"ledger-disk-alert\""),
        "in memory: nothing to read"
    );

    const GIB: u64 = 1 << 30;
    let free = Arc::new(std::sync::atomic::AtomicU64::new(50 * GIB));
    let reading = free.clone();
    node.ledger.set_space_probe(Arc::new(move || {
        Ok(DiskSpace {
            free_bytes: reading.load(std::sync::atomic::Ordering::SeqCst),
            total_bytes: 100 * GIB,
        })
    }));
    assert!(!b
        .get("/admin")
        .await
        .body
        .contains("id=\"ledger-disk-alert\""));
    free.store(GIB / 2, std::sync::atomic::Ordering::SeqCst);
    let page = b.get("/admin").await;
    assert!(
        page.body.contains("id=\"ledger-disk-alert\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("512.0 MiB"), "the sizes: {}", page.body);
}
