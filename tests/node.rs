//! End-to-end tests of a node started in-process on 127.0.0.1:0 over real TLS.

mod common;

use common::{handshake, https_client, tls_client_config, TestDir, TestNode};

#[tokio::test]
async fn healthz_over_tls13_trusting_only_the_generated_certificate() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[])).await;
    let cert = dir.cert();

    let client = https_client(&cert, node.https);
    let response = client.get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["mode"], "standby");
    assert_eq!(health["snapshot"]["state"], "none");
    // Nothing else: in particular no patient data.
    let mut keys: Vec<&String> = health.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["mode", "snapshot", "status", "version"]);

    // A client offering both versions gets TLS 1.3.
    let both = tls_client_config(
        std::slice::from_ref(&cert),
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    );
    assert_eq!(
        handshake(node.https, both).await.unwrap(),
        rustls::ProtocolVersion::TLSv1_3
    );
    // A client that trusts nothing (e.g. only public CAs) refuses the node's certificate.
    let nothing = tls_client_config(&[], &[&rustls::version::TLS13]);
    let err = handshake(node.https, nothing).await.unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    node.stop().await;
}

#[tokio::test]
async fn tls12_client_is_refused_by_default() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[])).await;
    let only12 = tls_client_config(&[dir.cert()], &[&rustls::version::TLS12]);
    let err = handshake(node.https, only12).await.unwrap_err();
    assert!(
        err.to_string().contains("ProtocolVersion") || err.to_string().contains("protocol version"),
        "{err}"
    );
    node.stop().await;
}

#[tokio::test]
async fn tls12_client_is_accepted_with_allow_tls12() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[("AKARI_TLS__ALLOW_TLS12", "true")])).await;
    let only12 = tls_client_config(&[dir.cert()], &[&rustls::version::TLS12]);
    assert_eq!(
        handshake(node.https, only12.clone()).await.unwrap(),
        rustls::ProtocolVersion::TLSv1_2
    );
    // And HTTP works over it.
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(only12)
        .resolve("localhost", node.https)
        .build()
        .unwrap();
    let response = client.get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    node.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[])).await;
    let client = https_client(&dir.cert(), node.https);
    for (path, status) in [("/healthz", 200), ("/no/such/page?id=1", 404)] {
        let response = client.get(node.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let h = response.headers();
        let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
        let hsts = get("strict-transport-security").expect("HSTS");
        assert!(
            hsts.starts_with("max-age=") && hsts != "max-age=0",
            "{hsts}"
        );
        let csp = get("content-security-policy").expect("CSP");
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(get("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(get("referrer-policy").as_deref(), Some("no-referrer"));
        assert_eq!(get("cache-control").as_deref(), Some("no-store"));
    }
    node.stop().await;
}

#[tokio::test]
async fn metrics_listener_counts_requests_by_route_template() {
    let dir = TestDir::new();
    let node = TestNode::start(dir.config(&[])).await;
    let client = https_client(&dir.cert(), node.https);
    client.get(node.url("/healthz")).send().await.unwrap();
    client
        .get(node.url("/patients/0042?name=x"))
        .send()
        .await
        .unwrap();

    let metrics_url = format!("http://{}/metrics", node.metrics.unwrap());
    let text = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "akari_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(!text.contains("0042") && !text.contains("name=x"), "{text}");
    // The metrics listener is not the HTTPS one, and HTTPS does not serve metrics.
    let response = client.get(node.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    node.stop().await;
}

#[tokio::test]
async fn plain_http_listener_only_redirects_to_https() {
    let dir = TestDir::new();
    let config = dir.config(&[]);
    let https = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let node = akari::start(
        config,
        akari::Listeners {
            https,
            metrics: None,
            http_redirect: Some(redirect),
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("http://{}/healthz?x=1", node.http_redirect_addr.unwrap());
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("https://127.0.0.1:{}/healthz?x=1", node.https_addr.port()).as_str()
    );
    shutdown.cancel();
    node.wait().await.unwrap();
}
