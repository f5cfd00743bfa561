//! Every authentication mode of the HTTP sources against the test server: none, bearer,
//! basic, mutual TLS, and SMART Backend Services with RS384 and ES384 (a wrong key is
//! refused; tokens are cached and renewed after revocation).

mod common;

use akari_sync::source::{self, AuthKind, PullKind, SmartAlgorithm, SourceError, SourceKind};
use akari_testkit::pki::{SmartKey, TestPki};
use akari_testkit::server::{Fault, FhirServer, ServerAuth, ServerOptions, ServerTls, SmartClient};
use common::*;

#[test]
fn bearer_token_from_file_and_wrong_token_refused() {
    let h = hospital(10, 20);
    let server = FhirServer::with_resources(
        ServerOptions {
            auth: ServerAuth::Bearer("tok-123".into()),
            ..ServerOptions::default()
        },
        h.resources(),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = http_config(SourceKind::FhirRest, &server.base_url());
    cfg.auth.kind = AuthKind::Bearer;
    cfg.auth.token_file = Some(write(dir.path(), "t", "tok-123\n"));
    let (changes, _) = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap();
    assert_eq!(upsert_keys(&changes).len(), h.resources().count());

    cfg.auth.token_file = Some(write(dir.path(), "t2", "wrong"));
    let e = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Unauthorized(_)), "{e}");
    assert!(
        !e.to_string().contains("wrong"),
        "no secret in the message: {e}"
    );

    // No credentials at all: 401 as well.
    let cfg = http_config(SourceKind::Bulk, &server.base_url());
    let e = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Unauthorized(_)), "{e}");
}

#[test]
fn basic_auth() {
    let h = hospital(8, 21);
    let server = FhirServer::with_resources(
        ServerOptions {
            auth: ServerAuth::Basic {
                username: "akari".into(),
                password: "pa55-word".into(),
            },
            bulk_polls_before_ready: 0,
            ..ServerOptions::default()
        },
        h.resources(),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = http_config(SourceKind::Bulk, &server.base_url());
    cfg.auth.kind = AuthKind::Basic;
    cfg.auth.username = Some("akari".into());
    cfg.auth.password_file = Some(write(dir.path(), "pw", "pa55-word"));
    let (changes, _) = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap();
    assert_eq!(upsert_keys(&changes).len(), h.resources().count());
    cfg.auth.password_file = Some(write(dir.path(), "pw2", "nope"));
    let e = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Unauthorized(_)), "{e}");
}

#[test]
fn mutual_tls_with_client_certificate() {
    let h = hospital(8, 22);
    let pki = TestPki::generate();
    let server = FhirServer::with_resources(
        ServerOptions {
            tls: Some(ServerTls {
                pki: pki.clone(),
                require_client_cert: true,
            }),
            ..ServerOptions::default()
        },
        h.resources(),
    );
    assert!(server.base_url().starts_with("https://"));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = http_config(SourceKind::FhirRest, &server.base_url());
    cfg.max_attempts = 1;
    cfg.tls.ca_file = Some(write(dir.path(), "ca.pem", &pki.ca_pem));
    cfg.auth.kind = AuthKind::Mtls;
    cfg.tls.client_cert_file = Some(write(dir.path(), "c.pem", &pki.client.cert_pem));
    cfg.tls.client_key_file = Some(write(dir.path(), "k.pem", &pki.client.key_pem));
    let (changes, _) = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap();
    assert_eq!(upsert_keys(&changes).len(), h.resources().count());

    // A certificate from another CA is refused at the handshake.
    let foreign = TestPki::foreign_client();
    cfg.tls.client_cert_file = Some(write(dir.path(), "fc.pem", &foreign.cert_pem));
    cfg.tls.client_key_file = Some(write(dir.path(), "fk.pem", &foreign.key_pem));
    let e = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Connection(_)), "{e}");

    // No client certificate: refused too, and mtls without files is a config error.
    let mut plain = http_config(SourceKind::FhirRest, &server.base_url());
    plain.max_attempts = 1;
    plain.tls.ca_file = cfg.tls.ca_file.clone();
    let e = collect(source::build(&plain).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Connection(_)), "{e}");
    plain.auth.kind = AuthKind::Mtls;
    let e = source::build(&plain).err().expect("config error");
    assert!(e.to_string().contains("client_cert_file"), "{e}");

    // Without the CA the server certificate is not trusted.
    let mut untrusted = cfg.clone();
    untrusted.tls.ca_file = None;
    untrusted.tls.client_cert_file = Some(write(dir.path(), "c2.pem", &pki.client.cert_pem));
    untrusted.tls.client_key_file = Some(write(dir.path(), "k2.pem", &pki.client.key_pem));
    let e = collect(source::build(&untrusted).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Connection(_)), "{e}");
}

fn smart_server(h: &akari_testkit::synth::Hospital, keys: &[(&str, &SmartKey)]) -> FhirServer {
    FhirServer::with_resources(
        ServerOptions {
            auth: ServerAuth::Smart {
                clients: keys
                    .iter()
                    .map(|(id, k)| SmartClient {
                        client_id: id.to_string(),
                        algorithm: k.algorithm,
                        public_pem: k.public_pem.clone(),
                    })
                    .collect(),
                token_lifetime_secs: 300,
            },
            bulk_polls_before_ready: 0,
            ..ServerOptions::default()
        },
        h.resources(),
    )
}

fn smart_config(
    kind: SourceKind,
    server: &FhirServer,
    dir: &std::path::Path,
    client_id: &str,
    key: &SmartKey,
    discover: bool,
) -> source::Config {
    let mut cfg = http_config(kind, &server.base_url());
    cfg.auth.kind = AuthKind::Smart;
    cfg.auth.client_id = Some(client_id.into());
    cfg.auth.private_key_file = Some(write(
        dir,
        &format!("{client_id}-{}.pem", key.algorithm),
        &key.private_pem,
    ));
    cfg.auth.algorithm = Some(if key.algorithm == "RS384" {
        SmartAlgorithm::RS384
    } else {
        SmartAlgorithm::ES384
    });
    cfg.auth.key_id = Some("key-1".into());
    if !discover {
        cfg.auth.token_url = Some(server.token_url());
    }
    cfg
}

#[test]
fn smart_backend_services_rs384_and_es384_with_token_caching() {
    let h = hospital(12, 23);
    let rsa = SmartKey::rs384();
    let ec = SmartKey::es384();
    let server = smart_server(&h, &[("rs-client", &rsa), ("ec-client", &ec)]);
    let dir = tempfile::tempdir().unwrap();

    // RS384 with the token URL discovered from .well-known, over Bulk export.
    let cfg = smart_config(
        SourceKind::Bulk,
        &server,
        dir.path(),
        "rs-client",
        &rsa,
        true,
    );
    let src = source::build(&cfg).unwrap();
    let (changes, _) = collect(src.as_ref(), PullKind::Full).unwrap();
    assert_eq!(upsert_keys(&changes).len(), h.resources().count());
    assert_eq!(server.tokens_issued(), 1);
    // A second pull reuses the cached token.
    collect(src.as_ref(), PullKind::Full).unwrap();
    assert_eq!(server.tokens_issued(), 1, "token cached until expiry");
    // Revoked tokens: the 401 makes the source fetch a new one once.
    server.revoke_tokens();
    collect(src.as_ref(), PullKind::Full).unwrap();
    assert_eq!(server.tokens_issued(), 2);

    // ES384 over REST search with a configured token URL.
    let cfg = smart_config(
        SourceKind::FhirRest,
        &server,
        dir.path(),
        "ec-client",
        &ec,
        false,
    );
    let (changes, _) = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap();
    assert_eq!(upsert_keys(&changes).len(), h.resources().count());
    assert_eq!(server.tokens_issued(), 3);
    // The token endpoint never saw a bearer token and the data endpoints never saw the
    // assertion: they only ever received the access token.
    assert!(server.requests().iter().all(|r| r
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer "))));
}

#[test]
fn smart_token_endpoint_errors_are_retried() {
    let h = hospital(6, 25);
    let key = SmartKey::es384();
    let server = smart_server(&h, &[("ec-client", &key)]);
    server.inject(
        Some("/auth/token"),
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = smart_config(
        SourceKind::FhirRest,
        &server,
        dir.path(),
        "ec-client",
        &key,
        false,
    );
    let (changes, _) = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap();
    assert_eq!(upsert_keys(&changes).len(), h.resources().count());
    assert_eq!(server.tokens_issued(), 1);
    // Past the attempts: a clear error naming the token endpoint.
    server.inject(
        Some("/auth/token"),
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        u64::MAX,
    );
    let e = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(e.to_string().contains("token endpoint"), "{e}");
}

#[test]
fn smart_with_a_wrong_key_is_refused() {
    let h = hospital(4, 24);
    let registered = SmartKey::es384();
    let server = smart_server(&h, &[("ec-client", &registered)]);
    let dir = tempfile::tempdir().unwrap();
    // Same client id, a different (unregistered) key.
    let impostor = SmartKey::es384();
    let cfg = smart_config(
        SourceKind::FhirRest,
        &server,
        dir.path(),
        "ec-client",
        &impostor,
        false,
    );
    let e = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Unauthorized(_)), "{e}");
    assert!(e.to_string().contains("invalid_client"), "{e}");
    assert_eq!(server.tokens_issued(), 0);
    // An unknown client id is refused too.
    let cfg = smart_config(
        SourceKind::FhirRest,
        &server,
        dir.path(),
        "nobody",
        &registered,
        false,
    );
    let e = collect(source::build(&cfg).unwrap().as_ref(), PullKind::Full).unwrap_err();
    assert!(matches!(e, SourceError::Unauthorized(_)), "{e}");
    // An RSA key declared as ES384 fails at build time with a clear message.
    let rsa = SmartKey::rs384();
    let mut cfg = smart_config(
        SourceKind::FhirRest,
        &server,
        dir.path(),
        "ec-client",
        &rsa,
        false,
    );
    cfg.auth.algorithm = Some(SmartAlgorithm::ES384);
    let e = source::build(&cfg).err().expect("bad key");
    assert!(matches!(e, SourceError::Config(_)), "{e}");
}
